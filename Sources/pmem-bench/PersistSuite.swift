import CPmem
import Foundation
import PMemKit

/// `persist`: our persist and copy paths against libpmem's on the same mapping.
///
/// Each unit dirties every cache line of the range (one store per line, the
/// same for both sides) and then persists it, so the flush instructions see
/// dirty lines as they would after real writes.
struct PersistSuite: BenchSuite {
    static let name = "persist"
    static let summary = "persist and copy-persist at 64B..2MiB vs libpmem pmem_persist / pmem_memcpy_persist"

    let mapping: PMemMapping
    let source: UnsafeMutableRawPointer
    let quick: Bool
    let backing: String
    static let sizes = [64, 256, 4096, 65536, 2 << 20]
    static let spanBytes = 8 << 20

    init(options: BenchOptions) throws {
        quick = options.quick
        let path = options.path ?? "/dev/shm/pmem-bench-persist.\(getpid())"
        let created = options.path == nil
        mapping = try PMemMapping(
            path: path, options: .init(size: Self.spanBytes, create: true, plainFile: .emulated))
        if created { unlink(path) }
        source = UnsafeMutableRawPointer.allocate(byteCount: Self.spanBytes, alignment: 64)
        source.initializeMemory(as: UInt8.self, repeating: 0x5a, count: Self.spanBytes)
        let location = created ? "DRAM file in /dev/shm standing in for PMem" : path
        backing = "\(mapping.backing.rawValue) (\(location)); persist path: \(mapping.flushMethod)"
    }

    func cases() throws -> [BenchCase] {
        var out: [BenchCase] = []
        for size in Self.sizes {
            out.append(persistCase(size))
        }
        for size in Self.sizes {
            out.append(copyCase(size))
        }
        return out
    }

    /// Short samples, many of them: a sample preempted by another process
    /// is an outlier the median drops.
    var rounds: Int { 201 }

    /// How many units one sample runs: about 256 KiB of traffic (a few
    /// hundred microseconds), at least 4.
    private func units(_ size: Int) -> Int {
        max(4, (256 << 10) / size)
    }

    private static func label(_ size: Int) -> String {
        size >= 1 << 20 ? "\(size >> 20)M" : size >= 1024 ? "\(size >> 10)K" : "\(size)B"
    }

    /// The measured loop, shared by both sides so that they run the same
    /// machine code around the call under test (an A/A run of libpmem
    /// against itself through separately inlined loops came out 1-2% apart
    /// at 64 KiB, from code placement alone).
    @inline(never)
    private func dirtyAndPersist(
        _ p: UnsafeMutableRawPointer, _ size: Int, _ units: Int,
        _ persist: (UnsafeMutableRawPointer, Int) -> Void
    ) -> UInt64 {
        timed {
            for i in 0..<units {
                var off = 0
                while off < size {
                    p.storeBytes(of: UInt8(truncatingIfNeeded: i), toByteOffset: off, as: UInt8.self)
                    off += 64
                }
                persist(p, size)
            }
        }
    }

    @inline(never)
    private func copyLoop(
        _ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ size: Int, _ units: Int,
        _ copy: (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void
    ) -> UInt64 {
        timed {
            for _ in 0..<units { copy(dst, src, size) }
        }
    }

    private func persistCase(_ size: Int) -> BenchCase {
        let n = units(size)
        let target = mapping.base
        let m = mapping
        return BenchCase(
            name: "persist-\(Self.label(size))", unitCount: n,
            ours: { dirtyAndPersist(target, size, n) { m.persist($0, $1) } },
            baselineName: "libpmem pmem_persist",
            baseline: { dirtyAndPersist(target, size, n) { pmem_persist($0, $1) } },
            extra: { ours, base in
                var e = ["ours_GBps": Double(size) / ours]
                if let base { e["baseline_GBps"] = Double(size) / base }
                return e
            })
    }

    private func copyCase(_ size: Int) -> BenchCase {
        let n = units(size)
        let m = mapping
        let src = UnsafeRawPointer(source)
        let dst = mapping.base
        return BenchCase(
            name: "copy-\(Self.label(size))", unitCount: n,
            ours: {
                copyLoop(dst, src, size, n) { d, s, c in
                    m.copyPersist(toOffset: d - m.base, from: s, count: c)
                }
            },
            baselineName: "libpmem pmem_memcpy_persist",
            baseline: { copyLoop(dst, src, size, n) { d, s, c in _ = pmem_memcpy_persist(d, s, c) } },
            extra: { ours, base in
                var e = ["ours_GBps": Double(size) / ours]
                if let base { e["baseline_GBps"] = Double(size) / base }
                return e
            })
    }
}
