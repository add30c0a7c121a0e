import Foundation
import PMemKit
import XCTest

/// Decides whether hardware-gated tests can run: they need an NVDIMM (or
/// CXL) region found through libndctl. Without one they skip and print the
/// reason; with `PMEMKIT_REQUIRE_HW=1` (the lab sets it) they fail instead.
enum HardwareGate {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    static var required: Bool { ProcessInfo.processInfo.environment["PMEMKIT_REQUIRE_HW"] == "1" }

    /// Skips (or fails, when required) with `reason`.
    static func unavailable(_ reason: String) throws -> Never {
        throw unavailableError(reason)
    }

    /// The skip (or, when required, the failure) for `reason`, printing why.
    static func unavailableError(_ reason: String) -> any Error {
        if required {
            return Unavailable(description: "PMEMKIT_REQUIRE_HW=1 but \(reason)")
        }
        print("HardwareTests: skipped: \(reason)")
        return XCTSkip(reason)
    }

    /// A writable region with at least `bytes` of free capacity
    /// (`PMEMKIT_TEST_REGION` names the one tests may carve, when others hold data).
    ///
    /// A label-less region counts when its DIMMs can hold labels; they are
    /// initialized before it is returned.
    static func region(withFree bytes: UInt64) throws -> Region {
        let topology = try Topology.scan()
        guard !topology.regions.isEmpty else {
            try unavailable("no NVDIMM regions: libndctl found \(topology.buses.count) buses and no region")
        }
        let dimms = Dictionary(uniqueKeysWithValues: topology.buses.flatMap(\.dimms).map { ($0.name, $0) })
        let chosen = ProcessInfo.processInfo.environment["PMEMKIT_TEST_REGION"]
        let candidates = topology.regions.filter { r in
            guard r.enabled && !r.readonly, chosen == nil || r.name == chosen else { return false }
            if r.labeled { return r.maxAvailableExtent >= bytes }
            let labelable =
                !r.mappings.isEmpty && r.mappings.allSatisfy { dimms[$0.dimm]?.labelsSupported == true }
            return labelable && r.size >= bytes
        }
        guard let region = candidates.first else {
            let seen = topology.regions.map { "\($0.name) (\(ByteSize.format($0.maxAvailableExtent)) free)" }
            try unavailable(
                "no writable region with \(ByteSize.format(bytes)) free: \(seen.joined(separator: ", "))")
        }
        guard !region.labeled else { return region }
        // Label-less (a fresh emulated NVDIMM): label it, as create-namespace would.
        try Provisioner.initializeLabels(region: region.name)
        let labeled = try Topology.scan().region(named: region.name)
        guard let labeled, labeled.labeled else {
            throw Unavailable(description: "\(region.name) is still label-less after initializing labels")
        }
        return labeled
    }

    /// The built `pmemctl` beside the test bundle.
    static var pmemctl: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("pmemctl").path
    }

    /// The persistence domain the lab configured, if it says (`PMEMKIT_EXPECT_PERSISTENCE`).
    static var expectedPersistence: PersistenceDomain? {
        ProcessInfo.processInfo.environment["PMEMKIT_EXPECT_PERSISTENCE"].flatMap(
            PersistenceDomain.init(rawValue:))
    }
}

/// Namespaces a test made, destroyed (forcibly) when it ends, pass or fail.
final class NamespaceJanitor {
    private(set) var names: [String] = []

    func create(in region: String, _ request: NamespaceRequest) throws -> Namespace {
        let ns = try Provisioner.createNamespace(region: region, request)
        names.append(ns.name)
        return ns
    }

    func forget(_ name: String) { names.removeAll { $0 == name } }

    func cleanUp() {
        for name in names.reversed() { try? Provisioner.destroyNamespace(name, force: true) }
        names = []
    }
}

/// Runs a system tool (mkfs, mount) and throws with its output on failure.
///
/// posix_spawn rather than Foundation's Process: Process needs a CFSocket
/// wake-up pair on loopback, and a minimal guest may not have loopback up.
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> String {
    let log = NSTemporaryDirectory() + "hwtool-\(getpid()).log"
    defer { unlink(log) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard rc == 0 else {
        throw HardwareGate.Unavailable(description: "cannot start \(path): \(String(cString: strerror(rc)))")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    // Exited normally with status 0: the low 7 bits are 0 and the exit code is 0.
    guard status == 0 else {
        throw HardwareGate.Unavailable(
            description: "\(path) \(arguments.joined(separator: " ")) failed (status \(status)): \(output)")
    }
    return output
}

/// The first existing path among `candidates`.
func findTool(_ candidates: [String]) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Unmounts `dir`, retrying for up to two seconds; on failure the error names
/// every process that still has a file, mapping or directory there.
func unmount(_ umount: String, _ dir: String) throws {
    var lastError: Error?
    for _ in 0..<20 {
        do {
            try runTool(umount, [dir])
            return
        } catch {
            lastError = error
            usleep(100_000)
        }
    }
    let holders =
        (try? runTool(
            "/bin/sh",
            [
                "-c",
                "ls -l /proc/[0-9]*/fd /proc/[0-9]*/cwd 2>/dev/null | grep -F \(dir); grep -lF \(dir) /proc/[0-9]*/maps 2>/dev/null; true",
            ])) ?? ""
    throw HardwareGate.Unavailable(
        description: "\(lastError.map { "\($0)" } ?? "umount failed"); holders: [\(holders)]")
}
