import ArgumentParser
import Foundation
import PMemKit

/// Output conventions shared by every command: JSON for machines, aligned
/// tables for people, and one-line errors with the contract's exit codes
/// (0 success, 1 failed operation, 2 bad usage).
enum Output {
    /// Prints `value` as pretty, key-sorted JSON on stdout.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Prints `value` as compact, key-sorted JSON on one line (a stream of events) and flushes it.
    static func jsonLine<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
    }

    /// Prints rows as a table whose first row is the header.
    static func table(_ rows: [[String]]) {
        guard let first = rows.first else { return }
        let widths = (0..<first.count).map { col in rows.map { $0[col].count }.max() ?? 0 }
        for row in rows {
            let cells = zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
            print(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }

    /// Writes one line to stderr.
    static func error(_ line: String) {
        FileHandle.standardError.write(Data("pmemctl: \(line)\n".utf8))
    }
}

/// Runs a command body; a failed operation prints one line and exits 1.
///
/// Usage errors (`ValidationError`, thrown from `validate()`) pass through
/// and exit 2.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as PMemError {
        Output.error(error.description)
        throw ExitCode(1)
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        Output.error("\(error)")
        throw ExitCode(1)
    }
}

/// Parses a size option in `validate()`, so bad text is a usage error (exit 2).
func parseSizeOption(_ text: String?, _ option: String) throws -> UInt64? {
    guard let text else { return nil }
    do {
        return try ByteSize.parse(text)
    } catch let error as PMemError {
        throw ValidationError("\(option): \(error.detail)")
    }
}
