#!/usr/bin/env python3
"""Transfer, park and retrieve against the server: latency with 10 and 10,000 calls in
progress, CPU per transferred call, and a race matrix (issue 12).

    python3 bench/load_transfer.py --build build/bench [--quick] [--keep] [--only latency|races]

Every phone is played in Python in this process (one UDP socket per extension on 127.0.0.1,
one event loop, one clock): it registers (401, then credentials), places calls (407, ACK,
INVITE with credentials), answers what it is told to (200 with SDP at once, or 180 and wait),
answers every NOTIFY, BYE, re-INVITE and UPDATE with 200, and sends REFER and BYE in its
dialogs. The calls in progress are load_pickup.py's: callers 20000.. ring 1001 (it answers 180
and waits), placed and taken back down by its PickupBench. Both servers run media.mode direct
(no relay): the figures are the signaling cost, and park then skips its announcement.

Latency (one server, log_level warn, in rounds 10 -> 10,000 -> pickups back down to 10):

  * transfer: A calls B, B answers; B sends REFER Refer-To C; C answers its INVITE with 200 at
    once. The clock runs from the REFER leaving B to the NOTIFY "SIP/2.0 200" reaching B. Each
    transfer is checked: 202, C ACKed, B's BYE, A re-INVITEd with C's SDP, A's BYE reaching C.
  * park: A calls B, B answers, B sends REFER Refer-To the lot's code (700): REFER -> NOTIFY
    "SIP/2.0 200" at B.
  * retrieve: R dials the slot (701): its INVITE with credentials (the 407 round trip before
    it is not timed) -> 200; then A is re-INVITEd and R's BYE reaches A.

Before each transfer an OPTIONS round trip is timed (a row, no goal): the same sockets and
wake-ups without any call work, to tell the server's cost from the machine's noise. The
transfer's time is split on stderr into the server's part up to C's INVITE, these phones'
part (C's 200) and the server's part from that 200 to the NOTIFY.

CPU per transferred call: on the same server with 10 calls in progress, alternating phases of
basic calls (A calls B, B answers, A hangs up) and transferred calls (A calls B, B answers,
B transfers A to C, C answers, A hangs up), 8 at a time; the server's utime + stime (from
/proc/PID/stat) over each phase, divided by the calls it completed. The ratio is transferred
over basic, both from this run; the row names the SIP messages of each kind of call (counted
at the phones), and stderr the CPU per message.

Race matrix (a second server, log_level info, T1 100 ms so that transactions end soon after
their calls), 1,000 iterations, 32 crews at once, each crew its own phones, pickup group and
one-slot lot (timeout 1 s, comeback the parker):

  a. pickup vs transfer completion: B transfers A to C; when C's INVITE arrives, P (C's pickup
     group) sends its authenticated *8 and C its 200 together (the order alternating, 0 to
     400 µs apart);
  b. park vs hang-up: B's REFER to the lot's code and A's BYE leave together (the order
     alternating, 0 to 400 µs apart);
  c. retrieve vs comeback: B parks A; P dials the slot between 0.93 and 1.09 s after the
     park's NOTIFY 200, across the lot timeout firing (B answers the comeback at once).

A violation: the server dies or logs an error; a request of ours without a final response;
a phone that gets 200 twice for one INVITE (two To tags); two phones talking to the caller at
once (both answered, neither got BYE, after 1 s); nobody talking to the caller who is still
up; the caller's last re-INVITE naming another RTP port than the winner's (media.mode direct
points the caller at the phone it talks to); a REFER accepted without a final NOTIFY; a
dialog of any phone still up or still ringing once the caller hung up; a slot still taken by
an iteration before; calls left in the server (its `calls=` when it stops) or a call record
missing for a call made.

Prints rows for bench/run.py on stdout (JSON lines) and what it sees on stderr. Stops the
servers it started by their PIDs, whatever happens.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from load_pickup import (CALLEE, CALLEE_PASSWORD, CALLER_PASSWORD, DOMAIN, FIRST_CALLER, GROUP,
                         PICKER_PASSWORD, PICKERS, Endpoint, Loop, Phones, PickupBench,
                         raise_open_files, summary)
from loopback import (LOOPBACK, cpu_ns, free_port, percentile, server_problems, start_server,
                      stop, wait_udp_bound)
from sip_agent import (Message, challenge_params, credentials, request, response, sdp, tag_of,
                       token, uri_of)

PASSWORD = "xfer-bench"
FIRST_CREW = 90_000         # crew i: A = 90000 + 4i, B = +1, C = +2, P = +3 (callers of the
                            # calls in progress are 20000 and up)
LOT_CODE, LOT_SLOTS, FIRST_SLOT = "700", "701-720", "701"
RACE_LOT_CODE = 80_000      # crew i's lot: code 80000 + 2i, its one slot 80001 + 2i
RACE_TIMEOUT = 1.0          # the race lots' timeout and comeback_time, seconds
GOAL_P99_US = 2000
GOAL_FLATNESS = 1.5
GOAL_CPU_RATIO = 1.5
SIPFRAG = re.compile(r"SIP/2\.0\s+(\d{3})")
AUDIO_PORT = re.compile(r"^m=audio (\d+)", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Sizes:
    calls: tuple[int, ...]   # calls in progress for the latency figures
    rounds: int
    samples: int             # timed transfers (and parks, and retrieves) per W, all rounds
    cpu_calls: int           # calls of each kind in the CPU phases, all phases
    cpu_phases: int          # pairs of phases (basic, transferred)
    races: int               # race iterations in total, media.mode direct
    relay_races: int         # the same again with the media relay
    crews: int               # race iterations at once
    scale: str


FULL = Sizes(calls=(10, 10_000), rounds=3, samples=600, cpu_calls=1_600, cpu_phases=4,
             races=1_000, relay_races=300, crews=32, scale="")
QUICK = Sizes(calls=(10, 1_000), rounds=2, samples=100, cpu_calls=200, cpu_phases=2, races=150,
              relay_races=60, crews=16, scale=" (quick)")
RELAY_PORTS = "34000-35999"


def log(message: str) -> None:
    print(f"load_transfer: {message}", file=sys.stderr, flush=True)


def now_ns() -> int:
    return time.perf_counter_ns()


class Fault(Exception):
    """A step of a scenario that did not happen in time, or happened wrong."""


# ---- phones --------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Request:
    """A request a phone sent (outside INVITE), and its final response."""

    method: str
    sent_at: int
    status: int | None = None
    reason: str = ""
    answered_at: int | None = None


@dataclasses.dataclass(eq=False)
class Notify:
    stamp: int
    status: int | None     # of the sipfrag
    state: str             # Subscription-State


class Dialog:
    """One call leg as a phone sees it: an INVITE it sent, or one the server sent it."""

    def __init__(self, phone: "Phone", call_id: str, incoming: bool, local: str, remote: str):
        self.phone = phone
        self.call_id = call_id
        self.incoming = incoming
        self.local = local            # our From (To, incoming) with our tag
        self.remote = remote          # the other side's, with its tag once known
        self.target = phone.server_uri
        self.cseq = 0
        # calling -> ringing -> answered (incoming: answering until the ACK) -> ended;
        # or failed (a final >= 300 to our INVITE), cancelled (incoming).
        self.state = "calling"
        self.invite: Message | None = None      # incoming: the INVITE as it came
        self.last_response = b""                # incoming: resent to a retransmitted INVITE
        self.invite_cseq = 0
        self.challenges = 0                     # 407s answered (a stale nonce: a second)
        self.prepared = b""                     # our INVITE with credentials, not yet sent
        self.sent_at: int | None = None         # when that INVITE left
        self.final: int | None = None
        self.final_reason = ""
        self.answered_at: int | None = None
        # To tags of the 2xx we got: more than one means two phones answered our one INVITE.
        self.answer_tags: set[str] = set()
        self.acked = False                      # incoming: our 200 was acknowledged
        self.bye_in = False
        self.cancel_reason: str | None = None
        self.notifies: list[Notify] = []
        self.notify_cseqs: set[int] = set()
        self.reinvites: list[Message] = []
        self.reinvite_cseqs: dict[int, bytes] = {}
        self.requests: dict[int, Request] = {}
        self.rung_at: int | None = None         # incoming: when the INVITE was read
        self.answer_sent: int | None = None     # incoming: when our 200 left
        self.auto = True                        # outgoing: the INVITE with credentials leaves
                                                # as soon as the 407 comes (else fire())
        self.uri = ""                           # the INVITE's Request-URI

    @property
    def talking(self) -> bool:
        return self.state == "answered"

    @property
    def done(self) -> bool:
        return self.state in ("ended", "failed", "cancelled")

    def final_notify(self) -> Notify | None:
        return next((n for n in self.notifies if n.status is not None and n.status >= 200), None)


class Phone:
    """One extension on its own socket. `mode` says what it does with an INVITE the server
    sends: "answer" (200 with SDP at once), "ring" (180, then whatever the scenario does);
    `on_ring(dialog)` runs as soon as such an INVITE was answered 180."""

    datagrams = 0  # sent and read by all phones together: each one the server handled too

    def __init__(self, loop: Loop, server: tuple[str, int], number: str, rtp: bool = False):
        self.number = number
        # With the relay, the port our SDP names is bound (never read): the relay's ringback
        # and music go nowhere else on this machine.
        self.rtp = None
        if rtp:
            self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.rtp.bind((LOOPBACK, 0))
        self.endpoint = Endpoint(server, number)
        self.endpoint.handler = self.on_message
        loop.add(self.endpoint)
        self.server_uri = f"sip:{server[0]}:{server[1]}"
        self.aor = f"sip:{number}@{DOMAIN}"
        self.contact = f"<sip:{number}@{self.endpoint.address}>"
        self.mode = "answer"
        self.on_ring: Callable[[Dialog], None] | None = None
        self.dialogs: dict[str, Dialog] = {}
        self.incoming: list[Dialog] = []
        self.registered = False
        self.register_cseq = 0
        self.register_call_id = token()
        self.problems: list[str] = []
        self.probes: dict[str, Request] = {}    # OPTIONS by Call-ID

    def send(self, data: bytes) -> int:
        Phone.datagrams += 1
        return self.endpoint.send(data)

    def close(self) -> None:
        self.endpoint.close()
        if self.rtp is not None:
            self.rtp.close()

    def forget(self) -> None:
        """Drops the dialogs of a finished iteration."""
        self.dialogs.clear()
        self.incoming.clear()
        self.on_ring = None

    def via(self, branch: str | None = None) -> str:
        return (f"Via: SIP/2.0/UDP {self.endpoint.address};"
                f"branch={branch or 'z9hG4bK' + token()};rport")

    # -- registration --

    def register(self, authorization: str | None = None) -> None:
        self.register_cseq += 1
        headers = [self.via(), f"From: <{self.aor}>;tag={token()}", f"To: <{self.aor}>",
                   f"Call-ID: {self.register_call_id}", f"CSeq: {self.register_cseq} REGISTER",
                   f"Contact: {self.contact}", "Expires: 3600"]
        if authorization:
            headers.append(f"Authorization: {authorization}")
        self.send(request("REGISTER", f"sip:{DOMAIN}", headers))

    # -- requests we send --

    def probe(self) -> Request:
        """OPTIONS to the server: answered without any call state, so its round trip is what
        the loopback, the wake-ups and the machine's load cost."""
        call_id = token() + "@xfer-probe"
        headers = [self.via(), f"From: <{self.aor}>;tag={token()}", f"To: <sip:{DOMAIN}>",
                   f"Call-ID: {call_id}", "CSeq: 1 OPTIONS"]
        sent = Request("OPTIONS", 0)
        self.probes[call_id] = sent
        sent.sent_at = self.send(request("OPTIONS", f"sip:{DOMAIN}", headers))
        return sent

    def invite(self, user: str, auto: bool = True) -> Dialog:
        """A call to `user`; with auto=False the INVITE with credentials waits in `prepared`
        for fire()."""
        dialog = Dialog(self, token() + "@xfer", False, f"<{self.aor}>;tag={token()}",
                        f"<sip:{user}@{DOMAIN}>")
        dialog.auto = auto
        dialog.uri = f"sip:{user}@{DOMAIN}"
        self.dialogs[dialog.call_id] = dialog
        self.send(self.invite_text(dialog, None))
        return dialog

    def invite_text(self, dialog: Dialog, authorization: str | None) -> bytes:
        dialog.cseq += 1
        dialog.invite_cseq = dialog.cseq
        headers = [self.via(), f"From: {dialog.local}", f"To: {dialog.remote}",
                   f"Call-ID: {dialog.call_id}", f"CSeq: {dialog.cseq} INVITE",
                   f"Contact: {self.contact}", "Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER"]
        if authorization:
            headers.append(f"Proxy-Authorization: {authorization}")
        return request("INVITE", dialog.uri, headers, self.sdp())

    def fire(self, dialog: Dialog) -> None:
        dialog.sent_at = self.send(dialog.prepared)
        dialog.prepared = b""

    def in_dialog(self, dialog: Dialog, method: str, extra: tuple[str, ...] = ()) -> Request:
        dialog.cseq += 1
        headers = [self.via(), f"From: {dialog.local}", f"To: {dialog.remote}",
                   f"Call-ID: {dialog.call_id}", f"CSeq: {dialog.cseq} {method}",
                   f"Contact: {self.contact}", *extra]
        data = request(method, dialog.target, headers)
        sent = Request(method, 0)
        dialog.requests[dialog.cseq] = sent
        sent.sent_at = self.send(data)
        return sent

    def refer(self, dialog: Dialog, target: str) -> Request:
        return self.in_dialog(dialog, "REFER", (f"Refer-To: <sip:{target}@{DOMAIN}>",
                                                f"Referred-By: <{self.aor}>"))

    def bye(self, dialog: Dialog) -> Request:
        sent = self.in_dialog(dialog, "BYE")
        dialog.state = "ended"
        return sent

    def answer(self, dialog: Dialog) -> None:
        """200 with SDP to a ringing INVITE (incoming)."""
        if dialog.state != "ringing":
            return
        dialog.state = "answering"
        dialog.last_response = response(dialog.invite, 200, "OK", tag_of(dialog.local),
                                         (f"Contact: {self.contact}",), self.sdp())
        dialog.answer_sent = self.send(dialog.last_response)

    @property
    def rtp_port(self) -> int:
        if self.rtp is not None:
            return self.rtp.getsockname()[1]
        return 40_000 + int(self.number) % 20_000

    def sdp(self) -> str:
        return sdp(int(self.number), self.rtp_port)

    # -- what arrives --

    def on_message(self, message: Message, stamp: int) -> None:
        Phone.datagrams += 1
        if message.status is not None:
            self.on_response(message, stamp)
        else:
            self.on_request(message, stamp)

    def on_response(self, message: Message, stamp: int) -> None:
        cseq, method = message.cseq
        status = message.status
        if method == "REGISTER":
            if status == 401 and self.register_cseq < 3:
                params = challenge_params(message, "www-authenticate")
                self.register(credentials(params, self.number, PASSWORD, "REGISTER",
                                          f"sip:{DOMAIN}"))
            elif status == 200:
                self.registered = True
            elif status >= 300:
                self.problems.append(f"{self.number}: REGISTER answered {status}")
            return
        if method == "OPTIONS":
            sent = self.probes.pop(message.call_id, None)
            if sent is not None:
                sent.status, sent.answered_at = status, stamp
            return
        dialog = self.dialogs.get(message.call_id)
        if dialog is None:
            return
        if method != "INVITE":
            sent = dialog.requests.get(cseq)
            if sent is not None and status >= 200 and sent.status is None:
                sent.status, sent.answered_at = status, stamp
                sent.reason = message.get("warning") or ""
            return
        if cseq != dialog.invite_cseq or status < 101:
            return
        if status == 407 and dialog.final is None and dialog.challenges < 2:
            self.ack_failure(dialog, message)
            params = challenge_params(message, "proxy-authenticate")
            dialog.challenges += 1
            dialog.prepared = self.invite_text(dialog, credentials(
                params, self.number, PASSWORD, "INVITE", dialog.uri))
            if dialog.auto or dialog.challenges > 1:
                if dialog.challenges > 1:
                    self.problems.append(f"{self.number}: INVITE with credentials challenged "
                                         f"again ({message.get('proxy-authenticate')})")
                self.fire(dialog)
            return
        if status < 200:
            if dialog.state == "calling":
                dialog.state = "ringing"
            return
        if status < 300:
            to_tag = tag_of(message.get("to")) or ""
            first = not dialog.answer_tags
            dialog.answer_tags.add(to_tag)
            if first:
                dialog.remote = message.get("to") or dialog.remote
                dialog.target = uri_of(message.get("contact")) or dialog.target
                dialog.final, dialog.answered_at = status, stamp
                if dialog.state != "ended":
                    dialog.state = "answered"
            headers = [self.via(), f"From: {dialog.local}", f"To: {message.get('to')}",
                       f"Call-ID: {dialog.call_id}", f"CSeq: {cseq} ACK"]
            self.send(request("ACK", uri_of(message.get("contact")) or dialog.target, headers))
            return
        self.ack_failure(dialog, message)
        if dialog.final is None:
            dialog.final, dialog.answered_at = status, stamp
            dialog.final_reason = message.get("warning") or ""
            dialog.state = "failed"

    def ack_failure(self, dialog: Dialog, message: Message) -> None:
        """ACK of a non-2xx final response: the INVITE's branch (RFC 3261 §17.1.1.3)."""
        branch = re.search(r"branch=([^;,\s]+)", message.get("via") or "")
        cseq, _ = message.cseq
        headers = [self.via(branch.group(1) if branch else None), f"From: {dialog.local}",
                   f"To: {message.get('to')}", f"Call-ID: {dialog.call_id}", f"CSeq: {cseq} ACK"]
        self.send(request("ACK", dialog.uri, headers))

    def on_request(self, message: Message, stamp: int) -> None:
        method = message.method
        dialog = self.dialogs.get(message.call_id)
        if method == "INVITE" and dialog is None:
            self.on_invite(message, stamp)
            return
        if dialog is None:
            if method != "ACK":
                self.send(response(message, 481, "Call/Transaction Does Not Exist"))
            return
        if method == "INVITE":
            if dialog.incoming and tag_of(message.get("to")) is None:
                self.send(dialog.last_response)  # the server resent its INVITE
                return
            cseq, _ = message.cseq
            if cseq not in dialog.reinvite_cseqs:
                dialog.reinvites.append(message)
                dialog.reinvite_cseqs[cseq] = response(
                    message, 200, "OK", None, (f"Contact: {self.contact}",), self.sdp())
            self.send(dialog.reinvite_cseqs[cseq])
        elif method == "ACK":
            if dialog.incoming and dialog.state == "answering":
                dialog.state = "answered"
            dialog.acked = True
        elif method == "CANCEL":
            self.send(response(message, 200, "OK"))
            if dialog.incoming and dialog.state == "ringing":
                dialog.cancel_reason = message.get("reason") or ""
                dialog.state = "cancelled"
                dialog.last_response = response(dialog.invite, 487, "Request Terminated",
                                                 tag_of(dialog.local))
                self.send(dialog.last_response)
        elif method == "BYE":
            self.send(response(message, 200, "OK"))
            dialog.bye_in = True
            dialog.state = "ended"
        elif method == "NOTIFY":
            self.send(response(message, 200, "OK"))
            cseq, _ = message.cseq
            if cseq not in dialog.notify_cseqs:
                dialog.notify_cseqs.add(cseq)
                found = SIPFRAG.search(message.body)
                dialog.notifies.append(Notify(stamp, int(found.group(1)) if found else None,
                                              message.get("subscription-state") or ""))
        else:
            self.send(response(message, 200, "OK"))

    def on_invite(self, message: Message, stamp: int) -> None:
        local_tag = token()
        dialog = Dialog(self, message.call_id, True, f"{message.get('to')};tag={local_tag}",
                        message.get("from") or "")
        dialog.invite = message
        dialog.uri = message.uri
        dialog.target = uri_of(message.get("contact")) or self.server_uri
        dialog.rung_at = stamp
        self.dialogs[message.call_id] = dialog
        self.incoming.append(dialog)
        if self.mode == "answer":
            dialog.state = "ringing"
            self.answer(dialog)
            return
        dialog.state = "ringing"
        dialog.last_response = response(message, 180, "Ringing", local_tag,
                                        (f"Contact: {self.contact}",))
        self.send(dialog.last_response)
        if self.on_ring is not None:
            self.on_ring(dialog)


