"""Blind transfer (issue 12; RFC 3515 REFER, RFC 3892 Referred-By, RFC 3325, RFC 7462 recall)
through the real server, with scripted phones that send and read real RTP (127.0.0.1 only).

1001 (A) calls 1002 (B), B answers, both talk through the relay. One of them, the transferor T,
sends REFER in its dialog with the server; the other, the transferee X, is moved to 1003 (C).

1. REFER Refer-To 1003: 202; NOTIFY (Event: refer;id=<REFER CSeq>, active, message/sipfrag)
   "SIP/2.0 100 Trying"; C is rung with From naming X, Referred-By naming T, SDP naming the relay.
2. C rings: NOTIFY "180 Ringing" (still active); X hears ringback (loud µ-law from its relay
   port within 1.5 s of the REFER) and no longer T's packets.
3. C answers: ACKed; NOTIFY "200 OK" terminated; BYE to T; X told who it talks to now
   (UPDATE when its INVITE allowed UPDATE, else re-INVITE; P-Asserted-Identity 1003); RTP both
   ways between X and C, each from the relay.
4. T hangs up right after the 202: its BYE gets 200, the transfer goes on, X and C talk.
5. C busy (486): NOTIFY "486 Busy Here" terminated, X and T talk again; if T had hung up, T's
   extension is rung again (Alert-Info urn:alert:service:recall:transfer) and talks with X.
6. C does not answer within sip.transfer_timeout (2 s): CANCEL, a final NOTIFY >= 400, then as 5.
7. X hangs up while C rings: C gets CANCEL, T gets BYE, the call has a record.
8. Refusals, each a final error with a reason phrase and no 202: no Refer-To 400, a number that
   reaches nothing 404, a second REFER while one rings 491.
9. A server with media.mode direct: REFER refused (>= 400), or (as the README says) a transfer
   with the phones' own SDP, the transferee re-INVITEd to the target's address.

Usage: test_transfer.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import math
import re
import socket
import struct
import time

import harness
import sipua
from test_media import Phone, media_of, port_range, ulaw_sample

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Caller", "alice-secret")
BOB = ("1002", "Bob Callee", "bob-secret")
CAROL = ("1003", "Carol Target", "carol-secret")
EVERYONE = [ALICE, BOB, CAROL]
NOWHERE = "1999"  # no extension, no ring group, no trunk
ALLOW_UPDATE = "INVITE, ACK, CANCEL, BYE, NOTIFY, UPDATE"
RECALL_ALERT = "urn:alert:service:recall:transfer"
TRANSFER_TIMEOUT = 2.0


class Bench:
    """One server (media relayed unless `mode` says direct) and the phones of one check."""

    def __init__(self, procs, binary, name, mode="relay", transfer_timeout=None):
        self.procs, self.binary = procs, binary
        self.udp, self.tcp = harness.free_port(), harness.free_port()
        self.first, self.last = port_range()
        extra = harness.DIRECT_MEDIA if mode == "direct" else (
            f"media:\n  mode: relay\n  address: 127.0.0.1\n  ports: {self.first}-{self.last}\n")
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, EVERYONE, domain=DOMAIN, no_answer_timeout="20s",
            extra_yaml=extra, name=f"{name}.yaml", database_name=f"{name}.db")
        if transfer_timeout:
            with open(self.config) as f:
                text = f.read()
            # A key of the sip: section, which write_server_config writes first.
            text = text.replace("  no_answer_timeout:",
                                f"  transfer_timeout: {transfer_timeout}\n  no_answer_timeout:", 1)
            with open(self.config, "w") as f:
                f.write(text)
        self.server = harness.start_catchline(procs, binary, self.config, name=name)
        self.phones = []

    def phone(self, extension):
        phone = Phone(self.udp, extension)
        self.phones.append(phone)
        response = phone.register()
        harness.check(response is not None and response.status == 200,
                      f"{extension[0]} did not register: {response and response.start}")
        return phone

    def relay_port(self, port):
        return self.first <= port <= self.last

    def close(self):
        """Unregisters and closes the phones: the next check's phones are the only ones rung."""
        for phone in self.phones:
            if self.server.poll() is None:  # a server that died answers nothing
                phone.register(expires=0)
            phone.close()
        self.phones = []


