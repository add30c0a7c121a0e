internal import CClang

/// Walks translation units and records the facts the solver needs.
///
/// One collector serves a whole analysis: functions defined in headers that
/// several units include are walked once, by USR.
final class FactCollector {
    /// Everything collected so far.
    var facts = FactBase()
    /// Record layouts.
    let catalog = RecordCatalog()
    /// The unit being walked (valid during `collect`).
    private(set) var unit: CXTranslationUnit!
    /// The function being walked, by USR.
    private(set) var function: String?
    /// Per function: locals assigned only fresh allocations, and locals assigned anything else.
    private var allocatedLocals: Set<String> = []
    private var otherLocals: Set<String> = []
    private var returnedExpressions: [Cursor] = []
    /// How deep the recursive walks (`walk`, the atoms of an expression) are now.
    private var depth = 0
    /// The atoms of each expression of the function being walked, once
    /// computed: an assignment's atoms include its right-hand side's, so
    /// without this a chain `b = b = ... = a` is walked once per link
    /// (quadratic: 9,000 links took minutes).
    var atomCache: [CursorKey: Set<Atom>] = [:]

    /// The deepest the walks go: a safety net under `PersistenceAnalyzer.nestingLimit`
    /// (text that estimate cannot see, such as macro expansions, may nest deeper);
    /// what lies deeper is not analyzed, and the stack holds.
    static let maxDepth = 20_000

    /// Runs `body` one level deeper, unless the walk is already `maxDepth` deep.
    func descending(_ body: () -> Void) {
        guard depth < Self.maxDepth else { return }
        depth += 1
        defer { depth -= 1 }
        body()
    }

    /// Collects the facts of one parsed unit.
    func collect(_ translationUnit: TranslationUnit) {
        unit = translationUnit.raw
        atomCache = [:]
        defer {
            unit = nil
            atomCache = [:]
        }
        collectDeclarations(in: translationUnit.root)
        facts.records = catalog.records
    }

    /// Visits the declarations of a scope: the unit, and in C++ namespaces,
    /// `extern "C"` blocks and classes (methods defined in the class body).
    private func collectDeclarations(in scope: Cursor) {
        for declaration in scope.children {
            switch declaration.kind {
            case CXCursor_StructDecl where declaration.isDefinition,
                CXCursor_UnionDecl where declaration.isDefinition,
                CXCursor_ClassDecl where declaration.isDefinition:
                // Laid out in source order, where C puts a record after every record it
                // embeds: each layout then finds the inner ones done, and libclang never
                // recurses down a chain of records (a chain 100,000 long overflowed it).
                _ = declaration.type.size
                if declaration.isCPlusPlus, !declaration.isInSystemHeader {
                    descending { collectDeclarations(in: declaration) }
                }
            case CXCursor_TypedefDecl, CXCursor_TypeAliasDecl:
                noteTypedef(declaration)
            case CXCursor_FunctionDecl, CXCursor_CXXMethod, CXCursor_Constructor, CXCursor_Destructor,
                CXCursor_ConversionFunction:
                if declaration.isDefinition && !declaration.isInSystemHeader { collectFunction(declaration) }
            case CXCursor_VarDecl where !declaration.isInSystemHeader:
                walk(declaration)
            case CXCursor_Namespace, CXCursor_LinkageSpec:
                if !declaration.isInSystemHeader { descending { collectDeclarations(in: declaration) } }
            case CXCursor_FunctionTemplate, CXCursor_ClassTemplate,
                CXCursor_ClassTemplatePartialSpecialization:
                if !declaration.isInSystemHeader { noteTemplateIO(declaration) }
            default:
                break
            }
        }
    }

    /// Templates are not instantiated by the analysis: one whose text calls a block I/O
    /// function is noted, so that the report can say what it did not follow.
    private func noteTemplateIO(_ declaration: Cursor) {
        let tokens = declaration.tokens(in: unit)
        let calls = Set(
            zip(tokens, tokens.dropFirst()).compactMap { name, next in
                next == "(" && (LibcCatalog.sites[name] != nil) ? name : nil
            })
        guard !calls.isEmpty, let location = declaration.location else { return }
        facts.templatesWithIO.append(
            TemplateIO(name: declaration.spelling, location: location, calls: calls.sorted()))
    }

