"""The call server's dialogs and its edges, against the real server with SIPp phones and raw UDP
(RFC 3261 §8.2, §12.2, §14, §16.3, §18.2; RFC 3311 UPDATE; RFC 6086 INFO; RFC 3264 §8.4 hold):

- in-dialog requests after the answer are relayed to the other leg and their answers come back:
  a hold re-INVITE (a=sendonly, answered a=recvonly; the media relay, on by default, writes each
  leg's SDP with its own o= line, one version up), UPDATE, an INFO sent by the callee (its
  body untouched: not SDP), and the callee's BYE; each leg has its own Call-ID (B2BUA) and CSeq
  numbers that rise;
- Max-Forwards: 0 on an authenticated INVITE gets 483, and the callee's INVITE carries one less
  Max-Forwards than the caller's;
- SIGHUP reloads extensions and passwords while a call goes on, and a broken file is refused
  with its file:line while the server keeps the running configuration;
- a malformed request gets 400 with a reason naming the fault (a NUL in a header value: the
  header, and no NUL in the answer), a garbage datagram gets nothing and the server goes on
  serving;
- OPTIONS without credentials gets 200 with Allow, Accept and Supported.

Usage: test_dialogs.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import os
import re
import signal
import socket
import time

import harness

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret")
BOB_NEW = ("1002", "Bob Builder", "bob-new-secret")
CAROL = ("1003", "Carol Added", "carol-secret")


class Bench:
    """The server (1001 and 1002 at start), Bob's registered phone, and the runs so far."""

    def __init__(self, procs, binary):
        self.procs = procs
        self.binary = binary
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.config, self.database = self.write_config([ALICE, BOB])
        self.server = harness.start_catchline(procs, binary, self.config)
        self.bob = None
        self.runs = 0

    def write_config(self, extensions):
        return harness.write_server_config(self.procs.workdir, self.udp, self.tcp, extensions,
                                           domain=DOMAIN, no_answer_timeout="10s")

    def name(self, what):
        self.runs += 1
        return f"{self.runs:02d}-{what}"

    def log(self):
        return self.procs.log_of(self.server)

    def caller(self, scenario, callee, what, **variables):
        variables.update({"caller": ALICE[0], "callee": callee, "domain": DOMAIN})
        return harness.Sipp(self.procs, harness.scenario(scenario), self.udp,
                            harness.free_port(), self.name(what), variables,
                            extra=["-au", ALICE[0], "-ap", ALICE[2]])

    def register_refused(self, number, password, what):
        """register_refused.xml with these credentials; returns the final status it logged."""
        port = harness.free_port()
        run = harness.Sipp(self.procs, harness.scenario("register_refused.xml"), self.udp, port,
                           self.name(what),
                           {"user": number, "contact": f"<sip:{number}@127.0.0.1:{port}>",
                            "expires": 3600, "cseq": 1, "cseq2": 2},
                           extra=["-au", number, "-ap", password])
        run.expect_success(what)
        return run.value("status"), run.value("reason")


# ---- raw UDP: what SIPp cannot send ----

def udp_exchange(server_port, build, timeout=1.0):
    """Sends `build(local_port)` (bytes) from a fresh loopback socket; returns the datagrams that
    came back within `timeout` seconds after the last one (100 Trying is not final)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((harness.LOOPBACK, 0))
        s.sendto(build(s.getsockname()[1]), (harness.LOOPBACK, server_port))
        received = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return received
            s.settimeout(left)
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                return received
            received.append(data.decode(errors="replace"))
            if not data.startswith(b"SIP/2.0 1"):
                return received


def status_line(message):
    return message.split("\r\n", 1)[0]


def headers_of(message):
    """{lower-case name: [values]} of a response's headers (compact forms not expanded)."""
    found = {}
    for line in message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        name, _, value = line.partition(":")
        found.setdefault(name.strip().lower(), []).append(value.strip())
    return found


def request_text(method, local_port, server_port, lines_override=None, drop=()):
    """A request from 127.0.0.1:`local_port`, with a fresh branch, tag and Call-ID; header lines
    named in `drop` are left out and `lines_override` replaces whole lines by name."""
    tag = f"{local_port}{int(time.monotonic() * 1000) % 100000}"
    headers = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK-raw-{tag}"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:{ALICE[0]}@{DOMAIN}>;tag=raw{tag}"),
        ("To", f"<sip:{BOB[0]}@{DOMAIN}>" if method != "OPTIONS" else f"<sip:{DOMAIN}>"),
        ("Call-ID", f"raw-{tag}@127.0.0.1"),
        ("CSeq", f"1 {method}"),
        ("Contact", f"<sip:{ALICE[0]}@127.0.0.1:{local_port}>"),
        ("Content-Length", "0"),
    ]
    uri = f"sip:{BOB[0]}@127.0.0.1:{server_port}" if method != "OPTIONS" \
        else f"sip:127.0.0.1:{server_port}"
    lines = [f"{method} {uri} SIP/2.0"]
    for name, value in headers:
        if name in drop:
            continue
        value = (lines_override or {}).get(name, value)
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def options(bench):
    """Sends OPTIONS (no credentials) and returns the final response text, or None."""
    got = udp_exchange(bench.udp, lambda port: request_text("OPTIONS", port, bench.udp))
    finals = [m for m in got if not m.startswith("SIP/2.0 1")]
    return finals[-1] if finals else None


