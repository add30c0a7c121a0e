/// What to analyze and how to compile it.
public struct ScanInput: Sendable {
    /// Source files; with a compilation database, only these of its entries (all when empty).
    public var files: [String]
    /// A `compile_commands.json` whose flags (`-I`, `-D`, `-include`, `-std`) are used per file.
    public var compileCommands: String?
    /// Extra include directories for every file (stub directories for configure-generated headers).
    public var includeDirectories: [String]
    /// Extra macro definitions for every file, `NAME` or `NAME=VALUE`.
    public var defines: [String]
    /// Report records from system headers that reach I/O directly (`struct stat`).
    public var includeSystemTypes: Bool
    /// Threads that parse and walk units at once; nil: one per core.
    public var threads: Int?
    /// Share one precompiled header among units that open with the same system
    /// includes (`SharedSystemHeaders`); off, every unit parses its headers itself.
    public var precompileSystemHeaders = true

    /// Creates an input.
    public init(
        files: [String] = [], compileCommands: String? = nil, includeDirectories: [String] = [],
        defines: [String] = [], includeSystemTypes: Bool = false, threads: Int? = nil
    ) {
        self.threads = threads
        self.files = files
        self.compileCommands = compileCommands
        self.includeDirectories = includeDirectories
        self.defines = defines
        self.includeSystemTypes = includeSystemTypes
    }
}