    private func noteTypedef(_ declaration: Cursor) {
        let underlying = declaration.typedefUnderlyingType.canonical
        guard underlying.isRecord, let record = underlying.declaration?.canonical else { return }
        facts.typedefs[record.usr, default: []].insert(declaration.spelling)
    }

    private func collectFunction(_ declaration: Cursor) {
        let usr = declaration.usr
        guard facts.functions[usr] == nil else { return }
        function = usr
        atomCache = [:]
        allocatedLocals = []
        otherLocals = []
        returnedExpressions = []
        let parameterDeclarations = declaration.children.filter { $0.kind == CXCursor_ParmDecl }
        for parameter in parameterDeclarations { notePlace(parameter.usr, parameter.type) }
        notePlace("ret:" + usr, declaration.resultType)
        let parameters = parameterDeclarations.map(\.usr)
        for child in declaration.children where child.kind == CXCursor_CompoundStmt {
            walk(child)
        }
        facts.functions[usr] = FunctionInfo(
            usr: usr, name: declaration.spelling, parameters: parameters,
            returnsOnlyAllocations: returnsOnlyAllocations())
        function = nil
    }

    /// Visits `c` and everything under it, recording facts.
    private func walk(_ c: Cursor) {
        switch c.kind {
        case CXCursor_UnaryExpr:
            return  // sizeof and alignof: their operands are never evaluated
        case CXCursor_CallExpr:
            recordCall(c)
        case CXCursor_BinaryOperator:
            recordAssignmentIfAny(c)
        case CXCursor_VarDecl:
            recordInitializer(c)
        case CXCursor_ReturnStmt:
            if let function, let value = expressions(of: c).first {
                returnedExpressions.append(value)
                facts.flows.append(("ret:" + function, atoms(value)))
            }
        case CXCursor_InitListExpr:
            recordRecordInitializer(c)
        case CXCursor_CStyleCastExpr, CXCursor_UnexposedExpr, CXCursor_CXXStaticCastExpr,
            CXCursor_CXXReinterpretCastExpr:
            recordOverlayIfAny(c)
        default:
            break
        }
        for child in c.children { descending { walk(child) } }
    }

    /// Remembers what a place's declared type lets it hold.
    func notePlace(_ usr: String, _ type: ClangType) {
        if facts.placeKinds[usr] == nil { facts.placeKinds[usr] = catalog.placeKind(of: type) }
    }

    // MARK: Calls

    private func recordCall(_ call: Cursor) {
        let arguments = call.arguments
        let location = call.location ?? SourceLocation(file: "?", line: 0)
        guard let callee = directCallee(of: call) else {
            // Through a function pointer: the solver resolves the targets.
            guard let calleeExpression = expressions(of: call).first else { return }
            facts.calls.append(
                CallFact(
                    callee: nil, calleeAtoms: atoms(calleeExpression),
                    arguments: arguments.map { argumentAtoms($0) },
                    location: location))
            return
        }
        let name = callee.spelling
        if callee.kind == CXCursor_CXXMethod {
            recordMethodCall(callee, arguments, location)
        } else if let site = LibcCatalog.sites[name] {
            recordSite(name, site, arguments, location)
        } else if let copy = LibcCatalog.copies[name], max(copy.destination, copy.source) < arguments.count {
            facts.copies.append(
                (bufferAtoms(arguments[copy.destination]), bufferAtoms(arguments[copy.source])))
        } else if let format = LibcCatalog.formatters[name], arguments.count > format.firstValue {
            // Text serialization: the values' fields are packed into the buffer.
            let values = arguments[format.firstValue...].flatMap { atoms($0) }
            facts.stores.append((bufferAtoms(arguments[format.buffer]), values))
        } else if let scan = LibcCatalog.scanners[name], arguments.count > scan.firstTarget {
            let buffer = bufferAtoms(arguments[scan.buffer])
            for target in arguments[scan.firstTarget...] { facts.copies.append((atoms(target), buffer)) }
        } else if LibcCatalog.mappers.contains(name), arguments.count >= 5, mapsFile(call) {
            facts.mappings[location] = atoms(arguments[4])
        } else if LibcCatalog.lockers.contains(name), let descriptor = arguments.first {
            facts.lockedDescriptors.append(atoms(descriptor))
        } else if name == "fcntl", arguments.count >= 2, let command = arguments[1].integerValue,
            LibcCatalog.lockCommands.contains(command)
        {
            facts.lockedDescriptors.append(atoms(arguments[0]))
        } else if name == "posix_memalign", let target = arguments.first {
            for case .place(let place) in atoms(target) {
                facts.flows.append((place, [.root(.allocation(location))]))
            }
        } else if !callee.isInSystemHeader {
            facts.calls.append(
                CallFact(
                    callee: callee.usr, calleeAtoms: [], arguments: arguments.map { argumentAtoms($0) },
                    location: location))
        }
    }

