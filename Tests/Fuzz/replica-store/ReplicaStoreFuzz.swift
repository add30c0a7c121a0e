// fuzz-replica-store: arbitrary bytes as a replica store's files and as a
// batch shipped to it: the `state` file (`ReplicaState.read` through its
// `SlotPair`), the `journal` (`ReplicaJournal.entry`, replayed when the store
// opens), and `ReplicaStore.apply(batch:firstSequence:)` (record checksums,
// sequence continuity, payload bounds, redo records, baselines). Each must
// throw or refuse, never trap; a batch that fails a check writes nothing.
//
// Input: flags u8 | first sequence u64 | state slots (256 bytes) | journal
// header (64 bytes) | journal records (u16 length, bytes) | the batch.
#if DEBUG
    import Foundation
    import FuzzSupport
    @_spi(Primitives) import PMemKit
    @testable import PMemReplication

    enum ReplicaStoreFuzz {
        struct Flags: OptionSet {
            let rawValue: UInt8
            /// The state slots' checksums.
            static let state = Flags(rawValue: 1)
            /// The journal header's checksum.
            static let journal = Flags(rawValue: 2)
            /// The batch's record checksums (under the template log's salt).
            static let batch = Flags(rawValue: 4)
            /// The journal's record checksums.
            static let journalRecords = Flags(rawValue: 8)
            /// The redo records inside transaction records (under the template pool's salt).
            static let redo = Flags(rawValue: 16)
            /// The store holds the template's pool copy as `pool.1`.
            static let pool = Flags(rawValue: 32)
        }

        static let scratch = Scratch("replica-store")
        nonisolated(unsafe) static var template: ReplicatedTemplate?
        static let target = FuzzTarget(name: "replica-store", run: run, seeds: seeds)
        static let stateSlotsBytes = 256
        static let journalHeaderBytes = 64

        static func run(_ data: UnsafeRawBufferPointer) {
            if template == nil { template = try! ReplicatedTemplate(in: scratch) }
            let template = template!
            var reader = ByteReader(data)
            let flags = Flags(rawValue: reader.integer(UInt8.self) ?? 0)
            let first = reader.integer(UInt64.self) ?? 1
            var state = reader.fixed(stateSlotsBytes)
            var journal = reader.fixed(journalHeaderBytes)
            var journalRecords = reader.bytes(upTo: Int(reader.integer(UInt16.self) ?? 0))
            var batch = reader.rest()
            let redoSalt = flags.contains(.redo) ? template.poolSalt : nil
            if flags.contains(.state) { state.withUnsafeMutableBytes { Reseal.replicaState($0) } }
            if flags.contains(.journal) { journal.withUnsafeMutableBytes { Reseal.journalHeader($0) } }
            if flags.contains(.journalRecords) {
                journalRecords.withUnsafeMutableBytes {
                    Reseal.logRecords($0, salt: template.logSalt, poolSalt: redoSalt)
                }
            }
            if flags.contains(.batch) {
                batch.withUnsafeMutableBytes {
                    Reseal.logRecords($0, salt: template.logSalt, poolSalt: redoSalt)
                }
            }
            scratch.remove("store")
            mkdir(scratch.file("store"), 0o755)
            scratch.write(state, to: "store/state", size: ReplicaState.fileSize)
            scratch.withNewFile("store/journal", size: ReplicaJournal.dataOffset + (256 << 10)) { file in
                journal.withUnsafeBytes { _ = memcpy(file.baseAddress!, $0.baseAddress!, $0.count) }
                journalRecords.withUnsafeBytes {
                    if $0.count > 0 {
                        memcpy(file.baseAddress! + ReplicaJournal.dataOffset, $0.baseAddress!, $0.count)
                    }
                }
            }
            if flags.contains(.pool) { scratch.write(template.storePool, to: "store/pool.1") }
            exercise(scratch.file("store"), batch: batch, first: first, log: template.logUUID)
        }

        static func exercise(_ directory: String, batch: [UInt8], first: UInt64, log: UUID) {
            _ = FuzzDriver.attempt("read state") { try ReplicaStore.readState(directory: directory) }
            guard
                let store = FuzzDriver.attempt(
                    "open store", { try ReplicaStore(directory: directory, maxBatchBytes: 256 << 10) })
            else { return }
            FuzzDriver.note("opened at sequence \(store.state.appliedSequence)")
            _ = FuzzDriver.attempt("follow") { try store.follow(log: log) }
            let applied = FuzzDriver.attempt("apply") {
                try batch.withUnsafeBytes { try store.apply(batch: $0, firstSequence: first) }
            }
            FuzzDriver.note("applied \(applied ?? 0) records, at sequence \(store.state.appliedSequence)")
        }

        /// Inputs for a real store: a new one taking the baseline batch; one
        /// holding the baseline taking the transactions; one reopened with the
        /// transactions journaled but not applied.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            let template = try ReplicatedTemplate(in: scratch)
            let all: Flags = [.state, .journal, .batch, .journalRecords, .redo, .pool]
            func input(
                _ flags: Flags, first: UInt64, state: [UInt8], journal: [UInt8] = [],
                journalRecords: [UInt8] = [],
                batch: [UInt8]
            ) -> [UInt8] {
                var out: [UInt8] = [flags.rawValue]
                out.append(le: first)
                out +=
                    state.prefix(stateSlotsBytes)
                    + repeatElement(0, count: max(0, stateSlotsBytes - state.count))
                out +=
                    journal.prefix(journalHeaderBytes)
                    + repeatElement(0, count: journalHeaderBytes - min(journal.count, journalHeaderBytes))
                out.append(piece: journalRecords)
                return out + batch
            }
            let baseline = template.batches[0]
            let rest = template.batches.dropFirst().flatMap(\.bytes)
            let restFirst = template.batches[1].first
            var seeds: [(String, [UInt8])] = [
                (
                    "new-store-baseline",
                    input(all.subtracting(.pool), first: baseline.first, state: [], batch: baseline.bytes)
                ),
                (
                    "baseline-applied-transactions",
                    input(all, first: restFirst, state: template.storeState, batch: rest)
                ),
                (
                    "baseline-applied-transactions-unsealed",
                    input(.pool, first: restFirst, state: template.storeState, batch: rest)
                ),
            ]
            // The journal of a store that crashed after journaling the transactions.
            var header = [UInt8]()
            header.append(le: restFirst)
            header.append(le: template.lastSequence)
            header.append(le: UInt64(rest.count))
            header.append(le: template.lastSequence - restFirst + 1)
            header += [UInt8](repeating: 0, count: 32)
            seeds.append(
                (
                    "journaled-transactions",
                    input(
                        all, first: restFirst, state: template.storeState, journal: header,
                        journalRecords: rest, batch: [])
                ))
            return seeds
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(ReplicaStoreFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
