"""Ports on this machine, and whether a cluster's address answers at all."""

from __future__ import annotations

import socket

RAY_CONNECT_TIMEOUT_S = 15.0


class AddressUnreachableError(ConnectionError):
    """Nothing answered at a configured address: named with the variable that set it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def host_and_port(address: str, default_port: int) -> tuple[str, int]:
    """("head", 6379) from "head:6379", "ray://head:10001" or "head"."""
    rest = address.split("://", 1)[-1].rstrip("/")
    host, colon, port = rest.rpartition(":")
    if not colon:
        return rest, default_port
    if not (host and port.isdigit()):
        raise AddressUnreachableError(f"RAY_ADDRESS={address!r} is not HOST:PORT (e.g. 127.0.0.1:6379)")
    return host.strip("[]"), int(port)


def check_ray_address(address: str, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Refuse within `timeout_s` when nothing listens at RAY_ADDRESS. Ray itself waits minutes for
    a head that is not there; "auto" (the head on this machine, found by Ray) is left to Ray."""
    if not address or address == "auto":
        return
    host, port = host_and_port(address, 6379)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as error:
        why = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise AddressUnreachableError(
            f"no Ray cluster answered at RAY_ADDRESS={address} within {timeout_s:.0f} s ({why}); "
            "start one with `starloom ray start`, or unset RAY_ADDRESS to run Ray in this process") from None
