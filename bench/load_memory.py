#!/usr/bin/env python3
"""Memory per registration and per ringing call, and the restore of registrations at start.

    python3 bench/load_memory.py --build build/bench [--quick] [--keep]
        [--call-rounds N] [--t1-ms MS]

--call-rounds repeats the ringing calls (does memory keep growing round after round?); --t1-ms
sets the server's T1, which decides how long REGISTER transactions outlive their 200 and so
how much of their memory ends up between the bindings.

Three phases against one configuration of 100,000 extensions (100000..199999) plus a caller
(2000) and a callee (3000), everything on 127.0.0.1:

1. Registrations. The server starts on an empty database; SIPp registers every extension
   once (REGISTER, 401 digest challenge, REGISTER with credentials, 200) from an injection
   file. Memory is read before and after, once the REGISTER transactions have ended (Timer J,
   64*T1).
2. Restore. SIGTERM, then the same configuration and database again: the time from process
   start to the log line "registrations restored count=N", and to the first 200 answering an
   OPTIONS sent over UDP every few milliseconds from the start.
3. Ringing calls, on the restored server. A SIPp UAS registers as the callee and answers every
   INVITE with 180 only; a SIPp UAC (407 digest) opens the calls, lets them ring and then
   cancels them. Memory is read when every call has its 180 and no CANCEL has left; then the
   calls end and the script checks that the server logged every call's end, that memory came
   back down, and that the server stops with no call left.

How memory is read: SIGUSR1 to the server, which gives its free heap pages back to the
system (malloc_trim) and logs one line, `heap in_use=... free=... arena=... mmap=...
keepcost=... rss=... private=...` (glibc's mallinfo2 and its own /proc/self figures): the
rows use `private` (smaps_rollup Private_Clean + Private_Dirty, the pages no other process
shares) and say `in_use` (the bytes the heap hands out) beside it. The same line is what an
operator reads in production; no debugger is involved. Without the trim, a reading says
little: ended transactions leave freed memory resident that later allocations reuse without
growing RSS. The untrimmed private memory, read from /proc just before the signal, is said
too.

The configuration load is timed too (`catchline check-config`), since every start pays it.
Prints rows for bench/run.py on stdout (JSON lines) and what it sees on stderr. --quick: 2,000
registrations and 500 calls (said so in the row names) and T1 = 100 ms, so that the waits for
transactions to end fit its time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loopback import free_port, sipp_counts, wait_udp_bound

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
LOOPBACK = "127.0.0.1"
FIRST_EXTENSION = 100_000
CALLER, CALLER_PASSWORD = "2000", "memory-caller"
CALLEE, CALLEE_PASSWORD = "3000", "memory-callee"
T1_MS = 500  # the server's default T1; non-INVITE server transactions last 64*T1 on UDP
QUICK_T1_MS = 100
TIMER_D_SECONDS = 32  # RFC 3261 §17.1.1.2: at least 32 s on UDP, whatever T1 is (not set here)
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")
HEAP_LINE = re.compile(r"\] \[info\] heap ((?:\w+=\d+ ?)+)$")
HEAP_TIMEOUT_SECONDS = 30


def log(message: str) -> None:
    print(f"load_memory: {message}", file=sys.stderr, flush=True)


def private_bytes(pid: int) -> int:
    """Private resident memory of a process (pages no other process shares), in bytes."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