# ---- 5. OPTIONS ----

def check_options(bench):
    response = options(bench)
    harness.check(response is not None, "no answer to OPTIONS")
    harness.check(status_line(response).startswith("SIP/2.0 200"),
                  f"OPTIONS answered {status_line(response)!r}")
    headers = headers_of(response)
    allow = ",".join(headers.get("allow", [])).replace(" ", "").upper().split(",")
    for method in ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "INFO"):
        harness.check(method in allow, f"Allow {headers.get('allow')} lacks {method}")
    harness.check(any("application/sdp" in v for v in headers.get("accept", [])),
                  f"Accept is {headers.get('accept')}")
    harness.check("supported" in headers, "no Supported header in the 200 to OPTIONS")


# ---- 4. malformed requests and garbage ----

def expect_400(bench, what, data_builder, fault_words, branch):
    got = udp_exchange(bench.udp, data_builder)
    finals = [m for m in got if not m.startswith("SIP/2.0 1")]
    harness.check(finals, f"{what}: no answer at all (RFC 3261 §8.2.2 / §16.3: 400)")
    line = status_line(finals[-1])
    harness.check(line.startswith("SIP/2.0 400 "),
                  f"{what}: answered {line!r}, expected 400 (RFC 3261 §21.4.1)")
    reason = line[len("SIP/2.0 400 "):]
    harness.check(any(w.lower() in reason.lower() for w in fault_words),
                  f"{what}: reason phrase {reason!r} does not name {fault_words}")
    # The client must be able to match it (RFC 3261 §17.1.3: top Via branch and CSeq method),
    # and a final response carries a To tag (§8.2.6.2).
    headers = headers_of(finals[-1])
    harness.check(any(f"branch={branch}" in v for v in headers.get("via", [])[:1]),
                  f"{what}: 400 top Via {headers.get('via')} lacks branch={branch}")
    harness.check(headers.get("cseq", [""])[0].endswith("INVITE"),
                  f"{what}: 400 CSeq {headers.get('cseq')} is not the INVITE's")
    harness.check(";tag=" in headers.get("to", [""])[0], f"{what}: 400 To has no tag")
    return finals[-1]


def check_missing_cseq(bench):
    expect_400(bench, "INVITE without CSeq",
               lambda port: request_text("INVITE", port, bench.udp, drop=("CSeq",)), ["CSeq"],
               "z9hG4bK-raw-")


def check_bad_via_port(bench):
    # The answer goes to where the request came from: the Via's port is unusable (§18.2.2).
    expect_400(bench, "INVITE with Via port 99999",
               lambda port: request_text("INVITE", port, bench.udp, lines_override={
                   "Via": "SIP/2.0/UDP 127.0.0.1:99999;rport;branch=z9hG4bK-badport"}),
               ["Via", "port"], "z9hG4bK-badport")


def check_nul_in_header_value(bench):
    # RFC 3261 §25.1: a header value holds no control character but HTAB (and folds).
    cases = [
        ("INVITE with a NUL in Subject", "Subject",
         lambda port: request_text("INVITE", port, bench.udp).replace(
             b"\r\nContent-Length:", b"\r\nSubject: lunch\x00at noon\r\nContent-Length:")),
        ("INVITE with a NUL in the From display name", "From",
         lambda port: request_text("INVITE", port, bench.udp, lines_override={
             "From": f'"Al\x00ice" <sip:{ALICE[0]}@{DOMAIN}>;tag=nul{port}'})),
    ]
    for what, header, build in cases:
        response = expect_400(bench, what, build, [f"{header}: control character"],
                              "z9hG4bK-raw-")
        # The reason names the fault, never the byte; no copied header carries it back.
        harness.check("\x00" not in response, f"{what}: the 400 holds a NUL: {response!r}")


