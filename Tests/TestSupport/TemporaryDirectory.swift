import Foundation

/// A directory under /tmp removed when the test ends.
public final class TemporaryDirectory {
    /// Its path.
    public let path: String

    /// Creates a fresh directory.
    public init() {
        var template = Array("/tmp/pmemkit-test.XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside it.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `size` bytes of `byte` to a new file.
    @discardableResult
    public func makeFile(_ name: String, size: Int, byte: UInt8 = 0) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(repeating: byte, count: size))
        return p
    }
}
