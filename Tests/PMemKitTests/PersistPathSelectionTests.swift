import XCTest

@testable import PMemKit

/// The persist path is chosen once from CPU features and overrides, as
/// libpmem2 does; every override must select the path it names.
final class PersistPathSelectionTests: XCTestCase {
    let fullCPU = CPUFeatures(
        clflush: true, clflushopt: true, clwb: true, sse2: true, avx: true, avx512f: true)

    func testPrefersClwbWhenTheCPUHasIt() throws {
        let path = PersistPath.select(cpu: fullCPU, overrides: try Overrides(environment: [:]))
        XCTAssertEqual(path.flush, .clwb)
        XCTAssertEqual(path.description, "clwb + sfence")
    }

    func testNoClwbOverrideFallsBackToClflushopt() throws {
        let path = PersistPath.select(
            cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_NO_CLWB": "1"]))
        XCTAssertEqual(path.flush, .clflushopt)
        XCTAssertEqual(path.reason, "PMEMKIT_NO_CLWB=1")
    }

    func testBothOverridesFallBackToClflush() throws {
        let path = PersistPath.select(
            cpu: fullCPU,
            overrides: try Overrides(environment: ["PMEMKIT_NO_CLWB": "1", "PMEMKIT_NO_CLFLUSHOPT": "1"]))
        XCTAssertEqual(path.flush, .clflush)
    }

    func testCPUWithoutClwbUsesClflushopt() throws {
        var cpu = fullCPU
        cpu.clwb = false
        XCTAssertEqual(
            PersistPath.select(cpu: cpu, overrides: try Overrides(environment: [:])).flush, .clflushopt)
        cpu.clflushopt = false
        XCTAssertEqual(
            PersistPath.select(cpu: cpu, overrides: try Overrides(environment: [:])).flush, .clflush)
    }

    func testForcedEADRFlushesNothingButStillFences() throws {
        let path = PersistPath.select(
            cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_FORCE_EADR": "1"]))
        XCTAssertEqual(path.flush, .none)
        XCTAssertEqual(path.description, "sfence only (eADR)")
    }

    func testCPUCacheDomainMeansEADR() throws {
        let path = PersistPath.select(cpu: fullCPU, overrides: try Overrides(environment: [:]), eADR: true)
        XCTAssertEqual(path.flush, .none)
        XCTAssertEqual(path.reason, "region persistence_domain is cpu_cache")
    }

    func testAZeroFlagIsOff() throws {
        let path = PersistPath.select(
            cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_NO_CLWB": "0"]))
        XCTAssertEqual(path.flush, .clwb)
    }

    func testCopyInstructionsFollowTheWidestAvailableSet() throws {
        XCTAssertEqual(
            PersistPath.select(cpu: fullCPU, overrides: try Overrides(environment: [:])).copy, .movntAVX512F)
        XCTAssertEqual(
            PersistPath.select(
                cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_NO_AVX512F": "1"])
            ).copy, .movntAVX)
        XCTAssertEqual(
            PersistPath.select(cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_NO_AVX": "1"]))
                .copy, .movntSSE2)
        XCTAssertEqual(
            PersistPath.select(cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_NO_MOVNT": "1"]))
                .copy, .temporal)
        let sse2Only = CPUFeatures(clflush: true, sse2: true)
        XCTAssertEqual(
            PersistPath.select(cpu: sse2Only, overrides: try Overrides(environment: [:])).copy, .movntSSE2)
    }

    func testStreamingThresholdIsChosenPerCPUVendor() throws {
        var amd = fullCPU
        amd.vendor = "AuthenticAMD"
        XCTAssertEqual(
            PersistPath.select(cpu: amd, overrides: try Overrides(environment: [:])).movntThreshold, 64,
            "clwb evicts on AMD")
        var intel = fullCPU
        intel.vendor = "GenuineIntel"
        let onIntel = PersistPath.select(cpu: intel, overrides: try Overrides(environment: [:]))
        XCTAssertEqual(
            onIntel.movntThreshold, PersistPath.libpmemMovntThreshold, "never below libpmem's parity")
        XCTAssertTrue(onIntel.movntReason.contains("GenuineIntel"), onIntel.movntReason)
    }

    func testStreamingThresholdCanBeRaised() throws {
        let raised = PersistPath.select(
            cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_MOVNT_THRESHOLD": "4K"]))
        XCTAssertEqual(raised.movntThreshold, 4096)
        XCTAssertEqual(raised.movntReason, "PMEMKIT_MOVNT_THRESHOLD")
        XCTAssertNotEqual(
            raised, PersistPath.select(cpu: fullCPU, overrides: try Overrides(environment: [:])))
        let temporal = PersistPath.select(
            cpu: fullCPU, overrides: try Overrides(environment: ["PMEMKIT_NO_MOVNT": "1"]))
        XCTAssertEqual(temporal.movntThreshold, Int.max, "a temporal path never streams")
    }

    func testThisCPUIsDetected() throws {
        let cpu = CPUFeatures.current
        XCTAssertTrue(cpu.clflush, "every x86-64 CPU has clflush")
        XCTAssertTrue(cpu.sse2, "every x86-64 CPU has SSE2")
        XCTAssertFalse(cpu.vendor.isEmpty)
    }
}
