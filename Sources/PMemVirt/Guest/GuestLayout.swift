internal import CKVMShim
import Foundation
import PMemKit

/// Where things sit in a PMemVirt guest's physical address space, and the
/// boot-time structures the VMM writes into guest RAM: the GDT, identity
/// page tables (2 MiB pages) and the boot information.
///
/// The addresses are the ABI's (`pmk_hypercall.h`), shared with the guest programs:
/// ```
/// 0x0000_0500  GDT            0x0008_0000  boot info        0x0010_0000  image (≤ 1 MiB)
/// 0x0000_1000  PML4, PDPT, PDs             top of RAM: one 64 KiB stack per vCPU
/// 0xF000_0000  vFHA page (4 KiB)           0x1_0000_0000  vPMem
/// ```
public struct GuestLayout: Sendable, Equatable {
    /// Guest RAM, from guest-physical 0.
    public var ramSize: UInt64
    /// vCPUs, each with a stack at the top of RAM.
    public var vcpus: Int
    /// vPMem bytes at `vpmemAddress` (0 for none).
    public var vpmemSize: UInt64

    /// The GDT: null, flat 64-bit code (0x08), flat data (0x10).
    public static let gdtAddress: UInt64 = PMK_GPA_GDT
    /// The PML4; the PDPT and page directories follow it page by page.
    public static let pml4Address: UInt64 = PMK_GPA_PML4
    /// `struct pmk_boot_info`.
    public static let bootInfoAddress: UInt64 = PMK_GPA_BOOT_INFO
    /// Where a guest image is loaded and entered.
    public static let imageAddress: UInt64 = PMK_GPA_IMAGE
    /// The largest image, bytes.
    public static let imageLimit: UInt64 = PMK_IMAGE_MAX
    /// The virtual flush hint page.
    public static let vfhaAddress: UInt64 = PMK_GPA_VFHA
    /// Start of vPMem.
    public static let vpmemAddress: UInt64 = PMK_GPA_VPMEM
    /// Stack bytes per vCPU.
    public static let stackSize: UInt64 = PMK_STACK_SIZE
    /// Page size of the memslots and of the vFHA.
    public static let pageSize: UInt64 = 4096
    /// Bytes one page directory maps (512 pages of 2 MiB).
    static let bytesPerDirectory: UInt64 = 1 << 30

    /// Checks that RAM holds the boot structures, a full image and every stack,
    /// and that vPMem is page-sized and fits the page tables.
    public init(ramSize: UInt64, vcpus: Int, vpmemSize: UInt64) throws {
        self.ramSize = ramSize
        self.vcpus = vcpus
        self.vpmemSize = vpmemSize
        let needed = Self.imageAddress + Self.imageLimit + UInt64(vcpus) * Self.stackSize
        guard ramSize >= needed, ramSize % Self.pageSize == 0, ramSize <= Self.vfhaAddress else {
            throw PMemError(
                .invalidArgument, operation: "lay out guest",
                detail: "guest RAM of \(ramSize) bytes must be whole pages, at least \(needed) bytes for "
                    + "\(vcpus) vCPUs, and below the vFHA at 0x\(String(Self.vfhaAddress, radix: 16))")
        }
        guard vpmemSize % Self.pageSize == 0 else {
            throw PMemError(
                .invalidArgument, operation: "lay out guest",
                detail: "vPMem of \(vpmemSize) bytes is not a whole number of 4 KiB pages")
        }
        let directories = (topAddress + Self.bytesPerDirectory - 1) / Self.bytesPerDirectory
        guard Self.pml4Address + (2 + directories) * Self.pageSize <= Self.bootInfoAddress else {
            throw PMemError(
                .invalidArgument, operation: "lay out guest",
                detail: "vPMem of \(vpmemSize) bytes reaches past what the guest page tables map")
        }
    }

    /// One past the highest guest-physical address in use.
    public var topAddress: UInt64 {
        max(Self.vfhaAddress + Self.pageSize, vpmemSize > 0 ? Self.vpmemAddress + vpmemSize : 0)
    }

    /// The initial stack pointer of vCPU `index` (16-byte aligned, as `_start` expects).
    public func stackTop(vcpu index: Int) -> UInt64 {
        ramSize - UInt64(index) * Self.stackSize
    }

    /// Writes the GDT and identity-mapping page tables for `[0, topAddress)` into `ram`.
    ///
    /// Every page is a user page, so a guest runs the same at CPL 0 or 3
    /// (the VMM sets no SMEP or SMAP).
    func writeBootStructures(into ram: UnsafeMutableRawPointer) {
        // null, kernel code 0x08, kernel data 0x10, user code 0x18, user data 0x20
        let gdt: [UInt64] = [
            0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff, 0x00af_fa00_0000_ffff, 0x00cf_f200_0000_ffff,
        ]
        for (i, descriptor) in gdt.enumerated() {
            ram.storeBytes(of: descriptor, toByteOffset: Int(Self.gdtAddress) + i * 8, as: UInt64.self)
        }
        let present: UInt64 = 1
        let writable: UInt64 = 1 << 1
        let user: UInt64 = 1 << 2
        let largePage: UInt64 = 1 << 7
        let pdpt = Self.pml4Address + Self.pageSize
        ram.storeBytes(
            of: pdpt | present | writable | user, toByteOffset: Int(Self.pml4Address), as: UInt64.self)
        let directories = (topAddress + Self.bytesPerDirectory - 1) / Self.bytesPerDirectory
        for d in 0..<directories {
            let directory = pdpt + (1 + d) * Self.pageSize
            ram.storeBytes(
                of: directory | present | writable | user, toByteOffset: Int(pdpt + d * 8), as: UInt64.self)
            for e in 0..<UInt64(512) {
                let frame = d * Self.bytesPerDirectory + e * (2 << 20)
                ram.storeBytes(
                    of: frame | present | writable | user | largePage, toByteOffset: Int(directory + e * 8),
                    as: UInt64.self)
            }
        }
    }

    /// The GDT limit (bytes minus one) for the five descriptors.
    static let gdtLimit: UInt16 = 5 * 8 - 1

    /// Writes `struct pmk_boot_info` for the guest.
    func writeBootInfo(into ram: UnsafeMutableRawPointer, arguments: [UInt64]) {
        var info = pmk_boot_info()
        info.magic = PMK_BOOT_MAGIC
        info.version = 1
        info.vcpus = UInt32(vcpus)
        info.ram_size = ramSize
        info.vpmem_gpa = vpmemSize > 0 ? Self.vpmemAddress : 0
        info.vpmem_size = vpmemSize
        info.vfha_gpa = Self.vfhaAddress
        withUnsafeMutableBytes(of: &info.args) { raw in
            for (i, value) in arguments.prefix(Int(PMK_BOOT_ARGS)).enumerated() {
                raw.storeBytes(of: value, toByteOffset: i * 8, as: UInt64.self)
            }
        }
        (ram + Int(Self.bootInfoAddress)).storeBytes(of: info, as: pmk_boot_info.self)
    }
}
