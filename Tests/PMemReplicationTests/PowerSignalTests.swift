import Foundation
import Logging
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// Real power signals: a fake sysfs power supply class whose mains supply
/// goes offline starts the drain, and the drain report says which signal
/// started it (the monitor, a UPS daemon through the control socket).
final class PowerSignalTests: XCTestCase {
    private let psk = try! PreSharedKey(bytes: [UInt8](repeating: 9, count: 32))

    /// A power supply class like a laptop's or a server's: `AC` (Mains) and `BAT0` (Battery).
    private func fakeSupplies(_ dir: TemporaryDirectory, mains: Bool = true) throws -> String {
        let root = dir.file("power_supply")
        for (name, type) in (mains ? [("AC", "Mains")] : []) + [("BAT0", "Battery")] {
            try FileManager.default.createDirectory(
                atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            try "\(type)\n".write(toFile: "\(root)/\(name)/type", atomically: true, encoding: .utf8)
            try "1\n".write(toFile: "\(root)/\(name)/online", atomically: true, encoding: .utf8)
        }
        return root
    }

    /// An agent shipping `dir`'s log to a new replica, run on its own thread.
    private final class Rig: @unchecked Sendable {
        let agent: HAAgent
        let server: ReplicaServer
        let store: ReplicaStore
        private var thread: AgentThread?
        var report: DrainReport? { thread?.report }

        init(dir: TemporaryDirectory, psk: PreSharedKey, powerRoot: String?) throws {
            let logger = quietLogger("power-test")
            store = try ReplicaStore(directory: dir.file("store"))
            server = ReplicaServer(store: store, psk: psk, logger: logger)
            let port = try server.start(listening: Endpoint(host: "127.0.0.1", port: 0))
            var configuration = HAAgent.Configuration(
                logPath: dir.file("log"), replicas: [Endpoint(host: "127.0.0.1", port: port)], psk: psk,
                batteryMilliseconds: 20_000, controlSocket: dir.file("log.sock"))
            configuration.handlesSignals = false
            configuration.powerSupplyRoot = powerRoot
            agent = try HAAgent(configuration: configuration, logger: logger)
            thread = AgentThread(agent)
        }

        func ended(within seconds: Double) -> Bool { thread?.ended(within: seconds) ?? true }
    }

    func testMainsGoingOfflineStartsADrainThatNamesIt() throws {
        let dir = TemporaryDirectory()
        let root = try fakeSupplies(dir)
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(100)
        let rig = try Rig(dir: dir, psk: psk, powerRoot: root)
        // A sysfs hiccup (the attribute unreadable for a moment) is not a power loss.
        try FileManager.default.removeItem(atPath: "\(root)/AC/online")
        usleep(400_000)
        XCTAssertEqual(try rig.agent.status().state, "running")
        try "0\n".write(toFile: "\(root)/AC/online", atomically: true, encoding: .utf8)
        XCTAssertTrue(rig.ended(within: 20), "the drain ran and ended")
        let report = try XCTUnwrap(rig.report)
        XCTAssertEqual(report.trigger, "mains-offline")
        XCTAssertTrue(report.reason.contains("\(root)/AC/online = 0"), report.reason)
        XCTAssertTrue(report.complete)
        XCTAssertEqual(rig.store.state.lastTransaction, list.heap.lastCommittedSequence)
        try rig.server.close()
        try list.close()
    }

    func testAUPSDaemonsNoticeIsNamedInTheReport() throws {
        let dir = TemporaryDirectory()
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(10)
        let rig = try Rig(dir: dir, psk: psk, powerRoot: nil)
        // What NUT's NOTIFYCMD script runs (docs/REPLICATION.md), control characters and all.
        // The agent's thread opens its control socket as it starts: asked until it answers.
        var answer: String?
        let deadline = Date().addingTimeInterval(10)
        while answer == nil && Date() < deadline {
            answer = try? AgentControl.send(
                "power-fail NUT ONBATT: UPS ups@localhost on battery\u{7}", socket: dir.file("log.sock"))
            if answer == nil { usleep(20_000) }
        }
        XCTAssertEqual(answer, "draining\n")
        XCTAssertTrue(rig.ended(within: 20))
        let report = try XCTUnwrap(rig.report)
        XCTAssertEqual(report.trigger, "control")
        XCTAssertEqual(
            report.reason,
            "power failure notice (pmemctl ha power-fail: NUT ONBATT: UPS ups@localhost on battery)")
        try rig.server.close()
        try list.close()
    }

    func testAMachineWithoutAMainsSupplyIsRefusedInOneLine() throws {
        let dir = TemporaryDirectory()
        let root = try fakeSupplies(dir, mains: false)
        _ = try LogRegion.openOrCreate(path: dir.file("log"), capacity: 1 << 20)
        var configuration = HAAgent.Configuration(
            logPath: dir.file("log"), replicas: [Endpoint(host: "127.0.0.1", port: 9)], psk: psk)
        configuration.powerSupplyRoot = root
        XCTAssertThrowsError(try HAAgent(configuration: configuration)) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .notFound)
            XCTAssertTrue("\(error)".contains("no mains power supply (type Mains or UPS"), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"))
        }
        let usage = try CLI.run(["ha", "power-fail", "--log", dir.file("log"), "--reason", ""])
        XCTAssertEqual(usage.status, 2, usage.stderr)
        XCTAssertTrue(usage.stderr.contains("--reason must be 1 to 200 bytes on one line"), usage.stderr)
    }
}
