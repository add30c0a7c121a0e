import Foundation
import PMemKit

/// A guest program: a flat 64-bit image loaded at `GuestLayout.imageAddress`
/// and entered at its first byte on every vCPU, with `rdi` = the boot
/// information's address and `rsi` = the vCPU index.
///
/// The built-in images are built from `tools/guests` by `tools/guests/build`.
public struct GuestImage: Sendable, Equatable {
    /// A short name (`flush`, or the file name).
    public var name: String
    /// What the program does.
    public var summary: String
    /// The image.
    public var bytes: [UInt8]
    /// Offsets of the image's global code symbols (built-ins only).
    public var symbols: [String: UInt64]

    /// An image from bytes.
    public init(name: String, summary: String = "", bytes: [UInt8], symbols: [String: UInt64] = [:]) {
        self.name = name
        self.summary = summary
        self.bytes = bytes
        self.symbols = symbols
    }

    /// A built-in image, embedded as base64 by `tools/guests/build`.
    init(name: String, summary: String, sha256: String, symbols: [String: UInt64], base64: String) {
        guard let data = Data(base64Encoded: base64) else {
            preconditionFailure("guest image \(name) is not valid base64; rerun tools/guests/build")
        }
        self.init(name: name, summary: summary, bytes: Array(data), symbols: symbols)
    }

    /// The guest-physical address of `symbol`, if the image names it.
    public func address(of symbol: String) -> UInt64? {
        symbols[symbol].map { GuestLayout.imageAddress + $0 }
    }

    /// The built-in image called `name`, if any.
    public static func builtin(named name: String) -> GuestImage? {
        builtins.first { $0.name == name }
    }

    /// A built-in name, or the path of a flat image file (`.build/guests/flush.bin`).
    public static func resolve(_ nameOrPath: String) throws -> GuestImage {
        if let image = builtin(named: nameOrPath) { return image }
        guard FileManager.default.fileExists(atPath: nameOrPath) else {
            let names = builtins.map(\.name).joined(separator: ", ")
            throw PMemError(
                .notFound, operation: "load guest", errno: ENOENT,
                detail: "\(nameOrPath) is neither a built-in guest (\(names)) nor a file")
        }
        // A FIFO or a device is refused, not read for ever.
        let data = try InputFile.readRegularFile(
            nameOrPath, operation: "load guest", limit: Int(GuestLayout.imageLimit))
        guard !data.isEmpty else {
            throw PMemError(.invalidArgument, operation: "load guest", detail: "\(nameOrPath) is empty")
        }
        let name = URL(fileURLWithPath: nameOrPath).deletingPathExtension().lastPathComponent
        return GuestImage(name: name, summary: "flat image from \(nameOrPath)", bytes: Array(data))
    }
}
