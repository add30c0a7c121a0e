/// Names the few instructions a PMemVirt error is likely to be about, so an
/// emulation failure reads `66 0f ae 30: clwb` rather than bare bytes.
///
/// Not a disassembler: it knows the cache-flush group (0F AE /6 and /7 with
/// a memory operand) and returns `nil` for anything else.
enum InstructionNames {
    /// The mnemonic of the instruction at the start of `bytes`, if known.
    static func name(of bytes: [UInt8]) -> String? {
        var i = 0
        var operandSize = false
        // Skip legacy prefixes; 0x66 selects clwb/clflushopt in the 0F AE group.
        while i < bytes.count, [0x66, 0xf2, 0xf3, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36].contains(bytes[i]) {
            operandSize = operandSize || bytes[i] == 0x66
            i += 1
        }
        if i < bytes.count, bytes[i] & 0xf0 == 0x40 { i += 1 }  // REX
        guard i + 2 < bytes.count, bytes[i] == 0x0f, bytes[i + 1] == 0xae else { return nil }
        let modrm = bytes[i + 2]
        let mod = modrm >> 6
        let reg = (modrm >> 3) & 7
        guard mod != 3 else { return nil }  // register forms are fences, not flushes
        switch (reg, operandSize) {
        case (6, true): return "clwb"
        case (7, true): return "clflushopt"
        case (7, false): return "clflush"
        default: return nil
        }
    }
}
