/*
 * guest: page access: protect its own pages by hypercall, fault on them, handle the faults
 *
 * Each vCPU works on its own pages at ram_size / 2 + cpu * pages * 4 KiB.
 * The fault handler is the host's, or this program's on_fault, which the
 * VMM enters with the fault details; its answer (args[5]) is the decision.
 *
 * Boot args:
 *   args[0] mode: 1 touch each protected page once (tests),
 *                 2 switch the pages' access args[2] times (benchmark),
 *                 3 write to one read-only page args[2] times (benchmark)
 *   args[1] pages per vCPU (0 means 1)
 *   args[2] mode 1: the access to set, 0 none or 1 read; modes 2, 3: iterations
 *   args[3] 1: this program's handler, 0: the host's (mode 2: 1 sets the
 *           same access every time, so no memslot changes)
 *   args[4] mode 1: 0 write each page, 1 read each page
 *   args[5] the answer to a fault: 0 make the page read-write and retry,
 *           1 allow, 2 skip, 3 end (a host handler is told to answer the same)
 * Reports: handler calls (this program's handler), touches, errors (data or
 * fault details that were not as expected). Status 0, or 3 when a
 * hypercall failed (logged).
 */
#include "guest.h"

#define PAGE 4096ULL
#define WORDS (PAGE / 8)
#define MAX_CPUS 64

enum mode { MODE_TOUCH = 1, MODE_SWITCH = 2, MODE_FAULT = 3 };
enum touch { TOUCH_WRITE = 0, TOUCH_READ = 1 };
enum answer { ANSWER_GRANT = 0, ANSWER_ALLOW = 1, ANSWER_SKIP = 2, ANSWER_END = 3 };

static volatile uint64_t handler_calls[MAX_CPUS];
static volatile uint64_t handler_errors[MAX_CPUS];

/* boot_info -- the boot information, also for the fault handler */
static const struct pmk_boot_info *boot_info(void)
{
	return (const struct pmk_boot_info *)(uintptr_t)PMK_GPA_BOOT_INFO;
}

/* seed, stamp -- what page @i of vCPU @cpu holds before, and gets written */
static uint64_t seed(uint64_t cpu, uint64_t i)
{
	return 0x5eed000000000000ULL | cpu << 32 | i;
}

static uint64_t stamp(uint64_t cpu, uint64_t i)
{
	return 0x57a3000000000000ULL | cpu << 32 | i;
}

/* on_fault -- the guest fault handler: check the details, answer as args[5] says */
static long on_fault(const struct pmk_guest_fault *f)
{
	const struct pmk_boot_info *boot = boot_info();
	uint64_t cpu = f->vcpu % MAX_CPUS;
	uint64_t expect_write = boot->args[0] != MODE_TOUCH || boot->args[4] == TOUCH_WRITE;

	handler_calls[cpu]++;
	if (f->gpa < f->range_gpa || f->gpa >= f->range_gpa + f->range_length ||
	    f->write != expect_write || f->depth != 1 || f->length != 8)
		handler_errors[cpu]++;
	switch (boot->args[5]) {
	case ANSWER_GRANT:
		if (set_access(f->gpa & ~(PAGE - 1), PAGE, PMK_GUEST_ACCESS_READ_WRITE))
			handler_errors[cpu]++;
		return PMK_GUEST_FAULT_RETRY;
	case ANSWER_ALLOW:
		return PMK_GUEST_FAULT_ALLOW;
	case ANSWER_SKIP:
		return PMK_GUEST_FAULT_SKIP;
	default:
		return PMK_GUEST_FAULT_END;
	}
}