    /// A C++ method call: a stream's `write`/`read` is a site (its buffer is the first
    /// argument; the stream is the object), the program's own methods are calls.
    private func recordMethodCall(_ method: Cursor, _ arguments: [Cursor], _ location: SourceLocation) {
        let name = method.spelling
        if method.isInSystemHeader {
            guard let owner = method.semanticParent?.spelling,
                let site = LibcCatalog.streamSites["\(owner)::\(name)"]
            else { return }
            recordSite("\(owner)::\(name)", site, arguments, location)
        } else {
            facts.calls.append(
                CallFact(
                    callee: method.usr, calleeAtoms: [], arguments: arguments.map { argumentAtoms($0) },
                    location: location))
        }
    }

    /// An argument's atoms, with typed pointers placed at the argument: the caller's line is the
    /// evidence a reader wants when the I/O happens inside a wrapper.
    private func argumentAtoms(_ argument: Cursor) -> [Atom] {
        guard let location = argument.location else { return atoms(argument) }
        return atoms(argument).map { atom in
            if case .root(.object(let record, nil)) = atom { return .root(.object(record, location)) }
            return atom
        }
    }

    private func recordSite(
        _ name: String, _ site: LibcCatalog.Site, _ arguments: [Cursor], _ location: SourceLocation
    ) {
        let buffer: [Atom]
        switch site.buffer {
        case .argument(let index):
            guard index < arguments.count else { return }
            buffer = bufferAtoms(arguments[index])
        case .iovec:
            buffer = [.place(LibcCatalog.iovecBase)]
        case .aiocb:
            buffer = [.place(LibcCatalog.aiocbBuffer)]
        }
        facts.sites.append(IOSite(call: name, access: site.access, buffer: buffer, location: location))
    }

    // MARK: Assignments

    private func recordAssignmentIfAny(_ c: Cursor) {
        let parts = expressions(of: c)
        guard parts.count == 2, Cursor.tokensBetween(parts[0], parts[1], in: unit).first == "=" else {
            return
        }
        recordAssignment(to: parts[0], value: atoms(parts[1]), location: c.location)
    }

    private func recordAssignment(to target: Cursor, value: [Atom], location: SourceLocation?) {
        let lhs = stripped(target)
        switch lhs.kind {
        case CXCursor_DeclRefExpr:
            guard let variable = lhs.referenced else { return }
            notePlace(variable.usr, variable.type)
            facts.flows.append((variable.usr, value))
            noteLocalAssignment(variable.usr, value)
        case CXCursor_MemberRefExpr:
            guard let field = lhs.referenced, field.kind == CXCursor_FieldDecl else { return }
            notePlace(field.usr, field.type)
            facts.flows.append((field.usr, value))
            if field.type.isDataField, let record = field.semanticParent?.type,
                let id = catalog.knownRecord(record), let location
            {
                facts.fieldAssignments.append((id, field.spelling, value, location, function))
            }
        case CXCursor_UnaryOperator, CXCursor_ArraySubscriptExpr:
            guard let base = expressions(of: lhs).first else { return }
            facts.indirectFlows.append((atoms(base), value))
            // Storing a pointer puts an address in memory, not the bytes it points to.
            if !lhs.type.isPointer { facts.stores.append((bufferAtoms(base), value)) }
            // Tables of function pointers filled one slot at a time.
            let strippedBase = stripped(base)
            if lhs.type.isPointer,
                strippedBase.kind == CXCursor_DeclRefExpr || strippedBase.kind == CXCursor_MemberRefExpr,
                let place = strippedBase.referenced
            {
                facts.flows.append((place.usr, value))
            }
        default:
            break
        }
    }

