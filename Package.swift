// swift-tools-version:6.0
import PackageDescription

// PMemKit: a kernel-style C shim (CShims/) over libndctl, libdaxctl and libpmem,
// and a Swift control plane (Sources/) with one module per capability.
let package = Package(
    name: "PMemKit",
    products: [
        .library(name: "PMemKit", targets: ["PMemKit"]),
        .library(name: "PMemHeap", targets: ["PMemHeap"]),
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
        .systemLibrary(
            name: "CPmem", path: "CShims/CPmem", pkgConfig: "libpmem",
            providers: [.apt(["libpmem-dev"])]),
        .systemLibrary(
            name: "CPmemobj", path: "CShims/CPmemobj", pkgConfig: "libpmemobj",
            providers: [.apt(["libpmemobj-dev"])]),
        // libclang (Debian libclang-dev, LLVM 14): include/clang-c links to its headers.
        .target(
            name: "CClang", path: "CShims/CClang",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra"])],
            linkerSettings: [.linkedLibrary("clang-14")]),

        // The shim: topology, provisioning, CPU flush primitives, deep flush. Mechanism only.
        .target(
            name: "CPMemShim", dependencies: ["CNdctl", "CDaxctl", "CCxl", "CPmem"],
            path: "CShims/CPMemShim",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror=implicit-function-declaration"])],
            linkerSettings: [.linkedLibrary("uuid")]),

        .target(
            name: "PMemKit",
            dependencies: ["CPMemShim", .product(name: "Logging", package: "swift-log")]),

        // The heap: atomics, checksums and the swizzling loop in C; policy in Swift.
        .target(
            name: "CPMemHeap", dependencies: ["CPMemShim"], path: "CShims/CPMemHeap",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror=implicit-function-declaration"])]),
        .target(name: "PMemHeap", dependencies: ["PMemKit", "CPMemHeap", "CPMemShim", "PMemProtect"]),
        // The crash-test child: runs a heap workload until killed, and verifies a pool.
        .executableTarget(name: "heap-crash-child", dependencies: ["PMemHeap", "PMemKit"]),

        // Replication: the log region on PMem, the HA agent, replicas, failover.
        .target(
            name: "PMemReplication",
            dependencies: [
                "PMemHeap", "PMemKit", "CPMemHeap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The replication test child: a heap application whose commits are replicated.
        .executableTarget(name: "repl-workload", dependencies: ["PMemReplication", "PMemHeap", "PMemKit"]),

        // KVM ioctls and the guest ABI (mechanism), and the micro-VMM with virtual flush hints (policy).
        .target(
            name: "CKVMShim", path: "CShims/CKVMShim",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror=implicit-function-declaration"])]),
        .target(name: "PMemVirt", dependencies: ["PMemKit", "CPMemShim", "CKVMShim"]),

        // Conversion analysis: a C application's persistent-state types, through libclang.
        .target(name: "PMemScan", dependencies: ["CClang"]),

        // Page access policy in a process: the fault path in C (mechanism), policy and handlers in Swift.
        .target(
            name: "CFaultShim", path: "CShims/CFaultShim",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror=implicit-function-declaration"])]),
        .target(name: "PMemProtect", dependencies: ["PMemKit", "CFaultShim"]),
        // libsigsegv: the baseline of pmem-bench protect (no pkg-config file).
        .systemLibrary(name: "CSigsegv", path: "CShims/CSigsegv", providers: [.apt(["libsigsegv-dev"])]),

        .executableTarget(
            name: "pmemctl",
            dependencies: [
                "PMemKit", "PMemVirt", "PMemScan", "PMemHeap", "PMemReplication", "PMemProtect",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "pmem-bench",
            dependencies: [
                "PMemKit", "PMemVirt", "PMemScan", "PMemHeap", "PMemReplication", "PMemProtect",
                "CPmem", "CPmemobj", "CFaultShim", "CSigsegv",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Helpers shared by the test targets: temporary files, running the built CLI.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "PMemKitTests", dependencies: ["PMemKit", "CPMemShim", "TestSupport"]),
        .testTarget(name: "PMemCTLTests", dependencies: ["PMemKit", "TestSupport"]),
        .testTarget(
            name: "PMemScanTests", dependencies: ["PMemScan", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "PMemHeapTests", dependencies: ["PMemHeap", "PMemKit", "PMemProtect", "TestSupport"]),
        .testTarget(name: "HardwareTests", dependencies: ["PMemKit", "PMemHeap", "CPMemShim"]),
        .testTarget(
            name: "PMemReplicationTests",
            dependencies: [
                "PMemReplication", "PMemHeap", "PMemKit", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(name: "PMemVirtTests", dependencies: ["PMemVirt", "PMemKit", "CKVMShim", "TestSupport"]),
        .testTarget(
            name: "PMemProtectTests", dependencies: ["PMemProtect", "PMemKit", "CFaultShim", "TestSupport"]),
    ]
)
