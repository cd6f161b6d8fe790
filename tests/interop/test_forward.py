"""Call forwarding (issue 12) and its feature codes through the real server, with scripted phones
that read real RTP from the media relay (127.0.0.1 only).

The server's extensions (1001 calls; 1003 is the usual target):
  1002 always -> 1003          1004 busy -> 1003          1005 no_answer -> 1003 (ring_time 2s)
  1006 no_answer -> 1003, never registered                1007 always -> 1008 -> 1007 (a loop)
  1009 nothing configured (ring_time 2s): sets its own forwards with feature codes
  1010 always -> ring group 2000 (1003, 1011)              1012 always -> 95550100 (the trunk)

a. always: 1002's phone never rings; 1003's INVITE has Diversion reason=unconditional and the
   History-Info of RFC 7044, From the caller; 1003 answers; the record says always, not missed.
b. busy: one of 1004's two phones busy (486), the other ringing: 1003 is not rung; both busy
   (486 and 600): 1003 rings (reason=user-busy) and answers.
   a-d: History-Info names the number called with the cause RFC 6044 maps the reason to (302,
   486, 408, 503), then 1003 with mp=1.
c. no answer: 1005 rings ring_time, gets CANCEL without Reason (a missed call on that phone),
   then 1003 rings (reason=no-answer); nobody answers: the record says no-answer, missed.
d. 1006 has no phone registered: 1003 rings at once (reason=unavailable).
e. the loop 1007 -> 1008 -> 1007 ends at 1008, the last number reached: 1008 rings, 1007 not.
f. targets: a ring group (2000 rings 1003 and 1011) and a number outside (the trunk's gateway
   gets 5550100, Diversion naming 1012); the same two set by 1009's phone (*722000,
   *7295550100), which hangs up during each confirmation.
g. feature codes from 1009's phone: *72 alone 484, *721999 404 "Nothing at 1999 to forward to",
   *721009 403 "1009 cannot forward to itself"; *721003, *73, *901003, *91, *521003 each
   answered 200 by the server (SDP naming the relay: one G.711 codec and telephone-event), the
   confirmation heard as loud RTP from that relay port, then the server's BYE; each setting
   then routes calls to 1009 as it says; the records say disposition "feature", not missed.
h. *73 from 1002's phone switches its configured always off; after a restart on the same
   configuration and database, 1002 still rings and 1009's *52 still applies (1009 has no
   phone registered: 1003 rings at once); *53 from a phone offering PCMA alone is confirmed in
   PCMA and switches it off (a call to 1009 then gets 480).

Usage: test_forward.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import math
import re
import subprocess
import time

import harness
import sipua
from test_media import Phone, media_of, port_range, ulaw_sample
from test_transfer import collect, rtp_payload, user_of

DOMAIN = "catchline.test"
TARGET = "1003"
RING_TIME = 2.0
ALICE = ("1001", "Alice Caller", "alice-secret")
BOB = ("1002", "Bob Always", "bob-secret", {"forward": {"always": TARGET}})
CAROL = ("1003", "Carol Target", "carol-secret")
DAVE = ("1004", "Dave Busy", "dave-secret", {"forward": {"busy": TARGET}})
EVE = ("1005", "Eve Away", "eve-secret",
       {"forward": {"no_answer": TARGET, "ring_time": f"{RING_TIME:.0f}s"}})
FRANK = ("1006", "Frank Unplugged", "frank-secret", {"forward": {"no_answer": TARGET}})
GINA = ("1007", "Gina Loop", "gina-secret", {"forward": {"always": "1008"}})
HANK = ("1008", "Hank Loop", "hank-secret", {"forward": {"always": "1007"}})
IVY = ("1009", "Ivy Codes", "ivy-secret", {"forward": {"ring_time": f"{RING_TIME:.0f}s"}})
JOE = ("1010", "Joe Group", "joe-secret", {"forward": {"always": "2000"}})
KIM = ("1011", "Kim Member", "kim-secret")
LEO = ("1012", "Leo Outside", "leo-secret", {"forward": {"always": "95550100"}})
EVERYONE = [ALICE, BOB, CAROL, DAVE, EVE, FRANK, GINA, HANK, IVY, JOE, KIM, LEO]
OUTSIDE = "5550100"  # what the gateway gets: 95550100 without the trunk's prefix 9
LOUD = 300  # RMS of a G.711 packet that carries speech (silence stays below)
# The feature codes' SDP offer: G.711 codecs and DTMF, of which the answer keeps one codec.
OFFER = ("v=0\r\no=sipua 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio {port} RTP/AVP {formats} 101\r\n{rtpmaps}"
         "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")
G711 = {0: "PCMU", 8: "PCMA"}


def alaw_sample(byte):
    """The linear sample of a G.711 A-law byte."""
    a = byte ^ 0x55
    value = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    value += 8 if segment == 0 else 0x108
    if segment > 1:
        value <<= segment - 1
    return value if a & 0x80 else -value


def rms(payload, payload_type):
    decode = ulaw_sample if payload_type == 0 else alaw_sample
    samples = [decode(b) for b in payload]
    return math.sqrt(sum(x * x for x in samples) / max(len(samples), 1))


class CodePhone(Phone):
    """A phone whose calls offer the G.711 codecs of `codecs` (payload types, PCMU and PCMA
    by default) and telephone-event; its answers stay plain."""

    offering = False
    codecs = (0, 8)

    def sdp(self):
        if not self.offering:
            return super().sdp()
        return OFFER.format(port=self.rtp_port, formats=" ".join(map(str, self.codecs)),
                            rtpmaps="".join(f"a=rtpmap:{pt} {G711[pt]}/8000\r\n"
                                            for pt in self.codecs))

    def dial(self, number):
        self.offering = True
        try:
            return self.invite(self.aor(number))
        finally:
            self.offering = False


class Bench:
    """The server (relay on its own ports, a trunk whose gateway is a scripted UA) and the
    phones of one check."""

    def __init__(self, procs, binary):
        self.procs, self.binary = procs, binary
        self.udp, self.tcp = harness.free_port(), harness.free_port()
        self.first, self.last = port_range()
        self.gateway = sipua.UA(self.udp, "gateway", domain=DOMAIN)
        extra = (f"media:\n  mode: relay\n  address: 127.0.0.1\n"
                 f"  ports: {self.first}-{self.last}\n"
                 f"ring_groups:\n  - number: \"2000\"\n    name: \"Desk\"\n"
                 f"    members: [\"{CAROL[0]}\", \"{KIM[0]}\"]\n"
                 f"trunks:\n  - name: provider\n    address: \"127.0.0.1:{self.gateway.port}\"\n"
                 f"    transport: udp\n    outbound_prefix: \"9\"\n")
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, EVERYONE, domain=DOMAIN, no_answer_timeout="20s",
            extra_yaml=extra, name="forward.yaml", database_name="forward.db")
        self.phones = []
        self.start()

    def start(self):
        self.server = harness.start_catchline(self.procs, self.binary, self.config,
                                              name=f"forward{len(self.procs.started)}")

    def restart(self):
        """Stops the server (SIGTERM) and starts it again on the same config and database."""
        code = self.procs.stop(self.server)
        harness.check(code == 0, f"the server exited {code} on SIGTERM")
        self.start()

    def phone(self, extension, mode="ring", kind=Phone):
        """A newly registered phone of `extension`; `mode` is what it does with a call rung to
        it ("ring", "answer" or a status)."""
        phone = kind(self.udp, extension)
        self.phones.append(phone)
        response = phone.register()
        harness.check(response is not None and response.status == 200,
                      f"{extension[0]} did not register: {response and response.start}")
        phone.invite_mode = mode
        return phone

    def caller(self):
        """1001's phone, not registered: nothing rings it."""
        phone = Phone(self.udp, ALICE)
        self.phones.append(phone)
        return phone

    def relay_port(self, port):
        return self.first <= port <= self.last

    def record(self, call_id):
        """The call record of `call_id`, once the server wrote it."""
        record = harness.wait_until(lambda: next(
            (r for r in harness.call_records(self.binary, self.database)
             if r["call_id"] == call_id), None), timeout=5.0)
        harness.check(record is not None, f"no call record for Call-ID {call_id}")
        return record

    def close(self):
        """Unregisters and closes the phones: the next check's phones are the only ones rung."""
        for phone in self.phones:
            if self.server.poll() is None and phone.user != ALICE[0]:
                phone.register(expires=0)
            phone.close()
        self.phones = []


