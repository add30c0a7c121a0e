internal import CPMemHeap
import Foundation
@_spi(CrashPoints) @_spi(Primitives) import PMemKit

/// A failure-atomic transaction: every write, allocation and free inside it
/// reaches the pool together at commit, or none does.
///
/// Writes are redo-logged: they take effect at commit, so a read inside the
/// transaction must use `read` or `update` to see them. A new object's
/// initial value is written straight into its slot (nothing refers to it
/// before commit) and logged in the record too (`logInitialBytes`).
/// Transactions that touch the same data must be ordered by
/// the caller (a lock); the heap orders their commits accordingly.
///
/// Only use a transaction inside the closure that received it.
public final class Transaction {
    @usableFromInline unowned(unsafe) let heap: PersistentHeap
    /// The lane held for this transaction (not retained: the heap owns every lane).
    @exclusivity(unchecked) unowned(unsafe) var lane: Lane
    /// The calling thread's context (not retained: the heap owns every context).
    @exclusivity(unchecked) unowned(unsafe) var context: ThreadContext
    /// Bytes of entries written after the record header.
    @exclusivity(unchecked) var cursor = 0
    /// Entries written.
    @exclusivity(unchecked) var count = 0
    /// Slots reserved for allocations (released if the transaction aborts).
    @exclusivity(unchecked) var reserved: [(slab: Int, slot: Int)] = []
    /// Slots freed (released to the allocator after commit).
    @exclusivity(unchecked) var freed: [(slab: Int, slot: Int)] = []
    /// Where the record is built: a DRAM buffer (kept for reuse) that grows
    /// as needed; at commit it is streamed into the lane.
    @exclusivity(unchecked) var recordStart: UnsafeMutableRawPointer
    @exclusivity(unchecked) var recordCapacity: Int
    /// New objects were written back rather than logged: fence before the record.
    @exclusivity(unchecked) var fenceBeforeRecord = false

    init(heap: PersistentHeap, lane: Lane, context: ThreadContext) {
        self.heap = heap
        self.lane = lane
        self.context = context
        recordCapacity = 4096
        recordStart = .allocate(byteCount: recordCapacity, alignment: HeapFormat.line)
    }

    deinit { recordStart.deallocate() }

    func begin(lane: Lane, context: ThreadContext) {
        self.lane = lane
        self.context = context
        cursor = 0
        count = 0
    }

    // MARK: Writes

    /// Writes `value` to `address` (inside the heap) when the transaction commits.
    @inlinable public func write<Value>(_ value: Value, to address: UnsafeMutablePointer<Value>) throws {
        var copy = value
        try withUnsafeBytes(of: &copy) { bytes in
            try appendStore(UnsafeRawPointer(address), bytes.baseAddress!, bytes.count)
        }
    }

    /// Writes `value` into field `field` of `object` when the transaction commits.
    @inlinable public func write<Object, Value>(
        _ value: Value, to object: PersistentPointer<Object>, field: WritableKeyPath<Object, Value>
    ) throws {
        try write(value, to: object.field(field))
    }

    /// Reads `address` as this transaction sees it: the stored value with the
    /// transaction's own pending writes on top.
    @inlinable public func read<Value>(_ address: UnsafeMutablePointer<Value>) -> Value {
        var value = address.pointee
        withUnsafeMutableBytes(of: &value) { overlayPending($0, from: UnsafeRawPointer(address)) }
        return value
    }

    /// Logs a store of `count` bytes from `bytes` to `address` in the heap
    /// (the C API's `pmk_tx_write`).
    package func write(bytes: UnsafeRawPointer, count: Int, to address: UnsafeRawPointer) throws {
        try appendStore(address, bytes, count)
    }

    /// Copies `count` bytes at `address` as this transaction sees them into
    /// `buffer` (the C API's `pmk_tx_read`).
    package func read(into buffer: UnsafeMutableRawPointer, from address: UnsafeRawPointer, count: Int) {
        buffer.copyMemory(from: address, byteCount: count)
        overlayPending(UnsafeMutableRawBufferPointer(start: buffer, count: count), from: address)
    }

