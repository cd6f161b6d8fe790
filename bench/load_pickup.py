#!/usr/bin/env python3
"""Pickup latency with 10 to 10,000 calls waiting, and pickups per second, against the server.

    python3 bench/load_pickup.py --build build/bench [--quick] [--keep] [--in-flight N]

The SIP side is written here and in bench/sip_agent.py (standard library only) rather than in
SIPp, because a figure needs the time the picker's INVITE left and the time the CANCEL reached
another phone, in one clock. Three user agents live in this process, each on its own UDP socket on 127.0.0.1:

  * the callee, extension 1001 (call group "desk"): REGISTERs (401, then credentials), answers
    every INVITE with 180 and, when the server cancels one, 200 to the CANCEL and 487 to the
    INVITE, and notes when the CANCEL arrived and its Reason;
  * the callers, extensions 20000 and up, one number per waiting call so that each call can be
    recognised on every side: INVITE 1001 with SDP, 407, ACK, INVITE with Proxy-Authorization
    (digest MD5, qop=auth); they ACK every 2xx and answer the BYE that ends the call;
  * the pickers, extensions 1900..1903 (pickup group "desk"): INVITE *8 with SDP, 407, ACK,
    INVITE with credentials, then ACK the 200 and BYE. The picked call is the one whose caller
    the 200's P-Asserted-Identity names; the callee saw the same caller in the From of the
    INVITE it was rung with, which ties the CANCEL to the pickup.

Latency, for W = 10, 1,000 and 10,000 waiting calls (--quick: 10 and 1,000): pickups one at
a time, W kept constant (before each pickup one new call is placed and rings; the server then
has nothing else to do), group pickups (*8) and, fewer, directed ones (**1001). The 407 round
trip of each pickup is not timed: the clock starts when the INVITE with credentials is sent and
stops (a) when its 200 is read on the picker's socket and (b) when the CANCEL is read on the
callee's. Both are read by this process's event loop, so they include its wake-up (tens of
microseconds); every datagram is stamped as it is read, before any is handled. Each pickup is
checked: 200, the caller answered 200, the CANCEL to the rung phone with Reason cause=200
"Call completed elsewhere", and the call picked the oldest waiting one (DESIGN.md §4). The Ws
are measured in rounds (10, 1,000, 10,000, then pipelined pickups back down to 10, four times;
--quick twice), so that a burst of load from elsewhere on the machine falls on every W alike.
Before each pickup an OPTIONS round trip is timed too (stderr only): the same sockets and
wake-ups without any call work, to tell the server's cost from the machine's noise.

Throughput: with a stock of waiting calls (50,000; --quick 10,000), the pickers keep a fixed
number of pickups in flight (32, or --in-flight; each with its own 407 round trip, ACK and BYE)
for 5 s (--quick 1 s) or until the stock runs low; the figure is 200 OKs per second, each pickup
checked as above, and the CPU both sides used says which side was the limit.

--keep keeps the working folder (configuration, database, server log) and names it.

Prints rows for bench/run.py on stdout (JSON lines) and what it sees on stderr. Stops the
server it started by its PID, whatever happens.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import json
import os
import re
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loopback import (LOOPBACK, cpu_ns, free_port, percentile, run_until, server_problems,
                      start_server, stop, wait_udp_bound)
from sip_agent import (Message, challenge_params, credentials, request, response, sdp, tag_of,
                       token, uri_of, user_of)

DOMAIN = "bench.test"
CALLEE, CALLEE_PASSWORD = "1001", "pickup-callee"
PICKERS = ["1900", "1901", "1902", "1903"]
PICKER_PASSWORD = "pickup-picker"
FIRST_CALLER = 20_000
CALLER_PASSWORD = "pickup-caller"
GROUP = "desk"
COMPLETED_ELSEWHERE = re.compile(r'SIP\s*;\s*cause\s*=\s*200\s*;\s*text\s*=\s*"Call completed '
                                 r'elsewhere"', re.IGNORECASE)
SOCKET_BUFFER = 8 << 20  # asked for; the kernel caps it at net.core.rmem_max
GOAL_P99_US = 2000
GOAL_FLATNESS = 1.5


@dataclasses.dataclass(frozen=True)
class Sizes:
    waiting: tuple[int, ...]
    rounds: int            # passes over every W
    samples: int           # timed group pickups (*8) per W, over all rounds
    directed: int          # timed directed pickups (**1001) per W, over all rounds
    stock: int             # waiting calls when the throughput run starts
    seconds: float         # how long pickups are fired for throughput
    in_flight: int         # pickups outstanding at once during the throughput run
    scale: str             # said in the row names


FULL = Sizes(waiting=(10, 1_000, 10_000), rounds=4, samples=2_000, directed=500, stock=50_000,
             seconds=5.0, in_flight=32, scale="")
QUICK = Sizes(waiting=(10, 1_000), rounds=2, samples=300, directed=100, stock=10_000, seconds=1.0,
              in_flight=32, scale=" (quick)")


def log(message: str) -> None:
    print(f"load_pickup: {message}", file=sys.stderr, flush=True)


def now_ns() -> int:
    return time.perf_counter_ns()


# ---- sockets -------------------------------------------------------------------------------------


class Endpoint:
    """One UDP socket on 127.0.0.1 that talks to the server; `handler(message, stamp_ns)`."""

    def __init__(self, server: tuple[str, int], name: str):
        self.name = name
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            self.sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        self.sock.bind((LOOPBACK, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.address = f"{LOOPBACK}:{self.port}"
        self.handler = None

    def send(self, data: bytes) -> int:
        """Sends to the server; returns the time just before the send, in ns."""
        stamp = now_ns()
        self.sock.sendto(data, self.server)
        return stamp

    def close(self) -> None:
        self.sock.close()


class Loop:
    """Reads every socket that has data, stamping each datagram as it is read, then hands them
    to their endpoints: a message that arrives while another is handled keeps its own time."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.unparsable = 0

    def add(self, endpoint: Endpoint) -> None:
        self.selector.register(endpoint.sock, selectors.EVENT_READ, endpoint)

    def pump(self, timeout: float) -> int:
        batch = []
        for key, _ in self.selector.select(timeout):
            endpoint = key.data
            recv = endpoint.sock.recv
            while True:
                try:
                    data = recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionRefusedError:
                    continue  # ICMP for something we sent: the server is gone, seen elsewhere
                batch.append((endpoint, data, now_ns()))
        for endpoint, data, stamp in batch:
            try:
                message = Message(data)
            except (ValueError, IndexError):
                self.unparsable += 1
                continue
            endpoint.handler(message, stamp)
        return len(batch)

    def run_until(self, done, timeout: float, tick=None) -> bool:
        return run_until(self.pump, done, timeout, tick)