def status_bytes(pid: int, field: str) -> int:
    """A size from /proc/PID/status (VmRSS, VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time so far of every thread of a process."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return total / 1e9


def mib(value: float) -> str:
    return f"{value / 1048576:.1f} MiB"


def log_time(line: str) -> float:
    """The wall-clock time (seconds since the epoch) of a server log line."""
    found = LOG_TIME.match(line)
    if not found:
        raise RuntimeError(f"a log line without a time: {line!r}")
    return datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()


def count_of(counts: dict[str, int], suffix: str) -> int:
    """A -trace_counts column by what follows the scenario index, e.g. "_180_Recv"."""
    return sum(value for key, value in counts.items() if re.fullmatch(rf"\d+{suffix}", key))


def counts_of(path: Path) -> dict[str, int]:
    """The last row of a SIPp -trace_counts file, as column -> count."""
    if not path.is_file():
        return {}
    rows = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(rows) < 2:
        return {}
    header = rows[0].rstrip(";").split(";")
    values = rows[-1].rstrip(";").split(";")
    result = {}
    for key, value in zip(header, values):
        try:
            result[key] = int(value)
        except ValueError:
            pass
    return result


def sipp_errors(workdir: Path, most: int = 3) -> str:
    """The first events of SIPp's -trace_err files, one line each."""
    events = []
    for path in sorted(workdir.glob("*_errors.log")):
        for line in path.read_text(errors="replace").splitlines():
            if re.match(r"\d{4}-\d\d-\d\d\t", line):
                events.append(f"{path.name}: {line.split(': ', 1)[-1][:300]}")
    shown = "; ".join(events[:most])
    return shown + (f" (and {len(events) - most} more)" if len(events) > most else "") or "-"


class Processes:
    """Every process this script starts, each in its own session, stopped by its own PID."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], name: str) -> subprocess.Popen:
        with open(self.workdir / f"{name}.log", "wb") as log_file:
            proc = subprocess.Popen(args, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.started.append(proc)
        return proc

    def sipp(self, args: list[str], name: str) -> subprocess.Popen:
        return self.start(["sipp", *args, "-i", LOOPBACK, "-nostdin", "-trace_err"], name)

    def text(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self, proc: subprocess.Popen, timeout: float = 30) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc, timeout=10)


@dataclasses.dataclass
class Memory:
    private: int  # the server's own figure, after malloc_trim
    untrimmed: int  # read from /proc just before the signal
    heap_in_use: int  # mallinfo2 uordblks + hblkhd: every arena and the mmapped chunks


def heap_fields(line: str) -> dict[str, int] | None:
    """The key=value figures of a `heap ...` log line; None for any other line."""
    found = HEAP_LINE.search(line)
    if not found:
        return None
    return {key: int(value) for key, value in
            (pair.split("=") for pair in found.group(1).split())}


class Server:
    """One run of `catchline --config`, with its log followed line by line."""

    def __init__(self, processes: Processes, binary: Path, config: Path, name: str):
        self.name = name
        self.path = processes.workdir / f"{name}.log"
        self.started_at = time.time()
        self.proc = processes.start([str(binary), "--config", str(config)], name)
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._offset = 0
        self._partial = ""

    def poll(self) -> list[str]:
        """Reads the lines written since the last call; returns them."""
        with open(self.path, errors="replace") as f:
            f.seek(self._offset)
            chunk = f.read()
            self._offset = f.tell()
        if not chunk:
            return []
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        self.lines.extend(lines)
        return lines

    def wait_for(self, needle: str, timeout: float) -> str:
        """Waits for a log line containing `needle`; returns it."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if needle in line:
                return line
        while time.monotonic() < deadline:
            for line in self.poll():
                if needle in line:
                    return line
            if self.proc.poll() is not None:
                self.poll()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before "
                                   f"logging \"{needle}\": {' | '.join(self.lines[-5:])}")
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not log \"{needle}\" within {timeout:.0f} s")

    def count(self, needle: str) -> int:
        self.poll()
        return sum(1 for line in self.lines if needle in line)

    def problems(self) -> list[str]:
        """Warnings and errors the server logged."""
        self.poll()
        return [line for line in self.lines if "] [warning] " in line or "] [error] " in line]

    def memory(self) -> Memory:
        """Private memory once free heap pages went back to the system: SIGUSR1 asks the
        server, which answers with one `heap ...` line in its log (see the top)."""
        untrimmed = private_bytes(self.pid)
        self.poll()
        seen = len(self.lines)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + HEAP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.poll()
            for line in self.lines[seen:]:
                fields = heap_fields(line)
                if fields is not None:
                    return Memory(fields["private"], untrimmed, fields["in_use"])
            seen = len(self.lines)
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} instead of "
                                   f"answering SIGUSR1")
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} logged no heap line within {HEAP_TIMEOUT_SECONDS} s "
                           f"of SIGUSR1")


