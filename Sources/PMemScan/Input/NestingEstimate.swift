/// How deeply a C source file can make libclang (and the analysis after it)
/// recurse, estimated from its text before it is parsed.
///
/// Clang recurses once per level of a unary operator chain (`!!!!x`), a
/// binary chain (`a+a+...+a`), a conditional chain, nested `if`s or an
/// `else if` chain; only brackets are bounded (256 levels, clang's
/// `-fbracket-depth`). A file with 100,000 such levels overflows any
/// reasonable stack. The estimate counts, at each point, the open brackets
/// plus the operators and nesting keywords since the last statement or list
/// boundary in each of them (`;`, and `,` inside brackets); an
/// `else` chain counts until a statement does not continue it. It
/// over-counts long flat expressions, which real code keeps far below the
/// limit, and cannot see what macros expand to.
struct NestingEstimate {
    /// The deepest point: its estimated depth and its line (1-based).
    var depth = 0
    var line = 1

    /// Punctuators that build a level of nesting in an expression.
    private static let operators: Set<String> = [
        "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<", ">", "<=", ">=", "==", "!=", "&&", "||",
        "<<", ">>", "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "?", ":", "->", ".",
        "++", "--",
    ]
    /// Keywords that nest what follows them.
    private static let nestingKeywords: Set<String> = ["if", "while", "for", "do", "switch", "sizeof"]

    /// The estimate for `text`.
    init(text: String) {
        /// An open bracket (or the file itself): what was counted since its last boundary.
        struct Frame {
            var operators = 0
            var elseChain = 0
        }
        var frames = [Frame()]
        // The counts of every frame but the innermost, kept as a sum (not added up per token).
        var enclosing = 0
        var lineNumber = 1
        var statementJustEnded = false
        func note() {
            let current =
                frames.count - 1 + enclosing + frames[frames.count - 1].operators
                + frames[frames.count - 1].elseChain
            if current > depth {
                depth = current
                line = lineNumber
            }
        }
        for token in CTokens(text) {
            lineNumber = token.line
            let spelling = token.spelling
            if spelling == "else" {
                frames[frames.count - 1].elseChain += 1
                statementJustEnded = false
                note()
                continue
            }
            if statementJustEnded { frames[frames.count - 1].elseChain = 0 }
            statementJustEnded = false
            switch spelling {
            case "(", "[", "{":
                enclosing += frames[frames.count - 1].operators + frames[frames.count - 1].elseChain
                frames.append(Frame())
            case ")", "]", "}":
                if frames.count > 1 {
                    frames.removeLast()
                    enclosing -= frames[frames.count - 1].operators + frames[frames.count - 1].elseChain
                }
                if spelling == "}" { statementJustEnded = true }
            case ";":
                frames[frames.count - 1].operators = 0
                statementJustEnded = true
            case ",":
                if frames.count > 1 { frames[frames.count - 1].operators = 0 }
            default:
                if Self.operators.contains(spelling) || Self.nestingKeywords.contains(spelling) {
                    frames[frames.count - 1].operators += 1
                }
            }
            note()
        }
    }
}

/// The tokens of C source text, roughly: comments, string and character
/// literals and preprocessor lines are skipped; identifiers, numbers and
/// punctuators (longest match) come out with their line.
struct CTokens: Sequence, IteratorProtocol {
    struct Token {
        var spelling: String
        var line: Int
    }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var atLineStart = true

    init(_ text: String) { bytes = Array(text.utf8) }

    private static let punctuators: [String] = [
        "<<=", ">>=", "...", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=",
        "*=", "/=", "%=", "&=", "|=", "^=",
    ]

    private func byte(at offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }

    private static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f
            || b >= 0x80
    }

    /// Skips to the end of the line, honouring backslash continuations.
    private mutating func skipLine() {
        while index < bytes.count && bytes[index] != 0x0a {
            if bytes[index] == 0x5c, byte(at: 1) == 0x0a {
                line += 1
                index += 1
            }
            index += 1
        }
    }

    mutating func next() -> Token? {
        while index < bytes.count {
            let b = bytes[index]
            switch b {
            case 0x0a:
                line += 1
                atLineStart = true
                index += 1
            case 0x20, 0x09, 0x0d, 0x0b, 0x0c:
                index += 1
            case 0x23 where atLineStart:  // a preprocessor line
                skipLine()
            case 0x2f where byte(at: 1) == 0x2f:  // a // comment
                skipLine()
            case 0x2f where byte(at: 1) == 0x2a:  // a /* comment */
                index += 2
                while index < bytes.count && !(bytes[index] == 0x2a && byte(at: 1) == 0x2f) {
                    if bytes[index] == 0x0a { line += 1 }
                    index += 1
                }
                index += 2
            case 0x22, 0x27:  // a string or character literal
                atLineStart = false
                let tokenLine = line
                index += 1
                while index < bytes.count && bytes[index] != b && bytes[index] != 0x0a {
                    index += bytes[index] == 0x5c ? 2 : 1
                }
                index += 1
                return Token(spelling: "literal", line: tokenLine)
            default:
                atLineStart = false
                let start = index
                if Self.isWordByte(b) {
                    while index < bytes.count && Self.isWordByte(bytes[index]) { index += 1 }
                } else if let match = Self.punctuators.first(where: { matches($0) }) {
                    index += match.utf8.count
                } else {
                    index += 1
                }
                return Token(spelling: String(decoding: bytes[start..<index], as: UTF8.self), line: line)
            }
        }
        return nil
    }

    private func matches(_ punctuator: String) -> Bool {
        for (offset, b) in punctuator.utf8.enumerated() where byte(at: offset) != b { return false }
        return true
    }
}