# ---- the calls -----------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Call:
    """One call from a caller to 1001, seen from the caller's and the callee's side."""

    number: str                 # the caller's extension: names the call everywhere
    call_id: str
    from_tag: str
    invite: bytes = b""         # the last INVITE sent (resent if nothing came back)
    sent_at: float = 0.0
    cseq: int = 1
    state: str = "challenging"  # challenging -> calling -> ringing -> answered -> ended
    progressed: bool = False    # some response to the INVITE with credentials came
    callee_call_id: str | None = None
    answered_at: int | None = None
    cancel_at: int | None = None
    cancel_reason: str | None = None
    picked_by: "Pickup | None" = None
    ended: bool = False


@dataclasses.dataclass(eq=False)
class CalleeLeg:
    """The INVITE that rang the callee, its 180, and when they came and went."""

    call: Call | None
    invite: Message
    to_tag: str
    ringing: bytes
    arrived_at: int
    answered_at: int = 0  # when our 180 left


@dataclasses.dataclass(eq=False)
class Pickup:
    """One pickup: INVITE *8 (or **N), 407, ACK, INVITE with credentials, 200, ACK, BYE, 200."""

    picker: str
    code: str
    call_id: str
    from_tag: str
    auto: bool                   # send the INVITE with credentials as soon as the 407 comes
    authenticated: bytes = b""   # prepared when the 407 came (auto=False)
    sent_at: int | None = None   # the INVITE with credentials left
    status: int | None = None    # its final response
    answered_at: int | None = None
    call: Call | None = None     # the call it took (P-Asserted-Identity of its 200)
    bye_done: bool = False
    problem: str | None = None