class End:
    """One end of the call: its phone, its dialog with the server, the relay port it sends to."""

    def __init__(self, phone, dialog, body):
        self.phone, self.dialog = phone, dialog
        self.number = phone.user
        self.relay = media_of(body)[1]

    def send(self, count=5):
        return self.phone.send_rtp((sipua.LOOPBACK, self.relay), count)


class Talk:
    """A (1001) called B (1002), B answered, both sent RTP; T transfers X to C (1003)."""

    def __init__(self, bench, transferor, allow_update=False):
        self.bench = bench
        a, b = bench.phone(ALICE), bench.phone(BOB)  # A registered too: a recall may ring it
        self.c = bench.phone(CAROL)  # rings (180) until told otherwise
        b.invite_mode = "answer"
        headers = [("Allow", ALLOW_UPDATE)] if allow_update else []
        call = a.invite(a.aor(BOB[0]), headers=headers)
        final = call.final()
        harness.check(final is not None and final.status == 200, f"A->B not answered: {final}")
        incoming = b.wait_incoming()
        harness.check(incoming is not None, "B was not rung")
        self.call_id = call.call_id
        self.a, self.b = End(a, call, final.body), End(b, incoming, incoming.received.body)
        for end in (self.a, self.b):
            harness.check(bench.relay_port(end.relay), f"{end.number} was not given a relay port")
            end.send(3)  # latch both streams
        time.sleep(0.1)
        a.drain()
        b.drain()
        self.t, self.x = (self.b, self.a) if transferor == "B" else (self.a, self.b)
        self.allow_update = allow_update and self.x is self.a

    def refer(self, target=CAROL[0], referred_by=True):
        """T sends REFER to `target`; checks case 1 (202, NOTIFY 100 Trying, C rung as it
        should be) and returns C's incoming call."""
        self.t_seen = len(self.t.dialog.requests)
        self.x_seen = len(self.x.dialog.requests)
        self.rung_before = len(self.c.incoming)
        self.referred = time.monotonic()
        by = self.t.phone.aor() if referred_by else None
        self.refer_t = self.t.dialog.refer(self.t.phone.aor(target), referred_by=by)
        final = self.refer_t.wait_final(timeout=5)
        harness.check(final.status == 202,
                      f"REFER answered {final.status} {final.reason!r}, not 202 Accepted")
        trying = self.notify(lambda m: True)
        harness.check(trying is not None, "no NOTIFY after the 202")
        check_notify(trying, self.refer_t.cseq_number, 100, "active")
        rung = self.c.wait_incoming(self.rung_before + 1, timeout=5)
        harness.check(rung is not None, "1003 was not rung")
        invite = rung.received
        harness.check(user_of(invite.get("from", "")) == self.x.number,
                      f"1003's INVITE has From {invite.get('from')!r}, not the transferee "
                      f"{self.x.number}")
        referred = invite.get("referred-by")
        harness.check(referred is not None and user_of(referred) == self.t.number,
                      f"1003's INVITE has Referred-By {referred!r}, not the transferor "
                      f"{self.t.number}")
        address, port = media_of(invite.body)
        harness.check(address == "127.0.0.1" and self.bench.relay_port(port) and
                      port not in (self.x.phone.rtp_port, self.t.phone.rtp_port),
                      f"1003's INVITE SDP names {address}:{port}, not the relay "
                      f"({self.bench.first}-{self.bench.last})")
        self.rung = rung
        self.c_relay = port
        return rung

    def notify(self, predicate, timeout=5.0):
        """The first NOTIFY since the REFER in T's dialog for which `predicate` holds."""
        return self.t.dialog.wait_request("NOTIFY", predicate, timeout, start=self.t_seen)

    def notify_final(self, status, timeout=5.0):
        found = self.notify(lambda m: (sipfrag_status(m) or 0) >= 200, timeout)
        harness.check(found is not None,
                      f"no NOTIFY with a final sipfrag in T's dialog; NOTIFYs: "
                      f"{[sipfrag_line(m) for m in self.notifies()]}")
        if status is not None:
            harness.check(sipfrag_status(found) == status,
                          f"final NOTIFY says {sipfrag_line(found)!r}, not {status}")
        check_notify(found, self.refer_t.cseq_number, sipfrag_status(found), "terminated")
        return found

    def notifies(self):
        return [m for m in self.t.dialog.requests[self.t_seen:] if m.method == "NOTIFY"]

    def hang_up_transferor(self):
        response = self.t.dialog.bye()
        harness.check(response.status == 200,
                      f"T's BYE during the transfer answered {response.status}, not 200")

    def told_identity(self):
        """The UPDATE or re-INVITE that tells X it talks to 1003 now (case 3)."""
        told = harness.wait_until(lambda: next(
            (m for m in self.x.dialog.requests[self.x_seen:] if m.method in ("UPDATE", "INVITE")),
            None), timeout=5.0)
        harness.check(told is not None, "the transferee got neither UPDATE nor re-INVITE")
        harness.check(self.allow_update or told.method == "INVITE",
                      "the transferee got UPDATE though its INVITE and 200 did not allow it")
        identity = told.get("p-asserted-identity")
        harness.check(identity is not None and user_of(identity) == CAROL[0],
                      f"the transferee's {told.method} has P-Asserted-Identity {identity!r}, "
                      "not 1003")
        if re.search(r"^m=audio ", told.body, re.M):
            address, port = media_of(told.body)
            harness.check(address == "127.0.0.1" and self.bench.relay_port(port),
                          f"the transferee's {told.method} SDP names {address}:{port}")
            self.x.relay = port
        return told

    def x_relay_now(self):
        """The relay port X sends to after any re-INVITE or UPDATE with SDP it got."""
        for m in self.x.dialog.requests[self.x_seen:]:
            if m.method in ("UPDATE", "INVITE") and re.search(r"^m=audio ", m.body, re.M):
                self.x.relay = media_of(m.body)[1]
        return self.x.relay


