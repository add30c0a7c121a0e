internal import CPMemKitAPI
import Foundation
import PMemKit

/// A failure of the C API itself (a NULL argument, a closed handle), with the
/// status the caller gets.
struct CAPIError: Error {
    let status: pmk_status
    let message: String

    static func invalid(_ message: String) -> CAPIError { CAPIError(status: PMK_E_INVALID, message: message) }
}

/// The status a C caller gets for `error`: PMemError's kind, with ENOSPC
/// (a full pool, redo log or replication log) told apart.
func status(for error: Error) -> pmk_status {
    switch error {
    case let failure as CAPIError: return failure.status
    case let failure as PMemError:
        if failure.errno == ENOSPC { return PMK_E_NO_SPACE }
        switch failure.kind {
        case .invalidArgument: return PMK_E_INVALID
        case .notFound: return PMK_E_NOT_FOUND
        case .busy: return PMK_E_BUSY
        case .unsupported: return PMK_E_UNSUPPORTED
        case .system: return PMK_E_SYSTEM
        case .corrupt: return PMK_E_CORRUPT
        }
    default: return PMK_E_SYSTEM
    }
}

/// Runs one C API call: PMK_OK when `body` returns, else the error's status
/// with its one-line message kept for `pmk_errmsg`. Nothing thrown crosses
/// into C.
func cCall(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return PMK_OK.rawValue
    } catch {
        let message: String
        switch error {
        case let failure as CAPIError: message = failure.message
        case let failure as PMemError: message = failure.description
        default: message = String(describing: error)
        }
        return pmk_api_fail(status(for: error).rawValue, message)
    }
}

/// `pointer`, or a PMK_E_INVALID failure naming the argument.
func required<T>(_ pointer: T?, _ name: String) throws -> T {
    guard let pointer else { throw CAPIError.invalid("\(name) is NULL") }
    return pointer
}

/// A C string argument as a Swift string.
func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    let text = String(cString: try required(pointer, name))
    guard !text.isEmpty else { throw CAPIError.invalid("\(name) is empty") }
    return text
}

/// A `size_t` argument as an Int (sizes past Int.max cannot be real).
func size(_ value: Int, _ name: String) throws -> Int {
    guard value >= 0 else { throw CAPIError.invalid("\(name) is too large (\(UInt(bitPattern: value)))") }
    return value
}

/// Whether `[address, address+length)` lies inside `[base, base+limit)`, without overflow.
func range(_ address: UnsafeRawPointer, _ length: Int, isInside base: UnsafeRawPointer, _ limit: Int) -> Bool
{
    let start = UInt(bitPattern: address)
    let low = UInt(bitPattern: base)
    guard start >= low else { return false }
    let offset = start - low
    return offset <= UInt(limit) && UInt(length) <= UInt(limit) - offset
}

/// PMK_E_INVALID naming argument `name` unless `[address, address+length)`
/// lies inside `[base, base+limit)`; `outside` says where it should have been
/// ("not in the pool P", "outside the mapping of P").
func checkRange(
    _ address: UnsafeRawPointer, _ length: Int, _ name: String, isInside base: UnsafeRawPointer, _ limit: Int,
    outside: @autoclosure () -> String
) throws {
    guard range(address, length, isInside: base, limit) else {
        throw CAPIError.invalid(
            "\(name) \(address) + \(length) bytes is \(outside()) (\(base), \(limit) bytes)")
    }
}
