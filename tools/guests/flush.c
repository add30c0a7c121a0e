/*
 * guest: the vFHA flush workload: write, flush, fence, write the flush hint, fence
 *
 * Each vCPU owns an area of vPMem: a header line, then args[1] data lines.
 * Iteration i (from 1) fills data line (i - 1) % lines with the word
 * (cpu << 48 | i), stores i in the header, and makes both durable the way
 * the Linux nvdimm driver does: flush the lines (clwb, else clflushopt,
 * else clflush, as CPUID says), sfence, write the flush hint, sfence.
 *
 * Boot args: args[0] iterations, args[1] data lines per vCPU (0 means 1).
 * Reports: flushes, flush-hint writes, the flush instruction, the last
 * sequence number. Status: 0, or 2 when the vPMem is too small or absent.
 */
#include "guest.h"

#define LINE 64
#define WORDS_PER_LINE (LINE / 8)

long guest_main(const struct pmk_boot_info *boot, uint64_t cpu)
{
	uint64_t iterations = boot->args[0];
	uint64_t lines = boot->args[1] ? boot->args[1] : 1;
	uint64_t area = (lines + 1) * LINE;
	volatile uint64_t *header, *fha;
	volatile uint8_t *data;
	enum pmk_flush_insn insn;
	uint64_t i, w, fha_writes = 0;

	if (!boot->vpmem_gpa || (cpu + 1) * area > boot->vpmem_size) {
		guest_log("flush: vPMem absent or too small for this many vCPUs and lines");
		return 2;
	}
	header = (volatile uint64_t *)(uintptr_t)(boot->vpmem_gpa + cpu * area);
	data = (volatile uint8_t *)header + LINE;
	/* Each vCPU writes its own word of the flush-hint page. */
	fha = (volatile uint64_t *)(uintptr_t)boot->vfha_gpa + (cpu % 512);
	insn = choose_flush();

	phase(PMK_PHASE_BEGIN);
	for (i = 1; i <= iterations; i++) {
		volatile uint64_t *line =
			(volatile uint64_t *)(data + ((i - 1) % lines) * LINE);

		for (w = 0; w < WORDS_PER_LINE; w++)
			line[w] = cpu << 48 | i;
		header[0] = i;
		flush_line(insn, line);
		flush_line(insn, header);
		sfence();
		*fha = i;
		fha_writes++;
		sfence();
	}
	phase(PMK_PHASE_END);

	report(PMK_REPORT_FLUSHES, iterations);
	report(PMK_REPORT_FHA_WRITES, fha_writes);
	report(PMK_REPORT_FLUSH_INSN, insn);
	report(PMK_REPORT_LAST_SEQUENCE, iterations);
	return 0;
}