@dataclasses.dataclass(eq=False)
class Crew:
    """The phones of one lane: A calls B, B transfers or parks A, C is the target, P picks up
    or retrieves."""

    a: Phone
    b: Phone
    c: Phone
    p: Phone
    index: int

    @property
    def phones(self) -> tuple[Phone, ...]:
        return (self.a, self.b, self.c, self.p)

    def forget(self) -> None:
        for phone in self.phones:
            phone.forget()
            phone.mode = "answer"


def crew_numbers(index: int) -> list[str]:
    return [str(FIRST_CREW + 4 * index + k) for k in range(4)]


def make_crews(loop: Loop, server: tuple[str, int], count: int,
               rtp: bool = False) -> list[Crew]:
    crews = [Crew(*(Phone(loop, server, n, rtp) for n in crew_numbers(i)), index=i)
             for i in range(count)]
    phones = [phone for crew in crews for phone in crew.phones]
    for phone in phones:
        phone.register()
    if not loop.run_until(lambda: all(p.registered for p in phones), 10):
        missing = [p.number for p in phones if not p.registered]
        raise RuntimeError(f"{len(missing)} phones could not register, e.g. {missing[:3]} "
                           f"{[x for p in phones for x in p.problems][:2]}")
    return crews


# ---- scenarios: generators that yield (condition, deadline) -----------------------------------