# ---- checks shared by the cases ----

def rung(phone, what, count=1, timeout=5.0):
    """The `count`-th call rung on `phone`, which must come within `timeout`."""
    call = phone.wait_incoming(count, timeout=timeout)
    harness.check(call is not None, f"{what}: {phone.user} was not rung")
    return call


def not_rung(phone, what, count=0, wait=0.5):
    """No call rings `phone` beyond the `count` it already had, for `wait` seconds."""
    call = phone.wait_incoming(count + 1, timeout=wait)
    harness.check(call is None, f"{what}: {phone.user} was rung ({call and call.received.uri})")


def check_diverted(call, source, reason, what):
    """The INVITE of `call` names 1001 as caller and `source` as the diverting number."""
    invite = call.received
    diversion = ", ".join(invite.get_all("diversion"))
    wanted = f"<sip:{source}@{DOMAIN}>;reason={reason};counter=1"
    harness.check(diversion == wanted, f"{what}: Diversion {diversion!r}, not {wanted!r}")
    caller = invite.get("from", "")
    harness.check(user_of(caller) == ALICE[0], f"{what}: From {caller!r}, not the caller 1001")


def check_history(call, source, cause, what):
    """The INVITE of `call` (to 1003) has the History-Info of RFC 7044: the number called, with
    the SIP cause RFC 6044 maps the Diversion reason to, then 1003, mapped from it (mp)."""
    history = ",".join(call.received.get_all("history-info"))
    wanted = (f"<sip:{source}@{DOMAIN}?Reason=SIP%3Bcause%3D{cause}>;index=1,"
              f"<sip:{TARGET}@{DOMAIN}>;index=1.1;mp=1")
    harness.check(history == wanted, f"{what}: History-Info {history!r}, not {wanted!r}")


