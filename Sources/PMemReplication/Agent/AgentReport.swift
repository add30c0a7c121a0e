/// What started a drain.
public enum DrainTrigger: String, Codable, Sendable {
    /// The watched application ended.
    case applicationExit = "application-exit"
    /// Every mains power supply went offline (the power monitor).
    case mainsOffline = "mains-offline"
    /// SIGPWR (an init system's or a UPS daemon's notice).
    case sigpwr
    /// `pmemctl ha power-fail` on the control socket.
    case control
    /// `HAAgent.powerFail()` from the program that embeds the agent.
    case api
}

/// One replica in `pmemctl ha status --json` and in a drain report.
public struct ReplicaReport: Codable, Sendable, Equatable {
    /// `HOST:PORT`.
    public var address: String
    /// `disconnected`, `connecting`, `streaming`, `stale` or `refused`.
    public var state: String
    /// The last log sequence number the replica durably applied (null until it reported one).
    public var ackedSequence: UInt64?
    /// Records written to the log and not yet acknowledged by this replica.
    public var lagRecords: UInt64
    /// Bytes of those records in the log.
    public var lagBytes: UInt64
    /// Age of the oldest of those records, in milliseconds (0 when caught up).
    public var lagMs: Double
    /// Bytes shipped to it since the agent started.
    public var bytesShipped: UInt64
    /// Connections made again after one was lost.
    public var reconnects: Int
    /// The last error on its connection.
    public var lastError: String?

    enum CodingKeys: String, CodingKey {
        case address, state, reconnects
        case ackedSequence = "acked_sequence"
        case lagRecords = "lag_records"
        case lagBytes = "lag_bytes"
        case lagMs = "lag_ms"
        case bytesShipped = "bytes_shipped"
        case lastError = "last_error"
    }
}

/// What a drain achieved: what reached whom (`pmemctl ha agent` prints it).
public struct DrainReport: Codable, Sendable, Equatable {
    /// Why the drain ran, in words: `application exited (pid N)`, `mains
    /// power lost (/sys/class/power_supply/AC/online = 0)`, `power failure
    /// notice (SIGPWR)`, `power failure notice (pmemctl ha power-fail: TEXT)`.
    public var reason: String
    /// What started it: `application-exit`, `mains-offline` (the power
    /// monitor), `sigpwr`, `control` (`pmemctl ha power-fail`) or `api`.
    public var trigger: String
    /// The battery deadline, in milliseconds.
    public var deadlineMs: Int
    /// How long the drain took, in milliseconds.
    public var elapsedMs: Double
    /// The last record replicas were to hold when the drain ended: every
    /// record up to it is in the primary's committed history.
    public var lastSequence: UInt64
    /// Its heap transaction number.
    public var lastTransaction: UInt64
    /// Records after it in the log, not shipped: transactions the primary's
    /// pool does not hold (the application ended mid-commit), or could not
    /// be shown to hold.
    public var withheldRecords: UInt64
    /// Whether every replica acknowledged every record up to `lastSequence`.
    public var complete: Bool
    /// Each replica's outcome.
    public var replicas: [ReplicaReport]

    enum CodingKeys: String, CodingKey {
        case reason, trigger, complete, replicas
        case deadlineMs = "deadline_ms"
        case elapsedMs = "elapsed_ms"
        case lastSequence = "last_sequence"
        case lastTransaction = "last_transaction"
        case withheldRecords = "withheld_records"
    }
}

/// `pmemctl ha status --json`.
public struct AgentStatus: Codable, Sendable, Equatable {
    /// The log file.
    public var log: String
    /// The log's UUID.
    public var logUUID: String
    /// The agent's process id.
    public var pid: Int32
    /// `running`, `draining`, `drained`, or `stopped` (after `stop()`, while the agent shuts down).
    public var state: String
    /// Ring bytes.
    public var capacity: Int
    /// Bytes of the ring holding records not yet reclaimed.
    public var usedBytes: UInt64
    /// The oldest record still kept.
    public var headSequence: UInt64
    /// The last record replicas are to hold: every record up to it is in
    /// the primary's committed history.
    public var lastSequence: UInt64
    /// Its heap transaction number.
    public var lastTransaction: UInt64
    /// Records after it in the log, not shipped (yet): transactions the
    /// primary's pool does not show committed (for a moment while a commit
    /// is under way; for good when the application ended mid-commit).
    public var withheldRecords: UInt64
    /// Replicas whose acknowledgement lets space be reclaimed.
    public var quorum: Int
    /// Each replica.
    public var replicas: [ReplicaReport]
    /// The drain's outcome, once one ran.
    public var drain: DrainReport?
    /// Leadership through etcd (null without it).
    public var leadership: LeadershipReport?

    enum CodingKeys: String, CodingKey {
        case log, pid, state, capacity, quorum, replicas, drain, leadership
        case logUUID = "log_uuid"
        case usedBytes = "used_bytes"
        case headSequence = "head_sequence"
        case lastSequence = "last_sequence"
        case lastTransaction = "last_transaction"
        case withheldRecords = "withheld_records"
    }
}

/// The agent's etcd leadership in `pmemctl ha status --json`.
public struct LeadershipReport: Codable, Sendable, Equatable {
    /// This node's name in the replica set.
    public var node: String
    /// The epoch it leads (or last led) at; 0 before it first led.
    public var epoch: UInt64
    /// Whether it leads now (its lease is surely alive).
    public var leading: Bool
    /// Milliseconds its lease surely lasts (0 when not leading).
    public var leaseMsLeft: Double
    /// The lease's TTL in seconds.
    public var leaseTTLSeconds: Int
    /// Its transitions, oldest first (the last 64).
    public var transitions: [LeadershipTransition]
    /// Transitions since the agent started (the list keeps the last 64).
    public var transitionCount: Int

    enum CodingKeys: String, CodingKey {
        case node, epoch, leading, transitions
        case transitionCount = "transition_count"
        case leaseMsLeft = "lease_ms_left"
        case leaseTTLSeconds = "lease_ttl_s"
    }
}

/// One change of the agent's leadership.
public struct LeadershipTransition: Codable, Sendable, Equatable {
    /// Wall-clock time, milliseconds since 1970.
    public var timeMs: UInt64
    /// `campaigning`, `leading`, `lost`, `superseded`, `resigned`.
    public var event: String
    /// The epoch it concerns (0: none).
    public var epoch: UInt64
    /// Why, in one line.
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case event, epoch, detail
        case timeMs = "time_ms"
    }
}
