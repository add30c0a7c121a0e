import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PMemKit

/// The HA agent (`pmemctl ha agent`): a process of its own that maps the
/// application's log, ships its records in order to every replica, tracks
/// what each acknowledged, reclaims log space acknowledged by all (or a
/// quorum), reconnects and catches replicas up, and — when the watched
/// application dies or a power-fail notice arrives — drains every record a
/// replica lacks within the battery deadline, then reports what reached whom.
///
/// Everything runs on one event loop thread; the public entry points hop to it.
public final class HAAgent: @unchecked Sendable {
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

    private let configuration: Configuration
    private let region: LogRegion
    private let logger: Logger
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let loop: EventLoop
    private var index: RecordIndex
    private let links: [ReplicaLink]
    private let metrics = AgentMetrics()
    private let quorum: Int
    private let finished: EventLoopPromise<DrainReport?>
    private var drain: (reason: String, started: UInt64, deadline: UInt64)?
    private var drainReport: DrainReport?
    private var pollDelay: Int64 = 50_000
    private var servers: [Channel] = []
    private var stopped = false
    private var signalSources: [DispatchSourceSignal] = []

    /// Opens the log and prepares the links; nothing runs before `run`.
    public init(configuration: Configuration, logger: Logger = Logger(label: "pmemkit.ha")) throws {
        guard !configuration.replicas.isEmpty else {
            throw PMemError(.invalidArgument, operation: "ha agent", detail: "no replica given")
        }
        if let quorum = configuration.quorum, !(1...configuration.replicas.count).contains(quorum) {
            throw PMemError(
                .invalidArgument, operation: "ha agent",
                detail: "quorum \(quorum) must be between 1 and the \(configuration.replicas.count) replicas")
        }
        self.configuration = configuration
        self.logger = logger
        region = try LogRegion.open(path: configuration.logPath)
        index = RecordIndex(region: region)
        links = configuration.replicas.map { ReplicaLink(endpoint: $0) }
        quorum = configuration.quorum ?? configuration.replicas.count
        loop = group.next()
        finished = loop.makePromise()
    }

    /// The control socket's path.
    public var controlSocketPath: String {
        configuration.controlSocket ?? AgentControl.socketPath(forLog: configuration.logPath)
    }

    // MARK: Running

    /// Runs until a drain ends (returning its report) or `stop()` (returning nil).
    public func run() throws -> DrainReport? {
        try startServers()
        if let pid = configuration.watchPID {
            try ProcessWatcher.watch(pid: pid) { [self] in
                loop.execute { self.beginDrain("application exited (pid \(pid))") }
            }
        }
        if configuration.handlesSignals { installSignalHandlers() }
        loop.execute { [self] in
            for link in links { connect(link) }
            schedulePoll()
        }
        let report = try finished.futureResult.wait()
        for server in servers { try? server.close().wait() }
        unlink(controlSocketPath)
        try? loop.submit { for link in self.links { link.channel?.close(promise: nil) } }.wait()
        try? group.syncShutdownGracefully()
        return report
    }

    /// Starts a drain as on a power-fail notice (thread-safe).
    public func powerFail() {
        loop.execute { self.beginDrain("power failure notice") }
    }

    /// Stops the agent without draining (thread-safe).
    public func stop() {
        loop.execute { [self] in
            guard !stopped else { return }
            stopped = true
            finished.succeed(nil)
        }
    }

    /// The agent's state now (thread-safe).
    public func status() throws -> AgentStatus {
        try loop.submit { self.makeStatus() }.wait()
    }

