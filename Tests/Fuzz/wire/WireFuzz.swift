// fuzz-wire: arbitrary bytes on a replication connection, through the real
// handlers in SwiftNIO's EmbeddedChannel: the replica's pipeline
// (`ReplicaServer.configure`: FrameDecoder, FrameEncoder, FrameAuthenticator,
// MessageCodec, ReplicaSessionHandler over a ReplicaStore) and the agent's
// (its handshake side). Each must refuse and close, never trap.
//
// Input: a mode byte, then pieces (`length u16 | bytes`). Modes (low 2 bits):
// 0: raw bytes to a replica (handshake, framing limits, the handshake timeout);
// 1: raw bytes to the agent's side (the challenge it answers);
// 2: frame bodies a client holding the key sends after a real handshake, each
//    tagged by the client's authenticator: the session (`start`, `records`
//    applied to a new store, `ping`...); with bit 2 set, `records` frames get
//    their records' checksums resealed under the log the last `start` named;
// 3: each piece decoded as a frame by `MessageCodec`; what decodes must encode
//    and decode to the same message.
#if DEBUG
    import Foundation
    import FuzzSupport
    import Logging
    import NIOCore
    import NIOEmbedded
    @testable import PMemReplication

    enum WireFuzz {
        static let scratch = Scratch("wire")
        static let target = FuzzTarget(name: "wire", run: run, seeds: seeds)
        static let logger = Logger(label: "fuzz-wire", factory: { _ in SwiftLogNoOpLogHandler() })
        static let psk = try! PreSharedKey(bytes: Array(repeating: 7, count: 32))
        static let address = try! SocketAddress(ipAddress: "127.0.0.1", port: 7070)
        nonisolated(unsafe) static var template: ReplicatedTemplate?

        static func run(_ data: UnsafeRawBufferPointer) {
            var reader = ByteReader(data)
            let mode = reader.integer(UInt8.self) ?? 0
            let pieces = reader.pieces()
            switch mode & 3 {
            case 0: rawToReplica(pieces)
            case 1: rawToAgent(pieces)
            case 2: session(pieces, reseal: mode & 4 != 0)
            default: messages(pieces)
            }
        }

        /// A new store in the scratch directory.
        static func freshStore() -> ReplicaStore {
            scratch.remove("store")
            return try! ReplicaStore(directory: scratch.file("store"), maxBatchBytes: 256 << 10)
        }

        /// A replica's channel, connected (it has sent its challenge).
        static func replicaChannel(store: ReplicaStore) -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try! ReplicaServer.configure(
                channel.pipeline.syncOperations, store: store, psk: psk, logger: logger,
                maxFrame: store.maxBatchBytes + 4096,
                pending: PendingHandshakes(limit: WireFormat.maxPendingHandshakes))
            _ = try? channel.connect(to: address).wait()
            return channel
        }

        /// The agent's side of the handshake, with frames after it left in the channel.
        static func agentChannel() -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            let sync = channel.pipeline.syncOperations
            let limit = FrameLimit(authenticated: WireFormat.defaultMaxFrame)
            try! sync.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
            try! sync.addHandler(FrameEncoder())
            try! sync.addHandler(FrameAuthenticator(role: .client, psk: psk, logger: logger, limit: limit))
            _ = try? channel.connect(to: address).wait()
            return channel
        }

        static func feed(_ channel: EmbeddedChannel, _ pieces: [[UInt8]]) {
            for piece in pieces where channel.isActive {
                _ = try? channel.writeInbound(channel.allocator.buffer(bytes: piece))
                while (try? channel.readOutbound(as: ByteBuffer.self)) ?? nil != nil {}
            }
        }

        static func rawToReplica(_ pieces: [[UInt8]]) {
            let store = sharedStore
            let channel = replicaChannel(store: store)
            feed(channel, pieces)
            // The handshake timeout, then whatever the pipeline still holds.
            channel.embeddedEventLoop.advanceTime(by: .seconds(6))
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }

        /// The store behind raw replica connections (never reached: they cannot authenticate).
        nonisolated(unsafe) static var sharedStoreValue: ReplicaStore?
        static var sharedStore: ReplicaStore {
            if sharedStoreValue == nil {
                scratch.remove("shared-store")
                sharedStoreValue = try! ReplicaStore(
                    directory: scratch.file("shared-store"), maxBatchBytes: 64 << 10)
            }
            return sharedStoreValue!
        }

        static func rawToAgent(_ pieces: [[UInt8]]) {
            let channel = agentChannel()
            feed(channel, pieces)
            channel.embeddedEventLoop.advanceTime(by: .seconds(6))
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }

        /// Moves every byte each channel wrote into the other, until quiet; returns what moved, by direction.
        @discardableResult
        static func exchange(_ a: EmbeddedChannel, _ b: EmbeddedChannel) -> (aToB: [UInt8], bToA: [UInt8]) {
            var moved = true
            var out: ([UInt8], [UInt8]) = ([], [])
            while moved {
                moved = false
                for (from, to, forward) in [(a, b, true), (b, a, false)] {
                    while let bytes = (try? from.readOutbound(as: ByteBuffer.self)) ?? nil {
                        if forward {
                            out.0 += Array(bytes.readableBytesView)
                        } else {
                            out.1 += Array(bytes.readableBytesView)
                        }
                        guard to.isActive else { continue }
                        _ = try? to.writeInbound(bytes)
                        moved = true
                    }
                }
            }
            return out
        }

        static func session(_ pieces: [[UInt8]], reseal: Bool) {
            if reseal, template == nil { template = try! ReplicatedTemplate(in: scratch) }
            let store = freshStore()
            let replica = replicaChannel(store: store)
            let client = agentChannel()
            exchange(replica, client)
            defer { FuzzDriver.note("session left the store at sequence \(store.state.appliedSequence)") }
            var logSalt = template?.logSalt
            for var piece in pieces where replica.isActive && client.isActive {
                if reseal, let template {
                    if piece.count >= 17, piece[0] == WireFormat.FrameType.start.rawValue {
                        logSalt = piece.withUnsafeBytes {
                            LogFormat.salt(of: UUID(bytesAt: $0.baseAddress! + 1))
                        }
                    }
                    if piece.count > ReplicationMessage.recordsHeaderSize,
                        piece[0] == WireFormat.FrameType.records.rawValue,
                        let salt = logSalt
                    {
                        piece.withUnsafeMutableBytes {
                            Reseal.logRecords(
                                UnsafeMutableRawBufferPointer(
                                    rebasing: $0[ReplicationMessage.recordsHeaderSize...]),
                                salt: salt, poolSalt: template.poolSalt)
                        }
                    }
                }
                _ = try? client.writeAndFlush(client.allocator.buffer(bytes: piece)).wait()
                exchange(client, replica)
            }
            _ = try? replica.finish(acceptAlreadyClosed: true)
            _ = try? client.finish(acceptAlreadyClosed: true)
        }

        static func messages(_ pieces: [[UInt8]]) {
            let allocator = ByteBufferAllocator()
            for piece in pieces {
                var frame = allocator.buffer(bytes: piece)
                guard let message = try? MessageCodec.decode(&frame) else { continue }
                var encoded = MessageCodec.encode(message, allocator: allocator)
                let again = try? MessageCodec.decode(&encoded)
                if case .reject(let text) = message, text.utf8.count > 4096 { continue }
                precondition(
                    again == message, "\(message) does not survive encoding: \(String(describing: again))")
            }
        }

        // MARK: Seeds

        /// Real traffic: the handshake bytes each side sends; a session after
        /// it (start, the template log's batches as records frames, ping); each
        /// message type encoded.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            let template = try ReplicatedTemplate(in: scratch)
            let allocator = ByteBufferAllocator()
            func frame(_ message: ReplicationMessage) -> [UInt8] {
                Array(MessageCodec.encode(message, allocator: allocator).readableBytesView)
            }
            func input(_ mode: UInt8, _ pieces: [[UInt8]]) -> [UInt8] {
                var out = [mode]
                for piece in pieces { out.append(piece: piece) }
                return out
            }
            let replica = replicaChannel(store: freshStore())
            let client = agentChannel()
            let handshake = exchange(replica, client)
            let records = template.batches.map { batch -> [UInt8] in
                var count = 0
                var offset = 0
                while offset < batch.bytes.count {
                    let length = batch.bytes.withUnsafeBytes {
                        Int($0.loadUnaligned(fromByteOffset: offset + 32, as: UInt32.self))
                    }
                    offset += LogFormat.footprint(payload: length)
                    count += 1
                }
                return frame(
                    .records(
                        firstSequence: batch.first, count: count, epoch: 0,
                        bytes: allocator.buffer(bytes: batch.bytes))
                )
            }
            let start = frame(.start(logUUID: template.logUUID, nextSequence: 1, epoch: 0))
            let position = ReplicaPosition(
                logUUID: template.logUUID, appliedSequence: 9, appliedRecords: 9, poolUUID: UUID())
            return [
                ("replica-hears-handshake", input(0, [handshake.bToA])),
                ("agent-hears-handshake", input(1, [handshake.aToB])),
                ("session", input(2, [start] + records + [frame(.ping)])),
                ("session-resealed", input(6, [start] + records + [frame(.ping), frame(.reject("done"))])),
                (
                    "messages",
                    input(
                        3,
                        [
                            start, frame(.resume(position)),
                            frame(.ack(appliedSequence: 3, appliedRecords: 3)),
                            frame(.reject("bye")), frame(.ping), records[0],
                        ])
                ),
            ]
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(WireFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
