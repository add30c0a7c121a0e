import Foundation
import PMemKit

/// A host-side fault handler that is another program: for each fault it
/// runs `/bin/sh -c COMMAND` with the fault in its environment and takes
/// the first word the command prints as the decision.
///
/// Environment: `PMEMKIT_FAULT_GPA`, `PMEMKIT_FAULT_RIP`, `PMEMKIT_FAULT_VALUE`
/// (hex, `0x…`), `PMEMKIT_FAULT_ACCESS` (`read` or `write`),
/// `PMEMKIT_FAULT_LENGTH`, `PMEMKIT_FAULT_VCPU`, `PMEMKIT_FAULT_PAGE_ACCESS`
/// (the page's access: `none`, `read-only`). Output: `retry`, `allow`,
/// `skip` or `end`; nothing means `allow`. A command that cannot run,
/// exits non-zero or prints anything else ends the VM; the error then
/// names the command and what it did (its `description`).
///
/// Each command runs in a process group of its own. When the VM stops (its
/// timeout, another vCPU's error) while a command is still deciding, `stop()`
/// kills the group, so a command that never ends cannot outlive the run, and
/// every later fault is answered `end` without running it. One handler
/// serves one VM.
public final class CommandFaultHandler: GuestFaultHandler, CustomStringConvertible, @unchecked Sendable {
    /// The shell command.
    public let command: String
    private let lock = NSLock()
    private var lastOutcome = "not run yet"
    /// Process groups (the shells' pids) of the commands deciding now.
    private var running: Set<pid_t> = []
    /// Whether `stop()` was called.
    private var stopped = false

    /// A handler running `command`.
    public init(command: String) {
        self.command = command
    }

    /// The command and what it did last, for the error when it ends the VM.
    public var description: String {
        "the fault command '\(command)' (\(lock.withLock { lastOutcome }))"
    }

    /// Kills the process group of every command still deciding, and makes
    /// every later fault `end` at once; returns this handler's description when
    /// a command was killed.
    public func stop() -> String? {
        let killed: Set<pid_t> = lock.withLock {
            stopped = true
            if !running.isEmpty { lastOutcome = "killed: still running when the VM stopped" }
            return running
        }
        for group in killed { kill(-group, SIGKILL) }
        return killed.isEmpty ? nil : "the fault command '\(command)'"
    }

    /// Runs the command for `fault` and reads its decision.
    public func handle(_ fault: GuestFault, pages: GuestPageAccess) -> GuestFaultDecision {
        guard !lock.withLock({ stopped }) else { return .end }
        let hex = { (value: UInt64) in "0x" + String(value, radix: 16) }
        let variables = [
            "PMEMKIT_FAULT_GPA": hex(fault.gpa), "PMEMKIT_FAULT_RIP": hex(fault.rip),
            "PMEMKIT_FAULT_VALUE": hex(fault.value), "PMEMKIT_FAULT_ACCESS": fault.isWrite ? "write" : "read",
            "PMEMKIT_FAULT_LENGTH": "\(fault.length)", "PMEMKIT_FAULT_VCPU": "\(fault.vcpu)",
            "PMEMKIT_FAULT_PAGE_ACCESS": fault.access.rawValue,
        ]
        do {
            guard let (status, output) = try run(adding: variables) else { return .end }
            let word = output.split(whereSeparator: \.isWhitespace).first.map(String.init) ?? "allow"
            let said =
                output.isEmpty
                ? "no output" : "said '\(output.trimmingCharacters(in: .whitespacesAndNewlines))'"
            lock.withLock { lastOutcome = "exit \(status), \(said)" }
            guard status == 0, let decision = GuestFaultDecision(rawValue: word) else { return .end }
            return decision
        } catch {
            lock.withLock { lastOutcome = "\(error)" }
            return .end
        }
    }

    /// Runs `/bin/sh -c command` in a process group of its own with
    /// `variables` added to this process's environment; returns its exit
    /// status and standard output, or `nil` when `stop()` killed it.
    private func run(adding variables: [String: String]) throws -> (Int32, String)? {
        // Both ends close on exec: vCPUs fault at once, and a shell spawned for
        // another fault must not inherit this write end (this read would wait
        // for that shell too). The child's stdout is a dup2 copy, which stays open.
        let (readEnd, writeEnd) = try CloseOnExec.pipe()
        defer { close(readEnd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        // A group of its own (process group id = the shell's pid): stop() kills
        // the shell and everything it started with one kill(-pid).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let environment = ProcessInfo.processInfo.environment.merging(variables) { $1 }
            .map { "\($0)=\($1)" }
        let argv = ["/bin/sh", "-c", command]
        var pid: pid_t = 0
        let rc = withCStrings(argv) { args in
            withCStrings(environment) { env in posix_spawn(&pid, "/bin/sh", &actions, &attributes, args, env)
            }
        }
        close(writeEnd)
        guard rc == 0 else { throw PMemError.system("posix_spawn", errno: rc, detail: "/bin/sh") }
        // Registered before reading; a stop() that came first kills it at once.
        let stoppedAlready = lock.withLock {
            running.insert(pid)
            return stopped
        }
        if stoppedAlready { kill(-pid, SIGKILL) }
        defer { lock.withLock { _ = running.remove(pid) } }
        let output = readUntilEndOrStop(readEnd)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard output != nil, !lock.withLock({ stopped }) else { return nil }
        let exited = status & 0x7f == 0
        return (
            exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), String(decoding: output!, as: UTF8.self)
        )
    }

    /// The bytes read from `fd` until its end, or `nil` once `stop()` was
    /// called: a process the command started outside its group may hold the
    /// pipe open after the group is killed, so the read does not wait for
    /// the end after a stop.
    private func readUntilEndOrStop(_ fd: Int32) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, 100)
            if lock.withLock({ stopped }) { return nil }
            if polled < 0 && errno == EINTR || polled == 0 { continue }
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return output }
            output += buffer[0..<n]
        }
    }
}

/// Calls `body` with `strings` as a NULL-terminated C array.
private func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
    let pointers = strings.map { strdup($0) } + [nil]
    defer {
        for pointer in pointers { free(pointer) }
    }
    return body(pointers)
}
