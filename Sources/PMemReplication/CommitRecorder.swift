import Foundation
import PMemHeap
@_spi(Primitives) import PMemKit

/// The heap observer behind `Replicator`: turns each committed transaction
/// into one `transaction` record (pool writes, then the redo record) and
/// appends it durably, on the committing thread.
///
/// This is the replicated commit's hot path, so it holds no optional or weak
/// reference (a weak reference moves the object's reference count to a side
/// table, and every retain and release then takes the slow path), its state
/// is only touched under its mutex (no dynamic exclusivity checks), and the
/// heap is held unowned: the heap owns this observer.
final class CommitRecorder: FenceObserver, @unchecked Sendable {
    unowned(unsafe) let heap: PersistentHeap
    let writer: LogWriter
    /// Serializes building and appending, so records reach the log in the
    /// order `layout` assumed when it left out what earlier records shipped.
    private let mutex = StoreReleaseLock()
    @exclusivity(unchecked) var layout: ReplicatedLayout
    let builder = PoolWritesPayload.Builder()
    /// Room the calling thread's admitted transaction reserved in the ring.
    let admission = ThreadLocalCounter()
    /// Set (release) once a commit could not be logged; read without the mutex.
    private let failed = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    @exclusivity(unchecked) private var failure: PMemError?

    init(heap: PersistentHeap, writer: LogWriter, layout: ReplicatedLayout) {
        self.heap = heap
        self.writer = writer
        self.layout = layout
        failed.initialize(to: 0)
    }

    deinit {
        mutex.deallocate()
        failed.deallocate()
    }

    /// Runs `body` holding the mutex.
    @inline(__always) func locked<R>(_ body: () throws -> R) rethrows -> R {
        mutex.lock()
        defer { mutex.unlock() }
        return try body()
    }

    /// Whether a committed transaction could not be logged (one atomic load).
    var hasFailed: Bool { Atomic64.loadAcquire(failed) != 0 }

    /// The latched failure, if a committed transaction could not be logged.
    var latchedFailure: PMemError? {
        guard hasFailed else { return nil }
        return locked { failure }
    }

    /// The heap's fence observer: builds the record and appends it. With
    /// `fenceFollows` (the heap fences after its observers, before the
    /// commit returns) the append streams the record without its own fence.
    func committing(_ committed: CommittedTransaction) {
        let reserved = admission.value
        if reserved != 0 { admission.value = 0 }
        mutex.lock()
        defer { mutex.unlock() }
        builder.reset()
        let builder = self.builder
        heap.forEachInPlaceWrite(of: committed, layout: &layout) { builder.add(offset: $0, bytes: $1) }
        do {
            _ = try writer.append(
                kind: .transaction, transaction: committed.sequence, payload: builder.writesBeforeRecord(),
                rest: committed.recordBytes, releasing: reserved, fenced: !committed.fenceFollows)
        } catch {
            if failure == nil {
                let detail = (error as? PMemError)?.detail ?? "\(error)"
                failure = PMemError(
                    (error as? PMemError)?.kind ?? .system, operation: "replication",
                    detail:
                        "transaction \(committed.sequence) committed but could not be logged (\(detail)); "
                        + "replicas lack it until the heap is reopened and a new baseline is written")
                Atomic64.storeRelease(failed, 1)
            }
            writer.release(reserved)
        }
    }
}

/// One integer per thread (the room the thread's admitted transaction reserved).
final class ThreadLocalCounter: @unchecked Sendable {
    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        self.key = key
    }
    deinit { pthread_key_delete(key) }

    var value: Int {
        @inline(__always) get { Int(bitPattern: pthread_getspecific(key)) }
        @inline(__always) set { pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
    }
}