    /// Reads the whole object, applies `body`, and writes the result back
    /// (logged as one store of the object's bytes).
    @inlinable public func update<Object>(
        _ object: PersistentPointer<Object>, _ body: (inout Object) throws -> Void
    )
        throws
    {
        guard let address = object.address else { throw Transaction.nullPointer("update") }
        var value = read(address)
        try body(&value)
        try write(value, to: address)
    }

    @usableFromInline static func nullPointer(_ what: String) -> PMemError {
        PMemError(.invalidArgument, operation: "transaction", detail: "\(what) through a null pointer")
    }

    /// Appends a store entry; the hot path of every write.
    @usableFromInline func appendStore(_ address: UnsafeRawPointer, _ bytes: UnsafeRawPointer, _ length: Int)
        throws
    {
        let offset = address - UnsafeRawPointer(heap.pool.base)
        guard heap.log.bounds.allows(offset, length) else {
            throw PMemError(
                .invalidArgument, operation: "transaction",
                detail: "write of \(length) bytes at pool offset \(offset) is outside the heap's objects")
        }
        let p = try reserveEntry(RedoEntryCodec.storeSize(length))
        RedoEntryCodec.encodeStore(at: p, offset: offset, from: bytes, length: length)
    }

    /// Appends a bitmap entry (allocation or free).
    private func appendBits(_ kind: RedoRecord.Kind, word: UnsafeMutablePointer<UInt64>, mask: UInt64) throws
    {
        let p = try reserveEntry(RedoEntryCodec.bitsSize)
        let offset = UnsafeRawPointer(word) - UnsafeRawPointer(heap.pool.base)
        RedoEntryCodec.encodeBits(at: p, kind: kind, offset: offset, mask: mask)
    }

    /// Room for one entry of `size` bytes in the record buffer, which grows
    /// (up to what the whole log can hold) as needed.
    @inline(__always) private func reserveEntry(_ size: Int) throws -> UnsafeMutableRawPointer {
        let end = HeapFormat.recordHeaderSize + cursor + size
        if end > recordCapacity { try grow(to: end) }
        let p = recordStart + HeapFormat.recordHeaderSize + cursor
        cursor += size
        count += 1
        return p
    }

