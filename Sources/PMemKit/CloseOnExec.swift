internal import CPMemShim

/// Descriptors created close-on-exec in one step where the Glibc module
/// lacks the call (`pipe2`, `accept4`): a descriptor that is open without
/// `FD_CLOEXEC` even briefly is inherited by whatever another thread
/// `fork`s and `exec`s meanwhile (a pipe's write end kept open that way
/// delays the reader's end of file until that unrelated child exits).
package enum CloseOnExec {
    /// `pipe2(O_CLOEXEC)`: both ends close on exec. A child that must write
    /// to one end gets it through `posix_spawn_file_actions_adddup2`, since
    /// `dup2` clears the flag on the copy.
    package static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = pmk_pipe_cloexec(&fds)
        guard rc == 0 else { throw PMemError.system("pipe2", errno: -rc) }
        return (fds[0], fds[1])
    }

    /// `accept4(SOCK_CLOEXEC)` on `listener`, retried on EINTR: the
    /// connection's descriptor, or -errno.
    package static func accept(_ listener: Int32) -> Int32 {
        pmk_accept_cloexec(listener)
    }
}
