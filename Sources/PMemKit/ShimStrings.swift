/// Reads a fixed-size C `char[N]` field, imported as a tuple, as a String.
///
/// The shim always NUL-terminates; a field without a NUL is read to its end.
func shimString<T>(_ field: T) -> String {
    withUnsafeBytes(of: field) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// `nil` for an empty string, the string otherwise.
func nonEmpty(_ s: String) -> String? { s.isEmpty ? nil : s }

/// Copies a Swift string into a fixed-size C `char[N]` field (truncating, NUL-terminated).
func setShimString<T>(_ field: inout T, _ value: String) {
    withUnsafeMutableBytes(of: &field) { raw in
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        let utf8 = Array(value.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: utf8)
    }
}

/// Reads a NUL-terminated C string held in a Swift buffer (the shim's message and name outputs).
func shimString(buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