def end_call(call):
    """The caller ends its call: BYE when answered, else CANCEL (then the 487 is ACKed)."""
    final = call.invite.final
    if final is not None and final.status == 200:
        harness.check(call.bye().status == 200, "the caller's BYE was not answered 200")
        return
    if final is None:
        harness.check(call.cancel().status == 200, "the caller's CANCEL was not answered 200")
        final = call.final(timeout=5)
        harness.check(final.status == 487, f"INVITE after CANCEL: {final.status}, not 487")


def check_record(bench, call_id, what, **wanted):
    record = bench.record(call_id)
    got = {key: record.get(key) for key in wanted}
    harness.check(got == wanted, f"{what}: the call record has {got}, not {wanted}")


# ---- the cases ----

def case_always(bench):
    bob, carol = bench.phone(BOB), bench.phone(CAROL, "answer")
    caller = bench.caller()
    call = caller.invite(caller.aor(BOB[0]))
    target = rung(carol, "always")
    check_diverted(target, BOB[0], "unconditional", "always")
    check_history(target, BOB[0], 302, "always")
    final = call.final(timeout=5)
    harness.check(final.status == 200, f"the forwarded call: {final.status}, not 200")
    not_rung(bob, "always", wait=0.2)
    end_call(call)
    check_record(bench, call.call_id, "always", forwarded_from=BOB[0], forward_reason="always",
                 answered_by=TARGET, missed=False)