class Phones:
    """The callee, the callers and the pickers, and what each saw."""

    def __init__(self, loop: Loop, server: tuple[str, int], pool: int):
        self.loop = loop
        self.callee = Endpoint(server, "callee")
        self.callers = Endpoint(server, "callers")
        self.pickers = Endpoint(server, "pickers")
        self.callee.handler = self.on_callee
        self.callers.handler = self.on_caller
        self.pickers.handler = self.on_picker
        for endpoint in (self.callee, self.callers, self.pickers):
            loop.add(endpoint)
        self.server_uri = f"sip:{server[0]}:{server[1]}"
        self.pool = pool
        self.next_caller = 0
        self.calls: dict[str, Call] = {}            # caller Call-ID -> call
        self.by_number: dict[str, Call] = {}        # the caller's number -> its current call
        self.callee_legs: dict[str, CalleeLeg] = {}  # the callee's Call-ID -> its leg
        # Rung at the callee and not picked, oldest first: the order the server must take them.
        self.waiting: collections.deque[Call] = collections.deque()
        self.placing: set[Call] = set()             # placed, caller not yet ringing
        self.open_calls = 0                         # placed, neither picked nor failed
        self.pickups: dict[str, Pickup] = {}
        self.probes: dict[str, list] = {}           # OPTIONS Call-ID -> [sent, answered]
        self.problems: list[str] = []
        self.not_oldest = 0
        self.repeated: collections.Counter[str] = collections.Counter()  # retransmissions seen
        self.registered = False
        self.register_state: dict = {}

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)
        log(f"PROBLEM {text}")

    # -- the callee, 1001 --

    def register(self) -> None:
        call_id, tag = token(), token()
        self.register_state = {"call_id": call_id, "tag": tag, "cseq": 1}
        self.callee.send(self.register_request(None))
        if not self.loop.run_until(lambda: self.registered, 5):
            raise RuntimeError("the callee could not register")

    def register_request(self, authorization: str | None) -> bytes:
        state = self.register_state
        headers = [f"Via: SIP/2.0/UDP {self.callee.address};branch=z9hG4bK{token()};rport",
                   f"From: <sip:{CALLEE}@{DOMAIN}>;tag={state['tag']}",
                   f"To: <sip:{CALLEE}@{DOMAIN}>", f"Call-ID: {state['call_id']}",
                   f"CSeq: {state['cseq']} REGISTER",
                   f"Contact: <sip:{CALLEE}@{self.callee.address}>", "Expires: 3600"]
        if authorization:
            headers.append(f"Authorization: {authorization}")
        return request("REGISTER", f"sip:{DOMAIN}", headers)

    def on_callee(self, message: Message, stamp: int) -> None:
        if message.status is not None:
            if message.cseq[1] != "REGISTER":
                return
            if message.status == 401 and self.register_state["cseq"] < 3:
                params = challenge_params(message, "www-authenticate")
                self.register_state["cseq"] += 1
                self.callee.send(self.register_request(
                    credentials(params, CALLEE, CALLEE_PASSWORD, "REGISTER", f"sip:{DOMAIN}")))
            elif message.status == 200:
                self.registered = True
            elif message.status >= 300:
                raise RuntimeError(f"REGISTER answered {message.status}")
            return
        method = message.method
        if method == "INVITE":
            leg = self.callee_legs.get(message.call_id)
            if leg is None:
                number = user_of(message.get("from"))
                call = self.by_number.get(number or "")
                if call is None or call.callee_call_id is not None:
                    self.problem(f"the callee was rung for a call it cannot place: From "
                                 f"{message.get('from')}")
                    call = None
                to_tag = token()
                ringing = response(message, 180, "Ringing", to_tag,
                                   (f"Contact: <sip:{CALLEE}@{self.callee.address}>",))
                leg = CalleeLeg(call, message, to_tag, ringing, stamp)
                self.callee_legs[message.call_id] = leg
                if call is not None:
                    call.callee_call_id = message.call_id
                    self.waiting.append(call)
            else:
                self.repeated["INVITE to the callee"] += 1
                if self.repeated["INVITE to the callee"] <= 3:
                    log(f"the server sent the callee an INVITE again "
                        f"{(stamp - leg.arrived_at) / 1e6:.0f} ms after the first, our 180 to "
                        f"that one left {(leg.answered_at - leg.arrived_at) / 1e6:.1f} ms after "
                        f"it arrived")
            sent = self.callee.send(leg.ringing)
            leg.answered_at = leg.answered_at or sent
        elif method == "CANCEL":
            leg = self.callee_legs.get(message.call_id)
            if leg is None:
                self.callee.send(response(message, 481, "Call/Transaction Does Not Exist"))
                return
            call, to_tag = leg.call, leg.to_tag
            self.callee.send(response(message, 200, "OK", to_tag))
            self.callee.send(response(leg.invite, 487, "Request Terminated", to_tag))
            if call is not None and call.cancel_at is None:
                call.cancel_at = stamp
                call.cancel_reason = message.get("reason")
            elif call is not None:
                self.repeated["CANCEL to the callee"] += 1
        elif method == "ACK":
            self.callee_legs.pop(message.call_id, None)
        else:
            self.callee.send(response(message, 200, "OK"))

    # -- the callers, 20000.. --

    def place(self) -> Call:
        number = str(FIRST_CALLER + self.next_caller % self.pool)
        self.next_caller += 1
        previous = self.by_number.get(number)
        if previous is not None and previous.picked_by is None and previous.state != "ended":
            raise RuntimeError(f"caller {number} still has a call waiting: the pool is too small")
        call = Call(number, token() + "@pickup-caller", token())
        self.calls[call.call_id] = call
        self.by_number[number] = call
        self.placing.add(call)
        self.open_calls += 1
        self.send_invite(call, None)
        return call

    def caller_headers(self, call: Call, cseq: int, method: str, branch: str,
                       to_tag: str | None = None) -> list[str]:
        to = f"<sip:{CALLEE}@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
        return [f"Via: SIP/2.0/UDP {self.callers.address};branch={branch};rport",
                f"From: <sip:{call.number}@{DOMAIN}>;tag={call.from_tag}", f"To: {to}",
                f"Call-ID: {call.call_id}", f"CSeq: {cseq} {method}"]

    def send_invite(self, call: Call, authorization: str | None) -> None:
        uri = f"sip:{CALLEE}@{DOMAIN}"
        headers = self.caller_headers(call, call.cseq, "INVITE", f"z9hG4bK{token()}")
        headers.append(f"Contact: <sip:{call.number}@{self.callers.address}>")
        if authorization:
            headers.append(f"Proxy-Authorization: {authorization}")
        call.invite = request("INVITE", uri, headers,
                              sdp(int(call.number), 20_000 + 2 * (int(call.number) % 20_000)))
        call.sent_at = time.monotonic()
        self.callers.send(call.invite)

    def resend_stuck(self) -> None:
        """UDP without retransmission: an INVITE with no answer for a second is sent again."""
        limit = time.monotonic() - 1.0
        for call in self.placing:
            if not call.progressed and call.sent_at < limit:
                call.sent_at = time.monotonic()
                self.callers.send(call.invite)

    def on_caller(self, message: Message, stamp: int) -> None:
        call = self.calls.get(message.call_id)
        if call is None:
            if message.method is not None and message.method != "ACK":
                self.callers.send(response(message, 481, "Call/Transaction Does Not Exist"))
            return
        if message.method is not None:
            if message.method == "BYE":
                self.callers.send(response(message, 200, "OK"))
                call.ended = True
                self.calls.pop(call.call_id, None)
            elif message.method != "ACK":
                self.callers.send(response(message, 200, "OK"))
            return
        cseq, method = message.cseq
        if method != "INVITE" or message.status < 101:
            return
        status = message.status
        if status == 407 and call.state == "challenging" and cseq == call.cseq:
            self.ack_failure(self.callers, message, self.caller_headers, call)
            params = challenge_params(message, "proxy-authenticate")
            call.cseq += 1
            call.state = "calling"
            self.send_invite(call, credentials(params, call.number, CALLER_PASSWORD, "INVITE",
                                               f"sip:{CALLEE}@{DOMAIN}"))
            return
        if cseq != call.cseq:
            return
        call.progressed = True
        if status < 200:
            if call.state == "calling":
                call.state = "ringing"
                self.placing.discard(call)
            return
        if status < 300:
            # Every 2xx is acknowledged, retransmissions too (RFC 3261 §13.2.2.4).
            to_tag = tag_of(message.get("to"))
            target = uri_of(message.get("contact")) or self.server_uri
            headers = self.caller_headers(call, cseq, "ACK", f"z9hG4bK{token()}", to_tag)
            self.callers.send(request("ACK", target, headers))
            if call.answered_at is None:
                call.answered_at = stamp
                call.state = "answered"
            else:
                self.repeated["200 to a caller"] += 1
            return
        self.ack_failure(self.callers, message, self.caller_headers, call)
        self.placing.discard(call)
        if call.state != "ended":
            self.open_calls -= 1
            if call in self.waiting:
                self.waiting.remove(call)
        call.state = "ended"
        self.problem(f"call from {call.number} answered {status} "
                     f"{message.get('warning') or ''}".rstrip())

    def ack_failure(self, endpoint: Endpoint, message: Message, headers_of, owner) -> None:
        """The ACK of a non-2xx final response: same branch as the INVITE (RFC 3261 §17.1.1.3)."""
        via = message.get("via") or ""
        branch = re.search(r"branch=([^;,\s]+)", via)
        cseq, _ = message.cseq
        headers = headers_of(owner, cseq, "ACK", branch.group(1) if branch else token(),
                             tag_of(message.get("to")))
        uri = (f"sip:{CALLEE}@{DOMAIN}" if isinstance(owner, Call)
               else f"sip:{owner.code}@{DOMAIN}")
        endpoint.send(request("ACK", uri, headers))

    # -- the pickers, 1900.. --

    def picker_headers(self, pickup: Pickup, cseq: int, method: str, branch: str,
                       to_tag: str | None = None) -> list[str]:
        to = f"<sip:{pickup.code}@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
        return [f"Via: SIP/2.0/UDP {self.pickers.address};branch={branch};rport",
                f"From: <sip:{pickup.picker}@{DOMAIN}>;tag={pickup.from_tag}", f"To: {to}",
                f"Call-ID: {pickup.call_id}", f"CSeq: {cseq} {method}"]

    def picker_invite(self, pickup: Pickup, cseq: int, authorization: str | None) -> bytes:
        headers = self.picker_headers(pickup, cseq, "INVITE", f"z9hG4bK{token()}")
        headers.append(f"Contact: <sip:{pickup.picker}@{self.pickers.address}>")
        if authorization:
            headers.append(f"Proxy-Authorization: {authorization}")
        return request("INVITE", f"sip:{pickup.code}@{DOMAIN}", headers, sdp(1900, 40_000))

    def begin_pickup(self, picker: str, code: str, auto: bool) -> Pickup:
        pickup = Pickup(picker, code, token() + "@pickup-picker", token(), auto)
        self.pickups[pickup.call_id] = pickup
        self.pickers.send(self.picker_invite(pickup, 1, None))
        return pickup

    def probe(self) -> str:
        """OPTIONS from the pickers' socket: the server's answer needs no call state, so its
        round trip says what the loopback, the wake-ups and the machine's load cost."""
        call_id = token() + "@pickup-probe"
        headers = [f"Via: SIP/2.0/UDP {self.pickers.address};branch=z9hG4bK{token()};rport",
                   f"From: <sip:{PICKERS[0]}@{DOMAIN}>;tag={token()}",
                   f"To: <sip:{DOMAIN}>", f"Call-ID: {call_id}", "CSeq: 1 OPTIONS"]
        self.probes[call_id] = [self.pickers.send(request("OPTIONS", f"sip:{DOMAIN}", headers)),
                                None]
        return call_id

    def fire(self, pickup: Pickup) -> None:
        pickup.sent_at = self.pickers.send(pickup.authenticated)

    def on_picker(self, message: Message, stamp: int) -> None:
        pickup = self.pickups.get(message.call_id)
        if pickup is None and message.call_id in self.probes:
            if message.status is not None and message.status >= 200:
                self.probes[message.call_id][1] = stamp
            return
        if message.method is not None:
            if message.method != "ACK":
                self.pickers.send(response(message, 200 if pickup else 481,
                                           "OK" if pickup else "Call/Transaction Does Not Exist"))
            return
        if pickup is None:
            return
        cseq, method = message.cseq
        status = message.status
        if method == "BYE":
            if status >= 200:
                pickup.bye_done = True
                if status != 200:
                    pickup.problem = f"BYE answered {status}"
                self.pickups.pop(pickup.call_id, None)
            return
        if method != "INVITE" or status < 200:
            return
        if cseq == 1:
            if status != 407:
                pickup.status = status
                pickup.problem = f"first INVITE answered {status}, not 407"
                return
            self.ack_failure(self.pickers, message, self.picker_headers, pickup)
            params = challenge_params(message, "proxy-authenticate")
            uri = f"sip:{pickup.code}@{DOMAIN}"
            pickup.authenticated = self.picker_invite(
                pickup, 2, credentials(params, pickup.picker, PICKER_PASSWORD, "INVITE", uri))
            if pickup.auto:
                self.fire(pickup)
            return
        if status < 300:
            to_tag = tag_of(message.get("to"))
            contact = uri_of(message.get("contact")) or self.server_uri
            self.pickers.send(request("ACK", contact, self.picker_headers(
                pickup, cseq, "ACK", f"z9hG4bK{token()}", to_tag)))
            if pickup.status is not None:
                self.repeated["200 to a picker"] += 1
                return  # a retransmission, acknowledged again
            pickup.status, pickup.answered_at = status, stamp
            self.on_picked(pickup, message)
            self.pickers.send(request("BYE", contact, self.picker_headers(
                pickup, cseq + 1, "BYE", f"z9hG4bK{token()}", to_tag)))
            return
        if pickup.status is None:
            self.ack_failure(self.pickers, message, self.picker_headers, pickup)
            pickup.status = status
            pickup.problem = (f"pickup answered {status} "
                              f"{(message.get('reason') or message.get('warning') or '')}")
            self.pickups.pop(pickup.call_id, None)

    def on_picked(self, pickup: Pickup, ok: Message) -> None:
        """The server chose a call: the 200's P-Asserted-Identity names its caller."""
        number = user_of(ok.get("p-asserted-identity"))
        call = self.by_number.get(number or "")
        if call is None or call.picked_by is not None:
            pickup.problem = (f"200 names caller {number}, which has no waiting call "
                              f"(P-Asserted-Identity: {ok.get('p-asserted-identity')})")
            return
        call.picked_by = pickup
        pickup.call = call
        self.open_calls -= 1
        if self.waiting and self.waiting[0] is call:
            self.waiting.popleft()
            return
        try:
            self.waiting.remove(call)
        except ValueError:
            pickup.problem = f"caller {number}'s call was picked before it rang the callee"
            return
        self.not_oldest += 1
        if self.not_oldest <= 5:
            self.problem(f"pickup took caller {number}'s call, not the oldest waiting one "
                         f"({self.waiting[0].number if self.waiting else '-'})")

    # -- checks --

    def pickup_complete(self, pickup: Pickup) -> bool:
        """Everything a pickup should cause has arrived (or it failed)."""
        if pickup.problem or (pickup.status is not None and pickup.status != 200):
            return True
        call = pickup.call
        return (pickup.status == 200 and pickup.bye_done and call is not None
                and call.cancel_at is not None and call.answered_at is not None and call.ended)

    def pickup_fault(self, pickup: Pickup) -> str | None:
        """What went wrong with a pickup, once it is complete (or given up on)."""
        if pickup.problem:
            return pickup.problem
        if pickup.status is None:
            return "no final response to the pickup INVITE" + (
                "" if pickup.sent_at is not None else " (no 407 to its first INVITE)")
        if pickup.status != 200:
            return f"pickup answered {pickup.status}"
        call = pickup.call
        if call is None:
            return "200 without a call"
        if call.cancel_at is None:
            return f"no CANCEL reached the callee for caller {call.number}'s call"
        if not COMPLETED_ELSEWHERE.search(call.cancel_reason or ""):
            return f"CANCEL without Reason cause=200 (Reason: {call.cancel_reason})"
        if call.answered_at is None:
            return f"caller {call.number} got no 200"
        if not pickup.bye_done:
            return "the picker's BYE was not answered"
        if not call.ended:
            return f"caller {call.number} got no BYE after the picker hung up"
        return None

    def forget(self, pickup: Pickup) -> None:
        self.pickups.pop(pickup.call_id, None)
        if pickup.call is not None:
            self.calls.pop(pickup.call.call_id, None)


