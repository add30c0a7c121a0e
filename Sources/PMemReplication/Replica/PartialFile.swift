import Foundation
@_spi(CrashPoints) import PMemKit

/// A file written in full before it gets its name, so that no process ever
/// opens it part-written under that name (a promoted pool: an application
/// opening a partial one would find a valid, nearly empty heap).
///
/// It is an unnamed file (`O_TMPFILE`) in the directory of the name it will
/// get, so a crash leaves nothing behind; on a file system without
/// `O_TMPFILE`, a hidden `.NAME.promoting.PID` beside it, removed on
/// failure (a crash may leave it; it is never opened again).
final class PartialFile {
    /// Where to write.
    let descriptor: Int32
    /// The hidden name, when the file system has no unnamed files.
    private let hiddenPath: String?
    private var linked = false

    /// Creates the file in the directory of `path` (which it does not touch).
    init(creatingBeside path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        // O_TMPFILE is __O_TMPFILE | O_DIRECTORY (Linux); the C macro is not imported.
        let unnamed = Foundation.open(directory, O_WRONLY | O_CLOEXEC | 0o20_000_000 | O_DIRECTORY, 0o644)
        if unnamed >= 0 {
            descriptor = unnamed
            hiddenPath = nil
            return
        }
        guard errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL else {
            throw PMemError.system("open", errno: errno, detail: directory)
        }
        let hidden = "\(directory)/.\(url.lastPathComponent).promoting.\(getpid())"
        unlink(hidden)  // a previous process of this id, crashed
        descriptor = Foundation.open(hidden, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw PMemError.system("open", errno: errno, detail: hidden) }
        hiddenPath = hidden
    }

    /// Gives the (synced) file the name `path`, durably; throws `EEXIST` when it is taken.
    func link(at path: String) throws {
        let source = hiddenPath ?? "/proc/self/fd/\(descriptor)"
        // linkat, unlike rename, never replaces an existing file.
        guard linkat(AT_FDCWD, source, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 else {
            throw PMemError.system("link", errno: errno, detail: path)
        }
        linked = true
        if let hiddenPath { unlink(hiddenPath) }
        let directory = Foundation.open(
            URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
        defer { Foundation.close(directory) }
        guard fsync(directory) == 0 else { throw PMemError.system("fsync", errno: errno, detail: path) }
    }

    /// Closes the file; removes it unless it was linked.
    func discard() {
        Foundation.close(descriptor)
        if !linked, let hiddenPath { unlink(hiddenPath) }
    }
}