def case_busy(bench):
    busy, other = bench.phone(DAVE, 486), bench.phone(DAVE)
    carol = bench.phone(CAROL, "answer")
    caller = bench.caller()
    # One phone busy, the other ringing: not every phone said busy, nothing is forwarded.
    call = caller.invite(caller.aor(DAVE[0]))
    rung(busy, "one phone busy")
    rung(other, "one phone busy")
    not_rung(carol, "one phone busy")
    end_call(call)
    other.invite_mode = 600
    call = caller.invite(caller.aor(DAVE[0]))
    for phone in (busy, other):
        rung(phone, "busy", count=2)
    target = rung(carol, "busy")
    check_diverted(target, DAVE[0], "user-busy", "busy")
    check_history(target, DAVE[0], 486, "busy")
    final = call.final(timeout=5)
    harness.check(final.status == 200, f"the forwarded call: {final.status}, not 200")
    end_call(call)
    check_record(bench, call.call_id, "busy", forwarded_from=DAVE[0], forward_reason="busy",
                 answered_by=TARGET, missed=False)


def case_no_answer(bench):
    eve, carol = bench.phone(EVE), bench.phone(CAROL)
    caller = bench.caller()
    call = caller.invite(caller.aor(EVE[0]))
    first = rung(eve, "no answer")
    cancelled = harness.wait_until(lambda: first.cancel_request, timeout=RING_TIME + 3)
    harness.check(cancelled, f"{EVE[0]} got no CANCEL {RING_TIME + 3:.0f}s after it rang")
    after = first.cancel_request.received_at - first.received.received_at
    harness.check(RING_TIME - 0.3 <= after <= RING_TIME + 1.0,
                  f"{EVE[0]} was cancelled {after:.2f}s after it rang, not after ring_time "
                  f"{RING_TIME:.0f}s")
    reason = first.cancel_request.get("reason")
    harness.check(reason is None, f"the CANCEL has Reason {reason!r}: the phone logs no missed "
                  "call")
    target = rung(carol, "no answer")
    check_diverted(target, EVE[0], "no-answer", "no answer")
    check_history(target, EVE[0], 408, "no answer")
    harness.check(call.invite.final is None, "the caller got a final response while 1003 rang")
    end_call(call)
    check_record(bench, call.call_id, "no answer", forwarded_from=EVE[0],
                 forward_reason="no-answer", answered_by="", missed=True)
    table = subprocess.run([bench.binary, "calls", "--db", bench.database], capture_output=True,
                           text=True, timeout=20).stdout
    row = next((line for line in table.splitlines() if call.call_id in line), "")
    harness.check(f"fwd {EVE[0]} no-answer" in row and "missed" in row,
                  f"the calls table says {row!r}, not 'fwd {EVE[0]} no-answer' and 'missed'")


def case_unavailable(bench):
    carol = bench.phone(CAROL)
    caller = bench.caller()
    started = time.monotonic()
    call = caller.invite(caller.aor(FRANK[0]))
    target = rung(carol, "unavailable")
    after = target.received.received_at - started
    harness.check(after < 1.0, f"1003 rang {after:.2f}s after the call to {FRANK[0]}, not at once")
    check_diverted(target, FRANK[0], "unavailable", "unavailable")
    check_history(target, FRANK[0], 503, "unavailable")
    end_call(call)
    check_record(bench, call.call_id, "unavailable", forwarded_from=FRANK[0],
                 forward_reason="unavailable", missed=True)


def case_loop(bench):
    gina, hank = bench.phone(GINA), bench.phone(HANK)
    caller = bench.caller()
    call = caller.invite(caller.aor(GINA[0]))
    check_diverted(rung(hank, "loop"), GINA[0], "unconditional", "loop")
    not_rung(gina, "loop")
    not_rung(hank, "loop", count=1, wait=0.1)
    end_call(call)


