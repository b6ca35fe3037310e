/*
 * Process hardening after the privilege drop: PR_SET_NO_NEW_PRIVS, and a
 * seccomp filter that refuses (EPERM) a short list of system calls no
 * daemon ever makes: running programs, tracing or reading other processes,
 * kernel modules, mounts, namespaces, keyrings, BPF.  A deny-list, not an
 * allow-list: OpenSSL, Berkeley DB, glibc and the sanitizers make calls
 * that vary between versions, and a missed one in an allow-list kills a
 * daemon in production.  The filter is inherited by every worker.
 */
#include "lib/daemon_private.h"

#include "lib/error.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#define SANDBOX_ARCH		AUDIT_ARCH_X86_64
#define SANDBOX_X32_BIT		0x40000000u	/* __X32_SYSCALL_BIT: x32 ABI calls */
#elif defined(__aarch64__)
#define SANDBOX_ARCH		AUDIT_ARCH_AARCH64
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif

#define DENY(name)	__NR_##name

static const long denied[] = {
	DENY(execve),
#ifdef __NR_execveat
	DENY(execveat),
#endif
#ifndef SANDBOX_SANITIZER
	/* LeakSanitizer stops the world with ptrace at exit: allowed in that build. */
	DENY(ptrace),
#endif
	DENY(process_vm_readv),
	DENY(process_vm_writev),
	DENY(mount),
	DENY(umount2),
	DENY(pivot_root),
	DENY(chroot),
	DENY(setns),
	DENY(unshare),
	DENY(kexec_load),
#ifdef __NR_kexec_file_load
	DENY(kexec_file_load),
#endif
	DENY(init_module),
	DENY(finit_module),
	DENY(delete_module),
	DENY(bpf),
	DENY(perf_event_open),
	DENY(keyctl),
	DENY(add_key),
	DENY(request_key),
	DENY(userfaultfd),
	DENY(personality),
	DENY(open_by_handle_at),
	DENY(swapon),
	DENY(swapoff),
	DENY(reboot),
	DENY(acct),
#ifdef __NR_iopl
	DENY(iopl),
	DENY(ioperm),
#endif
};

#define NDENIED		(sizeof(denied) / sizeof(denied[0]))
#define PROG_MAX	(7 + 2 * NDENIED)	/* arch (3), nr, x32 (2), pairs, allow */

#ifdef SANDBOX_ARCH
static size_t
build_filter(struct sock_filter *f)
{
	size_t	n = 0, i;

	/* Another ABI (int 0x80 on x86_64) would bypass the numbers below: kill. */
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
#ifdef SANDBOX_X32_BIT
	/* The x32 ABI shares AUDIT_ARCH_X86_64: refuse it whole. */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SANDBOX_X32_BIT, 0, 1);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
#endif
	for (i = 0; i < NDENIED; i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (unsigned)denied[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return n;
}
#endif

static int
install_filter(const char **error_r)
{
#ifdef SANDBOX_ARCH
	struct sock_filter	filter[PROG_MAX];
	struct sock_fprog	prog;

	prog.len = (unsigned short)build_filter(filter);
	prog.filter = filter;
	/* TSYNC: threads already started (a sanitizer's) get the filter too. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
		return 0;
	return err_set(error_r, "seccomp filter: %s (seccomp = no runs without)",
	    strerror(errno));
#else
	return err_set(error_r,
	    "seccomp: no filter for this architecture (seccomp = no runs without)");
#endif
}

int
daemon_sandbox(bool seccomp, const char **error_r)
{
	/* No exec can ever gain privileges again (set-uid binaries, file caps). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return err_set(error_r, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (seccomp && install_filter(error_r) == -1)
		return -1;
	return 0;
}
