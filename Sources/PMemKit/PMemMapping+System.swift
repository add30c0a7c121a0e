import Foundation

// The system calls behind PMemMapping: creating and growing files, sizing
// DAX devices, and mmap with MAP_SYNC.

/// Linux mmap flags the Glibc module does not export.
enum MapFlags {
    static let sharedValidate: Int32 = 0x03
    static let sync: Int32 = 0x80000
    static let fixedNoReplace: Int32 = 0x100000
}

/// `BLKGETSIZE64`: `_IOR(0x12, 114, size_t)`.
let blkGetSize64: UInt = 0x8008_1272

extension PMemMapping {
    /// Creates `path` with `size` bytes allocated.
    static func createFile(_ path: String, size: Int) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PMemError.system("create", errno: errno, detail: path) }
        defer { close(fd) }
        do {
            try grow(fd, to: size, path: path)
        } catch {
            unlink(path)
            throw error
        }
    }

    /// Allocates blocks up to `size` so a later store cannot fault on a full disk.
    static func grow(_ fd: Int32, to size: Int, path: String) throws {
        let rc = posix_fallocate(fd, 0, off_t(size))
        if rc == 0 { return }
        // Some file systems cannot preallocate; a sparse extension still maps.
        guard rc == EOPNOTSUPP || rc == EINVAL else {
            throw PMemError.system("allocate \(size) bytes", errno: rc, detail: path)
        }
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw PMemError.system("truncate to \(size) bytes", errno: errno, detail: path)
        }
    }

    /// Size of a DAX character device from `/sys/dev/char/M:m/size`.
    static func characterDeviceSize(_ rdev: dev_t, path: String) throws -> Int {
        let attr = "/sys/dev/char/\(DeviceNumber.major(rdev)):\(DeviceNumber.minor(rdev))/size"
        guard let text = KernelText.read(attr), let bytes = sizeAttribute(text)
        else {
            throw PMemError(
                .unsupported, operation: "map", detail: "\(path) is a character device but not a DAX device")
        }
        return bytes
    }

    /// The bytes a sysfs `size` attribute's text gives: a decimal number
    /// above zero (and a newline); `nil` for anything else.
    static func sizeAttribute(_ text: String) -> Int? {
        guard let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes > 0 else {
            return nil
        }
        return bytes
    }

    /// mmap: devdax directly, regular files with MAP_SYNC first, then without.
    static func map(
        fd: Int32, length: Int, fileType: mode_t, options: Options, path: String
    ) throws -> (UnsafeMutableRawPointer, DeviceKind, Backing) {
        let prot = options.readOnly ? PROT_READ : PROT_READ | PROT_WRITE
        let fixed = options.address != nil ? MapFlags.fixedNoReplace : 0
        let hint = options.address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }

        func attempt(_ flags: Int32) -> UnsafeMutableRawPointer? {
            guard let p = mmap(hint, length, prot, flags | fixed, fd, 0), p != MAP_FAILED else { return nil }
            if let hint, p != hint {
                // An old kernel ignored MAP_FIXED_NOREPLACE; do not keep a stray mapping.
                munmap(p, length)
                errno = EEXIST
                return nil
            }
            return p
        }
        func failure(_ what: String) -> PMemError {
            if errno == EEXIST, let address = options.address {
                return PMemError(
                    .busy, operation: "mmap", errno: EEXIST,
                    detail: "\(path): address 0x\(String(address, radix: 16)) is already in use")
            }
            return PMemError.system("mmap", errno: errno, detail: "\(path) (\(what))")
        }

        switch fileType {
        case S_IFCHR:
            guard let p = attempt(MAP_SHARED) else { throw failure("devdax") }
            return (p, .devdax, .pmem)
        case S_IFBLK:
            guard let p = attempt(MAP_SHARED) else { throw failure("block device") }
            return (p, .block, .file)
        default:
            if let p = attempt(MapFlags.sharedValidate | MapFlags.sync) {
                return (p, .fsdax, .pmem)
            }
            guard errno == EOPNOTSUPP || errno == EINVAL else {
                throw failure("MAP_SYNC")
            }
            pmemLog.debug("\(path): no MAP_SYNC (not on a DAX file system); mapping it as a plain file")
            guard let p = attempt(MAP_SHARED) else { throw failure("shared") }
            return (p, .file, options.plainFile == .file ? .file : .emulated)
        }
    }
}
