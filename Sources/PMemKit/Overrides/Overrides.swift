import Foundation

/// Every `PMEMKIT_*` environment variable, parsed in one place and strictly:
/// an unknown name or a value outside what the variable takes is an error
/// naming the accepted ones, never a silent default. Each module asks this
/// for its settings instead of reading the environment.
///
/// The process's own set is parsed once (`Overrides.current()`); entry
/// points that can fail (mapping a file, opening a heap, protecting a
/// range, starting a VM, every `pmemctl` command) call it first, so a typo
/// stops them with the error instead of running with the default.
public struct Overrides: Sendable, Equatable {
    /// The `PMEMKIT_*` variables set, by name (values checked).
    public let values: [String: String]

    /// No overrides: every default in force.
    public init() { values = [:] }

    /// Checks every `PMEMKIT_*` variable of `environment`; other names are ignored.
    public init(environment: [String: String]) throws {
        var values: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("PMEMKIT_") {
            guard let variable = OverrideVariable.named(name) else {
                throw PMemError(.invalidArgument, operation: "environment", detail: Self.unknown(name))
            }
            guard Self.accepts(variable, value) else {
                throw PMemError(
                    .invalidArgument, operation: "environment",
                    detail: "\(name)=\(value) is not valid: use \(variable.accepted)")
            }
            values[name] = value
        }
        self.values = values
    }

    /// The process environment's overrides, parsed once; throws the parse
    /// error (the same one every time) when any is invalid.
    public static func current() throws -> Overrides {
        try processOverrides.get()
    }

    /// The process's overrides, or none when they are invalid: for defaults
    /// computed where nothing can throw. Every entry point that relies on
    /// them calls `current()` first, so an invalid set never runs silently.
    public static var currentOrDefaults: Overrides {
        (try? current()) ?? Overrides()
    }

    private static let processOverrides: Result<Overrides, PMemError> = {
        do {
            let parsed = try Overrides(environment: ProcessInfo.processInfo.environment)
            for setting in parsed.inForce {
                pmemLog.debug("override in force: \(setting.name)=\(setting.value) (\(setting.meaning))")
            }
            return .success(parsed)
        } catch let error as PMemError {
            return .failure(error)
        } catch {
            return .failure(PMemError(.invalidArgument, operation: "environment", detail: "\(error)"))
        }
    }()

    // MARK: Typed reads (values were checked at parse time)

    /// Whether a flag is on (`1`).
    public func isSet(_ variable: OverrideVariable) -> Bool {
        values[variable.name] == "1"
    }

    /// A choice's word, or `nil` when unset.
    public func choice(_ variable: OverrideVariable) -> String? {
        values[variable.name]
    }

    /// A byte size, or `nil` when unset.
    public func byteSize(_ variable: OverrideVariable) -> UInt64? {
        values[variable.name].flatMap { try? ByteSize.parse($0) }
    }

    /// An address, or `nil` when unset.
    public func address(_ variable: OverrideVariable) -> UInt? {
        values[variable.name].flatMap(Self.parseAddress)
    }

    /// The text of a variable taking any value, or `nil` when unset.
    public func text(_ variable: OverrideVariable) -> String? {
        values[variable.name]
    }

    /// A count, or `nil` when unset.
    public func count(_ variable: OverrideVariable) -> UInt64? {
        values[variable.name].flatMap { UInt64($0) }
    }

    // MARK: What is in force

    /// One override set, for `pmemctl info`.
    public struct Setting: Codable, Sendable, Equatable {
        /// `PMEMKIT_NO_CLWB`.
        public var name: String
        /// `1`.
        public var value: String
        /// The module that acts on it.
        public var module: String
        /// What it changes.
        public var meaning: String
    }

    /// The variables that change behaviour and are set, by name.
    public var inForce: [Setting] {
        OverrideVariable.overrides.compactMap { variable in
            values[variable.name].map {
                Setting(name: variable.name, value: $0, module: variable.module, meaning: variable.meaning)
            }
        }
    }

    // MARK: Checking

    static func accepts(_ variable: OverrideVariable, _ value: String) -> Bool {
        switch variable.kind {
        case .flag: return value == "0" || value == "1"
        case .choice(let words): return words.contains(value)
        case .byteSize: return (try? ByteSize.parse(value)) != nil
        case .address: return parseAddress(value) != nil
        case .count: return UInt64(value).map { $0 > 0 } ?? false
        case .crashPoint: return CrashPlan(crashAt: value) != nil
        case .informational: return true
        }
    }

    static func parseAddress(_ text: String) -> UInt? {
        let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? String(text.dropFirst(2)) : text
        return digits.isEmpty ? nil : UInt(digits, radix: 16)
    }

    /// The error for a name no variable has, with the nearest known name.
    static func unknown(_ name: String) -> String {
        let nearest = OverrideVariable.all.min {
            editDistance($0.name, name) < editDistance($1.name, name)
        }
        if let nearest, editDistance(nearest.name, name) <= 3 {
            return "\(name) is not a PMemKit variable; did you mean \(nearest.name)?"
        }
        let names = OverrideVariable.overrides.map(\.name).joined(separator: ", ")
        return "\(name) is not a PMemKit variable (they are: \(names))"
    }

    /// Levenshtein distance, for suggesting the variable a typo meant.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(
                    previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
