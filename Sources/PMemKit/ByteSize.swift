import Foundation

/// Sizes as people type them: `4096`, `4K`, `256M`, `1G`, `2T` (binary units,
/// optional trailing `B` or `iB`).
public enum ByteSize {
    /// The largest size `parse` accepts: `Int.max`, so that every size converts
    /// to `Int` (lengths, offsets, `off_t`) without trapping.
    public static let limit = UInt64(Int.max)

    /// Parses a size; throws an `invalidArgument` error naming the bad text,
    /// or saying it is too large when it exceeds `limit`.
    public static func parse(_ text: String) throws -> UInt64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var digits = Substring(trimmed)
        var unit = ""
        while let last = digits.last, !last.isNumber {
            unit = String(last) + unit
            digits = digits.dropLast()
        }
        let shifts: [String: UInt64] = ["": 0, "K": 10, "M": 20, "G": 30, "T": 40]
        var key = unit.uppercased()
        if key.hasSuffix("IB") {
            key.removeLast(2)
        } else if key.hasSuffix("B") {
            key.removeLast()
        }
        guard let value = UInt64(digits), let shift = shifts[key] else {
            throw PMemError(
                .invalidArgument, operation: "size",
                detail: "'\(text)' is not a size (examples: 4096, 64K, 256M, 1G)")
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow, result <= limit else {
            throw PMemError(.invalidArgument, operation: "size", detail: "'\(text)' is too large")
        }
        return result
    }

    /// A size in the largest binary unit that divides it, for tables: `2G`, `16M`, `4096`.
    public static func format(_ bytes: UInt64) -> String {
        for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] as [(String, UInt64)]
        where bytes >= (1 << shift) && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        if bytes >= 1 << 20 {
            return String(format: "%.1fM", Double(bytes) / Double(1 << 20))
        }
        return "\(bytes)"
    }
}
