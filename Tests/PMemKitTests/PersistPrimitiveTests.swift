import XCTest

@testable import PMemKit

/// Every flush and copy path this CPU can run must store exactly the bytes
/// asked for, whatever the size and alignment (the streaming copies split
/// each range into a flushed head, whole lines and a flushed tail).
final class PersistPrimitiveTests: XCTestCase {
    /// The paths this CPU can execute.
    func runnablePaths() -> [PersistPath] {
        let cpu = CPUFeatures.current
        let flushes: [FlushInstruction] =
            [.none, .clflush] + (cpu.clflushopt ? [.clflushopt] : []) + (cpu.clwb ? [.clwb] : [])
        let copies: [CopyInstructions] =
            [.temporal, .movntSSE2] + (cpu.avx ? [.movntAVX] : []) + (cpu.avx512f ? [.movntAVX512F] : [])
        // Streaming from one line up, and only from 256 bytes (libpmem's choice).
        return flushes.flatMap { f in
            copies.flatMap { c in
                [64, 256].map { PersistPath(flush: f, copy: c, reason: "test", movntThreshold: $0) }
            }
        }
    }

    let sizes = [0, 1, 7, 63, 64, 65, 255, 256, 257, 1000, 4096, 4097, 70_000]
    let offsets = [0, 1, 8, 63]

    func testCopyPersistStoresExactlyTheSourceBytes() {
        let capacity = 80_000
        let src = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: capacity + 128, alignment: 64)
        defer {
            src.deallocate()
            dst.deallocate()
        }
        for i in 0..<capacity {
            src.storeBytes(of: UInt8(truncatingIfNeeded: i * 31 + 7), toByteOffset: i, as: UInt8.self)
        }
        for path in runnablePaths() {
            for size in sizes {
                for offset in offsets {
                    dst.initializeMemory(as: UInt8.self, repeating: 0xEE, count: capacity + 128)
                    path.copyPersist(to: dst + offset, from: src + 3, count: size)
                    XCTAssertEqual(
                        memcmp(dst + offset, src + 3, size), 0, "\(path.flush)/\(path.copy) size \(size)")
                    // Nothing outside the range is touched.
                    if offset > 0 {
                        XCTAssertEqual(dst.load(fromByteOffset: offset - 1, as: UInt8.self), 0xEE)
                    }
                    XCTAssertEqual(dst.load(fromByteOffset: offset + size, as: UInt8.self), 0xEE)
                }
            }
        }
    }

    func testSetPersistFillsExactlyTheRange() {
        let dst = UnsafeMutableRawPointer.allocate(byteCount: 80_128, alignment: 64)
        defer { dst.deallocate() }
        for path in runnablePaths() {
            for size in sizes {
                for offset in offsets {
                    dst.initializeMemory(as: UInt8.self, repeating: 0, count: 80_128)
                    path.setPersist(dst + offset, value: 0xA5, count: size)
                    let filled = UnsafeRawBufferPointer(start: dst + offset, count: size)
                    XCTAssertTrue(filled.allSatisfy { $0 == 0xA5 }, "\(path.flush)/\(path.copy) size \(size)")
                    XCTAssertEqual(dst.load(fromByteOffset: offset + size, as: UInt8.self), 0)
                }
            }
        }
    }

    func testOverlappingCopiesBehaveLikeMemmove() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 8192, alignment: 64)
        let expected = UnsafeMutableRawPointer.allocate(byteCount: 8192, alignment: 64)
        defer {
            buffer.deallocate()
            expected.deallocate()
        }
        for path in runnablePaths() {
            for i in 0..<8192 {
                buffer.storeBytes(of: UInt8(truncatingIfNeeded: i), toByteOffset: i, as: UInt8.self)
            }
            expected.copyMemory(from: buffer, byteCount: 8192)
            memmove(expected + 100, expected, 4000)
            path.copyPersist(to: buffer + 100, from: buffer, count: 4000)
            XCTAssertEqual(memcmp(buffer, expected, 8192), 0, "\(path.flush)/\(path.copy)")
        }
    }

    func testFlushAndDrainRunOnEveryPath() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 1, count: 4096)
        for path in runnablePaths() {
            path.flush(buffer + 5, 3000)
            path.drain()
            path.persist(buffer, 4096)
            XCTAssertEqual(buffer.load(fromByteOffset: 4095, as: UInt8.self), 1)
        }
    }
}
