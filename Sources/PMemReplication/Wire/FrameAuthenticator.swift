import Foundation
import Logging
import NIOCore

/// Sent up the pipeline once the peer proved it holds the pre-shared key.
public enum AuthenticationEvent: Sendable, Equatable {
    /// Both sides proved the key; frames from now on are tagged.
    case established
}

/// Authenticates the peer and encrypts every frame: a pre-shared-key
/// handshake (challenge, response, accept: each side proves the key over
/// both nonces), then AES-GCM on every frame in each direction under keys
/// of the session (`FrameCipher`). A peer
/// without the key, a frame that fails its tag, or anything but the expected
/// handshake frame is logged and the connection closed: nothing from such a
/// peer goes up the pipeline.
final class FrameAuthenticator: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = OutboundFrame

    /// Which side of the handshake this is.
    enum Role {
        /// The replica: sends the challenge.
        case server
        /// The primary's agent: answers it.
        case client
    }

    private enum Phase {
        case awaitingChallenge
        case awaitingResponse(serverNonce: [UInt8])
        case awaitingAccept(serverNonce: [UInt8], clientNonce: [UInt8])
        case established(send: FrameCipher, receive: FrameCipher)
        case failed
    }

    private let role: Role
    private let psk: PreSharedKey
    private let logger: Logger
    private let handshakeTimeout: TimeAmount
    /// The connection's frame limit, raised to the session's once the peer is authenticated.
    private let limit: FrameLimit
    private var phase: Phase
    private var timeout: Scheduled<Void>?

    init(
        role: Role, psk: PreSharedKey, logger: Logger, limit: FrameLimit,
        handshakeTimeout: TimeAmount = WireFormat.handshakeTimeout
    ) {
        self.role = role
        self.psk = psk
        self.logger = logger
        self.limit = limit
        self.handshakeTimeout = handshakeTimeout
        phase = role == .server ? .awaitingResponse(serverNonce: []) : .awaitingChallenge
    }

    func channelActive(context: ChannelHandlerContext) {
        if role == .server {
            let nonce = SessionKeys.nonce()
            phase = .awaitingResponse(serverNonce: nonce)
            var frame = context.channel.allocator.buffer(capacity: 3 + nonce.count)
            frame.writeInteger(WireFormat.FrameType.challenge.rawValue)
            frame.writeInteger(WireFormat.version, endianness: .little)
            frame.writeBytes(nonce)
            context.writeAndFlush(wrapOutboundOut(OutboundFrame(body: frame)), promise: nil)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let limit = handshakeTimeout.nanoseconds / 1_000_000
        timeout = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = bound.value
            if case .established = handler.phase { return }
            handler.refuse(context: context, "no authenticated handshake within \(limit) ms")
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        switch phase {
        case .established(let send, var receive):
            guard frame.readableBytes > WireFormat.tagSize else {
                return refuse(context: context, "frame too short to carry a tag")
            }
            let bodyLength = frame.readableBytes - WireFormat.tagSize
            let opened = frame.withUnsafeReadableBytes { bytes in
                (try? receive.open(
                    UnsafeRawBufferPointer(rebasing: bytes[0..<bodyLength]),
                    tag: UnsafeRawBufferPointer(rebasing: bytes[bodyLength...]))) ?? nil
            }
            guard let opened else {
                return refuse(
                    context: context,
                    "frame \(receive.counter) failed authentication (altered, replayed or out of order)")
            }
            phase = .established(send: send, receive: receive)
            var plain = context.channel.allocator.buffer(capacity: opened.count)
            plain.writeBytes(opened)
            context.fireChannelRead(wrapInboundOut(plain))
        case .awaitingChallenge:
            guard frame.readInteger(as: UInt8.self) == WireFormat.FrameType.challenge.rawValue,
                let version = frame.readInteger(endianness: .little, as: UInt16.self)
            else { return refuse(context: context, "expected a version \(WireFormat.version) challenge") }
            guard version == WireFormat.version else {
                return refuse(
                    context: context,
                    "the replica speaks protocol version \(version), this agent version \(WireFormat.version): "
                        + "run the same PMemKit release on both")
            }
            guard let serverNonce = frame.readBytes(length: WireFormat.nonceSize), frame.readableBytes == 0
            else { return refuse(context: context, "expected a version \(WireFormat.version) challenge") }
            let clientNonce = SessionKeys.nonce()
            let proof = SessionKeys.proof(
                psk: psk, role: "client", serverNonce: serverNonce, clientNonce: clientNonce)
            var response = context.channel.allocator.buffer(capacity: 1 + 64)
            response.writeInteger(WireFormat.FrameType.response.rawValue)
            response.writeBytes(clientNonce)
            response.writeBytes(proof)
            phase = .awaitingAccept(serverNonce: serverNonce, clientNonce: clientNonce)
            context.writeAndFlush(wrapOutboundOut(OutboundFrame(body: response)), promise: nil)
        case .awaitingResponse(let serverNonce):
            guard frame.readInteger(as: UInt8.self) == WireFormat.FrameType.response.rawValue,
                let clientNonce = frame.readBytes(length: WireFormat.nonceSize),
                let proof = frame.readBytes(length: WireFormat.nonceSize), frame.readableBytes == 0
            else { return refuse(context: context, "expected a handshake response") }
            guard
                SessionKeys.verify(
                    proof, psk: psk, role: "client", serverNonce: serverNonce, clientNonce: clientNonce)
            else {
                return refuse(
                    context: context, "unauthenticated peer: its proof does not match the pre-shared key")
            }
            var accept = context.channel.allocator.buffer(capacity: 1 + 32)
            accept.writeInteger(WireFormat.FrameType.accept.rawValue)
            accept.writeBytes(
                SessionKeys.proof(
                    psk: psk, role: "server", serverNonce: serverNonce, clientNonce: clientNonce))
            context.writeAndFlush(wrapOutboundOut(OutboundFrame(body: accept)), promise: nil)
            establish(context: context, serverNonce: serverNonce, clientNonce: clientNonce)
        case .awaitingAccept(let serverNonce, let clientNonce):
            guard frame.readInteger(as: UInt8.self) == WireFormat.FrameType.accept.rawValue,
                let proof = frame.readBytes(length: WireFormat.nonceSize), frame.readableBytes == 0
            else { return refuse(context: context, "expected a handshake accept") }
            guard
                SessionKeys.verify(
                    proof, psk: psk, role: "server", serverNonce: serverNonce, clientNonce: clientNonce)
            else {
                return refuse(
                    context: context, "unauthenticated replica: its proof does not match the pre-shared key")
            }
            establish(context: context, serverNonce: serverNonce, clientNonce: clientNonce)
        case .failed:
            return
        }
    }

    private func establish(context: ChannelHandlerContext, serverNonce: [UInt8], clientNonce: [UInt8]) {
        let keys = SessionKeys(psk: psk, serverNonce: serverNonce, clientNonce: clientNonce)
        let (send, receive) =
            role == .server
            ? (keys.serverToClient, keys.clientToServer) : (keys.clientToServer, keys.serverToClient)
        phase = .established(send: FrameCipher(key: send), receive: FrameCipher(key: receive))
        limit.peerAuthenticated()
        timeout?.cancel()
        context.fireUserInboundEventTriggered(AuthenticationEvent.established)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .established(var send, let receive) = phase else {
            promise?.fail(ProtocolError("frame written before the handshake completed"))
            return
        }
        let frame = unwrapOutboundIn(data)
        let sealed: (ciphertext: Data, tag: Data)
        do {
            sealed = try frame.withUnsafeReadableBytes { try send.seal($0) }
        } catch {
            promise?.fail(error)
            return
        }
        phase = .established(send: send, receive: receive)
        var body = context.channel.allocator.buffer(capacity: sealed.ciphertext.count)
        body.writeBytes(sealed.ciphertext)
        var tag = context.channel.allocator.buffer(capacity: WireFormat.tagSize)
        tag.writeBytes(sealed.tag)
        context.write(wrapOutboundOut(OutboundFrame(body: body, tag: tag)), promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        refuse(context: context, "\(error)")
    }

    /// Logs why the peer is dropped, then closes the connection.
    private func refuse(context: ChannelHandlerContext, _ why: String) {
        if case .failed = phase { return }
        phase = .failed
        timeout?.cancel()
        logger.error(
            "replication peer rejected: \(why)",
            metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")"])
        context.fireErrorCaught(ProtocolError(why))
        context.close(promise: nil)
    }
}