    private func recordInitializer(_ variable: Cursor) {
        guard let value = expressions(of: variable).last else { return }
        let valueAtoms = atoms(value)
        notePlace(variable.usr, variable.type)
        facts.flows.append((variable.usr, valueAtoms))
        noteLocalAssignment(variable.usr, valueAtoms)
    }

    /// `{ .write = file_write, ... }` and `{ &hdr, sizeof hdr }`: each value flows into its field.
    private func recordRecordInitializer(_ list: Cursor) {
        let type = list.type.canonical
        guard type.isRecord, let declaration = type.declaration else { return }
        let fields = (declaration.definition ?? declaration).children.filter { $0.kind == CXCursor_FieldDecl }
        var position = 0
        for item in list.children where item.isExpression {
            var field: Cursor?
            var value = item
            let parts = item.children
            if item.kind == CXCursor_UnexposedExpr, let designator = parts.first,
                designator.kind == CXCursor_MemberRef, let last = parts.last
            {
                field = designator.referenced
                value = last
                if let field, let index = fields.firstIndex(where: { $0.usr == field.usr }) {
                    position = index
                }
            } else if position < fields.count {
                field = fields[position]
            }
            position += 1
            guard let field, value.kind != CXCursor_InitListExpr else { continue }
            notePlace(field.usr, field.type)
            facts.flows.append((field.usr, atoms(value)))
        }
    }

    // MARK: Overlays

    /// `(struct hdr *)buf` or an implicit `void *` → `struct hdr *`: the record is laid over the bytes.
    /// A cast from another record (`(ext_header *)hdr`) reinterprets that record's memory the same way.
    private func recordOverlayIfAny(_ cast: Cursor) {
        let type = cast.type.canonical
        guard type.isPointer, type.pointee.isRecord, let operand = lastExpression(of: cast) else { return }
        let from = operand.type.canonical
        let reinterpretsRecord =
            from.isPointer && from.pointee.isRecord && !sameType(from.pointee, type.pointee)
        guard from.pointsToBytes || (from.isPointer && from.pointee.isScalarValue) || reinterpretsRecord
        else { return }
        guard let id = catalog.knownRecord(type.pointee), let location = cast.location else { return }
        let operandAtoms = atoms(operand)
        // `(T *)malloc(n)` allocates a T: a typed object, not a layout laid over some bytes.
        let freshAllocation = operandAtoms.allSatisfy { atom in
            if case .root(.allocation) = atom { return true }
            return false
        }
        guard !freshAllocation else { return }
        facts.overlays.append((id, operandAtoms, location))
    }

    // MARK: Allocator wrappers

    private func noteLocalAssignment(_ usr: String, _ value: [Atom]) {
        guard function != nil else { return }
        let fresh =
            !value.isEmpty && value.allSatisfy { if case .root(.allocation) = $0 { true } else { false } }
        if fresh { allocatedLocals.insert(usr) } else if !value.isEmpty { otherLocals.insert(usr) }
    }

    /// Whether every `return` of the current function hands back a fresh allocation.
    private func returnsOnlyAllocations() -> Bool {
        guard !returnedExpressions.isEmpty else { return false }
        return returnedExpressions.allSatisfy { expression in
            let value = stripped(expression)
            if value.kind == CXCursor_IntegerLiteral { return true }  // NULL on failure
            if value.kind == CXCursor_CallExpr, let callee = directCallee(of: value) {
                return LibcCatalog.allocators.contains(callee.spelling)
            }
            if value.kind == CXCursor_DeclRefExpr, let local = value.referenced {
                return allocatedLocals.contains(local.usr) && !otherLocals.contains(local.usr)
            }
            return false
        }
    }
}
