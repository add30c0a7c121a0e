import PMemScan
import XCTest

/// Each fixture program has a known set of persistent types; the analysis must report exactly that set.
final class FixtureCorpusTests: XCTestCase {
    func testDirectWritesReportWrittenRecordsAndEmbeddedOnesButNotOptions() throws {
        XCTAssertEqual(
            try Fixtures.typeNames("direct_writes.c"),
            [
                "struct superblock", "struct version", "struct journal_entry", "struct footer",
                "struct trailer",
            ])
    }

    func testWrappersTraceVoidParametersToCallersButNotTheHandle() throws {
        XCTAssertEqual(try Fixtures.typeNames("wrappers.c"), ["struct btree_node", "struct meta_page"])
    }

    func testMemcpyIntoWrittenBuffersReportsTheSourceTypesButNotTheCache() throws {
        XCTAssertEqual(
            try Fixtures.typeNames("memcpy_serialize.c"), ["struct record_header", "struct index_entry"])
    }

    func testFieldByFieldSerializationAndDeserializationReportTheirRecords() throws {
        XCTAssertEqual(try Fixtures.typeNames("field_by_field.c"), ["struct account", "struct peer"])
    }

    func testOverlaysOnFileMappingsAndReadBuffersAreReportedButAnonymousMemoryIsNot() throws {
        XCTAssertEqual(
            try Fixtures.typeNames("mmap_overlay.c"),
            ["struct file_header", "struct slot", "struct log_block"])
    }

    func testALockFileMappingIsCoordinationNotPersistentState() throws {
        XCTAssertEqual(try Fixtures.typeNames("lock_file.c"), ["struct data_header"])
    }

    func testFunctionPointerTablesResolveToTheirTargets() throws {
        XCTAssertEqual(
            try Fixtures.typeNames("io_table.c"),
            ["struct checkpoint", "struct wal_record", "struct tombstone"])
    }

    func testVectoredAndAsynchronousWritesFindTheirBuffersInIovecsAndAiocbs() throws {
        XCTAssertEqual(
            try Fixtures.typeNames("vectored_and_async.c"),
            ["struct segment_header", "struct segment_trailer", "struct async_record"])
    }

    func testEachCallOfAnAllocatorWrapperIsItsOwnAllocation() throws {
        XCTAssertEqual(try Fixtures.typeNames("allocator_wrapper.c"), ["struct page_header"])
    }

    func testHandlesLocksCachesIteratorsAndOptionsAreNotReported() throws {
        XCTAssertEqual(try Fixtures.typeNames("decoys.c"), ["struct row"])
    }

    func testTypesOnlyPointedToAreLeftOutWhileEmbeddedUnionsAreIn() throws {
        XCTAssertEqual(
            try Fixtures.typeNames("unions_and_pointers.c"),
            ["struct tree_root", "struct tree_entry", "union key"])
    }

    func testTheWholeCorpusTogetherIsTheUnionOfItsParts() throws {
        let names = [
            "direct_writes.c", "wrappers.c", "memcpy_serialize.c", "field_by_field.c", "mmap_overlay.c",
            "io_table.c", "decoys.c", "unions_and_pointers.c", "lock_file.c",
            "vectored_and_async.c", "allocator_wrapper.c",
        ]
        var expected = Set<String>()
        for name in names { expected.formUnion(try Fixtures.typeNames(name)) }
        let together = Set(try Fixtures.analyze(names).types.map(\.name))
        XCTAssertEqual(together, expected)
    }
}
