import TestSupport
import XCTest

@testable import PMemKit

/// Mappings of plain files: honest backing reports, creation, growth,
/// placement, and clear errors.
final class PMemMappingTests: XCTestCase {
    let dir = TemporaryDirectory()

    func testPlainFileIsEmulatedPMemWithTheCPUFlushPath() throws {
        let path = dir.makeFile("pool", size: 1 << 20)
        let m = try PMemMapping(path: path, options: .init(plainFile: .emulated))
        XCTAssertEqual(m.backing, .emulated)
        XCTAssertEqual(m.kind, .file)
        XCTAssertEqual(m.size, 1 << 20)
        XCTAssertNil(m.location)
        XCTAssertEqual(m.persistenceDomain, .unknown)
        XCTAssertEqual(m.deepFlushCapability, .unavailable)
        XCTAssertEqual(m.flushMethod, PersistPath.standard.description)
        XCTAssertEqual(try m.deepFlush(), [])
    }

    func testFilePolicyUsesMsync() throws {
        let path = dir.makeFile("pool", size: 65536)
        let m = try PMemMapping(path: path, options: .init(plainFile: .file))
        XCTAssertEqual(m.backing, .file)
        XCTAssertEqual(m.flushMethod, "msync")
        XCTAssertNil(m.persistPath)
        m.base.storeBytes(of: 42, toByteOffset: 5000, as: UInt8.self)
        m.persist(offset: 5000, length: 1)
        XCTAssertEqual(try m.deepFlush(), [])
    }

    func testDataWrittenAndPersistedIsThereAfterRemapping() throws {
        let path = dir.file("data")
        let pattern = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        do {
            let m = try PMemMapping(path: path, options: .init(size: 1 << 16, create: true))
            pattern.withUnsafeBytes { m.copyPersist(toOffset: 777, from: $0.baseAddress!, count: $0.count) }
            m.setPersist(offset: 20_000, value: 0x77, count: 300)
        }
        let again = try PMemMapping(path: path, options: .init(readOnly: true))
        XCTAssertEqual(Array(UnsafeRawBufferPointer(start: again.base + 777, count: pattern.count)), pattern)
        XCTAssertTrue(
            UnsafeRawBufferPointer(start: again.base + 20_000, count: 300).allSatisfy { $0 == 0x77 })
    }

