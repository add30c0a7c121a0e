import Foundation
import PMemKit
import PMemVirt
import XCTest

/// A vPMem for a test: a file in /dev/shm mapped as emulated PMem, removed at once
/// (the mapping keeps it alive).
func scratchVPMem(bytes: Int) throws -> PMemMapping {
    let path = "/dev/shm/pmemvirt-test.\(getpid()).\(UUID().uuidString)"
    defer { unlink(path) }
    return try PMemMapping(path: path, options: .init(size: bytes, create: true, plainFile: .emulated))
}

/// A configuration for `workload` with a fresh vPMem.
func configuration(
    vcpus: Int, policy: VFHAPolicy, workload: FlushWorkload, targets: [any FlushTarget]? = nil,
    regions: [BackingRegion]? = nil, observer: (any VFHAObserver)? = nil
) throws -> VMConfiguration {
    var c = VMConfiguration()
    c.vcpus = vcpus
    c.vpmem = try scratchVPMem(bytes: max(workload.vpmemBytes(vcpus: vcpus), 1 << 20))
    c.vfha = VFHAConfiguration(policy: policy, backingRegions: regions, targets: targets, observer: observer)
    return c
}

/// A totally ordered clock shared by the test's observer and flush targets,
/// so arrivals, propagations and resumptions can be compared.
final class EventClock: @unchecked Sendable {
    private var now: UInt64 = 0
    private let lock = NSLock()

    /// The next tick.
    func tick() -> UInt64 {
        lock.withLock {
            now += 1
            return now
        }
    }
}

/// A flush target standing in for a region's WPQ: counts flushes, stamps
/// when each began and ended, and can look at the vPMem while it flushes.
final class CountingTarget: FlushTarget, @unchecked Sendable {
    let name: String
    private let clock: EventClock
    private let inspect: (@Sendable (Int) -> Void)?
    private let lock = NSLock()
    private var spans: [(begin: UInt64, end: UInt64)] = []

    init(_ name: String, clock: EventClock = EventClock(), inspect: (@Sendable (Int) -> Void)? = nil) {
        self.name = name
        self.clock = clock
        self.inspect = inspect
    }

    func flush() throws {
        let begin = clock.tick()
        let number = lock.withLock { spans.count + 1 }
        inspect?(number)
        let end = clock.tick()
        lock.withLock { spans.append((begin, end)) }
    }

    /// Flushes made so far.
    var count: Int { lock.withLock { spans.count } }

    /// When each flush began and ended, in order.
    var propagations: [(begin: UInt64, end: UInt64)] { lock.withLock { spans } }
}

/// Records the coalescer's events on a clock shared with the flush targets.
final class CoalescerLog: VFHAObserver, @unchecked Sendable {
    private let clock: EventClock
    private let lock = NSLock()
    private var arrivals: [Int: [UInt64]] = [:]
    private var completions: [Int: [UInt64]] = [:]
    private var began: [UInt64: UInt64] = [:]
    private var ended: [UInt64: UInt64] = [:]

    init(clock: EventClock) {
        self.clock = clock
    }

    func flushHintArrived(vcpu: Int) {
        let t = clock.tick()
        lock.withLock { arrivals[vcpu, default: []].append(t) }
    }

    func propagationBegan(_ number: UInt64) {
        let t = clock.tick()
        lock.withLock { began[number] = t }
    }

    func propagationEnded(_ number: UInt64) {
        let t = clock.tick()
        lock.withLock { ended[number] = t }
    }

    func flushHintCompleted(vcpu: Int, coveredBy number: UInt64) {
        let t = clock.tick()
        lock.withLock { completions[vcpu, default: []].append(t) }
    }

    /// Every write as (vCPU, arrived, completed). A vCPU has one write in flight
    /// at a time, so its arrivals and completions pair up in order.
    var writes: [(vcpu: Int, arrived: UInt64, completed: UInt64?)] {
        lock.withLock {
            arrivals.flatMap { vcpu, times in
                times.enumerated().map { i, t in
                    (vcpu, t, completions[vcpu].flatMap { i < $0.count ? $0[i] : nil })
                }
            }
        }
    }

    /// Propagations in order as (began, ended); `nil` for one that never ended.
    var propagations: [(begin: UInt64, end: UInt64?)] {
        lock.withLock { began.keys.sorted().map { (began[$0]!, ended[$0]) } }
    }
}