def per_item(before: Memory, after: Memory, count: int) -> tuple[float, float]:
    """Bytes per item: from private memory, and from the heap in use."""
    return ((after.private - before.private) / count,
            (after.heap_in_use - before.heap_in_use) / count)


def describe(memory: Memory) -> str:
    return (f"private {mib(memory.private)} (after trim), untrimmed {mib(memory.untrimmed)}, "
            f"heap in use {mib(memory.heap_in_use)}")


def options_request(port: int, local_port: int, attempt: int) -> bytes:
    branch = f"z9hG4bK-memory-{os.getpid()}-{attempt}"
    return (f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local_port};branch={branch};rport\r\n"
            f"From: <sip:probe@{LOOPBACK}>;tag=probe{attempt}\r\n"
            f"To: <sip:{LOOPBACK}:{port}>\r\n"
            f"Call-ID: memory-probe-{os.getpid()}-{attempt}@{LOOPBACK}\r\n"
            f"CSeq: {attempt} OPTIONS\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def watch_start(server: Server, port: int, restored_line: str, timeout: float) -> dict:
    """From the server's start: when the restore line appears and when an OPTIONS is first
    answered 200 (one sent every 5 ms while nothing answers)."""
    found: dict = {}
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((LOOPBACK, 0))
    probe.connect((LOOPBACK, port))
    local_port = probe.getsockname()[1]
    deadline = time.monotonic() + timeout
    attempt = 0
    next_probe = time.monotonic()
    try:
        while time.monotonic() < deadline and not ("options" in found and "restored" in found):
            if "restored" not in found:
                for line in server.poll():
                    if restored_line in line:
                        found["restored"] = line
                        found["restored_cpu"] = cpu_seconds(server.pid)
            if "options" in found:
                time.sleep(0.005)
            else:
                # One probe every 5 ms, no faster: while nothing is bound each probe comes
                # back at once as an ICMP error, and a busy loop would take a core from the
                # server it is timing.
                if time.monotonic() >= next_probe:
                    attempt += 1
                    next_probe = time.monotonic() + 0.005
                    try:
                        probe.send(options_request(port, local_port, attempt))
                    except ConnectionRefusedError:
                        pass  # the ICMP error of an earlier probe
                ready, _, _ = select.select([probe], [], [],
                                            max(0.0, next_probe - time.monotonic()))
                if ready:
                    try:
                        answer = probe.recv(65535)
                    except ConnectionRefusedError:
                        answer = b""  # nothing bound yet
                    if answer.startswith(b"SIP/2.0 200"):
                        found["options"] = time.time()
                        found["options_attempts"] = attempt
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
    finally:
        probe.close()
    if "restored" not in found:
        raise RuntimeError(f"{server.name} did not log \"{restored_line}\" in {timeout:.0f} s")
    if "options" not in found:
        raise RuntimeError(f"{server.name} answered no OPTIONS in {timeout:.0f} s")
    return found


def write_config(path: Path, port: int, db: Path, registrations: int, t1_ms: int) -> None:
    lines = [
        "sip:\n",
        f"  listen: [\"udp:{LOOPBACK}:{port}\"]\n",
        "  domain: memory.bench.test\n",
        # Longer than the whole run: calls ring until the script cancels them.
        "  no_answer_timeout: 300s\n",
        f"  timers: {{t1: {t1_ms}ms}}\n",
        f"storage:\n  path: {db}\n",
        "extensions:\n",
        f"  - {{number: \"{CALLER}\", password: \"{CALLER_PASSWORD}\"}}\n",
        f"  - {{number: \"{CALLEE}\", password: \"{CALLEE_PASSWORD}\"}}\n",
    ]
    for number in range(FIRST_EXTENSION, FIRST_EXTENSION + registrations):
        lines.append(f"  - {{number: \"{number}\", password: \"pw-{number}\"}}\n")
    path.write_text("".join(lines))


