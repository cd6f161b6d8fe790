"""What the load scripts share: free ports on 127.0.0.1, waiting for a listener, SIPp's counts,
starting and stopping processes, CPU times. Not a bench itself (bench/run.py runs only
load_*.py)."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

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


def start_server(binary: Path, config: Path, workdir: Path, log_path: Path) -> subprocess.Popen:
    """The server on `config`, in its own session, its output in `log_path`."""
    with open(log_path, "wb") as out:
        return subprocess.Popen([str(binary), "--config", str(config)], cwd=workdir,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(proc: subprocess.Popen, what: str, log: Callable[[str], None]) -> None:
    """SIGTERM to this one process (by its PID), then 15 s for it to end before SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"{what} (pid {proc.pid}) did not stop within 15 s of SIGTERM: killed")
            proc.kill()
            proc.wait()


def run_until(pump: Callable[[float], object], done: Callable[[], bool], timeout: float,
              tick: Callable[[], None] | None = None) -> bool:
    """Calls pump(at most 50 ms) (and tick()) until done() holds, or False after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        pump(min(left, 0.05))
        if tick is not None:
            tick()
    return True


def sipp_counts(log_text: str) -> tuple[int, int]:
    """(successful, failed) calls from SIPp's final statistics; failed is -1 when absent."""
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", log_text)
    failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", log_text)
    return (int(ok[-1]) if ok else 0, int(failed[-1]) if failed else -1)


def _task_files(pids: tuple[int, ...], name: str):
    """The text of /proc/PID/task/*/NAME of every thread of these processes (gone ones skipped)."""
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/{name}") as f:
                    yield f.read()
            except (FileNotFoundError, ProcessLookupError):
                pass


def cpu_ns(*pids: int) -> int:
    """CPU time so far of every thread of these processes, in nanoseconds (from
    /proc/PID/task/*/schedstat; a process that is gone counts 0)."""
    return sum(int(text.split()[0]) for text in _task_files(pids, "schedstat") if text)


def kernel_cpu_ns(*pids: int) -> int:
    """The part of cpu_ns() spent in the kernel (system calls, the network stack, scheduling):
    stime of every thread, from /proc/PID/task/*/stat, in clock ticks (10 ms) made ns."""
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    total = 0
    for text in _task_files(pids, "stat"):
        # The fields after the command, which is in parentheses and may hold spaces.
        fields = text.rsplit(")", 1)[-1].split()
        if len(fields) > 12:
            total += int(fields[12]) * tick_ns  # stime, field 15 of proc(5)
    return total


def percentile(values: list[int], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def server_problems(log_path: Path) -> list[str]:
    """The warning and error lines of a server log (none when there is no log)."""
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if "[warn" in line or "[error" in line
            or "[critical" in line]
