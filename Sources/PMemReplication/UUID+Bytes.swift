import Foundation

extension UUID {
    /// The all-zero UUID: "none" in on-media and wire fields.
    static let zero = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// Reads 16 bytes at `p` (any alignment).
    init(bytesAt p: UnsafeRawPointer) {
        var raw = UUID.zero.uuid
        withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: UnsafeRawBufferPointer(start: p, count: 16)) }
        self.init(uuid: raw)
    }
}