    func testCreateMakesAFileOfTheRequestedSize() throws {
        let path = dir.file("new")
        let m = try PMemMapping(path: path, options: .init(size: 3 << 20, create: true))
        XCTAssertEqual(m.size, 3 << 20)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, 3 << 20)
    }

    func testCreateWithoutASizeIsRefused() {
        XCTAssertThrowsError(try PMemMapping(path: dir.file("nosize"), options: .init(create: true))) {
            error in
            XCTAssertEqual((error as? PMemError)?.kind, .invalidArgument)
            XCTAssertTrue("\(error)".contains("needs a size"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("nosize")))
    }

    func testAShortFileGrowsToTheRequestedSizeKeepingItsBytes() throws {
        let path = dir.makeFile("short", size: 4096, byte: 9)
        let m = try PMemMapping(path: path, options: .init(size: 1 << 20))
        XCTAssertEqual(m.size, 1 << 20)
        XCTAssertEqual(m.base.load(fromByteOffset: 4095, as: UInt8.self), 9)
        XCTAssertEqual(m.base.load(fromByteOffset: 4096, as: UInt8.self), 0)
    }

    func testReadOnlyMappingOfAShortFileIsRefused() {
        let path = dir.makeFile("ro", size: 4096)
        XCTAssertThrowsError(try PMemMapping(path: path, options: .init(size: 8192, readOnly: true)))
    }

    func testMissingFileIsNotFound() {
        XCTAssertThrowsError(try PMemMapping(path: dir.file("absent"))) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .notFound)
            XCTAssertEqual((error as? PMemError)?.errno, ENOENT)
        }
    }

    func testDirectoryIsRefusedWithAReason() {
        XCTAssertThrowsError(try PMemMapping(path: dir.path)) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .invalidArgument)
            XCTAssertTrue("\(error)".contains("not a file"))
        }
    }

    func testEmptyFileWithoutSizeIsRefused() {
        let path = dir.makeFile("empty", size: 0)
        XCTAssertThrowsError(try PMemMapping(path: path)) { error in
            XCTAssertTrue("\(error)".contains("empty"))
        }
    }

    func testRequirePMemRefusesAPlainFile() {
        let path = dir.makeFile("plain", size: 4096)
        XCTAssertThrowsError(try PMemMapping(path: path, options: .init(requirePMem: true))) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .unsupported)
            XCTAssertTrue("\(error)".contains("not persistent memory"))
        }
    }

    func testAFileCreatedForAMappingThatFailsIsRemoved() {
        let path = dir.file("created-then-refused")
        XCTAssertThrowsError(
            try PMemMapping(path: path, options: .init(size: 1 << 20, create: true, requirePMem: true)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing half-made is left")
    }

    func testMapsAtTheRequestedAddress() throws {
        let path = dir.makeFile("placed", size: 1 << 20)
        // Find a free range, release it, then ask for exactly that address.
        let probe = mmap(nil, 1 << 21, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        let address = (UInt(bitPattern: probe) + (1 << 20) - 1) & ~UInt((1 << 20) - 1)
        munmap(probe, 1 << 21)
        let m = try PMemMapping(path: path, options: .init(address: address))
        XCTAssertEqual(UInt(bitPattern: m.base), address)
    }

    func testAnOccupiedAddressIsBusy() throws {
        let path = dir.makeFile("busy", size: 1 << 16)
        let first = try PMemMapping(path: path)
        XCTAssertThrowsError(
            try PMemMapping(path: path, options: .init(address: UInt(bitPattern: first.base)))
        ) {
            error in
            XCTAssertEqual((error as? PMemError)?.kind, .busy)
            XCTAssertTrue("\(error)".contains("already in use"))
        }
    }

    func testThePlainFilePolicyFollowsTheOverride() throws {
        // The process's environment is parsed once; FoundationCommandTests
        // runs pmemctl with PMEMKIT_FILE_BACKING=file for real.
        let overrides = try Overrides(environment: ["PMEMKIT_FILE_BACKING": "file"])
        XCTAssertEqual(overrides.choice(.fileBacking).flatMap(PMemMapping.PlainFilePolicy.init), .file)
        XCTAssertEqual(PMemMapping.Options(plainFile: .file).plainFile, .file)
        XCTAssertEqual(PMemMapping.Options().plainFile, .emulated, "no override in the test process")
    }

    func testReportDescribesAPlainFileHonestly() throws {
        let path = dir.makeFile("report", size: 8192)
        let report = try MappingReport.describe(path: path)
        XCTAssertEqual(report.backing, .emulated)
        XCTAssertFalse(report.isPMem)
        XCTAssertFalse(report.mapSync)
        XCTAssertEqual(report.flushMethod, PersistPath.standard.description)
        XCTAssertTrue(report.durability.contains("not a power loss"))
    }
}

/// Releasing a mapping must unmap it and close its file, or a DAX file
/// system under it cannot be unmounted.
final class PMemMappingLifetimeTests: XCTestCase {
    let dir = TemporaryDirectory()

    func fdsAndMaps(naming path: String) -> (fds: Int, maps: Int) {
        let fm = FileManager.default
        let fds = ((try? fm.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).filter {
            (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == path
        }
        let maps = (KernelText.read("/proc/self/maps") ?? "")
            .split(separator: "\n").filter { $0.hasSuffix(path) }
        return (fds.count, maps.count)
    }

    func testReleasingTheMappingUnmapsAndClosesTheFile() throws {
        let path = dir.makeFile("lifetime", size: 1 << 20)
        do {
            let m = try PMemMapping(path: path, options: .init(size: 2 << 20))
            m.setPersist(offset: 0, value: 1, count: 64)
            try m.deepFlush()
            XCTAssertEqual(fdsAndMaps(naming: path).maps, 1)
        }
        XCTAssertEqual(fdsAndMaps(naming: path).fds, 0)
        XCTAssertEqual(fdsAndMaps(naming: path).maps, 0)
    }
}