def user_of(value):
    """The user part of a name-addr's or addr-spec's SIP URI ("" if none)."""
    found = re.match(r"sips?:([^@;>]+)@", sipua.uri_of(value))
    return found.group(1) if found else ""


def sipfrag_line(message):
    return message.body.strip().splitlines()[0] if message.body.strip() else ""


def sipfrag_status(message):
    found = re.match(r"SIP/2\.0 (\d{3}) ", sipfrag_line(message) + " ")
    return int(found.group(1)) if found else None


def check_notify(notify, refer_cseq, status, state):
    """A NOTIFY of the REFER's implicit subscription (RFC 3515 §2.4.4-§2.4.6)."""
    event = notify.get("event", "")
    harness.check(event.split(";")[0].strip().lower() == "refer" and
                  sipua.param(event, "id") == str(refer_cseq),
                  f"NOTIFY has Event {event!r}, not refer;id={refer_cseq}")
    subscription = notify.get("subscription-state", "")
    harness.check(subscription.split(";")[0].strip().lower() == state,
                  f"NOTIFY ({sipfrag_line(notify)!r}) has Subscription-State {subscription!r}, "
                  f"not {state}")
    if state == "active":
        harness.check(sipua.param(subscription, "expires"),
                      f"Subscription-State {subscription!r} has no expires")
    else:
        harness.check(sipua.param(subscription, "reason") in (None, "noresource"),
                      f"Subscription-State {subscription!r}: reason is not noresource")
    content_type = notify.get("content-type", "")
    harness.check(content_type.lower().startswith("message/sipfrag"),
                  f"NOTIFY has Content-Type {content_type!r}, not message/sipfrag")
    harness.check(sipfrag_status(notify) == status,
                  f"NOTIFY body {notify.body!r}, not SIP/2.0 {status} ...")


def rtp_payload(packet):
    """The payload of an RTP packet (after CSRCs and a header extension, RFC 3550 §5.1)."""
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10 and len(packet) >= offset + 4:
        offset += 4 + 4 * struct.unpack("!H", packet[offset + 2:offset + 4])[0]
    return packet[offset:]


def collect(phone, until, enough=lambda got: False):
    """RTP packets `phone` reads until the monotonic time `until`, or until `enough` of what it
    read so far holds: [(arrival, packet, source)]."""
    got = []
    while time.monotonic() < until and not enough(got):
        try:
            packet, source = phone.rtp.recvfrom(2048)
        except socket.timeout:
            continue
        got.append((time.monotonic(), packet, source))
    return got


