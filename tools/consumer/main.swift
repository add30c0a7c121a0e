// A user's program: imports every PMemKit library product and calls one real
// API of each. Run by tools/consumer-check; any failure exits 1 naming it.
import Foundation
import PMemHeap
import PMemKit
import PMemProtect
import PMemReplication
import PMemScan
import PMemVirt

let expectedVersion = CommandLine.arguments.dropFirst().first ?? PMemKitVersion.string
let scratch = NSTemporaryDirectory() + "pmemkit-consumer-\(getpid())"
try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: scratch) }

nonisolated(unsafe) var failures = 0

/// Runs one product's check; prints `ok PRODUCT: what` or `FAILED PRODUCT: why`.
@MainActor func check(_ product: String, _ body: () throws -> String) {
    do {
        print("ok \(product): \(try body())")
    } catch {
        print("FAILED \(product): \(error)")
        failures += 1
    }
}

/// The agent's report, written by its thread and read after the semaphore.
final class ReportBox: @unchecked Sendable {
    var report: DrainReport?
}

struct Failure: Error, CustomStringConvertible {
    let description: String
}

/// A list node the heap stores: one pointer field, found by key path.
struct Node: PersistentType {
    var value: Int64
    var next: PersistentPointer<Node>
    static var persistentName: String { "consumer.Node" }
    static var persistentPointers: [PartialKeyPath<Node>] { [\.next] }
}

check("PMemKit") {
    guard PMemKitVersion.string == expectedVersion else {
        throw Failure(description: "version \(PMemKitVersion.string), tagged \(expectedVersion)")
    }
    let mapping = try PMemMapping(
        path: scratch + "/mapped", options: .init(size: 1 << 20, create: true, plainFile: .emulated))
    mapping.base.storeBytes(of: 0x5a5a, as: UInt64.self)
    mapping.persist(mapping.base, 8)
    return "mapped 1 MiB (\(mapping.backing.rawValue)) and persisted with \(mapping.flushMethod)"
}

check("PMemHeap") {
    let path = scratch + "/pool"
    let heap = try PersistentHeap.create(path: path, size: 8 << 20)
    let nodes = try heap.register(Node.self)
    try heap.transaction { tx in
        let node = try tx.allocate(nodes, Node(value: 42, next: .null))
        try tx.setRoot(node)
    }
    try heap.close()
    let reopened = try PersistentHeap.open(path: path)
    let value = try reopened.root(Node.self).pointee.value
    try reopened.close()
    guard value == 42 else { throw Failure(description: "root holds \(value) after reopen") }
    let report = try HeapChecker.check(path: path)
    guard report.healthy else { throw Failure(description: "check: \(report.problems)") }
    return "committed a root object, reopened it (value 42), check healthy"
}

check("PMemProtect") {
    let protector = try PageProtector.shared()
    let page = Int(getpagesize())
    guard let memory = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        memory != MAP_FAILED
    else { throw Failure(description: "mmap: errno \(errno)") }
    defer { munmap(memory, page) }
    let range = try protector.protect(memory, length: page, access: .read, onFault: .count, label: "consumer")
    memory.storeBytes(of: 7, as: UInt64.self)
    let faults = range.faults
    range.unprotect()
    guard faults == 1, memory.load(as: UInt64.self) == 7 else {
        throw Failure(description: "\(faults) faults counted")
    }
    return "a write to a read-only page faulted once (\(protector.choice.mechanism.rawValue)) and landed"
}

check("PMemScan") {
    let source = scratch + "/store.c"
    try """
    #include <unistd.h>
    struct record { long key; char value[56]; };
    int save(int fd, const struct record *r) { return write(fd, r, sizeof(*r)) == sizeof(*r); }
    """.write(toFile: source, atomically: true, encoding: .utf8)
    let report = try PersistenceAnalyzer(input: ScanInput(files: [source])).run()
    guard let found = report.types.first(where: { $0.name == "struct record" }), found.size == 64 else {
        throw Failure(description: "types found: \(report.types.map(\.name))")
    }
    return "found struct record (64 bytes) written by write(2)"
}

check("PMemReplication") {
    let psk = try PreSharedKey(bytes: Array(repeating: 7, count: 32))
    let store = try ReplicaStore(directory: scratch + "/replica")
    let server = ReplicaServer(store: store, psk: psk)
    let port = try server.start(listening: Endpoint(host: "127.0.0.1", port: 0))
    defer { try? server.close() }
    let heap = try PersistentHeap.create(path: scratch + "/replicated", size: 8 << 20)
    let log = scratch + "/replicated.log"
    let replicator = try Replicator.attach(to: heap, logPath: log)
    let nodes = try heap.register(Node.self)
    for value in 1...100 {
        try replicator.transaction { tx in
            try tx.setRoot(try tx.allocate(nodes, Node(value: Int64(value), next: .null)))
        }
    }
    replicator.detach()
    try heap.close()
    var configuration = HAAgent.Configuration(
        logPath: log, replicas: [Endpoint(host: "127.0.0.1", port: port)], psk: psk,
        batteryMilliseconds: 20_000, controlSocket: log + ".sock")
    configuration.handlesSignals = false
    let agent = try HAAgent(configuration: configuration)
    let done = DispatchSemaphore(value: 0)
    let box = ReportBox()
    Thread.detachNewThread {
        box.report = try? agent.run()
        done.signal()
    }
    agent.powerFail()
    let finished = done.wait(timeout: .now() + 60) == .success
    let drained = finished ? box.report : nil
    guard let report = drained, report.complete,
        report.replicas.first?.ackedSequence == report.lastSequence
    else { throw Failure(description: "the drain did not reach the replica: \(String(describing: drained))") }
    let state = try ReplicaStore.readState(directory: scratch + "/replica")
    return
        "100 transactions shipped to an in-process replica (applied through sequence \(state.appliedSequence))"
}

check("PMemVirt") {
    switch KVM.availability() {
    case .success(let kvm): return "KVM at \(kvm.path): up to \(kvm.maxVCPUs) vCPUs"
    case .failure(let why): return "KVM unavailable, reported as: \(why)"
    }
}

if failures > 0 {
    print("consumer: \(failures) product(s) failed")
    exit(1)
}
print("consumer: every PMemKit product imported and used through version \(expectedVersion)")
