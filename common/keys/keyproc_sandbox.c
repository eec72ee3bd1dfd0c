/*
 * keyproc_sandbox.c - the key process's seccomp allow-list (libseccomp).
 *
 * After its keys are loaded the key process only reads a request from a
 * socketpair, signs or seals with OpenSSL, and writes the answer.  The
 * list is what that needs, found by running it under strace -f
 * (docs/architecture.md, "The key process"): the socket calls on the
 * descriptors it already holds, memory (OpenSSL and glibc's allocator),
 * the clock, getrandom (OpenSSL's seed source), getpid (OpenSSL's fork
 * check), futex (OpenSSL's locks), restart_syscall (a poll interrupted by
 * SIGSTOP/SIGCONT or a tracer), and exit.  What strace showed after the
 * filter was loaded, signing, sealing and opening in the executed key
 * process (2026-12-07): futex, getpid, poll, recvfrom, sendto, and mmap
 * under ASan; the rest of the list is what glibc and OpenSSL may also
 * call on those paths (brk and mmap, without PROT_EXEC, for the heap;
 * getrandom at a reseed; write for the last words on stderr).  The
 * process is single-threaded (a fresh exec, not a fork of a threaded
 * one), so glibc never grows a thread arena and mprotect is not needed.
 * No open, no socket, no connect, no execve, no ptrace, nothing
 * executable: a call outside the list kills the process
 * (SCMP_ACT_KILL_PROCESS), and the supervisor starts a new one.
 *
 * Sanitizer builds (KBS_SANITIZE) keep the same list plus the few calls
 * the ASan/UBSan runtime makes while running (see the list below).
 */
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <seccomp.h>

#include "keyproc_int.h"

static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
	SCMP_SYS(poll),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(getrandom), SCMP_SYS(clock_gettime),
	SCMP_SYS(getpid), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
#ifdef KBS_SANITIZE_BUILD
	/*
	 * The ASan/UBSan runtime while nothing is wrong: its allocator and
	 * threads.  A report (open of /proc/self/maps, ...) is not admitted:
	 * the key process is killed instead, which the log shows.
	 */
	SCMP_SYS(sigaltstack), SCMP_SYS(sched_yield), SCMP_SYS(gettid),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(getppid),
#endif
};

kbs_err
kbs_keyproc_sandbox(kbs_errbuf *eb)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	size_t i;
	int r = ctx == NULL ? -1 : 0;

	for (i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* Memory for malloc, never executable: no code can be brought in. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "seccomp filter not "
				"installed (%d)", r);
	return KBS_OK;
}

int
kbs_keyproc_not_dumpable(void)
{
	return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0;
}