def check_garbage_then_options(bench):
    for garbage in (b"\x00\x01\x02 not sip at all\r\n\r\n", b"HELLO\r\n\r\n",
                    b"INVITE\r\n\r\n", b"\r\n" * 3 + b"\xff" * 40):
        got = udp_exchange(bench.udp, lambda port, g=garbage: g, timeout=0.4)
        harness.check(not got, f"garbage {garbage[:20]!r} drew an answer: {got[:1]}")
    harness.check(bench.server.poll() is None, "the server exited after garbage")
    response = options(bench)
    harness.check(response is not None and status_line(response).startswith("SIP/2.0 200"),
                  f"OPTIONS after garbage: {response and status_line(response)!r}")


# ---- 2. Max-Forwards ----

def check_max_forwards_zero(bench):
    # Bob has no registration yet: an INVITE let through would get 480, not 483.
    alice = bench.caller("uac_invite_max_forwards.xml", BOB[0], "alice-max-forwards-0",
                         max_forwards=0)
    alice.expect_success("caller with Max-Forwards: 0")
    harness.check(alice.value("status") == "483",
                  f"Max-Forwards: 0 with credentials: got {alice.value('status')} "
                  f"{alice.value('reason')}, expected 483 (RFC 3261 §16.3 step 3)")


# ---- 1. in-dialog relay (and 2: Max-Forwards decremented) ----

def check_in_dialog_relay(bench):
    bench.bob = harness.register(bench.procs, bench.udp, BOB[0], BOB[2], bench.name("bob"))
    bob = harness.phone(bench.procs, "uas_answer_dialog.xml", bench.bob.local_port,
                        bench.name("bob-dialog"))
    alice = bench.caller("uac_call_dialog.xml", BOB[0], "alice-dialog", max_forwards=10)
    alice_code = alice.wait()
    bob_code = bob.wait()
    a, b = alice.value, bob.value
    problems = []
    if alice_code[0] != 0 or alice_code[1] != 1:
        problems.append(f"caller scenario failed: {alice.error_text()[-800:]}")
    if bob_code[0] != 0 or bob_code[1] != 1:
        problems.append(f"callee scenario failed: {bob.error_text()[-800:]}")
    # Hold re-INVITE: the callee sees the caller's offer, the caller the callee's answer, each
    # rewritten by the relay: the leg's own o= line (RFC 3264 §8: version 2 for the second SDP
    # on that leg), the direction untouched.
    relayed_origin = re.compile(r"o=catchline \d+ 2 IN IP4 ")
    if b("hold_offer") != "sendonly":
        problems.append(f"re-INVITE to the callee has a={b('hold_offer')}, expected sendonly")
    if not relayed_origin.match(b("hold_origin") or ""):
        problems.append(f"re-INVITE SDP origin {b('hold_origin')!r} is not the relay's second "
                        "version for the callee's leg")
    if a("hold_answer") != "recvonly":
        problems.append(f"200 to the caller's re-INVITE has a={a('hold_answer')}, "
                        "expected recvonly")
    if not relayed_origin.match(a("hold_origin") or ""):
        problems.append(f"re-INVITE answer origin {a('hold_origin')!r} is not the relay's "
                        "second version for the caller's leg")
    if a("update_status") != "200":
        problems.append(f"UPDATE: caller got {a('update_status')}")
    if b("update_cseq") is None:
        problems.append("UPDATE never reached the callee")
    if b("info_status") != "200":
        problems.append(f"callee's INFO: callee got {b('info_status')}")
    if a("info_body") != "Signal=5":
        problems.append(f"INFO to the caller carried {a('info_body')!r}, not the callee's body")
    if b("bye_status") != "200":
        problems.append(f"callee's BYE: callee got {b('bye_status')}")
    # CSeq numbers of the server's requests rise on each leg (RFC 3261 §12.2.1.1).
    try:
        callee_leg = [int(b(k)) for k in ("invite_cseq", "reinvite_cseq", "update_cseq")]
        if not callee_leg[0] < callee_leg[1] < callee_leg[2]:
            problems.append(f"callee leg CSeqs INVITE/re-INVITE/UPDATE = {callee_leg}")
    except (TypeError, ValueError):
        problems.append("callee leg CSeqs missing: " + str(
            [b(k) for k in ("invite_cseq", "reinvite_cseq", "update_cseq")]))
    try:
        caller_leg = [int(a(k)) for k in ("info_cseq", "bye_cseq")]
        if not caller_leg[0] < caller_leg[1]:
            problems.append(f"caller leg CSeqs INFO/BYE = {caller_leg}")
    except (TypeError, ValueError):
        problems.append(f"caller leg CSeqs missing: {a('info_cseq')}, {a('bye_cseq')}")
    # A B2BUA: each leg is its own dialog (DESIGN §2).
    if not a("call_id") or not b("call_id") or a("call_id") == b("call_id"):
        problems.append(f"Call-IDs caller {a('call_id')!r} callee {b('call_id')!r}")
    # Max-Forwards: one less on the callee's INVITE (RFC 3261 §16.6 step 3).
    if b("max_forwards") != "9":
        problems.append(f"caller sent Max-Forwards: 10, callee got {b('max_forwards')}")
    harness.check(not problems, "; ".join(problems))


