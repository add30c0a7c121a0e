internal import CClang

/// A node of a parsed translation unit's AST (a libclang `CXCursor`).
///
/// Valid only while its `TranslationUnit` is alive; the analysis copies what it
/// needs (names, USRs, locations) into plain values before the unit goes away.
struct Cursor {
    let raw: CXCursor

    /// The node's kind.
    var kind: CXCursorKind { clang_getCursorKind(raw) }

    /// The name the node declares or refers to (`clang_getCursorSpelling`).
    var spelling: String { clang_getCursorSpelling(raw).consumed() }

    /// The node's type (`clang_getCursorType`).
    var type: ClangType { ClangType(raw: clang_getCursorType(raw)) }

    /// The type of a typedef's underlying declaration.
    var typedefUnderlyingType: ClangType { ClangType(raw: clang_getTypedefDeclUnderlyingType(raw)) }

    /// The function's return type, for function declarations.
    var resultType: ClangType { ClangType(raw: clang_getCursorResultType(raw)) }

    /// A name stable across translation units (`clang_getCursorUSR`), empty for expressions.
    var usr: String { clang_getCursorUSR(raw).consumed() }

    /// The declaration an expression or reference names (`clang_getCursorReferenced`).
    var referenced: Cursor? { Cursor(checking: clang_getCursorReferenced(raw)) }

    /// The canonical declaration of the entity (`clang_getCanonicalCursor`).
    var canonical: Cursor { Cursor(raw: clang_getCanonicalCursor(raw)) }

    /// The declaration's definition, where this unit has it.
    var definition: Cursor? { Cursor(checking: clang_getCursorDefinition(raw)) }

    /// The lexical or semantic parent (for fields: their record).
    var semanticParent: Cursor? { Cursor(checking: clang_getCursorSemanticParent(raw)) }

    /// Whether the declaration lies inside a function body (a local struct),
    /// where code outside that function cannot name it.
    var isInsideFunction: Bool {
        var scope = semanticParent
        while let current = scope, current.kind != CXCursor_TranslationUnit {
            switch current.kind {
            case CXCursor_FunctionDecl, CXCursor_CXXMethod, CXCursor_Constructor, CXCursor_Destructor,
                CXCursor_LambdaExpr, CXCursor_FunctionTemplate:
                return true
            default:
                scope = current.semanticParent
            }
        }
        return false
    }

    /// The names of the C++ namespaces and classes around a declaration, outermost
    /// first (`["journal", "Log"]` for `journal::Log::Entry`); anonymous namespaces and
    /// `extern "C"` blocks add nothing to a name.
    var enclosingScopes: [String] {
        var names: [String] = []
        var scope = semanticParent
        while let current = scope, current.kind != CXCursor_TranslationUnit {
            switch current.kind {
            case CXCursor_Namespace, CXCursor_ClassDecl, CXCursor_StructDecl, CXCursor_UnionDecl,
                CXCursor_ClassTemplate:
                let name = current.spelling
                if !name.isEmpty, !current.isAnonymous, !name.contains("(") { names.append(name) }
            default:
                break
            }
            scope = current.semanticParent
        }
        return names.reversed()
    }

    /// Whether the node is C++ (a class, a method, a namespace member).
    var isCPlusPlus: Bool { clang_getCursorLanguage(raw) == CXLanguage_CPlusPlus }

    /// Whether the node is a cast that keeps its operand's value (C and C++ spellings,
    /// and the implicit conversions libclang shows as unexposed expressions).
    var isValueCast: Bool {
        switch kind {
        case CXCursor_CStyleCastExpr, CXCursor_CXXStaticCastExpr, CXCursor_CXXReinterpretCastExpr,
            CXCursor_CXXConstCastExpr, CXCursor_CXXFunctionalCastExpr:
            return true
        default:
            return false
        }
    }

    /// Whether this declaration is also the definition.
    var isDefinition: Bool { clang_isCursorDefinition(raw) != 0 }