def until(condition: Callable[[], bool], timeout: float, what: str) -> Iterator:
    """Waits (in the scheduler) for `condition`; Fault(what) after `timeout` s."""
    ok = yield condition, time.monotonic() + timeout
    if not ok:
        raise Fault(what)


def spin(microseconds: int) -> None:
    """Holds this process for a few microseconds (a sleep would take a millisecond)."""
    until_ns = now_ns() + microseconds * 1000
    while now_ns() < until_ns:
        pass


def gap(number: int) -> int:
    """The microseconds between the two messages of race iteration `number`: 0 twice as often
    as each of 50, 100, 200 and 400 (the order alternates with `number` too)."""
    return (0, 0, 50, 100, 200, 400)[(number // 2) % 6]


def pause(seconds: float) -> Iterator:
    yield (lambda: False), time.monotonic() + seconds


def run_tasks(loop: Loop, next_task: Callable[[int], Iterator | None], lanes: int,
              alive: Callable[[], None]) -> None:
    """Runs up to `lanes` scenarios at once; next_task(lane) gives a lane its next one (None:
    the lane is done). Each scenario yields (condition, deadline) and is resumed with True
    when the condition holds, False at the deadline."""
    active: dict[int, list] = {}

    def advance(lane: int, value) -> None:
        while True:
            entry = active.get(lane)
            try:
                condition, deadline = entry[0].send(value)
                entry[1], entry[2] = condition, deadline
                return
            except StopIteration:
                task = next_task(lane)
                if task is None:
                    del active[lane]
                    return
                active[lane] = [task, None, 0.0]
                value = None

    for lane in range(lanes):
        task = next_task(lane)
        if task is not None:
            active[lane] = [task, None, 0.0]
            advance(lane, None)
    checked = time.monotonic()
    while active:
        loop.pump(0.002)
        now = time.monotonic()
        for lane in list(active):
            entry = active.get(lane)
            if entry is None:
                continue
            if entry[1]():
                advance(lane, True)
            elif now >= entry[2]:
                advance(lane, False)
        if now - checked > 1:
            alive()
            checked = now


def call_answered(crew: Crew, caller: Phone, callee: Phone) -> Iterator:
    """caller calls callee, who answers at once; returns (caller's dialog, callee's)."""
    callee.mode = "answer"
    seen = len(callee.incoming)
    call = caller.invite(callee.number)
    yield from until(lambda: call.done or (call.talking and len(callee.incoming) > seen
                                           and callee.incoming[seen].acked),
                     3, f"{caller.number} -> {callee.number} not answered and ACKed in 3 s")
    if not call.talking:
        raise Fault(f"{caller.number} -> {callee.number} answered {call.final} "
                    f"{call.final_reason}")
    return call, callee.incoming[seen]


def hang_up(phone: Phone, dialog: Dialog) -> Iterator:
    sent = phone.bye(dialog)
    yield from until(lambda: sent.status is not None, 3, f"{phone.number}'s BYE got no answer")
    if sent.status != 200:
        raise Fault(f"{phone.number}'s BYE answered {sent.status}")


def transfer(crew: Crew, into: dict | None) -> Iterator:
    """A calls B, B transfers A to C (who answers at once), A hangs up. `into` gets the
    REFER -> NOTIFY 200 time when given."""
    a, b, c = crew.a, crew.b, crew.c
    call, leg = yield from call_answered(crew, a, b)
    c.mode = "answer"
    seen_c, seen_a = len(c.incoming), len(call.reinvites)
    if into is not None:
        probe = b.probe()
        yield from until(lambda: probe.status is not None, 2, "no answer to an OPTIONS")
        into["options"] = probe.answered_at - probe.sent_at
    refer = b.refer(leg, c.number)
    yield from until(lambda: leg.final_notify() is not None, 3,
                     "no final NOTIFY to the transferor within 3 s")
    final = leg.final_notify()
    if refer.status != 202:
        raise Fault(f"REFER answered {refer.status}, not 202")
    if final.status != 200:
        raise Fault(f"transfer's final NOTIFY says {final.status}")
    if into is not None:
        into["ns"] = final.stamp - refer.sent_at
    yield from until(lambda: len(c.incoming) > seen_c and c.incoming[seen_c].acked
                     and leg.bye_in and len(call.reinvites) > seen_a, 3,
                     "after the NOTIFY 200: C not ACKed, B not sent BYE or A not re-INVITEd")
    target = c.incoming[seen_c]
    if into is not None:
        # The three parts of the time: the server to C's INVITE, C (these phones) to its 200,
        # the server from that 200 to the NOTIFY.
        into["parts"] = (target.rung_at - refer.sent_at, target.answer_sent - target.rung_at,
                         final.stamp - target.answer_sent)
    yield from hang_up(a, call)
    yield from until(lambda: target.bye_in, 3, "A hung up but C got no BYE")


def park(crew: Crew, lot_code: str, slot: str, into: dict | None) -> Iterator:
    """A calls B, B parks A on `lot_code` (slot `slot`), R (P) retrieves it from the slot,
    R hangs up. `into` gets the park and retrieve times when given."""
    a, b, r = crew.a, crew.b, crew.p
    call, leg = yield from call_answered(crew, a, b)
    seen_a = len(call.reinvites)
    refer = b.refer(leg, lot_code)
    yield from until(lambda: leg.final_notify() is not None and leg.bye_in, 3,
                     "no final NOTIFY and BYE to the parker within 3 s")
    final = leg.final_notify()
    if refer.status != 202 or final.status != 200:
        raise Fault(f"park: REFER {refer.status}, final NOTIFY {final.status}")
    retrieve = r.invite(slot, auto=False)
    yield from until(lambda: retrieve.prepared or retrieve.done, 3, "no 407 to the retrieve")
    if not retrieve.prepared:
        raise Fault(f"retrieve answered {retrieve.final} before any challenge")
    r.fire(retrieve)
    yield from until(lambda: retrieve.final is not None, 3, "no final response to the retrieve")
    if retrieve.final != 200:
        raise Fault(f"retrieve answered {retrieve.final} {retrieve.final_reason}")
    if into is not None:
        into["park"] = final.stamp - refer.sent_at
        into["retrieve"] = retrieve.answered_at - retrieve.sent_at
    yield from until(lambda: len(call.reinvites) > seen_a, 3,
                     "the parked caller was not re-INVITEd after the retrieve")
    yield from hang_up(r, retrieve)
    yield from until(lambda: call.bye_in, 3, "the retriever hung up but A got no BYE")


def basic(crew: Crew) -> Iterator:
    call, leg = yield from call_answered(crew, crew.a, crew.b)
    yield from hang_up(crew.a, call)
    yield from until(lambda: leg.bye_in, 3, "A hung up but B got no BYE")


# ---- the servers ---------------------------------------------------------------------------------


def write_config(workdir: Path, name: str, port: int, crews: int, callers: int, race: bool,
                 log_level: str, relay: bool = False) -> Path:
    timers = "{t1: 100ms, t2: 400ms, t4: 500ms}" if race else "{t1: 500ms}"
    lines = [f"log_level: {log_level}", "sip:", f"  listen: [\"udp:{LOOPBACK}:{port}\"]",
             f"  domain: {DOMAIN}", "  no_answer_timeout: 10m", "  transfer_timeout: 30s",
             f"  timers: {timers}", "registrar: {min_expires: 60s}",
             f"storage: {{path: {workdir / (name + '.db')}}}",
             f"media: {{mode: relay, address: {LOOPBACK}, ports: {RELAY_PORTS}}}" if relay
             else "media: {mode: direct}",
             "extensions:"]
    for i in range(crews):
        a, b, c, p = crew_numbers(i)
        lines += [f"  - {{number: \"{a}\", password: \"{PASSWORD}\"}}",
                  f"  - {{number: \"{b}\", password: \"{PASSWORD}\"}}",
                  f"  - {{number: \"{c}\", password: \"{PASSWORD}\", call_groups: [lane{i}]}}",
                  f"  - {{number: \"{p}\", password: \"{PASSWORD}\", pickup_groups: [lane{i}]}}"]
    if callers:
        lines.append(f"  - {{number: \"{CALLEE}\", password: \"{CALLEE_PASSWORD}\", "
                     f"call_groups: [{GROUP}]}}")
        lines += [f"  - {{number: \"{picker}\", password: \"{PICKER_PASSWORD}\", "
                  f"pickup_groups: [{GROUP}]}}" for picker in PICKERS]
        lines += [f"  - {{number: \"{FIRST_CALLER + i}\", password: \"{CALLER_PASSWORD}\"}}"
                  for i in range(callers)]
    lines.append("parking:")
    if race:
        for i in range(crews):
            code = RACE_LOT_CODE + 2 * i
            lines += [f"  - {{name: lane{i}, code: \"{code}\", slots: \"{code + 1}\", "
                      f"timeout: {RACE_TIMEOUT:.0f}s, comeback_time: {RACE_TIMEOUT:.0f}s}}"]
    else:
        lines.append(f"  - {{name: main, code: \"{LOT_CODE}\", slots: \"{LOT_SLOTS}\", "
                     f"timeout: 10m}}")
    config = workdir / f"{name}.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def server_cpu_ticks(pid: int) -> int:
    """utime + stime of the server, in clock ticks (/proc/PID/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Server:
    """One server this script started, stopped by its PID."""

    def __init__(self, binary: Path, workdir: Path, name: str, **config):
        self.port = free_port()
        self.name = name
        self.config = write_config(workdir, name, self.port, **config)
        self.log_path = workdir / f"{name}.log"
        self.database = workdir / f"{name}.db"
        self.proc = start_server(binary, self.config, workdir, self.log_path)
        started = time.monotonic()
        while True:
            try:
                wait_udp_bound(self.port, timeout=0.5)
                break
            except RuntimeError:
                if self.proc.poll() is None and time.monotonic() - started < 60:
                    continue
                said = self.log_path.read_text(errors="replace").strip().splitlines()
                raise RuntimeError(f"the {name} server did not start (exit "
                                   f"{self.proc.poll()}): {said[-1] if said else 'no output'}")
        log(f"{name} server pid {self.proc.pid} on udp {LOOPBACK}:{self.port} after "
            f"{time.monotonic() - started:.2f} s")

    @property
    def address(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the {self.name} server exited with {self.proc.returncode}")

    def stop(self) -> None:
        stop(self.proc, f"the {self.name} server", log)


# ---- latency and CPU -----------------------------------------------------------------------------


def latency_and_cpu(binary: Path, workdir: Path, sizes: Sizes, results: dict) -> None:
    """Fills `results` as the figures come, so that an interrupted run keeps what it has."""
    pool = max(sizes.calls) + 200
    server = Server(binary, workdir, "latency", crews=8, callers=pool, race=False,
                    log_level="warn")
    loop = Loop()
    phones = None
    crews: list[Crew] = []
    try:
        phones = Phones(loop, server.address, pool)
        background = PickupBench(phones, loop, server.proc)
        phones.register()
        crews = make_crews(loop, server.address, 8)
        background.fill(sizes.calls[0])
        results["cpu"] = cpu_phases(loop, server, crews, sizes, results["problems"])
        timed = {(w, k): [] for w in sizes.calls
                 for k in ("transfer", "park", "retrieve", "options")}
        per_round = sizes.samples // sizes.rounds
        for round_number in range(sizes.rounds):
            for calls in sizes.calls:
                background.fill(calls)
                measure(loop, server, crews[0], calls, per_round, timed, results["problems"])
            if round_number + 1 < sizes.rounds:
                drain = background.pick_many(sizes.calls[0], 32, what="drain")
                log(f"round {round_number + 1} done; {drain['answered']:,} pickups back down to "
                    f"{sizes.calls[0]} calls ({drain['failed']} failed)")
        for (calls, kind), values in timed.items():
            if not values:
                raise RuntimeError(f"no {kind} succeeded with {calls} calls in progress")
            results[(calls, kind)] = summary(values)
            s = results[(calls, kind)]
            log(f"{calls:,} calls in progress, {kind}: {len(values)} timed; min {s['min']:.0f} "
                f"median {s['median']:.0f} p95 {percentile(values, 0.95) / 1000:.0f} p99 "
                f"{s['p99']:.0f} max {s['max']:.0f} us")
        results["problems"] += phones.problems + [p for c in crews for x in c.phones
                                                  for p in x.problems]
    finally:
        server.stop()
        log(f"latency server stopped (exit {server.proc.returncode})")
        for endpoint in ((phones.callee, phones.callers, phones.pickers) if phones else ()):
            endpoint.close()
        for crew in crews:
            for phone in crew.phones:
                phone.close()
        for line in server_problems(server.log_path)[:10]:
            log(f"latency server said: {line}")


def measure(loop: Loop, server: Server, crew: Crew, calls: int, samples: int, timed: dict,
            problems: list[str]) -> None:
    """`samples` transfers and as many park-and-retrieves, one at a time."""
    failures = 0

    def tasks() -> Iterator[Iterator]:
        for index in range(samples):
            into: dict = {}
            yield wrap(transfer(crew, into), crew, into, "transfer")
            into = {}
            yield wrap(park(crew, LOT_CODE, FIRST_SLOT, into), crew, into, "park")

    def wrap(scenario: Iterator, crew: Crew, into: dict, kind: str) -> Iterator:
        nonlocal failures
        try:
            yield from scenario
        except Fault as fault:
            failures += 1
            problems.append(f"{kind} with {calls} calls in progress: {fault}")
            log(f"PROBLEM {kind} with {calls} calls in progress: {fault}")
            if failures > 10:
                raise RuntimeError("more than 10 failed transfers or parks: giving up")
            yield from pause(0.5)
        crew.forget()
        if kind == "transfer" and "ns" in into:
            timed[(calls, "transfer")].append(into["ns"])
            timed[(calls, "options")].append(into["options"])
            for part, value in zip(("to C's INVITE", "C's 200", "to the NOTIFY"),
                                   into["parts"]):
                timed.setdefault((calls, f"transfer part: {part}"), []).append(value)
        if kind == "park" and "park" in into:
            timed[(calls, "park")].append(into["park"])
            timed[(calls, "retrieve")].append(into["retrieve"])

    queue = tasks()
    gc.collect()
    gc.disable()  # a collection inside a timed step would be ours, not the server's
    try:
        run_tasks(loop, lambda lane: next(queue, None), 1, server.alive)
    finally:
        gc.enable()


def cpu_phases(loop: Loop, server: Server, crews: list[Crew], sizes: Sizes,
               problems: list[str]) -> dict:
    """Alternating phases of basic and transferred calls, all crews at once; the server's
    CPU ticks and the calls completed in each."""
    per_phase = sizes.cpu_calls // sizes.cpu_phases
    # ticks, calls, seconds, and schedstat ns (finer than ticks: said on stderr only)
    totals = {"basic": [0, 0, 0.0, 0], "transfer": [0, 0, 0.0, 0]}
    datagrams = {"basic": 0, "transfer": 0}

    for _ in range(sizes.cpu_phases):
        for kind in ("basic", "transfer"):
            left = [per_phase]
            done = [0]

            def next_task(lane: int, kind=kind, left=left, done=done) -> Iterator | None:
                if left[0] <= 0:
                    return None
                left[0] -= 1
                return counted(kind, crews[lane], done)

            def counted(kind: str, crew: Crew, done: list[int]) -> Iterator:
                try:
                    yield from (basic(crew) if kind == "basic" else transfer(crew, None))
                    done[0] += 1
                except Fault as fault:
                    problems.append(f"CPU phase, {kind} call: {fault}")
                    log(f"PROBLEM CPU phase, {kind} call: {fault}")
                    yield from pause(0.5)
                crew.forget()

            ticks = server_cpu_ticks(server.proc.pid)
            scheduled = cpu_ns(server.proc.pid)
            started = time.monotonic()
            before = Phone.datagrams
            run_tasks(loop, next_task, len(crews), server.alive)
            datagrams[kind] += Phone.datagrams - before
            totals[kind][0] += server_cpu_ticks(server.proc.pid) - ticks
            totals[kind][3] += cpu_ns(server.proc.pid) - scheduled
            totals[kind][1] += done[0]
            totals[kind][2] += time.monotonic() - started
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    out = {}
    for kind, (ticks, calls, seconds, scheduled) in totals.items():
        out[kind] = {"us": ticks * tick_us / calls if calls else None, "calls": calls,
                     "rate": calls / seconds if seconds else 0,
                     "messages": datagrams[kind] / calls if calls else 0}
        log(f"CPU {kind}: {calls} calls in {seconds:.1f} s ({out[kind]['rate']:.0f}/s), server "
            f"{ticks} ticks = {out[kind]['us'] or 0:.0f} us per call (schedstat: "
            f"{scheduled / 1000 / max(calls, 1):.0f} us per call); "
            f"{out[kind]['messages']:.1f} SIP messages per call, "
            f"{ticks * tick_us / max(datagrams[kind], 1):.1f} us per message")
    out["failed"] = sizes.cpu_calls * 2 - totals["basic"][1] - totals["transfer"][1]
    return out


# ---- the race matrix -----------------------------------------------------------------------------


class Races:
    """The race iterations, their outcomes and the violations found."""

    def __init__(self, crews: list[Crew], relay: bool):
        self.crews = crews
        self.relay = relay
        self.violations: dict[str, list[str]] = {"a": [], "b": [], "c": []}
        self.outcomes: dict[str, dict[str, int]] = {"a": {}, "b": {}, "c": {}}
        self.iterations = {"a": 0, "b": 0, "c": 0}
        self.calls_made = 0

    def violation(self, kind: str, crew: Crew, text: str) -> None:
        self.violations[kind].append(f"crew {crew.index}: {text}")
        log(f"VIOLATION {kind} crew {crew.index}: {text}")

    def outcome(self, kind: str, what: str) -> None:
        self.outcomes[kind][what] = self.outcomes[kind].get(what, 0) + 1

    def run(self, kind: str, crew: Crew, number: int) -> Iterator:
        self.iterations[kind] += 1
        scenario = {"a": self.pickup_vs_completion, "b": self.park_vs_hangup,
                    "c": self.retrieve_vs_comeback}[kind]
        try:
            yield from scenario(crew, number)
        except Fault as fault:
            self.violation(kind, crew, str(fault))
        yield from self.settle(kind, crew)
        crew.forget()

    def settle(self, kind: str, crew: Crew) -> Iterator:
        """Every dialog of the iteration must end; one still up after 3 s is a violation
        (and is hung up so that the next iteration starts clean)."""
        dialogs = [d for phone in crew.phones for d in phone.dialogs.values()]

        def open_ones() -> list[Dialog]:
            return [d for d in dialogs if not d.done]

        if open_ones():
            try:
                yield from until(lambda: not open_ones(), 3, "")
            except Fault:
                pass
        for dialog in open_ones():
            self.violation(kind, crew, f"{dialog.phone.number}'s dialog left {dialog.state} "
                                       f"({'incoming' if dialog.incoming else 'outgoing'})")
            if dialog.state == "answered":
                dialog.phone.bye(dialog)
            dialog.state = "ended"
        pending = [(d, r) for d in dialogs for r in d.requests.values() if r.status is None]
        if pending:
            try:
                yield from until(lambda: all(r.status is not None for _, r in pending), 3, "")
            except Fault:
                pass
        for dialog, sent in pending:
            if sent.status is None:
                self.violation(kind, crew, f"{dialog.phone.number}'s {sent.method} got no "
                                           f"final response")
        for dialog in dialogs:
            if len(dialog.answer_tags) > 1:
                self.violation(kind, crew, f"{dialog.phone.number} got 200 from "
                                           f"{len(dialog.answer_tags)} legs for one INVITE")

    def check_media(self, kind: str, crew: Crew, call: Dialog, seen: int,
                    winner: Phone | None) -> Iterator:
        """media.mode direct: the caller's last re-INVITE must name the winner's RTP port. (With
        the relay the caller keeps its relay port and is re-bridged inside the relay.)"""
        if winner is None or call.done or self.relay:
            return
        try:
            yield from until(lambda: len(call.reinvites) > seen, 1, "")
        except Fault:
            self.violation(kind, crew, f"the caller was not re-INVITEd towards {winner.number}")
            return
        yield from pause(0.05)  # a second re-INVITE, if one comes, is the one that counts
        found = AUDIO_PORT.search(call.reinvites[-1].body)
        port = int(found.group(1)) if found else None
        if port != winner.rtp_port:
            self.violation(kind, crew, f"the caller's media points at port {port}, not at "
                                       f"{winner.number}'s {winner.rtp_port}")

    @property
    def announced(self) -> float:
        """How long a park's final NOTIFY may take: with the relay the parker first hears
        "parked on ..." (about 3 s)."""
        return 6.0 if self.relay else 3.0

    def wait_transfer_final(self, leg: Dialog, refer: Request, kind: str, crew: Crew) -> Iterator:
        """A REFER gets a final response; a 202 is followed by a final NOTIFY."""
        yield from until(lambda: refer.status is not None, 3, "the REFER got no final response")
        if refer.status == 202:
            try:
                yield from until(lambda: leg.final_notify() is not None, self.announced, "")
            except Fault:
                pass
            if leg.final_notify() is None:
                self.violation(kind, crew, "REFER accepted (202) but no final NOTIFY came "
                                           + ("before the BYE" if leg.bye_in else "in 3 s"))

    # a. pickup vs transfer completion
    def pickup_vs_completion(self, crew: Crew, number: int) -> Iterator:
        a, b, c, p = crew.phones
        call, leg = yield from call_answered(crew, a, b)
        self.calls_made += 1
        pickup = p.invite("*8", auto=False)
        yield from until(lambda: pickup.prepared or pickup.done, 3, "no 407 to the pickup")
        if not pickup.prepared:
            raise Fault(f"pickup INVITE answered {pickup.final} before any challenge")
        c.mode = "ring"

        def together(target: Dialog) -> None:
            c.on_ring = None
            if number % 2:
                p.fire(pickup)
                spin(gap(number))
                c.answer(target)
            else:
                c.answer(target)
                spin(gap(number))
                p.fire(pickup)

        c.on_ring = together
        seen_a = len(call.reinvites)
        refer = b.refer(leg, c.number)
        yield from self.wait_transfer_final(leg, refer, "a", crew)
        if refer.status != 202:
            raise Fault(f"REFER answered {refer.status}")
        yield from until(lambda: pickup.final is not None, 3, "the pickup got no final response")
        yield from until(lambda: bool(c.incoming) and c.incoming[0].state != "answering", 3,
                         "C's 200 was never ACKed (C would ring on)")
        target = c.incoming[0]

        def talking() -> list[str]:
            return [name for name, d in (("picker", pickup), ("target", target)) if d.talking]

        if len(talking()) > 1:
            try:
                yield from until(lambda: len(talking()) <= 1, 1, "")
            except Fault:
                self.violation("a", crew, "picker and target both talk to the caller")
        winner = talking()
        if not winner and not call.done:
            self.violation("a", crew, f"nobody talks to the caller (pickup {pickup.final}, "
                                      f"target {target.state})")
        self.outcome("a", f"{'+'.join(winner) or 'nobody'} won (pickup {pickup.final})")
        if len(winner) == 1:
            yield from self.check_media("a", crew, call, seen_a,
                                        p if winner[0] == "picker" else c)
        if not call.done:
            yield from hang_up(a, call)

    # b. park vs hang-up
    def park_vs_hangup(self, crew: Crew, number: int) -> Iterator:
        a, b = crew.a, crew.b
        call, leg = yield from call_answered(crew, a, b)
        self.calls_made += 1
        code = str(RACE_LOT_CODE + 2 * crew.index)
        if number % 2:
            refer = b.refer(leg, code)
            spin(gap(number))
            bye = a.bye(call)
        else:
            bye = a.bye(call)
            spin(gap(number))
            refer = b.refer(leg, code)
        yield from until(lambda: bye.status is not None, 3,
                         "the caller's BYE got no final response")
        yield from self.wait_transfer_final(leg, refer, "b", crew)
        if refer.status == 486:
            self.violation("b", crew, "the lane's slot was still taken")
        final = leg.final_notify()
        self.outcome("b", f"REFER {refer.status}" + (f", NOTIFY {final.status}" if final else ""))

    # c. retrieve vs comeback
    def retrieve_vs_comeback(self, crew: Crew, number: int) -> Iterator:
        a, b, p = crew.a, crew.b, crew.p
        call, leg = yield from call_answered(crew, a, b)
        self.calls_made += 1
        code = RACE_LOT_CODE + 2 * crew.index
        retrieve = p.invite(str(code + 1), auto=False)
        yield from until(lambda: retrieve.prepared or retrieve.done, 3, "no 407 to the retrieve")
        if not retrieve.prepared:
            raise Fault(f"retrieve answered {retrieve.final} before any challenge")
        b.mode = "answer"  # the comeback rings the parker: it answers at once
        seen_a = len(call.reinvites)
        refer = b.refer(leg, str(code))
        yield from until(lambda: leg.final_notify() is not None, self.announced,
                         "no final NOTIFY to the park")
        parked = leg.final_notify()
        if refer.status != 202 or parked.status != 200:
            if refer.status == 486 or parked.status == 486:
                self.violation("c", crew, "the lane's slot was still taken")
            raise Fault(f"park: REFER {refer.status}, NOTIFY {parked.status}")
        offset = RACE_TIMEOUT - 0.07 + 0.01 * (number % 17)
        yield from pause(max(0.0, offset - (now_ns() - parked.stamp) / 1e9))
        p.fire(retrieve)
        yield from until(lambda: retrieve.final is not None, 3,
                         "the retrieve got no final response")
        comeback_seen = len(b.incoming)
        if retrieve.final != 200:
            yield from until(lambda: len(b.incoming) > 1 or call.done, 3,
                             f"retrieve answered {retrieve.final}, and no comeback rang the parker")
            comeback_seen = len(b.incoming)
        comebacks = b.incoming[1:]

        def talking() -> list[str]:
            names = ["retriever"] if retrieve.talking else []
            return names + ["parker (comeback)" for d in comebacks if d.talking]

        if len(talking()) > 1:
            try:
                yield from until(lambda: len(talking()) <= 1, 1, "")
            except Fault:
                self.violation("c", crew, f"{' and '.join(talking())} both talk to the caller")
        winner = talking()
        if not winner and not call.done:
            self.violation("c", crew, f"nobody talks to the parked caller (retrieve "
                                      f"{retrieve.final}, comebacks {comeback_seen - 1})")
        self.outcome("c", f"{'+'.join(winner) or 'nobody'} (retrieve {retrieve.final})")
        if len(winner) == 1:
            yield from self.check_media("c", crew, call, seen_a,
                                        p if winner[0] == "retriever" else b)
        if not call.done:
            yield from hang_up(a, call)


def race_matrix(binary: Path, workdir: Path, sizes: Sizes, relay: bool) -> dict:
    name = "race-relay" if relay else "race"
    iterations = sizes.relay_races if relay else sizes.races
    server = Server(binary, workdir, name, crews=sizes.crews, callers=0, race=True,
                    log_level="info", relay=relay)
    loop = Loop()
    crews: list[Crew] = []
    results: dict = {"relay": relay}
    try:
        crews = make_crews(loop, server.address, sizes.crews, rtp=relay)
        races = Races(crews, relay)
        kinds = "abc"
        counter = [0]

        def next_task(lane: int) -> Iterator | None:
            if counter[0] >= iterations:
                return None
            number = counter[0]
            counter[0] += 1
            return races.run(kinds[number % 3], crews[lane], number // 3)

        started = time.monotonic()
        run_tasks(loop, next_task, len(crews), server.alive)
        log(f"{name} matrix: {counter[0]} iterations in {time.monotonic() - started:.1f} s "
            f"({', '.join(f'{k}: {n}' for k, n in races.iterations.items())})")
        for kind in kinds:
            for what, count in sorted(races.outcomes[kind].items()):
                log(f"{name} {kind} outcome: {what}: {count}")
        # The calls' last transactions end (64*T1 = 6.4 s), then the server says what is left.
        time.sleep(7)
        results["races"] = races
    finally:
        server.stop()
        for crew in crews:
            for phone in crew.phones:
                phone.close()
    text = server.log_path.read_text(errors="replace")
    left = re.findall(r"stopping signal=\d+ calls=(\d+)", text)
    results["calls_left"] = int(left[-1]) if left else None
    results["exit"] = server.proc.returncode
    results["errors"] = [line for line in text.splitlines()
                         if "[error" in line or "[critical" in line or "ssert" in line]
    results["warnings"] = [line for line in text.splitlines() if "[warn" in line]
    results["records"] = count_records(binary, server.database)
    return results


def count_records(binary: Path, database: Path) -> int | None:
    done = subprocess.run([str(binary), "calls", "--db", str(database), "--json"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        log(f"catchline calls failed: {done.stderr.strip()[:200]}")
        return None
    return sum(1 for line in done.stdout.splitlines() if line.strip().startswith("{"))


# ---- rows ----------------------------------------------------------------------------------------


def print_rows(latency: dict | None, matrices: list[dict], sizes: Sizes) -> None:
    rows = []
    goal = f"<= {GOAL_P99_US} µs"
    direct = "media.mode direct"
    if latency is not None:
        low, high = sizes.calls[0], sizes.calls[-1]
        names = {"transfer": "transfer completion p99, REFER -> NOTIFY 200 (target answers at "
                             "once)",
                 "park": "park p99, REFER to the lot's code -> NOTIFY 200",
                 "retrieve": "retrieve p99, INVITE to the slot -> 200"}
        for kind, name in names.items():
            if any((calls, kind) not in latency for calls in sizes.calls):
                continue
            for calls in sizes.calls:
                p99 = latency[(calls, kind)]["p99"]
                rows.append({"name": f"{name}, {calls:,} calls in progress, {direct}"
                                     f"{sizes.scale}",
                             "value": round(p99), "unit": "µs", "goal": goal,
                             "met": p99 <= GOAL_P99_US})
            rows.append({"name": f"{kind} median at {high:,} calls in progress (baseline: at "
                                 f"{low:,}){sizes.scale}",
                         "value": round(latency[(high, kind)]["median"]), "unit": "µs",
                         "baseline": round(latency[(low, kind)]["median"]), "goal": ""})
            value, baseline = latency[(high, kind)]["p99"], latency[(low, kind)]["p99"]
            ratio = value / baseline if baseline else None
            rows.append({"name": f"{kind} p99 flatness: at {high:,} calls over at {low:,}"
                                 f"{sizes.scale}",
                         "value": round(value), "unit": "µs", "baseline": round(baseline),
                         "ratio": round(ratio, 2) if ratio else None,
                         "goal": f"ratio <= {GOAL_FLATNESS}",
                         "met": ratio is not None and ratio <= GOAL_FLATNESS})
        for calls in sizes.calls:
            if (calls, "options") not in latency:
                continue
            rows.append({"name": f"reference: OPTIONS round trip p99 (no call work: the loopback "
                                 f"and the machine's load), before each transfer, {calls:,} "
                                 f"calls in progress{sizes.scale}",
                         "value": round(latency[(calls, "options")]["p99"]), "unit": "µs",
                         "goal": ""})
        if "cpu" in latency:
            cpu = latency["cpu"]
            ours, base = cpu["transfer"]["us"], cpu["basic"]["us"]
            ratio = ours / base if ours and base else None
            messages = (f"{cpu['transfer']['messages']:.0f} SIP messages against "
                        f"{cpu['basic']['messages']:.0f}")
            rows.append({"name": f"server CPU per transferred call (A->B, B blind-transfers A to "
                                 f"C, C answers, BYE; utime+stime; {messages}), {direct}"
                                 f"{sizes.scale}",
                         "value": round(ours) if ours else None, "unit": "µs",
                         "baseline": round(base) if base else None,
                         "ratio": round(ratio, 2) if ratio else None,
                         "goal": f"ratio to a basic call <= {GOAL_CPU_RATIO}",
                         "met": ratio is not None and ratio <= GOAL_CPU_RATIO})
        failures = len(latency["problems"])
        rows.append({"name": f"failed transfers, parks or retrieves, latency and CPU phases"
                             f"{sizes.scale}",
                     "value": failures, "unit": "failures", "goal": "0", "met": failures == 0})
    for races in matrices:
        outcome = races["races"]
        media = "media relay" if races["relay"] else direct
        titles = {"a": "pickup vs transfer completion", "b": "park vs hang-up",
                  "c": "retrieve vs comeback (lot timeout 1 s)"}
        for kind, title in titles.items():
            count = len(outcome.violations[kind])
            rows.append({"name": f"race {kind}, {title}: violations in "
                                 f"{outcome.iterations[kind]} iterations, {media}{sizes.scale}",
                         "value": count, "unit": "violations", "goal": "0", "met": count == 0})
        server_faults = (len(races["errors"]) + (races["calls_left"] != 0)
                         + (races["exit"] != 0))
        if races["records"] is not None and races["records"] < outcome.calls_made:
            server_faults += 1
        rows.append({"name": f"race matrix, server side: errors logged, calls left at the end, "
                             f"records missing, {media}{sizes.scale}",
                     "value": server_faults, "unit": "violations", "goal": "0",
                     "met": server_faults == 0})
    for row in rows:
        row.setdefault("baseline", None)
        row.setdefault("ratio", None)
        print(json.dumps(row), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working folder and name it")
    parser.add_argument("--only", choices=("latency", "races"), help="run one part")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    binary = args.build.resolve() / "app" / "catchline"
    if not binary.is_file():
        log(f"no server binary at {binary}")
        return 1
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} CPUs at the start")
    raise_open_files()
    workdir = Path(tempfile.mkdtemp(prefix="catchline-transfer-"))
    latency: dict | None = None
    matrices: list[dict] = []
    status = 0
    try:
        # Each part on its own server: one that fails leaves the others their rows.
        if args.only != "races":
            try:
                latency = {"problems": []}
                latency_and_cpu(binary, workdir, sizes, latency)
            except (RuntimeError, OSError) as error:
                log(f"FAILED latency and CPU: {error}")
                status = 1
        if args.only != "latency":
            for relay in (False, True):
                try:
                    matrices.append(race_matrix(binary, workdir, sizes, relay))
                    report_races(matrices[-1])
                except (RuntimeError, OSError) as error:
                    log(f"FAILED race matrix{' with the relay' if relay else ''}: {error}")
                    status = 1
    except KeyboardInterrupt:
        log("FAILED interrupted")
        status = 1
    finally:
        if args.keep:
            log(f"working folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    try:
        print_rows(latency, matrices, sizes)
    except KeyError as error:
        log(f"FAILED a figure is missing: {error}")
        status = 1
    return status


def report_races(races: dict) -> None:
    outcome = races["races"]
    name = "race-relay" if races["relay"] else "race"
    for kind, found in outcome.violations.items():
        for text in found[:10]:
            log(f"{name} {kind} violation: {text}")
        if len(found) > 10:
            log(f"{name} {kind}: {len(found) - 10} more violations")
    log(f"{name} server: exit {races['exit']}, calls left at stop {races['calls_left']}, "
        f"{outcome.calls_made} calls made, {races['records']} call records, "
        f"{len(races['errors'])} error lines, {len(races['warnings'])} warnings")
    for line in (races["errors"] + races["warnings"])[:10]:
        log(f"{name} server said: {line}")


if __name__ == "__main__":
    sys.exit(main())
