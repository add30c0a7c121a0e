import Crypto
import Foundation

/// The handshake's proofs and the session's frame keys, all derived from the
/// pre-shared key and both sides' nonces (so every connection has fresh keys
/// and a recorded session cannot be replayed into another).
struct SessionKeys {
    /// Key for frames from the primary (client) to the replica (server).
    let clientToServer: SymmetricKey
    /// Key for frames from the replica to the primary.
    let serverToClient: SymmetricKey

    init(psk: PreSharedKey, serverNonce: [UInt8], clientNonce: [UInt8]) {
        let material = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: psk.key, salt: serverNonce + clientNonce,
            info: Array("pmemkit replication v3 frame keys".utf8), outputByteCount: 64)
        let bytes = material.withUnsafeBytes { Array($0) }
        clientToServer = SymmetricKey(data: bytes[0..<32])
        serverToClient = SymmetricKey(data: bytes[32..<64])
    }

    /// The proof that a side holds the key: HMAC-SHA256 over a label and both nonces.
    static func proof(psk: PreSharedKey, role: String, serverNonce: [UInt8], clientNonce: [UInt8]) -> [UInt8]
    {
        Array(
            HMAC<SHA256>.authenticationCode(
                for: proofInput(role: role, serverNonce: serverNonce, clientNonce: clientNonce),
                using: psk.key))
    }

    /// Whether `proof` is the one `role` must send (compared in constant time).
    static func verify(
        _ proof: [UInt8], psk: PreSharedKey, role: String, serverNonce: [UInt8], clientNonce: [UInt8]
    ) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            proof, authenticating: proofInput(role: role, serverNonce: serverNonce, clientNonce: clientNonce),
            using: psk.key)
    }

    private static func proofInput(role: String, serverNonce: [UInt8], clientNonce: [UInt8]) -> [UInt8] {
        Array("pmemkit replication v1 \(role)".utf8) + serverNonce + clientNonce
    }

    /// Random bytes for a nonce.
    static func nonce() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }
}

/// Seals and opens the frames of one direction: AES-GCM under the
/// direction's session key, the nonce being the frame's number in its
/// direction. The frame is encrypted (replication carries the
/// application's data across networks) and its tag authenticates it, so a
/// frame that is altered, replayed, dropped or reordered fails to open.
struct FrameCipher {
    let key: SymmetricKey
    private(set) var counter: UInt64 = 0

    init(key: SymmetricKey) { self.key = key }

    private func nonce() throws -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: counter.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return try AES.GCM.Nonce(data: bytes)
    }

    /// Encrypts the next frame: its ciphertext (as long as the frame) and tag.
    mutating func seal(_ frame: UnsafeRawBufferPointer) throws -> (ciphertext: Data, tag: Data) {
        let box = try AES.GCM.seal(frame, using: key, nonce: nonce())
        counter += 1
        return (box.ciphertext, box.tag)
    }

    /// The next frame's bytes, or nil when `ciphertext` and `tag` are not
    /// the next frame sealed under this key (checked in constant time by AES-GCM).
    mutating func open(_ ciphertext: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) throws -> Data? {
        let box = try AES.GCM.SealedBox(nonce: nonce(), ciphertext: ciphertext, tag: tag)
        guard let frame = try? AES.GCM.open(box, using: key) else { return nil }
        counter += 1
        return frame
    }
}
