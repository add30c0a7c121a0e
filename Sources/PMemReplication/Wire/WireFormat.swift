import NIOCore

/// Frame types and limits of the replication protocol (docs/REPLICATION.md).
///
/// On the wire every frame is `length u32 | type u8 | body`; after the
/// handshake, `type u8 | body` is AES-GCM ciphertext followed by its 16-byte tag.
enum WireFormat {
    /// Protocol version in the challenge. Version 2 stamps the primary's
    /// epoch on `start` and on every `records` frame; version 3 encrypts
    /// the session's frames (2 only authenticated them).
    static let version: UInt16 = 3
    /// The largest frame accepted: a batch of 64 MiB of records plus headers.
    static let defaultMaxFrame = (64 << 20) + 4096
    /// The largest frame accepted before the peer is authenticated: the
    /// handshake's frames are tens of bytes, so a peer without the key can
    /// make a replica (or an agent) buffer no more than this per connection.
    static let maxHandshakeFrame = 4096
    /// The longest a connection may take to authenticate.
    static let handshakeTimeout = TimeAmount.seconds(5)
    /// Connections awaiting authentication a replica holds at once; more are closed at once.
    static let maxPendingHandshakes = 16
    /// Bytes of the authentication tag.
    static let tagSize = 16
    /// Bytes of a handshake nonce and of a proof.
    static let nonceSize = 32

    /// Frame types.
    enum FrameType: UInt8 {
        // Handshake (unauthenticated frames).
        case challenge = 1
        case response = 2
        case accept = 3
        // Session (authenticated frames).
        case resume = 16
        case start = 17
        case records = 18
        case ack = 19
        case reject = 20
        case ping = 21
    }
}

/// Why a connection was refused or dropped: malformed input or a failed check.
public struct ProtocolError: Error, CustomStringConvertible, Sendable, Equatable {
    /// One line naming the problem.
    public let description: String

    /// An error described by `description`.
    public init(_ description: String) { self.description = description }
}
