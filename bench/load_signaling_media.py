#!/usr/bin/env python3
"""Signaling under media load (issue 11): CPU per call and pickup p99 with 500 relayed calls
sending RTP, against the same figures with those calls silent, on one server in media.mode relay.

    python3 bench/load_signaling_media.py --build build/bench [--quick] [--keep]

One server process (media.mode relay, media.ports 20000-29999, media.timeout 10m so that silent
calls stay up) and, around it:

  * the relayed calls: CALLS calls from 4000 to 4100, set up through the server by Python phones
    on one socket each (4000: INVITE, 407, ACK, INVITE with credentials, 200, ACK; 4100: 200
    with SDP at once). Each phone's SDP names one of the sockets of bench/relay_driver
    (--target streams); the relay ports come back in the SDP the server wrote for each phone
    (the 200 for the caller, the INVITE for the callee), so the relay legs are the ones the
    call code opened and bridged. relay_driver then sends G.711 20 ms packets (172 bytes,
    50 packets/s) on every leg, both ways: 100 packets/s a call, 50,000 packets/s into the
    relay at 500 calls, and counts what the relay sends back;
  * the CPU per call: SIPp (bench/scenarios/uac_auth.xml, 407 and credentials) calls a SIPp
    uas registered as 3000, RATE calls/s for SECONDS, as bench/load_calls.py does; the calls
    carry SDP, so each is relayed too (its legs opened and closed, no RTP);
  * the pickup p99: bench/load_pickup.py's phones, pickups (*8) one at a time with WAITING calls
    ringing 1001, from the picker's INVITE with credentials to its 200 and to the CANCEL at the
    rung phone, each checked as load_pickup checks them; an OPTIONS round trip before each
    pickup is the reference (the same sockets and wake-ups, no call work).

Phases alternate A (RTP paused: the calls stay up, silent) and B (RTP flowing), ROUNDS pairs
(--quick: one), because the machine is shared and noisy; each figure is the median of its
phases. A and B differ only in the packets: the same calls, relay legs, dialogs and sockets
exist in both. The CPU is read per thread (/proc/PID/task/TID/schedstat, nanoseconds): the
server runs its signaling loop on the main thread (TID = PID) and the relay on a thread of its
own (the non-main thread that used the most CPU in the B phases; the third thread is the
store writer). The figure of the issue is the signaling thread's CPU per call, B over A.

On 2 cores this is not a measurement of the signaling thread alone: in B the relay's media
thread (measured 0.5-0.6 core at 50,000 packets/s in and 50,000 out) and relay_driver's
sender and receiver (0.35 core: they pay the kernel's loopback path for 100,000 packets/s)
share the two cores with SIPp, the Python phones and the server's signaling thread; the
machine is about 1.1 cores busy in B against 0.25 in A, so it is not saturated on average,
but a wake-up in B often finds both cores taken. What B adds to the signaling thread's CPU per
call is then mostly the price of sharing (caches, the kernel's locks, softirq work that lands
on it); what it adds to the pickup p99 is mostly waiting for a core, on the server's side and
on the Python phones' alike: the OPTIONS round trip (no call work) rises as much, and the
pickup median does not rise. On a server with a core for the relay the p99 figure would
measure the server; here it measures the machine. The rows say how busy the machine was in
each phase; a B phase near 2 cores busy (a neighbour's burst) measures saturation.

Prints rows for bench/run.py on stdout (JSON lines); what it sees goes to stderr. Stops what it
started by PID, whatever happens. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import load_pickup
from load_pickup import CALLEE as PICKUP_CALLEE
from load_pickup import (CALLEE_PASSWORD as PICKUP_CALLEE_PASSWORD, CALLER_PASSWORD as
                         PICKUP_CALLER_PASSWORD, DOMAIN, FIRST_CALLER, GROUP, PICKER_PASSWORD,
                         PICKERS, Endpoint, Loop, PickupBench, Phones, raise_open_files)
from loopback import (LOOPBACK, cpu_ns, free_port, percentile, server_problems, sipp_counts,
                      start_server, stop, wait_udp_bound)
from sip_agent import (Message, challenge_params, credentials, request, response, sdp, tag_of,
                       token, uri_of)

HERE = Path(__file__).resolve().parent
SIPP_CALLER, SIPP_CALLER_PASSWORD = "2000", "bench-caller"
SIPP_CALLEE, SIPP_CALLEE_PASSWORD = "3000", "bench-callee"
MEDIA_CALLER, MEDIA_CALLER_PASSWORD = "4000", "media-caller"
MEDIA_CALLEE, MEDIA_CALLEE_PASSWORD = "4100", "media-callee"
PICKUP_POOL = 500           # caller numbers for the pickup phones, reused once picked
MEDIA_PORTS = (20000, 29999)
PACKETS_PER_SECOND = 50     # a leg, each way: G.711, 20 ms
DRIVER_SOCKETS = 16         # relay_driver's sockets standing for every phone
DRIVER_TICK_US = 1000       # relay_driver wakes at most once a millisecond
GOAL_RATIO = 1.10


@dataclasses.dataclass(frozen=True)
class Sizes:
    calls: int          # relayed calls with RTP
    rounds: int         # A/B phase pairs
    rate: int           # SIPp calls/s for the CPU per call
    seconds: int        # SIPp run per phase
    waiting: int        # calls ringing during the pickups
    pickups: int        # timed pickups per phase
    scale: str


FULL = Sizes(calls=500, rounds=4, rate=100, seconds=10, waiting=10, pickups=300, scale="")
QUICK = Sizes(calls=500, rounds=1, rate=100, seconds=3, waiting=10, pickups=100,
              scale=", quick")


def log(message: str) -> None:
    print(f"load_signaling_media: {message}", file=sys.stderr, flush=True)


load_pickup.log = log  # the pickup phones' messages, under this script's name


# ---- CPU -----------------------------------------------------------------------------------------


def thread_cpu(pid: int) -> dict[int, int]:
    """CPU nanoseconds so far of each thread of `pid` (schedstat), by TID."""
    found = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                found[int(task)] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return found


def since(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    return {tid: after[tid] - before.get(tid, 0) for tid in after}


def machine_busy() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU so far, from /proc/stat (idle and iowait are not
    busy)."""
    with open("/proc/stat") as f:
        # user nice system idle iowait irq softirq steal (guest time is inside user and nice).
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


