import Foundation
import PMemKit
import PMemVirt
import XCTest

/// `auto` follows the backing regions' deep_flush; `trap` and `passthrough`
/// are obeyed; the environment overrides the default.
final class VFHAPolicyTests: XCTestCase {
    private let supported = BackingRegion(name: "region0", deepFlush: .supported)
    private let notNeeded = BackingRegion(name: "region1", deepFlush: .notNeeded)
    private let unavailable = BackingRegion(name: "region2", deepFlush: .unavailable)

    func testTheOverrideCatalogueNamesEveryPolicy() {
        XCTAssertEqual(OverrideVariable.fhaPolicy.kind, .choice(VFHAPolicy.allCases.map(\.rawValue)))
    }

    func testAutoTrapsWhenABackingRegionHasFlushHints() {
        let d = VFHADecision.decide(requested: .auto, regions: [notNeeded, supported], backing: .pmem)
        XCTAssertEqual(d.mode, .trap)
        XCTAssertTrue(d.reason.contains("region0"), d.reason)
    }

    func testAutoPassesThroughWhenNoRegionNeedsAWPQFlush() {
        for regions in [[notNeeded], [unavailable], []] {
            let d = VFHADecision.decide(requested: .auto, regions: regions, backing: .pmem)
            XCTAssertEqual(d.mode, .passthrough, d.reason)
        }
        XCTAssertEqual(
            VFHADecision.decide(requested: .auto, regions: [], backing: .emulated).mode, .passthrough)
    }

    func testAutoTrapsForAFileBackingBecauseOnlyMsyncMakesItDurable() {
        XCTAssertEqual(VFHADecision.decide(requested: .auto, regions: [], backing: .file).mode, .trap)
    }

    func testForcedPoliciesIgnoreTheTopology() {
        XCTAssertEqual(
            VFHADecision.decide(requested: .trap, regions: [notNeeded], backing: .pmem).mode, .trap)
        XCTAssertEqual(
            VFHADecision.decide(requested: .passthrough, regions: [supported], backing: .pmem).mode,
            .passthrough)
    }

    func testExplicitPolicyBeatsEnvironmentWhichBeatsAuto() throws {
        let env = [VFHAPolicy.environmentKey: "trap"]
        XCTAssertEqual(try VFHAPolicy.requested(explicit: .passthrough, environment: env), .passthrough)
        XCTAssertEqual(try VFHAPolicy.requested(explicit: nil, environment: env), .trap)
        XCTAssertEqual(try VFHAPolicy.requested(explicit: nil, environment: [:]), .auto)
    }

    func testAnUnknownEnvironmentPolicyIsAnError() {
        XCTAssertThrowsError(
            try VFHAPolicy.requested(explicit: nil, environment: [VFHAPolicy.environmentKey: "always"])
        ) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .invalidArgument)
            XCTAssertTrue("\(error)".contains("PMEMKIT_FHA_POLICY=always"), "\(error)")
        }
    }

    func testBackingRegionsEncodeWithTheKernelsWords() throws {
        let json = String(decoding: try JSONEncoder().encode(supported), as: UTF8.self)
        XCTAssertTrue(json.contains("\"deep_flush\":\"supported\""), json)
    }

    // MARK: - In a VM: the injected topology decides the memslot

    func testAutoWithAHintedRegionTrapsEveryWriteInAVM() throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 30, linesPerVCPU: 2)
        let region = CountingTarget("region0")
        let report = try workload.run(
            configuration(
                vcpus: 1, policy: .auto, workload: workload, targets: [region], regions: [supported]),
            kvm: kvm)
        XCTAssertEqual(report.policy, .trap)
        XCTAssertEqual(report.requestedPolicy, .auto)
        XCTAssertEqual(report.backingRegions, [supported])
        XCTAssertEqual(report.fhaExits, 30)
        XCTAssertEqual(region.count, 30)
    }

    func testAutoWithoutHintedRegionsNeverExitsInAVM() throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 30, linesPerVCPU: 2)
        let region = CountingTarget("region1")
        let report = try workload.run(
            configuration(
                vcpus: 1, policy: .auto, workload: workload, targets: [region], regions: [notNeeded]),
            kvm: kvm)
        XCTAssertEqual(report.policy, .passthrough)
        XCTAssertEqual(report.fhaExits, 0)
        XCTAssertEqual(region.count, 0)
        XCTAssertEqual(report.dataVerified, true)
    }

    func testAutoOnAnEmulatedVPMemReadsNoRegionAndPassesThrough() throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 10, linesPerVCPU: 2)
        let report = try workload.run(configuration(vcpus: 1, policy: .auto, workload: workload), kvm: kvm)
        XCTAssertEqual(report.backingRegions, [])
        XCTAssertEqual(report.policy, .passthrough)
        XCTAssertEqual(report.fhaExits, 0)
    }
}
