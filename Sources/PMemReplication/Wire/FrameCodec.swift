import NIOCore

/// Splits the byte stream into frames (`length u32 | frame`), refusing any
/// frame longer than the limit as soon as its length arrives, before reading
/// it (a peer cannot make the receiver buffer more): before authentication
/// the limit is a handshake frame's (`FrameLimit`). Inbound frames are
/// slices of the received bytes.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// The largest frame accepted, now.
    let limit: FrameLimit

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self)
        else {
            return .needMoreData
        }
        guard length >= 1, Int(length) <= limit.bytes else {
            let when = limit.bytes < limit.authenticated ? " before authentication" : ""
            throw ProtocolError("frame of \(length) bytes refused\(when) (limit \(limit.bytes))")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// A frame on its way out: its bytes and, in an authenticated session, its
/// tag. The tag travels as its own buffer, so a large frame (a batch of
/// records) is never copied to append it.
struct OutboundFrame {
    var body: ByteBuffer
    var tag: ByteBuffer?
}

/// Prefixes each outbound frame with its length (separate 4-byte writes, so
/// large frames are never copied; the socket gathers the pieces).
final class FrameEncoder: ChannelOutboundHandler {
    typealias OutboundIn = OutboundFrame
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        var prefix = context.channel.allocator.buffer(capacity: 4)
        prefix.writeInteger(
            UInt32(frame.body.readableBytes + (frame.tag?.readableBytes ?? 0)), endianness: .little)
        context.write(wrapOutboundOut(prefix), promise: nil)
        if let tag = frame.tag {
            context.write(wrapOutboundOut(frame.body), promise: nil)
            context.write(wrapOutboundOut(tag), promise: promise)
        } else {
            context.write(wrapOutboundOut(frame.body), promise: promise)
        }
    }
}
