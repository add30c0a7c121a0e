/// Where a process is to die: parsed from `PMEMKIT_CRASH_AT` (`N`, or
/// `PREFIX:N`) and `PMEMKIT_CRASH_LOG`. See `CrashPoints`.
@_spi(CrashPoints) public struct CrashPlan: Sendable, Equatable {
    /// Only points whose label starts with this are counted (empty: every point).
    public var prefix: String
    /// The counted point to die at (0: never; the points are only counted).
    public var target: UInt64
    /// Name every counted point on stderr, and the number reached at exit.
    public var log: Bool

    /// A plan; `target` 0 only counts.
    public init(prefix: String = "", target: UInt64 = 0, log: Bool = false) {
        self.prefix = prefix
        self.target = target
        self.log = log
    }

    /// Whether points must be counted at all.
    public var armed: Bool { target != 0 || log }

    /// Parses a `PMEMKIT_CRASH_AT` value: `N` (the N-th point passed) or
    /// `PREFIX:N` (the N-th point whose label starts with `PREFIX`), N > 0.
    /// `nil` for anything else.
    public init?(crashAt text: String, log: Bool = false) {
        let prefix: Substring
        let number: Substring
        if let colon = text.lastIndex(of: ":") {
            prefix = text[..<colon]
            number = text[text.index(after: colon)...]
            guard !prefix.isEmpty else { return nil }
        } else {
            prefix = ""
            number = text[...]
        }
        guard number.allSatisfy(\.isASCII), let target = UInt64(number), target > 0 else { return nil }
        self.init(prefix: String(prefix), target: target, log: log)
    }

    /// The plan the process environment sets (checked by `Overrides`; an
    /// invalid set means no crash points, as every entry point refuses it).
    static func fromEnvironment() -> CrashPlan {
        let overrides = Overrides.currentOrDefaults
        let log = overrides.isSet(.crashLog)
        guard let text = overrides.text(.crashAt) else { return CrashPlan(log: log) }
        return CrashPlan(crashAt: text, log: log) ?? CrashPlan(log: log)
    }

    /// Whether `label` is one of the points this plan counts.
    func counts(_ label: StaticString) -> Bool {
        guard !prefix.isEmpty else { return true }
        let bytes = UnsafeBufferPointer(start: label.utf8Start, count: label.utf8CodeUnitCount)
        var wanted = prefix.utf8.makeIterator()
        var index = 0
        while let byte = wanted.next() {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
        }
        return true
    }
}
