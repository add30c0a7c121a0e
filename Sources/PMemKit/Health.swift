/// What a DIMM reports of its health (`pmemctl list --health`): its SMART data
/// and alarm thresholds, in ndctl's words (`ndctl list -DH` uses the same keys
/// for the same values). A value the DIMM does not report is absent.
public struct DIMMHealth: Codable, Sendable, Equatable {
    /// `ok`, `non-critical`, `critical`, `fatal`; `unknown` when the SMART command failed.
    public var healthState: String?
    /// Media temperature, °C.
    public var temperatureCelsius: Double?
    /// Controller temperature, °C.
    public var controllerTemperatureCelsius: Double?
    /// Spare capacity left, percent.
    public var sparesPercentage: Int?
    /// Whether the media temperature alarm has tripped.
    public var alarmTemperature: Bool?
    /// Whether the controller temperature alarm has tripped.
    public var alarmControllerTemperature: Bool?
    /// Whether the spares alarm has tripped.
    public var alarmSpares: Bool?
    /// Whether the media temperature alarm is enabled.
    public var alarmEnabledMediaTemperature: Bool?
    /// The media temperature alarm's threshold, °C.
    public var temperatureThreshold: Double?
    /// Whether the controller temperature alarm is enabled.
    public var alarmEnabledCtrlTemperature: Bool?
    /// The controller temperature alarm's threshold, °C.
    public var controllerTemperatureThreshold: Double?
    /// Whether the spares alarm is enabled.
    public var alarmEnabledSpares: Bool?
    /// The spares alarm's threshold, percent.
    public var sparesThreshold: Int?
    /// Life used, percent.
    public var lifeUsedPercentage: Int?
    /// `clean` or `dirty`: how the last shutdown went, as the DIMM says.
    public var shutdownState: String?
    /// Unsafe shutdowns the DIMM has counted over its life.
    public var shutdownCount: Int?

    /// Creates a health report; every value absent by default.
    public init(healthState: String? = nil) {
        self.healthState = healthState
    }

    enum CodingKeys: String, CodingKey {
        case healthState = "health_state"
        case temperatureCelsius = "temperature_celsius"
        case controllerTemperatureCelsius = "controller_temperature_celsius"
        case sparesPercentage = "spares_percentage"
        case alarmTemperature = "alarm_temperature"
        case alarmControllerTemperature = "alarm_controller_temperature"
        case alarmSpares = "alarm_spares"
        case alarmEnabledMediaTemperature = "alarm_enabled_media_temperature"
        case temperatureThreshold = "temperature_threshold"
        case alarmEnabledCtrlTemperature = "alarm_enabled_ctrl_temperature"
        case controllerTemperatureThreshold = "controller_temperature_threshold"
        case alarmEnabledSpares = "alarm_enabled_spares"
        case sparesThreshold = "spares_threshold"
        case lifeUsedPercentage = "life_used_percentage"
        case shutdownState = "shutdown_state"
        case shutdownCount = "shutdown_count"
    }
}

/// A flag the platform's NFIT sets on a DIMM (ndctl's `flag_*` keys).
public enum DIMMFlag: String, Codable, Sendable, CaseIterable, Comparable {
    /// The last save to flash failed: data from before the power loss may be gone.
    case failedSave = "failed_save"
    /// The DIMM is not armed to save on power loss.
    case failedArm = "failed_arm"
    /// The restore from flash at boot failed.
    case failedRestore = "failed_restore"
    /// The last flush failed.
    case failedFlush = "failed_flush"
    /// The DIMM is not mapped into the address space.
    case failedMap = "failed_map"
    /// A SMART event is pending: its health changed.
    case smartEvent = "smart_event"

    /// ndctl's order (save, arm, restore, flush, map, SMART event).
    public static func < (a: DIMMFlag, b: DIMMFlag) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A range of bad sectors the kernel knows (media errors, poison), in 512-byte
/// sectors from the start of its region or namespace (ndctl's `badblocks`).
public struct BadBlock: Codable, Sendable, Equatable {
    /// First bad sector.
    public var offset: UInt64
    /// Sectors in the range.
    public var length: Int
    /// The DIMMs that hold it (`nmem3`), when the bus can translate its address.
    public var dimms: [String]?

    /// Creates a range.
    public init(offset: UInt64, length: Int, dimms: [String]? = nil) {
        self.offset = offset
        self.length = length
        self.dimms = dimms
    }

    /// The range in bytes.
    public var bytes: Range<UInt64> { (offset << 9)..<((offset + UInt64(length)) << 9) }
}
