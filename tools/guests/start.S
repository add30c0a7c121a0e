/*
 * start.S -- entry of every guest program.
 *
 * The VMM starts each vCPU here in 64-bit mode with paging on, rsp at the
 * top of the vCPU's own stack, rdi = the boot information's GPA and
 * rsi = the vCPU index. guest_main(boot, cpu) runs; its return value
 * becomes the status of a PMK_HC_EXIT hypercall. A VMM that ignored the
 * exit would find the vCPU halted.
 *
 * fault_return_stub is where a guest fault handler returns to: the VMM
 * enters the handler with this address on the stack, and the handler's
 * return value (rax) becomes the decision of PMK_HC_FAULT_RETURN.
 */
	.section .text.start, "ax"
	.globl _start
_start:
	call	guest_main
	mov	%rax, %rdi
	call	guest_exit
1:	hlt
	jmp	1b

	.globl fault_return_stub
fault_return_stub:
	mov	%rax, %rdi
	call	guest_fault_return
2:	hlt
	jmp	2b
