internal import CClang

/// A struct or union's layout, copied out of libclang.
struct RecordInfo: Hashable {
    /// How a field's bytes matter to the heap and to closure over embedded types.
    enum FieldShape: Hashable {
        /// A data pointer (relocated by the heap when the pool moves).
        case pointer
        /// `count` consecutive data pointers.
        case pointerArray(count: Int)
        /// A function pointer: not relocatable, not data.
        case functionPointer
        /// An embedded record (`count` of them for an array).
        case record(RecordID, count: Int)
        /// Plain data: integers, floats, enums, arrays of them.
        case data
    }

    /// A field of the record.
    struct Field: Hashable {
        /// The field's name; empty for an anonymous struct or union member,
        /// whose own fields are named as if they were the holder's.
        var name: String
        var offset: Int
        var shape: FieldShape
        /// The field's USR: a byte-array field is a buffer of its own (`storage(usr)`).
        var usr: String
        /// Whether it is an array of bytes (`char name[100]`).
        var isByteArray: Bool
        /// Whether it is an array (`struct inner slots[1]` is named `slots[0]`, not `slots`).
        var isArray: Bool
    }

    /// The record's USR.
    var id: RecordID
    /// `struct`, `union`.
    var kind: String
    /// `struct tag`, or nil when the record has no tag.
    var taggedName: String?
    /// Size in bytes, nil when incomplete.
    var size: Int?
    /// Alignment in bytes, nil when incomplete.
    var alignment: Int?
    /// Fields in declaration order.
    var fields: [Field]
    /// Whether it is declared in a system header.
    var isSystem: Bool
    /// Where it is declared.
    var location: SourceLocation?
    /// Whether it is declared inside a function: code outside that function cannot name it.
    var isLocal: Bool
}

extension RecordInfo {
    /// Copies the layout of a record type, and of every record it embeds, into `catalog`.
    ///
    /// Returns the record's USR, or nil when the type is not a record.
    @discardableResult
    static func register(_ type: ClangType, into catalog: inout [RecordID: RecordInfo]) -> RecordID? {
        register(type, into: &catalog, depth: 0)
    }

    /// Records embedded by value in each other at most this deep are
    /// registered; a field holding one deeper is taken as plain data (no
    /// real layout comes near; a generated chain of 100,000 would recurse
    /// that deep).
    static let maxEmbeddingDepth = 256

    private static func register(
        _ type: ClangType, into catalog: inout [RecordID: RecordInfo], depth: Int
    ) -> RecordID? {
        let canonical = type.canonical
        guard canonical.isRecord, let declaration = canonical.declaration?.canonical else { return nil }
        let id = declaration.usr
        if catalog[id] != nil { return id }
        let kind =
            switch declaration.kind {
            case CXCursor_UnionDecl: "union"
            case CXCursor_ClassDecl: "class"
            default: "struct"
            }
        let tag = declaration.spelling
        let named = !declaration.isAnonymous && !tag.isEmpty && !tag.contains("(")
        let qualified = declaration.isCPlusPlus ? declaration.enclosingScopes.map { "\($0)::" }.joined() : ""
        var info = RecordInfo(
            id: id, kind: kind, taggedName: named ? "\(kind) \(qualified)\(tag)" : nil, size: canonical.size,
            alignment: canonical.alignment, fields: [], isSystem: declaration.isInSystemHeader,
            location: declaration.location, isLocal: declaration.isInsideFunction)
        // Reserve the slot first: a record can point to itself.
        catalog[id] = info
        // The type's fields, not the declaration's children: an anonymous
        // member (`union { void *p; long n; };`) is an implicit field that
        // libclang's child visitor skips, and its pointers count too.
        for child in canonical.fields {
            let offset = (child.fieldOffsetBits ?? 0) / 8
            let type = child.type
            info.fields.append(
                Field(
                    name: child.spelling, offset: offset, shape: shape(of: type, &catalog, depth: depth),
                    usr: child.usr,
                    isByteArray: type.isArray && type.pointsToBytes, isArray: type.isArray))
        }
        catalog[id] = info
        return id
    }

    private static func shape(of type: ClangType, _ catalog: inout [RecordID: RecordInfo], depth: Int)
        -> FieldShape
    {
        let canonical = type.canonical
        if canonical.isPointer {
            return canonical.pointee.isFunction ? .functionPointer : .pointer
        }
        guard depth < maxEmbeddingDepth else { return .data }
        if canonical.isRecord, let id = register(canonical, into: &catalog, depth: depth + 1) {
            return .record(id, count: 1)
        }
        if canonical.isArray {
            let count = canonical.arrayCount ?? 0
            let element = canonical.element.canonical
            if element.isRecord, let id = register(element, into: &catalog, depth: depth + 1) {
                return .record(id, count: count)
            }
            if element.isPointer, !element.pointee.isFunction { return .pointerArray(count: count) }
        }
        return .data
    }
}
