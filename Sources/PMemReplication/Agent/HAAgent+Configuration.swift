import NIOCore

extension HAAgent {
    /// How the agent runs.
    public struct Configuration: Sendable {
        /// The log file (the application's).
        public var logPath: String
        /// The replicas.
        public var replicas: [Endpoint]
        /// The key replicas and agent share.
        public var psk: PreSharedKey
        /// The application process to watch: its end starts a drain.
        public var watchPID: Int32?
        /// How long a drain may take (the battery's hold-up time), in milliseconds.
        public var batteryMilliseconds: Int
        /// Replicas that must acknowledge a record before its space is reclaimed (nil: all).
        public var quorum: Int?
        /// The control socket (default: the log's path + `.sock`).
        public var controlSocket: String?
        /// Where to answer Prometheus scrapes (`GET /metrics`), if anywhere.
        public var metricsEndpoint: Endpoint?
        /// Bytes of records per batch at most.
        public var batchBytes: Int
        /// Bytes shipped and not yet acknowledged, per replica, at most (outside a drain).
        public var windowBytes: Int
        /// A replica that shows no progress for this long while it has records to take is reconnected.
        public var idleTimeout: TimeAmount
        /// Whether `run` takes SIGPWR (drain), SIGTERM and SIGINT (stop); off when embedded in another program.
        public var handlesSignals = true

        /// A configuration with the defaults: 2 s of battery, all replicas acknowledge.
        public init(
            logPath: String, replicas: [Endpoint], psk: PreSharedKey, watchPID: Int32? = nil,
            batteryMilliseconds: Int = 2000, quorum: Int? = nil, controlSocket: String? = nil,
            metricsEndpoint: Endpoint? = nil, batchBytes: Int = 1 << 20, windowBytes: Int = 16 << 20,
            idleTimeout: TimeAmount = .seconds(3)
        ) {
            self.logPath = logPath
            self.replicas = replicas
            self.psk = psk
            self.watchPID = watchPID
            self.batteryMilliseconds = batteryMilliseconds
            self.quorum = quorum
            self.controlSocket = controlSocket
            self.metricsEndpoint = metricsEndpoint
            self.batchBytes = batchBytes
            self.windowBytes = windowBytes
            self.idleTimeout = idleTimeout
        }
    }
}
