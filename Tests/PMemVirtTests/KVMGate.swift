import Foundation
import PMemKit
import PMemVirt
import XCTest

/// The gate of every test that runs a guest: a usable `/dev/kvm`.
///
/// Without one the test is skipped with the reason printed;
/// `PMEMKIT_REQUIRE_KVM=1` turns the skip into a failure.
enum KVMGate {
    /// The KVM device, or a skip (or failure) naming why it cannot be used.
    static func kvm(file: StaticString = #filePath, line: UInt = #line) throws -> KVM {
        switch KVM.availability() {
        case .success(let kvm):
            return kvm
        case .failure(let error):
            let reason = "no usable KVM: \(error)"
            if ProcessInfo.processInfo.environment["PMEMKIT_REQUIRE_KVM"] == "1" {
                XCTFail(reason + " (PMEMKIT_REQUIRE_KVM=1)", file: file, line: line)
            }
            print("skipped: \(reason)")
            throw XCTSkip(reason, file: file, line: line)
        }
    }
}