def case_targets(bench):
    carol, kim = bench.phone(CAROL), bench.phone(KIM, "answer")
    caller = bench.caller()
    call = caller.invite(caller.aor(JOE[0]))
    check_diverted(rung(carol, "ring group"), JOE[0], "unconditional", "ring group 2000, 1003")
    check_diverted(rung(kim, "ring group"), JOE[0], "unconditional", "ring group 2000, 1011")
    final = call.final(timeout=5)
    harness.check(final.status == 200, f"the call forwarded to 2000: {final.status}, not 200")
    end_call(call)
    gateway = bench.gateway
    before = len(gateway.incoming)
    call = caller.invite(caller.aor(LEO[0]))
    outside = rung(gateway, "outside", count=before + 1)
    uri = outside.received.uri
    harness.check(user_of(uri) == OUTSIDE,
                  f"the gateway got INVITE {uri}, not {OUTSIDE} (the prefix 9 removed)")
    diversion = ", ".join(outside.received.get_all("diversion"))
    harness.check(diversion.startswith(f"<sip:{LEO[0]}@") and "reason=unconditional" in diversion,
                  f"the gateway's INVITE has Diversion {diversion!r}, not naming {LEO[0]}")
    end_call(call)
    # The same targets set from a phone, which hangs up during each confirmation.
    ivy = bench.phone(IVY, kind=CodePhone)
    hang_up_feature(ivy, "*722000")
    call = caller.invite(caller.aor(IVY[0]))
    rung(carol, "*722000", count=2)
    rung(kim, "*722000", count=2)
    not_rung(ivy, "*722000", wait=0.1)
    end_call(call)
    hang_up_feature(ivy, "*7295550100")
    call = caller.invite(caller.aor(IVY[0]))
    check_diverted(rung(gateway, "*7295550100", count=before + 2), IVY[0], "unconditional",
                   "*7295550100")
    end_call(call)
    hang_up_feature(ivy, "*73")


def feature(bench, phone, code, status=200, reason=None):
    """`phone` dials `code`; a refusal is checked against (status, reason), a confirmation
    (200) against what it must be: SDP naming the relay with one G.711 codec and
    telephone-event, loud RTP from that relay port, then the server's BYE. Returns the call."""
    started = time.monotonic()
    call = phone.dial(code)
    final = call.final(timeout=5)
    if status != 200:
        harness.check(final.status == status and (reason is None or final.reason == reason),
                      f"{code}: {final.status} {final.reason!r}, not {status} {reason!r}")
        return call
    harness.check(final.status == 200, f"{code}: {final.status} {final.reason!r}, not 200")
    address, port = media_of(final.body)
    harness.check(address == sipua.LOOPBACK and bench.relay_port(port),
                  f"{code}: the 200 names {address}:{port}, not the relay")
    m_line = re.search(r"^m=audio \d+ RTP/AVP ([\d ]+?)\s*$", final.body, re.M)
    formats = m_line.group(1).split() if m_line else []
    events = [f for f in formats if re.search(rf"^a=rtpmap:{f} telephone-event/8000", final.body,
                                              re.M | re.I)]
    g711 = [int(f) for f in formats if int(f) in phone.codecs]
    harness.check(len(g711) == 1 and len(events) == 1 and len(formats) == 2,
                  f"{code}: the 200 has formats {formats}, not one G.711 codec of the offer's "
                  f"{list(phone.codecs)} and telephone-event")
    heard = collect(phone, started + 10, lambda got: call.requests)
    bye = call.wait_request("BYE", timeout=0.1)
    harness.check(bye is not None, f"{code}: no BYE within 10s of the INVITE")
    sources = {source for _, _, source in heard}
    harness.check(sources <= {(sipua.LOOPBACK, port)},
                  f"{code}: RTP came from {sources}, not only the relay port {port}")
    loud = [when for when, packet, _ in heard
            if packet[1] & 0x7F == g711[0] and rms(rtp_payload(packet), g711[0]) > LOUD]
    harness.check(len(loud) >= 25, f"{code}: {len(loud)} loud packets of {len(heard)} from "
                  f"the relay port {port}: no confirmation heard")
    harness.check(bye.received_at >= loud[-1],
                  f"{code}: the BYE came before the confirmation ended")
    if code[3:]:
        # "All calls now go to" and a digit each: longer than any "... is off".
        harness.check(loud[-1] - loud[0] >= 2.0,
                      f"{code}: the confirmation lasted {loud[-1] - loud[0]:.1f}s, too short to "
                      f"name {code[3:]}")
    print(f"     ({code}: {len(loud)} loud packets (payload type {g711[0]}) over "
          f"{loud[-1] - loud[0]:.1f}s, BYE "
          f"{bye.received_at - loud[-1]:.2f}s after the last)", flush=True)
    check_record(bench, call.call_id, code, caller=phone.user, disposition="feature",
                 missed=False, forwarded_from="")
    return call


