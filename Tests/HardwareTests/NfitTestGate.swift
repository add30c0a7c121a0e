import Foundation
import PMemKit
import XCTest

/// Decides whether tests that need the kernel's nfit_test can run: its buses
/// (`nfit_test.0`, `nfit_test.1`) exist only in `tools/pmem-lab --nfit-test`.
/// Elsewhere they skip; where the lab says it loaded nfit_test
/// (`PMEM_LAB_NFIT_TEST=1`), a missing bus fails instead.
enum NfitTestGate {
    /// Whether the lab loaded nfit_test for this run.
    static var expected: Bool { ProcessInfo.processInfo.environment["PMEM_LAB_NFIT_TEST"] == "1" }

    /// nfit_test's buses, or a skip (a failure when `expected`).
    static func buses() throws -> [Bus] {
        let topology = try Topology.scan()
        let buses = topology.buses.filter { $0.provider.hasPrefix("nfit_test") }
        guard !buses.isEmpty else {
            let seen = topology.buses.map { "\($0.name) (\($0.provider))" }.joined(separator: ", ")
            let reason = "no nfit_test bus (libndctl found: \(seen.isEmpty ? "none" : seen))"
            if expected {
                throw HardwareGate.Unavailable(description: "PMEM_LAB_NFIT_TEST=1 but \(reason)")
            }
            print("NfitTest: skipped: \(reason); tools/pmem-lab --nfit-test loads it")
            throw XCTSkip(reason)
        }
        return buses
    }

    /// An nfit_test region whose deep flush is `capability`; the largest one first.
    static func region(deepFlush capability: DeepFlushCapability) throws -> Region {
        let regions = try buses().flatMap(\.regions).filter { $0.deepFlush == capability }
        guard let region = regions.max(by: { $0.size < $1.size }) else {
            throw HardwareGate.Unavailable(
                description: "nfit_test has no region with deep_flush \(capability.rawValue)")
        }
        return region
    }

}
