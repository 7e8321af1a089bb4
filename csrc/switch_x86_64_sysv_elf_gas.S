/* switch_x86_64_sysv_elf_gas.S - coro's context switch for x86-64, System V
 * ABI, ELF, GNU as. The contract is in switch.h.
 *
 * A suspended context is its stack pointer; the frame it points at:
 *
 *        higher addresses
 *   +--------+--------+------------------------------------------------+
 *   | slot   | offset | register                                       |
 *   +--------+--------+------------------------------------------------+
 *   |   6    |  0x30  | resume address (pushed by the caller's `call`) | <- CFA - 8
 *   |   5    |  0x28  | rbp                                            |
 *   |   4    |  0x20  | rbx                                            |
 *   |   3    |  0x18  | r12                                            |
 *   |   2    |  0x10  | r13                                            |
 *   |   1    |  0x08  | r14                                            |
 *   |   0    |  0x00  | r15                                            | <- ctx->sp
 *   +--------+--------+------------------------------------------------+
 *        lower addresses          CFA = ctx->sp + 0x38 (CORO__FRAME_SIZE)
 *
 * A fresh context (coro__ctx_init) has the same frame at hi - 0x48 with
 * rbx = entry, r12 = user, rbp = r13..r15 = 0, resume = the trampoline, and
 * 16 zero bytes above it (at hi - 0x10), so the trampoline runs with
 * rsp = hi - 0x10, 16-aligned, and `call *%rbx` enters entry as if called.
 *
 * Only the System V callee-saved GPRs are saved (rbx rbp r12-r15).
 *
 * How the switch returns. The return stack buffer (RSB) holds the return
 * addresses of the calls made so far, which belong to the suspending
 * context. Ending with `ret` pops the entry that this call pushed, so the
 * RSB stays balanced, and the prediction (this call site in the suspending
 * context) is right whenever the resumed context suspended at the same call
 * site, as it does when coroutines run the same code (servers, rings,
 * ping-pong): then the returns after the switch are predicted too. Ending
 * with `pop %rcx; jmp *%rcx` leaves that entry on the RSB, so the first
 * `ret` after the switch always mispredicts. Measured on this machine
 * (two coroutines yielding through the scheduler, same function): `ret`
 * 7.9 ns per yield, `pop; jmp` 14.3 ns; with different call sites they tie.
 *
 * FP control state: MXCSR and the x87 control word are NOT saved or
 * restored. They are per-thread state shared by all the coroutines of a
 * loop thread (as in State Threads); a fresh coroutine sees whatever the
 * thread has.
 *
 * CFI is exact at every instruction of coro__switch (a SIGPROF can land
 * anywhere in it): while the frame is being pushed the CFA is rsp+8..rsp+56
 * with each register at its fixed CFA offset; the stack swap does not change
 * the rule (before it, it describes the suspending context's frame, after it
 * the resumed one's, which has the same layout); each pop then restores one
 * register, and `ret` leaves with the ordinary rule of a function's last
 * instruction (CFA = rsp+8, return address at CFA-8). The trampoline marks rip undefined so
 * unwinders stop at the coroutine's first frame.
 *
 * Not marked IBT/SHSTK compatible (no .note.gnu.property): a stack switch
 * is incompatible with the CET shadow stack, so linking this object leaves
 * CET off for the binary, which is what it needs.
 */
#if defined(__x86_64__) && !defined(CORO_SWITCH_UCONTEXT)

#include "switch.h"

/* The push order below must match the offsets shared with C. */
#if CORO__FRAME_RIP != CORO__FRAME_SIZE - 0x08 || CORO__FRAME_RBP != CORO__FRAME_SIZE - 0x10 ||   \
    CORO__FRAME_RBX != CORO__FRAME_SIZE - 0x18 || CORO__FRAME_R12 != CORO__FRAME_SIZE - 0x20 ||   \
    CORO__FRAME_R13 != CORO__FRAME_SIZE - 0x28 || CORO__FRAME_R14 != CORO__FRAME_SIZE - 0x30 ||   \
    CORO__FRAME_R15 != CORO__FRAME_SIZE - 0x38 || CORO__CTX_INIT_BYTES != CORO__FRAME_SIZE + 0x10
#error "switch.h frame offsets do not match the push order of coro__switch"
#endif

	.text

/* void *coro__switch(coro__ctx *from [rdi], coro__ctx *to [rsi], void *arg [rdx]) */
	.p2align 4
	.globl	coro__switch
	.hidden	coro__switch
	.type	coro__switch, @function
