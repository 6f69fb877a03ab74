/*
 * seccomp-probe: make one system call with chosen arguments, through a chosen ABI, and print
 * what came back. Statically linked so it runs in any container rootfs. See README.md.
 *
 *   seccomp-probe [--int80 | --x32] [--catch-sigsys] SYSCALL [ARG...]
 *
 * Build: hack/build-probes.sh (gcc -static; syscalls.gen.h comes from hack/gen-syscall-tables.py).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syscalls.gen.h"

#define X32_SYSCALL_BIT 0x40000000L

static char buf[65536];

static void usage(void)
{
	fprintf(stderr,
		"usage: seccomp-probe [--int80 | --x32] [--catch-sigsys] SYSCALL [ARG...]\n"
		"  SYSCALL   a name (resolved for the chosen ABI) or a number\n"
		"  ARG       a number (0x.. hex, negative ok), 'buf' (a 64 KiB scratch buffer),\n"
		"            or 'str:TEXT' (a pointer to TEXT)\n"
		"  --int80   call through the 32-bit ABI (int $0x80, i386 numbers, at most 5 args)\n"
		"  --x32     call through the x32 ABI (x32 numbers, __X32_SYSCALL_BIT set)\n"
		"  --catch-sigsys  report SIGSYS (SCMP_ACT_TRAP) instead of dying from it\n"
		"prints 'ret=N errno=E NAME' and exits 0 on success, else with the errno (max 255)\n");
	exit(125);
}

static long lookup(const struct probe_syscall *t, const char *name)
{
	char *end;
	long nr = strtol(name, &end, 0);
	if (*name && !*end)
		return nr;
	for (; t->name; t++)
		if (!strcmp(t->name, name))
			return t->nr;
	fprintf(stderr, "seccomp-probe: unknown syscall %s for this ABI\n", name);
	exit(125);
}

static long arg(const char *s)
{
	if (!strcmp(s, "buf"))
		return (long)buf;
	if (!strncmp(s, "str:", 4))
		return (long)(s + 4);
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (*s == '-')
		v = (unsigned long long)strtoll(s, &end, 0);
	if (!*s || *end || errno) {
		fprintf(stderr, "seccomp-probe: bad argument %s\n", s);
		exit(125);
	}
	return (long)v;
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	char line[128];
	int n = snprintf(line, sizeof line, "SIGSYS syscall=%d arch=%#x errno=%d\n", si->si_syscall,
			 si->si_arch, si->si_errno);
	if (write(1, line, n) < 0)
		_exit(126);
	_exit(0);
}

/* The raw return convention: -4095..-1 is -errno. */
static long raw_int80(long nr, long a[6])
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
			 : "memory");
	return ret;
}

static long raw_syscall(long nr, long a[6])
{
	long ret;
	register long r10 __asm__("r10") = a[3];
	register long r8 __asm__("r8") = a[4];
	register long r9 __asm__("r9") = a[5];
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

int main(int argc, char **argv)
{
	int abi = 64, catch_sigsys = 0, i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--int80"))
			abi = 32;
		else if (!strcmp(argv[i], "--x32"))
			abi = 'x';
		else if (!strcmp(argv[i], "--catch-sigsys"))
			catch_sigsys = 1;
		else
			usage();
	}
	if (i >= argc || argc - i - 1 > 6 || (abi == 32 && argc - i - 1 > 5))
		usage();
	const char *name = argv[i++];
	long nr = lookup(abi == 32 ? table_x86 : abi == 'x' ? table_x32 : table_x86_64, name);
	if (abi == 'x')
		nr |= X32_SYSCALL_BIT;
	long a[6] = {0};
	for (int j = 0; i < argc; i++, j++)
		a[j] = arg(argv[i]);
	if (catch_sigsys) {
		struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
		sigaction(SIGSYS, &sa, NULL);
	}
	long ret = abi == 32 ? raw_int80(nr, a) : raw_syscall(nr, a);
	if (abi == 32)
		ret = (int)ret; /* eax is 32-bit */
	int err = ret < 0 && ret >= -4095 ? (int)-ret : 0;
	printf("ret=%ld errno=%d %s\n", err ? -1 : ret, err, err ? strerrorname_np(err) ?: "?" : "OK");
	return err > 255 ? 255 : err;
}
