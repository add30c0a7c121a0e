import Foundation

/// What a path names when it is not a regular file, for the error that
/// refuses it: libclang would wait for ever on a FIFO's open and read
/// `/dev/zero` without end, so only regular files are handed to it.
enum RegularFile {
    /// `"a FIFO"`, `"a directory"`, ... when `path` exists and is not a
    /// regular file; `nil` when it is one (or does not exist: the caller
    /// reports that itself). Asked with `stat`; nothing is opened.
    static func otherKind(of path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }
}
