internal import CPMemReplication
import PMemKit

/// The payload of `transaction` and `baselineWrites` records: pool writes
/// (an offset and bytes each), then, for a transaction, the heap's redo
/// record exactly as the heap sealed it (`pmr_pool_writes_header`, then a
/// `pmr_pool_write` and its bytes per write).
///
/// ```
/// write count u32 | redo record offset u32 (0: none)
/// per write:  offset u64 | length u32 | 0 u32 | bytes, zero-padded to 8
/// redo record (8-aligned), to the end of the payload
/// ```
enum PoolWritesPayload {
    static var headerSize: Int { MemoryLayout<pmr_pool_writes_header>.size }
    static var writeHeaderSize: Int { MemoryLayout<pmr_pool_write>.size }

    /// One pool write inside a payload.
    struct Write {
        let offset: Int
        let bytes: UnsafeRawBufferPointer
    }

    /// Reads a payload; throws `corrupt` when it is malformed or a write
    /// falls outside a pool of `poolSize` bytes.
    static func parse(_ payload: UnsafeRawBufferPointer, poolSize: Int) throws -> (
        writes: [Write], record: UnsafeRawBufferPointer?
    ) {
        var writes: [Write] = []
        let record = try parse(payload, poolSize: poolSize, into: &writes)
        return (writes, record)
    }

    /// Reads a payload, appending its writes to `writes` (a list reused
    /// across records); returns the redo record, if any. Throws `corrupt`
    /// when it is malformed or a write falls outside a pool of `poolSize` bytes.
    static func parse(_ payload: UnsafeRawBufferPointer, poolSize: Int, into writes: inout [Write]) throws
        -> UnsafeRawBufferPointer?
    {
        func corrupt(_ why: String) -> PMemError {
            PMemError(.corrupt, operation: "replica apply", detail: "record payload \(why)")
        }
        guard payload.count >= headerSize, let base = payload.baseAddress else {
            throw corrupt("is truncated")
        }
        let header = base.loadUnaligned(as: pmr_pool_writes_header.self)
        let recordOffset = Int(header.record_offset)
        var cursor = headerSize
        for _ in 0..<header.nwrites {
            guard payload.count - cursor >= writeHeaderSize else { throw corrupt("ends inside a write") }
            let write = (base + cursor).loadUnaligned(as: pmr_pool_write.self)
            let offset = write.offset
            let length = Int(write.length)
            let padded = (length + 7) & ~7
            guard payload.count - cursor - writeHeaderSize >= padded else {
                throw corrupt("ends inside a write")
            }
            guard offset <= UInt64(poolSize), UInt64(length) <= UInt64(poolSize) - offset else {
                throw corrupt("writes \(length) bytes at \(offset), outside the \(poolSize)-byte pool")
            }
            writes.append(
                Write(
                    offset: Int(offset),
                    bytes: UnsafeRawBufferPointer(start: base + cursor + writeHeaderSize, count: length)))
            cursor += writeHeaderSize + padded
        }
        guard recordOffset != 0 else {
            guard cursor == payload.count else { throw corrupt("has bytes after its writes") }
            return nil
        }
        guard recordOffset == cursor else {
            throw corrupt("puts its redo record at \(recordOffset), not \(cursor)")
        }
        return UnsafeRawBufferPointer(start: base + cursor, count: payload.count - cursor)
    }

    /// The redo record a payload carries (after its writes), found from its
    /// header without parsing the writes; `nil` when it names none or the
    /// offset lies outside the payload.
    static func redoRecord(in payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard payload.count >= headerSize, let base = payload.baseAddress else { return nil }
        let offset = Int(base.loadUnaligned(as: pmr_pool_writes_header.self).record_offset)
        guard offset >= headerSize, offset < payload.count else { return nil }
        return UnsafeRawBufferPointer(start: base + offset, count: payload.count - offset)
    }

    /// Builds payloads in a reusable DRAM buffer.
    final class Builder {
        private(set) var buffer: UnsafeMutableRawPointer
        private var capacity: Int
        private(set) var size = headerSize
        private(set) var count = 0

        init(capacity: Int = 64 << 10) {
            self.capacity = capacity
            buffer = .allocate(byteCount: capacity, alignment: 64)
            reset()
        }

        deinit { buffer.deallocate() }

        /// Empties the payload.
        func reset() {
            size = headerSize
            count = 0
            setHeader()
        }

        /// Whether nothing has been added.
        var isEmpty: Bool { count == 0 }

        /// Appends a pool write.
        func add(offset: Int, bytes: UnsafeRawBufferPointer) {
            let padded = (bytes.count + 7) & ~7
            reserve(writeHeaderSize + padded)
            let p = buffer + size
            p.storeBytes(
                of: pmr_pool_write(offset: UInt64(offset), length: UInt32(bytes.count), reserved: 0),
                as: pmr_pool_write.self)
            if padded > 0 { p.storeBytes(of: 0, toByteOffset: writeHeaderSize + padded - 8, as: UInt64.self) }
            if let source = bytes.baseAddress {
                (p + writeHeaderSize).copyMemory(from: source, byteCount: bytes.count)
            }
            size += writeHeaderSize + padded
            count += 1
            setHeader()
        }

        /// The writes so far, with a header saying the redo record follows
        /// them: the payload is these bytes, then the record (its length a
        /// multiple of 8), which the log's append copies from where it lies.
        func writesBeforeRecord() -> UnsafeRawBufferPointer {
            setHeader(recordOffset: size)
            return bytes
        }

        /// Stores the payload's header: the writes so far, and where the redo record starts (0: none).
        private func setHeader(recordOffset: Int = 0) {
            buffer.storeBytes(
                of: pmr_pool_writes_header(nwrites: UInt32(count), record_offset: UInt32(recordOffset)),
                as: pmr_pool_writes_header.self)
        }

        /// The payload built so far (readable up to the next multiple of 8).
        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: size) }

        private func reserve(_ extra: Int) {
            guard size + extra + 8 > capacity else { return }
            let grown = max(capacity * 2, size + extra + 8)
            let replacement = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 64)
            replacement.copyMemory(from: buffer, byteCount: size)
            buffer.deallocate()
            buffer = replacement
            capacity = grown
        }
    }
}
