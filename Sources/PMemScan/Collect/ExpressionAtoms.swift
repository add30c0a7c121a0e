internal import CClang
import Foundation

/// What values an expression may stand for, as atoms (see `Facts.swift`).
///
/// It records no facts; it only notes what it learns about places (their declared
/// kinds) and records (their layouts) on the way.
extension FactCollector {
    /// The atoms of expression `c`.
    func atoms(_ c: Cursor) -> [Atom] {
        var out = Set<Atom>()
        addAtoms(of: c, into: &out)
        return Array(out)
    }

    private func addAtoms(of c: Cursor, into out: inout Set<Atom>) {
        let key = CursorKey(c)
        if let known = atomCache[key] {
            out.formUnion(known)
            return
        }
        var found = Set<Atom>()
        descending { addAtomsHere(of: c, into: &found) }
        atomCache[key] = found
        out.formUnion(found)
    }

    private func addAtomsHere(of c: Cursor, into out: inout Set<Atom>) {
        let type = c.type
        addTypedRoot(of: c, type: type, into: &out)
        switch c.kind {
        case CXCursor_UnexposedExpr, CXCursor_ParenExpr, CXCursor_CStyleCastExpr, CXCursor_CXXStaticCastExpr,
            CXCursor_CXXReinterpretCastExpr, CXCursor_CXXConstCastExpr, CXCursor_CXXFunctionalCastExpr:
            if let inner = lastExpression(of: c) { addAtoms(of: inner, into: &out) }
        case CXCursor_DeclRefExpr:
            addDeclarationAtoms(c, into: &out)
        case CXCursor_MemberRefExpr:
            addFieldAtoms(c, into: &out)
        case CXCursor_UnaryOperator:
            addUnaryAtoms(c, type: type, into: &out)
        case CXCursor_ArraySubscriptExpr:
            let parts = expressions(of: c)
            guard let base = parts.first else { return }
            let baseAtoms = atoms(base)
            if !type.canonical.isScalarValue { out.formUnion(baseAtoms) }
            if !type.isRecord { out.insert(.load(baseAtoms)) }
        case CXCursor_BinaryOperator:
            let parts = expressions(of: c)
            if type.isPointer {
                // Pointer arithmetic: the pointer's targets, never the offset's values.
                for part in parts where part.type.isPointer || part.type.isArray {
                    addAtoms(of: part, into: &out)
                }
            } else if parts.count == 2, Self.packingOperators.contains(operatorToken(parts)) {
                // Shifts and masks pack a field's value into bytes; other arithmetic
                // (sizes, offsets, counts) derives new values that are not the field.
                for part in parts { addAtoms(of: part, into: &out) }
            } else if parts.count == 2, operatorToken(parts) == "," || operatorToken(parts) == "=" {
                addAtoms(of: parts[1], into: &out)
            }
        case CXCursor_ConditionalOperator:
            // The condition chooses; only the branches are values.
            for part in expressions(of: c).dropFirst() { addAtoms(of: part, into: &out) }
        case CXCursor_CallExpr:
            out.formUnion(callAtoms(c))
        case CXCursor_InitListExpr, CXCursor_CompoundLiteralExpr:
            for part in expressions(of: c) { addAtoms(of: part, into: &out) }
        default:
            break
        }
    }

    /// Records by pointer, array or value are objects of that record.
    private func addTypedRoot(of c: Cursor, type: ClangType, into out: inout Set<Atom>) {
        guard c.kind != CXCursor_UnaryExpr, let record = type.referredRecord ?? (type.isRecord ? type : nil)
        else { return }
        guard let id = catalog.knownRecord(record) else { return }
        out.insert(.root(.object(id, c.location.flatMap { pointerLocation($0, c) })))
    }

    /// Objects reached only through a pointer variable carry no location of their own:
    /// the evidence then names the I/O site. Address-of, arrays and values keep theirs.
    private func pointerLocation(_ location: SourceLocation, _ c: Cursor) -> SourceLocation? {
        let plainPointer =
            c.type.isPointer && (c.kind == CXCursor_DeclRefExpr || c.kind == CXCursor_UnexposedExpr)
        return plainPointer ? nil : location
    }

