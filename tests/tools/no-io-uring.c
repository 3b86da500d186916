/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * no-io-uring ERRNO PROGRAM [ARGS...]: runs PROGRAM under a seccomp filter
 * that fails io_uring_setup(2) with ERRNO (EPERM, as a container runtime's
 * profile does, or ENOSYS, as an old kernel does), so that tests see the
 * real fallback path.  Exits 77 (skip) where no filter can be installed.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

static int install_filter(int err)
{
#ifdef NATIVE_ARCH
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
#else
    errno = ENOTSUP;
    return -1;
#endif
}

int main(int argc, char **argv)
{
    int err;

    if (argc < 3) {
        fprintf(stderr, "usage: no-io-uring EPERM|ENOSYS PROGRAM [ARGS...]\n");
        return 2;
    }
    err = strcmp(argv[1], "ENOSYS") == 0 ? ENOSYS : EPERM;
    if (install_filter(err) < 0) {
        fprintf(stderr, "no-io-uring: cannot install a seccomp filter: %s\n", strerror(errno));
        return 77;
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "no-io-uring: %s: %s\n", argv[2], strerror(errno));
    return 127;
}
