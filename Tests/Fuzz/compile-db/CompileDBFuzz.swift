// fuzz-compile-db: arbitrary bytes as the `compile_commands.json` that
// `pmemctl analyze --compile-commands` reads: `CompileJob.load` (JSON, entries,
// shell words of a `command`, the parse-relevant arguments) and the job
// planning of `ScanInput.jobs()` (files named, missing files). Each must
// throw a `ScanError` or plan jobs, never trap. (Parsing the sources with
// libclang is not part of it: a job's file must exist.)
//
// Input: the file's bytes.
#if DEBUG
    import Foundation
    import FuzzSupport
    @testable import PMemScan

    enum CompileDBFuzz {
        static let scratch = Scratch("compile-db")
        static let target = FuzzTarget(name: "compile-db", run: run, seeds: seeds)

        /// A source file that exists, for databases that name it.
        static let sourceFile = scratch.write([UInt8](), to: "app.c")

        static func run(_ data: UnsafeRawBufferPointer) {
            // Not an empty file: FoundationEssentials leaks 4 KiB reading one
            // (FileManager.contents(atPath:)), which LeakSanitizer would report.
            guard !data.isEmpty else { return }
            _ = sourceFile
            let path = scratch.write(data, to: "compile_commands.json")
            _ = try? CompileJob.load(compileCommands: path)
            _ = try? ScanInput(files: [sourceFile], compileCommands: path).jobs()
            let words = CompileJob.shellWords(String(decoding: data, as: UTF8.self))
            _ = CompileJob.parseArguments(words, directory: "/src/app")
        }

        /// Databases as CMake and Bear write them (`command` or `arguments`,
        /// relative and absolute paths, quoted defines), and one naming a file
        /// that exists here.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            let cmake: [[String: Any]] = [
                [
                    "directory": "/src/app/build",
                    "command":
                        "/usr/bin/cc -DVERSION=\\\"1.2\\\" -D'NAME=\"kv store\"' -I/src/app/include -I../lib -isystem /opt/x/include -include config.h -std=gnu11 -O2 -Wall -o CMakeFiles/app.dir/main.c.o -c /src/app/main.c",
                    "file": "/src/app/main.c",
                    "output": "CMakeFiles/app.dir/main.c.o",
                ],
                [
                    "directory": "/src/app/build",
                    "command": "cc -Ilib -UNDEBUG -m64 -pthread -c ../lib/btree.c -o btree.o",
                    "file": "../lib/btree.c",
                ],
            ]
            let bear: [[String: Any]] = [
                [
                    "directory": "/src/app",
                    "arguments": [
                        "cc", "-c", "-I", "include", "-iquote", "src", "-DDEBUG=1", "src/log.c", "-o",
                        "log.o",
                    ],
                    "file": "src/log.c",
                ],
                ["directory": "/src/app", "arguments": ["c++", "-c", "gui.cpp"], "file": "gui.cpp"],
            ]
            let local: [[String: Any]] = [
                ["directory": scratch.path, "command": "cc -c app.c -Iinclude", "file": "app.c"]
            ]
            func json(_ object: Any) throws -> [UInt8] {
                [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted]))
            }
            return [
                ("cmake", try json(cmake)),
                ("bear", try json(bear)),
                ("local-file", try json(local)),
                ("empty", Array("[]".utf8)),
            ]
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(CompileDBFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
