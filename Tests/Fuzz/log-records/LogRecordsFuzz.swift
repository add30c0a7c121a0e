// fuzz-log-records: arbitrary bytes as a replication log file (superblock
// and ring), through everything that reads one: `LogRegion.open`, the
// attach and reclaim slots, `LogScanner` (record validation: checksum,
// position, sequence, wrap markers) with each record's payload parsed,
// the agent's `RecordIndex` (runs, baselines, reclaim), and a `LogWriter`
// opened at the end of what is written (its first append included). Each
// must throw or stop, never trap or hang.
//
// Input: a flags byte, then the file's first bytes (the rest is zeros).
#if DEBUG
    internal import CPMemReplication
    import Foundation
    import FuzzSupport
    @_spi(Primitives) import PMemKit
    @testable import PMemReplication

    enum LogRecordsFuzz {
        struct Flags: OptionSet {
            let rawValue: UInt8
            /// The identity block's checksum.
            static let identity = Flags(rawValue: 1)
            /// The attach and reclaim slots' checksums.
            static let slots = Flags(rawValue: 2)
            /// Each record from the reclaim point on: its checksum (and a transaction's redo record's).
            static let records = Flags(rawValue: 4)
            /// Each record's position field: where it lies.
            static let positions = Flags(rawValue: 8)
            /// Sequence numbers, counting up from the reclaim point's.
            static let sequences = Flags(rawValue: 16)
            /// The file is as long as the ring the identity describes (at most `maxRing`).
            static let pad = Flags(rawValue: 32)
        }

        /// The largest ring an input makes.
        static let maxRing = 1 << 20
        static let scratch = Scratch("log-records")
        static let target = FuzzTarget(name: "log-records", run: run, seeds: seeds)

        static func run(_ data: UnsafeRawBufferPointer) {
            var reader = ByteReader(data)
            let flags = Flags(rawValue: reader.integer(UInt8.self) ?? 0)
            let file = reader.rest()
            var size = file.count
            if flags.contains(.pad), file.count >= LogFormat.superblockSize {
                let capacity = file.withUnsafeBytes {
                    $0.loadUnaligned(fromByteOffset: LogFormat.identityOffset, as: pmr_log_identity.self)
                        .capacity
                }
                if capacity <= UInt64(maxRing) { size = max(size, LogFormat.superblockSize + Int(capacity)) }
            }
            let path = scratch.withNewFile("log", size: size) { mapped in
                file.withUnsafeBytes {
                    if $0.count > 0 { memcpy(mapped.baseAddress!, $0.baseAddress!, $0.count) }
                }
                reseal(mapped, flags)
            }
            exercise(path)
        }

        static func exercise(_ path: String) {
            guard let region = FuzzDriver.attempt("open log", { try LogRegion.open(path: path) }) else {
                return
            }
            _ = region.attachment()
            var scanner = LogScanner(region: region, from: region.reclaimPoint())
            var found = 0
            while found < 100_000, let record = scanner.next() {
                parsePayload(record.header, at: record.bytes)
                found += 1
            }
            var index = RecordIndex(region: region)
            index.refresh()
            _ = (
                index.count, index.lastSequence, index.endPosition, index.lastTransaction,
                index.firstBaseline()
            )
            var next = index.firstSequence
            var runs = 0
            while runs < 100_000, let run = index.run(from: next, maxBytes: 64 << 10) {
                _ = index.position(after: next)
                next += UInt64(run.count)
                runs += 1
            }
            FuzzDriver.note("scanned \(found) records, indexed \(index.count) in \(runs) runs")
            index.drop(through: index.firstSequence)
            let writer = LogWriter(region: region, policy: .fail)
            _ = (writer.usedBytes, writer.nextSequence, writer.maxPayload)
            _ = FuzzDriver.attempt("append") {
                try writer.append(
                    kind: .baselineEnd, transaction: 0, payload: UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }

        /// Parses a record's payload as the replica would (`PoolWritesPayload`, `BaselineBeginPayload`).
        static func parsePayload(_ header: LogRecordHeader, at record: UnsafeRawPointer) {
            let payload = UnsafeRawBufferPointer(
                start: record + LogFormat.headerSize, count: header.payloadLength)
            switch header.kind {
            case .transaction, .baselineWrites:
                _ = try? PoolWritesPayload.parse(payload, poolSize: 1 << 30)
            case .baselineBegin:
                _ = BaselineBeginPayload(payload)
            case .baselineEnd, .wrap:
                break
            }
        }

        static func reseal(_ file: UnsafeMutableRawBufferPointer, _ flags: Flags) {
            Reseal.logSuperblock(file, identity: flags.contains(.identity), slots: flags.contains(.slots))
            guard flags.contains(.records), let salt = Reseal.logSalt(UnsafeRawBufferPointer(file)) else {
                return
            }
            // Records are resealed in a whole ring only (the file padded to its capacity).
            let base = file.baseAddress!
            let capacity = base.loadUnaligned(
                fromByteOffset: LogFormat.identityOffset, as: pmr_log_identity.self
            ).capacity
            guard capacity > 0, capacity <= UInt64(maxRing),
                file.count == LogFormat.superblockSize + Int(capacity)
            else { return }
            // Records from the current reclaim point (the slot with the higher generation that validates).
            let slots = [0, 1].map {
                (base + LogFormat.reclaimSlotsOffset + $0 * 64).loadUnaligned(as: pmr_reclaim_slot.self)
            }
            let point = slots.max { $0.generation < $1.generation }!
            let position = slots.allSatisfy({ $0.generation == 0 }) ? 0 : point.head_position
            let sequence = slots.allSatisfy({ $0.generation == 0 }) ? 1 : point.head_sequence
            let offset = Int(position % capacity)
            let ring = UnsafeMutableRawBufferPointer(
                start: base + LogFormat.superblockSize, count: Int(capacity))
            Reseal.logRecords(
                ring, from: offset, salt: salt,
                ringLap: flags.contains(.positions) ? position - UInt64(offset) : nil,
                firstSequence: flags.contains(.sequences) ? sequence : nil)
        }

        // MARK: Seeds

        /// Real logs: a replicated list's (a baseline, then transactions), and a
        /// log whose writer wrapped round its ring while the reclaim point followed.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            let template = try ReplicatedTemplate(in: scratch)
            let all: Flags = [.identity, .slots, .records, .positions, .sequences, .pad]
            var seeds: [(String, [UInt8])] = [
                ("replicated-list", [all.rawValue] + template.logBytes),
                ("replicated-list-unsealed", [Flags.pad.rawValue] + template.logBytes),
            ]
            scratch.remove("wrapped")
            let region = try LogRegion.create(path: scratch.file("wrapped"), capacity: 64 << 10)
            let writer = LogWriter(region: region, policy: .fail)
            var payload = [UInt8](repeating: 0, count: 3000)
            for n in 0..<60 {
                payload[0] = UInt8(n)
                _ = try payload.withUnsafeBytes {
                    try writer.append(kind: .baselineWrites, transaction: UInt64(n), payload: $0)
                }
                var index = RecordIndex(region: region)
                index.refresh()
                // The agent's part: reclaim all but the last few records.
                if writer.usedBytes > 32 << 10, let kept = index.entry(index.lastSequence - 5) {
                    region.storeReclaimPoint(.init(position: kept.position, sequence: index.lastSequence - 5))
                }
            }
            let bytes = Array(UnsafeRawBufferPointer(start: region.mapping.base, count: region.mapping.size))
            seeds.append(("wrapped-ring", [all.rawValue] + bytes))
            scratch.remove("wrapped")
            return seeds
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(LogRecordsFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
