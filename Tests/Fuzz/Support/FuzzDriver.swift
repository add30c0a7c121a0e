// Fuzz targets read internals through `@testable import`, which only debug
// builds (`-enable-testing`) allow; a release build of every target compiles
// this module empty and each target's `main` says so.
#if DEBUG
    import Foundation

    /// One fuzz target: what libFuzzer calls with each input, and the seed
    /// inputs it starts from (made by the real code: a real pool, log record,
    /// frame...).
    public struct FuzzTarget: Sendable {
        /// The target's name (its executable is `fuzz-<name>`, its corpus `Tests/Fuzz/corpus/<name>`).
        public let name: String
        /// Runs one input; returns normally whatever the input (a trap is the finding).
        public let run: @Sendable (UnsafeRawBufferPointer) -> Void
        /// The seed inputs, by file name.
        public let seeds: @Sendable () throws -> [(name: String, bytes: [UInt8])]

        /// A target.
        public init(
            name: String, run: @escaping @Sendable (UnsafeRawBufferPointer) -> Void,
            seeds: @escaping @Sendable () throws -> [(name: String, bytes: [UInt8])]
        ) {
            self.name = name
            self.run = run
            self.seeds = seeds
        }
    }

    /// The entry point of every target (`@main` calls it).
    ///
    /// Built by tools/fuzz (`-sanitize=fuzzer,address -DFUZZING`), it runs
    /// libFuzzer's driver, which takes libFuzzer's arguments. (SwiftPM makes
    /// the target's `@main` the program's `main`, so libFuzzer's own `main`
    /// is not the one that runs.) Built plainly (`swift build`), it is a
    /// replayer of inputs and the writer of the seed corpus:
    /// `fuzz-<name> --write-seeds DIR` writes the seeds (replacing DIR's
    /// files); `fuzz-<name> PATH...` runs every file named, or in a directory
    /// named, once (a crash input reproduced without libFuzzer).
    public enum FuzzDriver {
        /// The target libFuzzer drives.
        nonisolated(unsafe) static var current: FuzzTarget?

        /// Whether `note` prints: a plain build run with `FUZZ_VERBOSE=1` (to see how far a seed gets).
        static let verbose: Bool = {
            #if FUZZING
                return false
            #else
                return ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"
            #endif
        }()

        /// Prints what an input led to, when `verbose`.
        public static func note(_ message: @autoclosure () -> String) {
            if verbose { print("  " + message()) }
        }

        /// The value `body` returns, or `nil` with its error noted (for `try?` worth seeing in a replay).
        public static func attempt<T>(_ what: String, _ body: () throws -> T) -> T? {
            do {
                let value = try body()
                note("\(what): ok")
                return value
            } catch {
                note("\(what): \(error)")
                return nil
            }
        }

        /// Runs `target` (see `FuzzDriver`).
        public static func main(_ target: FuzzTarget) -> Never {
            #if FUZZING
                current = target
                var argc = CommandLine.argc
                var argv = CommandLine.unsafeArgv
                exit(llvmFuzzerRunDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) })
            #else
                replayOrWriteSeeds(target)
            #endif
        }

        private static func replayOrWriteSeeds(_ target: FuzzTarget) -> Never {
            let arguments = Array(CommandLine.arguments.dropFirst())
            if arguments.first == "--write-seeds", arguments.count == 2 {
                do {
                    try writeSeeds(target, to: arguments[1])
                    exit(0)
                } catch {
                    FileHandle.standardError.write(Data("fuzz-\(target.name): \(error)\n".utf8))
                    exit(1)
                }
            }
            guard !arguments.isEmpty, !arguments.contains(where: { $0.hasPrefix("-") }) else {
                FileHandle.standardError.write(
                    Data(
                        ("usage: fuzz-\(target.name) --write-seeds DIR | fuzz-\(target.name) INPUT...\n"
                            + "(built with libFuzzer by tools/fuzz, it takes libFuzzer's arguments)\n").utf8))
                exit(2)
            }
            var count = 0
            for path in arguments {
                for file in files(at: path) {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    note("\(file):")
                    data.withUnsafeBytes { target.run($0) }
                    count += 1
                }
            }
            print("fuzz-\(target.name): ran \(count) inputs")
            exit(0)
        }

        /// Writes the seeds into `directory`, removing the files it held.
        static func writeSeeds(_ target: FuzzTarget, to directory: String) throws {
            let fm = FileManager.default
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for old in try fm.contentsOfDirectory(atPath: directory) {
                try fm.removeItem(atPath: "\(directory)/\(old)")
            }
            let seeds = try target.seeds()
            for seed in seeds {
                guard fm.createFile(atPath: "\(directory)/\(seed.name)", contents: Data(seed.bytes)) else {
                    throw CocoaError(.fileWriteUnknown)
                }
            }
            let total = seeds.reduce(0) { $0 + $1.bytes.count }
            print("fuzz-\(target.name): wrote \(seeds.count) seeds (\(total) bytes) to \(directory)")
        }

        private static func files(at path: String) -> [String] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
            guard isDirectory.boolValue else { return [path] }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.sorted().map { "\(path)/\($0)" }
        }
    }

    /// What libFuzzer calls with each input: the current target's `run`.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        FuzzDriver.current?.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    #if FUZZING
        /// libFuzzer's driver (`int LLVMFuzzerRunDriver(int *argc, char ***argv,
        /// int (*UserCb)(const uint8_t *Data, size_t Size))`, in the runtime
        /// `-sanitize=fuzzer` links); its arguments are pointers, passed alike
        /// by the C and Swift calling conventions.
        @_silgen_name("LLVMFuzzerRunDriver")
        func llvmFuzzerRunDriver(
            _ argc: UnsafeMutablePointer<Int32>,
            _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
            _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
        ) -> Int32
    #endif

    /// A directory for one target's files, in /dev/shm (memory) when there is one.
    /// tools/fuzz removes it after each run (libFuzzer ends the process with `_exit`).
    public final class Scratch: @unchecked Sendable {
        /// Its path: `/dev/shm/pmemkit-fuzz-<name>-<pid>`.
        public let path: String

        /// Creates the directory (empty).
        public init(_ name: String) {
            let root =
                FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
            path = "\(root)/pmemkit-fuzz-\(name)-\(getpid())"
            try? FileManager.default.removeItem(atPath: path)
            mkdir(path, 0o755)
        }

        /// The path of `name` inside it.
        public func file(_ name: String) -> String { "\(path)/\(name)" }

        /// Removes `name` (a file or a directory) if it exists.
        public func remove(_ name: String) {
            try? FileManager.default.removeItem(atPath: file(name))
        }

        /// Replaces the file `name` with `bytes`, then sets its size to `size`
        /// when given (a larger size leaves a hole of zeros). Returns its path.
        @discardableResult
        public func write(_ bytes: UnsafeRawBufferPointer, to name: String, size: Int? = nil) -> String {
            let path = file(name)
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            precondition(fd >= 0, "cannot create \(path): errno \(errno)")
            defer { close(fd) }
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                precondition(n > 0, "cannot write \(path): errno \(errno)")
                done += n
            }
            if let size { precondition(ftruncate(fd, off_t(size)) == 0, "cannot size \(path)") }
            return path
        }

        /// Replaces the file `name` with `size` zero bytes, maps it and calls
        /// `body` with its bytes (stores land in the file). Returns its path.
        /// (Building large inputs in arrays element by element is slow in the
        /// debug builds fuzz targets are.)
        @discardableResult
        public func withNewFile(
            _ name: String, size: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void
        ) -> String {
            let path = file(name)
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            precondition(fd >= 0, "cannot create \(path): errno \(errno)")
            defer { close(fd) }
            precondition(ftruncate(fd, off_t(size)) == 0, "cannot size \(path)")
            guard size > 0 else {
                body(UnsafeMutableRawBufferPointer(start: nil, count: 0))
                return path
            }
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            precondition(p != MAP_FAILED, "cannot map \(path): errno \(errno)")
            defer { munmap(p, size) }
            body(UnsafeMutableRawBufferPointer(start: p, count: size))
            return path
        }

        /// Sets the size of the file `name` (a larger size adds zeros).
        public func truncate(_ name: String, to size: Int) {
            precondition(Glibc.truncate(file(name), off_t(size)) == 0, "cannot size \(file(name))")
        }

        /// `write(_:to:size:)` from an array.
        @discardableResult
        public func write(_ bytes: [UInt8], to name: String, size: Int? = nil) -> String {
            bytes.withUnsafeBytes { write($0, to: name, size: size) }
        }

        /// The bytes of the file `name` (empty when it cannot be read).
        public func read(_ name: String) -> [UInt8] {
            FileManager.default.contents(atPath: file(name)).map { [UInt8]($0) } ?? []
        }
    }

    /// Reads little-endian fields from an input, as far as it goes.
    public struct ByteReader {
        private let bytes: UnsafeRawBufferPointer
        /// Bytes read so far.
        public private(set) var offset = 0

        /// A reader at the start of `bytes`.
        public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        /// Bytes left.
        public var remaining: Int { bytes.count - offset }

        /// The next integer, or `nil` when fewer bytes are left than it needs.
        public mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
            guard remaining >= MemoryLayout<T>.size else { return nil }
            let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
            offset += MemoryLayout<T>.size
            return value
        }

        /// The next `count` bytes, or fewer at the end.
        public mutating func bytes(upTo count: Int) -> [UInt8] {
            let n = max(0, min(count, remaining))
            defer { offset += n }
            return Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
        }

        /// The next `count` bytes, zero-filled past the end.
        public mutating func fixed(_ count: Int) -> [UInt8] {
            let n = max(0, min(count, remaining))
            defer { offset += n }
            return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                memset(raw.baseAddress!, 0, count)
                if n > 0 { memcpy(raw.baseAddress!, bytes.baseAddress! + offset, n) }
                initialized = count
            }
        }

        /// Everything left.
        public mutating func rest() -> [UInt8] { bytes(upTo: remaining) }

        /// What is left as pieces `length u16 | bytes`.
        public mutating func pieces() -> [[UInt8]] {
            var out: [[UInt8]] = []
            while let length = integer(UInt16.self) { out.append(bytes(upTo: Int(length))) }
            return out
        }
    }

    extension Array where Element == UInt8 {
        /// Appends `value` little-endian.
        public mutating func append<T: FixedWidthInteger>(le value: T) {
            Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
        }

        /// Appends `bytes` as a piece (`length u16 | bytes`, see `ByteReader.pieces`).
        public mutating func append(piece bytes: [UInt8]) {
            precondition(bytes.count <= Int(UInt16.max), "a piece holds at most 65535 bytes")
            append(le: UInt16(bytes.count))
            append(contentsOf: bytes)
        }
    }

    /// Sparse images: a file as chunks `offset u32 | length u16 | bytes` laid
    /// on zeros (what the heap pool target reads), so a seed of a 512 KiB
    /// pool is the few KB that are not zero.
    public enum SparseImage {
        /// The chunks of `image`'s non-zero 64-byte lines, runs merged.
        public static func chunks(of image: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            var line = 0
            let lines = (image.count + 63) / 64
            func isZero(_ l: Int) -> Bool {
                image[(l * 64)..<min(image.count, l * 64 + 64)].allSatisfy { $0 == 0 }
            }
            while line < lines {
                guard !isZero(line) else {
                    line += 1
                    continue
                }
                var end = line + 1
                while end < lines, !isZero(end), (end - line) * 64 < 32768 { end += 1 }
                let start = line * 64
                let stop = min(image.count, end * 64)
                out.append(le: UInt32(start))
                out.append(le: UInt16(stop - start))
                out.append(contentsOf: image[start..<stop])
                line = end
            }
            return out
        }

        /// The chunks read from `reader` (those starting past `limit` bytes left
        /// out, the others cut there) and the bytes they span.
        public static func chunks(from reader: inout ByteReader, limit: Int) -> (
            chunks: [(offset: Int, bytes: [UInt8])], end: Int
        ) {
            var chunks: [(offset: Int, bytes: [UInt8])] = []
            var end = 0
            while let offset = reader.integer(UInt32.self), let length = reader.integer(UInt16.self) {
                let bytes = reader.bytes(upTo: Int(length))
                let start = Int(offset)
                guard start < limit else { continue }
                let kept = min(bytes.count, limit - start)
                chunks.append((start, kept == bytes.count ? bytes : Array(bytes[..<kept])))
                end = max(end, start + kept)
            }
            return (chunks, end)
        }

        /// Lays `chunks` on `image` (in order: a later one overwrites an earlier one).
        public static func lay(
            _ chunks: [(offset: Int, bytes: [UInt8])], on image: UnsafeMutableRawBufferPointer
        ) {
            for chunk in chunks where !chunk.bytes.isEmpty {
                chunk.bytes.withUnsafeBytes {
                    _ = memcpy(image.baseAddress! + chunk.offset, $0.baseAddress!, $0.count)
                }
            }
        }
    }
#endif
