/// Bytes given as the runs that are not zero: `(offset, hex)` pairs, every
/// other byte zero. Format tests keep byte images taken from older builds in
/// this form (a pool or log file is mostly zeros).
public func sparseBytes(_ runs: [(offset: Int, hex: String)], count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    for run in runs {
        let digits = Array(run.hex.utf8)
        precondition(digits.count % 2 == 0, "odd hex digit count at offset \(run.offset)")
        for i in 0..<digits.count / 2 {
            bytes[run.offset + i] = UInt8(
                String(decoding: digits[2 * i..<2 * i + 2], as: UTF8.self), radix: 16)!
        }
    }
    return bytes
}
