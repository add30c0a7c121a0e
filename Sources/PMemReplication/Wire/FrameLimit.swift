/// The largest frame a connection accepts now: a handshake frame's worth
/// (`WireFormat.maxHandshakeFrame`) until the peer has proven the key, then
/// the session's limit. Shared by the connection's `FrameDecoder`, which
/// refuses a longer frame as soon as its length arrives (nothing of it is
/// buffered), and its `FrameAuthenticator`, which raises it once the
/// handshake succeeds. Used on the connection's event loop only.
final class FrameLimit {
    /// Bytes of the largest frame accepted now.
    private(set) var bytes = WireFormat.maxHandshakeFrame
    /// The limit once the peer is authenticated.
    let authenticated: Int

    /// A limit that becomes `authenticated` bytes after the handshake.
    init(authenticated: Int) { self.authenticated = authenticated }

    /// The peer proved the key: session frames may be as large as `authenticated`.
    func peerAuthenticated() { bytes = authenticated }
}
