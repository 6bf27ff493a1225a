"""Opening a path beneath the workspace in one step, so that nothing can swap a link in between.

Code in the sandbox can rename and relink anything in the workspace while the host's file tools run, so
checking a path and opening it later is a race it can win. Here the kernel resolves the path and opens it
at once, from a descriptor of the workspace, following no symbolic link at all:

- `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` (Linux >= 5.6, through ctypes);
- elsewhere (an older kernel, a seccomp profile that hides it) a walk: each folder opened with
  `O_PATH | O_DIRECTORY | O_NOFOLLOW` from the descriptor of the one before, the last name with `O_NOFOLLOW`.

Either way a link anywhere in the path fails with ELOOP or ENOTDIR (`LinkRefused` here). Paths are relative
and never hold `..` (the caller normalises them first).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
from collections.abc import Iterator

SYS_OPENAT2 = 437  # the same number on every architecture (added after the tables were unified)
RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH = 0x02, 0x04, 0x08
RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_fallback = False  # set once openat2 turned out to be missing


class LinkRefused(OSError):
    """The path goes through a symbolic link (or through a file as if it were a folder)."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


@functools.cache
def _syscall() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    call = ctypes.CDLL(None, use_errno=True).syscall
    call.restype = ctypes.c_long
    return call


def open_beneath(root_fd: int, parts: list[str], flags: int, mode: int = 0o666, *,
                 make_parents: bool = False) -> int:
    """A descriptor for root/parts[0]/.../parts[-1] (parts empty: the root itself), opened with `flags`.

    `make_parents` creates missing folders (mode 0777 less the umask, as mkdir -p)."""
    flags |= os.O_CLOEXEC | os.O_NOFOLLOW
    if not parts:
        return os.open(".", flags & ~os.O_NOFOLLOW & ~os.O_CREAT, dir_fd=root_fd)
    try:
        if not _fallback:
            try:
                return _openat2(root_fd, "/".join(parts), flags, mode)
            except FileNotFoundError:
                if not make_parents or len(parts) == 1:
                    raise
        parent = _walk(root_fd, parts[:-1], make_parents)
        try:
            return os.open(parts[-1], flags, mode, dir_fd=parent)
        finally:
            os.close(parent)
    except OSError as exc:
        raise _refusal(exc) from None


def _openat2(dir_fd: int, path: str, flags: int, mode: int) -> int:
    global _fallback
    how = _OpenHow(flags, mode if flags & os.O_CREAT else 0, RESOLVE)
    fd = _syscall()(SYS_OPENAT2, ctypes.c_int(dir_fd), path.encode(), ctypes.byref(how),
                    ctypes.c_size_t(ctypes.sizeof(how)))
    if fd >= 0:
        return int(fd)
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM):  # no openat2 here (EPERM: a seccomp profile that denies it)
        _fallback = True
        parent = _walk(dir_fd, path.split("/")[:-1], False)
        try:
            return os.open(path.rsplit("/", 1)[-1], flags, mode, dir_fd=parent)
        finally:
            os.close(parent)
    raise OSError(code, os.strerror(code), path)


def _walk(root_fd: int, folders: list[str], make: bool) -> int:
    """An O_PATH descriptor of root/folders..., one component at a time, never through a link."""
    fd = os.open(".", DIR_FLAGS, dir_fd=root_fd)
    try:
        for name in folders:
            try:
                child = os.open(name, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not make:
                    raise
                with contextlib.suppress(FileExistsError):  # made meanwhile: the open below decides
                    os.mkdir(name, 0o777, dir_fd=fd)
                child = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refusal(exc: OSError) -> OSError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
        return LinkRefused(exc.errno, exc.strerror, exc.filename)
    return exc


def walk_files(root_fd: int, max_entries: int) -> Iterator[str]:
    """Relative paths of the regular files under root_fd, never through a link; stops after looking at
    `max_entries` entries (a workspace of a million files costs no more than that)."""
    seen = 0
    pending: list[str] = [""]
    while pending:
        prefix = pending.pop()
        try:
            fd = open_beneath(root_fd, prefix.split("/")[:-1] if prefix else [], os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        return
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(f"{prefix}{entry.name}/")
                    elif entry.is_file(follow_symlinks=False):
                        yield prefix + entry.name
        finally:
            os.close(fd)
