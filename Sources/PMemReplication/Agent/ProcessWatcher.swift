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
        if let fd = pidfd(pid) {
            Thread.detachNewThread {
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                while poll(&entry, 1, -1) < 0 && errno == EINTR {}
                close(fd)
                onExit()
            }
            return
        }
        Thread.detachNewThread {
            while isRunning(pid) { usleep(1000) }
            onExit()
        }
    }

    /// A pidfd of `pid` (`pidfd_open`; always close-on-exec), or `nil` where
    /// the C library lacks it or there is no such process.
    static func pidfd(_ pid: Int32) -> Int32? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open") else { return nil }
        let fd = unsafeBitCast(symbol, to: PidfdOpen.self)(pid, 0)
        return fd >= 0 ? fd : nil
    }

    /// Whether the process of a pidfd has ended (its pidfd reads as ready; a zombie has ended).
    static func hasEnded(pidfd fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&entry, 1, 0)
            if ready < 0 && errno == EINTR { continue }
            return ready != 0
        }
    }

    /// Whether `pid` exists and is not a zombie.
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = KernelText.read("/proc/\(pid)/stat") else {
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