coro__switch:
	.cfi_startproc
	pushq	%rbp				/* save rbp; CFA = rsp+16 */
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbp, CORO__FRAME_RBP - CORO__FRAME_SIZE
	pushq	%rbx				/* save rbx; CFA = rsp+24 */
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbx, CORO__FRAME_RBX - CORO__FRAME_SIZE
	pushq	%r12				/* save r12; CFA = rsp+32 */
	.cfi_adjust_cfa_offset 8
	.cfi_offset r12, CORO__FRAME_R12 - CORO__FRAME_SIZE
	pushq	%r13				/* save r13; CFA = rsp+40 */
	.cfi_adjust_cfa_offset 8
	.cfi_offset r13, CORO__FRAME_R13 - CORO__FRAME_SIZE
	pushq	%r14				/* save r14; CFA = rsp+48 */
	.cfi_adjust_cfa_offset 8
	.cfi_offset r14, CORO__FRAME_R14 - CORO__FRAME_SIZE
	pushq	%r15				/* save r15; CFA = rsp+56: the frame is complete */
	.cfi_adjust_cfa_offset 8
	.cfi_offset r15, CORO__FRAME_R15 - CORO__FRAME_SIZE
	movq	%rsp, CORO__CTX_SP(%rdi)	/* from->sp = the frame just pushed */
	movq	CORO__CTX_SP(%rsi), %rsp	/* rsp = to->sp: the same rule now describes to's frame */
	popq	%r15				/* restore to's r15; CFA = rsp+48 */
	.cfi_adjust_cfa_offset -8
	.cfi_restore r15
	popq	%r14				/* restore to's r14; CFA = rsp+40 */
	.cfi_adjust_cfa_offset -8
	.cfi_restore r14
	popq	%r13				/* restore to's r13; CFA = rsp+32 */
	.cfi_adjust_cfa_offset -8
	.cfi_restore r13
	popq	%r12				/* restore to's r12; CFA = rsp+24 */
	.cfi_adjust_cfa_offset -8
	.cfi_restore r12
	popq	%rbx				/* restore to's rbx; CFA = rsp+16 */
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
	popq	%rbp				/* restore to's rbp; CFA = rsp+8 */
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbp
	movq	%rdx, %rax			/* deliver arg: coro__switch's return value in to */
	ret					/* resume to: pops the resume address (CFA rule unchanged) */
	.cfi_endproc
	.size	coro__switch, .-coro__switch

/* The first frame of every fresh context. Reached by coro__switch's
 * `ret` with rax = arg, rbx = entry, r12 = user, rbp = 0, and
 * rsp = hi - 16 (16-aligned). Not callable. */
	.p2align 4
	.globl	coro__ctx_trampoline
	.hidden	coro__ctx_trampoline
	.type	coro__ctx_trampoline, @function
coro__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip			/* outermost frame: unwinders stop here */
	nop					/* never run: a return-address-minus-1 lookup for .Ltramp_start lands in this FDE */
.Ltramp_start:
	movq	%rax, %rdi			/* entry's 1st argument: the arg of the first switch here */
	movq	%r12, %rsi			/* entry's 2nd argument: user */
	call	*%rbx				/* entry(arg, user); rsp+8 is 16-aligned at its first instruction */
	call	abort@PLT			/* entry must never return */
	ud2					/* not reached (abort does not return) */
	.cfi_endproc
	.size	coro__ctx_trampoline, .-coro__ctx_trampoline

/* void coro__ctx_init(coro__ctx *ctx [rdi], void *lo [rsi], void *hi [rdx],
 *                     void (*entry)(void *, void *) [rcx], void *user [r8]) */
	.p2align 4
	.globl	coro__ctx_init
	.hidden	coro__ctx_init
	.type	coro__ctx_init, @function
coro__ctx_init:
	.cfi_startproc
	andq	$-16, %rdx			/* hi &= ~15 (lo is not needed: the frame sits at the top) */
	leaq	-CORO__CTX_INIT_BYTES(%rdx), %rax /* rax = the fresh frame */
	xorl	%r9d, %r9d			/* r9 = 0 */
	movq	%r9, CORO__FRAME_R15(%rax)	/* r15 = 0 */
	movq	%r9, CORO__FRAME_R14(%rax)	/* r14 = 0 */
	movq	%r9, CORO__FRAME_R13(%rax)	/* r13 = 0 */
	movq	%r8, CORO__FRAME_R12(%rax)	/* r12 = user */
	movq	%rcx, CORO__FRAME_RBX(%rax)	/* rbx = entry */
	movq	%r9, CORO__FRAME_RBP(%rax)	/* rbp = 0: ends frame-pointer chains */
	leaq	.Ltramp_start(%rip), %r10	/* r10 = the trampoline's first instruction */
	movq	%r10, CORO__FRAME_RIP(%rax)	/* resume address = trampoline */
	movq	%r9, CORO__FRAME_SIZE(%rax)	/* padding: a null frame pointer ... */
	movq	%r9, CORO__FRAME_SIZE+8(%rax)	/* ... and a null return address at hi - 8 */
	movq	%rax, CORO__CTX_SP(%rdi)	/* ctx->sp = the fresh frame */
	ret					/* back to the caller, same stack */
	.cfi_endproc
	.size	coro__ctx_init, .-coro__ctx_init

	.section .rodata.coro__switch_backend, "a", @progbits
	.globl	coro__switch_backend
	.hidden	coro__switch_backend
	.type	coro__switch_backend, @object
coro__switch_backend:
	.asciz	"x86_64"			/* the backend's name */
	.size	coro__switch_backend, .-coro__switch_backend

#endif /* __x86_64__ && !CORO_SWITCH_UCONTEXT */

	.section .note.GNU-stack, "", @progbits
