import ArgumentParser
import PMemKit

/// The modes a namespace can be created in.
enum CreatableMode: String, ExpressibleByArgument, CaseIterable {
    case fsdax, devdax, raw

    var model: NamespaceMode { NamespaceMode(rawValue: rawValue)! }
}

/// `pmemctl create-namespace`: carve a namespace, or give an existing one a new mode.
struct CreateNamespaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-namespace",
        abstract: "Create an fsdax, devdax or raw namespace in a region (initializing labels when needed).")

    @Option(help: "The region to carve from, e.g. region0.") var region: String?
    @Option(help: "fsdax, devdax or raw.") var mode: CreatableMode
    @Option(help: "Size, e.g. 256M or 1G (default: the largest free extent).") var size: String?
    @Option(help: "Mapping alignment for fsdax/devdax: 4K, 2M or 1G (default 2M where supported).") var align:
        String?
    @Option(help: "A name stored in the namespace label.") var name: String?
    @Option(help: "Reconfigure this existing namespace instead (its data is lost).") var reconfigure: String?
    @Flag(help: "With --reconfigure: proceed even if the namespace is mounted or mapped.") var force = false
    @Flag(help: "Print the new namespace as JSON.") var json = false

    func validate() throws {
        _ = try parseSizeOption(size, "--size")
        _ = try parseSizeOption(align, "--align")
        guard (region == nil) != (reconfigure == nil) else {
            throw ValidationError("give exactly one of --region REGION or --reconfigure NAMESPACE")
        }
        if force && reconfigure == nil { throw ValidationError("--force goes with --reconfigure") }
        if mode == .raw && align != nil { throw ValidationError("raw namespaces take no --align") }
    }

    func run() throws {
        try reportingFailures {
            let request = NamespaceRequest(
                mode: mode.model, size: try parseSizeOption(size, "--size"),
                align: try parseSizeOption(align, "--align"), name: name)
            let namespace: Namespace
            if let reconfigure {
                namespace = try Provisioner.reconfigureNamespace(reconfigure, request, force: force)
            } else {
                namespace = try Provisioner.createNamespace(region: region!, request)
            }
            if json {
                try Output.json(namespace)
            } else {
                print(
                    "\(namespace.name): \(namespace.mode.rawValue), \(ByteSize.format(namespace.size)), "
                        + "\(namespace.devicePath ?? "no device")")
            }
        }
    }
}
