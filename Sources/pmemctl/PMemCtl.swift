import ArgumentParser
import Foundation
import Logging
import PMemKit

/// `pmemctl`: provision, inspect and use persistent memory.
///
/// One file per command; each command parses, calls a module and prints.
/// Exit codes (contract): 0 success, 1 a failed operation (one line on
/// stderr), 2 bad usage (one line on stderr).
@main
struct PMemCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmemctl",
        abstract: "Provision, inspect and use persistent memory (NVDIMM, CXL, emulated).",
        version: PMemKitVersion.string,
        subcommands: [
            ListCommand.self,
            CreateNamespaceCommand.self,
            DestroyNamespaceCommand.self,
            InfoCommand.self,
            FlushCommand.self,
            CreateRegionCommand.self,
            DestroyRegionCommand.self,
            VMCommand.self,
            ProtectCommand.self,
            AnalyzeCommand.self,
            HeapCommand.self,
            HACommand.self,
            ReplicaCommand.self,
        ]
    )

    /// Parses and runs, mapping usage errors to one line and exit code 2.
    static func main() {
        // Every PMEMKIT_* variable is checked before anything runs: a typo is a usage error.
        do {
            _ = try Overrides.current()
        } catch let error as PMemError {
            Output.error(error.description)
            Foundation.exit(2)
        } catch {
            Foundation.exit(2)
        }
        bootstrapLogging()
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            guard code != .success, code.rawValue != 1 else { exit(withError: error) }
            // A usage error: one line, naming the problem, then exit 2.
            let message =
                self.message(for: error).split(separator: "\n").first.map(String.init) ?? "bad usage"
            Output.error("\(message) (see pmemctl --help)")
            Foundation.exit(2)
        }
    }
}

/// Sends PMemKit's log to stderr at `PMEMKIT_LOG_LEVEL` (default: warnings only).
func bootstrapLogging() {
    let level =
        Overrides.currentOrDefaults.choice(.logLevel).flatMap(Logger.Level.init(rawValue:)) ?? .warning
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