# ---- 3. SIGHUP ----

def count(text, needle):
    return text.count(needle)


def check_reload(bench):
    harness.check(bench.bob is not None, "Bob is not registered (earlier check failed)")
    answered_before = count(bench.log(), "call answered")
    bob = harness.phone(bench.procs, "uas_answer.xml", bench.bob.local_port,
                        bench.name("bob-talks-over-reload"), {"ring_ms": 0})
    alice = bench.caller("uac_call.xml", BOB[0], "alice-talks-over-reload", talk_ms=2500)
    harness.check(harness.wait_until(lambda: count(bench.log(), "call answered") > answered_before,
                                     timeout=10), "the call before the reload was not answered")
    reloaded_before = count(bench.log(), "reloaded extensions=3")
    bench.write_config([ALICE, BOB_NEW, CAROL])
    bench.server.send_signal(signal.SIGHUP)
    harness.check(harness.wait_until(
        lambda: count(bench.log(), "reloaded extensions=3") > reloaded_before, timeout=5),
        f"no reload line after SIGHUP: {bench.log()[-1500:]}")
    harness.check(alice.proc.poll() is None, "the caller's call ended before its BYE")
    alice.expect_success("call answered before the reload, caller's BYE after it")
    bob.expect_success("callee of the call over the reload gets the BYE")
    harness.register(bench.procs, bench.udp, CAROL[0], CAROL[2], bench.name("carol-new"))
    status, reason = bench.register_refused(BOB[0], BOB[2], "bob-old-password")
    harness.check(status == "403", f"1002 with its old password after the reload: {status} "
                                   f"{reason}")
    harness.register(bench.procs, bench.udp, BOB_NEW[0], BOB_NEW[2], bench.name("bob-new"))


def check_reload_broken(bench):
    bench.write_config([ALICE, BOB_NEW, CAROL])
    with open(bench.config) as f:
        bad_line = len(f.read().splitlines()) + 1
    with open(bench.config, "a") as f:
        f.write("no_such_setting: 1\n")
    refused_before = count(bench.log(), "reload refused")
    bench.server.send_signal(signal.SIGHUP)
    harness.check(harness.wait_until(
        lambda: count(bench.log(), "reload refused") > refused_before, timeout=5),
        f"no 'reload refused' line: {bench.log()[-1500:]}")
    refused = [line for line in bench.log().splitlines() if "reload refused" in line][-1]
    where = f"{os.path.basename(bench.config)}:{bad_line}:"
    harness.check(where in refused and "no_such_setting" in refused,
                  f"refusal does not name {where} and the key: {refused!r}")
    time.sleep(0.2)
    harness.check(bench.server.poll() is None, "the server exited on a broken reload")
    response = options(bench)
    harness.check(response is not None and status_line(response).startswith("SIP/2.0 200"),
                  "OPTIONS after the broken reload: "
                  f"{response and status_line(response)!r}")
    # The running configuration (the one with 1003) stays.
    harness.register(bench.procs, bench.udp, CAROL[0], CAROL[2], bench.name("carol-kept"))
    status, reason = bench.register_refused(BOB[0], BOB[2], "bob-old-password-still")
    harness.check(status == "403", f"1002 old password after a refused reload: {status}")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        results.run("OPTIONS without credentials: 200 with Allow, Accept, Supported",
                    check_options, bench)
        results.run("INVITE without CSeq: 400 naming CSeq", check_missing_cseq, bench)
        results.run("INVITE with Via port 99999: 400 naming Via", check_bad_via_port, bench)
        results.run("INVITE with a NUL in Subject or From: 400 naming the header, no NUL back",
                    check_nul_in_header_value, bench)
        results.run("garbage datagrams: no answer; OPTIONS still 200",
                    check_garbage_then_options, bench)
        results.run("Max-Forwards: 0 with credentials: 483", check_max_forwards_zero, bench)
        results.run("in-dialog relay: hold re-INVITE, UPDATE, INFO from the callee, BYE; "
                    "CSeqs rise, Call-IDs differ, Max-Forwards 10 -> 9",
                    check_in_dialog_relay, bench)
        results.run("SIGHUP: 1003 added, 1002's password changed, a call goes on",
                    check_reload, bench)
        results.run("SIGHUP with a broken file: refused with file:line, old config kept",
                    check_reload_broken, bench)
        if results.failed:
            print(procs.log_of(bench.server)[-4000:])
    results.finish()


if __name__ == "__main__":
    main()
