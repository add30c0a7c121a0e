import ArgumentParser
import Foundation
import PMemHeap
import PMemKit

/// `pmemctl heap`: create, inspect and check persistent heap pools.
struct HeapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heap",
        abstract: "Create, inspect and check persistent heap pools (PMemHeap).",
        subcommands: [Create.self, Info.self, Check.self, Stats.self, Grow.self, Shrink.self])

    /// `pmemctl heap create POOL --size SIZE`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty pool.")

        @Argument(help: "Pool file (created) or DAX device.")
        var pool: String

        @Option(help: "Pool size: 4096, 64M, 1G, ...")
        var size: String

        @Option(help: "Slab size (power of two, 4K to 64M; default 64K).")
        var slabSize: String?

        @Option(help: "Redo log size (default 1/32 of the pool, 256K to 64M).")
        var logSize: String?

        @Option(
            help: ArgumentHelp(
                "How allocation state survives a crash: logged (every allocation and free is a commit; "
                    + "the default) or reachability (they persist nothing; an open after a crash traces from "
                    + "the root and reclaims what nothing reaches).", valueName: "logged|reachability"))
        var recovery: String = AllocationRecovery.logged.rawValue

        @Option(help: "The size `heap grow` may take the pool to (default 16 times --size, at most 1T more).")
        var maxSize: String?

        @Option(help: "Types the pool can hold, 1 to 4096 (default one per MiB of --size, 128 to 4096).")
        var typeCapacity: Int?

        @Option(
            help: ArgumentHelp(
                "Register these types: JSON {\"types\":[{name,size,alignment,pointer_offsets}]}, "
                    + "as `pmemctl analyze --heap-descriptors` writes it.", valueName: "file"))
        var types: String?

        @Flag(help: "Print the new pool's info as JSON.")
        var json = false

        func validate() throws {
            _ = try parseSizeOption(size, "--size")
            _ = try parseSizeOption(slabSize, "--slab-size")
            _ = try parseSizeOption(logSize, "--log-size")
            _ = try parseSizeOption(maxSize, "--max-size")
            guard AllocationRecovery(rawValue: recovery) != nil else {
                throw ValidationError("--recovery must be logged or reachability, not '\(recovery)'")
            }
        }

        func run() throws {
            try reportingFailures {
                let options = HeapCreateOptions(
                    slabSize: try parseSizeOption(slabSize, "--slab-size").map { Int($0) },
                    logSize: try parseSizeOption(logSize, "--log-size").map { Int($0) },
                    recovery: AllocationRecovery(rawValue: recovery) ?? .logged,
                    maxSize: try parseSizeOption(maxSize, "--max-size").map { Int($0) },
                    typeCapacity: typeCapacity)
                let bytes = try parseSizeOption(size, "--size") ?? 0
                // Read the types first: a bad file must not leave a new pool behind.
                let described = try types.map(HeapCommand.readTypeDescriptions) ?? []
                let heap = try PersistentHeap.create(
                    path: pool, size: Int(bytes), options: options, types: described)
                try heap.close()
                let info = try HeapInfo.read(path: pool)
                if json {
                    try Output.json(info)
                } else {
                    print(
                        "created \(pool): \(ByteSize.format(UInt64(info.size))), \(info.slabCount) slabs of "
                            + "\(ByteSize.format(UInt64(info.slabSize))), \(info.recovery) recovery, uuid \(info.uuid)"
                    )
                }
            }
        }
    }

    /// `pmemctl heap grow POOL --size SIZE`.
    struct Grow: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grow a closed pool: extend the file (or use more of the device) and add slabs.",
            discussion: """
                Committed transactions are recovered first. Crash-safe: an interrupted grow is finished by the \
                next open. Limited by the slab directory's room, fixed at create (--max-size).
                """)

        @Argument(help: "Pool file or DAX device.")
        var pool: String

        @Option(help: "The new size: 128M, 2G, ...")
        var size: String

        @Flag(help: "Print the result as JSON.")
        var json = false

        func validate() throws { _ = try parseSizeOption(size, "--size") }

        func run() throws {
            try reportingFailures {
                let bytes = Int(try parseSizeOption(size, "--size") ?? 0)
                try HeapCommand.printResize(try PersistentHeap.grow(path: pool, to: bytes), json: json)
            }
        }
    }

    /// `pmemctl heap shrink POOL [--size SIZE]`.
    struct Shrink: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shrink a closed pool file: drop the free slabs at its end and truncate it.",
            discussion: """
                Without --size, to the smallest size that keeps every slab in use. Slabs whose objects were all \
                freed are free after the pool's last close. Crash-safe.
                """)

        @Argument(help: "Pool file.")
        var pool: String

        @Option(help: "The new size (default: the smallest that keeps every slab in use).")
        var size: String?

        @Flag(help: "Print the result as JSON.")
        var json = false

        func validate() throws { _ = try parseSizeOption(size, "--size") }

        func run() throws {
            try reportingFailures {
                let bytes = try parseSizeOption(size, "--size").map { Int($0) }
                try HeapCommand.printResize(try PersistentHeap.shrink(path: pool, to: bytes), json: json)
            }
        }
    }

    static func printResize(_ report: ResizeReport, json: Bool) throws {
        if json { return try Output.json(report) }
        print(
            "\(report.path): \(ByteSize.format(UInt64(report.oldSize))) -> \(ByteSize.format(UInt64(report.newSize))), "
                + "\(report.oldSlabs) -> \(report.newSlabs) slabs of \(ByteSize.format(UInt64(report.slabSize))) "
                + "(room for \(report.slabCapacity))")
    }

    /// The analyzer's heap descriptors in `file`.
    static func readTypeDescriptions(_ file: String) throws -> [TypeDescription] {
        // A FIFO or a device is refused, not read for ever; 16M is far more JSON than 4096 types take.
        let data = try InputFile.readRegularFile(file, operation: "heap create --types", limit: 16 << 20)
        return try TypeDescription.decodeAnalyzerJSON(data)
    }

    /// `pmemctl heap info POOL`.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a pool's header, state, types and root.")

        @Argument(help: "Pool file or DAX device.")
        var pool: String

        @Flag(help: "Print as JSON.")
        var json = false

        func run() throws {
            try reportingFailures {
                let info = try HeapInfo.read(path: pool)
                if json { return try Output.json(info) }
                var rows = [
                    ["field", "value"],
                    ["uuid", info.uuid],
                    ["format", "version \(info.version), \(info.recovery) recovery"],
                    ["size", ByteSize.format(UInt64(info.size))],
                    ["slabs", "\(info.slabCount) x \(ByteSize.format(UInt64(info.slabSize)))"],
                    ["redo log", "\(info.lanes) lanes x \(ByteSize.format(UInt64(info.laneSize)))"],
                    ["base", info.bases.joined(separator: ", ")],
                    ["clean shutdown", info.cleanShutdown ? "yes" : "no"],
                    ["relocation pending", info.relocationPending ? "yes" : "no"],
                    ["checkpoint", "\(info.checkpoint)"],
                    ["pending transactions", "\(info.pendingTransactions)"],
                    ["types", "\(info.types.count) of \(info.typeCapacity)"],
                    ["root", info.root.map { "\($0) (\(info.rootType ?? "?"))" } ?? "none"],
                    [
                        "shutdown counts",
                        info.shutdownCounts.isEmpty
                            ? "none recorded (no device under the pool counts unsafe shutdowns)"
                            : info.shutdownCounts.map { "\($0.id) \($0.count)" }.joined(separator: ", "),
                    ],
                    [
                        "unsafe shutdown",
                        info.unsafeShutdown.map {
                            "\($0.summary) while the pool was open: the next open checks it"
                        }
                            ?? "none detected",
                    ],
                ]
                rows += info.logDamage.map { ["LOG DAMAGE", $0] }
                Output.table(rows)
                guard !info.types.isEmpty else { return }
                print("")
                Output.table(
                    [["id", "type", "size", "align", "pointer offsets", "layout hash"]]
                        + info.types.map {
                            [
                                "\($0.id)", $0.name, "\($0.size)", "\($0.alignment)",
                                $0.pointerOffsets.map(String.init).joined(separator: ","), $0.layoutHash,
                            ]
                        })
            }
        }
    }

    /// `pmemctl heap check POOL`: exit 0 when healthy, 1 with a one-line reason otherwise.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk a pool and check every structure and pointer (exit 1 on any problem).",
            discussion: """
                Writes nothing: pending transactions are replayed in a private view. With --recover the pool \
                is opened first (redo log replayed, pointers relocated when its base changed or a relocation \
                was interrupted; PMEMKIT_HEAP_RELOCATE=1 or PMEMKIT_HEAP_BASE=0x... force a base), then checked.
                """)

        @Argument(help: "Pool file or DAX device.")
        var pool: String

        @Flag(help: "Open the pool (recovery and relocation, with progress) before checking it.")
        var recover = false

        @Flag(
            help: ArgumentHelp(
                "With --recover: when the redo log is damaged, replay the transactions before the damage and "
                    + "drop the rest (otherwise a damaged log is refused and nothing changes)."))
        var discardDamaged = false

        func validate() throws {
            if discardDamaged && !recover { throw ValidationError("--discard-damaged needs --recover") }
        }

        @Flag(help: "Print the report as JSON.")
        var json = false

        func run() throws {
            try reportingFailures {
                if recover { try recoverPool() }
                let report = try HeapChecker.check(path: pool)
                if json {
                    try Output.json(report)
                } else {
                    for note in report.notes { print("note: \(note)") }
                    for problem in report.problems { print("problem: \(problem)") }
                    let reach = report.reachable.map { ", \($0) reachable from the root" } ?? ""
                    print(
                        "\(report.objects) objects, \(report.pointers) pointers\(reach): "
                            + (report.healthy ? "healthy" : "\(report.problemCount) problems"))
                }
                guard report.healthy else {
                    let more = report.problemCount > 1 ? " (and \(report.problemCount - 1) more)" : ""
                    Output.error("\(pool): \(report.problems[0])\(more)")
                    throw ExitCode(1)
                }
            }
        }

        private func recoverPool() throws {
            // Bad media first: the open refuses a pool with any.
            if let damage = try MediaDamage.find(path: pool) {
                Output.error("\(pool): \(damage.summary)")
                for line in try MediaDamage.repair(path: pool, damage: damage) {
                    Output.error("\(pool): \(line)")
                }
            }
            let interactive = isatty(STDERR_FILENO) == 1
            var options = HeapOpenOptions { progress in
                guard interactive || progress.slabsDone == progress.slabsTotal else { return }
                let line =
                    "relocating: \(progress.slabsDone)/\(progress.slabsTotal) slabs, "
                    + "\(progress.pointersMoved) pointers moved"
                FileHandle.standardError.write(Data((interactive ? "\r\(line)" : line + "\n").utf8))
            }
            if discardDamaged { options.damagedLog = .discardFromFirstLoss }
            let heap = try PersistentHeap.open(path: pool, options: options)
            let report = heap.openReport
            for damage in report.logDamage { Output.error("\(pool): accepted loss: \(damage)") }
            if report.discardedTransactions > 0 {
                Output.error(
                    "\(pool): dropped \(report.discardedTransactions) intact transactions after the damage")
            }
            try heap.close()
            if interactive && report.relocated { FileHandle.standardError.write(Data("\n".utf8)) }
            if report.replayedTransactions > 0 || report.relocated {
                FileHandle.standardError.write(
                    Data(
                        ("recovered: \(report.replayedTransactions) transactions replayed"
                            + (report.relocated
                                ? ", pointers relocated to 0x\(String(report.base, radix: 16))" : "")
                            + "\n").utf8))
            }
        }
    }

    /// `pmemctl heap stats POOL`.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show slab and object usage per type.")

        @Argument(help: "Pool file or DAX device.")
        var pool: String

        @Flag(help: "Print as JSON.")
        var json = false

        func run() throws {
            try reportingFailures {
                let stats = try HeapStats.read(path: pool)
                if json { return try Output.json(stats) }
                Output.table(
                    [["type", "slabs", "objects", "capacity", "bytes"]]
                        + stats.types.map {
                            [
                                "\($0.name)", "\($0.slabs)", "\($0.objects)", "\($0.capacity)",
                                "\($0.bytesAllocated)",
                            ]
                        }
                        + [
                            [
                                "(all)", "\(stats.slabsUsed)/\(stats.slabsTotal)", "\(stats.objects)", "-",
                                "\(stats.bytesAllocated)",
                            ]
                        ])
                print("free: \(stats.slabsFree) slabs, \(ByteSize.format(UInt64(stats.bytesFree)))")
            }
        }
    }
}
