@_spi(Primitives) import PMemKit

// Helpers for the C structs of pmh_format.h: Swift imports a C array field
// (`uint64_t bases[5]`) as a tuple, and a checksum field covers the bytes of
// the struct before it.

/// Calls `body` with the elements of a C array field (a homogeneous tuple) as a buffer.
@inline(__always) func withElements<Tuple, Element, Result>(
    of tuple: inout Tuple, as _: Element.Type, _ body: (UnsafeMutableBufferPointer<Element>) throws -> Result
) rethrows -> Result {
    try withUnsafeMutableBytes(of: &tuple) { try $0.withMemoryRebound(to: Element.self, body) }
}

/// The elements of a C array field (a homogeneous tuple), the first `count` of them.
@inline(__always) func elements<Tuple, Element>(of tuple: Tuple, as _: Element.Type, count: Int) -> [Element]
{
    withUnsafeBytes(of: tuple) { Array($0.assumingMemoryBound(to: Element.self).prefix(count)) }
}

/// The checksum of the first `length` bytes of `value` (a format struct
/// whose checksum field starts at `length`), as it will be stored.
@inline(__always) func checksum<Struct>(of value: Struct, upTo length: Int, seed: UInt64) -> UInt64 {
    withUnsafeBytes(of: value) { Checksum.of($0.baseAddress!, length, seed: seed) }
}
