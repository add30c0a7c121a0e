import PMemKit
import PMemProtect
import XCTest

/// The mechanism is chosen once, from what the machine offers and what the
/// environment asks, and the choice says why.
final class MechanismChoiceTests: XCTestCase {
    private func support(pkeys: Bool, userfaultfd: Bool) -> MechanismSupport {
        MechanismSupport(
            pkeys: MechanismStatus(
                mechanism: .pkeys, available: pkeys, reason: pkeys ? "has pku" : "lacks pku"),
            userfaultfd: MechanismStatus(
                mechanism: .userfaultfd, available: userfaultfd, reason: userfaultfd ? "uffd-wp" : "no uffd"),
            mprotect: MechanismStatus(mechanism: .mprotect, available: true, reason: "always"))
    }

    func testAutoPrefersPKeysThenUserfaultfdThenMprotect() throws {
        XCTAssertEqual(
            try MechanismChoice.decide(requested: nil, support: support(pkeys: true, userfaultfd: true))
                .mechanism,
            .pkeys)
        let noPKU = try MechanismChoice.decide(
            requested: nil, support: support(pkeys: false, userfaultfd: true))
        XCTAssertEqual(noPKU.mechanism, .userfaultfd)
        XCTAssertEqual(noPKU.reason, "no pkeys (lacks pku); uffd-wp")
        let neither = try MechanismChoice.decide(
            requested: nil, support: support(pkeys: false, userfaultfd: false))
        XCTAssertEqual(neither.mechanism, .mprotect)
        XCTAssertEqual(neither.reason, "no pkeys (lacks pku); no userfaultfd (no uffd); always")
        XCTAssertEqual(neither.requested, "auto")
    }

    func testARequestedMechanismIsTakenOrRefusedWithWhatItLacks() throws {
        let choice = try MechanismChoice.decide(
            requested: .mprotect, support: support(pkeys: true, userfaultfd: true))
        XCTAssertEqual(choice.mechanism, .mprotect)
        XCTAssertEqual(choice.requested, "mprotect")
        XCTAssertThrowsError(
            try MechanismChoice.decide(requested: .pkeys, support: support(pkeys: false, userfaultfd: true))
        ) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .unsupported)
            XCTAssertTrue("\(error)".contains("lacks pku"), "\(error)")
        }
    }

    func testTheEnvironmentOverrideIsParsedStrictly() throws {
        let key = ProtectionMechanism.environmentKey
        XCTAssertNil(try ProtectionMechanism.requested(environment: [:]))
        XCTAssertNil(try ProtectionMechanism.requested(environment: [key: "auto"]))
        XCTAssertEqual(try ProtectionMechanism.requested(environment: [key: "userfaultfd"]), .userfaultfd)
        XCTAssertThrowsError(try ProtectionMechanism.requested(environment: [key: "mmap"])) { error in
            XCTAssertTrue("\(error)".contains("use auto, pkeys, userfaultfd, mprotect"), "\(error)")
        }
    }

    func testTheOverrideCatalogueNamesEveryMechanismAndDelivery() {
        XCTAssertEqual(
            OverrideVariable.protectMechanism.kind,
            .choice(["auto"] + ProtectionMechanism.allCases.map(\.rawValue)))
        XCTAssertEqual(
            OverrideVariable.uffdDelivery.kind,
            .choice(["auto"] + UserfaultfdDelivery.allCases.map(\.rawValue)))
    }

    func testThisMachineAlwaysOffersMprotect() {
        XCTAssertTrue(MechanismSupport.current.mprotect.available)
        XCTAssertEqual(MechanismSupport.current.all.map(\.mechanism), [.pkeys, .userfaultfd, .mprotect])
    }
}
