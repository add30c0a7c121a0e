import Foundation

/// The `#include <...>` lines a source file opens with, before anything else:
/// the part of a unit a shared precompiled header can stand for exactly.
///
/// Only comments and blank lines may come between them. The first other line
/// (a `#define`, an `#include "config.h"`, an `#if`, a declaration) ends the
/// block: what it does could change how the headers after it read, so those
/// headers are parsed with the file as usual.
enum LeadingSystemIncludes {
    /// The opening `#include <...>` lines of `text`, trimmed, in order.
    static func of(text: String) -> [String] {
        var includes: [String] = []
        var inComment = false
        // Line by line from the top, stopping at the block's end: splitting the whole
        // file first cost more than the rest of this scan (it runs on every unit).
        var rest: Substring? = Substring(text)
        while let remaining = rest {
            let end = remaining.firstIndex(where: \.isNewline) ?? remaining.endIndex
            rest = end == remaining.endIndex ? nil : remaining[remaining.index(after: end)...]
            var line = remaining[..<end]
            var code = ""
            // Strip comments, keeping the code around them.
            while !line.isEmpty {
                if inComment {
                    guard let end = line.range(of: "*/") else {
                        line = ""
                        break
                    }
                    line = line[end.upperBound...]
                    inComment = false
                } else if let open = line.range(of: "/*"),
                    line.range(of: "//").map({ open.lowerBound < $0.lowerBound }) ?? true
                {
                    code += line[..<open.lowerBound]
                    code += " "
                    line = line[open.upperBound...]
                    inComment = true
                } else if let slash = line.range(of: "//") {
                    code += line[..<slash.lowerBound]
                    line = ""
                } else {
                    code += line
                    line = ""
                }
            }
            // `.whitespacesAndNewlines`: a CRLF file's lines end in a carriage return.
            let trimmed = code.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let include = systemInclude(trimmed) else { break }
            includes.append(include)
        }
        return includes
    }

    /// `#include <name>` (spaces allowed after `#`), rewritten plainly; nil for any other line.
    private static func systemInclude(_ line: String) -> String? {
        guard line.hasPrefix("#") else { return nil }
        let directive = line.dropFirst().trimmingCharacters(in: .whitespaces)
        guard directive.hasPrefix("include") else { return nil }
        let operand = directive.dropFirst("include".count).trimmingCharacters(in: .whitespaces)
        guard operand.hasPrefix("<"), let close = operand.firstIndex(of: ">"),
            operand[operand.index(after: close)...].trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else { return nil }
        return "#include \(operand[...close])"
    }
}
