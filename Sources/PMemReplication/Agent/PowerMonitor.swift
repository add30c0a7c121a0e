import Foundation
import PMemKit

/// Watches the machine's power supplies in sysfs (`/sys/class/power_supply`,
/// or a fake root in tests): when every mains supply (type `Mains`, or a
/// `UPS` that reports through the kernel) says `online` is 0, the machine
/// runs on battery and the agent must drain. Polled on a thread of its own
/// (sysfs attributes cannot be waited on portably; reading two small files
/// costs microseconds), every `interval`.
final class PowerMonitor: @unchecked Sendable {
    /// A supply that carries mains power, and the file that says whether it does now.
    struct Supply: Equatable {
        /// Its sysfs name (`AC`, `ACAD`, `ups0`, ...).
        let name: String
        /// Its `type` (`Mains` or `UPS`).
        let type: String
        /// Its `online` attribute.
        let onlinePath: String
    }

    /// The supplies watched.
    let supplies: [Supply]
    private let interval: Duration
    private let stopped = LockedFlag()

    /// Finds the mains supplies under `root`; throws `notFound` naming the
    /// root when there is none (nothing could ever start a drain).
    init(root: String, interval: Duration = .milliseconds(100)) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root))?.sorted() ?? []
        supplies = names.compactMap { name in
            let directory = "\(root)/\(name)"
            guard
                let type = KernelText.read("\(directory)/type", limit: 4096)?.trimmingCharacters(
                    in: .whitespacesAndNewlines),
                type == "Mains" || type == "UPS",
                FileManager.default.fileExists(atPath: "\(directory)/online")
            else { return nil }
            return Supply(name: name, type: type, onlinePath: "\(directory)/online")
        }
        guard !supplies.isEmpty else {
            throw PMemError(
                .notFound, operation: "power monitor",
                detail: "no mains power supply (type Mains or UPS with an 'online' file) under \(root); "
                    + "a UPS daemon can call `pmemctl ha power-fail` instead")
        }
        self.interval = interval
    }

    /// Whether a supply says it is online now (unreadable: assumed online, so
    /// a sysfs hiccup never drains a machine that has power).
    static func isOnline(_ supply: Supply) -> Bool {
        guard
            let text = KernelText.read(supply.onlinePath, limit: 4096)?.trimmingCharacters(
                in: .whitespacesAndNewlines)
        else { return true }
        return text != "0"
    }

    /// Why the machine is on battery now (naming each supply and what it
    /// said), or nil while some supply is online.
    func batteryReason() -> String? {
        guard supplies.allSatisfy({ !Self.isOnline($0) }) else { return nil }
        let which = supplies.map { "\($0.onlinePath) = 0" }.joined(separator: ", ")
        return "mains power lost (\(which))"
    }

    /// Calls `onBattery` once, from the monitor's thread, when every mains
    /// supply is offline (at once if they are now).
    func start(onBattery: @escaping @Sendable (String) -> Void) {
        let interval = self.interval
        // Not kept: a stored Thread would hold its closure, and with it the monitor, after it ended.
        let thread = Thread { [self] in
            while !stopped.isSet {
                if let reason = batteryReason() {
                    onBattery(reason)
                    return
                }
                Thread.sleep(
                    forTimeInterval: Double(interval.components.seconds)
                        + Double(interval.components.attoseconds) / 1e18)
            }
        }
        thread.name = "pmemkit-power"
        thread.start()
    }

    /// Stops watching (the thread ends within one interval).
    func stop() { stopped.set() }
}
