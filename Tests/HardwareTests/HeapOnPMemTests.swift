import Foundation
import PMemHeap
import PMemKit
import XCTest

/// A list node for the heap on real (or emulated-by-hypervisor) PMem.
struct HardwareNode: PersistentType {
    var value: Int64
    var next: PersistentPointer<HardwareNode>
    static var persistentName: String { "hw.Node" }
    static var persistentPointers: [PartialKeyPath<HardwareNode>] { [\.next] }
}

/// The persistent heap on device DAX: an NVDIMM namespace and a CXL one.
/// Create a pool, fill it in a transaction, close it, reopen it at another
/// base (pointers swizzled), and check it.
final class HeapOnPMemTests: XCTestCase {
    let janitor = NamespaceJanitor()

    override func tearDown() {
        janitor.cleanUp()
    }

    func testHeapOnAnNVDIMMDevdaxNamespace() throws {
        let region = try HardwareGate.region(withFree: 64 << 20)
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .devdax, size: 64 << 20))
        try exerciseHeap(on: "/dev/\(try XCTUnwrap(ns.chardev))", size: 32 << 20)
    }

    func testHeapOpensAndChecksAPoolOnACXLDevdaxNamespace() throws {
        let topology = try Topology.scan()
        guard !topology.cxl.memdevs.isEmpty else {
            try HardwareGate.unavailable("no CXL memdevs: libcxl found \(topology.cxl.ports.count) ports")
        }
        let memdev =
            ProcessInfo.processInfo.environment["PMEMKIT_TEST_CXL_MEMDEV"]
            ?? topology.cxl.memdevs.last!.memdev
        var region = topology.cxl.regions.first { $0.targets.contains { $0.memdev == memdev } }
        if region == nil { region = try CXLProvisioner.createRegion(CXLRegionRequest(memdevs: [memdev])) }
        let nd = try XCTUnwrap(region?.ndRegion, "\(memdev)'s CXL region has an nd region")
        let ns = try janitor.create(in: nd, NamespaceRequest(mode: .devdax, size: 64 << 20))
        // CXL memory is device I/O under QEMU (7-38 MB/s): a small pool.
        try exerciseHeap(on: "/dev/\(try XCTUnwrap(ns.chardev))", size: 8 << 20)
    }

    /// Create, fill, close, reopen elsewhere, walk, check.
    private func exerciseHeap(on device: String, size: Int) throws {
        let values: [Int64] = (1...200).map { $0 * 7 }
        do {
            let heap = try PersistentHeap.create(path: device, size: size, options: .init(requirePMem: true))
            let nodes = try heap.register(HardwareNode.self)
            try heap.transaction { tx in
                var head = PersistentPointer<HardwareNode>.null
                for value in values.reversed() {
                    head = try tx.allocate(nodes, HardwareNode(value: value, next: head))
                }
                try tx.setRoot(head)
            }
            try heap.close()
        }
        do {
            let heap = try PersistentHeap.open(
                path: device, options: .init(placement: .differentFromRecorded))
            XCTAssertTrue(heap.openReport.relocated, "the pool was reopened at another base")
            try heap.register(HardwareNode.self)
            var node = try heap.root(HardwareNode.self)
            var seen: [Int64] = []
            while !node.isNull {
                seen.append(node.pointee.value)
                node = node.pointee.next
            }
            XCTAssertEqual(seen, values, "every swizzled pointer leads to the right node")
            try heap.close()
        }
        let report = try HeapChecker.check(path: device)
        XCTAssertTrue(report.healthy, report.problems.joined(separator: "; "))
        XCTAssertEqual(report.objects, values.count)
    }
}
