import Foundation
import NIOCore

/// What a replica reports when a session starts: where it stands.
public struct ReplicaPosition: Sendable, Equatable {
    /// The log the replica follows (nil: a new store).
    public var logUUID: UUID?
    /// The last log sequence number it applied durably (0: none).
    public var appliedSequence: UInt64
    /// Records it applied since it was created.
    public var appliedRecords: UInt64
    /// The pool its copy is of (nil: none yet).
    public var poolUUID: UUID?
    /// The highest primary epoch it has seen (0: none).
    public var epoch: UInt64

    /// A position; `epoch` 0 for a replica that never followed a coordinated primary.
    public init(
        logUUID: UUID?, appliedSequence: UInt64, appliedRecords: UInt64, poolUUID: UUID?, epoch: UInt64 = 0
    ) {
        self.logUUID = logUUID
        self.appliedSequence = appliedSequence
        self.appliedRecords = appliedRecords
        self.poolUUID = poolUUID
        self.epoch = epoch
    }
}

/// The messages of a replication session (after the handshake), one per frame.
public enum ReplicationMessage: Sendable, Equatable {
    /// Replica to primary, first: where the replica stands.
    case resume(ReplicaPosition)
    /// Primary to replica: the log to follow, the sequence number of the next
    /// record sent, and the primary's epoch (its etcd leader key's revision;
    /// 0 without coordination).
    case start(logUUID: UUID, nextSequence: UInt64, epoch: UInt64)
    /// Primary to replica: consecutive whole records, verbatim from the log,
    /// stamped with the epoch of the primary that shipped them.
    case records(firstSequence: UInt64, count: Int, epoch: UInt64, bytes: ByteBuffer)
    /// Replica to primary: every record up to `appliedSequence` is durably applied.
    case ack(appliedSequence: UInt64, appliedRecords: UInt64)
    /// Either side: the session ends, for this reason.
    case reject(String)
    /// Primary to replica: answer with an `ack` (liveness).
    case ping

    /// Bytes of a `records` frame before the records: type, first sequence, count, padding, epoch.
    static let recordsHeaderSize = 1 + 8 + 4 + 3 + 8

    /// Writes a `records` frame header at `index` of `buffer`.
    static func setRecordsHeader(
        _ buffer: inout ByteBuffer, at index: Int, first: UInt64, count: Int, epoch: UInt64
    ) {
        buffer.setInteger(WireFormat.FrameType.records.rawValue, at: index)
        buffer.setInteger(first, at: index + 1, endianness: .little)
        buffer.setInteger(UInt32(count), at: index + 9, endianness: .little)
        buffer.setBytes([0, 0, 0], at: index + 13)
        buffer.setInteger(epoch, at: index + 16, endianness: .little)
    }

    /// Whether `buffer` holds that header at `index`, in its readable bytes
    /// (read only: no copy of a shared buffer).
    static func hasRecordsHeader(
        _ buffer: ByteBuffer, at index: Int, first: UInt64, count: Int, epoch: UInt64
    ) -> Bool {
        buffer.getInteger(at: index, as: UInt8.self) == WireFormat.FrameType.records.rawValue
            && buffer.getInteger(at: index + 1, endianness: .little, as: UInt64.self) == first
            && buffer.getInteger(at: index + 9, endianness: .little, as: UInt32.self) == UInt32(count)
            && buffer.getInteger(at: index + 13, as: UInt16.self) == 0
            && buffer.getInteger(at: index + 15, as: UInt8.self) == 0
            && buffer.getInteger(at: index + 16, endianness: .little, as: UInt64.self) == epoch
    }
}

