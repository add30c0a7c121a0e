internal import CPMemReplication
import Foundation
@_spi(Primitives) import PMemKit

/// The agent's etcd leadership as the application on the same machine sees
/// it, in the log's superblock (`pmr_lease_fence`): the agent publishes how
/// long its lease surely lasts, the application admits commits that need
/// leadership only before that instant. The agent renews it while etcd
/// renews the lease and clears it the moment it learns leadership is gone,
/// so a primary that loses etcd stops admitting commits before etcd lets
/// another node lead.
///
/// Times are `CLOCK_MONOTONIC` (one clock for every process of a boot, never
/// set back), and the fence names the boot it was written in: after a reboot
/// an old fence lapses whatever its time says.
public struct LeaseFence: @unchecked Sendable {
    private let words: UnsafeMutablePointer<UInt64>

    /// Where `pmr_lease_fence` starts in the superblock.
    static let offset = MemoryLayout<pmr_log_superblock>.offset(of: \.lease)!

    init(region: LogRegion) {
        words = (region.mapping.base + Self.offset).assumingMemoryBound(to: UInt64.self)
    }

    /// What the fence says now.
    public enum Standing: Sendable, Equatable {
        /// A leader's lease lasts at least until `validUntil` (monotonic ns).
        case leading(epoch: UInt64, validUntil: UInt64)
        /// The last leader's lease lapsed (or was revoked) at epoch `epoch`.
        case lapsed(epoch: UInt64)
        /// No agent led on this boot.
        case none
    }

    /// Reads the fence at monotonic time `now`.
    public func standing(now: UInt64 = LeaseFence.monotonicNow()) -> Standing {
        let until = Atomic64.loadAcquire(words)
        let epoch = Atomic64.loadAcquire(words + 1)
        guard epoch != 0, isThisBoot else { return .none }
        return until > now ? .leading(epoch: epoch, validUntil: until) : .lapsed(epoch: epoch)
    }

    /// Whether a commit may be admitted now (the application's check per transaction).
    @inline(__always)
    public func admits() -> Bool {
        Atomic64.loadAcquire(words) > Self.monotonicNow() && isThisBoot
    }

    /// Whether the fence was written in this boot (atomic loads: the agent
    /// may be a thread of this process).
    private var isThisBoot: Bool {
        Atomic64.loadAcquire(words + 2) == Self.bootID.0 && Atomic64.loadAcquire(words + 3) == Self.bootID.1
    }

    /// The agent leads at `epoch` until `validUntil` (monotonic ns): the
    /// boot and epoch first, the time last, so a reader that sees the time
    /// sees the rest.
    func publish(epoch: UInt64, validUntil: UInt64) {
        if Atomic64.loadAcquire(words + 1) != epoch {
            Atomic64.storeRelease(words, 0)
            Atomic64.storeRelease(words + 2, Self.bootID.0)
            Atomic64.storeRelease(words + 3, Self.bootID.1)
            Atomic64.storeRelease(words + 1, epoch)
        }
        Atomic64.storeSequentiallyConsistent(words, validUntil)
    }

    /// Leadership is gone: no commit is admitted from now on.
    func revoke() { Atomic64.storeSequentiallyConsistent(words, 0) }

    /// `CLOCK_MONOTONIC` in nanoseconds.
    @inline(__always)
    public static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// This boot's id (`/proc/sys/kernel/random/boot_id`) as two words; never
    /// both zero (a fence never written has zeros there).
    static let bootID: (UInt64, UInt64) = {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        let hex = text.filter(\.isHexDigit)
        guard hex.count == 32, let high = UInt64(hex.prefix(16), radix: 16),
            let low = UInt64(hex.suffix(16), radix: 16), high | low != 0
        else {
            // No boot id (an unusual /proc): the boot time stands in for it.
            var boot = timespec()
            clock_gettime(CLOCK_BOOTTIME, &boot)
            let started = UInt64(Date().timeIntervalSince1970) - UInt64(boot.tv_sec)
            return (started | 1 << 63, 0x424f_4f54)
        }
        return (high, low)
    }()
}