# ---- the RTP driver ------------------------------------------------------------------------------


class Driver:
    """bench/relay_driver --target streams: its sockets, its streams, send and pause."""

    def __init__(self, binary: Path, workdir: Path):
        self.stderr = open(workdir / "relay_driver.log", "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--target", "streams", "--rate", str(PACKETS_PER_SECOND),
             "--phone-sockets", str(DRIVER_SOCKETS), "--tick-us", str(DRIVER_TICK_US)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            start_new_session=True)
        self.ports: list[int] = self.read()["ports"]

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"relay_driver ended (exit {self.proc.poll()})")
        return json.loads(line)

    def tell(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def streams(self, streams: list[tuple[int, str, int]]) -> None:
        lines = "".join(f"stream {socket} {address} {port}\n" for socket, address, port in streams)
        self.proc.stdin.write(lines)
        got = self.tell("ready")
        if got.get("streams") != len(streams):
            raise RuntimeError(f"relay_driver took {got} of {len(streams)} streams")

    def stats(self) -> dict:
        return self.tell("stats")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop(self.proc, "relay_driver", log)
        self.stderr.close()


# ---- the relayed calls ---------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class MediaCall:
    call_id: str
    from_tag: str
    socket: int              # the driver socket the caller's SDP names
    cseq: int = 1
    state: str = "challenging"  # challenging -> calling -> answered | failed
    relay: tuple[str, int] | None = None  # where the caller sends: from the server's 200


class MediaCalls:
    """4000 calls 4100 `count` times; 4100 answers each with 200 at once. Every SDP names a
    socket of the RTP driver; the relay's address and port for each phone are read from the SDP
    the server wrote for it."""

    def __init__(self, loop: Loop, server: tuple[str, int], driver_ports: list[int]):
        self.loop = loop
        self.caller = Endpoint(server, "media-caller")
        self.callee = Endpoint(server, "media-callee")
        self.caller.handler = self.on_caller
        self.callee.handler = self.on_callee
        loop.add(self.caller)
        loop.add(self.callee)
        self.driver_ports = driver_ports
        self.calls: dict[str, MediaCall] = {}
        # The callee's legs by Call-ID: the driver socket its SDP names, the relay port it
        # was given, its To tag.
        self.callee_legs: dict[str, tuple[int, tuple[str, int], str]] = {}
        self.answered_callee: set[str] = set()  # callee legs whose 200 was ACKed
        self.registered = False
        self.register_cseq = 1
        self.register_call_id = token()
        self.register_tag = token()
        self.problems: list[str] = []
        self.placed = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)
            log(f"PROBLEM {text}")

    # -- 4100 --

    def register(self) -> None:
        self.callee.send(self.register_request(None))
        if not self.loop.run_until(lambda: self.registered, 5):
            raise RuntimeError(f"{MEDIA_CALLEE} could not register")

    def register_request(self, authorization: str | None) -> bytes:
        headers = [f"Via: SIP/2.0/UDP {self.callee.address};branch=z9hG4bK{token()};rport",
                   f"From: <sip:{MEDIA_CALLEE}@{DOMAIN}>;tag={self.register_tag}",
                   f"To: <sip:{MEDIA_CALLEE}@{DOMAIN}>", f"Call-ID: {self.register_call_id}",
                   f"CSeq: {self.register_cseq} REGISTER",
                   f"Contact: <sip:{MEDIA_CALLEE}@{self.callee.address}>", "Expires: 3600"]
        if authorization:
            headers.append(f"Authorization: {authorization}")
        return request("REGISTER", f"sip:{DOMAIN}", headers)

    def on_callee(self, message: Message, stamp: int) -> None:
        if message.status is not None:
            if message.cseq[1] != "REGISTER":
                return
            if message.status == 401 and self.register_cseq < 3:
                params = challenge_params(message, "www-authenticate")
                self.register_cseq += 1
                self.callee.send(self.register_request(credentials(
                    params, MEDIA_CALLEE, MEDIA_CALLEE_PASSWORD, "REGISTER", f"sip:{DOMAIN}")))
            elif message.status == 200:
                self.registered = True
            elif message.status >= 300:
                raise RuntimeError(f"REGISTER of {MEDIA_CALLEE} answered {message.status}")
            return
        if message.method == "INVITE":
            leg = self.callee_legs.get(message.call_id)
            if leg is None:
                relay = self.relay_of(message.body, "the INVITE to the callee")
                if relay is None:
                    return
                socket_index = (2 * len(self.callee_legs) + 1) % len(self.driver_ports)
                leg = (socket_index, relay, token())
                self.callee_legs[message.call_id] = leg
            self.callee.send(response(message, 200, "OK", leg[2],
                                      (f"Contact: <sip:{MEDIA_CALLEE}@{self.callee.address}>",),
                                      sdp(4100, self.driver_ports[leg[0]])))
        elif message.method == "ACK":
            if message.call_id in self.callee_legs:
                self.answered_callee.add(message.call_id)
        else:
            self.callee.send(response(message, 200, "OK"))

    # -- 4000 --

    def place(self) -> None:
        socket_index = (2 * self.placed) % len(self.driver_ports)
        self.placed += 1
        call = MediaCall(token() + "@media-caller", token(), socket_index)
        self.calls[call.call_id] = call
        self.send_invite(call, None)

    def headers(self, call: MediaCall, cseq: int, method: str, branch: str,
                to_tag: str | None = None) -> list[str]:
        to = f"<sip:{MEDIA_CALLEE}@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
        return [f"Via: SIP/2.0/UDP {self.caller.address};branch={branch};rport",
                f"From: <sip:{MEDIA_CALLER}@{DOMAIN}>;tag={call.from_tag}", f"To: {to}",
                f"Call-ID: {call.call_id}", f"CSeq: {cseq} {method}"]

    def send_invite(self, call: MediaCall, authorization: str | None) -> None:
        headers = self.headers(call, call.cseq, "INVITE", f"z9hG4bK{token()}")
        headers.append(f"Contact: <sip:{MEDIA_CALLER}@{self.caller.address}>")
        if authorization:
            headers.append(f"Proxy-Authorization: {authorization}")
        self.caller.send(request("INVITE", f"sip:{MEDIA_CALLEE}@{DOMAIN}", headers,
                                 sdp(4000, self.driver_ports[call.socket])))

    def on_caller(self, message: Message, stamp: int) -> None:
        call = self.calls.get(message.call_id)
        if message.method is not None:
            if message.method != "ACK":
                self.caller.send(response(message, 200 if call else 481, "OK"))
            return
        if call is None:
            return
        cseq, method = message.cseq
        status = message.status
        if method != "INVITE" or status < 200 or cseq != call.cseq:
            return
        to_tag = tag_of(message.get("to"))
        if status == 407 and call.state == "challenging":
            via = message.get("via") or ""
            branch = re.search(r"branch=([^;,\s]+)", via)
            self.caller.send(request("ACK", f"sip:{MEDIA_CALLEE}@{DOMAIN}", self.headers(
                call, cseq, "ACK", branch.group(1) if branch else token(), to_tag)))
            params = challenge_params(message, "proxy-authenticate")
            call.cseq += 1
            call.state = "calling"
            self.send_invite(call, credentials(params, MEDIA_CALLER, MEDIA_CALLER_PASSWORD,
                                               "INVITE", f"sip:{MEDIA_CALLEE}@{DOMAIN}"))
            return
        if status < 300:
            # Every 2xx is acknowledged, retransmissions too (RFC 3261 §13.2.2.4).
            target = uri_of(message.get("contact")) or f"sip:{LOOPBACK}"
            self.caller.send(request("ACK", target, self.headers(
                call, cseq, "ACK", f"z9hG4bK{token()}", to_tag)))
            if call.state != "answered":
                call.relay = self.relay_of(message.body, "the 200 to the caller")
                call.state = "answered" if call.relay else "failed"
            return
        call.state = "failed"
        self.problem(f"a relayed call was answered {status}")

    def relay_of(self, body: str, where: str) -> tuple[str, int] | None:
        """The audio address and port an SDP names, when they are the relay's."""
        address = re.search(r"^c=IN IP4 (\S+)", body, re.M)
        port = re.search(r"^m=audio (\d+) ", body, re.M)
        if not address or not port:
            self.problem(f"no audio stream in the SDP of {where}")
            return None
        relay = (address.group(1), int(port.group(1)))
        if not MEDIA_PORTS[0] <= relay[1] <= MEDIA_PORTS[1]:
            self.problem(f"the SDP of {where} names {relay[0]}:{relay[1]}, not a relay port")
            return None
        return relay

    def set_up(self, count: int, window: int = 50, timeout: float = 60) -> list[tuple[int, str,
                                                                                          int]]:
        """Places `count` calls, `window` at a time; returns the driver's streams, one per leg:
        (driver socket, relay address, relay port)."""
        started = time.monotonic()
        deadline = started + timeout

        def open_calls() -> int:
            return sum(1 for call in self.calls.values() if call.state in ("challenging",
                                                                           "calling"))

        while self.placed < count or open_calls():
            while self.placed < count and open_calls() < window:
                self.place()
            self.loop.pump(0.05)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} relayed calls not up in {timeout:.0f} s")
        self.loop.run_until(lambda: len(self.answered_callee) >= count, 5)
        answered = [call for call in self.calls.values() if call.state == "answered"]
        callee_legs = [self.callee_legs[cid] for cid in self.answered_callee]
        if len(answered) != count or len(callee_legs) != count:
            raise RuntimeError(f"of {count} relayed calls {len(answered)} callers and "
                               f"{len(callee_legs)} callees are answered")
        log(f"{count} relayed calls up in {time.monotonic() - started:.1f} s")
        streams = [(call.socket, *call.relay) for call in answered]
        streams += [(socket_index, *relay) for socket_index, relay, _ in callee_legs]
        return streams

    def close(self) -> None:
        self.caller.close()
        self.callee.close()


