import Foundation

/// `convert`: a real C program, KISSDB, as upstream wrote it (stdio: write(2)
/// through fflush, read(2) through fread) against its conversion to the
/// PMemKit heap (entries and hash tables as heap objects, one transaction
/// per put, plain loads for reads), driven by the same workload driver.
///
/// Ours is always the converted program on a pool in /dev/shm. The baselines
/// are the original with fsync(2) after every put on the same /dev/shm (the
/// durability a commit gives, where fsync is cheap: byte access against
/// system calls), the original without fsync (what KISSDB does by itself:
/// not durable, shown as context), and the original with fsync on the
/// machine's disk (/var/tmp, context). tools/convert/build makes both
/// programs (upstream + tools/convert/kissdb-pmemkit.patch; docs/CONVERSION.md).
struct ConvertSuite: BenchSuite {
    static let name = "convert"
    static let summary =
        "KISSDB converted to the PMemKit heap vs the original (write/read/fsync), same driver"

    let backing: String
    let binaries: URL
    let shmDirectory: String
    let diskDirectory: String
    let count: Int
    let diskCount: Int
    let quick: Bool

    /// The driver's phases: N inserts, N updates, N reads, N of a 50/50 mix.
    static let phases = ["insert", "update", "read", "mix"]

    init(options: BenchOptions) throws {
        quick = options.quick
        count = quick ? 2000 : 20000
        diskCount = quick ? 200 : 2000
        shmDirectory = options.path ?? "/dev/shm"
        binaries = try Self.build()
        diskDirectory = "/var/tmp"
        let shm = shmDirectory == "/dev/shm" ? "/dev/shm: DRAM standing in for PMem" : shmDirectory
        backing =
            "converted: PMemKit heap pool in \(shm); original: KISSDB file via stdio in the same directory "
            + "(fsync after each put unless -nofsync); -disk rows: both at N=\(diskCount), "
            + "the original in \(diskDirectory) on the machine's disk"
    }

    /// Few rounds: each sample is a whole process run over N operations.
    var rounds: Int { 11 }

    func cases() throws -> [BenchCase] {
        var out: [BenchCase] = []
        for phase in Self.phases {
            out.append(
                pair(
                    name: phase, phase: phase, count: count, directory: shmDirectory, fsync: true,
                    label: phase == "read" ? "original, \(shmDirectory)" : "original + fsync, \(shmDirectory)"
                ))
        }
        for phase in Self.phases where phase != "read" {
            out.append(
                pair(
                    name: "\(phase)-nofsync", phase: phase, count: count, directory: shmDirectory,
                    fsync: false, label: "original, no fsync (not durable)"))
        }
        for phase in Self.phases {
            out.append(
                pair(
                    name: "\(phase)-disk", phase: phase, count: diskCount, directory: diskDirectory,
                    fsync: true, label: phase == "read" ? "original, disk" : "original + fsync, disk"))
        }
        return out
    }

    /// One case: the converted program on /dev/shm against the original in
    /// `directory`, the same phase and N on both sides.
    private func pair(
        name: String, phase: String, count: Int, directory: String, fsync: Bool, label: String
    ) -> BenchCase {
        let converted = binaries.appendingPathComponent("kv-pmemkit").path
        let original = binaries.appendingPathComponent("kv-original").path
        let shm = shmDirectory
        return BenchCase(
            name: name, unitCount: count,
            ours: {
                try Self.runDriver(
                    converted, path: "\(shm)/pmem-bench-convert.\(getpid()).pool", count, phase)
            },
            baselineName: label,
            baseline: {
                try Self.runDriver(
                    original, path: "\(directory)/pmem-bench-convert.\(getpid()).kdb", count, phase,
                    fsync: fsync)
            })
    }

    /// Runs `driver bench PATH N PHASE [fsync]`; returns the nanoseconds it
    /// timed over the N operations (the load before them is not timed).
    static func runDriver(
        _ driver: String, path: String, _ count: Int, _ phase: String, fsync: Bool = false
    ) throws -> UInt64 {
        defer { unlink(path) }
        var arguments = ["bench", path, "\(count)", phase]
        if fsync { arguments.append("fsync") }
        let output = try run(driver, arguments)
        let fields = output.split(separator: " ")
        guard fields.count == 3, fields[0] == phase,
            let ns = UInt64(fields[2].trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw BenchError("\(driver) \(arguments.joined(separator: " ")) printed '\(output)'")
        }
        return ns
    }

    /// Builds both programs with tools/convert/build (found from this
    /// source file's place in the repository); returns their directory.
    static func build() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("tools/convert/build").path
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw BenchError("no \(script): pmem-bench convert runs from a PMemKit checkout")
        }
        let out = root.appendingPathComponent(".build/convert").path
        let printed = try run(script, [out]).trimmingCharacters(in: .whitespacesAndNewlines)
        return URL(fileURLWithPath: printed)
    }

    /// Runs a program; returns its stdout, or throws with its status (its
    /// stderr goes to ours).
    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError(
                "\(program) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
