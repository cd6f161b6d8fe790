#!/usr/bin/env python3
"""BLF under call load: 1,000 watchers on 100 extensions while calls ring them at 100 calls/s.

    python3 bench/load_blf.py --build build/bench [--quick] [--keep]

The parties, all on 127.0.0.1:

  * the callees, extensions 2001..2100 (call group "desk"): one Python UA in this process on
    one UDP socket, which every one of them REGISTERs as its contact (401, then credentials).
    It answers each INVITE with 180 at once and with 200 (SDP) 200 ms later, resends that 200
    until the ACK comes, and answers the BYE;
  * the callers: SIPp (bench/scenarios/uac_blf.xml) as extension 1000, 100 calls/s to
    2001..2100 round robin (an injection file): INVITE, 407, ACK, INVITE with credentials, 180,
    200, ACK, 100 ms of talk, BYE. Each call so changes its callee's dialog four times: early
    (the server's INVITE), early with the phone's tag (180), confirmed (200), terminated (BYE);
  * the watchers, extensions 3001..3100 (pickup group "desk", so allowed to watch every
    callee), each its own UDP socket in this process, each SUBSCRIBEd (Event: dialog, 401,
    then credentials, Expires 3600) to 10 different callees: 1,000 subscriptions, 10 on each
    callee. Every NOTIFY is answered 200 as soon as it is read; its content is checked after.

One clock: every datagram this process reads carries the kernel's receive time
(SO_TIMESTAMPNS, CLOCK_REALTIME) and what this process sends is stamped with the same clock
just before the send, so the delays below do not include this process's own wake-ups. The
server does not say when a state changed; the delay is measured from the event that changes
it, as the callee sees it, to the arrival of the first NOTIFY of each subscription that shows
the change (UDP on loopback: arrival is the NOTIFY leaving the server, plus microseconds):

  * INVITE: the server's INVITE reached the callee -> the NOTIFY that first shows that dialog;
  * 180: the callee sent 180 -> the first NOTIFY that shows the dialog with its local-tag;
  * 200: the callee sent 200 -> the first NOTIFY that shows it confirmed;
  * BYE: the server's BYE reached the callee -> the first NOTIFY that shows it terminated.

A dialog is the callee leg's, matched by its Call-ID (the one the callee sees in the INVITE).
Each call gives up to 4 x 10 samples (10 subscriptions). "A NOTIFY shows it or later" counts:
a NOTIFY that coalesced two changes is the first NOTIFY for both. The 180 leaves the callee
right after the INVITE arrived, so the NOTIFY of the INVITE is often still unanswered then and
the server, which keeps one NOTIFY in flight per subscription, holds the next until this
process's 200 comes back: the 180 delay includes that wait, as it would with a phone.

One server, one SIPp placing calls the whole run; the watchers come and go between windows,
unwatched, watched, unwatched (--quick: once; else twice more: 2 watched windows, 3 unwatched),
so that a burst of load from elsewhere on the machine falls on both kinds alike. A watched
window lasts 20 s (--quick 5 s) and starts 6 s after the 1,000 subscriptions are active, an
unwatched one lasts 10 s (--quick 5 s) and starts 6 s after every subscription ended (Expires:
0): the server keeps a finished NOTIFY transaction T4 = 5 s (RFC 3261 timer K), whose end
belongs to the window it was sent in. The first window starts after 33 s of calls (--quick 2
s): the server keeps INVITE transactions 64*T1 = 32 s after their 2xx (RFC 6026), so only
then does a window pay for the ends of earlier calls as much as any later one (the quick run
ends before any call's transactions do, so its windows are alike too). Figures:

  * NOTIFYs per second read in the watched windows (retransmissions not counted);
  * the delays of the calls whose INVITE reached the callee in a watched window: median and
    p99 of the four kinds pooled, and the p99 of each;
  * server CPU per call: the CPU time of all the server's threads (/proc/PID/task/*/schedstat,
    nanoseconds) in the watched windows over the calls that began in them, and the same for
    the unwatched windows (the baseline); their ratio. What the SUBSCRIBEs themselves cost is
    outside every window, but for the end of their server transactions (a few thousand a
    round), 32 s later (timer J) in whichever window that is: a few ms of CPU;
  * per NOTIFY (with its 200 and its transaction's end), from the watched windows' CPU per
    call minus the unwatched ones', over the NOTIFYs per call: the server's user-space part
    against the kernel's (stime of its threads, 10 ms ticks) for the same datagrams and
    wake-ups. Goal: ours no more than the kernel's;
  * against Kamailio, in the same run, after ours: the CPU per call the 1,000 watchers add
    (watched minus unwatched, per call) to Catchline and to Kamailio as a dialog presence
    server (bench/kamailio_presence.cfg: presence, presence_dialoginfo, pua, pua_dialoginfo,
    dialog; in memory; one UDP worker, -x tlsf). The same SIPp calls (without the challenge:
    bench/scenarios/uac_blf_noauth.xml) pass through Kamailio to the same Python callees,
    which it reaches without registration; the same watchers SUBSCRIBE to it; nothing is
    authenticated. Kamailio runs at 20 calls/s (KAMAILIO_RATE: at 100 it falls behind on 2
    shared vCPUs), one round: 6 s of calls, 10 s unwatched, 15 s watched, 10 s unwatched.
    The dialog states its NOTIFYs show are counted: the row is not met unless early,
    confirmed and terminated all appear and no call failed. Goal: ours at most half.

On stderr besides: each kind's distribution, the first and second half of each window (do
delays grow?), how long our 200s to the NOTIFYs took, the CPU ratio of each watched window
to the unwatched ones around it, the server CPU per NOTIFY, and as a reference for what the
machine's scheduling costs any message at that moment, the round trip of an OPTIONS sent
every 50 ms the whole run (watched windows and unwatched ones apart).

Checked on the way, each failure reported on stderr as PROBLEM and counted in a row: versions
start at 0 and rise by one per NOTIFY of a subscription; no dialog state moves backwards; no
dialog vanishes before it was shown terminated; every subscription showed every call of its
extension that began and ended while it was active, and showed it terminated in the end; each
subscription's last NOTIFY says terminated; no call failed. NOTIFY retransmissions (the server
did not get our 200 in time) are counted and shown, and so is how long our 200s took.

--keep keeps the working folder (configuration, database, logs) and names it. --only ours or
--only kamailio runs one server (and prints no rows): for work on this script.

Prints rows for bench/run.py on stdout (JSON lines) and what it sees on stderr. Stops what it
started (the server, SIPp) by PID, whatever happens.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import heapq
import json
import os
import re
import resource
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from load_calls import children_of
from loopback import (LOOPBACK, cpu_ns, free_port, kernel_cpu_ns, percentile, run_until,
                      server_problems, sipp_counts, start_server, stop, wait_udp_bound)
from sip_agent import Message, challenge_params, credentials, request, response, sdp, token

HERE = Path(__file__).resolve().parent
DOMAIN = "bench.test"
CALLER, CALLER_PASSWORD = "1000", "blf-caller"
FIRST_CALLEE, CALLEES, CALLEE_PASSWORD = 2001, 100, "blf-callee"
FIRST_WATCHER, WATCHERS, WATCHER_PASSWORD = 3001, 100, "blf-watcher"
KEYS = 10  # subscriptions per watcher, and so watchers per callee
GROUP = "desk"
RATE = 100  # calls/s
# Kamailio as a presence server (kamailio_presence.cfg) spends some 4 ms a call on its
# PUBLISHes alone, watched or not: at 100 calls/s on 2 shared vCPUs it falls behind (its
# NOTIFYs retransmitted by the hundred thousand, SIPp's calls held back), which would inflate
# its CPU per call. At this rate it keeps up; the figure compared is per call, watched minus
# unwatched, so its fixed costs drop out.
KAMAILIO_RATE = 20
RING = 0.2  # seconds from the callee's 180 to its 200
SUBSCRIBE_EXPIRES = 3600
SOCKET_BUFFER = 8 << 20  # asked for; the kernel caps it at net.core.rmem_max
QUIET = 0.5  # the end: nothing received for this long after SIPp ended
# A window starts this long after the watchers came or went: the server keeps a completed
# non-INVITE client transaction T4 (5 s) on UDP (RFC 3261 timer K), so NOTIFYs cost it CPU
# until then, which belongs to the window they were sent in.
SETTLE = 6.0
PROBE_EVERY = 0.05  # s between two OPTIONS, the whole run, watched or not
GOAL_P99_US = 5000
GOAL_USER_OVER_KERNEL = 1.0  # our user-space CPU per NOTIFY over the kernel's
GOAL_OVER_KAMAILIO = 0.5     # CPU per call the watchers add, ours over Kamailio's
DBTEXT_TABLES = ("version", "presentity", "active_watchers", "watchers", "pua")
# Linux, every architecture that uses the generic socket numbers; the Python module lacks it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
STAMP_SPACE = socket.CMSG_SPACE(16)
KINDS = ("INVITE", "180", "200", "BYE")
# The level a NOTIFY shows a dialog at; kind i is first shown at level i + 1.
EARLY, EARLY_TAGGED, CONFIRMED, TERMINATED = 1, 2, 3, 4

DIALOG = re.compile(rb"<dialog\s([^>]*)>.*?<state[^>]*>\s*(\w+)\s*</state>", re.S)
CALL_ID_ATTRIBUTE = re.compile(rb'call-id="([^"]*)"')
LOCAL_TAG = re.compile(rb'local-tag="[^"]')
VERSION = re.compile(rb'<dialog-info[^>]*\sversion="(\d+)"')
ANSWER_HEADERS = {b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"}


@dataclasses.dataclass(frozen=True)
class Sizes:
    warm: float       # calls before the first window, s
    rounds: int       # watched windows, each between two unwatched ones
    watched: float    # length of a watched window, s
    unwatched: float  # length of an unwatched window, s
    scale: str        # said in the row names


# 33 s: the server keeps INVITE transactions 64*T1 = 32 s after their 2xx (RFC 6026 timers L
# and M), so until then a window would not pay for the ends of earlier calls; the quick run
# ends before any call's does, so its windows are alike too.
FULL = Sizes(warm=33.0, rounds=2, watched=20.0, unwatched=10.0, scale="")
QUICK = Sizes(warm=2.0, rounds=1, watched=5.0, unwatched=5.0, scale=" (quick)")
# Kamailio keeps a finished transaction 5 s (tm's wait timer) and a dialog no longer than
# that: 6 s of calls before its first window is as much as 33 s are for us.
KAMAILIO_FULL = Sizes(warm=6.0, rounds=1, watched=15.0, unwatched=10.0, scale="")


def log(message: str) -> None:
    print(f"load_blf: {message}", file=sys.stderr, flush=True)


def now() -> int:
    """CLOCK_REALTIME in ns: the clock of the kernel's receive stamps."""
    return time.time_ns()


