import ArgumentParser
import PMemKit

/// `pmemctl`: provision, inspect and use persistent memory.
@main
struct PMemCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmemctl",
        abstract: "Provision, inspect and use persistent memory (NVDIMM, CXL, emulated).",
        subcommands: []
    )
}