def hang_up_feature(phone, code):
    """`phone` dials `code`, gets 200 and hangs up before the confirmation ends."""
    call = phone.dial(code)
    final = call.final(timeout=5)
    harness.check(final.status == 200, f"{code}: {final.status} {final.reason!r}, not 200")
    harness.check(call.bye().status == 200, f"{code}: the phone's BYE was not answered 200")


def case_codes_refused(bench):
    ivy = bench.phone(IVY, kind=CodePhone)
    feature(bench, ivy, "*72", 484)
    feature(bench, ivy, "*721999", 404, "Nothing at 1999 to forward to")
    feature(bench, ivy, f"*72{IVY[0]}", 403, f"{IVY[0]} cannot forward to itself")
    caller = bench.caller()
    call = caller.invite(caller.aor(IVY[0]))
    rung(ivy, "after the refusals: nothing set")
    end_call(call)


def case_codes_always(bench):
    ivy, carol = bench.phone(IVY, kind=CodePhone), bench.phone(CAROL)
    feature(bench, ivy, f"*72{TARGET}")
    caller = bench.caller()
    call = caller.invite(caller.aor(IVY[0]))
    check_diverted(rung(carol, "*72"), IVY[0], "unconditional", "*72")
    not_rung(ivy, "*72", wait=0.2)
    end_call(call)
    feature(bench, ivy, "*73")
    call = caller.invite(caller.aor(IVY[0]))
    rung(ivy, "*73")
    not_rung(carol, "*73", count=1, wait=0.2)
    end_call(call)


def case_codes_busy(bench):
    ivy, carol = bench.phone(IVY, 486, kind=CodePhone), bench.phone(CAROL)
    feature(bench, ivy, f"*90{TARGET}")
    caller = bench.caller()
    call = caller.invite(caller.aor(IVY[0]))
    check_diverted(rung(carol, "*90"), IVY[0], "user-busy", "*90")
    end_call(call)
    feature(bench, ivy, "*91")
    call = caller.invite(caller.aor(IVY[0]))
    final = call.final(timeout=5)
    harness.check(final.status == 486, f"*91: the busy call got {final.status}, not 486")
    not_rung(carol, "*91", count=1, wait=0.1)


