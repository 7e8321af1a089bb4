/* switch_arm64_aapcs_elf_gas.S - coro's context switch for AArch64, AAPCS64,
 * ELF, GNU as. The contract is in switch.h.
 *
 * A suspended context is its stack pointer; the frame it points at
 * (0xa0 bytes, 16-aligned, CFA = ctx->sp + 0xa0 = the sp before the switch):
 *
 *        higher addresses
 *   +--------+--------+------------------------------------------------+
 *   | slot   | offset | register                                       |
 *   +--------+--------+------------------------------------------------+
 *   |  19    |  0x98  | x30 (lr): the resume address                   | <- CFA - 0x08
 *   |  18    |  0x90  | x29 (fp)                                       |
 *   |  17    |  0x88  | x28                                            |
 *   |  16    |  0x80  | x27                                            |
 *   |  15    |  0x78  | x26                                            |
 *   |  14    |  0x70  | x25                                            |
 *   |  13    |  0x68  | x24                                            |
 *   |  12    |  0x60  | x23                                            |
 *   |  11    |  0x58  | x22                                            |
 *   |  10    |  0x50  | x21                                            |
 *   |   9    |  0x48  | x20                                            |
 *   |   8    |  0x40  | x19                                            |
 *   |   7    |  0x38  | d15                                            |
 *   |   6    |  0x30  | d14                                            |
 *   |   5    |  0x28  | d13                                            |
 *   |   4    |  0x20  | d12                                            |
 *   |   3    |  0x18  | d11                                            |
 *   |   2    |  0x10  | d10                                            |
 *   |   1    |  0x08  | d9                                             |
 *   |   0    |  0x00  | d8                                             | <- ctx->sp
 *   +--------+--------+------------------------------------------------+
 *        lower addresses
 *
 * A fresh context (coro__ctx_init) has the same frame at hi - 0xa0 with
 * x19 = entry, x20 = user, x29 = 0, x30 = the trampoline, everything else 0;
 * after the frame is popped sp = hi, 16-aligned as AAPCS64 requires.
 *
 * Only the AAPCS64 callee-saved registers are saved (x19-x28, x29, x30 and
 * the low 64 bits of v8-v15). x30 is reloaded from the frame and reached
 * with `ret` (a return-hinted branch to x30), for the reason given in the
 * x86-64 file: it pops the return-stack entry this call pushed, keeping the
 * predictor balanced, and predicts right whenever the resumed context
 * suspended at the same call site; `br x30` would leave the entry behind
 * and make the first return after the switch mispredict.
 *
 * FP control state: FPCR (and FPSR) are NOT saved or restored. They are
 * per-thread state shared by all the coroutines of a loop thread (as in
 * State Threads); a fresh coroutine sees whatever the thread has.
 *
 * CFI is exact at every instruction of coro__switch (a SIGPROF can land
 * anywhere in it): the first stp moves sp and sets CFA = sp+0xa0, each stp
 * records its pair at fixed CFA offsets; the stack swap does not change the
 * rule (before it, it describes the suspending context's frame, after it
 * the resumed one's, which has the same layout); each ldp restores its pair
 * (after the x29/x30 pair, the return address column x30 holds the resumed
 * context's resume address, "same value"); the last ldp pops the frame and
 * sets CFA = sp. The trampoline marks x30 undefined so unwinders stop at the
 * coroutine's first frame.
 */
#if defined(__aarch64__) && !defined(CORO_SWITCH_UCONTEXT)

#include "switch.h"

/* The stp/ldp pairs below must match the offsets shared with C. */
#if CORO__FRAME_D8 != 0x00 || CORO__FRAME_D10 != 0x10 || CORO__FRAME_D12 != 0x20 ||                 \
    CORO__FRAME_D14 != 0x30 || CORO__FRAME_X19 != 0x40 || CORO__FRAME_X21 != 0x50 ||                \
    CORO__FRAME_X23 != 0x60 || CORO__FRAME_X25 != 0x70 || CORO__FRAME_X27 != 0x80 ||                \
    CORO__FRAME_X29 != 0x90 || CORO__FRAME_X30 != 0x98 || CORO__FRAME_SIZE != 0xa0 ||               \
    CORO__CTX_INIT_BYTES != CORO__FRAME_SIZE
