internal import CClang

/// A cursor as a dictionary key: libclang's own hash and equality
/// (`clang_hashCursor`, `clang_equalCursors`), which name the same AST node
/// however the cursor was reached.
struct CursorKey: Hashable {
    let cursor: Cursor

    init(_ cursor: Cursor) { self.cursor = cursor }

    static func == (a: CursorKey, b: CursorKey) -> Bool {
        clang_equalCursors(a.cursor.raw, b.cursor.raw) != 0
    }

    func hash(into hasher: inout Hasher) { hasher.combine(clang_hashCursor(cursor.raw)) }
}
