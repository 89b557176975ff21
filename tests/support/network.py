"""Refuse every outbound connection except loopback, so an accidental download fails loudly.

Used in-process by the autouse fixture in conftest.py, and in child processes (the CLI, the
Streamlit server) through tests/support/netguard/sitecustomize.py on PYTHONPATH.
"""

from __future__ import annotations

import ipaddress
import os
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class OutboundNetworkBlocked(RuntimeError):
    pass


def is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install() -> None:
    """Patch socket so that connecting to (or resolving) anything but loopback raises."""
    if getattr(socket, "_tutor_guard", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo
    log = os.environ.get("TUTOR_NETGUARD_LOG")

    def _check(sock: socket.socket, address: object) -> None:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) else address
        if not is_loopback(host):
            if log:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(f"connect {address!r}\n")
            raise OutboundNetworkBlocked(f"outbound connection to {address!r} blocked in tests")

    def guarded_connect(self: socket.socket, address: object) -> None:
        _check(self, address)
        return original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        _check(self, address)
        return original_connect_ex(self, address)

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object):
        if host is not None and not is_loopback(host if isinstance(host, str) else str(host)):
            if log:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(f"resolve {host!r}\n")
            raise OutboundNetworkBlocked(f"name resolution of {host!r} blocked in tests")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
    socket._tutor_guard = True  # type: ignore[attr-defined]