/// Turns authenticated frames into `ReplicationMessage`s and back. A frame
/// that does not parse is an error (the connection is closed).
///
/// A `records` message whose buffer has `recordsHeaderSize` bytes of headroom
/// before its reader index is framed in place, without copying the records;
/// when the sender already wrote the header there (`setRecordsHeader`, while
/// the buffer was its own) nothing is written at all, so a buffer still
/// shared with the sender is not copied either.
final class MessageCodec: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ReplicationMessage
    typealias OutboundIn = ReplicationMessage
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        do {
            context.fireChannelRead(wrapInboundOut(try Self.decode(&frame)))
        } catch {
            context.fireErrorCaught(error)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = Self.encode(unwrapOutboundIn(data), allocator: context.channel.allocator)
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    /// Parses one frame.
    static func decode(_ frame: inout ByteBuffer) throws -> ReplicationMessage {
        func malformed(_ what: String) -> ProtocolError { ProtocolError("malformed \(what) frame") }
        guard let raw = frame.readInteger(as: UInt8.self), let type = WireFormat.FrameType(rawValue: raw)
        else {
            throw ProtocolError("unknown frame type")
        }
        switch type {
        case .resume:
            guard let log = frame.readUUID(),
                let applied = frame.readInteger(endianness: .little, as: UInt64.self),
                let records = frame.readInteger(endianness: .little, as: UInt64.self),
                let pool = frame.readUUID(),
                let epoch = frame.readInteger(endianness: .little, as: UInt64.self),
                frame.readableBytes == 0
            else { throw malformed("resume") }
            return .resume(
                ReplicaPosition(
                    logUUID: log == .zero ? nil : log, appliedSequence: applied, appliedRecords: records,
                    poolUUID: pool == .zero ? nil : pool, epoch: epoch))
        case .start:
            guard let log = frame.readUUID(),
                let next = frame.readInteger(endianness: .little, as: UInt64.self),
                let epoch = frame.readInteger(endianness: .little, as: UInt64.self),
                frame.readableBytes == 0
            else { throw malformed("start") }
            return .start(logUUID: log, nextSequence: next, epoch: epoch)
        case .records:
            guard let first = frame.readInteger(endianness: .little, as: UInt64.self),
                let count = frame.readInteger(endianness: .little, as: UInt32.self),
                frame.readBytes(length: 3) != nil,
                let epoch = frame.readInteger(endianness: .little, as: UInt64.self), count > 0
            else { throw malformed("records") }
            return .records(firstSequence: first, count: Int(count), epoch: epoch, bytes: frame)
        case .ack:
            guard let applied = frame.readInteger(endianness: .little, as: UInt64.self),
                let records = frame.readInteger(endianness: .little, as: UInt64.self),
                frame.readableBytes == 0
            else { throw malformed("ack") }
            return .ack(appliedSequence: applied, appliedRecords: records)
        case .reject:
            guard frame.readableBytes <= 4096, let text = frame.readString(length: frame.readableBytes) else {
                throw malformed("reject")
            }
            return .reject(text)
        case .ping:
            guard frame.readableBytes == 0 else { throw malformed("ping") }
            return .ping
        case .challenge, .response, .accept:
            throw ProtocolError("handshake frame inside an authenticated session")
        }
    }

    /// Builds one frame (without its tag).
    static func encode(_ message: ReplicationMessage, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = allocator.buffer(capacity: 64)
        switch message {
        case .resume(let position):
            frame.writeInteger(WireFormat.FrameType.resume.rawValue)
            frame.writeUUID(position.logUUID ?? .zero)
            frame.writeInteger(position.appliedSequence, endianness: .little)
            frame.writeInteger(position.appliedRecords, endianness: .little)
            frame.writeUUID(position.poolUUID ?? .zero)
            frame.writeInteger(position.epoch, endianness: .little)
        case .start(let log, let next, let epoch):
            frame.writeInteger(WireFormat.FrameType.start.rawValue)
            frame.writeUUID(log)
            frame.writeInteger(next, endianness: .little)
            frame.writeInteger(epoch, endianness: .little)
        case .records(let first, let count, let epoch, var bytes):
            let header = ReplicationMessage.recordsHeaderSize
            if bytes.readerIndex >= header {
                // Moving the index writes nothing; the header is only written when not already there.
                let start = bytes.readerIndex - header
                bytes.moveReaderIndex(to: start)
                if !ReplicationMessage.hasRecordsHeader(
                    bytes, at: start, first: first, count: count, epoch: epoch)
                {
                    ReplicationMessage.setRecordsHeader(
                        &bytes, at: start, first: first, count: count, epoch: epoch)
                }
                return bytes
            }
            frame.reserveCapacity(header + bytes.readableBytes + WireFormat.tagSize)
            frame.writeInteger(WireFormat.FrameType.records.rawValue)
            frame.writeInteger(first, endianness: .little)
            frame.writeInteger(UInt32(count), endianness: .little)
            frame.writeBytes([0, 0, 0])
            frame.writeInteger(epoch, endianness: .little)
            frame.writeBuffer(&bytes)
        case .ack(let applied, let records):
            frame.writeInteger(WireFormat.FrameType.ack.rawValue)
            frame.writeInteger(applied, endianness: .little)
            frame.writeInteger(records, endianness: .little)
        case .reject(let reason):
            frame.writeInteger(WireFormat.FrameType.reject.rawValue)
            // At most 4096 bytes, cut where a scalar starts (a cut inside one
            // made `String(reason.utf8.prefix(4096))!` trap: that is nil).
            let utf8 = reason.utf8
            var end = utf8.index(utf8.startIndex, offsetBy: min(4096, utf8.count))
            while end != utf8.endIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
            frame.writeString(String(decoding: utf8[..<end], as: UTF8.self))
        case .ping:
            frame.writeInteger(WireFormat.FrameType.ping.rawValue)
        }
        return frame
    }
}

extension ByteBuffer {
    mutating func readUUID() -> UUID? {
        readWithUnsafeReadableBytes { bytes in
            bytes.count >= 16 ? (16, UUID(bytesAt: bytes.baseAddress!)) : (0, nil)
        }
    }

    mutating func writeUUID(_ uuid: UUID) {
        withUnsafeBytes(of: uuid.uuid) { _ = writeBytes($0) }
    }
}