#error "switch.h frame offsets do not match the stp/ldp pairs of coro__switch"
#endif

#define FS CORO__FRAME_SIZE

	.text

/* void *coro__switch(coro__ctx *from [x0], coro__ctx *to [x1], void *arg [x2]) */
	.p2align 4
	.globl	coro__switch
	.hidden	coro__switch
	.type	coro__switch, %function
coro__switch:
	.cfi_startproc
	stp	d8, d9, [sp, #-FS]!		// sp -= 0xa0 and save d8, d9; CFA = sp+0xa0
	.cfi_def_cfa_offset FS
	.cfi_offset d8, CORO__FRAME_D8 - FS
	.cfi_offset d9, CORO__FRAME_D8 + 8 - FS
	stp	d10, d11, [sp, #CORO__FRAME_D10]	// save d10, d11
	.cfi_offset d10, CORO__FRAME_D10 - FS
	.cfi_offset d11, CORO__FRAME_D10 + 8 - FS
	stp	d12, d13, [sp, #CORO__FRAME_D12]	// save d12, d13
	.cfi_offset d12, CORO__FRAME_D12 - FS
	.cfi_offset d13, CORO__FRAME_D12 + 8 - FS
	stp	d14, d15, [sp, #CORO__FRAME_D14]	// save d14, d15
	.cfi_offset d14, CORO__FRAME_D14 - FS
	.cfi_offset d15, CORO__FRAME_D14 + 8 - FS
	stp	x19, x20, [sp, #CORO__FRAME_X19]	// save x19, x20
	.cfi_offset x19, CORO__FRAME_X19 - FS
	.cfi_offset x20, CORO__FRAME_X19 + 8 - FS
	stp	x21, x22, [sp, #CORO__FRAME_X21]	// save x21, x22
	.cfi_offset x21, CORO__FRAME_X21 - FS
	.cfi_offset x22, CORO__FRAME_X21 + 8 - FS
	stp	x23, x24, [sp, #CORO__FRAME_X23]	// save x23, x24
	.cfi_offset x23, CORO__FRAME_X23 - FS
	.cfi_offset x24, CORO__FRAME_X23 + 8 - FS
	stp	x25, x26, [sp, #CORO__FRAME_X25]	// save x25, x26
	.cfi_offset x25, CORO__FRAME_X25 - FS
	.cfi_offset x26, CORO__FRAME_X25 + 8 - FS
	stp	x27, x28, [sp, #CORO__FRAME_X27]	// save x27, x28
	.cfi_offset x27, CORO__FRAME_X27 - FS
	.cfi_offset x28, CORO__FRAME_X27 + 8 - FS
	stp	x29, x30, [sp, #CORO__FRAME_X29]	// save fp and the resume address (lr); the frame is complete
	.cfi_offset x29, CORO__FRAME_X29 - FS
	.cfi_offset x30, CORO__FRAME_X30 - FS
	mov	x9, sp				// x9 = the frame just pushed
	str	x9, [x0, #CORO__CTX_SP]		// from->sp = x9
	ldr	x9, [x1, #CORO__CTX_SP]		// x9 = to->sp
	mov	sp, x9				// switch stacks: the same rule now describes to's frame
	ldp	x29, x30, [sp, #CORO__FRAME_X29]	// restore to's fp and resume address
	.cfi_restore x29
	.cfi_restore x30
	ldp	x27, x28, [sp, #CORO__FRAME_X27]	// restore to's x27, x28
	.cfi_restore x27
	.cfi_restore x28
	ldp	x25, x26, [sp, #CORO__FRAME_X25]	// restore to's x25, x26
	.cfi_restore x25
	.cfi_restore x26
	ldp	x23, x24, [sp, #CORO__FRAME_X23]	// restore to's x23, x24
	.cfi_restore x23
	.cfi_restore x24
	ldp	x21, x22, [sp, #CORO__FRAME_X21]	// restore to's x21, x22
	.cfi_restore x21
	.cfi_restore x22
	ldp	x19, x20, [sp, #CORO__FRAME_X19]	// restore to's x19, x20
	.cfi_restore x19
	.cfi_restore x20
	ldp	d14, d15, [sp, #CORO__FRAME_D14]	// restore to's d14, d15
	.cfi_restore d14
	.cfi_restore d15
	ldp	d12, d13, [sp, #CORO__FRAME_D12]	// restore to's d12, d13
	.cfi_restore d12
	.cfi_restore d13
	ldp	d10, d11, [sp, #CORO__FRAME_D10]	// restore to's d10, d11
	.cfi_restore d10
	.cfi_restore d11
	ldp	d8, d9, [sp], #FS		// restore to's d8, d9 and pop the frame; CFA = sp
	.cfi_def_cfa_offset 0
	.cfi_restore d8
	.cfi_restore d9
	mov	x0, x2				// deliver arg: coro__switch's return value in to
	ret					// resume to: branch to x30, hinted as a return
	.cfi_endproc
	.size	coro__switch, .-coro__switch

/* The first frame of every fresh context. Reached by coro__switch's
 * `ret` with x0 = arg, x19 = entry, x20 = user, x29 = 0 and sp = hi
 * (16-aligned). Not callable. */
	.p2align 4
	.globl	coro__ctx_trampoline
	.hidden	coro__ctx_trampoline
	.type	coro__ctx_trampoline, %function
coro__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30			// outermost frame: unwinders stop here
	nop					// never run: a return-address-minus-1 lookup for .Ltramp_start lands in this FDE
.Ltramp_start:
	mov	x1, x20				// entry's 2nd argument: user (x0 = arg already)
	blr	x19				// entry(arg, user)
	bl	abort				// entry must never return
	brk	#0x3c				// not reached (abort does not return)
	.cfi_endproc
	.size	coro__ctx_trampoline, .-coro__ctx_trampoline

/* void coro__ctx_init(coro__ctx *ctx [x0], void *lo [x1], void *hi [x2],
 *                     void (*entry)(void *, void *) [x3], void *user [x4]) */
	.p2align 4
	.globl	coro__ctx_init
	.hidden	coro__ctx_init
	.type	coro__ctx_init, %function
coro__ctx_init:
	.cfi_startproc
	and	x2, x2, #~15			// hi &= ~15 (lo is not needed: the frame sits at the top)
	sub	x9, x2, #CORO__CTX_INIT_BYTES	// x9 = the fresh frame
	stp	xzr, xzr, [x9, #CORO__FRAME_D8]	// d8, d9 = 0
	stp	xzr, xzr, [x9, #CORO__FRAME_D10]	// d10, d11 = 0
	stp	xzr, xzr, [x9, #CORO__FRAME_D12]	// d12, d13 = 0
	stp	xzr, xzr, [x9, #CORO__FRAME_D14]	// d14, d15 = 0
	stp	x3, x4, [x9, #CORO__FRAME_X19]	// x19 = entry, x20 = user
	stp	xzr, xzr, [x9, #CORO__FRAME_X21]	// x21, x22 = 0
	stp	xzr, xzr, [x9, #CORO__FRAME_X23]	// x23, x24 = 0
	stp	xzr, xzr, [x9, #CORO__FRAME_X25]	// x25, x26 = 0
	stp	xzr, xzr, [x9, #CORO__FRAME_X27]	// x27, x28 = 0
	adr	x10, .Ltramp_start		// x10 = the trampoline's first instruction
	stp	xzr, x10, [x9, #CORO__FRAME_X29]	// x29 = 0 (ends fp chains), x30 = trampoline
	str	x9, [x0, #CORO__CTX_SP]		// ctx->sp = the fresh frame
	ret					// back to the caller, same stack
	.cfi_endproc
	.size	coro__ctx_init, .-coro__ctx_init

	.section .rodata.coro__switch_backend, "a", %progbits
	.globl	coro__switch_backend
	.hidden	coro__switch_backend
	.type	coro__switch_backend, %object
coro__switch_backend:
	.asciz	"arm64"				// the backend's name
	.size	coro__switch_backend, .-coro__switch_backend

#endif /* __aarch64__ && !CORO_SWITCH_UCONTEXT */

	.section .note.GNU-stack, "", %progbits
