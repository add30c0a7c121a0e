import Foundation
@_spi(Primitives) import PMemKit

/// A persistent type as the heap stores it: a stable name, size, alignment
/// and the byte offsets of its pointer fields.
///
/// Swift structs get one from `PersistentType` (pointer fields by key path);
/// C types are described by explicit offsets, or decoded from the analyzer's
/// JSON (`{"types":[{"name","size","alignment","pointer_offsets"}]}`).
public struct TypeDescription: Codable, Sendable, Equatable, Hashable {
    /// The stable name that identifies the type across runs (1 to 127 UTF-8 bytes, no NUL).
    public var name: String
    /// `MemoryLayout.size` of the type (or `sizeof` in C).
    public var size: Int
    /// Alignment, a power of two.
    public var alignment: Int
    /// Offsets of the native pointer fields, each 8-byte aligned, ascending.
    public var pointerOffsets: [Int]

    enum CodingKeys: String, CodingKey {
        case name, size, alignment
        case pointerOffsets = "pointer_offsets"
    }

    /// Describes a type by explicit offsets; throws `invalidArgument` when it cannot be stored.
    public init(name: String, size: Int, alignment: Int, pointerOffsets: [Int]) throws {
        self.name = name
        self.size = size
        self.alignment = alignment
        self.pointerOffsets = pointerOffsets.sorted()
        try validate()
    }

    /// Decodes, filling a missing alignment with the largest power of two up to 8 dividing the size.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        let size = try c.decode(Int.self, forKey: .size)
        let alignment = try c.decodeIfPresent(Int.self, forKey: .alignment) ?? Self.naturalAlignment(size)
        let offsets = try c.decodeIfPresent([Int].self, forKey: .pointerOffsets) ?? []
        do {
            try self.init(name: name, size: size, alignment: alignment, pointerOffsets: offsets)
        } catch let error as PMemError {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: error.detail))
        }
    }

    private static func naturalAlignment(_ size: Int) -> Int {
        var a = 8
        while a > 1 && size % a != 0 { a /= 2 }
        return a
    }

    /// Bytes from one object to the next in a slab.
    var stride: Int { max(roundUp(size, alignment), 8) }

    /// A hash of everything that must match between the pool and the program.
    public var layoutHash: UInt64 {
        var bytes = Array(name.utf8) + [0]
        for value in [size, alignment, pointerOffsets.count] + pointerOffsets {
            withUnsafeBytes(of: UInt64(value).littleEndian) { bytes += $0 }
        }
        // Never empty (the name ends in a NUL), so the base address exists.
        return bytes.withUnsafeBytes {
            Checksum.of($0.baseAddress!, $0.count, seed: HeapFormat.Seed.layout.rawValue)
        }
    }

    /// The largest type the heap stores (1 GiB); a slab must hold one besides.
    static let maximumSize = 1 << 30

    /// Throws `invalidArgument` naming what cannot be stored.
    func validate() throws {
        func bad(_ what: String) -> PMemError {
            // Control characters (a NUL among them) escaped: the error stays one printable line.
            let shown = name.unicodeScalars.map {
                $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0)
            }.joined()
            return PMemError(.invalidArgument, operation: "register type", detail: "type '\(shown)': \(what)")
        }
        // The entry keeps the name NUL-padded and reads it back up to the first
        // NUL: a name that would not read back as itself makes an entry whose
        // layout hash never matches, and a pool that no longer opens.
        guard !name.isEmpty, name.utf8.count <= HeapFormat.typeNameCapacity else {
            throw bad("the name must have 1 to \(HeapFormat.typeNameCapacity) UTF-8 bytes")
        }
        guard !name.utf8.contains(0) else { throw bad("the name contains a NUL byte") }
        guard size > 0, size <= Self.maximumSize else { throw bad("size \(size) is out of range") }
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 4096 else {
            throw bad("alignment \(alignment) is not a power of two up to 4096")
        }
        guard pointerOffsets.count <= HeapFormat.maxPointerFields else {
            throw bad(
                "\(pointerOffsets.count) pointer fields; at most \(HeapFormat.maxPointerFields) are supported"
            )
        }
        for (i, offset) in pointerOffsets.enumerated() {
            // `offset <= size - 8`, not `offset + 8 <= size`: an offset near Int.max must not overflow.
            guard offset >= 0, offset % 8 == 0, offset <= size - 8 else {
                throw bad("pointer offset \(offset) is not an 8-byte aligned field inside \(size) bytes")
            }
            guard i == 0 || pointerOffsets[i - 1] != offset else {
                throw bad("pointer offset \(offset) is repeated")
            }
        }
    }

    /// The analyzer's JSON: `{"types":[{"name","size","alignment","pointer_offsets"}, ...]}`.
    ///
    /// Other keys (`kind`, `evidence`) are ignored; a missing `alignment` is
    /// taken from the size. Throws `invalidArgument` naming the bad entry.
    public static func decodeAnalyzerJSON(_ data: Data) throws -> [TypeDescription] {
        struct Document: Decodable { var types: [TypeDescription] }
        do {
            return try JSONDecoder().decode(Document.self, from: data).types
        } catch let error as DecodingError {
            let detail: String
            switch error {
            case .dataCorrupted(let c), .keyNotFound(_, let c), .typeMismatch(_, let c),
                .valueNotFound(_, let c):
                let path = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(
                    separator: ".")
                detail = "\(path.isEmpty ? "" : "at \(path): ")\(c.debugDescription)"
            @unknown default:
                detail = "\(error)"
            }
            throw PMemError(.invalidArgument, operation: "read type descriptions", detail: detail)
        }
    }
}
