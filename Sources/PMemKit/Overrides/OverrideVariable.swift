/// One `PMEMKIT_*` environment variable PMemKit knows: its name, what values
/// it takes, and what it changes. `OverrideVariable.all` is the one list; a
/// `PMEMKIT_*` name not on it is an error (a typo never passes silently).
public struct OverrideVariable: Sendable, Hashable, CustomStringConvertible {
    /// What a value must look like.
    public enum Kind: Sendable, Hashable {
        /// `1` (on) or `0` (off); unset is off.
        case flag
        /// One word of a fixed set.
        case choice([String])
        /// A byte count with an optional K/M/G suffix (`4K`).
        case byteSize
        /// A hexadecimal address, `0x` optional.
        case address
        /// A positive decimal integer.
        case count
        /// A crash point: a positive integer `N`, or `PREFIX:N` (`CrashPlan`).
        case crashPoint
        /// Anything: set by PMemKit itself for a child (fault commands) or
        /// by the test harness; known, so never an unknown-name error.
        case informational
    }

    /// `PMEMKIT_NO_CLWB`.
    public let name: String
    /// What a value must look like.
    public let kind: Kind
    /// The module that acts on it.
    public let module: String
    /// What it changes, in one line.
    public let meaning: String

    /// The accepted values in words, for error messages: `0 or 1`, `auto, pkeys, ...`.
    public var accepted: String {
        switch kind {
        case .flag: return "1 (on) or 0 (off)"
        case .choice(let words): return words.joined(separator: ", ")
        case .byteSize: return "a size in bytes, with an optional K, M or G suffix (4K)"
        case .address: return "a hexadecimal address (0x7f0000000000)"
        case .count: return "a positive integer"
        case .crashPoint:
            return "a positive integer N, or PREFIX:N (the N-th point whose label starts with PREFIX)"
        case .informational: return "any value"
        }
    }

    /// The name.
    public var description: String { name }
}

extension OverrideVariable {
    private static func flag(_ name: String, _ module: String, _ meaning: String) -> OverrideVariable {
        OverrideVariable(name: name, kind: .flag, module: module, meaning: meaning)
    }

    // Persist paths (PMemKit, like libpmem2's PMEM_NO_CLWB and friends).
    /// Skip `clwb`: flush with `clflushopt` or `clflush`.
    public static let noCLWB = flag("PMEMKIT_NO_CLWB", "PMemKit", "flush without clwb")
    /// Skip `clflushopt`: flush with `clflush`.
    public static let noCLFlushOpt = flag("PMEMKIT_NO_CLFLUSHOPT", "PMemKit", "flush without clflushopt")
    /// Treat every region as eADR: fence only, no flush.
    public static let forceEADR = flag("PMEMKIT_FORCE_EADR", "PMemKit", "assume eADR: fence, never flush")
    /// No non-temporal stores in copies.
    public static let noMovnt = flag("PMEMKIT_NO_MOVNT", "PMemKit", "copies use plain stores and flush")
    /// No AVX (nor AVX-512) streaming stores: SSE2.
    public static let noAVX = flag("PMEMKIT_NO_AVX", "PMemKit", "stream with SSE2, not AVX")
    /// No AVX-512 streaming stores: AVX.
    public static let noAVX512F = flag("PMEMKIT_NO_AVX512F", "PMemKit", "stream with AVX, not AVX-512")
    /// Copies at least this long stream whole lines.
    public static let movntThreshold = OverrideVariable(
        name: "PMEMKIT_MOVNT_THRESHOLD", kind: .byteSize, module: "PMemKit",
        meaning: "copies of at least this many bytes stream whole lines")
    /// What a plain file counts as.
    public static let fileBacking = OverrideVariable(
        name: "PMEMKIT_FILE_BACKING", kind: .choice(["emulated", "file"]), module: "PMemKit",
        meaning: "what a plain file counts as: emulated PMem (CPU flushes) or file (msync)")
    /// swift-log level of the command-line tools.
    public static let logLevel = OverrideVariable(
        name: "PMEMKIT_LOG_LEVEL",
        kind: .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        module: "pmemctl", meaning: "how much pmemctl and pmem-bench log on stderr")

    // The heap.
    /// Map pools at exactly this base.
    public static let heapBase = OverrideVariable(
        name: "PMEMKIT_HEAP_BASE", kind: .address, module: "PMemHeap",
        meaning: "open pools at exactly this address")
    /// Map pools where every pointer must move.
    public static let heapRelocate = flag(
        "PMEMKIT_HEAP_RELOCATE", "PMemHeap",
        "open pools away from their recorded base (relocate every pointer)")
    /// Guarded mode by default.
    public static let heapGuarded = flag(
        "PMEMKIT_HEAP_GUARDED", "PMemHeap", "keep slabs read-only outside transactions")

    // Crash injection (the crash campaign; any module with crash points).
    /// Die at the N-th crash point (`N`), or at the N-th whose label starts with a prefix (`PREFIX:N`).
    public static let crashAt = OverrideVariable(
        name: "PMEMKIT_CRASH_AT", kind: .crashPoint, module: "PMemKit",
        meaning: "crash tests: SIGKILL at the N-th crash point, or the N-th labelled PREFIX... (PREFIX:N)")
    /// Name each crash point counted on stderr, and how many at exit.
    public static let crashLog = flag(
        "PMEMKIT_CRASH_LOG", "PMemKit", "crash tests: print each crash point counted, and the total at exit")