def rms(payload):
    samples = [ulaw_sample(b) for b in payload]
    return math.sqrt(sum(x * x for x in samples) / max(len(samples), 1))


def check_media(sender, to_port, receiver, from_port, what):
    """`sender` sends 5 packets to the relay port `to_port`; `receiver` gets their payloads,
    in order and unchanged, from the relay port `from_port` (other packets, such as the end of
    ringback, may come between)."""
    # What was on its way: drain() would never end while ringback plays on.
    collect(receiver, time.monotonic() + 0.2)
    sent = [rtp_payload(p) for p in sender.send_rtp((sipua.LOOPBACK, to_port))]
    got = collect(receiver, time.monotonic() + 1.5, lambda got: sum(
        rtp_payload(p) in sent for _, p, _ in got) >= len(sent))
    ours = [(rtp_payload(p), source) for _, p, source in got if rtp_payload(p) in sent]
    harness.check([p for p, _ in ours] == sent,
                  f"{what}: {len(ours)} of {len(sent)} payloads arrived unchanged and in order "
                  f"({len(got)} packets read)")
    sources = {source for _, source in ours}
    harness.check(sources == {(sipua.LOOPBACK, from_port)},
                  f"{what}: packets came from {sources}, not the relay port {from_port}")


def check_talk(talk, other, other_relay, what):
    """X and `other` (a phone that sends to `other_relay`) hear each other through the relay."""
    x_relay = talk.x_relay_now()
    check_media(talk.x.phone, x_relay, other, other_relay, f"{what}: X -> {other.user}")
    check_media(other, other_relay, talk.x.phone, x_relay, f"{what}: {other.user} -> X")


def check_recall(talk, rung_before):
    """T hung up and the transfer failed: T's extension is rung again, marked as a recall, and
    T answering talks with X (case 5)."""
    recall = talk.t.phone.wait_incoming(rung_before + 1, timeout=8)
    harness.check(recall is not None, f"T's extension {talk.t.number} was not rung again")
    alert = " ".join(recall.received.get_all("alert-info"))
    harness.check(RECALL_ALERT in alert,
                  f"the recall INVITE has Alert-Info {alert!r}, not <{RECALL_ALERT}>")
    harness.check(recall.received.tag("to") is None, "the recall INVITE is in an old dialog")
    final = harness.wait_until(lambda: recall.acks, timeout=5.0)
    harness.check(final, "the server did not ACK T's 200 to the recall")
    address, port = media_of(recall.received.body)
    harness.check(address == "127.0.0.1" and talk.bench.relay_port(port),
                  f"the recall INVITE SDP names {address}:{port}, not the relay")
    check_talk(talk, talk.t.phone, port, "after the recall")
    bye = recall.bye()
    harness.check(bye.status == 200, f"BYE after the recall answered {bye.status}")


# ---- the cases ----

def case_refer_accepted(bench):
    """1: 202, NOTIFY 100 Trying, 1003 rung with From X, Referred-By T, relay SDP (B transfers,
    sending Referred-By; then A transfers without it: the server names A itself)."""
    for transferor, referred_by in (("B", True), ("A", False)):
        talk = Talk(bench, transferor)
        talk.refer(referred_by=referred_by)
        harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
        bench.close()


def case_ringing(bench):
    """2: 180 -> NOTIFY 180 (active); X hears ringback, not T."""
    talk = Talk(bench, "B")
    talk.refer()
    ringing = talk.notify(lambda m: sipfrag_status(m) == 180)
    harness.check(ringing is not None, f"no NOTIFY 180; NOTIFYs: "
                  f"{[sipfrag_line(m) for m in talk.notifies()]}")
    check_notify(ringing, talk.refer_t.cseq_number, 180, "active")
    t_payloads = [rtp_payload(p) for p in talk.t.send(10)]
    got = collect(talk.x.phone, talk.referred + 2.0)
    harness.check(got, "the transferee got no RTP while the target rang")
    sources = {source for _, _, source in got}
    harness.check(sources == {(sipua.LOOPBACK, talk.x.relay)},
                  f"ringback came from {sources}, not the transferee's relay port {talk.x.relay}")
    heard_t = [p for _, p, _ in got if rtp_payload(p) in t_payloads]
    harness.check(not heard_t, f"the transferee still got {len(heard_t)} of T's packets")
    types = {p[1] & 0x7F for _, p, _ in got}
    harness.check(types == {0}, f"ringback in payload types {types}, not PCMU (0)")
    loud = [(when, rms(rtp_payload(p))) for when, p, _ in got if rms(rtp_payload(p)) > 300]
    harness.check(len(loud) >= 20,
                  f"{len(loud)} loud packets (RMS > 300) of {len(got)} in the 2 s after REFER: "
                  "no ringback")
    harness.check(loud[0][0] - talk.referred <= 1.5,
                  f"the first loud ringback packet came {loud[0][0] - talk.referred:.2f}s after "
                  "REFER")
    harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
    harness.check(harness.wait_until(lambda: talk.rung.cancel_request, 5.0),
                  "1003 got no CANCEL after X hung up")
    bench.close()


