import Prometheus

/// A failover node's own metrics in Prometheus form, refreshed at each scrape.
final class NodeMetrics {
    private let registry = PrometheusCollectorRegistry()
    private let primary: Gauge
    private let epoch: Gauge
    private let storeTransaction: Gauge
    private let transitions: Counter
    private var seenTransitions = 0

    init() {
        primary = registry.makeGauge(
            descriptor: Self.name("primary", "", "1 while the node is the set's primary"))
        epoch = registry.makeGauge(
            descriptor: Self.name(
                "epoch", "", "The epoch the node leads at, or the highest its store has seen (0: none)"))
        storeTransaction = registry.makeGauge(
            descriptor: Self.name(
                "store_last", "transaction", "The last transaction the node's store applied"))
        transitions = registry.makeCounter(
            descriptor: Self.name("transitions", "total", "Changes of the node's role or term"))
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "pmemkit", subsystem: "failover", metricName: metric, unitName: unit, helpText: help)
    }

    /// Refreshes the series from the node's transitions and store, then renders them.
    func render(transitions all: [FailoverNode.Transition], store: ReplicaState) -> String {
        let leading = all.last?.role == .primary
        primary.set(leading ? 1.0 : 0.0)
        epoch.set(Double(leading ? all.last?.epoch ?? 0 : store.epoch))
        storeTransaction.set(Double(store.lastTransaction))
        if all.count > seenTransitions {
            transitions.increment(by: Int64(all.count - seenTransitions))
            seenTransitions = all.count
        }
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
