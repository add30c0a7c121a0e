// fuzz-heap-pool: arbitrary bytes as a heap pool file, through everything
// that reads one: `heap info`, `heap stats`, `heap check` (HeapChecker, with
// recovery replayed in a private view) and `PersistentHeap.open` (recovery,
// relocation), then `heap check` again. Each must throw or report, never trap.
//
// Input: a flags byte, then chunks `offset u32 | length u16 | bytes` laid on
// a zero file (so a seed of a 512 KiB pool is its few KB that are not zero).
// The flags reseal what a mutation cannot guess (checksums) before the file
// is written, so that mutated fields reach the checks behind their checksums.
#if DEBUG
    internal import CPMemHeap
    import Foundation
    import FuzzSupport
    @_spi(Primitives) import PMemKit
    @testable import PMemHeap

    enum HeapPoolFuzz {
        /// What to reseal (`HeapReseal.Parts`, the low six bits), and:
        struct Flags: OptionSet {
            let rawValue: UInt8
            /// The file is as long as the pool its identity describes (at most `maxPool`).
            static let pad = Flags(rawValue: 64)
            /// Open at a base other than the recorded one (relocation).
            static let relocate = Flags(rawValue: 128)
        }

        /// The largest file an input makes.
        static let maxPool = 2 << 20
        static let scratch = Scratch("heap-pool")

        static let target = FuzzTarget(name: "heap-pool", run: run, seeds: seeds)

        static func run(_ data: UnsafeRawBufferPointer) {
            var reader = ByteReader(data)
            let flags = Flags(rawValue: reader.integer(UInt8.self) ?? 0)
            let (chunks, end) = SparseImage.chunks(from: &reader, limit: maxPool)
            var size = flags.contains(.pad) ? max(end, HeapFormat.headerSize) : end
            let path = scratch.withNewFile("pool", size: size) { image in
                SparseImage.lay(chunks, on: image)
                HeapReseal.reseal(image, HeapReseal.Parts(rawValue: flags.rawValue & 63))
                if flags.contains(.pad), image.count >= HeapFormat.headerSize {
                    let declared = image.loadUnaligned(as: pmh_pool_identity.self).geometry.pool_size
                    if declared > UInt64(size), declared <= UInt64(maxPool) { size = Int(declared) }
                }
            }
            scratch.truncate("pool", to: size)
            exercise(path, relocate: flags.contains(.relocate))
        }

        /// Every reader of a pool file, then open (recovery, relocation) and close.
        static func exercise(_ path: String, relocate: Bool) {
            _ = FuzzDriver.attempt("info") { try HeapInfo.read(path: path) }
            _ = FuzzDriver.attempt("stats") { try HeapStats.read(path: path) }
            let report = FuzzDriver.attempt("check") { try HeapChecker.check(path: path) }
            FuzzDriver.note(
                "\(report.map { "\($0.objects) objects, \($0.pendingTransactions) pending, \($0.problemCount) problems" } ?? "")"
            )
            let options = HeapOpenOptions(
                placement: relocate ? .differentFromRecorded : .recorded, relocationThreads: 1, guarded: false
            )
            guard
                let heap = FuzzDriver.attempt(
                    "open", { try PersistentHeap.open(path: path, options: options) })
            else {
                return
            }
            FuzzDriver.note("opened: \(heap.openReport)")
            _ = heap.types
            _ = heap.rootLine()
            try? heap.close()
            let after = FuzzDriver.attempt("check after open") { try HeapChecker.check(path: path) }
            FuzzDriver.note("\(after.map { "\($0.objects) objects, \($0.problemCount) problems" } ?? "")")
        }

        // MARK: Seeds

        /// Real pools, as chunks: new; a list closed cleanly; the same list open
        /// (committed records not yet checkpointed); a transaction too large for
        /// one lane (a multi-lane record); each with every reseal and the file padded.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            let all = Flags(rawValue: HeapReseal.Parts.all.rawValue).union(.pad)
            var seeds: [(String, [UInt8])] = []
            func add(_ name: String, _ flags: Flags, file: String) {
                seeds.append((name, [flags.rawValue] + SparseImage.chunks(of: scratch.read(file))))
            }
            scratch.remove("seed")
            try TemplatePool.create(at: scratch.file("seed")).close()
            add("new-pool", all, file: "seed")
            scratch.remove("seed")
            try TemplatePool.makeList(at: scratch.file("seed"), items: 40).close()
            add("list-closed", all, file: "seed")
            add("list-closed-relocated", all.union(.relocate), file: "seed")
            add("list-closed-unsealed", .pad, file: "seed")
            scratch.remove("seed")
            let open = try TemplatePool.makeList(at: scratch.file("seed"), items: 12)
            add("list-open-pending", all, file: "seed")
            try open.close()
            scratch.remove("seed")
            let large = try TemplatePool.makeList(at: scratch.file("seed"), items: 150, perTransaction: 50)
            try TemplatePool.touchAll(large)
            add("multi-lane-record", all, file: "seed")
            try large.close()
            scratch.remove("seed")
            return seeds
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(HeapPoolFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