# ---- sockets -------------------------------------------------------------------------------------


class Udp:
    """One UDP socket on 127.0.0.1 whose datagrams carry the kernel's receive time."""

    def __init__(self, server: tuple[str, int]):
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            self.sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setblocking(False)
        self.address = f"{LOOPBACK}:{self.sock.getsockname()[1]}"

    def send(self, data: bytes, to: tuple[str, int] | None = None) -> int:
        """Sends (to the server unless told); returns the time just before the send."""
        stamp = now()
        self.sock.sendto(data, to or self.server)
        return stamp

    def read(self):
        """(data, kernel receive time, sender) for each datagram waiting; time is ours when the
        kernel gave none."""
        recvmsg = self.sock.recvmsg
        while True:
            try:
                data, ancillary, _, sender = recvmsg(65535, STAMP_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue  # ICMP for something we sent: the server is gone, seen elsewhere
            stamp = 0
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    seconds, nanoseconds = struct.unpack("qq", value[:16])
                    stamp = seconds * 1_000_000_000 + nanoseconds
            yield data, stamp or now(), sender

    def close(self) -> None:
        self.sock.close()


def answer_200(data: bytes) -> tuple[bytes, bytes, int]:
    """A 200 for a request, from its raw text (the watchers' fast path): (response, Call-ID,
    CSeq number)."""
    head = data[:data.find(b"\r\n\r\n")]
    kept = [b"SIP/2.0 200 OK"]
    call_id, cseq = b"", 0
    for line in head.split(b"\r\n")[1:]:
        colon = line.find(b":")
        name = line[:colon].strip().lower()
        if name in ANSWER_HEADERS:
            kept.append(line)
            if name in (b"call-id", b"i"):
                call_id = line[colon + 1:].strip()
            elif name == b"cseq":
                cseq = int(line[colon + 1:].split()[0])
    kept.append(b"Content-Length: 0\r\n\r\n")
    return b"\r\n".join(kept), call_id, cseq


# ---- the parties ---------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class CalleeCall:
    """One INVITE the server sent the callees, and when each of its events happened."""

    call_id: bytes
    extension: str
    invite: Message
    to_tag: str
    ringing: bytes
    ok: bytes = b""
    stamps: list = dataclasses.field(default_factory=lambda: [0, 0, 0, 0])  # KINDS, ns
    acked: bool = False
    ended: bool = False
    retransmit_every: float = 0.5


@dataclasses.dataclass(eq=False)
class Subscription:
    """One watcher's subscription to one callee, and what its NOTIFYs showed."""

    round: int    # which watched window it was made for
    watcher: int  # index into the watcher sockets
    number: str
    target: str
    call_id: str
    from_tag: str
    cseq: int = 1
    to_tag: str | None = None
    remote_target: str | None = None
    state: str = "challenging"  # challenging -> subscribing -> active -> ending -> ended
    sent: bytes = b""
    sent_at: float = 0.0
    last_cseq: int = 0           # of the last NOTIFY read
    version: int | None = None   # of the last NOTIFY read
    notifies: int = 0
    terminated: bool = False     # a NOTIFY said Subscription-State: terminated
    final_live: int = 0          # live dialogs in the NOTIFY that said terminated
    levels: dict = dataclasses.field(default_factory=dict)  # dialog Call-ID -> highest level
    first: dict = dataclasses.field(default_factory=dict)   # dialog Call-ID -> [ns per level]
    live: set = dataclasses.field(default_factory=set)      # dialogs last shown not terminated


class Phones:
    """The callee UA, the watchers, and what each saw; one event loop for all."""

    def __init__(self, server: tuple[str, int], label: str = "", patience: float = 30.0):
        self.server = server
        self.label = label  # before each PROBLEM: which server it is about
        self.patience = patience  # s for every subscription to become active, or to end
        self.selector = selectors.DefaultSelector()
        self.callee = Udp(server)
        self.selector.register(self.callee.sock, selectors.EVENT_READ, -1)
        # OPTIONS round trips from a socket of their own: the server's answer needs no call
        # state, so they say what the machine's scheduling costs any message at that moment.
        self.prober = Udp(server)
        self.selector.register(self.prober.sock, selectors.EVENT_READ, -2)
        self.probes: dict[str, int] = {}             # Call-ID -> sent
        self.round_trips: list[tuple[int, int]] = []  # (sent, answer's kernel arrival), ns
        self.probing = False
        self.watchers = [Udp(server) for _ in range(WATCHERS)]
        for index, watcher in enumerate(self.watchers):
            self.selector.register(watcher.sock, selectors.EVENT_READ, index)
        self.timers: list = []
        self.timer_sequence = 0
        self.calls: dict[bytes, CalleeCall] = {}
        self.registrations: dict[str, dict] = {}  # Call-ID -> REGISTER state
        self.registered = 0
        self.subscriptions: dict[str, Subscription] = {}  # every one, every round
        self.active: list[Subscription] = []              # this round's
        self.by_call_id: dict[bytes, Subscription] = {}
        self.pending: list = []  # NOTIFYs answered, content not yet checked
        self.notify_stamps: list[int] = []  # kernel arrival of each NOTIFY (not retransmissions)
        self.answers: list[tuple[int, int]] = []  # (NOTIFY's kernel arrival, our 200 sent), ns
        self.last_received = 0
        self.retransmitted_notifies = 0
        self.retransmitted_invites = 0
        self.unknown_notifies = 0
        self.backwards = 0
        self.vanished = 0
        self.version_faults = 0
        self.states: dict[bytes, int] = {}  # dialog state -> how many times a NOTIFY showed it
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        if len(self.problems) < 30:
            log(f"PROBLEM {self.label}{text}")
        self.problems.append(text)

    # -- the loop --

    def later(self, seconds: float, callback) -> None:
        self.timer_sequence += 1
        heapq.heappush(self.timers, (time.monotonic() + seconds, self.timer_sequence, callback))

    def pump(self, timeout: float) -> None:
        timers = self.timers
        while timers and timers[0][0] <= time.monotonic():
            heapq.heappop(timers)[2]()
        if timers:
            timeout = max(0.0, min(timeout, timers[0][0] - time.monotonic()))
        if self.pending and timeout > 0:
            timeout = 0.0  # answers first, then the checks while nothing waits
        ready = self.selector.select(timeout)
        callee = False
        for key, _ in ready:
            index = key.data
            if index == -1:
                callee = True
                continue
            if index == -2:
                for data, stamp, _ in self.prober.read():
                    sent = self.probes.pop(Message(data).call_id, None)
                    if sent is not None:
                        self.round_trips.append((sent, stamp))
                continue
            watcher = self.watchers[index]
            for data, stamp, sender in watcher.read():
                self.last_received = stamp
                self.on_watcher(watcher, data, stamp, sender)
        # The watchers' 200s first: the server holds a subscription's next NOTIFY until then.
        if callee:
            for data, stamp, _ in self.callee.read():
                self.last_received = stamp
                self.on_callee(data, stamp)
        if not ready and self.pending:
            self.check_pending(8)  # a few at a time: whatever arrives meanwhile waits less

    def run_until(self, done, timeout: float, tick=None) -> bool:
        return run_until(self.pump, done, timeout, tick)

    def probe(self) -> None:
        """An OPTIONS every PROBE_EVERY while probing."""
        if not self.probing:
            return
        call_id = token() + "@blf-probe"
        headers = [f"Via: SIP/2.0/UDP {self.prober.address};branch=z9hG4bK{token()};rport",
                   f"From: <sip:{CALLER}@{DOMAIN}>;tag={token()}", f"To: <sip:{DOMAIN}>",
                   f"Call-ID: {call_id}", "CSeq: 1 OPTIONS"]
        self.probes[call_id] = self.prober.send(request("OPTIONS", f"sip:{DOMAIN}", headers))
        self.later(PROBE_EVERY, self.probe)

    # -- the callees, 2001..2100 --

    def register_all(self) -> None:
        numbers = [str(FIRST_CALLEE + i) for i in range(CALLEES)]
        for number in numbers:
            state = {"number": number, "call_id": token(), "tag": token(), "cseq": 1,
                     "done": False}
            self.registrations[state["call_id"]] = state
            self.callee.send(self.register_request(state, None))
        if not self.run_until(lambda: self.registered == CALLEES, 10):
            raise RuntimeError(f"only {self.registered} of {CALLEES} callees registered")

    def register_request(self, state: dict, authorization: str | None) -> bytes:
        number = state["number"]
        headers = [f"Via: SIP/2.0/UDP {self.callee.address};branch=z9hG4bK{token()};rport",
                   f"From: <sip:{number}@{DOMAIN}>;tag={state['tag']}",
                   f"To: <sip:{number}@{DOMAIN}>", f"Call-ID: {state['call_id']}",
                   f"CSeq: {state['cseq']} REGISTER",
                   f"Contact: <sip:{number}@{self.callee.address}>", "Expires: 3600"]
        if authorization:
            headers.append(f"Authorization: {authorization}")
        return request("REGISTER", f"sip:{DOMAIN}", headers)

    def on_callee(self, data: bytes, stamp: int) -> None:
        message = Message(data)
        if message.status is not None:
            state = self.registrations.get(message.call_id)
            if state is None or message.cseq[1] != "REGISTER":
                return
            if message.status == 401 and state["cseq"] < 3:
                params = challenge_params(message, "www-authenticate")
                state["cseq"] += 1
                self.callee.send(self.register_request(state, credentials(
                    params, state["number"], CALLEE_PASSWORD, "REGISTER", f"sip:{DOMAIN}")))
            elif message.status == 200 and not state["done"]:
                state["done"] = True
                self.registered += 1
            elif message.status >= 300:
                raise RuntimeError(f"REGISTER of {state['number']} answered {message.status}")
            return
        method = message.method
        call_id = message.call_id.encode()
        call = self.calls.get(call_id)
        if method == "INVITE":
            if call is not None:
                self.retransmitted_invites += 1
                self.callee.send(call.ok or call.ringing)
                return
            extension = (message.uri or "").split(":", 1)[-1].split("@", 1)[0]
            to_tag = token()
            # RFC 3261 §12.1.1: the Record-Route of the INVITE back in the 180 and 200, so that
            # a proxy that record-routes (Kamailio) sees the ACK and the BYE.
            routes = tuple(f"Record-Route: {route}" for route in message.all("record-route"))
            contact = f"Contact: <sip:{extension}@{self.callee.address}>"
            call = CalleeCall(call_id, extension, message, to_tag,
                              response(message, 180, "Ringing", to_tag, (*routes, contact)))
            call.stamps[0] = stamp
            self.calls[call_id] = call
            call.stamps[1] = self.callee.send(call.ringing)
            self.later(RING, lambda: self.answer(call))
        elif method == "ACK":
            if call is not None:
                call.acked = True
        elif method == "BYE":
            self.callee.send(response(message, 200 if call else 481,
                                      "OK" if call else "Call/Transaction Does Not Exist"))
            if call is not None and not call.ended:
                call.ended = True
                call.stamps[3] = stamp
        elif method == "CANCEL":
            self.callee.send(response(message, 200, "OK"))
            if call is not None and not call.ok:
                call.ended = True
                self.callee.send(response(call.invite, 487, "Request Terminated", call.to_tag))
        else:
            self.callee.send(response(message, 200, "OK"))

    def answer(self, call: CalleeCall) -> None:
        if call.ended:
            return
        contact = f"Contact: <sip:{call.extension}@{self.callee.address}>"
        routes = tuple(f"Record-Route: {route}" for route in call.invite.all("record-route"))
        call.ok = response(call.invite, 200, "OK", call.to_tag, (*routes, contact),
                           sdp(int(call.extension), 30_000 + 2 * (int(call.extension) % 1000)))
        call.stamps[2] = self.callee.send(call.ok)
        self.later(call.retransmit_every, lambda: self.retransmit_ok(call))

    def retransmit_ok(self, call: CalleeCall) -> None:
        """RFC 3261 §13.3.1.4: the 2xx again, T1 doubling, until the ACK."""
        if call.acked or call.ended or call.retransmit_every > 4:
            return
        self.callee.send(call.ok)
        call.retransmit_every *= 2
        self.later(call.retransmit_every, lambda: self.retransmit_ok(call))

    # -- the watchers, 3001..3100 --

    def subscribe_all(self, round_number: int, window: int = 100) -> None:
        todo = []
        for index in range(WATCHERS):
            number = str(FIRST_WATCHER + index)
            for key in range(KEYS):
                target = str(FIRST_CALLEE + (index + key * (CALLEES // KEYS)) % CALLEES)
                todo.append(Subscription(round_number, index, number, target,
                                         token() + "@blf-watcher", token()))
        self.active = list(todo)
        waiting: list[Subscription] = []

        def tick() -> None:
            nonlocal waiting
            waiting = [s for s in waiting if s.state != "active" or s.notifies == 0]
            while todo and len(waiting) < window:
                subscription = todo.pop()
                self.subscriptions[subscription.call_id] = subscription
                self.by_call_id[subscription.call_id.encode()] = subscription
                self.send_subscribe(subscription, None, SUBSCRIBE_EXPIRES)
                waiting.append(subscription)
            self.resend_stuck(waiting)

        tick()
        if not self.run_until(lambda: not todo and not waiting, self.patience, tick):
            states = {}
            for subscription in self.active:
                states[subscription.state] = states.get(subscription.state, 0) + 1
            raise RuntimeError(f"the subscriptions did not all become active with a first "
                               f"NOTIFY within {self.patience:.0f} s: {states}, {len(todo)} not "
                               f"sent")

    def unsubscribe_all(self, window: int = 100) -> None:
        todo = list(self.active)
        waiting: list[Subscription] = []

        def tick() -> None:
            nonlocal waiting
            waiting = [s for s in waiting
                       if not (s.state == "ended" and s.terminated or s.state == "gone")]
            while todo and len(waiting) < window:
                subscription = todo.pop()
                subscription.state = "ending"
                self.send_subscribe(subscription, None, 0)
                waiting.append(subscription)
            self.resend_stuck(waiting)

        tick()
        if not self.run_until(lambda: not todo and not waiting, self.patience, tick):
            raise RuntimeError(f"{len(waiting) + len(todo)} subscriptions did not end with a "
                               f"terminated NOTIFY within {self.patience:.0f} s")

    def resend_stuck(self, waiting: list[Subscription]) -> None:
        """UDP without our own retransmissions: a SUBSCRIBE with no answer for 1 s goes again."""
        limit = time.monotonic() - 1.0
        for subscription in waiting:
            if subscription.state in ("challenging", "subscribing", "ending") and \
                    subscription.sent_at < limit:
                subscription.sent_at = time.monotonic()
                self.watchers[subscription.watcher].send(subscription.sent)

    def send_subscribe(self, subscription: Subscription, authorization: str | None,
                       expires: int) -> None:
        watcher = self.watchers[subscription.watcher]
        uri = f"sip:{subscription.target}@{DOMAIN}"
        to = f"<{uri}>" + (f";tag={subscription.to_tag}" if subscription.to_tag else "")
        headers = [f"Via: SIP/2.0/UDP {watcher.address};branch=z9hG4bK{token()};rport",
                   f"From: <sip:{subscription.number}@{DOMAIN}>;tag={subscription.from_tag}",
                   f"To: {to}", f"Call-ID: {subscription.call_id}",
                   f"CSeq: {subscription.cseq} SUBSCRIBE",
                   f"Contact: <sip:{subscription.number}@{watcher.address}>", "Event: dialog",
                   "Accept: application/dialog-info+xml", f"Expires: {expires}"]
        if authorization:
            headers.append(f"Authorization: {authorization}")
        target = subscription.remote_target if subscription.to_tag else uri
        subscription.sent = request("SUBSCRIBE", target or uri, headers)
        subscription.sent_at = time.monotonic()
        watcher.send(subscription.sent)

    def on_watcher(self, watcher: Udp, data: bytes, stamp: int, sender) -> None:
        if data.startswith(b"NOTIFY "):
            answer, call_id, cseq = answer_200(data)
            self.answers.append((stamp, watcher.send(answer, sender)))
            self.pending.append((call_id, cseq, stamp, data))
            return
        message = Message(data)
        subscription = self.subscriptions.get(message.call_id)
        if message.status is None:
            if message.method != "ACK":
                watcher.send(response(message, 481 if subscription is None else 405,
                                      "Not here"), sender)
            return
        if subscription is None or message.cseq != (subscription.cseq, "SUBSCRIBE"):
            return
        status = message.status
        if status < 200:
            return
        ending = subscription.state == "ending"
        if status in (401, 407) and subscription.cseq < 6:
            header = "www-authenticate" if status == 401 else "proxy-authenticate"
            params = challenge_params(message, header)
            uri = subscription.remote_target if subscription.to_tag else \
                f"sip:{subscription.target}@{DOMAIN}"
            subscription.cseq += 1
            if not ending:
                subscription.state = "subscribing"
            self.send_subscribe(subscription, credentials(
                params, subscription.number, WATCHER_PASSWORD, "SUBSCRIBE", uri),
                0 if ending else SUBSCRIBE_EXPIRES)
            return
        if status == 481 and ending:
            subscription.state = "gone"  # the server had dropped it: counted, not waited for
            self.problem(f"SUBSCRIBE of {subscription.number} to {subscription.target} with "
                         f"Expires: 0 answered 481: the server had dropped the subscription")
            return
        if status >= 300:
            subscription.state = "failed"
            self.problem(f"SUBSCRIBE of {subscription.number} to {subscription.target} answered "
                         f"{status} {message.get('warning') or ''}".rstrip())
            return
        if ending:
            subscription.state = "ended"
        else:
            subscription.state = "active"
            subscription.to_tag = re.search(r";\s*tag=([^;>\s]+)",
                                            message.get("to") or "").group(1)
            contact = message.get("contact") or ""
            subscription.remote_target = contact.split("<", 1)[-1].split(">", 1)[0]
        subscription.cseq += 1

    # -- what the NOTIFYs showed --

    def check_pending(self, limit: int | None = None) -> None:
        batch = self.pending if limit is None else self.pending[:limit]
        self.pending = [] if limit is None else self.pending[limit:]
        for call_id, cseq, stamp, data in batch:
            self.check_notify(call_id, cseq, stamp, data)

    def check_notify(self, call_id: bytes, cseq: int, stamp: int, data: bytes) -> None:
        subscription = self.by_call_id.get(call_id)
        if subscription is None:
            self.unknown_notifies += 1
            return
        if cseq <= subscription.last_cseq:
            self.retransmitted_notifies += 1
            return
        subscription.last_cseq = cseq
        subscription.notifies += 1
        self.notify_stamps.append(stamp)
        split = data.find(b"\r\n\r\n")
        head, body = data[:split], data[split + 4:]
        found = VERSION.search(body)
        version = int(found.group(1)) if found else -1
        expected = 0 if subscription.version is None else subscription.version + 1
        if version != expected:
            self.version_faults += 1
            if self.version_faults <= 5:
                self.problem(f"subscription {subscription.number} -> {subscription.target}: "
                             f"NOTIFY CSeq {cseq} has version {version}, {expected} expected")
        subscription.version = version
        shown: set[bytes] = set()
        live: set[bytes] = set()
        levels, first = subscription.levels, subscription.first
        for attributes, state in DIALOG.findall(body):
            found = CALL_ID_ATTRIBUTE.search(attributes)
            if found is None:
                continue  # the "idle" placeholder of an empty document
            dialog = found.group(1)
            state = state.lower()  # Kamailio writes "Trying"
            self.states[state] = self.states.get(state, 0) + 1
            if state in (b"trying", b"proceeding", b"early"):
                level = EARLY_TAGGED if LOCAL_TAG.search(attributes) else EARLY
            elif state == b"confirmed":
                level = CONFIRMED
            else:
                level = TERMINATED
            shown.add(dialog)
            if level < TERMINATED:
                live.add(dialog)
            before = levels.get(dialog, 0)
            if level < before:
                self.backwards += 1
                if self.backwards <= 5:
                    self.problem(f"subscription {subscription.number} -> {subscription.target}: "
                                 f"dialog {dialog.decode()} went back from level {before} to "
                                 f"{level} (version {version})")
                continue
            if level > before:
                levels[dialog] = level
                stamps = first.setdefault(dialog, [0, 0, 0, 0])
                for reached in range(before, level):
                    stamps[reached] = stamp
        gone = subscription.live - shown
        if gone:
            self.vanished += len(gone)
            if self.vanished <= 5:
                self.problem(f"subscription {subscription.number} -> {subscription.target}: "
                             f"{len(gone)} dialogs vanished from version {version} before they "
                             f"were shown terminated")
        subscription.live = live
        if re.search(rb"\r\nSubscription-State:\s*terminated", head, re.I):
            subscription.terminated = True
            subscription.final_live = len(live)


# ---- the server and SIPp -------------------------------------------------------------------------


def write_config(workdir: Path, port: int) -> Path:
    lines = ["log_level: warn", "sip:", f"  listen: [\"udp:{LOOPBACK}:{port}\"]",
             f"  domain: {DOMAIN}", "  no_answer_timeout: 60s",
             "registrar: {min_expires: 60s}", f"storage: {{path: {workdir / 'catchline.db'}}}",
             "extensions:",
             f"  - {{number: \"{CALLER}\", password: \"{CALLER_PASSWORD}\"}}"]
    lines += [f"  - {{number: \"{FIRST_CALLEE + i}\", password: \"{CALLEE_PASSWORD}\", "
              f"call_groups: [{GROUP}]}}" for i in range(CALLEES)]
    lines += [f"  - {{number: \"{FIRST_WATCHER + i}\", password: \"{WATCHER_PASSWORD}\", "
              f"pickup_groups: [{GROUP}]}}" for i in range(WATCHERS)]
    config = workdir / "catchline.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


@dataclasses.dataclass
class Window:
    """A stretch of the run: which watchers there were, and what the server and we used."""

    name: str
    watched: int        # round number, 0 when nobody watched
    start: int = 0      # CLOCK_REALTIME ns
    end: int = 0
    server_ns: int = 0  # CPU time of all the server's threads in it
    kernel_ns: int = 0  # the part of it in the kernel (10 ms ticks)
    ours_ns: int = 0    # this process's
    sipp_ns: int = 0
    calls: int = 0      # INVITEs that reached the callees in it

    @property
    def cpu_us_per_call(self) -> float:
        return self.server_ns / 1000 / max(self.calls, 1)

    @property
    def kernel_us_per_call(self) -> float:
        return self.kernel_ns / 1000 / max(self.calls, 1)


class Bench:
    """One SIPp for the whole run, and the windows measured while it places calls."""

    def __init__(self, phones: Phones, server: subprocess.Popen, port: int, workdir: Path,
                 pids: list[int] | None = None, caller: list[str] | None = None,
                 rate: int = RATE):
        self.phones = phones
        self.rate = rate  # calls/s
        self.server = server
        self.pids = pids or [server.pid]  # every process of the server (Kamailio forks)
        # SIPp's scenario and what it needs: ours answers the server's 407.
        self.caller = caller or ["-sf", str(HERE / "scenarios" / "uac_blf.xml"), "-au", CALLER,
                                 "-ap", CALLER_PASSWORD]
        self.port = port
        self.workdir = workdir
        self.callees = workdir / "callees.csv"
        self.callees.write_text("SEQUENTIAL\n" + "".join(
            f"{FIRST_CALLEE + i};\n" for i in range(CALLEES)))
        self.control = free_port()
        self.sipp: subprocess.Popen | None = None
        self.sipp_log = workdir / "sipp.log"
        self.windows: list[Window] = []
        self.rounds: dict[int, tuple[int, int]] = {}  # round -> (all active, ending began), ns
        self.calls_ok, self.calls_failed = 0, -1  # SIPp's counts at the end; -1: none read

    def alive(self) -> None:
        if self.server.poll() is not None:
            raise RuntimeError(f"the server exited with {self.server.returncode}")
        if self.sipp is not None and self.sipp.poll() is not None:
            raise RuntimeError(f"SIPp exited with {self.sipp.returncode} (see sipp.log)")

    def start_calls(self) -> None:
        """self.rate calls/s until told to stop (its control port): more than the run needs."""
        with open(self.sipp_log, "wb") as output:
            self.sipp = subprocess.Popen(
                ["sipp", *self.caller, f"{LOOPBACK}:{self.port}", "-inf", str(self.callees),
                 "-set", "caller", CALLER, "-i", LOOPBACK, "-p",
                 str(free_port()), "-ci", LOOPBACK, "-cp", str(self.control), "-r", str(self.rate),
                 "-m", str(self.rate * 3600), "-l", "1000", "-nostdin", "-trace_err", "-fd", "1"],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True)
        if not self.phones.run_until(lambda: self.phones.calls, 10, self.alive):
            raise RuntimeError("no call reached the callees within 10 s of starting SIPp")
        self.phones.probing = True
        self.phones.probe()

    def wait(self, seconds: float) -> None:
        self.phones.run_until(lambda: False, seconds, self.alive)

    def measure(self, name: str, watched: int, seconds: float) -> Window:
        phones = self.phones
        window = Window(name, watched)
        gc.collect()
        gc.disable()  # a collection would stall our 200s to the NOTIFYs, not the server
        try:
            window.server_ns, window.ours_ns = -cpu_ns(*self.pids), -time.process_time_ns()
            window.kernel_ns = -kernel_cpu_ns(*self.pids)
            window.sipp_ns = -cpu_ns(self.sipp.pid)
            window.start = now()
            self.wait(seconds)
            window.end = now()
            window.server_ns += cpu_ns(*self.pids)
            window.kernel_ns += kernel_cpu_ns(*self.pids)
            window.ours_ns += time.process_time_ns()
            window.sipp_ns += cpu_ns(self.sipp.pid)
        finally:
            gc.enable()
        window.calls = sum(1 for call in phones.calls.values()
                           if window.start <= call.stamps[0] < window.end)
        seconds = (window.end - window.start) / 1e9
        log(f"{self.phones.label}{name}: {window.calls:,} calls in {seconds:.1f} s; server "
            f"{window.cpu_us_per_call:.1f} us/call ({window.server_ns / 1e9 / seconds:.2f} core, "
            f"{window.kernel_us_per_call:.0f} us/call of it in the kernel); "
            f"these phones {window.ours_ns / 1e9 / seconds:.2f} core; SIPp "
            f"{window.sipp_ns / 1e9 / seconds:.2f} core")
        self.windows.append(window)
        return window

    def run(self, sizes: Sizes) -> None:
        """Unwatched, watched, unwatched, ...: a burst of load from elsewhere on the machine
        falls on both alike rather than on one of them."""
        phones = self.phones
        self.start_calls()
        self.wait(sizes.warm)
        self.measure("unwatched-0", 0, sizes.unwatched)
        for round_number in range(1, sizes.rounds + 1):
            started = time.monotonic()
            phones.subscribe_all(round_number)
            active = now()
            log(f"{len(phones.active):,} subscriptions active, a first NOTIFY each, in "
                f"{time.monotonic() - started:.1f} s")
            self.wait(SETTLE)
            self.measure(f"watched-{round_number}", round_number, sizes.watched)
            self.wait(1.0)  # the calls of the window end while it is watched
            started = time.monotonic()
            self.rounds[round_number] = (active, now())
            phones.unsubscribe_all()
            log(f"every subscription ended (Expires: 0, a terminated NOTIFY each) in "
                f"{time.monotonic() - started:.1f} s")
            self.wait(SETTLE)
            self.measure(f"unwatched-{round_number}", 0, sizes.unwatched)
        self.stop_calls()

    def stop_calls(self) -> None:
        """SIPp's 'q': no new call, the ones under way end; then its counts."""
        self.phones.probing = False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
            control.sendto(b"q", (LOOPBACK, self.control))
        phones = self.phones
        if not phones.run_until(lambda: self.sipp.poll() is not None, 15):
            phones.problem("SIPp did not stop within 15 s of its 'q'")
            stop(self.sipp, "SIPp", log)
        quiet = int(QUIET * 1e9)
        phones.run_until(lambda: not phones.pending and now() - phones.last_received > quiet, 10)
        ok, failed = sipp_counts(self.sipp_log.read_text(errors="replace"))
        self.calls_ok, self.calls_failed = ok, failed
        if self.sipp.returncode != 0 or failed != 0:
            phones.problem(f"SIPp: exit {self.sipp.returncode}, {ok:,} calls ok, {failed} failed "
                           f"(see sipp.log)")
        unanswered = sum(1 for call in phones.calls.values() if not call.acked)
        if unanswered:
            phones.problem(f"{unanswered} calls to the callees never got their ACK")

    def stop_sipp(self) -> None:
        if self.sipp is not None:
            stop(self.sipp, "SIPp", log)


# ---- the figures ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    """The delays of the calls in the windows, and what the checks found."""

    delays: list = dataclasses.field(default_factory=lambda: [[], [], [], []])  # KINDS, ns
    halves: list = dataclasses.field(default_factory=lambda: [[], []])  # of each window, ns
    calls: int = 0          # in the windows
    notifies: int = 0       # read in the windows
    unseen: int = 0         # (subscription, call of its extension) never shown
    stuck: int = 0          # (subscription, call) never shown terminated
    negative: int = 0       # a NOTIFY showed a change before the callee saw its event
    not_terminated: int = 0  # subscriptions whose last NOTIFY did not say terminated
    final_live: int = 0     # live dialogs in the last NOTIFYs (calls under way then: fine)


def analyse(phones: Phones, bench: Bench) -> Tally:
    """Delays and NOTIFYs of the watched windows, and the checks."""
    tally = Tally()
    for window in bench.windows:
        if not window.watched:
            continue
        active, ending = bench.rounds[window.watched]
        middle = (window.start + window.end) // 2
        tally.notifies += sum(1 for stamp in phones.notify_stamps
                              if window.start <= stamp < window.end)
        watchers_of: dict[str, list[Subscription]] = {}
        for subscription in phones.subscriptions.values():
            if subscription.round == window.watched:
                watchers_of.setdefault(subscription.target, []).append(subscription)
        for call in phones.calls.values():
            # The checks: calls that began and ended while every subscription was active.
            if not (active < call.stamps[0] and 0 < call.stamps[3] < ending):
                continue
            timed = window.start <= call.stamps[0] < window.end
            tally.calls += timed
            for subscription in watchers_of.get(call.extension, []):
                check_call(phones, tally, call, subscription, timed, call.stamps[0] >= middle)
    for subscription in phones.subscriptions.values():
        tally.not_terminated += not subscription.terminated
        tally.final_live += subscription.final_live
    if tally.negative:
        phones.problem(f"{tally.negative} NOTIFYs showed a change before the callee saw its "
                       f"event")
    if tally.not_terminated:
        phones.problem(f"{tally.not_terminated} subscriptions got no NOTIFY saying terminated")
    return tally


def check_call(phones: Phones, tally: Tally, call: CalleeCall, subscription: Subscription,
               timed: bool, late: bool) -> None:
    """What one subscription showed of one call; its delays when the call is `timed`."""
    stamps = subscription.first.get(call.call_id)
    if stamps is None:
        tally.unseen += 1
        if tally.unseen <= 5:
            phones.problem(f"subscription {subscription.number} -> {subscription.target} never "
                           f"showed call {call.call_id.decode()}")
        return
    level = subscription.levels.get(call.call_id, 0)
    if level < TERMINATED:
        tally.stuck += 1
        if tally.stuck <= 5:
            phones.problem(f"subscription {subscription.number} -> {subscription.target}: call "
                           f"{call.call_id.decode()} last shown at level {level}, never "
                           f"terminated")
    if not timed:
        return
    for kind in range(4):
        if not call.stamps[kind] or not stamps[kind]:
            continue
        delay = stamps[kind] - call.stamps[kind]
        if delay < 0:
            tally.negative += 1
            continue
        tally.delays[kind].append(delay)
        tally.halves[late].append(delay)


def describe(values: list[int]) -> str:
    if not values:
        return "no samples"
    return (f"{len(values):,} samples, min {min(values) / 1000:.0f} median "
            f"{percentile(values, 0.5) / 1000:.0f} p99 {percentile(values, 0.99) / 1000:.0f} "
            f"max {max(values) / 1000:.0f} us")


@dataclasses.dataclass
class Added:
    """What the watchers added to one server's CPU per call, and how many NOTIFYs that was."""

    with_us: float = 0.0        # per call, watched windows
    without_us: float = 0.0     # per call, unwatched windows
    kernel_with: float = 0.0    # the kernel's part of each
    kernel_without: float = 0.0
    notifies_per_call: float = 0.0

    @property
    def per_call(self) -> float:
        return self.with_us - self.without_us

    @property
    def kernel_per_call(self) -> float:
        return self.kernel_with - self.kernel_without

    @property
    def user_per_notify(self) -> float:
        return (self.per_call - self.kernel_per_call) / max(self.notifies_per_call, 1)

    @property
    def kernel_per_notify(self) -> float:
        return self.kernel_per_call / max(self.notifies_per_call, 1)


def added(windows: list[Window], notifies: int) -> Added:
    watched = [w for w in windows if w.watched]
    unwatched = [w for w in windows if not w.watched]
    return Added(per_call_us(watched), per_call_us(unwatched), per_call_us(watched, kernel=True),
                 per_call_us(unwatched, kernel=True),
                 notifies / max(sum(w.calls for w in watched), 1))


def kamailio_modules() -> str:
    for folder in ("/usr/lib/x86_64-linux-gnu/kamailio/modules/", "/usr/lib/kamailio/modules/"):
        if Path(folder, "presence_dialoginfo.so").is_file():
            return folder
    raise RuntimeError("no Kamailio presence modules (Debian: kamailio-presence-modules)")


def dbtext_tables() -> Path:
    for folder in ("/usr/share/kamailio/dbtext/kamailio",
                   "/usr/local/share/kamailio/dbtext/kamailio"):
        if all(Path(folder, table).is_file() for table in DBTEXT_TABLES):
            return Path(folder)
    raise RuntimeError("no Kamailio db_text tables (Debian: kamailio, /usr/share/kamailio/dbtext)")


@dataclasses.dataclass
class KamailioRun:
    added: Added
    notifies: int   # read in its watched windows
    rate: float     # of them, per second
    retransmitted: int  # NOTIFYs it sent again (our 200 came too late for it), the whole run
    states: dict    # dialog state -> how many times its NOTIFYs showed it, the whole run
    faults: int     # the checks that apply to it (see run_kamailio)
    calls_failed: int


def run_kamailio(sizes: Sizes, workdir: Path) -> KamailioRun:
    """The same calls and watchers with Kamailio as the presence server (kamailio_presence.cfg):
    SIPp -> Kamailio -> the Python callees, the watchers SUBSCRIBEd to Kamailio; no
    authentication, no registration (Kamailio sends every INVITE to the callees' socket)."""
    workdir.mkdir()
    port = free_port()
    # Kamailio's one worker takes longer than we do to take on (and end) 1,000 subscriptions
    # while it carries the calls.
    phones = Phones((LOOPBACK, port), "kamailio: ", patience=90.0)
    server = None
    bench = None
    try:
        tables = workdir / "dbtext"
        tables.mkdir()
        source = dbtext_tables()
        for table in DBTEXT_TABLES:
            shutil.copyfile(source / table, tables / table)
        text = (HERE / "kamailio_presence.cfg").read_text()
        for key, value in (("LISTEN", f"{LOOPBACK}:{port}"), ("CALLEES", phones.callee.address),
                           ("MPATH", kamailio_modules()), ("DBTEXT", str(tables))):
            text = text.replace(f"@{key}@", value)
        config = workdir / "kamailio.cfg"
        config.write_text(text)
        kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
        with open(workdir / "kamailio.log", "wb") as output:
            server = subprocess.Popen(
                [kamailio, "-f", str(config), "-DD", "-E", "-x", "tlsf", "-m", "1024", "-M", "16",
                 "-P", str(workdir / "kamailio.pid"), "-Y", str(workdir)], cwd=workdir,
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_udp_bound(port, timeout=30)
        time.sleep(0.5)  # its other processes fork after the bind
        pids = children_of(server.pid)
        log(f"kamailio pid {server.pid} ({len(pids)} processes) on udp {LOOPBACK}:{port}; calls "
            f"at {KAMAILIO_RATE}/s to {phones.callee.address}, {sizes.warm:.0f} s before the first "
            f"window")
        bench = Bench(phones, server, port, workdir, pids,
                      ["-sf", str(HERE / "scenarios" / "uac_blf_noauth.xml"), "-set", "domain",
                       DOMAIN], KAMAILIO_RATE)
        bench.run(sizes)
        phones.check_pending()
        tally = analyse(phones, bench)
    finally:
        if bench is not None:
            bench.stop_sipp()
        if server is not None:
            stop(server, "kamailio", log)
        phones.callee.close()
        phones.prober.close()
        for watcher in phones.watchers:
            watcher.close()
    for line in (workdir / "kamailio.log").read_text(errors="replace").splitlines():
        if "ERROR" in line or "CRITICAL" in line:
            log(f"kamailio said: {line.strip()}")
    states = {state.decode(): count for state, count in sorted(phones.states.items())}
    log(f"kamailio: dialog states its NOTIFYs showed (each dialog element counted): {states}")
    log(f"kamailio: {tally.notifies:,} NOTIFYs in the watched window; retransmitted NOTIFYs "
        f"{phones.retransmitted_notifies}; NOTIFYs of no subscription {phones.unknown_notifies}")
    # Kamailio numbers versions its own way (1 first): of the checks, those that say whether
    # every watcher saw every call, in order, through to its end. Kamailio's own faults are
    # shown, not held against the comparison: it is what it is.
    log(f"kamailio: checks: version faults {phones.version_faults} (not counted), backwards "
        f"{phones.backwards}, vanished {phones.vanished}, (subscription, call) never shown "
        f"{tally.unseen}, never terminated {tally.stuck}, no terminated NOTIFY "
        f"{tally.not_terminated}")
    faults = phones.backwards + phones.vanished + tally.unseen + tally.stuck + tally.not_terminated
    result = KamailioRun(added(bench.windows, tally.notifies), tally.notifies,
                         tally.notifies / (sizes.watched * sizes.rounds),
                         phones.retransmitted_notifies, states, faults,
                         max(bench.calls_failed, 0) + (bench.calls_failed < 0))
    log(f"kamailio: {result.added.notifies_per_call:.1f} NOTIFYs per call; the watchers add "
        f"{result.added.per_call:.0f} us of CPU per call ({result.added.with_us:.0f} with, "
        f"{result.added.without_us:.0f} without), {result.added.kernel_per_call:.0f} us of it "
        f"in the kernel; per NOTIFY {result.added.user_per_notify:.1f} us user, "
        f"{result.added.kernel_per_notify:.1f} us kernel")
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working folder and name it")
    parser.add_argument("--only", choices=("ours", "kamailio"),
                        help="run one server only (for work on this script; no rows)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    binary = args.build.resolve() / "app" / "catchline"
    if not binary.is_file() and args.only != "kamailio":
        log(f"no server binary at {binary}")
        return 1
    if shutil.which("sipp") is None:
        log("no sipp on PATH")
        return 1
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} CPUs at the start")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

    workdir = Path(tempfile.mkdtemp(prefix="catchline-blf-"))
    try:
        ours = None
        if args.only != "kamailio":
            ours = run_ours(binary, sizes, workdir)
            if ours is None:
                return 1
        theirs = None
        if args.only != "ours":
            try:
                theirs = run_kamailio(QUICK if args.quick else KAMAILIO_FULL,
                                      workdir / "kamailio")
            except (RuntimeError, OSError) as error:
                log(f"FAILED kamailio: {error}")
                return 1
    finally:
        if args.keep:
            log(f"working folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    if ours is not None and theirs is not None:
        print_rows(sizes, *ours, theirs)
    return 0


def run_ours(binary: Path, sizes: Sizes, workdir: Path):
    """Catchline under the calls and watchers; (windows, tally, pooled delays, faults), or None
    when it failed."""
    port = free_port()
    config = write_config(workdir, port)
    server_log = workdir / "catchline.log"
    clocks = (time.time_ns(), time.monotonic_ns())
    server = None
    phones = None
    bench = None
    try:
        server = start_server(binary, config, workdir, server_log)
        wait_udp_bound(port, timeout=30)
        log(f"server pid {server.pid} on udp {LOOPBACK}:{port}")
        phones = Phones((LOOPBACK, port))
        bench = Bench(phones, server, port, workdir)
        phones.register_all()
        log(f"{CALLEES} callees registered on {phones.callee.address}; calls at {RATE}/s, "
            f"{sizes.warm:.0f} s before the first window")
        bench.run(sizes)
        phones.check_pending()
        tally = analyse(phones, bench)
    except (RuntimeError, OSError) as error:
        log(f"FAILED {error}")
        return None
    finally:
        if bench is not None:
            bench.stop_sipp()
        if server is not None:
            stop(server, "the server", log)
            log(f"server stopped (exit {server.returncode})")
        if phones is not None:
            phones.callee.close()
            phones.prober.close()
            for watcher in phones.watchers:
                watcher.close()
        for line in server_problems(server_log)[:10]:
            log(f"server said: {line}")

    drift = (time.time_ns() - clocks[0]) - (time.monotonic_ns() - clocks[1])
    if abs(drift) > 1_000_000:
        phones.problem(f"the wall clock moved {drift / 1e6:.1f} ms against the monotonic one "
                       f"during the run: the delays are off by up to that much")
    pooled = [d for kind in tally.delays for d in kind]
    for kind, values in zip(KINDS, tally.delays):
        log(f"delay {kind} -> its NOTIFY: {describe(values)}")
    log(f"delay, all four: {describe(pooled)}")
    log(f"delay, calls of the first half of a window: {describe(tally.halves[0])}; second half: "
        f"{describe(tally.halves[1])}")
    watched = [w for w in bench.windows if w.watched]
    answers = [sent - stamp for stamp, sent in phones.answers
               if any(w.start <= stamp < w.end for w in watched)]
    log(f"our 200 to a NOTIFY left after its arrival, in the watched windows: "
        f"{describe(answers)}")
    for kind, chosen in (("watched", watched), ("unwatched", [w for w in bench.windows
                                                               if not w.watched])):
        trips = [arrived - sent for sent, arrived in phones.round_trips
                 if any(w.start <= sent < w.end for w in chosen)]
        log(f"reference: OPTIONS -> 200 round trip in the {kind} windows: {describe(trips)}")
    log(f"{tally.calls:,} calls in the watched windows; NOTIFYs "
        f"{tally.notifies / (sizes.watched * sizes.rounds):,.0f}/s; retransmitted NOTIFYs "
        f"{phones.retransmitted_notifies}; NOTIFYs of no subscription {phones.unknown_notifies}; "
        f"retransmitted INVITEs to the callees {phones.retransmitted_invites}")
    faults = (phones.version_faults + phones.backwards + phones.vanished + tally.unseen
              + tally.stuck + tally.negative + tally.not_terminated)
    log(f"checks: version faults {phones.version_faults}, backwards {phones.backwards}, "
        f"vanished {phones.vanished}, (subscription, call) never shown {tally.unseen}, never "
        f"terminated {tally.stuck}, shown before the event {tally.negative}, no terminated "
        f"NOTIFY {tally.not_terminated}; live dialogs in the final NOTIFYs (calls under way "
        f"then) {tally.final_live}")
    windows = bench.windows
    for index, window in enumerate(windows):
        if window.watched:
            before, after = windows[index - 1], windows[index + 1]
            around = (before.cpu_us_per_call + after.cpu_us_per_call) / 2
            log(f"{window.name}: {window.cpu_us_per_call:.1f} us/call over the mean of the "
                f"unwatched windows around it, {around:.1f}: "
                f"{window.cpu_us_per_call / around:.2f}x")
    cost = added(windows, tally.notifies)
    log(f"{cost.notifies_per_call:.1f} NOTIFYs per call: "
        f"{cost.per_call / max(cost.notifies_per_call, 1):.1f} us of server CPU each (with its "
        f"200 and its transaction's end): {cost.user_per_notify:.1f} us in user space, "
        f"{cost.kernel_per_notify:.1f} us in the kernel (sending the NOTIFY, reading the 200, "
        f"the wake-up for it); the kernel's {cost.kernel_per_call:.0f} us per call is "
        f"{cost.kernel_per_call / max(cost.without_us, 1):.2f}x a whole call without watchers "
        f"({cost.without_us:.0f} us)")
    if phones.problems:
        log(f"{len(phones.problems)} problems, the first of them logged above as PROBLEM")
    failed_calls = max(bench.calls_failed, 0) + (bench.calls_failed < 0)
    return bench.windows, tally, pooled, faults + failed_calls


def per_call_us(windows: list[Window], kernel: bool = False) -> float:
    """Server CPU (or its kernel part) in these windows per call that began in them."""
    spent = sum(w.kernel_ns if kernel else w.server_ns for w in windows)
    return spent / 1000 / max(sum(w.calls for w in windows), 1)


def print_rows(sizes: Sizes, windows: list[Window], tally: Tally, pooled: list[int],
               faults: int, kamailio: KamailioRun) -> None:
    scale = sizes.scale
    load = f"1,000 watchers, {RATE} calls/s{scale}"
    goal = f"<= {GOAL_P99_US} µs"
    span = (f"{sizes.watched:.0f} s window" if sizes.rounds == 1
            else f"{sizes.rounds} windows of {sizes.watched:.0f} s")
    rows = [{"name": f"BLF NOTIFYs/s, 1,000 watchers on 100 extensions, {RATE} calls/s{scale} "
                     f"({span})",
             "value": round(tally.notifies / (sizes.watched * sizes.rounds)),
             "unit": "NOTIFYs/s", "goal": ""}]
    what = "callee event -> first NOTIFY showing it; INVITE in, 180 out, 200 out, BYE in pooled"
    if pooled:
        median, p99 = percentile(pooled, 0.5) / 1000, percentile(pooled, 0.99) / 1000
        rows.append({"name": f"BLF delay median, {load} ({what})", "value": round(median),
                     "unit": "µs", "goal": ""})
        rows.append({"name": f"BLF delay p99, {load} ({what})", "value": round(p99),
                     "unit": "µs", "goal": goal, "met": p99 <= GOAL_P99_US})
    intervals = {"INVITE": "server's INVITE reaches the callee -> first NOTIFY showing the dialog",
                 "180": "callee's 180 sent -> first NOTIFY with its local-tag",
                 "200": "callee's 200 sent -> first NOTIFY showing confirmed",
                 "BYE": "server's BYE reaches the callee -> first NOTIFY showing terminated"}
    for kind, values in zip(KINDS, tally.delays):
        if values:
            p99 = percentile(values, 0.99) / 1000
            rows.append({"name": f"BLF delay p99, {load} ({intervals[kind]})",
                         "value": round(p99), "unit": "µs", "goal": goal,
                         "met": p99 <= GOAL_P99_US})
    cost = added(windows, tally.notifies)
    ratio = cost.with_us / cost.without_us if cost.without_us else None
    rows.append({"name": f"server CPU per call with 1,000 BLF watchers (vs none), {RATE} "
                         f"calls/s{scale}",
                 "value": round(cost.with_us, 1), "unit": "us/call",
                 "baseline": round(cost.without_us, 1),
                 "ratio": round(ratio, 2) if ratio is not None else None, "goal": ""})
    # Per NOTIFY (with its 200 and its transaction's end), from the difference between the
    # windows with and without watchers: what our code spends against what the kernel spends
    # on the same datagrams and wake-ups (stime, 10 ms ticks over the windows).
    ratio = (cost.user_per_notify / cost.kernel_per_notify if cost.kernel_per_notify > 0
             else None)
    rows.append({"name": f"BLF: our user-space CPU per NOTIFY, its 200 and its transaction's end "
                         f"(vs the kernel's CPU for the same datagrams), {RATE} calls/s{scale}",
                 "value": round(cost.user_per_notify, 2), "unit": "us/NOTIFY",
                 "baseline": round(cost.kernel_per_notify, 2),
                 "ratio": round(ratio, 2) if ratio is not None else None,
                 "goal": f"ratio <= {GOAL_USER_OVER_KERNEL:g}",
                 "met": ratio is not None and ratio <= GOAL_USER_OVER_KERNEL})
    # Against Kamailio as a dialog presence server: the CPU per call the same 1,000 watchers
    # add, each server's watched windows minus its unwatched ones. Worthless unless Kamailio's
    # NOTIFYs showed early, confirmed and terminated dialogs and its calls all completed.
    theirs = kamailio.added.per_call
    ratio = cost.per_call / theirs if theirs > 0 else None
    shown = [kamailio.states.get(state, 0) for state in ("early", "confirmed", "terminated")]
    honest = all(shown) and kamailio.calls_failed == 0
    if not honest:
        log(f"PROBLEM kamailio: states shown {kamailio.states}, {kamailio.calls_failed} calls "
            f"failed: no comparison")
    rows.append({"name": f"BLF: server CPU per call added by 1,000 watchers (ours authenticates "
                         f"calls and SUBSCRIBEs) vs Kamailio as a dialog presence server "
                         f"(presence, pua_dialoginfo; no authentication; {kamailio.rate:,.0f} "
                         f"NOTIFYs/s showing early/confirmed/terminated {shown[0]:,}/{shown[1]:,}/"
                         f"{shown[2]:,} times, {kamailio.faults:,} check faults, "
                         f"{kamailio.retransmitted:,} NOTIFYs retransmitted; Kamailio at "
                         f"{KAMAILIO_RATE} calls/s, where it keeps up), {RATE} calls/s{scale}",
                 "value": round(cost.per_call, 1), "unit": "us/call", "baseline": round(theirs, 1),
                 "ratio": round(ratio, 2) if ratio is not None else None,
                 "goal": f"ratio <= {GOAL_OVER_KAMAILIO:g}",
                 "met": honest and ratio is not None and ratio <= GOAL_OVER_KAMAILIO})
    rows.append({"name": f"BLF faults: failed calls, version gaps, states backwards, lamps "
                         f"missed or stuck{scale}",
                 "value": faults, "unit": "faults", "goal": "0", "met": faults == 0})
    for row in rows:
        row.setdefault("baseline", None)
        row.setdefault("ratio", None)
        print(json.dumps(row))


if __name__ == "__main__":
    sys.exit(main())