def case_codes_no_answer(bench):
    ivy, carol = bench.phone(IVY, kind=CodePhone), bench.phone(CAROL)
    feature(bench, ivy, f"*52{TARGET}")
    caller = bench.caller()
    call = caller.invite(caller.aor(IVY[0]))
    first = rung(ivy, "*52")
    target = rung(carol, "*52", timeout=RING_TIME + 3)
    waited = target.received.received_at - first.received.received_at
    harness.check(waited >= RING_TIME - 0.3,
                  f"*52: 1003 rang {waited:.2f}s after 1009, before ring_time {RING_TIME:.0f}s")
    check_diverted(target, IVY[0], "no-answer", "*52")
    # The CANCEL and 1003's INVITE leave together: either may arrive first.
    cancel = harness.wait_until(lambda: first.cancel_request, timeout=2.0)
    harness.check(cancel is not None and cancel.get("reason") is None,
                  f"*52: 1009's phone got {'no CANCEL' if cancel is None else 'a CANCEL'} "
                  f"with Reason {cancel and cancel.get('reason')!r}, not a CANCEL without one")
    end_call(call)


def case_restart(bench):
    bob, carol = bench.phone(BOB, kind=CodePhone), bench.phone(CAROL)
    feature(bench, bob, "*73")
    caller = bench.caller()

    def check_bob_rings(what, count):
        call = caller.invite(caller.aor(BOB[0]))
        rung(bob, what, count)
        not_rung(carol, what, wait=0.2)
        end_call(call)
    check_bob_rings("*73 over the configured always", 1)
    bench.restart()
    check_bob_rings("*73 after the restart", 2)
    # 1009's *521003 of case g: with no phone of 1009 registered, 1003 rings at once.
    call = caller.invite(caller.aor(IVY[0]))
    check_diverted(rung(carol, "*52 after the restart"), IVY[0], "unavailable",
                   "*52 after the restart")
    end_call(call)
    # *53 from a phone that offers PCMA alone: the confirmation comes in PCMA.
    ivy = bench.phone(IVY, kind=CodePhone)
    ivy.codecs = (8,)
    feature(bench, ivy, "*53")
    ivy.register(expires=0)
    final = caller.invite(caller.aor(IVY[0])).final(timeout=5)
    harness.check(final.status == 480, f"*53: the call to 1009 with no phone registered got "
                  f"{final.status}, not 480")
    not_rung(carol, "*53", count=1, wait=0.1)


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = []
        results.run("start the server", lambda: bench.append(Bench(procs, binary)))
        if not bench:
            results.finish()
        bench = bench[0]

        def run(title, case):
            try:
                results.run(title, case, bench)
            finally:
                bench.close()

        run("a. always: 1003 rings with Diversion and History-Info, 1002 never; record always",
            case_always)
        run("b. busy: 486 and 600 from 1004's phones, 1003 rings (user-busy); record busy",
            case_busy)
        run(f"c. no answer: 1005 rings {RING_TIME:.0f}s, CANCEL without Reason, 1003 rings "
            "(no-answer); record missed", case_no_answer)
        run("d. no phone of 1006 registered: 1003 rings at once (unavailable)", case_unavailable)
        run("e. loop 1007 -> 1008 -> 1007: 1008 rings, 1007 not", case_loop)
        run("f. targets: ring group 2000 rings 1003 and 1011; 95550100 leaves by the trunk; "
            "the same set by *722000 and *7295550100",
            case_targets)
        run("g1. *72 alone 484, *721999 404, *721009 403, each with its reason",
            case_codes_refused)
        run("g2. *721003: confirmation (relay SDP, loud RTP, BYE), calls go to 1003; *73 off",
            case_codes_always)
        run("g3. *901003: a busy 1009 forwards to 1003; *91: the caller gets 486",
            case_codes_busy)
        run(f"g4. *521003: 1009 rings {RING_TIME:.0f}s, then 1003 (no-answer)",
            case_codes_no_answer)
        run("h. *73 switches 1002's configured always off, kept across a restart, as is *52; "
            "*53 (confirmed in PCMA) switches that off",
            case_restart)
        if results.failed:
            print(f"--- {bench.server.name}.log, last 8000 bytes ---\n"
                  f"{procs.log_of(bench.server)[-8000:]}")
        bench.gateway.close()
    results.finish()


if __name__ == "__main__":
    main()