def write_users(path: Path, registrations: int) -> None:
    lines = ["SEQUENTIAL\n"]
    for number in range(FIRST_EXTENSION, FIRST_EXTENSION + registrations):
        # SIPp expands no field inside [authentication ...]: the whole keyword is a field.
        lines.append(f"{number};pw-{number};[authentication username={number} "
                     f"password=pw-{number}]\n")
    path.write_text("".join(lines))


def time_config_check(binary: Path, config: Path) -> tuple[float, float, int]:
    """`catchline check-config`: wall seconds, CPU seconds and peak resident bytes."""
    started = time.monotonic()
    proc = subprocess.Popen([str(binary), "check-config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors="replace").strip()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"check-config failed: {output}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@dataclasses.dataclass
class Sizes:
    registrations: int
    calls: int
    register_rate: int  # registrations/s offered by SIPp
    call_rate: int  # calls/s offered by SIPp
    t1_ms: int
    ring_margin: float  # seconds every call rings beyond the time it takes to open them all
    scale: str  # added to the row names


class MemoryBench:
    def __init__(self, processes: Processes, binary: Path, sizes: Sizes):
        self.processes = processes
        self.binary = binary
        self.sizes = sizes
        workdir = processes.workdir
        self.port = free_port()
        self.db = workdir / "catchline.db"
        self.config = workdir / "catchline.yaml"
        self.users = workdir / "users.csv"
        self.transaction_life = 64 * sizes.t1_ms / 1000
        self.suspicious: list[str] = []
        self.live_heap_per_registration: float | None = None
        write_config(self.config, self.port, self.db, sizes.registrations, sizes.t1_ms)
        write_users(self.users, sizes.registrations)

    def flag(self, message: str) -> None:
        self.suspicious.append(message)
        log(f"SUSPICIOUS: {message}")

    def config_load(self) -> None:
        wall, cpu, peak = time_config_check(self.binary, self.config)
        log(f"check-config with {self.sizes.registrations + 2:,} extensions: {wall:.2f} s wall, "
            f"{cpu:.2f} s CPU, peak RSS {mib(peak)}")

    def registrations(self) -> tuple[float, Memory]:
        """Phase 1: bytes per registration; also the memory of the idle server at start."""
        count, rate = self.sizes.registrations, self.sizes.register_rate
        server = Server(self.processes, self.binary, self.config, "server-1")
        line = server.wait_for("catchline started", timeout=180)
        log(f"first start (empty database): \"catchline started\" after "
            f"{log_time(line) - server.started_at:.2f} s, CPU {cpu_seconds(server.pid):.2f} s")
        wait_udp_bound(self.port)
        base = server.memory()
        log(f"idle, no registration: {describe(base)}")
        if base.untrimmed > 2 * base.private and base.untrimmed - base.private > 64 << 20:
            self.flag(f"after loading the configuration the idle server keeps "
                      f"{mib(base.untrimmed - base.private)} of freed memory resident "
                      f"(untrimmed {mib(base.untrimmed)}, {mib(base.private)} once trimmed)")

        sipp_port = free_port()
        started = time.monotonic()
        cpu_before = cpu_seconds(server.pid)
        # At most a fifth of a second's registrations outstanding: a slower server slows SIPp
        # down instead of drowning in retransmissions.
        reg = self.processes.sipp(
            ["-sf", str(SCENARIOS / "memory_register.xml"), f"{LOOPBACK}:{self.port}", "-inf",
             str(self.users), "-p", str(sipp_port), "-r", str(rate), "-m", str(count), "-l",
             str(max(rate // 5, 100)), "-timeout", f"{count // rate + 60}s", "-timeout_error",
             "-fd", "1"], "register")
        reg.wait()
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        ok, failed = sipp_counts(self.processes.text("register"))
        logged = server.count("] [info] register extension=")
        log(f"SIPp registered {ok:,} of {count:,} (failed {failed}) in {elapsed:.1f} s "
            f"({ok / elapsed:,.0f}/s); the server logged {logged:,} registrations and spent "
            f"{cpu * 1e6 / max(ok, 1):.0f} us CPU per registration")
        if failed < 0:
            raise RuntimeError(f"SIPp did not run: {self.processes.text('register')[:500]}")
        if logged != count:
            raise RuntimeError(f"registrations incomplete: SIPp ok={ok} failed={failed}, server "
                               f"logged {logged}: {sipp_errors(self.processes.workdir)}")
        if ok != count:
            self.flag(f"SIPp counted {count - ok} failed registrations although the server "
                      f"logged all {count:,}: {sipp_errors(self.processes.workdir)}")
        right_after = private_bytes(server.pid)
        # The REGISTER transactions live on for Timer J (64*T1): read once they are gone.
        time.sleep(self.transaction_life + 2)
        after = server.memory()
        per_registration, heap = per_item(base, after, count)
        log(f"{count:,} registrations: {describe(after)}; untrimmed right after the last "
            f"{mib(right_after)}, peak RSS {mib(status_bytes(server.pid, 'VmHWM'))}")
        log(f"per registration: {per_registration:.0f} bytes private"
            + f", {heap:.0f} bytes of heap in use"
            + f" (untrimmed: {(after.untrimmed - base.untrimmed) / count:.0f} bytes)")
        if heap > 0 and per_registration > 2 * heap:
            self.flag(f"private memory per registration is {per_registration / heap:.1f}x the "
                      f"heap in use: the memory of ended REGISTER transactions is spread "
                      f"between the bindings and cannot go back (fragmentation)")
        self.live_heap_per_registration = heap

        self.processes.stop(server.proc)
        server.poll()
        if server.proc.returncode != 0 or not any("catchline stopped" in l for l in server.lines):
            raise RuntimeError(f"the first server did not stop cleanly "
                               f"(exit {server.proc.returncode})")
        stored = count_rows(self.db, "registrations")
        log(f"stopped; the database holds {stored:,} registrations")
        if stored != count:
            self.flag(f"the database holds {stored} registrations, not {count}")
        return per_registration, base

    def restore(self, empty: Memory) -> tuple[Server, float, float]:
        """Phase 2: seconds from start to the restore line and to the first OPTIONS answer."""
        count = self.sizes.registrations
        restored_line = f"registrations restored count={count}"
        server = Server(self.processes, self.binary, self.config, "server-2")
        found = watch_start(server, self.port, restored_line, timeout=180)
        listening = log_time(server.wait_for("listening on", timeout=1))
        restored_at = log_time(found["restored"])
        restore_seconds = restored_at - server.started_at
        options_seconds = found["options"] - server.started_at
        log(f"restart: \"{restored_line}\" {restore_seconds:.3f} s after start (configuration "
            f"and database read until listening: {listening - server.started_at:.3f} s, then "
            f"the restore in memory: {restored_at - listening:.3f} s); first OPTIONS answered "
            f"200 after {options_seconds:.3f} s ({found['options_attempts']} probes sent); "
            f"CPU used by the restore line: {found['restored_cpu']:.2f} s")
        restored = server.memory()
        per_registration, heap = per_item(empty, restored, count)
        log(f"after the restore: {describe(restored)}: over the empty start, "
            f"{per_registration:.0f} bytes private per registration, {heap:.0f} bytes of heap "
            f"in use")
        live = self.live_heap_per_registration
        if live is not None and heap > live + 128:
            self.flag(f"a restored registration holds {heap - live:.0f} bytes more heap than a "
                      f"live one ({heap:.0f} against {live:.0f})")
        return server, restore_seconds, options_seconds

    def ringing_calls(self, server: Server, rounds: int) -> float:
        """Phase 3: bytes per ringing call (the first round), on the restored server."""
        uas_port = free_port()
        reg = self.processes.sipp(
            ["-sf", str(SCENARIOS / "register.xml"), f"{LOOPBACK}:{self.port}", "-p",
             str(uas_port), "-s", CALLEE, "-au", CALLEE, "-ap", CALLEE_PASSWORD, "-m", "1",
             "-timeout", "10s", "-timeout_error"], "callee-register")
        if reg.wait(timeout=20) != 0:
            raise RuntimeError("the SIPp UAS could not register as the callee")
        uas = self.processes.sipp(["-sf", str(SCENARIOS / "memory_uas_ring.xml"), "-p",
                                   str(uas_port), "-fd", "1"], "uas")
        wait_udp_bound(uas_port)
        time.sleep(1)
        results = [self.call_round(server, index + 1) for index in range(rounds)]
        self.processes.stop(uas)
        self.processes.stop(server.proc)
        server.poll()
        stopping = [line for line in server.lines if "stopping signal=" in line]
        found = re.search(r"calls=(\d+)", stopping[-1]) if stopping else None
        left = int(found.group(1)) if found else None
        log(f"the server stopped with calls={left} (exit {server.proc.returncode})")
        if left != 0:
            self.flag(f"the server had {left} calls left at stop")
        for line in server.problems()[:5]:
            log(f"server warning: {line}")
        return results[0]

    def call_round(self, server: Server, round_number: int) -> float:
        """One round of ringing calls, opened, held ringing, cancelled; bytes per call."""
        calls, rate = self.sizes.calls, self.sizes.call_rate
        name = f"uac-{round_number}"
        before = server.memory()
        log(f"round {round_number}, before the calls: {describe(before)}")
        starts_before = server.count("] [info] call start ")
        ends_before = server.count("] [info] call end ")

        ramp = calls / rate
        ring_ms = int((ramp + self.sizes.ring_margin) * 1000)  # each call rings this long
        uac = self.processes.sipp(
            ["-sf", str(SCENARIOS / "memory_uac_ring.xml"), f"{LOOPBACK}:{self.port}", "-p",
             str(free_port()), "-s", CALLEE, "-au", CALLER, "-ap", CALLER_PASSWORD, "-set",
             "caller", CALLER, "-r", str(rate), "-m", str(calls), "-l", str(calls), "-d",
             str(ring_ms), "-trace_counts", "-fd", "1", "-timeout",
             f"{int(ramp + ring_ms / 1000 + 60)}s", "-timeout_error"], name)
        started = time.monotonic()
        counts_file = self.processes.workdir / f"memory_uac_ring_{uac.pid}_counts.csv"
        # The first CANCEL leaves ring_ms after the first 180: stop waiting well before.
        deadline = started + ring_ms / 1000 - 3
        while time.monotonic() < deadline and uac.poll() is None:
            if count_of(counts_of(counts_file), "_180_Recv") >= calls:
                break
            time.sleep(0.2)
        all_ringing = time.monotonic() - started
        ringing_memory = server.memory()
        # SIPp writes its counts once a second: the reading needs every 180 and no CANCEL yet.
        time.sleep(1.2)
        counts = counts_of(counts_file)
        ringing = count_of(counts, "_180_Recv")
        cancels = count_of(counts, "_CANCEL_Sent")
        started_calls = server.count("] [info] call start ") - starts_before
        log(f"{ringing:,} of {calls:,} calls ringing after {all_ringing:.1f} s (the server "
            f"started {started_calls:,} calls; SIPp had sent {cancels} CANCELs)")
        if cancels != 0 or ringing < 0.95 * calls or started_calls != calls:
            raise RuntimeError(f"could not hold {calls} calls ringing at once: 180s received "
                               f"{ringing}, CANCELs sent {cancels}, calls the server started "
                               f"{started_calls}; {sipp_errors(self.processes.workdir)}")
        if ringing != calls:
            # The others are open too, their INVITEs on the way: divide by all of them.
            self.flag(f"only {ringing:,} of the {calls:,} calls the server holds had their 180 "
                      f"when memory was read (SIPp too slow on a busy machine?): "
                      f"{sipp_errors(self.processes.workdir)}")
        per_call, heap = per_item(before, ringing_memory, calls)
        log(f"{calls:,} ringing calls: {describe(ringing_memory)}")
        log(f"per ringing call: {per_call:.0f} bytes private"
            + f", {heap:.0f} bytes of heap in use"
            + f" (untrimmed: {(ringing_memory.untrimmed - before.untrimmed) / calls:.0f} bytes)")

        uac.wait(timeout=ramp + ring_ms / 1000 + 90)
        ok, failed = sipp_counts(self.processes.text(name))
        ended = server.count("] [info] call end ") - ends_before
        log(f"SIPp cancelled: {ok:,} calls ended cleanly, {failed} failed; the server logged "
            f"{ended:,} call ends")
        if ok != calls or failed != 0 or ended != calls:
            self.flag(f"calls did not all end cleanly: SIPp ended {ok} and failed {failed}, the "
                      f"server logged {ended} ends")
        # The callee INVITE transactions that received a 487 end after Timer D, the CANCELs'
        # after Timer J (64*T1), the caller INVITE transactions after Timer I (T4).
        wait = max(TIMER_D_SECONDS, self.transaction_life) + 2
        time.sleep(wait)
        after = server.memory()
        residue = after.private - before.private
        log(f"{wait:.0f} s after the last call: {describe(after)}; {mib(residue)} private above "
            f"the level before the calls"
            + f", heap in use {(after.heap_in_use - before.heap_in_use) / calls:.0f} bytes "
              f"per call above it")
        if residue > max(0.25 * (ringing_memory.private - before.private), 8 << 20):
            self.flag(f"memory did not come back after the calls: {mib(residue)} above the "
                      f"level before them")
        return per_call


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working folder (logs, SIPp traces) and name it")
    parser.add_argument("--call-rounds", type=int, default=1,
                        help="rounds of ringing calls (more than one: does memory keep growing?)")
    parser.add_argument("--t1-ms", type=int,
                        help="the server's T1 (how long REGISTER transactions outlive their 200)")
    args = parser.parse_args()
    binary = args.build.resolve() / "app" / "catchline"
    if not binary.is_file():
        log(f"no server binary at {binary}")
        return 1
    if args.quick:
        sizes = Sizes(registrations=2_000, calls=500, register_rate=2_000, call_rate=500,
                      t1_ms=QUICK_T1_MS, ring_margin=5, scale=" (quick)")
    else:
        sizes = Sizes(registrations=100_000, calls=10_000, register_rate=5_000, call_rate=1_000,
                      t1_ms=T1_MS, ring_margin=15, scale="")
    if args.t1_ms:
        sizes.t1_ms = args.t1_ms

    workdir = Path(tempfile.mkdtemp(prefix="catchline-memory-"))
    processes = Processes(workdir)
    figures: dict[str, float] = {}
    try:
        bench = MemoryBench(processes, binary, sizes)
        bench.config_load()
        figures["registration"], empty = bench.registrations()
        server, figures["restore"], figures["options"] = bench.restore(empty)
        figures["call"] = bench.ringing_calls(server, args.call_rounds)
        log(f"{len(bench.suspicious)} suspicious findings"
            + "".join(f"\n  - {finding}" for finding in bench.suspicious))
    except RuntimeError as error:
        log(f"failed: {error}")
        return 1
    finally:
        processes.stop_all()
        if args.keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        # Whatever was measured before a failure still reaches the summary.
        print_rows(figures, sizes)
    return 0


def print_rows(figures: dict[str, float], sizes: Sizes) -> None:
    """The rows for bench/run.py, one JSON object a line, for the figures that were measured."""
    registrations = f"{sizes.registrations:,}"
    calls = f"{sizes.calls:,}"
    scale = sizes.scale
    rows = [
        ("registration", f"memory per registration at {registrations}{scale}", "bytes", 0,
         "<= 1024"),
        ("call", f"memory per ringing call at {calls}{scale}", "bytes", 0, "<= 8192"),
        ("restore", f"restore {registrations} registrations{scale}", "s", 3, "< 1"),
        ("options", f"first OPTIONS answered after a start with {registrations} "
                    f"registrations{scale}", "s", 3, "< 1"),
    ]
    for key, name, unit, digits, goal in rows:
        if key in figures:
            value = round(figures[key], digits) if digits else round(figures[key])
            print(json.dumps({"name": name, "value": value, "unit": unit, "baseline": None,
                              "ratio": None, "goal": goal}), flush=True)

if __name__ == "__main__":
    sys.exit(main())