def case_answered(bench):
    """3: 1003 answers: ACK, NOTIFY 200 terminated, BYE to T, X told (UPDATE when allowed, else
    re-INVITE) with P-Asserted-Identity 1003, RTP X <-> 1003 through the relay. B transfers A,
    whose INVITE allowed UPDATE; then A transfers B, whose 200 did not."""
    for transferor in ("B", "A"):
        talk = Talk(bench, transferor, allow_update=True)
        talk.refer()
        talk.rung.answer()
        harness.check(harness.wait_until(lambda: talk.rung.acks, timeout=5.0),
                      "the server did not ACK 1003's 200")
        talk.notify_final(200)
        bye = talk.t.dialog.wait_request("BYE", start=talk.t_seen, timeout=5.0)
        harness.check(bye is not None, "T got no BYE after the transfer completed")
        told = talk.told_identity()
        print(f"     ({transferor} transferred: the transferee was told in {told.method})",
              flush=True)
        check_talk(talk, talk.c, talk.c_relay, "after the transfer")
        harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
        harness.check(talk.rung.wait_request("BYE", timeout=5.0) is not None,
                      "1003 got no BYE when X hung up")
        bench.close()


def case_transferor_leaves(bench):
    """4: T's BYE right after the 202 gets 200; 1003 answers; X and 1003 talk."""
    talk = Talk(bench, "B")
    talk.refer()
    talk.hang_up_transferor()
    talk.rung.answer()
    harness.check(harness.wait_until(lambda: talk.rung.acks, timeout=5.0),
                  "the server did not ACK 1003's 200")
    time.sleep(0.3)
    check_talk(talk, talk.c, talk.c_relay, "after the transfer")
    harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
    bench.close()


def case_busy_back_to_transferor(bench):
    """5a: 1003 answers 486: NOTIFY 486 terminated; X and T talk again."""
    talk = Talk(bench, "B")
    talk.c.invite_mode = 486
    talk.refer()
    talk.notify_final(486)
    check_talk(talk, talk.t.phone, talk.t.relay, "back with T after 486")
    harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
    bench.close()


def case_busy_recall(bench):
    """5b: T (A this time) hung up, then 1003, which rang, answers 486: A's extension is rung
    again as a recall, answers, and talks with X."""
    talk = Talk(bench, "A")
    talk.t.phone.invite_mode = "answer"
    rung_before = len(talk.t.phone.incoming)
    talk.refer()
    talk.hang_up_transferor()
    talk.rung.reject(486)
    harness.check(harness.wait_until(lambda: talk.rung.acks, timeout=5.0),
                  "the server did not ACK 1003's 486")
    check_recall(talk, rung_before)
    bench.close()


def case_no_answer_back_to_transferor(bench):
    """6a: 1003 rings past transfer_timeout (2 s): CANCEL, final NOTIFY >= 400, X and T again."""
    talk = Talk(bench, "B")
    talk.refer()
    check_cancel_after_timeout(talk)
    final = talk.notify_final(None, timeout=3.0)
    harness.check(sipfrag_status(final) >= 400,
                  f"the final NOTIFY after no answer says {sipfrag_line(final)!r}")
    check_talk(talk, talk.t.phone, talk.t.relay, "back with T after no answer")
    harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
    bench.close()


