"""The sandbox's seccomp filter: one list of denied system calls, compiled for both backends.

Code in the sandbox needs none of these, and each is a way out or a way to harm the host: tracing and
writing other processes' memory (PID 1 and the executor included), the kernel keyring, new namespaces and
mounts, kernel programs (bpf, perf, io_uring), kernel code and modules, the clock, swap, reboot. A denied
call fails with EPERM, as it would without the privilege, so programs that probe for a feature go on.

- local backend: libseccomp (through `pyseccomp`, ctypes over the system's libseccomp.so.2) compiles the list
  to a BPF program; bubblewrap loads it with `--seccomp FD`, the unshare path with sandbox/seccomp_loader.py.
  System calls of another ABI (32-bit x86 `int 0x80`, x32) kill the process: the filter is for this one.
- Docker: the same list as a JSON seccomp profile (`security_opt=["seccomp=<json>"]`), which replaces the
  engine's default profile, so the list also holds everything the default profile denies.

`clone` is denied only with CLONE_NEWUSER (a new user namespace gives back capabilities inside it); `clone3`
takes its flags in memory a filter cannot read, so it fails with ENOSYS and the C library falls back to
`clone`, as under Docker's default profile. `ioctl` is denied only for TIOCSTI and TIOCLINUX (typing into
a terminal), compared on the low 32 bits the kernel uses.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import platform
from dataclasses import dataclass

from sandbox.base import SandboxUnavailable

DENIED = (
    # other processes: tracing, reading and writing their memory, stealing their file descriptors
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
    "move_pages", "migrate_pages",
    # the kernel keyring
    "add_key", "keyctl", "request_key",
    # namespaces, mounts and the root directory
    "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount",
    "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "name_to_handle_at", "open_by_handle_at",
    # programs and tracing in the kernel; io_uring runs operations that the filter never sees
    "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "fanotify_init",
    # kernel code, modules, the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "query_module", "get_kernel_syms", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
    "syslog", "vhangup", "iopl", "ioperm",
    # the system clock
    "settimeofday", "clock_settime", "clock_adjtime", "stime",
    # obsolete interfaces
    "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "vm86", "vm86old",
)
CLONE_NEWUSER = 0x10000000
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
LOW_32_BITS = 0xFFFFFFFF
# Docker's names for this machine's ABIs (the profile lists them all, so 32-bit calls are filtered too).
DOCKER_ARCHES = {"x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                 "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]}


@dataclass(frozen=True)
class ArgRule:
    """Deny `syscall` with `errno_value` when (argument `index` & `mask`) == `value`."""

    syscall: str
    index: int
    mask: int
    value: int
    errno_value: int = errno.EPERM


ARG_RULES = (
    ArgRule("clone", 0, CLONE_NEWUSER, CLONE_NEWUSER),
    ArgRule("ioctl", 1, LOW_32_BITS, TIOCSTI),
    ArgRule("ioctl", 1, LOW_32_BITS, TIOCLINUX),
)
ENOSYS_CALLS = ("clone3",)


@functools.cache
def bpf_program() -> bytes:
    """The filter as a BPF program (struct sock_filter[]), compiled once by libseccomp."""
    try:
        import pyseccomp as seccomp

        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    except (ImportError, OSError, RuntimeError) as exc:  # no binding, or no libseccomp.so.2
        raise SandboxUnavailable(
            f"the sandbox's seccomp filter needs libseccomp ({exc}): apt-get install -y libseccomp2, "
            "pip install pyseccomp") from exc
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)  # another ABI: not this filter's
    for name in DENIED:
        _add(rules, seccomp.ERRNO(errno.EPERM), name)
    for name in ENOSYS_CALLS:
        _add(rules, seccomp.ERRNO(errno.ENOSYS), name)
    for rule in ARG_RULES:
        _add(rules, seccomp.ERRNO(rule.errno_value), rule.syscall,
             seccomp.Arg(rule.index, seccomp.MASKED_EQ, rule.mask, rule.value))
    with open(os.memfd_create("autogpt-seccomp-export", os.MFD_CLOEXEC), "w+b") as buffer:
        rules.export_bpf(buffer)  # writes to the descriptor itself
        buffer.seek(0)
        return buffer.read()


def _add(rules: object, action: object, name: str, *args: object) -> None:
    """Add a rule; a call this libseccomp does not know (newer than it) is left out."""
    try:
        rules.add_rule(action, name, *args)  # type: ignore[attr-defined]
    except (ValueError, RuntimeError, OSError):
        pass


def program_fd() -> int:
    """A memfd holding the BPF program at offset 0, inheritable: what `bwrap --seccomp FD` (and the unshare
    path's loader) read. The caller closes it once the sandbox has started."""
    program = bpf_program()
    fd = os.memfd_create("autogpt-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.cache
def docker_profile() -> str:
    """The same filter as a Docker seccomp profile (JSON)."""
    eperm = {"action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}
    syscalls: list[dict[str, object]] = [{"names": list(DENIED), **eperm},
                                         {"names": list(ENOSYS_CALLS), "action": "SCMP_ACT_ERRNO",
                                          "errnoRet": errno.ENOSYS}]
    syscalls += [{"names": [rule.syscall], "action": "SCMP_ACT_ERRNO", "errnoRet": rule.errno_value,
                  "args": [{"index": rule.index, "value": rule.mask, "valueTwo": rule.value,
                            "op": "SCMP_CMP_MASKED_EQ"}]} for rule in ARG_RULES]
    arches = DOCKER_ARCHES.get(platform.machine(), [])
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": syscalls})
