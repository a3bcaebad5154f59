"""Where a process of the stack listens, read from Linux's ``/proc`` (no extra tools).

``sensory stack status`` reports these so that a listener on all interfaces is visible, not
assumed away.
"""
import os
from pathlib import Path

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def _group_pids(leader: int) -> list[int]:
    # The stack starts each service in its own session, so its children share the group id.
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(entry.name) == leader or int(fields[2]) == leader:  # fields[2]: pgrp
            pids.append(int(entry.name))
    return pids


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _decode(address: str, ipv6: bool) -> str:
    host_hex, port_hex = address.split(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(host_hex)
    if not ipv6:
        host = ".".join(str(b) for b in reversed(raw))
        return f"{host}:{port}"
    # /proc stores IPv6 as four little-endian 32-bit words.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    import ipaddress  # pylint: disable=import-outside-toplevel
    host = ipaddress.IPv6Address(words)
    mapped = host.ipv4_mapped
    return f"{mapped}:{port}" if mapped else f"[{host.compressed}]:{port}"


def listening_addresses(pid: int) -> list[str]:
    """Sorted ``host:port`` of every TCP socket that ``pid`` (or its process group) listens on.

    ``0.0.0.0`` and ``[::]`` mean all interfaces. Empty where ``/proc`` is unavailable.
    """
    inodes = set()
    for member in _group_pids(pid):
        inodes |= _socket_inodes(member)
    found = set()
    for table, ipv6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and fields[9] in inodes:
                found.add(_decode(fields[1], ipv6))
    return sorted(found)


def is_loopback(address: str) -> bool:
    """Whether a ``host:port`` from ``listening_addresses`` is reachable only from this host."""
    host = address.rsplit(":", 1)[0].strip("[]")
    return host.startswith("127.") or host == "::1"
