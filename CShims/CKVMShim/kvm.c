// SPDX-License-Identifier: Apache-2.0
/*
 * kvm.c -- thin wrappers over the KVM ioctls, long-mode vCPU setup and
 * exit decoding. See pmk_kvm.h for the contract of each function.
 */
#if !defined(__x86_64__)
#error "kvm.c programs x86-64 vCPUs (long mode, segment and control registers)"
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pmk_kvm.h"

/* Control register and EFER bits for a 64-bit guest with paging. */
#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

/* Segment types: execute/read accessed code, read/write accessed data. */
#define SEG_TYPE_CODE 11
#define SEG_TYPE_DATA 3

/* RFLAGS: bit 1 is reserved and always set; IOPL 3 lets CPL 3 use in/out. */
#define RFLAGS_RESERVED (1ULL << 1)
#define RFLAGS_IOPL3 (3ULL << 12)

/* xioctl -- ioctl returning its value, or -errno */
static int xioctl(int fd, unsigned long request, void *arg)
{
	int rc = ioctl(fd, request, arg);

	return rc < 0 ? -errno : rc;
}

/* pmk_kvm_open -- open @path (/dev/kvm) and check the API version */
int pmk_kvm_open(const char *path)
{
	int fd, version;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != PMK_KVM_API_VERSION) {
		close(fd);
		return version < 0 ? -errno : -EPROTO;
	}
	return fd;
}

/* pmk_kvm_close -- close any KVM file descriptor */
void pmk_kvm_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* pmk_kvm_check_extension -- KVM_CHECK_EXTENSION on @fd */
int pmk_kvm_check_extension(int fd, enum pmk_kvm_cap cap)
{
	int rc = ioctl(fd, KVM_CHECK_EXTENSION, (unsigned long)cap);

	return rc < 0 ? -errno : rc;
}

/* pmk_kvm_vcpu_mmap_size -- bytes of the kvm_run mapping */
int pmk_kvm_vcpu_mmap_size(int kvm_fd)
{
	int rc = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	return rc < 0 ? -errno : rc;
}

/* pmk_kvm_cpuid_size -- bytes of a kvm_cpuid2 buffer for @capacity entries */
size_t pmk_kvm_cpuid_size(uint32_t capacity)
{
	return sizeof(struct kvm_cpuid2) +
	       (size_t)capacity * sizeof(struct kvm_cpuid_entry2);
}

/* pmk_kvm_cpuid_entries -- the entry array of @cpuid */
struct kvm_cpuid_entry2 *pmk_kvm_cpuid_entries(struct kvm_cpuid2 *cpuid)
{
	return cpuid->entries;
}

/* pmk_kvm_get_supported_cpuid -- KVM_GET_SUPPORTED_CPUID into @cpuid */
int pmk_kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 *cpuid,
				uint32_t capacity)
{
	int rc;

	cpuid->nent = capacity;
	rc = xioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
	return rc < 0 ? rc : 0;
}

/*
 * pmk_kvm_create_vm -- KVM_CREATE_VM. The kernel creates VM and vCPU
 * descriptors close-on-exec itself (there is no flag to ask for it).
 */
int pmk_kvm_create_vm(int kvm_fd)
{
	return xioctl(kvm_fd, KVM_CREATE_VM, NULL);
}

/* pmk_kvm_set_memslot -- KVM_SET_USER_MEMORY_REGION */
int pmk_kvm_set_memslot(int vm_fd, uint32_t slot, uint32_t flags,
			uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	int rc = xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region);

	return rc < 0 ? rc : 0;
}

/* pmk_kvm_create_vcpu -- KVM_CREATE_VCPU with @id */
int pmk_kvm_create_vcpu(int vm_fd, uint32_t id)
{
	int rc = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);

	return rc < 0 ? -errno : rc;
}

/* pmk_kvm_map_run -- map the vCPU's kvm_run page */
int pmk_kvm_map_run(int vcpu_fd, size_t size, struct kvm_run **out)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
		       0);

	if (p == MAP_FAILED) {
		*out = NULL;
		return -errno;
	}
	*out = p;
	return 0;
}

/* pmk_kvm_unmap_run -- unmap what pmk_kvm_map_run mapped */
void pmk_kvm_unmap_run(struct kvm_run *run, size_t size)
{
	if (run)
		munmap(run, size);
}

/* pmk_kvm_vcpu_set_cpuid -- KVM_SET_CPUID2 */
int pmk_kvm_vcpu_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *cpuid)
{
	int rc = xioctl(vcpu_fd, KVM_SET_CPUID2, (void *)cpuid);

	return rc < 0 ? rc : 0;
}

/* flat_segment -- a 4 GiB flat segment descriptor as KVM takes it */
static struct kvm_segment flat_segment(uint16_t selector, uint8_t type,
				       uint8_t dpl, int long_mode)
{
	struct kvm_segment seg = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = dpl,
		.db = long_mode ? 0 : 1,
		.s = 1,
		.l = long_mode ? 1 : 0,
		.g = 1,
	};

	return seg;
}

