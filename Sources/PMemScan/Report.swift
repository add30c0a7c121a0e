/// A place in the analyzed sources.
public struct SourceLocation: Hashable, Comparable, Codable, Sendable {
    /// The file's path as the compiler saw it.
    public var file: String
    /// The 1-based line.
    public var line: Int

    /// Creates a location.
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// Orders by file, then line.
    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.file, a.line) < (b.file, b.line)
    }
}

/// A problem the parser reported; the analysis went on with what parsed.
public struct Diagnostic: Hashable, Codable, Sendable {
    /// Where, when the parser said.
    public var location: SourceLocation?
    /// The parser's message (`'config.h' file not found`).
    public var message: String
}

/// Whether bytes move from memory to storage or back.
public enum Access: String, Codable, Sendable, Comparable {
    /// Loaded from a file: read, pread, readv, preadv, fread, aio_read, a file mapping.
    case read
    /// Stored to a file: write, pwrite, writev, pwritev, fwrite, aio_write, msync of a file mapping.
    case write

    /// Reads before writes.
    public static func < (a: Access, b: Access) -> Bool { a == .read && b == .write }
}

/// Why a type is reported: where it meets a block I/O site.
public struct Evidence: Hashable, Codable, Sendable, Comparable {
    /// The file where the type's bytes meet the I/O flow (`&hdr`, a cast, a memcpy, a field store).
    public var file: String
    /// The line of that expression.
    public var line: Int
    /// The I/O call reached (`pwrite`, `mmap`), or `embedded in struct T` for embedded types.
    public var site: String
    /// Read or write.
    public var access: Access
    /// Where the I/O call itself is (it differs from file:line when wrappers are involved).
    public var siteFile: String?
    /// The line of the I/O call.
    public var siteLine: Int?

    enum CodingKeys: String, CodingKey {
        case file, line, site, access
        case siteFile = "site_file"
        case siteLine = "site_line"
    }

    /// Orders by place, then site: a total order, so output is stable from run to run.
    public static func < (a: Evidence, b: Evidence) -> Bool {
        if (a.file, a.line, a.site, a.access) != (b.file, b.line, b.site, b.access) {
            return (a.file, a.line, a.site, a.access) < (b.file, b.line, b.site, b.access)
        }
        return (a.siteFile ?? "", a.siteLine ?? 0) < (b.siteFile ?? "", b.siteLine ?? 0)
    }
}

/// A data pointer inside a persistent type: where it is and how C names it.
public struct PointerField: Hashable, Codable, Sendable {
    /// The member designator `offsetof` takes: `next`, `hdr.owner`, `slots[3]`,
    /// `entries[1].left` (anonymous struct and union members are not named, as in C).
    public var path: String
    /// Byte offset from the start of the type.
    public var offset: Int

    /// Creates a pointer field.
    public init(path: String, offset: Int) {
        self.path = path
        self.offset = offset
    }
}

/// A type found to be part of the application's persistent state (named
/// apart from PMemHeap's `PersistentType` protocol, so a program may import
/// both modules).
public struct AnalyzedType: Hashable, Codable, Sendable {
    /// The name as spelled in the source: `struct tag`, `union tag`, or the typedef name of an untagged record.
    public var name: String
    /// `struct` or `union`.
    public var kind: String
    /// Size in bytes on this target.
    public var size: Int
    /// Alignment in bytes on this target.
    public var alignment: Int
    /// Byte offsets of data pointer fields, nested records and arrays included.
    public var pointerOffsets: [Int]
    /// The same pointers with their member designators, in the same order.
    public var pointerFields: [PointerField]
    /// Typedef names that name the same record (`hdr_t` for `struct hdr`).
    public var typedefs: [String]
    /// Where its bytes meet block I/O.
    public var evidence: [Evidence]
    /// Whether it is declared inside a function body, where no header can name it
    /// (not in the JSON: it only decides what `--emit-c` can write).
    public var isDeclaredInFunction = false

    enum CodingKeys: String, CodingKey {
        case name, kind, size, alignment, typedefs, evidence
        case pointerOffsets = "pointer_offsets"
        case pointerFields = "pointer_fields"
    }

    /// Every spelling: the record name and its typedefs.
    public var names: [String] { [name] + typedefs }
}

/// A C++ template whose body calls block I/O: templates are not instantiated by
/// the analysis, so the types it writes or reads are not followed from there.
public struct TemplateIO: Hashable, Codable, Sendable {
    /// The template's name (`save`, `Journal`).
    public var name: String
    /// Where it is declared.
    public var location: SourceLocation
    /// The block I/O functions its text calls (`fwrite`, `write`).
    public var calls: [String]
}

/// The analysis result (`pmemctl analyze --json`).
public struct ScanReport: Codable, Sendable {
    /// Persistent types, sorted by name.
    public var types: [AnalyzedType]
    /// Parse problems (missing headers, errors); the analysis used what parsed.
    public var diagnostics: [Diagnostic]
    /// Translation units analyzed.
    public var translationUnits: Int
    /// Lines of the analyzed files outside system headers.
    public var lines: Int
    /// C++ templates that call block I/O, which the analysis did not follow.
    public var templatesNotAnalyzed: [TemplateIO] = []

    enum CodingKeys: String, CodingKey {
        case types, diagnostics
        case translationUnits = "translation_units"
        case lines
        case templatesNotAnalyzed = "templates_not_analyzed"
    }
}

/// A type descriptor the persistent heap can register (`pmemctl analyze --heap-descriptors`).
///
/// JSON: `{"types":[{"name","size","alignment","pointer_offsets":[...]}]}`; offsets in bytes.
public struct HeapTypeDescriptor: Hashable, Codable, Sendable {
    /// The stable name the heap persists in its type table.
    public var name: String
    /// Size in bytes.
    public var size: Int
    /// Alignment in bytes.
    public var alignment: Int
    /// Byte offsets of the pointers to relocate when the heap is opened at another base.
    public var pointerOffsets: [Int]

    enum CodingKeys: String, CodingKey {
        case name, size, alignment
        case pointerOffsets = "pointer_offsets"
    }

    /// Creates a descriptor.
    public init(name: String, size: Int, alignment: Int, pointerOffsets: [Int]) {
        self.name = name
        self.size = size
        self.alignment = alignment
        self.pointerOffsets = pointerOffsets
    }
}

/// The document the heap loads: every descriptor under `types`.
public struct HeapDescriptorDocument: Codable, Sendable {
    /// One descriptor per persistent type.
    public var types: [HeapTypeDescriptor]

    /// The descriptors of a report's types, in its order.
    public init(report: ScanReport) {
        types = report.types.map {
            HeapTypeDescriptor(
                name: $0.name, size: $0.size, alignment: $0.alignment, pointerOffsets: $0.pointerOffsets)
        }
    }
}
