import NIOCore
import NIOEmbedded
import XCTest

@testable import PMemReplication

/// The agent's control socket and metrics endpoint, driven with EmbeddedChannel.
final class ControlHandlerTests: XCTestCase {
    /// Sends `pieces` to `handler` (one read each); returns what it wrote and whether it closed.
    private func serve(_ handler: some ChannelHandler, _ pieces: [[UInt8]]) throws -> (String, closed: Bool) {
        let channel = EmbeddedChannel(handler: handler)
        // Closed at the end, or its pipeline lives on in a cycle (LeakSanitizer reports it).
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/agent.sock")).wait()
        var reply = ""
        for piece in pieces where channel.isActive {
            try channel.writeInbound(channel.allocator.buffer(bytes: piece))
            while let out = try channel.readOutbound(as: ByteBuffer.self) {
                reply += String(buffer: out)
            }
        }
        return (reply, !channel.isActive)
    }

    func testACommandLineIsAnsweredOnceThenTheConnectionCloses() throws {
        var asked: [String] = []
        let handler = ControlHandler {
            asked.append($0)
            return "answer to \($0)\n"
        }
        let (reply, closed) = try serve(handler, [Array("sta".utf8), Array("tus \nmetrics\n".utf8)])
        XCTAssertEqual(reply, "answer to status\n")
        XCTAssertEqual(asked, ["status"], "what follows the line is not a second command")
        XCTAssertTrue(closed)
    }

    func testALineLongerThan256BytesIsRefusedHoweverFewCharactersItHolds() throws {
        // Found reviewing the handler for fuzz-control: the limit counted
        // Characters, and "a" with any number of combining marks is one, so a
        // client could grow the line without bound. The limit is in bytes now.
        let oneCharacter = "a" + String(repeating: "\u{301}", count: 200)
        XCTAssertEqual(oneCharacter.count, 1)
        var asked = false
        let (reply, closed) = try serve(
            ControlHandler { _ in
                asked = true
                return ""
            }, [Array(oneCharacter.utf8), Array("\n".utf8)])
        XCTAssertEqual(reply, "")
        XCTAssertFalse(asked)
        XCTAssertTrue(closed)
    }

    func testAMetricsScrapeIsAnsweredAndAnythingElseIsNotFound() throws {
        let scrape = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let (metrics, _) = try serve(MetricsHTTPHandler { "pmemkit_up 1\n" }, [scrape])
        XCTAssertTrue(metrics.hasPrefix("HTTP/1.1 200 OK\r\n"), metrics)
        XCTAssertTrue(metrics.hasSuffix("\r\n\r\npmemkit_up 1\n"), metrics)
        let (other, _) = try serve(MetricsHTTPHandler { "" }, [Array("GET / HTTP/1.0\r\n\r\n".utf8)])
        XCTAssertTrue(other.hasPrefix("HTTP/1.1 404 Not Found\r\n"), other)
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: MetricsHTTPHandler.maxRequest + 1)
        XCTAssertTrue(try serve(MetricsHTTPHandler { "" }, [huge]).closed)
    }
}
