import NIOCore
import NIOPosix
import PMemKit

/// Prometheus scrapes of a node, in every role: the node's own series and,
/// while it is primary, its agent's (rendered on the agent's loop).
extension FailoverNode {
    /// Serves `GET /metrics` on `endpoint` from a loop of its own; returns the group to shut down.
    func serveMetrics(on endpoint: Endpoint) throws -> MultiThreadedEventLoopGroup {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHTTPHandler { self.metrics(on: $0) })
                }
            }
        do {
            _ = try bootstrap.bind(host: endpoint.host, port: endpoint.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw PMemError(
                .system, operation: "ha node", detail: "cannot serve metrics on \(endpoint): \(error)")
        }
        return group
    }

    /// The node's series, then the agent's while there is one.
    private func metrics(on loop: EventLoop) -> EventLoopFuture<String> {
        let store = servedState
        let own = lock.withLock { nodeMetrics.render(transitions: history, store: store) }
        guard let agent else { return loop.makeSucceededFuture(own) }
        return agent.loop.submit { agent.renderMetrics() }.hop(to: loop).map { own + $0 }
            .flatMapErrorThrowing { _ in own }
    }
}