/* touch_pages -- protect, touch each page once, then check what happened */
static long touch_pages(const struct pmk_boot_info *boot, uint64_t cpu,
			uint64_t base, uint64_t pages)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)base;
	enum pmk_guest_access access = boot->args[2] == 0 ? PMK_GUEST_ACCESS_NONE :
							    PMK_GUEST_ACCESS_READ;
	int write = boot->args[4] == TOUCH_WRITE;
	int skip = boot->args[5] == ANSWER_SKIP;
	uint64_t i, value, errors = 0;

	for (i = 0; i < pages; i++) {
		p[i * WORDS] = seed(cpu, i);
		p[i * WORDS + 1] = 0;
	}
	if (set_access(base, pages * PAGE, access)) {
		guest_log("access: setting the pages' access failed");
		return -1;
	}
	for (i = 0; i < pages; i++) {
		if (write) {
			p[i * WORDS + 1] = stamp(cpu, i);
		} else {
			value = p[i * WORDS];
			if (value != (skip ? 0 : seed(cpu, i)))
				errors++;
		}
	}
	report(PMK_REPORT_TOUCHES, pages);
	if (set_access(base, pages * PAGE, PMK_GUEST_ACCESS_READ_WRITE)) {
		guest_log("access: making the pages read-write again failed");
		return -1;
	}
	for (i = 0; write && i < pages; i++)
		if (p[i * WORDS + 1] != (skip ? 0 : stamp(cpu, i)))
			errors++;
	return (long)errors;
}

/* switch_pages -- the benchmark of access changes: read-only, read-write, ... */
static long switch_pages(const struct pmk_boot_info *boot, uint64_t base,
			 uint64_t pages)
{
	uint64_t iterations = boot->args[2], i;
	int same = boot->args[3] == 1;

	phase(PMK_PHASE_BEGIN);
	for (i = 0; i < iterations; i++)
		if (set_access(base, pages * PAGE,
			       same || (i & 1) ? PMK_GUEST_ACCESS_READ_WRITE :
						 PMK_GUEST_ACCESS_READ))
			return -1;
	phase(PMK_PHASE_END);
	report(PMK_REPORT_TOUCHES, iterations);
	return set_access(base, pages * PAGE, PMK_GUEST_ACCESS_READ_WRITE) ? -1 : 0;
}

/* fault_page -- the benchmark of fault, handler, resume: writes to a read-only page */
static long fault_page(const struct pmk_boot_info *boot, uint64_t base)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)base;
	uint64_t iterations = boot->args[2], i;

	if (set_access(base, PAGE, PMK_GUEST_ACCESS_READ))
		return -1;
	phase(PMK_PHASE_BEGIN);
	for (i = 1; i <= iterations; i++)
		p[1] = i;
	phase(PMK_PHASE_END);
	report(PMK_REPORT_TOUCHES, iterations);
	return set_access(base, PAGE, PMK_GUEST_ACCESS_READ_WRITE) ? -1 : 0;
}

long guest_main(const struct pmk_boot_info *boot, uint64_t cpu)
{
	uint64_t pages = boot->args[1] ? boot->args[1] : 1;
	uint64_t base = boot->ram_size / 2 + cpu * pages * PAGE;
	long errors;

	if (base + pages * PAGE > boot->ram_size - boot->vcpus * PMK_STACK_SIZE) {
		guest_log("access: guest RAM too small for this many pages and vCPUs");
		return 3;
	}
	if (boot->args[3] && boot->args[0] != MODE_SWITCH &&
	    set_fault_handler(base, pages * PAGE, on_fault)) {
		guest_log("access: registering the fault handler failed");
		return 3;
	}
	switch (boot->args[0]) {
	case MODE_TOUCH:
		errors = touch_pages(boot, cpu, base, pages);
		break;
	case MODE_SWITCH:
		errors = switch_pages(boot, base, pages);
		break;
	case MODE_FAULT:
		errors = fault_page(boot, base);
		break;
	default:
		guest_log("access: unknown mode");
		return 3;
	}
	if (errors < 0) {
		guest_log("access: an access hypercall failed");
		return 3;
	}
	report(PMK_REPORT_HANDLER_CALLS, handler_calls[cpu % MAX_CPUS]);
	report(PMK_REPORT_ERRORS, (uint64_t)errors + handler_errors[cpu % MAX_CPUS]);
	return 0;
}
