import Foundation
import TestSupport
import XCTest

@testable import PMemKit

/// Descriptors PMemKit opens are close-on-exec: a program this process runs
/// inherits none of them.
final class CloseOnExecTests: XCTestCase {
    let dir = TemporaryDirectory()

    /// The descriptors of this process open on `path`, from /proc/self/fd.
    private func descriptors(on path: String) throws -> [Int32] {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { name in
            guard let fd = Int32(name),
                let link = try? FileManager.default.destinationOfSymbolicLink(
                    atPath: "/proc/self/fd/\(name)"),
                link == target
            else { return nil }
            return fd
        }
    }

    private func isCloseOnExec(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) & FD_CLOEXEC != 0 }

    func testAMappingsDescriptorIsCloseOnExec() throws {
        let opened = try PMemMapping(path: dir.makeFile("existing", size: 65536))
        let created = try PMemMapping(path: dir.file("created"), options: .init(size: 65536, create: true))
        for mapping in [opened, created] {
            let fds = try descriptors(on: mapping.path)
            XCTAssertFalse(fds.isEmpty, "no descriptor found on \(mapping.path)")
            for fd in fds { XCTAssertTrue(isCloseOnExec(fd), "descriptor \(fd) on \(mapping.path)") }
        }
    }

    func testAProgramRunFromThisProcessInheritsNoMappingDescriptor() throws {
        let mapping = try PMemMapping(path: dir.makeFile("pool", size: 65536))
        // posix_spawn without closing anything: what ls sees is what exec let through.
        let (readEnd, writeEnd) = try CloseOnExec.pipe()
        defer { close(readEnd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        let words = ["/bin/ls", "-l", "/proc/self/fd/"]
        let argv = words.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/ls", &actions, nil, argv, environ)
        close(writeEnd)
        XCTAssertEqual(rc, 0)
        let listing = String(
            decoding: FileHandle(fileDescriptor: readEnd).readDataToEndOfFile(), as: UTF8.self)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        XCTAssertEqual(status, 0, listing)
        XCTAssertTrue(listing.contains("/proc/"), "ls listed nothing: \(listing)")
        XCTAssertFalse(listing.contains(mapping.path), listing)
    }

    func testBothEndsOfAPipeAreCloseOnExec() throws {
        let (readEnd, writeEnd) = try CloseOnExec.pipe()
        defer {
            close(readEnd)
            close(writeEnd)
        }
        XCTAssertTrue(isCloseOnExec(readEnd))
        XCTAssertTrue(isCloseOnExec(writeEnd))
    }
}
