import Foundation

/// The persistent types as a C header (`pmemctl analyze --emit-c`): heap type
/// descriptors built from `sizeof`, `_Alignof` and `offsetof` on the
/// application's own declarations, `_Static_assert`s that those still equal
/// what the analysis computed, and one function that registers them all.
///
/// The header names the types, so the application includes it after their
/// definitions. Layout drift (a field added, reordered, retyped) is then a
/// compile error instead of a pool whose type table no longer matches.
public struct CTypeHeader: Sendable {
    /// A reported type the header leaves out, and why.
    public struct Skipped: Hashable, Sendable {
        /// The type's name in the report.
        public var name: String
        /// Why no header can name it.
        public var reason: String
    }

    /// The header's text.
    public let text: String
    /// The types it describes, in index order (the `PREFIX_TYPE_...` enum).
    public let types: [AnalyzedType]
    /// Reported types it leaves out (the CLI warns about each).
    public let skipped: [Skipped]

    /// Builds the header for `types`, naming everything it defines with `prefix`
    /// (`kv` gives `kv_register_types` and `KV_TYPE_COUNT`); `sources` are named
    /// in its opening comment.
    ///
    /// Throws `nothingToEmit` when no type can be described (C has no empty
    /// arrays, and an empty registration is no use) and `badEmitPrefix` when
    /// `prefix` is not a C identifier.
    public init(types: [AnalyzedType], prefix: String, sources: [String]) throws(ScanError) {
        guard Self.isValidPrefix(prefix) else { throw .badEmitPrefix(prefix) }
        var kept: [AnalyzedType] = []
        var skipped: [Skipped] = []
        for type in types {
            if type.isDeclaredInFunction {
                skipped.append(
                    Skipped(name: type.name, reason: "declared inside a function, out of a header's reach"))
            } else {
                kept.append(type)
            }
        }
        guard !kept.isEmpty else {
            throw .nothingToEmit(
                reason: types.isEmpty ? "the analysis found no persistent types" : "every type was skipped")
        }
        self.types = kept
        self.skipped = skipped
        text = CTypeHeaderWriter(prefix: prefix, types: kept, sources: sources).text
    }

    /// A prefix from a file name: `kvstore.c` gives `kvstore`, `my-app.h` gives `my_app`.
    public static func prefix(derivedFrom path: String) -> String {
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent.lowercased()
        let identifier = String(stem.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        guard let first = identifier.first, !first.isNumber else { return "types_" + identifier }
        return identifier
    }

    /// Whether `text` can prefix C names: a letter or underscore, then letters, digits, underscores.
    public static func isValidPrefix(_ text: String) -> Bool {
        let letters = UInt8(ascii: "a")...UInt8(ascii: "z")
        let capitals = UInt8(ascii: "A")...UInt8(ascii: "Z")
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        let isStart = { (c: UInt8) in c == UInt8(ascii: "_") || letters.contains(c) || capitals.contains(c) }
        guard let first = text.utf8.first, isStart(first) else { return false }
        return text.utf8.allSatisfy { isStart($0) || digits.contains($0) }
    }
}
