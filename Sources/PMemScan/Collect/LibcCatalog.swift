/// The C library calls the analysis knows by name: block I/O sites and the
/// calls that move, allocate or reorder bytes on their way to them.
enum LibcCatalog {
    /// Where a site's data lives among its arguments.
    enum Buffer: Equatable {
        /// The argument at this index is the data pointer.
        case argument(Int)
        /// The argument is a `struct iovec` array: the data is in `iov_base`.
        case iovec
        /// The argument is a `struct aiocb`: the data is in `aio_buf`.
        case aiocb
    }

    /// A block I/O call: its direction and where its buffer is.
    struct Site {
        let access: Access
        let buffer: Buffer
    }

    /// Block I/O calls that move a buffer to or from a file descriptor or stream.
    static let sites: [String: Site] = [
        "write": Site(access: .write, buffer: .argument(1)),
        "pwrite": Site(access: .write, buffer: .argument(1)),
        "pwrite64": Site(access: .write, buffer: .argument(1)),
        "fwrite": Site(access: .write, buffer: .argument(0)),
        "fwrite_unlocked": Site(access: .write, buffer: .argument(0)),
        "writev": Site(access: .write, buffer: .iovec),
        "pwritev": Site(access: .write, buffer: .iovec),
        "pwritev2": Site(access: .write, buffer: .iovec),
        "aio_write": Site(access: .write, buffer: .aiocb),
        "aio_write64": Site(access: .write, buffer: .aiocb),
        "msync": Site(access: .write, buffer: .argument(0)),
        "read": Site(access: .read, buffer: .argument(1)),
        "pread": Site(access: .read, buffer: .argument(1)),
        "pread64": Site(access: .read, buffer: .argument(1)),
        "fread": Site(access: .read, buffer: .argument(0)),
        "fread_unlocked": Site(access: .read, buffer: .argument(0)),
        "readv": Site(access: .read, buffer: .iovec),
        "preadv": Site(access: .read, buffer: .iovec),
        "preadv2": Site(access: .read, buffer: .iovec),
        "aio_read": Site(access: .read, buffer: .aiocb),
        "aio_read64": Site(access: .read, buffer: .aiocb),
    ]

    /// C++ stream methods that move a buffer (their first argument) to or from a
    /// stream, by `class::method` as libstdc++ and libc++ declare them: `ostream::write`
    /// and `ofstream::write` are `basic_ostream::write`.
    static let streamSites: [String: Site] = [
        "basic_ostream::write": Site(access: .write, buffer: .argument(0)),
        "basic_streambuf::sputn": Site(access: .write, buffer: .argument(0)),
        "basic_istream::read": Site(access: .read, buffer: .argument(0)),
        "basic_istream::readsome": Site(access: .read, buffer: .argument(0)),
        "basic_streambuf::sgetn": Site(access: .read, buffer: .argument(0)),
    ]

    /// The USR of `struct iovec`'s data field, where writev/readv find their buffers.
    static let iovecBase = "c:@S@iovec@FI@iov_base"
    /// The USR of `struct aiocb`'s data field, where aio_write/aio_read find theirs.
    static let aiocbBuffer = "c:@S@aiocb@FI@aio_buf"

    /// `fcntl` commands that lock records of a file (Linux values): F_GETLK, F_SETLK,
    /// F_SETLKW, and their open-file-description twins F_OFD_GETLK/SETLK/SETLKW.
    static let lockCommands: Set<Int> = [5, 6, 7, 36, 37, 38]

    /// `MAP_ANONYMOUS` on Linux: memory with no file behind it.
    static let mapAnonymous = 0x20

    /// Calls that lock a whole descriptor (first argument).
    static let lockers: Set<String> = ["flock", "lockf"]

    /// Calls that map memory; with a file descriptor (no `MAP_ANONYMOUS`) they map a file.
    static let mappers: Set<String> = ["mmap", "mmap64"]

    /// Calls that copy bytes from their source argument into their destination: `(destination, source)`.
    static let copies: [String: (destination: Int, source: Int)] = [
        "memcpy": (0, 1), "memmove": (0, 1), "mempcpy": (0, 1), "memccpy": (0, 1),
        "__builtin_memcpy": (0, 1), "__builtin_memmove": (0, 1),
        "__builtin___memcpy_chk": (0, 1), "__builtin___memmove_chk": (0, 1),
        "__memcpy_chk": (0, 1), "__memmove_chk": (0, 1),
        "strcpy": (0, 1), "strncpy": (0, 1), "stpcpy": (0, 1), "stpncpy": (0, 1),
        "bcopy": (1, 0),
    ]

    /// Calls that format their trailing arguments into a buffer: the index of the
    /// buffer and of the first value (`sprintf(buf, fmt, ...)`: 0 and 2).
    static let formatters: [String: (buffer: Int, firstValue: Int)] = [
        "sprintf": (0, 2), "snprintf": (0, 3), "__builtin___sprintf_chk": (0, 4),
        "__builtin___snprintf_chk": (0, 5),
    ]

    /// Calls that parse a buffer into their trailing arguments (`sscanf(buf, fmt, ...)`).
    static let scanners: [String: (buffer: Int, firstTarget: Int)] = ["sscanf": (0, 2)]

    /// Calls that return fresh memory.
    static let allocators: Set<String> = [
        "malloc", "calloc", "realloc", "reallocarray", "aligned_alloc", "valloc", "pvalloc",
        "memalign", "strdup", "strndup", "alloca", "__builtin_alloca",
    ]

    /// Calls whose result is their first argument's value with its bytes reordered.
    static func passesValueThrough(_ name: String) -> Bool {
        let prefixes = [
            "hton", "ntoh", "htobe", "htole", "be16toh", "be32toh", "be64toh", "le16toh", "le32toh",
            "le64toh", "bswap_", "__bswap_", "__builtin_bswap", "__uint16_identity", "__uint32_identity",
            "__uint64_identity",
        ]
        return prefixes.contains { name.hasPrefix($0) }
    }
}
