internal import CClang

/// A C type as libclang sees it (`CXType`), with the questions the analysis asks of it.
struct ClangType {
    let raw: CXType

    /// The type's kind.
    var kind: CXTypeKind { raw.kind }

    /// The type with typedefs and qualifiers looked through.
    var canonical: ClangType { ClangType(raw: clang_getCanonicalType(raw)) }

    /// The type as written (`struct hdr *`, `hdr_t`).
    var spelling: String { clang_getTypeSpelling(raw).consumed() }

    /// What a pointer points to.
    var pointee: ClangType { ClangType(raw: clang_getPointeeType(raw)) }

    /// The element type of an array.
    var element: ClangType { ClangType(raw: clang_getArrayElementType(raw)) }

    /// The element count of a constant-size array, or nil.
    var arrayCount: Int? {
        let n = clang_getArraySize(raw)
        return n >= 0 ? Int(n) : nil
    }

    /// The declaration of a record, enum or typedef type.
    var declaration: Cursor? { Cursor(checking: clang_getTypeDeclaration(raw)) }

    /// The size in bytes, or nil when incomplete or dependent.
    var size: Int? {
        let n = clang_Type_getSizeOf(raw)
        return n >= 0 ? Int(n) : nil
    }

    /// The alignment in bytes, or nil when incomplete.
    var alignment: Int? {
        let n = clang_Type_getAlignOf(raw)
        return n >= 0 ? Int(n) : nil
    }

    /// A record's fields in declaration order, anonymous members included
    /// (`clang_Type_visitFields`; the declaration's children lack those).
    var fields: [Cursor] {
        final class Collector { var items: [Cursor] = [] }
        let collector = Collector()
        withExtendedLifetime(collector) {
            let context = Unmanaged.passUnretained(collector).toOpaque()
            _ = clang_Type_visitFields(
                raw,
                { field, data in
                    let collector = Unmanaged<Collector>.fromOpaque(data!).takeUnretainedValue()
                    collector.items.append(Cursor(raw: field))
                    return CXVisit_Continue
                }, context)
        }
        return collector.items
    }

    /// Whether the canonical type is a struct or union.
    var isRecord: Bool { canonical.kind == CXType_Record }

    /// Whether the canonical type is a pointer (data or function).
    var isPointer: Bool { canonical.kind == CXType_Pointer }

    /// Whether the canonical type is an array of any size.
    var isArray: Bool {
        switch canonical.kind {
        case CXType_ConstantArray, CXType_IncompleteArray, CXType_VariableArray: return true
        default: return false
        }
    }

    /// Whether the canonical type is a function type (what a function pointer points to).
    var isFunction: Bool {
        let k = canonical.kind
        return k == CXType_FunctionProto || k == CXType_FunctionNoProto
    }

    /// The record a pointer or array refers to (`struct hdr *` → `struct hdr`), or nil.
    var referredRecord: ClangType? {
        let c = canonical
        if c.isPointer, c.pointee.isRecord { return c.pointee.canonical }
        if c.isArray, c.element.canonical.isRecord { return c.element.canonical }
        return nil
    }

    /// Whether a pointer's target is raw bytes: `void *`, `char *`, `uint8_t *`, and the like.
    var pointsToBytes: Bool {
        let c = canonical
        let target: ClangType
        if c.isPointer {
            target = c.pointee.canonical
        } else if c.isArray {
            target = c.element.canonical
        } else {
            return false
        }
        switch target.kind {
        case CXType_Void, CXType_Char_S, CXType_Char_U, CXType_SChar, CXType_UChar: return true
        default: return false
        }
    }

    /// Whether the canonical type is a scalar value: integer, enum, floating point or boolean.
    var isScalarValue: Bool {
        let k = canonical.kind
        return (k.rawValue >= CXType_Bool.rawValue && k.rawValue <= CXType_LongDouble.rawValue)
            || k == CXType_Enum || k == CXType_Float128
    }

    /// A field's bytes stand for data (not an address): scalars and arrays of scalars.
    var isDataField: Bool {
        if isScalarValue { return true }
        if isArray { return element.isScalarValue }
        return false
    }
}
