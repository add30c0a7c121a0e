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

    /// The estimate for source text as UTF-8 bytes (a file's contents, not decoded first).
    init(bytes: [UInt8]) {
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
        for token in CTokens(bytes: bytes) {
            lineNumber = token.line
            if token.kind == .elseKeyword {
                frames[frames.count - 1].elseChain += 1
                statementJustEnded = false
                note()
                continue
            }
            if statementJustEnded { frames[frames.count - 1].elseChain = 0 }
            statementJustEnded = false
            switch token.kind {
            case .open:
                enclosing += frames[frames.count - 1].operators + frames[frames.count - 1].elseChain
                frames.append(Frame())
            case .close, .closeBrace:
                if frames.count > 1 {
                    frames.removeLast()
                    enclosing -= frames[frames.count - 1].operators + frames[frames.count - 1].elseChain
                }
                if token.kind == .closeBrace { statementJustEnded = true }
            case .semicolon:
                frames[frames.count - 1].operators = 0
                statementJustEnded = true
            case .comma:
                if frames.count > 1 { frames[frames.count - 1].operators = 0 }
            case .nesting:
                frames[frames.count - 1].operators += 1
            case .elseKeyword, .other:
                break
            }
            note()
        }
    }
}

/// The tokens of C source text, roughly: comments, string and character
/// literals and preprocessor lines are skipped; identifiers, numbers and
/// punctuators (longest match) come out with their line and what they mean
/// to the estimate, classified from the bytes (no string per token: this
/// scan runs over every file before it is parsed).
struct CTokens: Sequence, IteratorProtocol {
    struct Token {
        var kind: Kind
        var line: Int
    }

    /// What a token does to the nesting estimate.
    enum Kind {
        /// `(`, `[`, `{`.
        case open
        /// `)`, `]`.
        case close
        /// `}`: also ends a statement.
        case closeBrace
        case semicolon
        case comma
        case elseKeyword
        /// An operator that builds a level of nesting in an expression, or a
        /// keyword that nests what follows it (`if`, `while`, `for`, `do`, `switch`, `sizeof`).
        case nesting
        /// Identifiers, numbers, literals, `...`.
        case other
    }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var atLineStart = true

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Punctuators longer than one byte, longest first; all but `...` are nesting operators.
    private static let punctuators: [[UInt8]] = [
        "<<=", ">>=", "...", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=",
        "*=", "/=", "%=", "&=", "|=", "^=",
    ].map { Array($0.utf8) }
    /// Keywords that nest what follows them.
    private static let nestingKeywords: [[UInt8]] = ["if", "while", "for", "do", "switch", "sizeof"].map {
        Array($0.utf8)
    }
    private static let elseKeyword = Array("else".utf8)

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
                return Token(kind: .other, line: tokenLine)
            default:
                atLineStart = false
                let start = index
                if Self.isWordByte(b) {
                    while index < bytes.count && Self.isWordByte(bytes[index]) { index += 1 }
                    return Token(kind: wordKind(start..<index), line: line)
                }
                if let match = Self.punctuators.first(where: { matches($0) }) {
                    index += match.count
                    return Token(kind: match == [0x2e, 0x2e, 0x2e] ? .other : .nesting, line: line)
                }
                index += 1
                return Token(kind: Self.singleByteKind(b), line: line)
            }
        }
        return nil
    }

    private func matches(_ punctuator: [UInt8]) -> Bool {
        guard index + punctuator.count <= bytes.count else { return false }
        for offset in 0..<punctuator.count where bytes[index + offset] != punctuator[offset] { return false }
        return true
    }

    /// `else`, a nesting keyword, or any other word.
    private func wordKind(_ range: Range<Int>) -> Kind {
        let word = bytes[range]
        if word.elementsEqual(Self.elseKeyword) { return .elseKeyword }
        return Self.nestingKeywords.contains { word.elementsEqual($0) } ? .nesting : .other
    }

    private static func singleByteKind(_ b: UInt8) -> Kind {
        switch b {
        case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): return .open
        case UInt8(ascii: ")"), UInt8(ascii: "]"): return .close
        case UInt8(ascii: "}"): return .closeBrace
        case UInt8(ascii: ";"): return .semicolon
        case UInt8(ascii: ","): return .comma
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"), UInt8(ascii: "%"),
            UInt8(ascii: "&"), UInt8(ascii: "|"), UInt8(ascii: "^"), UInt8(ascii: "!"), UInt8(ascii: "~"),
            UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: ":"),
            UInt8(ascii: "."):
            return .nesting
        default: return .other
        }
    }
}
