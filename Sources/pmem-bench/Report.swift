import Foundation

extension SuiteReport {
    /// The human table: the contract's columns.
    func table() -> String {
        var rows = [["case", "ours ns", "baseline", "baseline ns", "speedup", "units"]]
        for c in cases {
            rows.append([
                c.name, format(c.oursNs), c.baseline ?? "-", c.baselineNs.map(format) ?? "-",
                c.speedup.map { String(format: "%.2fx", $0) } ?? "-", "\(c.unitCount)",
            ])
        }
        let widths = (0..<rows[0].count).map { col in rows.map { $0[col].count }.max() ?? 0 }
        var out = "suite \(suite) on \(machine.cpu), \(machine.cores) cores, backing: \(machine.backing), "
        out += "virtualized: \(machine.virtualized)\n"
        for row in rows {
            out +=
                zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ") + "\n"
        }
        let extras = cases.filter { $0.extra != nil }
        for c in extras {
            let items = c.extra!.sorted { $0.key < $1.key }.map { "\($0.key)=\(format($0.value))" }
            out += "  \(c.name): \(items.joined(separator: " "))\n"
        }
        return out
    }

    private func format(_ x: Double) -> String {
        x >= 100 ? String(format: "%.0f", x) : String(format: "%.2f", x)
    }
}
