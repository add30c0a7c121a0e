import CPmemobj
import Foundation

/// libpmemobj on a file of the same size and backing as our pool: the
/// baseline of the heap suite.
///
/// On a file that is not DAX, libpmem would make every persist an msync;
/// `PMEM_IS_PMEM_FORCE=1` (set before the library first looks) makes it use
/// the same CPU flushes our emulated backing uses, so both sides pay the same
/// price per flushed line.
final class PmemobjPool {
    /// The layout name both create and open use.
    static let layout = "pmem-bench-heap"
    let path: String
    private(set) var pool: OpaquePointer

    /// Creates a pool of `size` bytes at `path`.
    init(path: String, size: Int) throws {
        setenv("PMEM_IS_PMEM_FORCE", "1", 1)
        unlink(path)
        guard let pool = pmemobj_create(path, Self.layout, size, 0o600) else {
            throw BenchError("pmemobj_create \(path): \(String(cString: pmemobj_errormsg()))")
        }
        self.path = path
        self.pool = pool
    }

    deinit { pmemobj_close(pool) }

    /// Closes and opens the pool again (timed by the open cases).
    func reopen() throws -> UInt64 {
        pmemobj_close(pool)
        let start = nowNs()
        guard let reopened = pmemobj_open(path, Self.layout) else {
            throw BenchError("pmemobj_open \(path): \(String(cString: pmemobj_errormsg()))")
        }
        let elapsed = nowNs() - start
        pool = reopened
        return elapsed
    }

    /// A zeroed allocation of `size` bytes.
    func zalloc(_ size: Int) throws -> PMEMoid {
        var oid = PMEMoid()
        guard pmemobj_zalloc(pool, &oid, size, 1) == 0 else {
            throw BenchError("pmemobj_zalloc: \(String(cString: pmemobj_errormsg()))")
        }
        return oid
    }
}

/// A list node addressed by `PMEMoid`, as a pmemobj program writes it.
struct OidNode {
    var next: PMEMoid
    var value: Int64
}

/// A binary tree node addressed by `PMEMoid`.
struct OidTreeNode {
    var key: Int64
    var left: PMEMoid
    var right: PMEMoid
}

/// A benchmark setup failure, one line.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension PMEMoid {
    /// The object's address in this process (`pmemobj_direct`).
    @inline(__always) var direct: UnsafeMutableRawPointer? { pmemobj_direct_inline(self) }
    /// Whether this is OID_NULL.
    @inline(__always) var isNull: Bool { off == 0 }
}