/* pmk_kvm_vcpu_enter_long_mode -- 64-bit paging, flat segments, registers */
int pmk_kvm_vcpu_enter_long_mode(int vcpu_fd,
				 const struct pmk_kvm_long_mode *lm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int rc;

	if (lm->cpl != 0 && lm->cpl != 3)
		return -EINVAL;
	rc = xioctl(vcpu_fd, KVM_GET_SREGS, &sregs);
	if (rc < 0)
		return rc;
	sregs.cs = flat_segment(lm->code_selector, SEG_TYPE_CODE, lm->cpl, 1);
	sregs.ds = flat_segment(lm->data_selector, SEG_TYPE_DATA, lm->cpl, 0);
	sregs.es = sregs.ds;
	sregs.fs = sregs.ds;
	sregs.gs = sregs.ds;
	sregs.ss = sregs.ds;
	sregs.gdt.base = lm->gdt_base;
	sregs.gdt.limit = lm->gdt_limit;
	sregs.cr3 = lm->cr3;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.efer = EFER_LME | EFER_LMA;
	rc = xioctl(vcpu_fd, KVM_SET_SREGS, &sregs);
	if (rc < 0)
		return rc;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = RFLAGS_RESERVED | (lm->cpl == 3 ? RFLAGS_IOPL3 : 0);
	regs.rip = lm->rip;
	regs.rsp = lm->rsp;
	regs.rdi = lm->rdi;
	regs.rsi = lm->rsi;
	regs.rdx = lm->rdx;
	rc = xioctl(vcpu_fd, KVM_SET_REGS, &regs);
	return rc < 0 ? rc : 0;
}

/* pmk_kvm_vcpu_get_regs -- KVM_GET_REGS */
int pmk_kvm_vcpu_get_regs(int vcpu_fd, struct kvm_regs *regs)
{
	int rc = xioctl(vcpu_fd, KVM_GET_REGS, regs);

	return rc < 0 ? rc : 0;
}

/* pmk_kvm_vcpu_set_regs -- KVM_SET_REGS */
int pmk_kvm_vcpu_set_regs(int vcpu_fd, const struct kvm_regs *regs)
{
	int rc = xioctl(vcpu_fd, KVM_SET_REGS, (void *)regs);

	return rc < 0 ? rc : 0;
}

/* pmk_kvm_vcpu_run -- KVM_RUN once */
int pmk_kvm_vcpu_run(int vcpu_fd)
{
	int rc = ioctl(vcpu_fd, KVM_RUN, 0);

	return rc < 0 ? -errno : 0;
}

/* decode_internal -- suberror, data words and, if given, instruction bytes */
static void decode_internal(const struct kvm_run *run,
			    struct pmk_kvm_exit_internal *out)
{
	uint32_t n = run->internal.ndata;
	uint32_t size;

	out->suberror = run->internal.suberror;
	if (n > PMK_KVM_INTERNAL_DATA_MAX)
		n = PMK_KVM_INTERNAL_DATA_MAX;
	out->ndata = n;
	memcpy(out->data, run->internal.data, n * sizeof(out->data[0]));
	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
		return;
	if (!(run->emulation_failure.flags &
	      KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
		return;
	size = run->emulation_failure.insn_size;
	if (size > PMK_KVM_INSN_MAX)
		size = PMK_KVM_INSN_MAX;
	out->insn_size = (uint8_t)size;
	memcpy(out->insn_bytes, run->emulation_failure.insn_bytes, size);
}

/* pmk_kvm_exit_decode -- copy the exit in @run into @out */
void pmk_kvm_exit_decode(const struct kvm_run *run, struct pmk_kvm_exit *out)
{
	const uint8_t *io_data;

	memset(out, 0, sizeof(*out));
	out->reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		out->io.out = run->io.direction == KVM_EXIT_IO_OUT;
		out->io.size = run->io.size;
		out->io.port = run->io.port;
		out->io.count = run->io.count;
		io_data = (const uint8_t *)run + run->io.data_offset;
		if (run->io.size <= sizeof(out->io.value))
			memcpy(&out->io.value, io_data, run->io.size);
		break;
	case KVM_EXIT_MMIO:
		out->mmio.gpa = run->mmio.phys_addr;
		out->mmio.len = run->mmio.len;
		out->mmio.is_write = run->mmio.is_write;
		memcpy(out->mmio.data, run->mmio.data, sizeof(out->mmio.data));
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		decode_internal(run, &out->internal);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		out->hardware_entry_failure_reason =
			run->fail_entry.hardware_entry_failure_reason;
		out->fail_entry_cpu = run->fail_entry.cpu;
		break;
	default:
		break;
	}
}

/* pmk_kvm_exit_complete_io_in -- the value a port "in" reads */
void pmk_kvm_exit_complete_io_in(struct kvm_run *run, uint64_t value)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i;

	for (i = 0; i < run->io.count; i++)
		memcpy(data + (size_t)i * run->io.size, &value, run->io.size);
}

/* pmk_kvm_exit_complete_mmio_read -- the bytes an MMIO read returns */
void pmk_kvm_exit_complete_mmio_read(struct kvm_run *run, const uint8_t *data,
				     uint32_t len)
{
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	memcpy(run->mmio.data, data, len);
}

/* pmk_kvm_set_immediate_exit -- make KVM_RUN return -EINTR at once */
void pmk_kvm_set_immediate_exit(struct kvm_run *run, bool on)
{
	__atomic_store_n(&run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

/* kick_handler -- does nothing: its delivery is what interrupts KVM_RUN */
static void kick_handler(int signo)
{
	(void)signo;
}

/* pmk_kvm_install_kick_handler -- an empty handler for @signo, no SA_RESTART */
int pmk_kvm_install_kick_handler(int signo)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	return sigaction(signo, &sa, NULL) < 0 ? -errno : 0;
}

/* pmk_kvm_kick_signal -- the default kick signal: SIGRTMIN + 3 */
int pmk_kvm_kick_signal(void)
{
	return SIGRTMIN + 3;
}
