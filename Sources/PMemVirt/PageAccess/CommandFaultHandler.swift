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
public final class CommandFaultHandler: GuestFaultHandler, CustomStringConvertible, @unchecked Sendable {
    /// The shell command.
    public let command: String
    private let lock = NSLock()
    private var lastOutcome = "not run yet"

    /// A handler running `command`.
    public init(command: String) {
        self.command = command
    }

    /// The command and what it did last, for the error when it ends the VM.
    public var description: String {
        "the fault command '\(command)' (\(lock.withLock { lastOutcome }))"
    }

    /// Runs the command for `fault` and reads its decision.
    public func handle(_ fault: GuestFault, pages: GuestPageAccess) -> GuestFaultDecision {
        let hex = { (value: UInt64) in "0x" + String(value, radix: 16) }
        let variables = [
            "PMEMKIT_FAULT_GPA": hex(fault.gpa), "PMEMKIT_FAULT_RIP": hex(fault.rip),
            "PMEMKIT_FAULT_VALUE": hex(fault.value), "PMEMKIT_FAULT_ACCESS": fault.isWrite ? "write" : "read",
            "PMEMKIT_FAULT_LENGTH": "\(fault.length)", "PMEMKIT_FAULT_VCPU": "\(fault.vcpu)",
            "PMEMKIT_FAULT_PAGE_ACCESS": fault.access.rawValue,
        ]
        do {
            let (status, output) = try Self.run(command, adding: variables)
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

    /// Runs `/bin/sh -c command` with `variables` added to this process's
    /// environment; returns its exit status and standard output.
    static func run(_ command: String, adding variables: [String: String]) throws -> (Int32, String) {
        // Both ends close on exec: vCPUs fault at once, and a shell spawned for
        // another fault must not inherit this write end (this read would wait
        // for that shell too). The child's stdout is a dup2 copy, which stays open.
        let (readEnd, writeEnd) = try CloseOnExec.pipe()
        defer { close(readEnd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        let environment = ProcessInfo.processInfo.environment.merging(variables) { $1 }
            .map { "\($0)=\($1)" }
        let argv = ["/bin/sh", "-c", command]
        var pid: pid_t = 0
        let rc = withCStrings(argv) { args in
            withCStrings(environment) { env in posix_spawn(&pid, "/bin/sh", &actions, nil, args, env) }
        }
        close(writeEnd)
        guard rc == 0 else { throw PMemError.system("posix_spawn", errno: rc, detail: "/bin/sh") }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(readEnd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return (
            exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), String(decoding: output, as: UTF8.self)
        )
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
