internal import CClang

/// The records met while collecting, shared by every translation unit of an analysis.
final class RecordCatalog {
    /// Layouts by record USR.
    private(set) var records: [RecordID: RecordInfo] = [:]

    /// The USR of a record type, registering its layout (and embedded records') on first sight.
    func knownRecord(_ type: ClangType) -> RecordID? {
        RecordInfo.register(type, into: &records)
    }

    /// What a place of this type can hold (see `PlaceKind`).
    func placeKind(of type: ClangType) -> PlaceKind {
        var target = type.canonical
        while target.isPointer || target.isArray {
            target = (target.isPointer ? target.pointee : target.element).canonical
        }
        if target.isRecord, let id = knownRecord(target) { return .record(id) }
        switch target.kind {
        case CXType_Void, CXType_Char_S, CXType_Char_U, CXType_SChar, CXType_UChar: return .bytes
        default: return .other
        }
    }
}