    /// Whether the node is null (libclang's "no cursor").
    var isNull: Bool { clang_Cursor_isNull(raw) != 0 }

    /// Whether the node is an expression.
    var isExpression: Bool { clang_isExpression(kind) != 0 }

    /// Whether the record declaration has no name (`struct { ... } x;`).
    var isAnonymous: Bool { clang_Cursor_isAnonymous(raw) != 0 }

    /// The offset of a field in bits from the start of its record, or nil for bitfield oddities.
    var fieldOffsetBits: Int? {
        let bits = clang_Cursor_getOffsetOfField(raw)
        return bits >= 0 ? Int(bits) : nil
    }

    /// Whether the node comes from a system header (`#include <...>` territory).
    var isInSystemHeader: Bool {
        clang_Location_isInSystemHeader(clang_getCursorLocation(raw)) != 0
    }

    /// The file and line where the node's text starts, after macro expansion.
    var location: SourceLocation? { SourceLocation(clang_getCursorLocation(raw)) }

    /// The number of arguments of a call expression, or of parameters of a function.
    var argumentCount: Int { Int(clang_Cursor_getNumArguments(raw)) }

    /// The call's argument (or function's parameter) at `index`.
    func argument(_ index: Int) -> Cursor? {
        Cursor(checking: clang_Cursor_getArgument(raw, UInt32(index)))
    }

    /// The arguments of a call expression.
    var arguments: [Cursor] { (0..<max(0, argumentCount)).compactMap { argument($0) } }

    /// The direct children, in source order.
    var children: [Cursor] {
        final class Collector { var items: [Cursor] = [] }
        let collector = Collector()
        withExtendedLifetime(collector) {
            let context = Unmanaged.passUnretained(collector).toOpaque()
            _ = clang_visitChildren(
                raw,
                { child, _, data in
                    let collector = Unmanaged<Collector>.fromOpaque(data!).takeUnretainedValue()
                    collector.items.append(Cursor(raw: child))
                    return CXChildVisit_Continue
                }, context)
        }
        return collector.items
    }

    /// The value of an integer constant expression (`MAP_SHARED | MAP_ANONYMOUS`), or nil.
    var integerValue: Int? {
        guard let result = clang_Cursor_Evaluate(raw) else { return nil }
        defer { clang_EvalResult_dispose(result) }
        guard clang_EvalResult_getKind(result) == CXEval_Int else { return nil }
        return Int(clang_EvalResult_getAsLongLong(result))
    }

    /// The spellings of the tokens the node covers (macro names stay as written).
    func tokens(in unit: CXTranslationUnit) -> [String] {
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(unit, clang_getCursorExtent(raw), &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(unit, tokens, count) }
        return (0..<Int(count)).map { clang_getTokenSpelling(unit, tokens[$0]).consumed() }
    }

    /// The token spellings between the end of `left` and the start of `right`:
    /// the operator of a binary expression, which libclang 14 does not expose.
    static func tokensBetween(_ left: Cursor, _ right: Cursor, in unit: CXTranslationUnit) -> [String] {
        let start = clang_getRangeEnd(clang_getCursorExtent(left.raw))
        let end = clang_getRangeStart(clang_getCursorExtent(right.raw))
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(unit, clang_getRange(start, end), &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(unit, tokens, count) }
        return (0..<Int(count)).map { clang_getTokenSpelling(unit, tokens[$0]).consumed() }
    }

    init(raw: CXCursor) {
        self.raw = raw
    }

    /// Wraps a cursor libclang returned, or nil when it is null or invalid.
    init?(checking raw: CXCursor) {
        guard clang_Cursor_isNull(raw) == 0, clang_isInvalid(clang_getCursorKind(raw)) == 0 else {
            return nil
        }
        self.raw = raw
    }
}

extension CXString {
    /// Copies the string into Swift and frees libclang's copy.
    func consumed() -> String {
        defer { clang_disposeString(self) }
        guard let c = clang_getCString(self) else { return "" }
        return String(cString: c)
    }
}
