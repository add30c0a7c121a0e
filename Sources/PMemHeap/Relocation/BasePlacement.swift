import PMemKit

/// Chooses where to map a pool so that relocation stays unambiguous: the
/// new range must equal, or not overlap, every range the pool's pointers
/// may have been written for. A pointer's value then says by itself which
/// base it belongs to.
enum BasePlacement {
    /// Maps `path` (`geometry.poolSize` bytes) read-write as `placement` asks.
    static func map(
        path: String, geometry: PoolGeometry, bases: [UInt64], placement: HeapPlacement, requirePMem: Bool,
        plainFile: PMemMapping.PlainFilePolicy? = nil
    ) throws -> PMemMapping {
        let span = UInt64(geometry.poolSize)
        func overlaps(_ a: UInt64, _ b: UInt64) -> Bool { a < b &+ span && b < a &+ span }
        /// Equal to a listed base, or clear of every listed range.
        func unambiguous(_ candidate: UInt64) -> Bool {
            bases.contains(candidate) || !bases.contains { overlaps($0, candidate) }
        }
        let full = bases.count >= PoolState.maxBases
        func attempt(_ address: UInt64?) throws -> PMemMapping? {
            do {
                return try PMemMapping(
                    path: path,
                    options: .init(
                        size: geometry.poolSize, plainFile: plainFile, address: address.map { UInt($0) },
                        requirePMem: requirePMem))
            } catch let error as PMemError where error.kind == .busy {
                return nil
            }
        }

        switch placement {
        case .exactly(let address):
            let wanted = UInt64(address)
            guard unambiguous(wanted), !full || bases.contains(wanted) else {
                throw PMemError(
                    .invalidArgument, operation: "heap open",
                    detail:
                        "address 0x\(String(address, radix: 16)) overlaps a range the pool's pointers may hold"
                )
            }
            guard let mapping = try attempt(wanted) else {
                throw PMemError(
                    .busy, operation: "heap open", detail: "address 0x\(String(address, radix: 16)) is in use"
                )
            }
            return mapping
        case .recorded, .anywhere:
            if placement == .recorded {
                for base in bases {
                    if let mapping = try attempt(base) { return mapping }
                }
            }
            if !full, let mapping = try attempt(nil) {
                if unambiguous(UInt64(UInt(bitPattern: mapping.base))) { return mapping }
            }
        case .differentFromRecorded:
            break
        }
        guard !full else {
            throw PMemError(
                .busy, operation: "heap open",
                detail:
                    "the pool's last \(bases.count) relocations were interrupted; it can only be opened at one of "
                    + bases.map { "0x" + String($0, radix: 16) }.joined(separator: ", ")
                    + ", and none is free")
        }
        // Where the kernel places it first: inside whatever address ranges this process may use
        // (a sanitizer's runtime reserves some, and a fixed mapping there kills the process).
        // A range that may hold the pool's pointers is kept mapped while asking again, so the kernel
        // moves on from it.
        var declined: [PMemMapping] = []
        for _ in 0..<8 {
            guard let mapping = try attempt(nil) else { break }
            let base = UInt64(UInt(bitPattern: mapping.base))
            if !bases.contains(where: { overlaps($0, base) }) { return mapping }
            declined.append(mapping)
        }
        declined.removeAll()
        for candidate in candidates(span: span) where !bases.contains(where: { overlaps($0, candidate) }) {
            if let mapping = try attempt(candidate) { return mapping }
        }
        throw PMemError(
            .busy, operation: "heap open", detail: "found no free address range for \(span) bytes")
    }

    /// Gigabyte-aligned addresses from 16 TiB up, a pool's size plus a gap apart.
    private static func candidates(span: UInt64) -> [UInt64] {
        let gigabyte: UInt64 = 1 << 30
        let step = (span + 2 * gigabyte - 1) / gigabyte * gigabyte
        let start: UInt64 = 0x1000_0000_0000
        let limit: UInt64 = 0x7000_0000_0000
        return (0..<256).map { start + UInt64($0) * step }.filter { $0 + span < limit }
    }
}