    private func grow(to end: Int) throws {
        let limit = heap.geometry.laneCount * RecordParts.capacity(laneSize: heap.geometry.laneSize)
        guard end <= limit else {
            throw PMemError(
                .invalidArgument, operation: "transaction", errno: ENOSPC,
                detail:
                    "the transaction's redo records need more than the pool's whole log (\(limit) bytes); "
                    + "create the pool with a larger --log-size or split the transaction")
        }
        let capacity = min(max(end * 2, 1 << 16), limit)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: HeapFormat.line)
        grown.copyMemory(from: recordStart, byteCount: HeapFormat.recordHeaderSize + cursor)
        recordStart.deallocate()
        recordStart = grown
        recordCapacity = capacity
    }

    /// Copies this transaction's pending stores that overlap `[source, source+count)` into `buffer`.
    @usableFromInline func overlayPending(
        _ buffer: UnsafeMutableRawBufferPointer, from source: UnsafeRawPointer
    ) {
        guard count > 0 else { return }
        let start = source - UnsafeRawPointer(heap.pool.base)
        let end = start + buffer.count
        // The record is not sealed yet: its entries are counted here, not in its header.
        RedoEntryCodec.forEach(from: RedoRecord.entries(of: recordStart), count: count) { entry in
            guard entry.kind == .store else { return }
            let lo = max(entry.offset, start)
            let hi = min(entry.offset + Int(entry.value), end)
            if lo < hi {
                (buffer.baseAddress! + (lo - start)).copyMemory(
                    from: entry.data + (lo - entry.offset), byteCount: hi - lo)
            }
        }
    }

    // MARK: Allocation

    /// Allocates an object of a registered type holding `initial`; it becomes
    /// allocated in the pool when the transaction commits.
    @inlinable public func allocate<T>(_ type: TypeHandle<T>, _ initial: T) throws -> PersistentPointer<T> {
        let raw = try allocateSlot(typeID: type.id, size: MemoryLayout<T>.size)
        let typed = raw.assumingMemoryBound(to: T.self)
        typed.initialize(to: initial)
        try logInitialBytes(raw, MemoryLayout<T>.size)
        return PersistentPointer(typed)
    }

    /// Allocates an object of a registered Swift type holding `initial`.
    @inlinable public func allocate<T: PersistentType>(_ type: T.Type, _ initial: T) throws
        -> PersistentPointer<T>
    {
        try allocate(heap.handle(for: type), initial)
    }

    /// Allocates a zero-filled object of the type with id `typeID` (C-described types).
    public func allocateZeroed(typeID: UInt32) throws -> UnsafeMutableRawPointer {
        try allocate(typeID: typeID, initial: nil)
    }

    /// Allocates an object of the type with id `typeID` holding the type's
    /// size in bytes from `initial`, or zeroes when it is `nil` (the C API's
    /// `pmk_tx_alloc`).
    package func allocate(typeID: UInt32, initial: UnsafeRawPointer?) throws -> UnsafeMutableRawPointer {
        guard typeID > 0, Int(typeID) < context.cacheCount, let type = heap.allocator.types[Int(typeID)]
        else { throw Transaction.unregistered(typeID) }
        let size = type.description.size
        let raw = try allocateSlot(typeID: typeID, size: size)
        guard let initial else {
            try zeroFresh(raw, size)
            return raw
        }
        raw.copyMemory(from: initial, byteCount: size)
        try logInitialBytes(raw, size)
        return raw
    }

    /// Zeroes a new object in place and logs its bytes (see `logInitialBytes`).
    func zeroFresh(_ raw: UnsafeMutableRawPointer, _ size: Int) throws {
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        try logInitialBytes(raw, size)
    }

    /// Logs a new object's initial bytes, written in place already (so this
    /// transaction reads them), as a store of the redo record.
    ///
    /// The record must carry them: before the commit's one fence, its lines
    /// and the object's may reach the media in any order, so a power failure
    /// can leave the record whole (it validates, recovery replays it) and
    /// the object's lines not. Replaying the stored bytes makes the object
    /// whole whatever reached the media. (Found by the store-reordering check.)
    ///
    /// A new object of a slab or more is written back instead, and the commit
    /// fences once more before it writes the record (no record can then be
    /// durable without the object): a large object would otherwise need a log
    /// as large. Not while observers watch: replicas build objects from records.
    @usableFromInline func logInitialBytes(_ raw: UnsafeMutableRawPointer, _ size: Int) throws {
        if size >= heap.geometry.slabSize && !heap.hasObservers && !heap.hasFenceObservers {
            heap.pool.flush(raw, size)
            fenceBeforeRecord = true
            return
        }
        try appendStore(UnsafeRawPointer(raw), UnsafeRawPointer(raw), size)
    }

    /// Reserves a slot and logs its bitmap bit; returns the slot's address.
    @usableFromInline func allocateSlot(typeID: UInt32, size: Int) throws -> UnsafeMutableRawPointer {
        guard typeID > 0, Int(typeID) < context.cacheCount else { throw Transaction.unregistered(typeID) }
        let cache = context.caches + Int(typeID)
        let (slab, slot) = try heap.takeSlot(typeID: typeID, cache: cache, context: context)
        reserved.append((slab, slot))
        do {
            try appendBits(
                .setBits, word: cache.pointee.bitmap! + slot / 64, mask: UInt64(1) << UInt64(slot % 64))
        } catch {
            reserved.removeLast()
            heap.allocator.release(slab: slab, slot: slot)
            throw error
        }
        return cache.pointee.objects! + slot * cache.pointee.stride
    }

    static func unregistered(_ typeID: UInt32) -> PMemError {
        PMemError(.invalidArgument, operation: "allocate", detail: "type id \(typeID) is not registered")
    }

    /// Frees an object when the transaction commits.
    public func free<T>(_ object: PersistentPointer<T>) throws {
        guard let raw = object.rawAddress else { throw Transaction.nullPointer("free") }
        try freeRaw(raw)
    }

    /// Frees the object at `address` when the transaction commits.
    public func freeRaw(_ address: UnsafeMutableRawPointer) throws {
        let allocator = heap.allocator
        guard let (slab, slot) = allocator.locateSlot(address) else {
            throw PMemError(
                .invalidArgument, operation: "free",
                detail: "\(address) is not the start of an object in this heap")
        }
        let mine = reserved.contains { $0 == (slab, slot) }
        guard mine || allocator.isAllocated(slab: slab, slot: slot) else {
            throw PMemError(
                .invalidArgument, operation: "free", detail: "\(address) is not allocated (double free?)")
        }
        guard !freed.contains(where: { $0 == (slab, slot) }) else {
            throw PMemError(
                .invalidArgument, operation: "free", detail: "\(address) is freed twice in one transaction")
        }
        try appendBits(
            .clearBits, word: allocator.persistentBitmap(slab) + slot / 64,
            mask: UInt64(1) << UInt64(slot % 64))
        freed.append((slab, slot))
    }

    // MARK: Root

    /// Makes `object` the pool's root when the transaction commits (null clears it).
    public func setRoot<T>(_ object: PersistentPointer<T>) throws {
        var line = pmh_root_line()
        if let raw = object.rawAddress {
            guard let (_, _, type) = heap.allocator.locate(raw) else {
                throw PMemError(
                    .invalidArgument, operation: "set root", detail: "\(raw) is not an object in this heap")
            }
            line = pmh_root_line(pointer: UInt64(UInt(bitPattern: raw)), type_id: UInt64(type.id))
        }
        try withUnsafeBytes(of: &line) { bytes in
            try appendStore(
                UnsafeRawPointer(heap.pool.base + HeapFormat.rootLineOffset), bytes.baseAddress!, bytes.count)
        }
    }

    // MARK: Commit

    /// Seals the record, tells the fence observers, streams the record into
    /// the lane and fences once (the commit point), tells the other
    /// observers, then applies the changes in place
    /// with plain stores: their lines are flushed under the lane's next fence.
    func commit() throws {
        guard count > 0 else {
            finish()
            return
        }
        let length = HeapFormat.recordHeaderSize + cursor
        if length > lane.size {
            try commitAcrossLanes()
            finish()
            return
        }
        let pool = heap.pool
        let log = heap.log
        if lane.position + length > lane.size {
            // Everything already in the lane must be covered by the checkpoint before it is overwritten.
            log.advanceCheckpoint(through: lane.lastSeq)
            lane.position = 0
        }
        let record = recordStart
        let destination = lane.start + lane.position
        heap.flushUnflushedObjects(context)
        if fenceBeforeRecord { pool.drain() }
        let seq = log.drawSequence(for: lane)
        RedoRecord.seal(record, seq: seq, length: length, count: count, lane: lane.index, salt: pool.salt)
        // Observers first: their locked instructions then precede every streaming store and flush
        // of the commit (on some CPUs each locked instruction waits for those to drain).
        notifyFenceObservers(seq: seq, record: record, length: length)
        if pool.usesStreamingStores {
            StreamingStore.copy(to: destination, from: record, length)
        } else {
            destination.copyMemory(from: record, byteCount: length)
            pool.flush(destination, length)
        }
        CrashPoints.reach("heap.tx.record-written")
        pool.drain()
        CrashPoints.reach("heap.tx.committed")
        notifyObservers(seq: seq, record: record, length: length)
        applyOwnRecord(record, pool: pool)
        Atomic64.storeRelease(lane.word(.inFlight), 0)
        lane.lastSeq = seq
        lane.position = roundUp(lane.position + length, HeapFormat.line)
        quarantineFreed(seq: seq)
        if !reserved.isEmpty { reserved.removeAll(keepingCapacity: true) }
        finish()
    }

    /// Parks the committed frees until the checkpoint passes `seq`, and
    /// releases those whose time has come (advancing the checkpoint when
    /// many are waiting).
    private func quarantineFreed(seq: UInt64) {
        guard !freed.isEmpty || context.quarantine.count > 0 else { return }
        for (slab, slot) in freed { context.quarantine.add(slab: slab, slot: slot, seq: seq) }
        if context.quarantine.count > Quarantine.limit {
            heap.log.advanceCheckpoint(through: context.quarantine.newest)
        }
        context.quarantine.release(upTo: heap.log.checkpointValue, to: heap.allocator)
    }

    /// Commits a record that outgrew one lane: it is written across whole
    /// lanes (see `RecordParts`), fenced once, then applied and fenced again,
    /// so no helper ever needs to find it later.
    private func commitAcrossLanes() throws {
        let pool = heap.pool
        let log = heap.log
        let length = HeapFormat.recordHeaderSize + cursor
        let perLane = RecordParts.capacity(laneSize: lane.size)
        let parts = (length + perLane - 1) / perLane
        guard parts <= heap.geometry.laneCount else {
            throw PMemError(
                .invalidArgument, operation: "transaction",
                detail: "the transaction's redo records need more than the pool's whole log")
        }
        let lanes = [lane] + log.acquireLanes(parts - 1, besides: lane)
        defer { for other in lanes.dropFirst() { other.release() } }
        heap.flushUnflushedObjects(context)
        if fenceBeforeRecord { pool.drain() }
        log.advanceCheckpoint(through: lanes.map(\.lastSeq).max()!)
        let seq = log.drawSequence(for: lane)
        let record = recordStart
        RedoRecord.seal(record, seq: seq, length: length, count: count, lane: lane.index, salt: pool.salt)
        notifyFenceObservers(seq: seq, record: record, length: length)
        for (index, part) in lanes.enumerated() {
            let start = index * perLane
            let payload = min(perLane, length - start)
            (part.start + RecordParts.headerSize).copyMemory(from: record + start, byteCount: payload)
            RecordParts.writeHeader(
                part.start, seq: seq, index: index, count: parts,
                nextLane: index + 1 < parts ? UInt32(lanes[index + 1].index) : RecordParts.noLane,
                payload: payload,
                recordLength: length, salt: pool.salt)
            pool.flush(part.start, RecordParts.headerSize + payload)
            part.position = part.size
            part.lastSeq = seq
        }
        CrashPoints.reach("heap.tx.multilane-flushed")
        pool.drain()
        CrashPoints.reach("heap.tx.multilane-committed")
        notifyObservers(seq: seq, record: record, length: length)
        RedoLog.apply(record, pool: pool, bounds: log.bounds)
        pool.drain()
        Atomic64.storeRelease(lane.word(.inFlight), 0)
        quarantineFreed(seq: seq)
        if !reserved.isEmpty { reserved.removeAll(keepingCapacity: true) }
    }

    /// Applies the record this transaction just wrote (and checked entry by
    /// entry as it wrote it): the entries' changes as `RedoLog.apply` makes
    /// them, decoded without validation and not flushed; the ranges go on
    /// the lane's dirty list, which the next checkpoint flushes.
    private func applyOwnRecord(_ record: UnsafeRawPointer, pool: PoolMemory) {
        let base = pool.base
        lane.lockDirty()
        defer { lane.unlockDirty() }
        RedoEntryCodec.forEach(from: RedoRecord.entries(of: record), count: count) { entry in
            let changed = entry.apply(to: base)
            lane.noteDirty(changed.target, changed.length)
            CrashPoints.reach("heap.tx.entry-applied")
        }
    }

    private func notifyObservers(seq: UInt64, record: UnsafeRawPointer, length: Int) {
        guard heap.hasObservers else { return }
        let committed = CommittedTransaction(
            sequence: seq, recordBytes: UnsafeRawBufferPointer(start: record, count: length),
            bounds: heap.log.bounds, fenceFollows: false)
        for observer in heap.observers { observer(committed) }
    }

    /// Calls the observers that share the commit's fence (the next `pool.drain()`),
    /// through unretained references: no reference counting on this path.
    private func notifyFenceObservers(seq: UInt64, record: UnsafeRawPointer, length: Int) {
        guard heap.hasFenceObservers else { return }
        let committed = CommittedTransaction(
            sequence: seq, recordBytes: UnsafeRawBufferPointer(start: record, count: length),
            bounds: heap.log.bounds, fenceFollows: heap.pool.usesStreamingStores)
        let observers = heap.fenceObservers
        for index in 0..<observers.count {
            observers[index]._withUnsafeGuaranteedRef { $0.committing(committed) }
        }
    }

    /// Drops everything: reserved slots go back, nothing reaches the pool.
    func abort() {
        for (slab, slot) in reserved { heap.allocator.release(slab: slab, slot: slot) }
        if !reserved.isEmpty { reserved.removeAll(keepingCapacity: true) }
        finish()
    }

    private func finish() {
        fenceBeforeRecord = false
        if !freed.isEmpty { freed.removeAll(keepingCapacity: true) }
        cursor = 0
        count = 0
    }
}