# ---- the server and SIPp -------------------------------------------------------------------------


def write_config(workdir: Path, port: int) -> Path:
    lines = ["log_level: warn", "sip:", f"  listen: [\"udp:{LOOPBACK}:{port}\"]",
             f"  domain: {DOMAIN}", "  no_answer_timeout: 10m", "  timers: {t1: 500ms}",
             "registrar: {min_expires: 60s}", f"storage: {{path: {workdir / 'catchline.db'}}}",
             "media:", "  mode: relay", f"  address: {LOOPBACK}",
             f"  ports: {MEDIA_PORTS[0]}-{MEDIA_PORTS[1]}",
             # The silent phases must not end the calls.
             "  timeout: 10m", "extensions:"]
    numbers = [(SIPP_CALLER, SIPP_CALLER_PASSWORD, ""), (SIPP_CALLEE, SIPP_CALLEE_PASSWORD, ""),
               (MEDIA_CALLER, MEDIA_CALLER_PASSWORD, ""),
               (MEDIA_CALLEE, MEDIA_CALLEE_PASSWORD, ""),
               (PICKUP_CALLEE, PICKUP_CALLEE_PASSWORD, f", call_groups: [{GROUP}]")]
    numbers += [(picker, PICKER_PASSWORD, f", pickup_groups: [{GROUP}]") for picker in PICKERS]
    numbers += [(str(FIRST_CALLER + i), PICKUP_CALLER_PASSWORD, "") for i in range(PICKUP_POOL)]
    lines += [f"  - {{number: \"{number}\", password: \"{password}\"{extra}}}"
              for number, password, extra in numbers]
    config = workdir / "catchline.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


