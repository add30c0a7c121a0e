import Foundation
import PMemKit
import XCTest

/// `pmemctl list --json --health` against ndctl's own `list -BDRNHMv` on the same
/// machine state (nfit_test's buses, a labelled fsdax and devdax namespace, an
/// injected media error): every key the two share must hold the same value, so a
/// user moving from ndctl reads the same words the same way.
final class NfitTestListTests: XCTestCase {
    let janitor = NamespaceJanitor()

    override func tearDown() {
        janitor.cleanUp()
    }

    func testListWordsMeanWhatNdctlsMean() throws {
        _ = try NfitTestGate.buses()
        guard let ndctl = findTool(["/usr/bin/ndctl", "/bin/ndctl"]) else {
            throw HardwareGate.unavailableError("ndctl is not installed")
        }
        let region = try NfitTestGate.region(deepFlush: .supported)
        let fsdax = try janitor.create(
            in: region.name, NamespaceRequest(mode: .fsdax, size: 16 << 20, name: "cmp-fsdax"))
        let devdax = try janitor.create(
            in: region.name, NamespaceRequest(mode: .devdax, size: 16 << 20, align: 4096, name: "cmp-devdax"))
        // A media error two sectors long in the fsdax namespace's data.
        try runTool(ndctl, ["inject-error", "--block=64", "--count=2", fsdax.name])
        defer {
            _ = try? runTool(ndctl, ["inject-error", "--uninject", "--block=64", "--count=2", fsdax.name])
        }

        let theirs = try XCTUnwrap(
            try ListComparison.json("\(ndctl) list -BDRNHMv") as? [[String: Any]], "ndctl list")
        let ours = try XCTUnwrap(
            try ListComparison.json("\(HardwareGate.pmemctl) list --json --health") as? [String: Any],
            "pmemctl list")
        let ourBuses = ListComparison.byDev(ours["buses"] as? [[String: Any]])
        var compared = 0
        var namespacesSeen: Set<String> = []
        for bus in theirs {
            let dev = try XCTUnwrap(bus["dev"] as? String)
            let mine = try XCTUnwrap(ourBuses[dev], "pmemctl has no bus \(dev)")
            compared += ListComparison.compare(dev, ndctl: bus, ours: mine, keys: ["provider"])
            let myDIMMs = ListComparison.byDev(mine["dimms"] as? [[String: Any]])
            for dimm in bus["dimms"] as? [[String: Any]] ?? [] {
                let name = try XCTUnwrap(dimm["dev"] as? String)
                let my = try XCTUnwrap(myDIMMs[name], "pmemctl has no DIMM \(name)")
                let flags =
                    dimm.keys.filter { $0.hasPrefix("flag_") } + my.keys.filter { $0.hasPrefix("flag_") }
                compared += ListComparison.compare(
                    name, ndctl: dimm, ours: my, keys: ["id", "handle", "phys_id"] + flags)
                XCTAssertEqual(
                    Set(dimm.keys.filter { $0.hasPrefix("flag_") }),
                    Set(my.keys.filter { $0.hasPrefix("flag_") }),
                    "\(name): the same flags")
                if let health = dimm["health"] as? [String: Any] {
                    let myHealth = try XCTUnwrap(
                        my["health"] as? [String: Any], "\(name): pmemctl has no health")
                    compared += ListComparison.compare(
                        "\(name) health", ndctl: health, ours: myHealth, keys: Array(health.keys))
                } else {
                    XCTAssertNil(my["health"], "\(name): ndctl reports no health, pmemctl does")
                }
            }
            let myRegions = ListComparison.byDev(mine["regions"] as? [[String: Any]])
            for r in bus["regions"] as? [[String: Any]] ?? [] {
                let name = try XCTUnwrap(r["dev"] as? String)
                let my = try XCTUnwrap(myRegions[name], "pmemctl has no region \(name)")
                compared += ListComparison.compare(
                    name, ndctl: r, ours: my,
                    keys: [
                        "size", "align", "available_size", "max_available_extent", "type", "numa_node",
                        "persistence_domain", "badblock_count",
                    ])
                XCTAssertEqual(
                    r["badblock_count"] as? Int ?? 0, my["badblock_count"] as? Int, "\(name): bad sectors")
                if let mappings = r["mappings"] as? [[String: Any]] {
                    let mine = (my["mappings"] as? [[String: Any]] ?? []).sorted {
                        ($0["position"] as? Int ?? 0) < ($1["position"] as? Int ?? 0)
                    }
                    let sorted = mappings.sorted {
                        ($0["position"] as? Int ?? 0) < ($1["position"] as? Int ?? 0)
                    }
                    XCTAssertEqual(sorted.count, mine.count, "\(name): mappings")
                    for (a, b) in zip(sorted, mine) {
                        compared += ListComparison.compare(
                            "\(name) mapping", ndctl: a, ours: b,
                            keys: ["dimm", "offset", "length", "position"])
                    }
                }
                let myNamespaces = ListComparison.byDev(my["namespaces"] as? [[String: Any]])
                for n in r["namespaces"] as? [[String: Any]] ?? [] {
                    let nsName = try XCTUnwrap(n["dev"] as? String)
                    let myNS = try XCTUnwrap(myNamespaces[nsName], "pmemctl has no namespace \(nsName)")
                    namespacesSeen.insert(nsName)
                    compared += ListComparison.compare(
                        nsName, ndctl: n, ours: myNS,
                        keys: [
                            "mode", "size", "uuid", "raw_uuid", "blockdev", "chardev", "align", "name",
                            "badblock_count", "badblocks",
                        ])
                    XCTAssertEqual(
                        n["badblock_count"] as? Int ?? 0, myNS["badblock_count"] as? Int,
                        "\(nsName): bad sectors")
                }
            }
        }
        XCTAssertTrue(namespacesSeen.isSuperset(of: [fsdax.name, devdax.name]), "\(namespacesSeen)")
        let fsdaxJSON = try XCTUnwrap(
            ListComparison.byDev(
                ourBuses.values.flatMap { ($0["regions"] as? [[String: Any]]) ?? [] }.flatMap {
                    ($0["namespaces"] as? [[String: Any]]) ?? []
                })[fsdax.name])
        XCTAssertNotNil(
            fsdaxJSON["raw_uuid"], "an fsdax namespace has both the info block's and the label's uuid")
        XCTAssertNotEqual(fsdaxJSON["uuid"] as? String, fsdaxJSON["raw_uuid"] as? String)
        XCTAssertEqual(fsdaxJSON["badblock_count"] as? Int, 2, "the injected error")
        XCTAssertEqual(fsdaxJSON["name"] as? String, "cmp-fsdax")
        print("NfitTestListTests: \(compared) values compared with ndctl list -BDRNHMv")
        XCTAssertGreaterThan(compared, 100)
    }
}
