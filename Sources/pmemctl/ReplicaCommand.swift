import ArgumentParser
import Foundation
import Logging
import PMemKit
import PMemReplication

/// `pmemctl replica`: serve, inspect and promote a replica store.
struct ReplicaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "Receive a replicated heap, and promote a replica's copy to a pool (PMemReplication).",
        subcommands: [Serve.self, Status.self, Promote.self, Keygen.self])

    /// `pmemctl replica serve --store DIR --listen ADDR --key-file PATH`.
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept authenticated primaries and apply what they ship to a store.",
            discussion: """
                Prints 'serving DIR on HOST:PORT' once listening (port 0 picks a free one). The store resumes \
                from its persisted state after a crash; stop with SIGTERM or SIGKILL.
                """)

        @Option(help: "Store directory (created when absent; an empty directory starts a new store).")
        var store: String

        @Option(help: "Address to listen on, HOST:PORT.")
        var listen: String

        @Option(help: "File holding the pre-shared key in hexadecimal (pmemctl replica keygen).")
        var keyFile: String

        func validate() throws {
            _ = try parseEndpoint(listen, "--listen")
        }

        func run() throws {
            try reportingFailures {
                let psk = try PreSharedKey(file: keyFile)
                let endpoint = try Endpoint(parsing: listen)
                let replicaStore = try ReplicaStore(directory: store)
                let server = ReplicaServer(
                    store: replicaStore, psk: psk, logger: Logger(label: "pmemkit.replica"))
                let port = try server.start(listening: endpoint)
                FileHandle.standardOutput.write(
                    Data("serving \(store) on \(Endpoint(host: endpoint.host, port: port))\n".utf8))
                try server.wait()
            }
        }
    }

    /// `pmemctl replica status --store DIR`.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what a store has applied.")

        @Option(help: "Store directory.")
        var store: String

        @Flag(help: "Print as JSON.")
        var json = false

        func run() throws {
            try reportingFailures {
                let state = try ReplicaStore.readState(directory: store)
                if json { return try Output.json(StoreStatus(state)) }
                Output.table([
                    ["field", "value"],
                    ["log", state.logUUID?.uuidString ?? "none yet"],
                    ["pool", state.poolUUID?.uuidString ?? "none yet"],
                    ["applied sequence", "\(state.appliedSequence)"],
                    ["applied records", "\(state.appliedRecords)"],
                    ["last transaction", "\(state.lastTransaction)"],
                    ["baseline in progress", state.inBaseline ? "yes" : "no"],
                    ["epoch", state.epoch == 0 ? "none yet" : "\(state.epoch)"],
                ])
            }
        }
    }

    /// `pmemctl replica promote --store DIR --out POOL`.
    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the store's pool copy as a pool the application opens here.",
            discussion: """
                Stop the replica first (the store is locked while it serves). Opening the pool at another \
                base relocates its pointers (PMEMKIT_HEAP_RELOCATE=1 forces that).
                """)

        @Option(help: "Store directory.")
        var store: String

        @Option(help: "Pool file to write (must not exist).")
        var out: String

        @Option(
            help: ArgumentHelp(
                "The epoch this promotion serves (the new leader key's revision): refused below the highest "
                    + "epoch the store has seen, recorded otherwise so a stale primary is refused after.",
                valueName: "N"))
        var epoch: UInt64?

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingFailures {
                let promotion = try ReplicaStore(directory: store, mode: .existingOnly).promote(
                    to: out, epoch: epoch)
                if json { return try Output.json(promotion) }
                print(
                    "promoted \(store) to \(out): pool \(promotion.poolUUID), through log sequence "
                        + "\(promotion.sequence) (transaction \(promotion.transaction))"
                        + (promotion.baselineIncomplete ? "; a newer baseline was incomplete" : ""))
            }
        }
    }

    /// `pmemctl replica keygen --out PATH`.
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new random pre-shared key (hexadecimal, mode 0600).")

        @Option(help: "Key file to write (must not exist).")
        var out: String

        func run() throws {
            try reportingFailures {
                let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: out) }
                defer { close(fd) }
                let text = Array((PreSharedKey.generateHex() + "\n").utf8)
                guard write(fd, text, text.count) == text.count else {
                    throw PMemError.system("write", errno: errno, detail: out)
                }
            }
        }
    }
}

/// `pmemctl replica status --json`.
struct StoreStatus: Encodable {
    var logUUID: String?
    var poolUUID: String?
    var appliedSequence: UInt64
    var appliedRecords: UInt64
    var firstSequence: UInt64
    var lastTransaction: UInt64
    var inBaseline: Bool
    var epoch: UInt64

    init(_ state: ReplicaState) {
        logUUID = state.logUUID?.uuidString
        poolUUID = state.poolUUID?.uuidString
        appliedSequence = state.appliedSequence
        appliedRecords = state.appliedRecords
        firstSequence = state.firstSequence
        lastTransaction = state.lastTransaction
        inBaseline = state.inBaseline
        epoch = state.epoch
    }

    enum CodingKeys: String, CodingKey {
        case logUUID = "log_uuid"
        case poolUUID = "pool_uuid"
        case appliedSequence = "applied_sequence"
        case appliedRecords = "applied_records"
        case firstSequence = "first_sequence"
        case lastTransaction = "last_transaction"
        case inBaseline = "in_baseline"
        case epoch
    }
}

/// Parses a `HOST:PORT` option in `validate()`, so bad text is a usage error (exit 2).
func parseEndpoint(_ text: String, _ option: String) throws -> Endpoint {
    do {
        return try Endpoint(parsing: text)
    } catch let error as PMemError {
        throw ValidationError("\(option): \(error.detail)")
    }
}