    private func addDeclarationAtoms(_ c: Cursor, into out: inout Set<Atom>) {
        guard let declaration = c.referenced else { return }
        switch declaration.kind {
        case CXCursor_VarDecl, CXCursor_ParmDecl:
            let usr = declaration.usr
            notePlace(usr, declaration.type)
            out.insert(.place(usr))
            if declaration.type.isArray { out.insert(.root(.storage(usr))) }
        case CXCursor_FunctionDecl:
            out.insert(.root(.function(declaration.usr)))
        default:
            break
        }
    }

    private func addFieldAtoms(_ c: Cursor, into out: inout Set<Atom>) {
        guard let field = c.referenced, field.kind == CXCursor_FieldDecl else { return }
        let usr = field.usr
        let fieldType = field.type
        // A data field's value is the field itself, whatever was assigned to it elsewhere.
        if !fieldType.isDataField || fieldType.pointsToBytes {
            notePlace(usr, fieldType)
            out.insert(.place(usr))
        }
        if fieldType.isArray, fieldType.pointsToBytes {
            // A byte array inside a struct is a buffer of its own, not a value of the struct.
            out.insert(.root(.storage(usr)))
        } else if fieldType.isDataField, let record = field.semanticParent?.type,
            let id = catalog.knownRecord(record), let location = c.location
        {
            out.insert(.root(.field(id, field.spelling, location, function: function)))
        }
    }

    private func addUnaryAtoms(_ c: Cursor, type: ClangType, into out: inout Set<Atom>) {
        guard let operand = expressions(of: c).first else { return }
        let operandType = operand.type.canonical
        let result = type.canonical
        let isAddressOf = result.isPointer && sameType(result.pointee, operandType)
        if isAddressOf, let address = addressAtoms(of: stripped(operand)) {
            out.formUnion(address)
        } else if isAddressOf && operandType.isRecord {
            // `&rec`, `&txn->dbs[i]`: the record object itself (the typed root), not
            // whatever else the base pointer's memory holds.
            return
        } else if !isAddressOf && operandType.isPointer && result.isRecord {
            // `*p` of a record: the record's bytes, already the typed root; not p's other targets.
            return
        } else if !isAddressOf && operandType.isPointer && !result.isFunction {
            // `*p`: the bytes p points to, or the value of the place whose address p holds.
            out.insert(.load(atoms(operand)))
        } else {
            // `&x` (the object itself), `*fp` (the function), `-x`, `~x`, `x++`: the operand's values.
            addAtoms(of: operand, into: &out)
        }
    }

    /// The atoms of a buffer handed to I/O, a copy or a store.
    ///
    /// A buffer whose expression is typed (`hdr`, `(char *)hdr + 8`, `&rec`) holds that
    /// record, whatever else its pointer may alias: only the record's objects count.
    /// Untyped buffers (`void *`, `char *`) keep every root.
    func bufferAtoms(_ expression: Cursor) -> [Atom] {
        let all = atoms(expression)
        guard let record = typedBase(of: expression) else { return all }
        let typed = all.filter { atom in
            if case .root(.object(let id, _)) = atom { return id == record }
            return false
        }
        return typed.isEmpty ? all : typed
    }

    /// The record a buffer expression is typed as, through casts, parentheses,
    /// pointer arithmetic and address-of; nil for raw bytes.
    private func typedBase(of expression: Cursor) -> RecordID? {
        var current = expression
        while true {
            if let record = current.type.referredRecord { return catalog.knownRecord(record) }
            switch current.kind {
            case _
            where current.kind == CXCursor_UnexposedExpr || current.kind == CXCursor_ParenExpr
                || current.isValueCast:
                guard let inner = lastExpression(of: current) else { return nil }
                current = inner
            case CXCursor_BinaryOperator where current.type.isPointer:
                guard
                    let pointer = expressions(of: current).first(where: {
                        $0.type.isPointer || $0.type.isArray
                    })
                else { return nil }
                current = pointer
            case CXCursor_UnaryOperator:
                guard let operand = expressions(of: current).first, operand.type.isRecord else { return nil }
                return catalog.knownRecord(operand.type)
            default:
                return nil
            }
        }
    }

