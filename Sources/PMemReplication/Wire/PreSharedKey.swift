import Crypto
import Foundation
import PMemKit

/// The secret a primary and its replicas share: only a peer that holds it
/// completes the handshake, and every frame after it carries a tag made
/// with keys derived from it.
public struct PreSharedKey: Sendable {
    /// The key material.
    private let bytes: [UInt8]

    /// The key, for HMAC and HKDF.
    var key: SymmetricKey { SymmetricKey(data: bytes) }

    /// A key from raw bytes (at least 16).
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= 16 else {
            throw PMemError(
                .invalidArgument, operation: "pre-shared key",
                detail: "a key needs at least 16 bytes, not \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Reads a key file: hexadecimal text (whitespace ignored), at least 32 digits.
    public init(file path: String) throws {
        // A FIFO or a device is refused, not read for ever; a key is a few dozen digits.
        let data = try InputFile.readRegularFile(path, operation: "pre-shared key", limit: 64 << 10)
        let text = String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace }
        guard text.count % 2 == 0, let bytes = Self.hexBytes(text) else {
            throw PMemError(
                .invalidArgument, operation: "pre-shared key",
                detail: "\(path) must hold the key as hexadecimal digits (pmemctl replica keygen writes one)")
        }
        try self.init(bytes: bytes)
    }

    /// A new random 256-bit key as hexadecimal text.
    public static func generateHex() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
