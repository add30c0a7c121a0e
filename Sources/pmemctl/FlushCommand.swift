import ArgumentParser
import Foundation
import PMemKit

/// `pmemctl flush --region R`: a deep (WPQ) flush.
struct FlushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Deep-flush a region: write its DIMMs' flush hints so the memory controller drains its WPQ."
    )

    @Option(help: "The region, e.g. region0.") var region: String
    @Flag(help: "Print JSON.") var json = false

    struct Result: Codable {
        var region: String
        var deepFlush: DeepFlushCapability
        var flushed: Bool
        var nanoseconds: UInt64

        enum CodingKeys: String, CodingKey {
            case region, flushed, nanoseconds
            case deepFlush = "deep_flush"
        }
    }

    func run() throws {
        try reportingFailures {
            let start = DispatchTime.now().uptimeNanoseconds
            let capability = try Provisioner.deepFlush(region: region)
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            if capability == .unavailable {
                throw PMemError(
                    .unsupported, operation: "flush",
                    detail: "\(region) has no deep_flush attribute (no DIMM mappings); nothing can be flushed"
                )
            }
            let result = Result(
                region: region, deepFlush: capability, flushed: capability == .supported, nanoseconds: elapsed
            )
            if json {
                try Output.json(result)
            } else if result.flushed {
                print("\(region): deep flush done in \(elapsed / 1000) µs")
            } else {
                print(
                    "\(region): deep flush not needed (no flush hints: the platform drains the WPQ on power loss)"
                )
            }
        }
    }
}
