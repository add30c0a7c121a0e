internal import CPMemShim
import Foundation

/// An open libndctl + libdaxctl context. Every object read through it lives
/// as long as it does; it is closed when released.
final class NDContext {
    let raw: OpaquePointer

    /// Opens the libraries; throws when they cannot start (no sysfs, no memory).
    init() throws {
        var ctx: OpaquePointer?
        let rc = pmk_ctx_new(&ctx)
        guard rc == 0, let ctx else {
            throw PMemError.system("libndctl", errno: -rc, detail: "cannot open the nvdimm library")
        }
        raw = ctx
    }

    deinit { pmk_ctx_free(raw) }

    /// The region named `name`, or a `notFound` error.
    func region(named name: String, for operation: String) throws -> OpaquePointer {
        guard let region = pmk_region_find(raw, name) else {
            throw PMemError(.notFound, operation: operation, errno: ENODEV, detail: "no region named \(name)")
        }
        return region
    }
}
