import ArgumentParser
import Foundation
import PMemKit
import PMemProtect

/// `pmemctl protect`: page access policy in a process.
struct ProtectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protect",
        abstract: "Page access policy for processes: which protection mechanism is used here, and why.",
        subcommands: [ProtectInfoCommand.self])
}

/// What `pmemctl protect info --json` prints.
struct ProtectInfo: Encodable {
    /// The process's choice: requested, mechanism, reason, every mechanism's status.
    var choice: MechanismChoice
    /// With `--path`: what a mapping of that file gets.
    var path: PathProtection?

    /// The mechanism a mapping of one file gets.
    struct PathProtection: Codable {
        var path: String
        var backing: String
        var mechanism: ProtectionMechanism
        var reason: String
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(choice.requested, forKey: .requested)
        try c.encode(choice.mechanism, forKey: .mechanism)
        try c.encode(choice.reason, forKey: .reason)
        try c.encode(choice.mechanisms, forKey: .mechanisms)
        try c.encodeIfPresent(path, forKey: .path)
    }

    enum CodingKeys: String, CodingKey {
        case requested, mechanism, reason, mechanisms, path
    }
}

/// `pmemctl protect info [--path PATH] [--json]`.
struct ProtectInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the protection mechanism chosen for this machine and why, and what each offers.",
        discussion: """
            The choice is pkeys where the CPU has pku, else userfaultfd write-protect, else mprotect + \
            SIGSEGV; PMEMKIT_PROTECT_MECHANISM=auto|pkeys|userfaultfd|mprotect overrides it. With --path, \
            the file (or DAX device) is mapped and protected once to show the mechanism its memory gets \
            (userfaultfd covers anonymous and shmem memory, not files of disk file systems).
            """)

    @Option(help: "A file or DAX device to map and protect once.") var path: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingFailures {
            let protector = try PageProtector.shared()
            var info = ProtectInfo(choice: protector.choice)
            if let path {
                let mapping = try PMemMapping(path: path)
                let range = try protector.protect(mapping, access: .readWrite, onFault: .allow)
                info.path = .init(
                    path: path, backing: mapping.backing.rawValue, mechanism: range.mechanism,
                    reason: range.mechanismReason)
                range.unprotect()
            }
            if json {
                try Output.json(info)
                return
            }
            var rows = [["mechanism", "available", "reason"]]
            for status in info.choice.mechanisms {
                rows.append([status.mechanism.rawValue, status.available ? "yes" : "no", status.reason])
            }
            Output.table(rows)
            print(
                "chosen: \(info.choice.mechanism.rawValue) (\(info.choice.requested)): \(info.choice.reason)")
            if let p = info.path {
                print("\(p.path) (\(p.backing)): \(p.mechanism.rawValue): \(p.reason)")
            }
        }
    }
}
