import Foundation
import PMemKit

/// Tells when a process (any, not only a child) ends, however it ends —
/// SIGKILL included: a pidfd (`pidfd_open`, Linux 5.3) polled on a thread
/// of its own; where the C library lacks pidfd_open, /proc/PID is checked
/// every millisecond instead (a zombie counts as ended).
enum ProcessWatcher {
    private typealias PidfdOpen = @convention(c) (Int32, UInt32) -> Int32

    /// Calls `onExit` once, from a background thread, when `pid` has ended.
    /// Throws `notFound` when there is no such process now.
    static func watch(pid: Int32, onExit: @escaping @Sendable () -> Void) throws {
        guard kill(pid, 0) == 0 || errno == EPERM else {
            throw PMemError(.notFound, operation: "watch", detail: "no process \(pid)")
        }
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open") {
            let open = unsafeBitCast(symbol, to: PidfdOpen.self)
            // A pidfd is always close-on-exec; pidfd_open has no flag for it.
            let fd = open(pid, 0)
            if fd >= 0 {
                Thread.detachNewThread {
                    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    while poll(&entry, 1, -1) < 0 && errno == EINTR {}
                    close(fd)
                    onExit()
                }
                return
            }
        }
        Thread.detachNewThread {
            while isRunning(pid) { usleep(1000) }
            onExit()
        }
    }

    /// Whether `pid` exists and is not a zombie.
    private static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
            return false
        }
        return isRunning(stat: stat)
    }

    /// Whether the text of a `/proc/PID/stat` describes a live process: the
    /// state after the command name (which may hold `)`) is not Z or X.
    static func isRunning(stat: String) -> Bool {
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }
}
