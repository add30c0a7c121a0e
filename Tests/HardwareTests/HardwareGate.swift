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
        if required {
            throw Unavailable(description: "PMEMKIT_REQUIRE_HW=1 but \(reason)")
        }
        print("HardwareTests: skipped: \(reason)")
        throw XCTSkip(reason)
    }

    /// A writable region with at least `bytes` of free capacity.
    ///
    /// A label-less region counts when its DIMMs can hold labels; they are
    /// initialized before it is returned.
    static func region(withFree bytes: UInt64) throws -> Region {
        let topology = try Topology.scan()
        guard !topology.regions.isEmpty else {
            try unavailable("no NVDIMM regions: libndctl found \(topology.buses.count) buses and no region")
        }
        let dimms = Dictionary(uniqueKeysWithValues: topology.buses.flatMap(\.dimms).map { ($0.name, $0) })
        let candidates = topology.regions.filter { r in
            guard r.enabled && !r.readonly else { return false }
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
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw HardwareGate.Unavailable(
            description: "\(path) \(arguments.joined(separator: " ")) failed: \(output)")
    }
    return output
}

/// The first existing path among `candidates`.
func findTool(_ candidates: [String]) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}
