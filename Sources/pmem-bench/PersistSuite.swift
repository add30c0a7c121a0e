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

    /// How many units one measurement runs: about 4 MiB of traffic, at least 16.
    private func units(_ size: Int) -> Int {
        let n = max(16, (quick ? 1 << 20 : 4 << 20) / size)
        return min(n, quick ? 2_000 : 20_000)
    }

    private static func label(_ size: Int) -> String {
        size >= 1 << 20 ? "\(size >> 20)M" : size >= 1024 ? "\(size >> 10)K" : "\(size)B"
    }

    /// One store per cache line of the range.
    @inline(__always) private func dirty(_ p: UnsafeMutableRawPointer, _ size: Int, _ value: UInt8) {
        var off = 0
        while off < size {
            p.storeBytes(of: value, toByteOffset: off, as: UInt8.self)
            off += 64
        }
    }

    private func persistCase(_ size: Int) -> BenchCase {
        let n = units(size)
        let target = mapping.base
        let m = mapping
        return BenchCase(
            name: "persist-\(Self.label(size))", unitCount: n,
            ours: {
                timed {
                    for i in 0..<n {
                        dirty(target, size, UInt8(truncatingIfNeeded: i))
                        m.persist(target, size)
                    }
                }
            },
            baselineName: "libpmem pmem_persist",
            baseline: {
                timed {
                    for i in 0..<n {
                        dirty(target, size, UInt8(truncatingIfNeeded: i))
                        pmem_persist(target, size)
                    }
                }
            },
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
                timed {
                    for _ in 0..<n { m.copyPersist(toOffset: 0, from: src, count: size) }
                }
            },
            baselineName: "libpmem pmem_memcpy_persist",
            baseline: {
                timed {
                    for _ in 0..<n { _ = pmem_memcpy_persist(dst, src, size) }
                }
            },
            extra: { ours, base in
                var e = ["ours_GBps": Double(size) / ours]
                if let base { e["baseline_GBps"] = Double(size) / base }
                return e
            })
    }
}
