import Foundation
import PMemKit
import XCTest

/// Data made durable on PMem is still there after the machine restarts.
///
/// Needs two boots, so `tools/pmem-lab test` drives it: the first boot runs it
/// with `PMEMKIT_LAB_PHASE=write`, the second with `PMEMKIT_LAB_PHASE=verify`,
/// both with the same `PMEMKIT_LAB_NONCE` (a fresh one per `pmem-lab test`, so a
/// pattern left by an earlier run can never pass). Where the pattern lives:
/// - `PMEMKIT_DAX_MOUNT`: an ext4 file system mounted with `-o dax`; the test maps
///   a file there (MAP_SYNC);
/// - `PMEMKIT_LAB_DEVDAX`: a device-DAX character device the lab set aside;
/// - `PMEMKIT_LAB_CXL_DEVDAX`: the same on a CXL pmem region.
/// Without `PMEMKIT_LAB_PHASE` the tests skip, saying why.
final class RebootPersistenceTests: XCTestCase {
    /// Bytes of pattern written per target: more than one 2 MiB page, not a multiple of it.
    private static let patternBytes = (3 << 20) - 4096
    /// Bytes mapped: devdax mappings must be a multiple of the device's 2 MiB alignment.
    private static let mappedBytes = 4 << 20
    private static let fileName = "pmem-lab-reboot-pattern"

    func testPatternInMapSyncFileOnDaxMountSurvivesReboot() throws {
        let phase = try Self.phase()
        let mount = try Self.requiredEnvironment("PMEMKIT_DAX_MOUNT")
        let path = mount + "/" + Self.fileName
        let mapping = try PMemMapping(
            path: path,
            options: .init(
                size: phase == .write ? Self.mappedBytes : nil, create: phase == .write, requirePMem: true))
        XCTAssertEqual(mapping.kind, .fsdax, "\(path) should be a file on a DAX file system")
        try run(phase, on: mapping)
    }

    func testPatternOnDevDaxSurvivesReboot() throws {
        let phase = try Self.phase()
        let path = try Self.requiredEnvironment("PMEMKIT_LAB_DEVDAX")
        let mapping = try PMemMapping(
            path: path, options: .init(size: Self.mappedBytes, requirePMem: true))
        XCTAssertEqual(mapping.kind, .devdax, "\(path) should be a device-DAX character device")
        try run(phase, on: mapping)
    }

    func testPatternOnCXLDevDaxSurvivesReboot() throws {
        let phase = try Self.phase()
        let path = try Self.requiredEnvironment("PMEMKIT_LAB_CXL_DEVDAX")
        let mapping = try PMemMapping(path: path, options: .init(size: Self.mappedBytes, requirePMem: true))
        XCTAssertEqual(mapping.kind, .devdax, "\(path) should be a device-DAX character device")
        try run(phase, on: mapping)
    }

    // MARK: - The two phases

    private enum Phase: String {
        case write, verify
    }

    /// write: header and pattern, persisted and deep-flushed; verify: both read back intact.
    private func run(_ phase: Phase, on mapping: PMemMapping) throws {
        XCTAssertEqual(mapping.backing, .pmem)
        let nonce = try Self.nonce()
        let pattern = RebootPattern(nonce: nonce, count: Self.patternBytes)
        switch phase {
        case .write:
            pattern.write(to: mapping)
            let flushed = try mapping.deepFlush()
            print(
                "reboot-persistence: wrote \(pattern.count) bytes (nonce \(nonce)) to \(mapping.path),"
                    + " persist: \(mapping.flushMethod), persistence domain: \(mapping.persistenceDomain.rawValue),"
                    + " deep-flushed regions: \(flushed)")
        case .verify:
            let problem = pattern.check(in: mapping)
            XCTAssertNil(problem, "\(mapping.path) after reboot: \(problem ?? "")")
            if problem == nil {
                print(
                    "reboot-persistence: \(pattern.count) bytes (nonce \(nonce)) intact in \(mapping.path),"
                        + " persist: \(mapping.flushMethod),"
                        + " persistence domain: \(mapping.persistenceDomain.rawValue)")
            }
        }
    }

    // MARK: - Environment

    private static func phase() throws -> Phase {
        guard let value = ProcessInfo.processInfo.environment["PMEMKIT_LAB_PHASE"] else {
            throw XCTSkip(
                "needs two boots: run through `tools/pmem-lab test` (PMEMKIT_LAB_PHASE=write, then verify)")
        }
        guard let phase = Phase(rawValue: value) else {
            throw LabSetupError("PMEMKIT_LAB_PHASE must be write or verify, not \(value)")
        }
        return phase
    }

    /// A variable the lab must set when it sets the phase: its absence is a lab bug, not a skip.
    private static func requiredEnvironment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw LabSetupError("PMEMKIT_LAB_PHASE is set but \(name) is not")
        }
        return value
    }

    private static func nonce() throws -> UInt64 {
        let text = try requiredEnvironment("PMEMKIT_LAB_NONCE")
        guard let nonce = UInt64(text) else {
            throw LabSetupError("PMEMKIT_LAB_NONCE must be an unsigned 64-bit number, not \(text)")
        }
        return nonce
    }
}

/// A failure in what the lab handed the test.
private struct LabSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A header (magic, nonce, length) followed by bytes that only this nonce produces.
private struct RebootPattern {
    static let magic: UInt64 = 0x3142_5242_414C_4D50  // "PMLABRB1", little-endian
    static let headerBytes = 24
    let nonce: UInt64
    let count: Int

    /// The pattern's bytes, eight at a time (splitmix64 of the nonce and the index).
    func word(_ index: Int) -> UInt64 {
        var z = nonce &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Pattern first, header last: a header on media means the pattern before it was persisted.
    func write(to mapping: PMemMapping) {
        let words = mapping.pointer(at: Self.headerBytes).bindMemory(to: UInt64.self, capacity: count / 8)
        for index in 0..<count / 8 {
            words[index] = word(index)
        }
        mapping.persist(offset: Self.headerBytes, length: count)
        let header = mapping.base.bindMemory(to: UInt64.self, capacity: 3)
        header[0] = Self.magic
        header[1] = nonce
        header[2] = UInt64(count)
        mapping.persist(offset: 0, length: Self.headerBytes)
    }

    /// `nil` when header and pattern are intact, else what differs first.
    func check(in mapping: PMemMapping) -> String? {
        let header = mapping.base.bindMemory(to: UInt64.self, capacity: 3)
        guard header[0] == Self.magic else {
            return "no pattern header (magic \(String(header[0], radix: 16)))"
        }
        guard header[1] == nonce else {
            return "the pattern is from another run (nonce \(header[1]), expected \(nonce))"
        }
        guard header[2] == UInt64(count) else { return "pattern length \(header[2]), expected \(count)" }
        let words = mapping.pointer(at: Self.headerBytes).bindMemory(to: UInt64.self, capacity: count / 8)
        for index in 0..<count / 8 where words[index] != word(index) {
            return "word \(index) (offset \(Self.headerBytes + index * 8)) differs"
        }
        return nil
    }
}