class Sipp:
    """SIPp's uas registered as 3000, and uac runs of `rate` calls/s through the server."""

    def __init__(self, workdir: Path, server_port: int):
        self.workdir = workdir
        self.server = f"{LOOPBACK}:{server_port}"
        self.uas_port = free_port()
        self.started: list[subprocess.Popen] = []
        self.runs = 0
        register = self.start(["-sf", str(HERE / "scenarios" / "register.xml"), self.server,
                               "-p", str(self.uas_port), "-s", SIPP_CALLEE, "-au", SIPP_CALLEE,
                               "-ap", SIPP_CALLEE_PASSWORD, "-m", "1", "-timeout", "10s",
                               "-timeout_error"], "sipp-register")
        if register.wait(timeout=20) != 0:
            raise RuntimeError("the SIPp UAS could not register")
        self.uas = self.start(["-sn", "uas", "-p", str(self.uas_port)], "sipp-uas")
        wait_udp_bound(self.uas_port)

    def start(self, args: list[str], name: str) -> subprocess.Popen:
        with open(self.workdir / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(["sipp", *args, "-i", LOOPBACK, "-nostdin", "-trace_err"],
                                    cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(proc)
        return proc

    def calls(self, rate: int, seconds: int, server_pid: int) -> dict:
        """`rate` calls/s for `seconds`; the server's CPU by thread over the run, and the calls."""
        self.runs += 1
        name = f"sipp-uac-{self.runs}"
        calls = rate * seconds
        before = thread_cpu(server_pid)
        started = time.monotonic()
        uac = self.start(["-sf", str(HERE / "scenarios" / "uac_auth.xml"), self.server, "-s",
                          SIPP_CALLEE, "-au", SIPP_CALLER, "-ap", SIPP_CALLER_PASSWORD, "-set",
                          "caller", SIPP_CALLER, "-p", str(free_port()), "-r", str(rate), "-m",
                          str(calls), "-l", str(max(rate * 4, 100)), "-timeout",
                          f"{seconds + 30}s", "-timeout_error", "-fd", "1"], name)
        uac.wait(timeout=seconds + 60)
        elapsed = time.monotonic() - started
        used = since(before, thread_cpu(server_pid))
        ok, failed = sipp_counts((self.workdir / f"{name}.log").read_text(errors="replace"))
        self.started.remove(uac)
        return {"calls": calls, "ok": ok, "failed": failed, "elapsed": elapsed, "threads": used}

    def close(self) -> None:
        for proc in reversed(self.started):
            stop(proc, "SIPp", log)


# ---- the phases ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    loaded: bool
    calls: dict                 # Sipp.calls()
    to_ok: list[int]            # pickup INVITE -> 200, ns
    to_cancel: list[int]        # pickup INVITE -> CANCEL at the rung phone, ns
    options: list[int]          # OPTIONS round trips, ns
    threads: dict[int, int]     # the server's CPU by thread over the whole phase, ns
    seconds: float              # the whole phase
    machine_cores: float        # every CPU's busy time over the phase, in cores
    driver_cores: float         # relay_driver's CPU over the phase, in cores
    sent: int                   # RTP packets relay_driver sent in the phase
    received: int               # and got back from the relay
    send_errors: int
    most_behind_us: float


class Bench:
    def __init__(self, sizes: Sizes, server: subprocess.Popen, sipp: Sipp, driver: Driver,
                 pickups: PickupBench):
        self.sizes = sizes
        self.server = server
        self.sipp = sipp
        self.driver = driver
        self.pickups = pickups
        self.phases: list[Phase] = []
        self.media_tid: int | None = None
        self.lost: int | None = None

    def warm_up(self) -> None:
        """A short run of each kind, not counted: the first calls and pickups of a process pay
        for caches and allocations that every later one finds ready. Then 2 s of RTP, which
        names the media thread: the server's threads are not named (all "catchline"), and the
        one besides main that works while packets flow is the relay's."""
        self.sipp.calls(self.sizes.rate, 2, self.server.pid)
        self.pickups.latency(self.sizes.waiting, 50)
        before = thread_cpu(self.server.pid)
        self.driver.tell("send")
        time.sleep(2.0)
        used = since(before, thread_cpu(self.server.pid))
        self.driver.tell("pause")
        used.pop(self.server.pid, None)
        self.media_tid = max(used, key=used.get) if used else None
        log(f"threads of the server: main (signaling) {self.server.pid}, media "
            f"{self.media_tid} ({used.get(self.media_tid, 0) / 2e9:.2f} core with RTP), others "
            f"{sorted(set(used) - {self.media_tid})}")

    def count_lost(self) -> None:
        """Every RTP packet of the run that did not come back, read once the streams are
        paused and what was in flight arrived."""
        self.driver.tell("pause")
        time.sleep(1.0)
        stats = self.driver.stats()
        self.lost = stats["sent"] - stats["received"]
        log(f"RTP over the whole run: {stats['sent']:,} packets sent, {stats['received']:,} "
            f"back, {stats['send_errors']} send errors")

    def phase(self, loaded: bool) -> Phase:
        self.driver.tell("send" if loaded else "pause")
        time.sleep(1.0)  # in flight arrives (A) or the streams run steady (B)
        stats_before = self.driver.stats()
        threads_before = thread_cpu(self.server.pid)
        busy_before = machine_busy()
        driver_before = cpu_ns(self.driver.proc.pid)
        started = time.monotonic()
        calls = self.sipp.calls(self.sizes.rate, self.sizes.seconds, self.server.pid)
        to_ok, to_cancel, options = self.pickups.latency(self.sizes.waiting, self.sizes.pickups)
        elapsed = time.monotonic() - started
        busy_after = machine_busy()
        driver_cores = (cpu_ns(self.driver.proc.pid) - driver_before) / 1e9 / elapsed
        threads = since(threads_before, thread_cpu(self.server.pid))
        stats = self.driver.stats()
        busy = busy_after[0] - busy_before[0]
        total = busy_after[1] - busy_before[1]
        phase = Phase(
            loaded, calls, to_ok, to_cancel, options, threads, elapsed,
            busy / total * (os.cpu_count() or 1) if total else 0.0, driver_cores,
            stats["sent"] - stats_before["sent"], stats["received"] - stats_before["received"],
            stats["send_errors"] - stats_before["send_errors"], stats["most_behind_us"])
        self.phases.append(phase)
        return phase


def signaling_us_per_call(phase: Phase, pid: int) -> float:
    return phase.calls["threads"].get(pid, 0) / 1000 / max(phase.calls["ok"], 1)


def describe(phase: Phase, pid: int, media_tid: int | None) -> str:
    calls = phase.calls
    others = sum(ns for tid, ns in calls["threads"].items() if tid not in (pid, media_tid))
    media = phase.threads.get(media_tid, 0) if media_tid else 0
    return (f"{'B (RTP)' if phase.loaded else 'A (silent)'}: {calls['ok']}/{calls['calls']} "
            f"calls ok ({calls['failed']} failed), signaling thread "
            f"{signaling_us_per_call(phase, pid):.0f} us/call, other threads but media "
            f"{others / 1000 / max(calls['ok'], 1):.0f} us/call; pickup p99 INVITE -> 200 "
            f"{percentile(phase.to_ok, 0.99) / 1000:.0f} us (median "
            f"{percentile(phase.to_ok, 0.5) / 1000:.0f}), -> CANCEL "
            f"{percentile(phase.to_cancel, 0.99) / 1000:.0f} us, OPTIONS p99 "
            f"{percentile(phase.options, 0.99) / 1000:.0f} us; media thread "
            f"{media / 1e9 / phase.seconds:.2f} core, relay_driver {phase.driver_cores:.2f} core, "
            f"machine {phase.machine_cores:.2f} cores busy; RTP sent "
            f"{phase.sent / phase.seconds:,.0f}/s, back {phase.received / phase.seconds:,.0f}/s, sender at most "
            f"{phase.most_behind_us:,.0f} us behind")


# ---- rows ----------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def pooled(bench: Bench) -> None:
    """The pickup p99 over every sample of each kind of phase, for stderr: steadier than the
    median of per-phase p99s the rows carry, which the brief asks for."""
    for loaded in (False, True):
        phases = [p for p in bench.phases if p.loaded == loaded]
        to_ok = [v for p in phases for v in p.to_ok]
        options = [v for p in phases for v in p.options]
        if to_ok:
            log(f"pooled over every {'B (RTP)' if loaded else 'A (silent)'} phase: pickup "
                f"INVITE -> 200 p99 {percentile(to_ok, 0.99) / 1000:.0f} us of {len(to_ok)}, "
                f"median {percentile(to_ok, 0.5) / 1000:.0f} us; OPTIONS p99 "
                f"{percentile(options, 0.99) / 1000:.0f} us; per-phase p99 "
                f"{[round(percentile(p.to_ok, 0.99) / 1000) for p in phases]} us, signaling "
                f"us/call {[round(signaling_us_per_call(p, bench.server.pid)) for p in phases]}")


def print_rows(bench: Bench, failures: int) -> None:
    sizes = bench.sizes
    pid = bench.server.pid
    media_tid = bench.media_tid
    a = [phase for phase in bench.phases if not phase.loaded]
    b = [phase for phase in bench.phases if phase.loaded]
    pairs = min(len(a), len(b))
    if not pairs:
        return
    a, b = a[:pairs], b[:pairs]
    load = (f"{sizes.calls} relayed calls with RTP ({sizes.calls * 2 * PACKETS_PER_SECOND:,} "
            f"pkt/s into the relay) vs the same calls silent, median of {pairs} A/B "
            f"pair{'s' if pairs > 1 else ''}{sizes.scale}")
    rows = []

    def add(name: str, value: float | None, unit: str, baseline: float | None, goal: str,
            met: bool | None, digits: int = 0) -> None:
        ratio = value / baseline if value is not None and baseline else None
        row = {"name": name, "value": round(value, digits) if value is not None else None,
               "unit": unit, "baseline": round(baseline, digits) if baseline is not None else None,
               "ratio": round(ratio, 3) if ratio is not None else None, "goal": goal}
        if met is not None:
            row["met"] = met
        rows.append(row)

    def within(value: float, baseline: float) -> bool:
        return failures == 0 and baseline > 0 and value / baseline <= GOAL_RATIO

    goal = f"ratio <= {GOAL_RATIO:.2f}"
    value = median([signaling_us_per_call(p, pid) for p in b])
    baseline = median([signaling_us_per_call(p, pid) for p in a])
    add(f"signaling thread CPU per call at {sizes.rate} calls/s: {load}", value, "us/call",
        baseline, goal, within(value, baseline))
    value = median([percentile(p.to_ok, 0.99) / 1000 for p in b])
    baseline = median([percentile(p.to_ok, 0.99) / 1000 for p in a])
    add(f"pickup p99 INVITE -> 200, {sizes.waiting} waiting, {sizes.pickups} pickups a phase: "
        f"{load}", value, "µs", baseline, goal, within(value, baseline))
    value = median([percentile(p.to_cancel, 0.99) / 1000 for p in b])
    baseline = median([percentile(p.to_cancel, 0.99) / 1000 for p in a])
    add(f"pickup p99 INVITE -> CANCEL at the rung phone: {load}", value, "µs", baseline,
        "reported", None)
    value = median([percentile(p.options, 0.99) / 1000 for p in b])
    baseline = median([percentile(p.options, 0.99) / 1000 for p in a])
    add(f"OPTIONS round trip p99 before each pickup (no call work: the phones' and the "
        f"machine's share): {load}", value, "µs", baseline, "reference", None)

    def rest(phase: Phase) -> float:
        calls = phase.calls
        used = sum(ns for tid, ns in calls["threads"].items() if tid != media_tid)
        return used / 1000 / max(calls["ok"], 1)

    value, baseline = median([rest(p) for p in b]), median([rest(p) for p in a])
    add(f"server CPU per call, every thread but the media thread (signaling, store writer): "
        f"{load}", value, "us/call", baseline, "reported", None)

    def media_cores(phase: Phase) -> float:
        return phase.threads.get(media_tid, 0) / 1e9 / phase.seconds if media_tid else 0.0

    add(f"media thread CPU with RTP flowing (silent phases as baseline): {load}",
        median([media_cores(p) for p in b]), "cores", median([media_cores(p) for p in a]),
        "reported", None, 3)
    add(f"relay_driver CPU (RTP sender and receiver) with RTP flowing: {load}",
        median([p.driver_cores for p in b]), "cores", None, "reported", None, 3)
    add(f"machine CPU busy, {os.cpu_count()} cores, with RTP flowing (silent phases as "
        f"baseline): {load}", median([p.machine_cores for p in b]), "cores",
        median([p.machine_cores for p in a]), "reported (saturated near the core count)", None,
        2)
    add(f"RTP packets/s back from the relay with RTP flowing, against sent: {load}",
        median([p.received / p.seconds for p in b]), "packets/s",
        median([p.sent / p.seconds for p in b]), "all sent", None)
    if bench.lost is not None:
        add(f"RTP packets lost, the whole run (sent less received once paused): {load}",
            bench.lost, "packets", None, "0", bench.lost == 0)
    add(f"failed calls or pickups, every phase{sizes.scale}", failures, "calls", None, "0",
        failures == 0)
    for row in rows:
        print(json.dumps(row), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working folder and name it")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    build = args.build.resolve()
    binary = build / "app" / "catchline"
    driver_binary = build / "bench" / "relay_driver"
    for needed in (binary, driver_binary):
        if not needed.is_file():
            log(f"no {needed.name} at {needed}: build the server and the benchmarks first")
            return 1
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} CPUs at the start")

    raise_open_files()
    workdir = Path(tempfile.mkdtemp(prefix="catchline-signaling-media-"))
    port = free_port()
    config = write_config(workdir, port)
    server_log = workdir / "catchline.log"
    server = sipp = driver = media = phones = bench = None
    failures = 0
    failed = None
    try:
        server = start_server(binary, config, workdir, server_log)
        wait_udp_bound(port, timeout=60)
        log(f"server pid {server.pid} on udp {LOOPBACK}:{port}, media.ports "
            f"{MEDIA_PORTS[0]}-{MEDIA_PORTS[1]}")
        loop = Loop()
        driver = Driver(driver_binary, workdir)
        media = MediaCalls(loop, (LOOPBACK, port), driver.ports)
        media.register()
        phones = Phones(loop, (LOOPBACK, port), PICKUP_POOL)
        phones.register()
        sipp = Sipp(workdir, port)
        driver.streams(media.set_up(sizes.calls))
        pickups = PickupBench(phones, loop, server)
        bench = Bench(sizes, server, sipp, driver, pickups)
        bench.warm_up()
        for round_number in range(sizes.rounds):
            for loaded in (False, True):
                phase = bench.phase(loaded)
                failures = (pickups.failures + phones.not_oldest + len(media.problems)
                            + sum(p.calls["calls"] - p.calls["ok"] for p in bench.phases))
                log(f"round {round_number + 1} {describe(phase, server.pid, bench.media_tid)}")
            pickups.alive()
        bench.count_lost()
        pooled(bench)
    except (RuntimeError, OSError, KeyboardInterrupt, subprocess.TimeoutExpired,
            json.JSONDecodeError) as error:
        failed = f"{type(error).__name__}: {error}"
        log(f"FAILED {failed}")
    finally:
        if driver is not None:
            driver.close()
        if sipp is not None:
            sipp.close()
        if server is not None:
            stop(server, "the server", log)
            log(f"server stopped (exit {server.returncode})")
        for endpoints in (media, phones):
            if endpoints is None:
                continue
            for endpoint in (getattr(endpoints, name, None) for name in
                             ("caller", "callee", "callers", "pickers")):
                if isinstance(endpoint, Endpoint):
                    endpoint.close()
        for line in server_problems(server_log)[:10]:
            log(f"server said: {line}")
        if args.keep:
            log(f"working folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    if bench is not None:
        print_rows(bench, failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
