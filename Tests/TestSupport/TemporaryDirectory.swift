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

extension TemporaryDirectory {
    /// Makes a FIFO called `name` (opening it for reading blocks until a writer comes).
    @discardableResult
    public func makeFIFO(_ name: String) -> String {
        let p = file(name)
        precondition(mkfifo(p, 0o644) == 0, "mkfifo \(p): errno \(errno)")
        return p
    }

    /// Makes a bound Unix socket called `name` (its descriptor stays open until the process ends).
    @discardableResult
    public func makeSocket(_ name: String) -> String {
        let p = file(name)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(p.utf8.prefix(raw.count - 1)))
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        precondition(rc == 0, "bind \(p): errno \(errno)")
        return p
    }

    /// Makes a directory called `name`.
    @discardableResult
    public func makeDirectory(_ name: String) -> String {
        let p = file(name)
        precondition(mkdir(p, 0o755) == 0, "mkdir \(p): errno \(errno)")
        return p
    }
}
