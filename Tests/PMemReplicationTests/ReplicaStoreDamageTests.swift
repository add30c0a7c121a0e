import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// A replica store that holds something is never mistaken for a new, empty
/// one: damage is refused with one line naming it; only an empty (or, for
/// `serve`, a missing) directory starts a new store; reading commands create nothing.
final class ReplicaStoreDamageTests: XCTestCase {
    /// A store that applied a baseline and some transactions (`pool.1`, a journal entry, a state).
    private func storeWithACopy(in dir: TemporaryDirectory) throws -> String {
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(20)
        let path = dir.file("replica")
        let store = try ReplicaStore(directory: path)
        let region = try LogRegion.open(path: dir.file("log"))
        try store.follow(log: region.uuid)
        for batch in batches(of: region) {
            try batch.bytes.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: batch.first) }
        }
        XCTAssertEqual(store.state.poolGeneration, 1)
        try list.close()
        return path
    }

    /// Flips bytes inside both slots of `STORE/state` (their checksums then fail).
    private func damageBothStateSlots(_ store: String) throws {
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: "\(store)/state"))
        defer { try? handle.close() }
        for offset: UInt64 in [8, 128 + 8] {
            try handle.seek(toOffset: offset)
            let bytes = try XCTUnwrap(try handle.read(upToCount: 4))
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: Data(bytes.map { $0 ^ 0x5a }))
        }
    }

    private func assertDamaged(
        _ body: @autoclosure () throws -> some Any, mentions: [String], file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let error = error as? PMemError
            XCTAssertEqual(error?.kind, .corrupt, "\(String(describing: error))", file: file, line: line)
            for text in mentions {
                XCTAssertTrue(
                    error?.description.contains(text) ?? false, "\(String(describing: error))", file: file,
                    line: line)
            }
            XCTAssertFalse(error?.description.contains("\n") ?? true, file: file, line: line)
        }
    }

    func testAStoreWhoseStateSlotsAreBothDamagedIsRefusedNotStartedOverFromEmpty() throws {
        let dir = TemporaryDirectory()
        let store = try storeWithACopy(in: dir)
        try damageBothStateSlots(store)
        assertDamaged(try ReplicaStore(directory: store), mentions: ["\(store)/state", "pool.1"])
        assertDamaged(try ReplicaStore.readState(directory: store), mentions: ["\(store)/state"])
        assertDamaged(
            try ReplicaStore(directory: store, mode: .existingOnly), mentions: ["\(store)/state"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(store)/pool.1"), "the copy is kept")
    }

    func testAStateWithNoValidSlotIsRefusedEvenBeforeAnyPoolCopy() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("replica")
        try ReplicaStore(directory: path).follow(log: UUID())
        try damageBothStateSlots(path)
        assertDamaged(try ReplicaStore(directory: path), mentions: ["\(path)/state"])
    }

    func testPoolCopiesOrAJournalWithoutAStateFileAreRefused() throws {
        let dir = TemporaryDirectory()
        let store = try storeWithACopy(in: dir)
        try FileManager.default.removeItem(atPath: "\(store)/state")
        assertDamaged(try ReplicaStore(directory: store), mentions: ["\(store)/state", "pool.1"])
        assertDamaged(try ReplicaStore.readState(directory: store), mentions: ["\(store)/state"])
        try FileManager.default.removeItem(atPath: "\(store)/pool.1")
        assertDamaged(try ReplicaStore(directory: store), mentions: ["journal"])
    }

    func testAStateNamingAMissingPoolCopyIsRefused() throws {
        let dir = TemporaryDirectory()
        let store = try storeWithACopy(in: dir)
        try FileManager.default.removeItem(atPath: "\(store)/pool.1")
        assertDamaged(try ReplicaStore(directory: store), mentions: ["pool.1"])
    }

    func testOnlyAnEmptyOrMissingDirectoryIsANewStore() throws {
        let dir = TemporaryDirectory()
        _ = try ReplicaStore(directory: dir.file("missing"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("missing/state")))
        try FileManager.default.createDirectory(atPath: dir.file("empty"), withIntermediateDirectories: false)
        XCTAssertEqual(try ReplicaStore.readState(directory: dir.file("empty")), ReplicaState())
        _ = try ReplicaStore(directory: dir.file("empty"))
        try FileManager.default.createDirectory(atPath: dir.file("other"), withIntermediateDirectories: false)
        dir.makeFile("other/notes.txt", size: 10)
        XCTAssertThrowsError(try ReplicaStore(directory: dir.file("other"))) {
            XCTAssertTrue("\($0)".contains("not a replica store"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.file("other")), ["notes.txt"])
    }

    func testTheCommandLineRefusesADamagedStoreWithOneLine() throws {
        let dir = TemporaryDirectory()
        let store = try storeWithACopy(in: dir)
        try damageBothStateSlots(store)
        assertFailure(try CLI.run(["replica", "status", "--store", store]), mentions: "damaged")
        assertFailure(
            try CLI.run(["replica", "promote", "--store", store, "--out", dir.file("out")]),
            mentions: "damaged")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("out")))
        let key = dir.file("key")
        try PreSharedKey.generateHex().write(toFile: key, atomically: true, encoding: .utf8)
        let serve = try CLI.run([
            "replica", "serve", "--store", store, "--listen", "127.0.0.1:0", "--key-file", key,
        ])
        assertFailure(serve, mentions: "damaged")
        XCTAssertFalse(serve.stdout.contains("serving"), serve.stdout)
    }

    func testReadingCommandsOnAMissingStoreFailAndCreateNothing() throws {
        let dir = TemporaryDirectory()
        let missing = dir.file("mistyped")
        assertFailure(
            try CLI.run(["replica", "status", "--store", missing]), mentions: "no replica store at \(missing)"
        )
        assertFailure(
            try CLI.run(["replica", "promote", "--store", missing, "--out", dir.file("out")]),
            mentions: "no replica store at \(missing)")
        for command in ["status", "metrics"] {
            assertFailure(
                try CLI.run(["ha", command, "--log", "\(missing)/log"]), mentions: "no HA agent answers")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "nothing was created")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("out")))
        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: false)
        assertFailure(
            try CLI.run(["replica", "promote", "--store", missing, "--out", dir.file("out")]),
            mentions: "no replica store at \(missing)")
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: missing), [], "nothing was created")
        XCTAssertThrowsError(try ReplicaStore(directory: missing, mode: .existingOnly)) {
            XCTAssertEqual(($0 as? PMemError)?.kind, .notFound)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: missing), [])
    }
}
