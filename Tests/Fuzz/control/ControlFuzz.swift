// fuzz-control: arbitrary bytes to the HA agent's control socket
// (`ControlHandler`, answered by a real agent: status, metrics, power-fail)
// and its metrics endpoint (`MetricsHTTPHandler`), in SwiftNIO's
// EmbeddedChannel, and the texts an agent is configured with (`HOST:PORT`
// endpoints, back-pressure policies, key files). Each must answer, refuse or
// close, never trap.
//
// Input: a mode byte, then pieces (`length u16 | bytes`), each one read
// (mode % 4): 0: the control socket; 1: the metrics endpoint; 2: each piece
// as an endpoint and a back-pressure policy; 3: each piece as a key file.
#if DEBUG
    import Foundation
    import FuzzSupport
    import Logging
    import NIOCore
    import NIOEmbedded
    @testable import PMemReplication

    enum ControlFuzz {
        static let scratch = Scratch("control")
        static let target = FuzzTarget(name: "control", run: run, seeds: seeds)
        static let logger = Logger(label: "fuzz-control", factory: { _ in SwiftLogNoOpLogHandler() })
        nonisolated(unsafe) static var agentValue: HAAgent?

        /// An agent serving the template's log (never run: its replica is never dialled).
        static func makeAgent() -> HAAgent {
            if !FileManager.default.fileExists(atPath: scratch.file("template.log")) {
                _ = try! ReplicatedTemplate(in: scratch)
            }
            let configuration = HAAgent.Configuration(
                logPath: scratch.file("template.log"), replicas: [Endpoint(host: "127.0.0.1", port: 9)],
                psk: try! PreSharedKey(bytes: Array(repeating: 7, count: 32)), batteryMilliseconds: 1)
            return try! HAAgent(configuration: configuration, logger: logger)
        }

        static var agent: HAAgent {
            if agentValue == nil { agentValue = makeAgent() }
            return agentValue!
        }

        /// The agent's answer, computed on its loop as the control socket's handler does.
        /// A power-fail notice starts a drain, so it goes to an agent of its own.
        static func answer(_ command: String) -> String {
            FuzzDriver.note("answering \(command.debugDescription)")
            guard command == "power-fail" else {
                let agent = self.agent
                return try! agent.loop.submit { agent.answer(command) }.wait()
            }
            let own = makeAgent()
            let reply = try! own.loop.submit { own.answer(command) }.wait()
            // Finished (drained, or stopped now) before it goes: an agent whose
            // `finished` promise is still open when released traps in debug NIO.
            own.stop()
            _ = try? own.finished.futureResult.wait()
            try? own.group.syncShutdownGracefully()
            return reply
        }

        static func run(_ data: UnsafeRawBufferPointer) {
            var reader = ByteReader(data)
            let mode = reader.integer(UInt8.self) ?? 0
            let pieces = reader.pieces()
            switch mode % 4 {
            case 0:
                serve(ControlHandler(answer: answer), pieces)
            case 1:
                serve(
                    MetricsHTTPHandler {
                        let agent = self.agent
                        return try! agent.loop.submit { agent.renderMetrics() }.wait()
                    }, pieces)
            case 2:
                for piece in pieces {
                    let text = String(decoding: piece, as: UTF8.self)
                    // What parses prints back as itself, for the hosts a
                    // name can be (ASCII: a combining mark first would join
                    // the "[" of an IPv6-style description).
                    if let endpoint = try? Endpoint(parsing: text), endpoint.host.allSatisfy(\.isASCII),
                        !endpoint.host.contains(where: { "[]".contains($0) })
                    {
                        let again = try? Endpoint(parsing: endpoint.description)
                        precondition(again == endpoint, "\(endpoint) does not parse back")
                    }
                    if let policy = BackPressurePolicy(text) { _ = policy.timeoutNanoseconds }
                }
            default:
                // Not an empty file: FoundationEssentials leaks 4 KiB reading one
                // (FileManager.contents(atPath:)), which LeakSanitizer would report.
                for piece in pieces where !piece.isEmpty {
                    _ = try? PreSharedKey(file: scratch.write(piece, to: "key"))
                }
            }
        }

        static func serve(_ handler: some ChannelHandler, _ pieces: [[UInt8]]) {
            let channel = EmbeddedChannel(handler: handler)
            _ = try? channel.connect(to: SocketAddress(unixDomainSocketPath: "/agent.sock")).wait()
            for piece in pieces where channel.isActive {
                _ = try? channel.writeInbound(channel.allocator.buffer(bytes: piece))
                while (try? channel.readOutbound(as: ByteBuffer.self)) ?? nil != nil {}
            }
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }

        /// What clients send: `pmemctl ha status|metrics|power-fail` (whole and
        /// split across reads), a Prometheus scrape, agent options, key files.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            func input(_ mode: UInt8, _ pieces: [String]) -> [UInt8] {
                var out = [mode]
                for piece in pieces { out.append(piece: Array(piece.utf8)) }
                return out
            }
            return [
                ("status", input(0, ["status\n"])),
                ("metrics", input(0, ["metrics\n"])),
                ("power-fail", input(0, ["power-fail\n"])),
                ("status-split", input(0, ["sta", "tus", "\n"])),
                ("unknown", input(0, [" stat \n"])),
                (
                    "scrape",
                    input(1, ["GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\nAccept: */*\r\n\r\n"])
                ),
                ("not-found", input(1, ["GET / HTTP/1.0\r\n", "\r\n"])),
                ("options", input(2, ["127.0.0.1:7070", "[::1]:7070", "replica-2:0", "block:2.5", "fail"])),
                (
                    "key-file",
                    input(
                        3,
                        [
                            PreSharedKey.generateHex() + "\n",
                            "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff",
                        ])
                ),
            ]
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(ControlFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