# ---- the server ----------------------------------------------------------------------------------


def write_config(workdir: Path, port: int, callers: int) -> Path:
    lines = ["log_level: warn", "sip:", f"  listen: [\"udp:{LOOPBACK}:{port}\"]",
             f"  domain: {DOMAIN}", "  no_answer_timeout: 10m", "  timers: {t1: 500ms}",
             "registrar: {min_expires: 60s}", f"storage: {{path: {workdir / 'catchline.db'}}}",
             "extensions:",
             f"  - {{number: \"{CALLEE}\", password: \"{CALLEE_PASSWORD}\", "
             f"call_groups: [{GROUP}]}}"]
    lines += [f"  - {{number: \"{picker}\", password: \"{PICKER_PASSWORD}\", "
              f"pickup_groups: [{GROUP}]}}" for picker in PICKERS]
    lines += [f"  - {{number: \"{FIRST_CALLER + i}\", password: \"{CALLER_PASSWORD}\"}}"
              for i in range(callers)]
    config = workdir / "catchline.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def raise_open_files() -> None:
    """Our own soft limit up to the hard one; the server inherits it (nothing system-wide)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_memory_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


# ---- the measures --------------------------------------------------------------------------------


def summary(values_ns: list[int]) -> dict[str, float]:
    return {"min": min(values_ns) / 1000, "median": percentile(values_ns, 0.5) / 1000,
            "p99": percentile(values_ns, 0.99) / 1000, "max": max(values_ns) / 1000}


class PickupBench:
    def __init__(self, phones: Phones, loop: Loop, server: subprocess.Popen):
        self.phones = phones
        self.loop = loop
        self.server = server
        self.failures = 0
        self.picker_turn = 0

    def alive(self) -> None:
        if self.server.poll() is not None:
            raise RuntimeError(f"the server exited with {self.server.returncode}")

    def next_picker(self) -> str:
        self.picker_turn += 1
        return PICKERS[self.picker_turn % len(PICKERS)]

    def fill(self, target: int, window: int = 200, timeout: float = 120) -> None:
        """Places calls until `target` ring the callee and every one placed rings the caller."""
        phones = self.phones
        started = time.monotonic()
        deadline = started + timeout
        while phones.open_calls < target or phones.placing:
            while phones.open_calls < target and len(phones.placing) < window:
                phones.place()
            self.loop.pump(0.05)
            phones.resend_stuck()
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not have {target} calls waiting in {timeout:.0f} s: "
                                   f"{len(phones.waiting)} ring, {len(phones.placing)} still "
                                   f"being placed")
            self.alive()
        if len(phones.waiting) != target:
            raise RuntimeError(f"{len(phones.waiting)} calls wait, {target} wanted")
        elapsed = time.monotonic() - started
        log(f"{target:,} calls waiting ({elapsed:.1f} s to place them), server RSS "
            f"{server_memory_kib(self.server.pid) / 1024:.0f} MiB")

    def latency(self, waiting: int, samples: int,
                code: str = "*8") -> tuple[list[int], list[int], list[int]]:
        """`samples` pickups one at a time with `waiting` calls waiting before each, each after
        an OPTIONS round trip (the reference: the same path with no call work)."""
        phones = self.phones
        self.fill(waiting)
        to_ok: list[int] = []
        to_cancel: list[int] = []
        options: list[int] = []
        gc.collect()
        gc.disable()  # a collection inside a timed pickup would be ours, not the server's
        try:
            for index in range(samples):
                if index:
                    self.fill_one(waiting)
                probe = phones.probe()
                if self.loop.run_until(lambda: phones.probes[probe][1] is not None, 2):
                    sent, answered = phones.probes.pop(probe)
                    options.append(answered - sent)
                else:
                    phones.problem("an OPTIONS got no answer within 2 s")
                pickup = phones.begin_pickup(self.next_picker(), code, auto=False)
                if not self.loop.run_until(
                        lambda: pickup.authenticated or pickup.status is not None, 2):
                    self.fail(pickup, "no 407 to the pickup INVITE within 2 s")
                    continue
                if not pickup.authenticated:
                    self.fail(pickup, phones.pickup_fault(pickup) or "no challenge")
                    continue
                phones.fire(pickup)
                self.loop.run_until(lambda: phones.pickup_complete(pickup), 3)
                fault = phones.pickup_fault(pickup)
                if fault:
                    self.fail(pickup, fault)
                    continue
                to_ok.append(pickup.answered_at - pickup.sent_at)
                to_cancel.append(pickup.call.cancel_at - pickup.sent_at)
                phones.forget(pickup)
                if index % 200 == 199:
                    self.alive()
        finally:
            gc.enable()
        if len(to_ok) < samples // 2:
            raise RuntimeError(f"only {len(to_ok)} of {samples} pickups with {waiting} waiting "
                               f"succeeded")
        return to_ok, to_cancel, options

    def fill_one(self, waiting: int) -> None:
        phones = self.phones
        while phones.open_calls < waiting:
            phones.place()
        if not self.loop.run_until(lambda: not phones.placing and len(phones.waiting) >= waiting,
                                   3, phones.resend_stuck):
            raise RuntimeError(f"a new call did not ring within 3 s ({len(phones.placing)} "
                               f"being placed, {len(phones.waiting)} waiting)")

    def fail(self, pickup: Pickup, why: str) -> None:
        self.failures += 1
        call = pickup.call
        self.phones.problem(f"pickup by {pickup.picker} ({pickup.code}) failed: {why}"
                            + (f" [caller {call.number}]" if call else ""))
        if self.failures > 20:
            raise RuntimeError("more than 20 failed pickups: giving up")
        # Let whatever is still on its way arrive before the next pickup is timed.
        self.loop.run_until(lambda: False, 0.5)
        self.phones.pickups.pop(pickup.call_id, None)

    def pick_many(self, floor: int, in_flight: int, seconds: float = 600,
                  what: str = "throughput") -> dict:
        """Pickups kept `in_flight` at once until `floor` calls are left waiting or `seconds`
        have passed; each checked as the timed ones are."""
        phones = self.phones
        active: list[Pickup] = []
        done: list[Pickup] = []
        gc.collect()
        gc.disable()
        server_before, ours_before = cpu_ns(self.server.pid), time.process_time_ns()
        started = now_ns()
        deadline = started + int(seconds * 1e9)
        try:
            while now_ns() < deadline and len(phones.waiting) > floor:
                still = []
                for pickup in active:
                    (done if pickup.status is not None else still).append(pickup)
                active = still
                while len(active) < in_flight and len(phones.waiting) - len(active) > floor:
                    active.append(phones.begin_pickup(self.next_picker(), "*8", auto=True))
                self.loop.pump(0.05)
            stopped = now_ns()
            server_used = cpu_ns(self.server.pid) - server_before
            ours_used = time.process_time_ns() - ours_before
            # The pickups still in flight finish, then everything they caused arrives.
            everything = done + active
            pending = everything

            def finished() -> bool:
                nonlocal pending
                pending = [p for p in pending if not phones.pickup_complete(p)]
                return not pending

            self.loop.run_until(finished, 5)
        finally:
            gc.enable()
        answered = [p for p in everything if p.status == 200 and p.answered_at <= stopped]
        faults = [(p, phones.pickup_fault(p)) for p in everything]
        faults = [(p, f) for p, f in faults if f]
        for pickup, fault in faults[:10]:
            phones.problem(f"{what} pickup by {pickup.picker} failed: {fault}")
        self.failures += len(faults)
        elapsed = (stopped - started) / 1e9
        latencies = [p.answered_at - p.sent_at for p in answered]
        for pickup in everything:
            phones.forget(pickup)
        return {"rate": len(answered) / elapsed, "pickups": len(everything),
                "answered": len(answered), "failed": len(faults), "elapsed": elapsed,
                "server_core": server_used / 1e9 / elapsed, "our_core": ours_used / 1e9 / elapsed,
                "latency": summary(latencies) if latencies else None,
                "waiting_left": len(phones.waiting)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working folder and name it")
    parser.add_argument("--in-flight", type=int, help="pickups outstanding in the throughput run")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    in_flight = args.in_flight or sizes.in_flight
    binary = args.build.resolve() / "app" / "catchline"
    if not binary.is_file():
        log(f"no server binary at {binary}")
        return 1
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} CPUs at the start")

    raise_open_files()
    workdir = Path(tempfile.mkdtemp(prefix="catchline-pickup-"))
    port = free_port()
    # One number per call that can be waiting at once, and some to spare.
    pool = max(max(sizes.waiting), sizes.stock) + 2 * in_flight + 100
    config = write_config(workdir, port, pool)
    server_log = workdir / "catchline.log"
    results: dict = {}
    phones = None
    server = None
    problems: list[str] = []
    try:
        server = start_server(binary, config, workdir, server_log)
        started = time.monotonic()
        wait_udp_bound(port, timeout=60)
        log(f"server pid {server.pid} listening on udp {LOOPBACK}:{port} after "
            f"{time.monotonic() - started:.2f} s ({pool:,} caller extensions configured)")
        loop = Loop()
        phones = Phones(loop, (LOOPBACK, port), pool)
        bench = PickupBench(phones, loop, server)
        phones.register()
        time.sleep(0.2)
        codes = (("*8", sizes.samples), (f"**{CALLEE}", sizes.directed))
        timed: dict = {(w, code): ([], [], []) for w in sizes.waiting for code, _ in codes}
        # Rounds 10 -> 1,000 -> 10,000, then pickups back down to 10: a burst of load from
        # elsewhere on the machine falls on every W alike instead of on one of them.
        for round_number in range(sizes.rounds):
            for waiting in sizes.waiting:
                for code, samples in codes:
                    for into, values in zip(timed[(waiting, code)],
                                            bench.latency(waiting, samples // sizes.rounds, code)):
                        into.extend(values)
            if round_number + 1 < sizes.rounds:
                drain = bench.pick_many(sizes.waiting[0], in_flight, what="drain")
                log(f"round {round_number + 1} done; {drain['answered']:,} pickups back down "
                    f"to {sizes.waiting[0]} waiting ({drain['rate']:,.0f}/s)")
        for (waiting, code), (to_ok, to_cancel, options) in timed.items():
            ok, cancel, probe = summary(to_ok), summary(to_cancel), summary(options)
            results[(waiting, code)] = {"ok": ok, "cancel": cancel}
            log(f"W={waiting:,} {code}: {len(to_ok)} pickups; INVITE -> 200 min "
                f"{ok['min']:.0f} median {ok['median']:.0f} p99 {ok['p99']:.0f} max "
                f"{ok['max']:.0f} us; INVITE -> CANCEL min {cancel['min']:.0f} median "
                f"{cancel['median']:.0f} p99 {cancel['p99']:.0f} max {cancel['max']:.0f} us; "
                f"reference OPTIONS -> 200 just before each: median {probe['median']:.0f} p99 "
                f"{probe['p99']:.0f} max {probe['max']:.0f} us")
        bench.fill(sizes.stock)
        run = bench.pick_many(in_flight + 10, in_flight, sizes.seconds)
        results["throughput"] = run
        # Whichever side used more of its core (one thread each, mostly): the ping-pong keeps
        # both below a full core, the other waiting for it.
        limit = "the server" if run["server_core"] >= run["our_core"] else "the Python phones"
        if max(run["server_core"], run["our_core"]) < 0.8:
            limit = "other load on the machine, neither side reached 0.8 core"
        run["limit"] = limit
        log(f"throughput: {run['answered']:,} pickups answered in {run['elapsed']:.2f} s = "
            f"{run['rate']:,.0f}/s with {in_flight} in flight, {run['failed']} failed; "
            f"server {run['server_core']:.2f} core, these phones {run['our_core']:.2f} core "
            f"(limit: {limit}); {run['waiting_left']:,} calls still waiting"
            + (f"; INVITE -> 200 under load median {run['latency']['median']:.0f} p99 "
               f"{run['latency']['p99']:.0f} us" if run["latency"] else ""))
        # Taking another call than the oldest breaks DESIGN.md §4 as much as a failure does.
        results["failures"] = bench.failures + phones.not_oldest
        problems = list(phones.problems)
        if phones.not_oldest:
            log(f"PROBLEM {phones.not_oldest} pickups did not take the oldest waiting call")
        for what, count in sorted(phones.repeated.items()):
            problems.append(f"{count} retransmitted {what} seen")
            log(f"PROBLEM the server retransmitted {what} {count} times")
        if loop.unparsable:
            problems.append(f"{loop.unparsable} datagrams could not be parsed")
            log(f"PROBLEM {loop.unparsable} datagrams could not be parsed")
    except (RuntimeError, OSError) as error:
        log(f"FAILED {error}")
        return 1
    finally:
        if server is not None:
            stop(server, "the server", log)
            log(f"server stopped (exit {server.returncode})")
        if phones is not None:
            for endpoint in (phones.callee, phones.callers, phones.pickers):
                endpoint.close()
        for line in server_problems(server_log)[:10]:
            log(f"server said: {line}")
        if args.keep:
            log(f"working folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    if problems:
        log(f"{len(problems)} problems, each logged above as PROBLEM")
    print_rows(results, sizes, in_flight)
    return 0


WHAT = (("ok", "INVITE -> 200"), ("cancel", "INVITE -> CANCEL at the rung phone"))


def print_rows(results: dict, sizes: Sizes, in_flight: int) -> None:
    rows = []
    goal = f"< {GOAL_P99_US} µs"
    for waiting in sizes.waiting:
        count = f"{waiting:,} waiting, kept constant{sizes.scale}"
        for key, what in WHAT:
            values = results[(waiting, "*8")][key]
            rows.append({"name": f"pickup latency p99, {count} ({what})",
                         "value": round(values["p99"]), "unit": "µs", "goal": goal,
                         "met": values["p99"] < GOAL_P99_US})
            rows.append({"name": f"pickup latency median, {count} ({what})",
                         "value": round(values["median"]), "unit": "µs", "goal": ""})
            rows.append({"name": f"pickup latency min, {count} ({what})",
                         "value": round(values["min"]), "unit": "µs", "goal": ""})
        for key, what in WHAT:
            values = results[(waiting, f"**{CALLEE}")][key]
            rows.append({"name": f"directed pickup (**{CALLEE}) latency p99, {count} ({what})",
                         "value": round(values["p99"]), "unit": "µs", "goal": goal,
                         "met": values["p99"] < GOAL_P99_US})
    low, high = sizes.waiting[0], sizes.waiting[-1]
    for key, what in (("ok", "INVITE -> 200"), ("cancel", "INVITE -> CANCEL")):
        value = results[(high, "*8")][key]["p99"]
        baseline = results[(low, "*8")][key]["p99"]
        ratio = value / baseline if baseline else None
        rows.append({"name": f"pickup latency flatness: p99 at {high:,} waiting over p99 at "
                             f"{low:,}{sizes.scale} ({what})",
                     "value": round(value), "unit": "µs", "baseline": round(baseline),
                     "ratio": round(ratio, 2) if ratio is not None else None,
                     "goal": f"ratio <= {GOAL_FLATNESS}",
                     "met": ratio is not None and ratio <= GOAL_FLATNESS})
    run = results["throughput"]
    rows.append({"name": f"pickups/s sustained, {run['elapsed']:.0f} s, {in_flight} in "
                         f"flight, {sizes.stock:,} waiting at the start{sizes.scale} "
                         f"(limit: {run['limit']})",
                 "value": round(run["rate"]), "unit": "pickups/s", "goal": "no failure",
                 "met": run["failed"] == 0})
    rows.append({"name": f"failed pickups or not the oldest call, every phase (timed, back down, "
                         f"sustained){sizes.scale}",
                 "value": results["failures"], "unit": "pickups", "goal": "0",
                 "met": results["failures"] == 0})
    for row in rows:
        row.setdefault("baseline", None)
        row.setdefault("ratio", None)
        print(json.dumps(row))


if __name__ == "__main__":
    sys.exit(main())