    // Page access policy.
    /// The protection mechanism.
    public static let protectMechanism = OverrideVariable(
        name: "PMEMKIT_PROTECT_MECHANISM", kind: .choice(["auto", "pkeys", "userfaultfd", "mprotect"]),
        module: "PMemProtect", meaning: "how page access is enforced")
    /// How userfaultfd delivers faults.
    public static let uffdDelivery = OverrideVariable(
        name: "PMEMKIT_UFFD_DELIVERY", kind: .choice(["auto", "signal", "message"]), module: "PMemProtect",
        meaning: "how userfaultfd hands a fault over")

    // Virtualization.
    /// The vFHA page's policy.
    public static let fhaPolicy = OverrideVariable(
        name: "PMEMKIT_FHA_POLICY", kind: .choice(["auto", "trap", "passthrough"]), module: "PMemVirt",
        meaning: "whether guest flush-hint writes trap")
    /// The flush instruction offered to guests.
    public static let guestFlush = OverrideVariable(
        name: "PMEMKIT_GUEST_FLUSH", kind: .choice(["clwb", "clflushopt", "clflush"]), module: "PMemVirt",
        meaning: "the best flush instruction guests are offered")

    /// The variables that change behaviour (`pmemctl info` lists those set).
    public static let overrides: [OverrideVariable] = [
        noCLWB, noCLFlushOpt, forceEADR, noMovnt, noAVX, noAVX512F, movntThreshold, fileBacking, logLevel,
        heapBase, heapRelocate, heapGuarded, crashAt, crashLog, protectMechanism, uffdDelivery,
        fhaPolicy, guestFlush,
    ]

    /// Variables PMemKit sets for a fault command's environment, and the
    /// test harness's switches: known names, any value, no effect on a library.
    public static let informational: [OverrideVariable] =
        [
            ("PMEMKIT_FAULT_GPA", "PMemVirt", "set for a fault command: the guest physical address"),
            ("PMEMKIT_FAULT_RIP", "PMemVirt", "set for a fault command: the guest instruction pointer"),
            ("PMEMKIT_FAULT_ACCESS", "PMemVirt", "set for a fault command: read, write or execute"),
            ("PMEMKIT_FAULT_VALUE", "PMemVirt", "set for a fault command: the value written"),
            ("PMEMKIT_FAULT_LENGTH", "PMemVirt", "set for a fault command: the access's bytes"),
            ("PMEMKIT_FAULT_VCPU", "PMemVirt", "set for a fault command: the faulting vCPU"),
            ("PMEMKIT_FAULT_PAGE_ACCESS", "PMemVirt", "set for a fault command: the page's access"),
            ("PMEMKIT_POOL", "PMemReplication", "set for a failover node's application: the pool to open"),
            ("PMEMKIT_LOG", "PMemReplication", "set for a failover node's application: its replication log"),
            (
                "PMEMKIT_EPOCH", "PMemReplication",
                "set for a failover node's application: the epoch it leads at"
            ),
            ("PMEMKIT_NODE", "PMemReplication", "set for a failover node's application: the node's name"),
            ("PMEMKIT_REQUIRE_HW", "tests", "fail instead of skipping tests that need an NVDIMM"),
            ("PMEMKIT_REQUIRE_PKEYS", "tests", "fail instead of skipping tests that need pku"),
            ("PMEMKIT_REQUIRE_KVM", "tests", "fail instead of skipping tests that need KVM"),
            ("PMEMKIT_LAB_PHASE", "tests", "the lab's boot: write or verify"),
            ("PMEMKIT_LAB_NONCE", "tests", "the lab run's pattern seed"),
            ("PMEMKIT_LAB_DEVDAX", "tests", "the lab's devdax device"),
            ("PMEMKIT_LAB_CXL_DEVDAX", "tests", "the lab's CXL devdax device"),
            ("PMEMKIT_TEST_REGION", "tests", "the region hardware tests may change"),
            ("PMEMKIT_TEST_CXL_MEMDEV", "tests", "the memdev CXL tests may change"),
            ("PMEMKIT_DAX_MOUNT", "tests", "a DAX file system for MAP_SYNC tests"),
            ("PMEMKIT_EXPECT_PERSISTENCE", "tests", "the persistence domain the lab expects"),
            ("PMEMKIT_CRASH_LONG", "tests", "run the long crash campaigns"),
            ("PMEMKIT_CRASH_SEED", "tests", "the crash campaign's seed (replay a failing phase's draws)"),
            ("PMEMKIT_GUARD_CHILD", "tests", "run as a guard test's child process"),
            ("PMEMKIT_GUARDED_HEAP_CHILD", "tests", "run as a guarded heap test's child process"),
            ("PMEMKIT_SIGNAL_HANDLER_CHILD", "tests", "run as a signal handler test's child process"),
            ("PMEMKIT_CONSUMER_CACHE", "tools", "consumer-check's build cache"),
        ].map { OverrideVariable(name: $0.0, kind: .informational, module: $0.1, meaning: $0.2) } + [
            benchCases
        ]

    /// pmem-bench: run only the cases whose names start with one of these (comma-separated).
    public static let benchCases = OverrideVariable(
        name: "PMEMKIT_BENCH_CASES", kind: .informational, module: "pmem-bench",
        meaning: "run only the cases with these prefixes (alloc,tx)")

    /// Every `PMEMKIT_*` name PMemKit knows.
    public static let all: [OverrideVariable] = overrides + informational

    /// The known variable called `name`, if any.
    public static func named(_ name: String) -> OverrideVariable? {
        all.first { $0.name == name }
    }
}
