/* SPDX-License-Identifier: MIT */
/* lib/access-class.h - the access classes translation caches keep per entry
 * (lib/tlb.c's physim_tlb and lib/cpu*.c's simulated CPUs): which accesses a
 * walk's result may serve again, which only while the control state stays
 * as it was, and the access flags gathered into one 4-bit key. */
#ifndef PHYSIM_ACCESS_CLASS_H
#define PHYSIM_ACCESS_CLASS_H

#include <physim/walk.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Access class: a bit index into an entry's allow mask. */
enum { CLS_READ = 0, CLS_WRITE = 1, CLS_EXEC = 2, CLS_USER = 3 };

static inline unsigned access_class(const struct physim_access *a)
{
	return (a->user ? CLS_USER : 0) + (a->write ? CLS_WRITE : a->exec ? CLS_EXEC : CLS_READ);
}

/* The walker's rule: a fetch is never a write; an implicit access is a
 * supervisor data access. */
static inline bool access_ok(const struct physim_access *a)
{
	return a != NULL && !(a->write && a->exec) && !(a->implicit && (a->user || a->exec));
}

/* write | exec << 1 | user << 2 | implicit << 3. The four are consecutive
 * bools (0 or 1) in struct physim_access, so on a little-endian host one
 * 32-bit load and a multiply gather them: byte k's bit lands on bit 24 + k
 * and every other partial product falls elsewhere (no carries). */
static inline unsigned access_key(const struct physim_access *a)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	_Static_assert(
	    sizeof(bool) == 1 &&
		offsetof(struct physim_access, exec) == offsetof(struct physim_access, write) + 1 &&
		offsetof(struct physim_access, user) == offsetof(struct physim_access, write) + 2 &&
		offsetof(struct physim_access, implicit) ==
		    offsetof(struct physim_access, write) + 3,
	    "physim_access flags are four consecutive bytes");
	uint32_t b;
	memcpy(&b, &a->write, sizeof(b));
	return ((uint32_t)(b * UINT32_C(0x01020408)) >> 24) & 0xFu;
#else
	return (unsigned)a->write | (unsigned)a->exec << 1 | (unsigned)a->user << 2 |
	       (unsigned)a->implicit << 3;
#endif
}

/* The access-class bit (1 << access_class()) by access_key(); 0 for the
 * combinations access_ok() refuses, which no entry serves. */
static const uint8_t access_class_bits[16] = {
    [0] = 1u << CLS_READ,
    [1] = 1u << CLS_WRITE,
    [2] = 1u << CLS_EXEC,
    [4] = 1u << (CLS_USER + CLS_READ),
    [5] = 1u << (CLS_USER + CLS_WRITE),
    [6] = 1u << (CLS_USER + CLS_EXEC),
    [8] = 1u << CLS_READ,
    [9] = 1u << CLS_WRITE,
};

static inline unsigned access_class_bit(const struct physim_access *a)
{
	return access_class_bits[access_key(a)];
}

/* R / W / X of a walk's effective perms as class bits of one privilege; W
 * only for a write (the walk that allowed it set D: dirty known). */
static inline unsigned access_rights(const struct physim_access *acc, uint32_t perms)
{
	unsigned rights = 0;
	if (perms & PHYSIM_R)
		rights |= 1u << CLS_READ;
	if ((perms & PHYSIM_W) && acc->write)
		rights |= 1u << CLS_WRITE;
	if (perms & PHYSIM_X)
		rights |= 1u << CLS_EXEC;
	return rights;
}

/* The classes an entry filled by acc may serve whatever the control state.
 * stage2: a stage-2 translation on its own (mbec: EPT mode-based execute
 * control); pke: x86 protection keys on (a user access is then decided by
 * PKRU). */
static inline uint8_t access_allowed_classes(bool stage2, bool mbec, bool pke,
					     const struct physim_access *acc, uint32_t perms)
{
	unsigned priv = acc->user ? CLS_USER : 0;
	unsigned rights = access_rights(acc, perms);
	if (stage2) {
		/* Only the filling privilege: the entry's perms carry its X,
		 * which AArch64 XN[1:0] makes differ between EL0 and EL1. */
		unsigned data = rights & ~(1u << CLS_EXEC);
		unsigned exec = mbec ? 0 : rights & (1u << CLS_EXEC);
		return (uint8_t)((data | exec) << priv);
	}
	if (acc->user)
		return (perms & PHYSIM_U) && !pke ? (uint8_t)(rights << CLS_USER) : 0;
	return (perms & PHYSIM_U) ? 0 : (uint8_t)rights;
}

/* The classes a stage-1 user page serves beyond those while the control
 * state that decides them keeps its access_ctl_fingerprint(): a supervisor
 * (not implicit) access - SMAP/SMEP/AC and CR0.WP on x86 (SDM Vol. 3A 4.6),
 * PAN on Arm, SUM/MXR on RISC-V - or a user access under protection keys.
 * The hardware caches the translation whatever the access and checks the
 * rights at each use; an implicit access is never served this way (SMAP
 * applies to it whatever RFLAGS.AC). */
static inline uint8_t access_cond_classes(bool stage2, bool pke, const struct physim_access *acc,
					  uint32_t perms)
{
	if (stage2 || !(perms & PHYSIM_U) || acc->implicit || (acc->user && !pke))
		return 0;
	unsigned rights = access_rights(acc, perms);
	/* A supervisor fetch from a user page follows its own rule in each
	 * architecture (x86: SMEP; RISC-V: never, whatever SUM - privileged
	 * spec, "Memory Privilege in sstatus Register"; AArch64: X in perms is
	 * for EL0 only), so only a fetch's own walk may let an entry serve
	 * one. */
	if (!acc->user && !acc->exec)
		rights &= ~(1u << CLS_EXEC);
	return (uint8_t)(rights << (acc->user ? CLS_USER : 0));
}

/* The control state that decides supervisor accesses to user pages and
 * protection-key checks, and that software changes without a flush: one
 * bit per setting in bits 7:0, PKRU in bits 63:32. CR0.WP and MXR are in it
 * too: they widen rights a walk reports only for the access that made it. */
static inline uint64_t access_ctl_fingerprint(const struct physim_mmu_ctl *c)
{
	return (uint64_t)c->smap | (uint64_t)c->smep << 1 | (uint64_t)c->ac << 2 |
	       (uint64_t)c->wp_off << 3 | (uint64_t)c->pan << 4 | (uint64_t)c->sum << 5 |
	       (uint64_t)c->mxr << 6 | (uint64_t)c->pke << 7 | (uint64_t)c->pkru << 32;
}

#endif
