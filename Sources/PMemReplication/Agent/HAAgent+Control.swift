import Dispatch
import Foundation
import NIOCore
import NIOPosix
import PMemKit

/// What the agent tells the outside and takes from it: the control socket,
/// Prometheus metrics, the status, and the signals it handles.
extension HAAgent {
    /// The control socket's path.
    public var controlSocketPath: String {
        configuration.controlSocket ?? AgentControl.socketPath(forLog: configuration.logPath)
    }

    /// Opens the control socket and, when configured, the metrics endpoint.
    func startServers() throws {
        let path = controlSocketPath
        do {
            _ = try AgentControl.send("status", socket: path)
            throw PMemError(
                .busy, operation: "ha agent",
                detail: "an agent already serves \(configuration.logPath) (\(path))")
        } catch let error as PMemError where error.kind == .notFound {
            // No agent listens: the socket, if any, was left by one that ended.
        } catch let error as PMemError where error.errno == ETIMEDOUT {
            throw PMemError(
                .busy, operation: "ha agent",
                detail: "an agent holds \(path) but does not answer; stop it before starting another")
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

    /// SIGPWR drains, SIGTERM and SIGINT stop.
    func installSignalHandlers() {
        let queue = DispatchQueue(label: "pmemkit.ha.signals")
        for (number, action) in [
            (SIGPWR, { self.events.execute { self.beginDrain(.sigpwr, "power failure notice (SIGPWR)") } }),
            (SIGTERM, { self.stop() }), (SIGINT, { self.stop() }),
        ] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler(handler: action)
            source.resume()
            signalSources.append(source)
        }
    }

    /// A control command's answer (on the loop).
    func answer(_ command: String) -> String {
        switch command {
        case "status":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return (try? String(decoding: encoder.encode(makeStatus()), as: UTF8.self)) ?? "{}"
        case "metrics":
            return renderMetrics()
        case "power-fail":
            beginDrain(.control, "power failure notice (pmemctl ha power-fail)")
            return "draining\n"
        case let line where line.hasPrefix("power-fail "):
            // A UPS daemon's words, kept to printable text on one line.
            let words = String(line.dropFirst(11).unicodeScalars.filter { $0.value >= 32 && $0.value != 127 })
            beginDrain(.control, "power failure notice (pmemctl ha power-fail: \(words.prefix(200)))")
            return "draining\n"
        default:
            return "unknown command '\(command)'\n"
        }
    }

    /// The Prometheus text of the agent's metrics (on the loop).
    func renderMetrics() -> String {
        metrics.update(makeStatus())
        return metrics.render()
    }

    /// The agent's state now (on the loop).
    func makeStatus() -> AgentStatus {
        refreshRecords()
        let last = heldSequence
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
                // Records carry the wall-clock time they were written at.
                lagMs: lag > 0 ? Double(wall - min(oldest?.time ?? wall, wall)) / 1e6 : 0,
                bytesShipped: link.bytesShipped, reconnects: link.reconnects, lastError: link.lastError)
        }
        let point = region.reclaimPoint()
        let state: String
        let drain: DrainReport?
        switch lifecycle {
        case .running: (state, drain) = ("running", nil)
        case .draining: (state, drain) = ("draining", nil)
        case .stopped(let report): (state, drain) = (report != nil ? "drained" : "stopped", report)
        }
        return AgentStatus(
            log: configuration.logPath, logUUID: region.uuid.uuidString, pid: getpid(),
            state: state, capacity: region.capacity,
            usedBytes: index.endPosition - point.position, headSequence: index.firstSequence,
            lastSequence: last,
            lastTransaction: verifier.verifiedTransaction,
            withheldRecords: index.lastSequence - last, quorum: quorum, replicas: replicas,
            drain: drain, leadership: leadershipReport())
    }
}
