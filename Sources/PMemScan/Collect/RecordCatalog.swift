/// The records met while collecting, shared by every translation unit of an analysis.
final class RecordCatalog {
    /// Layouts by record USR.
    private(set) var records: [RecordID: RecordInfo] = [:]

    /// The USR of a record type, registering its layout (and embedded records') on first sight.
    func knownRecord(_ type: ClangType) -> RecordID? {
        RecordInfo.register(type, into: &records)
    }
}