def case_no_answer_recall(bench):
    """6b: T hung up, 1003 rings past transfer_timeout: CANCEL, then T's extension is recalled."""
    talk = Talk(bench, "B")
    talk.t.phone.invite_mode = "answer"
    rung_before = len(talk.t.phone.incoming)
    talk.refer()
    talk.hang_up_transferor()
    check_cancel_after_timeout(talk)
    check_recall(talk, rung_before)
    bench.close()


def check_cancel_after_timeout(talk):
    cancel = harness.wait_until(lambda: talk.rung.cancel_request, timeout=TRANSFER_TIMEOUT + 4)
    harness.check(cancel, f"1003 got no CANCEL {TRANSFER_TIMEOUT + 4:.0f}s after the REFER "
                  f"(sip.transfer_timeout {TRANSFER_TIMEOUT:.0f}s)")
    after = cancel.received_at - talk.referred
    harness.check(after >= TRANSFER_TIMEOUT - 0.5,
                  f"1003 was cancelled {after:.2f}s after the REFER, before transfer_timeout")


def case_transferee_hangs_up(bench):
    """7: X hangs up while 1003 rings: CANCEL to 1003, BYE to T, a call record."""
    talk = Talk(bench, "B")
    talk.refer()
    harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
    harness.check(harness.wait_until(lambda: talk.rung.cancel_request, 5.0),
                  "1003 got no CANCEL after the transferee hung up")
    bye = talk.t.dialog.wait_request("BYE", start=talk.t_seen, timeout=5.0)
    harness.check(bye is not None, "T, still in the call, got no BYE when the call ended")
    record = harness.wait_until(
        lambda: next((r for r in harness.call_records(bench.binary, bench.database)
                      if r["call_id"] == talk.call_id), None), timeout=5.0)
    harness.check(record is not None, f"no call record for Call-ID {talk.call_id}")
    bench.close()


def case_refusals(bench):
    """8: no Refer-To 400, Refer-To 1999 (nothing) 404, a second REFER while 1003 rings 491;
    each with a reason phrase, none with a NOTIFY."""
    talk = Talk(bench, "B")
    dialog = talk.t.dialog
    seen = len(dialog.requests)
    for what, refer_to, status in (("without Refer-To", None, 400),
                                   (f"to {NOWHERE}", talk.t.phone.aor(NOWHERE), 404)):
        final = dialog.refer(refer_to).wait_final(timeout=5)
        harness.check(final.status == status and final.reason.strip(),
                      f"REFER {what} answered {final.status} {final.reason!r}, not {status} "
                      "with a reason phrase")
    time.sleep(0.3)
    harness.check(not [m for m in dialog.requests[seen:] if m.method == "NOTIFY"],
                  "a refused REFER got a NOTIFY")
    talk.refer()
    final = dialog.refer(talk.t.phone.aor(CAROL[0])).wait_final(timeout=5)
    harness.check(final.status == 491 and final.reason.strip(),
                  f"a second REFER while 1003 rings answered {final.status} {final.reason!r}, "
                  "not 491 with a reason phrase")
    harness.check(talk.x.dialog.bye().status == 200, "X's BYE not answered 200")
    bench.close()