    /// `&n` and `&db->map`: the place's address; `&h->count`: the field's bytes.
    ///
    /// Nil where the operand is an object or array whose address is the object itself.
    private func addressAtoms(of operand: Cursor) -> [Atom]? {
        let type = operand.type.canonical
        guard !type.isRecord, !type.isArray, let declaration = operand.referenced else { return nil }
        switch (operand.kind, declaration.kind) {
        case (CXCursor_DeclRefExpr, CXCursor_VarDecl), (CXCursor_DeclRefExpr, CXCursor_ParmDecl):
            return [.root(.address(declaration.usr))]
        case (CXCursor_MemberRefExpr, CXCursor_FieldDecl):
            if type.isScalarValue, let record = declaration.semanticParent?.type,
                let id = catalog.knownRecord(record), let location = operand.location
            {
                return [.root(.field(id, declaration.spelling, location, function: function))]
            }
            return [.root(.address(declaration.usr))]
        default:
            return nil
        }
    }

    /// What a call returns.
    func callAtoms(_ call: Cursor) -> [Atom] {
        guard let callee = directCallee(of: call) else { return [] }
        let name = callee.spelling
        let arguments = call.arguments
        let location = call.location ?? SourceLocation(file: "?", line: 0)
        if LibcCatalog.mappers.contains(name) {
            return [.root(mapsFile(call) ? .mapping(location) : .allocation(location))]
        }
        if LibcCatalog.allocators.contains(name) {
            var out: [Atom] = [.root(.allocation(location))]
            if name.hasPrefix("realloc"), let old = arguments.first { out += atoms(old) }
            return out
        }
        if let copy = LibcCatalog.copies[name], copy.destination < arguments.count {
            return atoms(arguments[copy.destination])
        }
        if LibcCatalog.passesValueThrough(name), let value = arguments.first {
            return atoms(value)
        }
        if callee.isInSystemHeader { return [] }
        return [.callResult(function: callee.usr, at: location)]
    }

    /// Whether an `mmap` call maps a file: no `MAP_ANONYMOUS` among its flags and an fd argument.
    func mapsFile(_ call: Cursor) -> Bool {
        let arguments = call.arguments
        guard arguments.count >= 5 else { return false }
        if let flags = arguments[3].integerValue {
            if flags & LibcCatalog.mapAnonymous != 0 { return false }
        } else if arguments[3].tokens(in: unit).contains(where: { $0 == "MAP_ANONYMOUS" || $0 == "MAP_ANON" })
        {
            return false
        }
        return arguments[4].integerValue.map { $0 >= 0 } ?? true
    }

    /// The function a call names directly, or nil for calls through pointers.
    func directCallee(of call: Cursor) -> Cursor? {
        guard var callee = expressions(of: call).first else { return nil }
        while callee.kind == CXCursor_UnexposedExpr || callee.kind == CXCursor_ParenExpr,
            let inner = lastExpression(of: callee)
        {
            callee = inner
        }
        // C++: `out.write(...)` names a method through a member reference.
        guard callee.kind == CXCursor_DeclRefExpr || callee.kind == CXCursor_MemberRefExpr,
            let target = callee.referenced,
            target.kind == CXCursor_FunctionDecl || target.kind == CXCursor_CXXMethod
        else { return nil }
        return target
    }

    /// Binary operators that pack a value into bytes.
    static let packingOperators: Set<String> = ["<<", ">>", "&", "|", "^"]

    /// The operator of a binary expression with operands `parts` (libclang 14 has no API for it).
    func operatorToken(_ parts: [Cursor]) -> String {
        Cursor.tokensBetween(parts[0], parts[1], in: unit).first ?? ""
    }

    /// Whether two types are the same once typedefs and qualifiers are looked through.
    func sameType(_ a: ClangType, _ b: ClangType) -> Bool {
        func bare(_ t: ClangType) -> String {
            t.canonical.spelling.replacingOccurrences(of: "const ", with: "")
                .replacingOccurrences(of: "volatile ", with: "")
        }
        return bare(a) == bare(b)
    }

    /// The expression children of a node (type references and the like left out).
    func expressions(of c: Cursor) -> [Cursor] {
        c.children.filter { $0.isExpression }
    }

    /// The last expression child: the operand of a cast or parenthesis.
    func lastExpression(of c: Cursor) -> Cursor? {
        expressions(of: c).last
    }

    /// `c` without parentheses and implicit conversions around it.
    func stripped(_ c: Cursor) -> Cursor {
        var current = c
        while current.kind == CXCursor_UnexposedExpr || current.kind == CXCursor_ParenExpr
            || current.isValueCast,
            let inner = lastExpression(of: current)
        {
            current = inner
        }
        return current
    }
}
