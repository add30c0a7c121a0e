/// Sees each committed transaction before the commit's fence, on the
/// committing thread (`PersistentHeap.addFenceObserver(_:)`).
///
/// The heap calls it through an unretained reference: no reference counting
/// (a locked instruction, which would wait for the commit's pending
/// streaming stores) runs between the observer's stores and the fence.
public protocol FenceObserver: AnyObject {
    /// Called once the record is sealed, before the heap streams it into its
    /// lane and fences. The transaction cannot fail any more; a crash before
    /// the fence may leave it uncommitted although the observer saw it.
    /// `committed.fenceFollows` says whether the observer's non-temporal
    /// stores and flushes may be left to that fence.
    func committing(_ committed: CommittedTransaction)
}

/// What the heap calls on commit: a box around one fence observer, held in
/// an `Unmanaged` and called through `_withUnsafeGuaranteedRef`, which (unlike
/// an `unowned(unsafe)` existential) compiles to a call with no retain or release.
class FenceObserverBox {
    func committing(_ committed: CommittedTransaction) {}
}

/// The box of an observer of type `Observer`.
final class TypedFenceObserverBox<Observer: FenceObserver>: FenceObserverBox {
    let observer: Observer
    init(_ observer: Observer) { self.observer = observer }
    override func committing(_ committed: CommittedTransaction) { observer.committing(committed) }
}
