"""``struct mmsghdr`` and friends for ``sendmmsg(2)`` / ``recvmmsg(2)`` through ``ctypes`` (Linux).

Shared by the benchmarks that move many datagrams per system call: the RTP
send-cost comparison (``rtp_send.py``) and the receiving probe
(``rtp_probe.py``).  ``libc()`` is ``None`` where the C library has no
``recvmmsg`` (not Linux): callers then fall back to one call per datagram.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


class Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", Msghdr), ("msg_len", ctypes.c_uint)]


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The C library with ``sendmmsg``/``recvmmsg`` typed, or ``None`` without them."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    lib = ctypes.CDLL(name, use_errno=True)
    if not hasattr(lib, "recvmmsg") or not hasattr(lib, "sendmmsg"):
        return None
    lib.sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(Mmsghdr), ctypes.c_uint, ctypes.c_int]
    lib.sendmmsg.restype = ctypes.c_int
    lib.recvmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(Mmsghdr), ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    lib.recvmmsg.restype = ctypes.c_int
    return lib
