// swift-tools-version:6.2
import PackageDescription

// PMemKit: a kernel-style C shim (CShims/) over libndctl, libdaxctl and libcxl,
// and a Swift control plane (Sources/) with one library product per capability.
//
// Strictness without unsafe flags (which SwiftPM refused in a versioned
// dependency before tools 6.2, and tools/consumer-check refuses still): C
// targets build with -Wall -Wextra and every warning an error, Swift targets
// with every warning an error. These are warning-control settings (SE-0480):
// they apply when this package is built itself (tools/test, CI), and SwiftPM
// suppresses a remote dependency's warnings, so a user's newer compiler with
// new warnings cannot break their build.
let strictC: [CSetting] = [
    .enableWarning("all"), .enableWarning("extra"),
    .treatWarning("implicit-function-declaration", as: .error),
    .treatAllWarnings(as: .error),
]
let strictSwift: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "PMemKit",
    products: [
        // The foundation: topology, provisioning, mappings, persist paths, deep flush.
        .library(name: "PMemKit", targets: ["PMemKit"]),
        // One library per capability.
        .library(name: "PMemHeap", targets: ["PMemHeap"]),
        .library(name: "PMemReplication", targets: ["PMemReplication"]),
        .library(name: "PMemProtect", targets: ["PMemProtect"]),
        .library(name: "PMemVirt", targets: ["PMemVirt"]),
        .library(name: "PMemScan", targets: ["PMemScan"]),
        // The C API (pmemkit.h, pmemkit.pc): libpmemkit.so for C and C++ programs.
        .library(name: "pmemkit", type: .dynamic, targets: ["PMemKitC"]),
        .executable(name: "pmemctl", targets: ["pmemctl"]),
        .executable(name: "pmem-bench", targets: ["pmem-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Replication: networking, the pre-shared-key handshake and frame MACs, metrics.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"4.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(
            name: "CNdctl", path: "CShims/CNdctl", pkgConfig: "libndctl",
            providers: [.apt(["libndctl-dev"])]),
        .systemLibrary(
            name: "CDaxctl", path: "CShims/CDaxctl", pkgConfig: "libdaxctl",
            providers: [.apt(["libdaxctl-dev"])]),
        .systemLibrary(
            name: "CCxl", path: "CShims/CCxl", pkgConfig: "libcxl",
            providers: [.apt(["libcxl-dev"])]),
        // libpmem and libpmemobj: the baselines pmem-bench measures against (nothing else links them).
        .systemLibrary(
            name: "CPmem", path: "CShims/CPmem", pkgConfig: "libpmem",
            providers: [.apt(["libpmem-dev"])]),
        .systemLibrary(
            name: "CPmemobj", path: "CShims/CPmemobj", pkgConfig: "libpmemobj",
            providers: [.apt(["libpmemobj-dev"])]),
        // libclang (Debian libclang-dev, LLVM 14): include/clang-c links to its headers.
        .target(
            name: "CClang", path: "CShims/CClang", cSettings: strictC,
            linkerSettings: [.linkedLibrary("clang-14")]),

        // The shim: CPU features (detected once), flushes, streaming stores, checksums,
        // atomics, topology and provisioning. Mechanism only; every capability's C
        // target builds on it.
        .target(
            name: "CPMemShim", dependencies: ["CNdctl", "CDaxctl", "CCxl"], path: "CShims/CPMemShim",
            cSettings: strictC, linkerSettings: [.linkedLibrary("uuid")]),

        .target(
            name: "PMemKit",
            dependencies: ["CPMemShim", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift),

        // The heap: the on-media layouts and the swizzling loop in C; policy in Swift.
        .target(
            name: "CPMemHeap", path: "CShims/CPMemHeap", cSettings: strictC),
        .target(
            name: "PMemHeap", dependencies: ["PMemKit", "CPMemHeap", "PMemProtect"],
            swiftSettings: strictSwift),

        // Replication: the on-media layouts in C (declarations only); the log region on PMem,
        // the HA agent, replicas, failover in Swift.
        .target(name: "CPMemReplication", path: "CShims/CPMemReplication", cSettings: strictC),
        .target(
            name: "PMemReplication",
            dependencies: [
                "PMemHeap", "PMemKit", "CPMemReplication",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),

        // KVM ioctls and the guest ABI (mechanism), and the micro-VMM with virtual flush hints (policy).
        .target(name: "CKVMShim", path: "CShims/CKVMShim", cSettings: strictC),
        .target(name: "PMemVirt", dependencies: ["PMemKit", "CKVMShim"], swiftSettings: strictSwift),

        // Conversion analysis: a C application's persistent-state types, through libclang.
        .target(name: "PMemScan", dependencies: ["CClang"], swiftSettings: strictSwift),

        // Page access policy in a process: the fault path in C (mechanism), policy and handlers in Swift.
        .target(
            name: "CFaultShim", dependencies: ["CPMemShim"], path: "CShims/CFaultShim", cSettings: strictC),
        .target(name: "PMemProtect", dependencies: ["PMemKit", "CFaultShim"], swiftSettings: strictSwift),
        // libsigsegv: the baseline of pmem-bench protect (no pkg-config file).
        .systemLibrary(name: "CSigsegv", path: "CShims/CSigsegv", providers: [.apt(["libsigsegv-dev"])]),

        // The C API: pmemkit.h and the per-thread state in C, every function in Swift (@_cdecl).
        .target(name: "CPMemKitAPI", path: "CShims/CPMemKitAPI", cSettings: strictC),
        .target(
            name: "PMemKitC", dependencies: ["CPMemKitAPI", "PMemReplication", "PMemHeap", "PMemKit"],
            swiftSettings: strictSwift),

        .executableTarget(
            name: "pmemctl",
            dependencies: [
                "PMemKit", "PMemVirt", "PMemScan", "PMemHeap", "PMemReplication", "PMemProtect",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),
        .executableTarget(
            name: "pmem-bench",
            dependencies: [
                "PMemKit", "PMemVirt", "PMemScan", "PMemHeap", "PMemReplication", "PMemProtect",
                "CPmem", "CPmemobj", "CSigsegv",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),

        // Test-only programs, run by the tests as child processes (not products):
        // a heap workload killed at crash points, and a replicated application.
        .executableTarget(
            name: "heap-crash-child", dependencies: ["PMemHeap", "PMemKit"],
            path: "Tests/Executables/heap-crash-child", swiftSettings: strictSwift),
        .executableTarget(
            name: "repl-workload", dependencies: ["PMemReplication", "PMemHeap", "PMemKit"],
            path: "Tests/Executables/repl-workload", swiftSettings: strictSwift),

        // Fuzz targets (tools/fuzz, docs/RELIABILITY.md): one executable per parser of untrusted
        // bytes, whose LLVMFuzzerTestOneInput libFuzzer drives when tools/fuzz builds them with
        // -sanitize=fuzzer,address -DFUZZING (flags from its command line, none here); a plain
        // build makes each a replayer of inputs and the writer of its seed corpus.
        .target(
            name: "FuzzSupport",
            dependencies: ["PMemHeap", "PMemReplication", "PMemKit", "CPMemHeap", "CPMemReplication"],
            path: "Tests/Fuzz/Support", swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-heap-pool", dependencies: ["FuzzSupport", "PMemHeap", "CPMemHeap", "PMemKit"],
            path: "Tests/Fuzz/heap-pool",
            swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-redo-record",
            dependencies: ["FuzzSupport", "PMemHeap", "CPMemHeap", "PMemReplication", "PMemKit"],
            path: "Tests/Fuzz/redo-record",
            swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-log-records",
            dependencies: ["FuzzSupport", "PMemReplication", "CPMemReplication", "PMemKit"],
            path: "Tests/Fuzz/log-records",
            swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-replica-store", dependencies: ["FuzzSupport", "PMemReplication", "PMemKit"],
            path: "Tests/Fuzz/replica-store",
            swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-wire",
            dependencies: [
                "FuzzSupport", "PMemReplication", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ], path: "Tests/Fuzz/wire",
            swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-control",
            dependencies: [
                "FuzzSupport", "PMemReplication", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ], path: "Tests/Fuzz/control",
            swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-sysfs-text",
            dependencies: ["FuzzSupport", "PMemKit", "CPMemShim", "PMemReplication"],
            path: "Tests/Fuzz/sysfs-text",
            swiftSettings: strictSwift),
        .executableTarget(
            name: "fuzz-compile-db", dependencies: ["FuzzSupport", "PMemScan"], path: "Tests/Fuzz/compile-db",
            swiftSettings: strictSwift),

        // Helpers shared by the test targets: temporary files, running the built CLI.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strictSwift),
        .testTarget(
            name: "PMemKitTests", dependencies: ["PMemKit", "CPMemShim", "TestSupport"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "PMemCTLTests", dependencies: ["PMemKit", "TestSupport"], swiftSettings: strictSwift),
        .testTarget(
            name: "PMemScanTests", dependencies: ["PMemScan", "TestSupport"], exclude: ["Fixtures"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "PMemHeapTests",
            dependencies: ["PMemHeap", "CPMemHeap", "PMemKit", "PMemProtect", "TestSupport"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "HardwareTests", dependencies: ["PMemKit", "PMemHeap", "PMemVirt", "CPMemShim"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "PMemReplicationTests",
            dependencies: [
                "PMemReplication", "CPMemReplication", "PMemHeap", "PMemKit", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSwift),
        .testTarget(
            name: "PMemVirtTests", dependencies: ["PMemVirt", "PMemKit", "CKVMShim", "TestSupport"],
            swiftSettings: strictSwift),
        .testTarget(
            name: "PMemProtectTests", dependencies: ["PMemProtect", "PMemKit", "CFaultShim", "TestSupport"],
            swiftSettings: strictSwift),
    ]
)
