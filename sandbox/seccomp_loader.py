"""Load the sandbox's seccomp filter, then exec a command: `python3 -I -S -c SOURCE FD CMD ARGS...`.

The unshare path of the local backend runs this inside the sandbox once its mounts are made (bubblewrap has
`--seccomp FD` built in). FD holds the BPF program that libseccomp compiled on the host (sandbox/seccomp.py);
this only hands it to the kernel: prctl(PR_SET_NO_NEW_PRIVS), then prctl(PR_SET_SECCOMP, FILTER). Standard
library only (it runs on the sandbox's Python). Any failure ends it with status 125 before CMD runs.
"""

import ctypes
import os
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
INSTRUCTION_BYTES = 8  # struct sock_filter


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load(program: bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if not program or len(program) % INSTRUCTION_BYTES:
        raise OSError("the seccomp program is empty or torn")
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // INSTRUCTION_BYTES, ctypes.addressof(buffer))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def main() -> None:
    fd = int(sys.argv[1])
    try:
        with os.fdopen(fd, "rb") as source:
            load(source.read())
    except Exception as e:
        os.write(2, f"sandbox: cannot load the seccomp filter: {e}\n".encode())
        os._exit(125)
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
