"""What the load scripts share: free ports on 127.0.0.1, waiting for a listener, SIPp's counts.
Not a bench itself (bench/run.py runs only load_*.py)."""

from __future__ import annotations

import re
import socket
import time

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (asked of the kernel, then released)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port = udp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def wait_udp_bound(port: int, timeout: float = 10.0) -> None:
    """Waits until something is bound on udp 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on udp {port}")


def sipp_counts(log_text: str) -> tuple[int, int]:
    """(successful, failed) calls from SIPp's final statistics; failed is -1 when absent."""
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", log_text)
    failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", log_text)
    return (int(ok[-1]) if ok else 0, int(failed[-1]) if failed else -1)