    private func startServers() throws {
        let path = controlSocketPath
        if (try? AgentControl.send("status", socket: path)) != nil {
            throw PMemError(
                .busy, operation: "ha agent",
                detail: "an agent already serves \(configuration.logPath) (\(path))")
        }
        unlink(path)
        let control = ServerBootstrap(group: group)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlHandler { self.answer($0) })
                }
            }
        do {
            servers.append(try control.bind(unixDomainSocketPath: path).wait())
        } catch {
            throw PMemError(
                .system, operation: "ha agent", detail: "cannot open the control socket \(path): \(error)")
        }
        if let endpoint = configuration.metricsEndpoint {
            let http = ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            MetricsHTTPHandler { self.renderMetrics() })
                    }
                }
            do {
                servers.append(try http.bind(host: endpoint.host, port: endpoint.port).wait())
            } catch {
                throw PMemError(
                    .system, operation: "ha agent", detail: "cannot serve metrics on \(endpoint): \(error)")
            }
        }
    }

    private func installSignalHandlers() {
        let queue = DispatchQueue(label: "pmemkit.ha.signals")
        for (number, action) in [
            (SIGPWR, { self.powerFail() }), (SIGTERM, { self.stop() }), (SIGINT, { self.stop() }),
        ] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler(handler: action)
            source.resume()
            signalSources.append(source)
        }
    }

    /// A control command's answer (on the loop).
    private func answer(_ command: String) -> String {
        switch command {
        case "status":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return (try? String(decoding: encoder.encode(makeStatus()), as: UTF8.self)) ?? "{}"
        case "metrics":
            return renderMetrics()
        case "power-fail":
            beginDrain("power failure notice")
            return "draining\n"
        default:
            return "unknown command '\(command)'\n"
        }
    }

    private func renderMetrics() -> String {
        metrics.update(makeStatus())
        return metrics.render()
    }

    // MARK: Connections

    private func connect(_ link: ReplicaLink) {
        guard !stopped, link.phase == .disconnected else { return }
        link.phase = .connecting
        let psk = configuration.psk
        let logger = self.logger
        let maxFrame = WireFormat.defaultMaxFrame
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(1))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ByteToMessageHandler(FrameDecoder(maxFrame: maxFrame)))
                    try pipeline.addHandler(FrameEncoder())
                    try pipeline.addHandler(FrameAuthenticator(role: .client, psk: psk, logger: logger))
                    try pipeline.addHandler(MessageCodec())
                    try pipeline.addHandler(ShipperHandler(agent: self, link: link))
                }
            }
            .connect(host: link.endpoint.host, port: link.endpoint.port)
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    link.channel = channel
                case .failure(let error):
                    link.lastError = "\(error)"
                    link.phase = .disconnected
                    scheduleRetry(link)
                }
            }
    }

    private func scheduleRetry(_ link: ReplicaLink) {
        let now = Self.uptime()
        link.retryAt = now + (drain != nil ? 20_000_000 : link.backoff)
        link.backoff = min(link.backoff * 2, 2_000_000_000)
    }

    /// A message from a replica (on the loop).
    func received(_ message: ReplicationMessage, from link: ReplicaLink, channel: Channel) {
        guard link.channel === channel else { return }
        let now = Self.uptime()
        switch message {
        case .resume(let position):
            resume(link, at: position, channel: channel, now: now)
        case .ack(let applied, _):
            if link.acknowledge(applied, now: now) {
                reclaim()
                if drain != nil { checkDrain() }
            }
            pump(link)
        case .reject(let reason):
            link.lastError = reason
            logger.warning("replica \(link.endpoint) ended the session: \(reason)")
            channel.close(promise: nil)
        case .start, .records, .ping:
            link.lastError = "replica sent a message only a primary sends"
            channel.close(promise: nil)
        }
    }

    /// Decides where a replica's session starts, and starts it.
    private func resume(_ link: ReplicaLink, at position: ReplicaPosition, channel: Channel, now: UInt64) {
        index.refresh()
        let next: UInt64
        if position.logUUID == nil || position.appliedSequence == 0 {
            guard let baseline = index.firstBaseline() else {
                return refuse(
                    link, .stale, channel: channel,
                    "this new replica needs a baseline and none is left in the log; seed its store from another replica's"
                )
            }
            next = baseline
        } else if position.logUUID != region.uuid {
            return refuse(
                link, .refused, channel: channel, "the replica follows another log (\(position.logUUID!))")
        } else {
            next = position.appliedSequence + 1
            guard next >= index.firstSequence else {
                return refuse(
                    link, .stale, channel: channel,
                    "the replica applied up to \(position.appliedSequence) but the log was reclaimed up to "
                        + "\(index.firstSequence - 1)")
            }
        }
        link.acked = next - 1
        link.ackKnown = true
        link.sent = next - 1
        link.inFlight.removeAll()
        link.inFlightBytes = 0
        link.lastHeard = now
        link.backoff = 50_000_000
        link.lastError = nil
        link.phase = .streaming
        channel.writeAndFlush(
            ReplicationMessage.start(logUUID: region.uuid, nextSequence: next), promise: nil)
        logger.info("replica \(link.endpoint) streaming from sequence \(next)")
        pump(link)
    }

    private func refuse(_ link: ReplicaLink, _ phase: ReplicaLink.Phase, channel: Channel, _ why: String) {
        link.lastError = why
        link.phase = phase
        logger.error("replica \(link.endpoint): \(why)")
        channel.writeAndFlush(ReplicationMessage.reject(why)).whenComplete { _ in channel.close(promise: nil)
        }
    }

    /// A replica's connection closed (on the loop).
    func closed(_ link: ReplicaLink, channel: Channel) {
        guard link.channel === channel else { return }
        if link.phase == .streaming { link.reconnects += 1 }
        link.reset()
        if link.phase == .stale || link.phase == .refused {
            // Try again now and then: the replica may have been reseeded, or the log may hold a new baseline.
            link.phase = .disconnected
            link.retryAt = Self.uptime() + 5_000_000_000
        } else {
            link.phase = .disconnected
            scheduleRetry(link)
        }
    }

    /// Ships what the replica lacks, up to the window (everything during a drain).
    func pump(_ link: ReplicaLink) {
        guard link.phase == .streaming, let channel = link.channel else { return }
        let window = drain != nil ? Int.max : configuration.windowBytes
        // Each frame is flushed as it is made: the socket takes it at once, the
        // channel turns writable again, and several frames stay in flight.
        while channel.isWritable && link.inFlightBytes < window {
            let next = link.sent + 1
            guard next >= index.firstSequence else {
                link.phase = .stale
                link.lastError = "records from \(next) were reclaimed before this replica acknowledged them"
                channel.close(promise: nil)
                return
            }
            guard let run = index.run(from: next, maxBytes: configuration.batchBytes) else { break }
            // One copy out of the ring; the header goes in front while the buffer is only ours.
            let headroom = ReplicationMessage.recordsHeaderSize
            var buffer = channel.allocator.buffer(capacity: headroom + run.bytes)
            buffer.moveWriterIndex(to: headroom)
            ReplicationMessage.setRecordsHeader(&buffer, at: 0, first: next, count: run.count)
            buffer.moveReaderIndex(to: headroom)
            buffer.writeBytes(
                UnsafeRawBufferPointer(
                    start: region.ring + Int(run.position % UInt64(region.capacity)), count: run.bytes))
            link.sent += UInt64(run.count)
            link.inFlight.append((link.sent, run.bytes))
            link.inFlightBytes += run.bytes
            link.bytesShipped += UInt64(run.bytes)
            link.recordsShipped += UInt64(run.count)
            channel.writeAndFlush(
                ReplicationMessage.records(firstSequence: next, count: run.count, bytes: buffer), promise: nil
            )
        }
    }

    // MARK: The poll loop

    /// Looks for new records, ships them, keeps links alive, reclaims space.
    private func schedulePoll() {
        loop.scheduleTask(in: .nanoseconds(pollDelay)) { [self] in
            guard !stopped else { return }
            let found = index.refresh()
            let now = Self.uptime()
            for link in links {
                switch link.phase {
                case .streaming:
                    pump(link)
                    keepAlive(link, now: now)
                case .disconnected where now >= link.retryAt:
                    connect(link)
                default:
                    break
                }
            }
            reclaim()
            if drain != nil { checkDrain() }
            pollDelay = found > 0 || drain != nil ? 50_000 : min(pollDelay * 2, 1_000_000)
            schedulePoll()
        }
    }

    /// Pings an idle replica; drops one that stopped answering while it has records to take.
    private func keepAlive(_ link: ReplicaLink, now: UInt64) {
        guard let channel = link.channel else { return }
        let silent = now - min(link.lastHeard, now)
        let waiting = link.inFlightBytes > 0 || link.sent < index.lastSequence
        if waiting && silent > UInt64(configuration.idleTimeout.nanoseconds) {
            link.lastError = "no acknowledgement for \(silent / 1_000_000) ms"
            logger.warning("replica \(link.endpoint): \(link.lastError!); reconnecting")
            channel.close(promise: nil)
        } else if silent > 1_000_000_000 && link.inFlightBytes == 0 {
            link.lastHeard = now - 500_000_000
            channel.writeAndFlush(ReplicationMessage.ping, promise: nil)
        }
    }

    /// Moves the reclaim point past what a quorum of replicas acknowledged.
    private func reclaim() {
        let acks = links.map { $0.ackKnown ? $0.acked : index.firstSequence - 1 }.sorted(by: >)
        let safe = acks[quorum - 1]
        guard safe >= index.firstSequence else { return }
        region.storeReclaimPoint(.init(position: index.position(after: safe), sequence: safe + 1))
        index.drop(through: safe)
    }

    // MARK: Drain

    private func beginDrain(_ reason: String) {
        guard drain == nil, !stopped else { return }
        let now = Self.uptime()
        drain = (reason, now, now + UInt64(configuration.batteryMilliseconds) * 1_000_000)
        logger.warning(
            "\(reason): draining the log to every replica within \(configuration.batteryMilliseconds) ms")
        index.refresh()
        for link in links {
            if link.phase == .disconnected { link.retryAt = 0 }
            pump(link)
        }
        checkDrain()
    }

    private func checkDrain() {
        guard let drain, drainReport == nil else { return }
        index.refresh()
        let target = index.lastSequence
        let complete = links.allSatisfy { $0.ackKnown && $0.acked >= target }
        let now = Self.uptime()
        guard complete || now >= drain.deadline else { return }
        let status = makeStatus()
        let report = DrainReport(
            reason: drain.reason, deadlineMs: configuration.batteryMilliseconds,
            elapsedMs: Double(now - drain.started) / 1e6, lastSequence: status.lastSequence,
            lastTransaction: status.lastTransaction, complete: complete, replicas: status.replicas)
        drainReport = report
        if let data = try? JSONEncoder().encode(report) {
            _ = FileManager.default.createFile(atPath: configuration.logPath + ".drain.json", contents: data)
        }
        stopped = true
        finished.succeed(report)
    }

    // MARK: Status

    private func makeStatus() -> AgentStatus {
        index.refresh()
        let last = index.lastSequence
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let wall = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        let replicas = links.map { link -> ReplicaReport in
            let base = max(link.ackKnown ? link.acked : 0, index.firstSequence - 1)
            let lag = last > base ? last - base : 0
            let oldest = index.entry(base + 1)
            return ReplicaReport(
                address: link.endpoint.description, state: link.phase.rawValue,
                ackedSequence: link.ackKnown ? link.acked : nil,
                lagRecords: lag,
                lagBytes: index.endPosition - index.position(after: base),
                lagMs: lag > 0 ? Double(wall - min(oldest?.time ?? wall, wall)) / 1e6 : 0,
                bytesShipped: link.bytesShipped, reconnects: link.reconnects, lastError: link.lastError)
        }
        let point = region.reclaimPoint()
        return AgentStatus(
            log: configuration.logPath, logUUID: region.uuid.uuidString, pid: getpid(),
            state: drainReport != nil ? "drained" : drain != nil ? "draining" : "running",
            capacity: region.capacity,
            usedBytes: index.endPosition - point.position, headSequence: index.firstSequence,
            lastSequence: last,
            lastTransaction: index.lastTransaction, quorum: quorum, replicas: replicas,
            drain: drainReport)
    }

    private static func uptime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
