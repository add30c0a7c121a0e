import ArgumentParser
import PMemKit

/// `pmemctl destroy-namespace`: free a namespace and its capacity.
struct DestroyNamespaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy-namespace",
        abstract: "Destroy a namespace (its data is lost). Refused while it is mounted, open or mapped.")

    @Argument(help: "The namespace, e.g. namespace0.0.") var name: String
    @Flag(help: "Destroy even if it is mounted, open or mapped.") var force = false

    func run() throws {
        try reportingFailures {
            try Provisioner.destroyNamespace(name, force: force)
            print("\(name): destroyed")
        }
    }
}
