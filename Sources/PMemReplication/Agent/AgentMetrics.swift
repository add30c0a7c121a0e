import Prometheus

/// The agent's metrics in Prometheus form, refreshed from each status snapshot.
final class AgentMetrics {
    private let registry = PrometheusCollectorRegistry()
    private let lastSequence: Gauge
    private let headSequence: Gauge
    private let usedBytes: Gauge
    private let epoch: Gauge
    private let leading: Gauge
    private let transitions: Counter
    private var seenTransitions = 0
    private var perReplica: [String: ReplicaMetrics] = [:]

    /// One replica's series.
    private struct ReplicaMetrics {
        let acked: Gauge
        let lagRecords: Gauge
        let lagBytes: Gauge
        let lagSeconds: Gauge
        let streaming: Gauge
        let shipped: Counter
        let reconnects: Counter
        var seenShipped: UInt64 = 0
        var seenReconnects = 0
    }

    init() {
        lastSequence = registry.makeGauge(
            descriptor: Self.name("log_last", "sequence", "Sequence number of the last record in the log"))
        headSequence = registry.makeGauge(
            descriptor: Self.name("log_head", "sequence", "Oldest record kept (not yet reclaimed)"))
        usedBytes = registry.makeGauge(
            descriptor: Self.name("log_used", "bytes", "Ring bytes holding records not yet reclaimed"))
        epoch = registry.makeGauge(
            descriptor: Self.name("epoch", "", "The etcd epoch the agent leads or last led at (0: none)"))
        leading = registry.makeGauge(
            descriptor: Self.name("leading", "", "1 while the agent's etcd lease surely lasts"))
        transitions = registry.makeCounter(
            descriptor: Self.name("leadership_transitions", "total", "Changes of the agent's etcd leadership")
        )
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "pmemkit", subsystem: "replication", metricName: metric, unitName: unit, helpText: help
        )
    }

    private func series(for address: String) -> ReplicaMetrics {
        if let known = perReplica[address] { return known }
        let labels = [("replica", address)]
        func gauge(_ metric: String, _ unit: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: Self.name(metric, unit, help), labels: labels)
        }
        func counter(_ metric: String, _ unit: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: Self.name(metric, unit, help), labels: labels)
        }
        return ReplicaMetrics(
            acked: gauge("acked", "sequence", "Last sequence the replica durably applied"),
            lagRecords: gauge("lag", "records", "Records not yet acknowledged by the replica"),
            lagBytes: gauge("lag", "bytes", "Log bytes not yet acknowledged by the replica"),
            lagSeconds: gauge(
                "lag", "seconds", "Age of the oldest record not yet acknowledged by the replica"),
            streaming: gauge(
                "replica", "streaming", "1 while the replica is connected and receiving records"),
            shipped: counter("shipped_bytes", "total", "Bytes of records shipped to the replica"),
            reconnects: counter(
                "reconnects", "total", "Connections to the replica made again after one was lost"))
    }

    /// Takes the figures of `status`.
    func update(_ status: AgentStatus) {
        lastSequence.set(Double(status.lastSequence))
        headSequence.set(Double(status.headSequence))
        usedBytes.set(Double(status.usedBytes))
        if let leadership = status.leadership {
            epoch.set(Double(leadership.epoch))
            leading.set(leadership.leading ? 1.0 : 0.0)
            transitions.increment(by: Int64(leadership.transitionCount - seenTransitions))
            seenTransitions = leadership.transitionCount
        }
        for replica in status.replicas {
            var m = series(for: replica.address)
            m.acked.set(Double(replica.ackedSequence ?? 0))
            m.lagRecords.set(Double(replica.lagRecords))
            m.lagBytes.set(Double(replica.lagBytes))
            m.lagSeconds.set(replica.lagMs / 1000)
            m.streaming.set(replica.state == "streaming" ? 1.0 : 0.0)
            m.shipped.increment(by: Int64(replica.bytesShipped - m.seenShipped))
            m.reconnects.increment(by: Int64(replica.reconnects - m.seenReconnects))
            m.seenShipped = replica.bytesShipped
            m.seenReconnects = replica.reconnects
            perReplica[replica.address] = m
        }
    }

    /// The text exposition format.
    func render() -> String {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
