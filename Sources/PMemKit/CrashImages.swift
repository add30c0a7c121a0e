/// The images of the traced range a crash may leave, built from a
/// `PersistenceTrace` (pmreorder's idea, at cache-line granularity): before
/// each fence, what earlier fences made durable plus any subset of the
/// lines written or flushed since, each of which may or may not have
/// reached memory. Shared by the store-reordering checks of the heap and of
/// the replication log (tests only).
///
/// Per fence it offers: none of the pending lines, all of them, the flushed
/// ones alone (what a fence-ordered machine makes durable next), and
/// `randomSubsets` random subsets. What it does not model: a line torn
/// inside (PMem persists 8-byte words, this model whole lines), and a line
/// persisting an older value it held between two fences (it offers the
/// durable value or the newest).
package struct CrashImages {
    /// One image to check.
    package struct Image {
        /// The traced range's bytes after the crash.
        package let bytes: [UInt8]
        /// The last mark recorded before the crash (0 when none).
        package let lastMark: UInt64
        /// Fences replayed before this one.
        package let fence: Int
        /// Offsets of the pending lines this image took, and how many were pending.
        package let taken: [Int]
        package let pending: Int

        /// The lines taken, for a report.
        package var description: String {
            let hex = taken.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
            return "fence \(fence) (mark \(lastMark)), lines [\(hex)] of \(pending)"
        }
    }

    /// Random subsets tried per fence, besides none, all and the flushed lines.
    package let randomSubsets: Int
    /// Fences replayed.
    package private(set) var fences = 0
    /// Images offered.
    package private(set) var imagesTried = 0

    package init(randomSubsets: Int) { self.randomSubsets = randomSubsets }

    /// Replays `events` over `initial` (the range when the trace began),
    /// offering each image to `check`; stops early when `check` returns false.
    package mutating func replay(
        _ events: [PersistenceTrace.Event], initial: [UInt8], random: inout some RandomNumberGenerator,
        check: (Image) throws -> Bool
    ) rethrows {
        var durable = initial
        var flushedSinceFence: [Int: [UInt8]] = [:]
        var written: [Int: [UInt8]] = [:]
        var lastMark: UInt64 = 0
        func isDurable(_ offset: Int, _ bytes: [UInt8]) -> Bool {
            durable[offset..<offset + 64].elementsEqual(bytes)
        }
        for event in events {
            switch event {
            case .mark(let value):
                lastMark = value
            case .flushed(let offset, let bytes):
                flushedSinceFence[offset] = bytes
                written[offset] = bytes
            case .written(let offset, let bytes):
                written[offset] = bytes
            case .fence:
                fences += 1
                // The crash comes before this fence takes effect.
                let pending = written.filter { !isDurable($0.key, $0.value) }
                let lines = pending.keys.sorted()
                var subsets: [[Int]] = [[], lines]
                for _ in 0..<randomSubsets where lines.count > 1 {
                    subsets.append(lines.filter { _ in random.next() % 2 == 0 })
                }
                subsets.append(flushedSinceFence.keys.sorted())
                for subset in subsets {
                    var image = durable
                    for offset in subset {
                        let bytes = flushedSinceFence[offset] ?? pending[offset]!
                        image.replaceSubrange(offset..<offset + 64, with: bytes)
                    }
                    imagesTried += 1
                    let go = try check(
                        Image(
                            bytes: image, lastMark: lastMark, fence: fences, taken: subset,
                            pending: lines.count))
                    if !go { return }
                }
                for (offset, bytes) in flushedSinceFence {
                    durable.replaceSubrange(offset..<offset + 64, with: bytes)
                }
                flushedSinceFence.removeAll()
                written = written.filter { !isDurable($0.key, $0.value) }
            }
        }
    }
}