def case_direct_media(bench):
    """9: media.mode direct. The issue's first contract had REFER refused there (transfer
    needing the relay); the server documents it as supported instead (README, Transfer): the
    target is offered the transferee's own SDP, and the transferee is pointed at the target's
    phone with a re-INVITE. A refusal (>= 400) passes too; a 202 must then transfer."""
    a, b = bench.phone(ALICE), bench.phone(BOB)
    c = bench.phone(CAROL)
    b.invite_mode = "answer"
    call = a.invite(a.aor(BOB[0]))
    harness.check(call.final().status == 200, "A->B not answered")
    incoming = b.wait_incoming()
    harness.check(media_of(incoming.received.body)[1] == a.rtp_port,
                  "the direct server relayed the call")
    seen_a, seen_b = len(call.requests), len(incoming.requests)
    final = incoming.refer(b.aor(CAROL[0]), referred_by=b.aor()).wait_final(timeout=5)
    if final.status >= 400:
        print(f"     (REFER refused: {final.status} {final.reason})", flush=True)
        harness.check(call.bye().status == 200, "A's BYE not answered 200")
        return
    harness.check(final.status == 202,
                  f"REFER on a direct-media server answered {final.status} {final.reason!r}")
    rung = c.wait_incoming(timeout=5)
    harness.check(rung is not None, "1003 was not rung")
    harness.check(media_of(rung.received.body) == (sipua.LOOPBACK, a.rtp_port),
                  f"1003 was offered {media_of(rung.received.body)}, not the transferee's own "
                  f"127.0.0.1:{a.rtp_port}")
    rung.answer()
    harness.check(harness.wait_until(lambda: rung.acks, timeout=5.0),
                  "the server did not ACK 1003's 200")
    done = incoming.wait_request("NOTIFY", lambda m: sipfrag_status(m) == 200, start=seen_b)
    harness.check(done is not None, "no NOTIFY 200 OK to the transferor")
    harness.check(incoming.wait_request("BYE", start=seen_b) is not None,
                  "the transferor got no BYE")
    told = call.wait_request("INVITE", start=seen_a)
    harness.check(told is not None, "the transferee got no re-INVITE")
    harness.check(media_of(told.body) == (sipua.LOOPBACK, c.rtp_port),
                  f"the transferee's re-INVITE names {media_of(told.body)}, not 1003's own "
                  f"127.0.0.1:{c.rtp_port}")
    identity = told.get("p-asserted-identity")
    harness.check(identity is not None and user_of(identity) == CAROL[0],
                  f"the transferee's re-INVITE has P-Asserted-Identity {identity!r}, not 1003")
    harness.check(call.bye().status == 200, "A's BYE not answered 200")
    harness.check(rung.wait_request("BYE", timeout=5.0) is not None,
                  "1003 got no BYE when the transferee hung up")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()

    with harness.session() as procs:
        def server(name, **options):
            """A new server, or None (a failed check) when it does not start."""
            started = []
            results.run(f"start the {name} server", lambda: started.append(
                Bench(procs, binary, name, **options)))
            return started[0] if started else None

        def run(bench, title, case):
            if bench is None:
                return
            try:
                results.run(title, case, bench)
            finally:
                bench.close()

        def stop(bench):
            if bench is None:
                return
            if results.failed:
                print(f"--- {bench.server.name}.log, last 6000 bytes ---\n"
                      f"{procs.log_of(bench.server)[-6000:]}")
            procs.stop(bench.server)

        bench = server("relay")
        run(bench, "1. REFER: 202, NOTIFY 100 Trying (refer;id=CSeq, active, sipfrag), 1003 "
            "rung from X with Referred-By T and relay SDP", case_refer_accepted)
        run(bench, "2. 1003 rings: NOTIFY 180 active; X hears loud 425 Hz ringback, not T",
            case_ringing)
        run(bench, "3. 1003 answers: ACK, NOTIFY 200 terminated, BYE to T, X told by "
            "UPDATE/re-INVITE with P-Asserted-Identity 1003, RTP X <-> 1003", case_answered)
        run(bench, "4. T hangs up after the 202: 200, the transfer goes on, X <-> 1003",
            case_transferor_leaves)
        run(bench, "5a. 1003 busy: NOTIFY 486 terminated, X <-> T again",
            case_busy_back_to_transferor)
        run(bench, "5b. 1003 busy after T hung up: T recalled (Alert-Info recall:transfer), "
            "X <-> T", case_busy_recall)
        run(bench, "7. X hangs up while 1003 rings: CANCEL to 1003, BYE to T, a call record",
            case_transferee_hangs_up)
        run(bench, "8. refusals: no Refer-To 400, nowhere 404, second REFER 491",
            case_refusals)
        stop(bench)

        bench = server("timeout", transfer_timeout=f"{TRANSFER_TIMEOUT:.0f}s")
        run(bench, "6a. 1003 rings past transfer_timeout 2s: CANCEL, NOTIFY >= 400, X <-> T "
            "again", case_no_answer_back_to_transferor)
        run(bench, "6b. 1003 rings past transfer_timeout after T hung up: CANCEL, T recalled",
            case_no_answer_recall)
        stop(bench)

        bench = server("direct", mode="direct")
        run(bench, "9. media.mode direct: REFER refused (>= 400), or transferred with the "
            "phones' own SDP (the transferee re-INVITEd to 1003's address)", case_direct_media)
        stop(bench)
    results.finish()


if __name__ == "__main__":
    main()
