/// SplitMix64: a seeded generator whose draws replay from the seed (tests
/// print the seed, so a failing run can be repeated).
public struct SplitMix64: RandomNumberGenerator {
    /// The generator's state; the seed to start from.
    public var state: UInt64

    /// A generator starting from `state`.
    public init(state: UInt64) { self.state = state }

    /// The next draw.
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
