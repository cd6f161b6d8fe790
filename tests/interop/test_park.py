"""Park and retrieve (README "Park and retrieve") through the real server, with scripted phones
that send and read real RTP through the media relay (127.0.0.1 only).

The server has one lot, main: code 700, slots 701-705, timeout 5 s, comeback_time 2 s,
comeback 1005; group staff (1001, 1002, 1003, 1005) may park, group reception (1003) and 1002
may retrieve; 1004 may do neither. 1001 (the caller) calls 1002, which answers and parks it.

a. Park by blind transfer to 700: REFER 202, NOTIFY 100 Trying (refer;id=CSeq, active), the
   parker hears the announcement (loud RTP from its relay port), then NOTIFY 200 terminated
   and BYE; the parked caller stays up and hears hold music from its relay port.
b. 1003 dials 701: 200 naming the caller; the caller is told it talks to 1003 (UPDATE or
   re-INVITE, P-Asserted-Identity); RTP both ways through the relay; 701 is then empty.
c. Directed park to 701 while another call waits there: 486 "Slot 701 is taken" (as the
   REFER's answer or as the final NOTIFY); the call waiting there stays (1002 retrieves it);
   the refused transferor still talks with its caller.
d. Dialling the empty slot 702: 404 "Nothing parked at 702"; it parks nobody (702 stays empty).
e. Nobody retrieves: after the timeout the parker is rung, marked (Alert-Info
   urn:alert:service:recall:transfer, "(parked 701)" after the caller's name); unanswered,
   after comeback_time the comeback 1005 is rung, marked; unanswered too, the call ends (BYE to
   the parked caller).
f. 1004 may not park (REFER to 700: 403 with a reason; its call goes on) nor retrieve
   (dialling 701, or INVITE with Replaces of the parked dialog: 403; the call stays parked)
   nor watch the slot (SUBSCRIBE 403).
g. 1003 watches sip:701@domain (Event: dialog); the NOTIFY shows the parked call with the
   parked phone's call-id and tags; INVITE with Replaces built from them retrieves it; the lamp
   goes terminated.
h. Five calls parked fill 701-705: a REFER to 700 gets 486 "Every slot of main is taken", and
   the refused transferor still talks with its caller.

The lot timeout is 5 s, counted from the end of the announcement "parked on seven zero one"
(about 3.0 s), which is when the parker's final NOTIFY 200 comes: the comeback times of case e
are measured from that NOTIFY.

Usage: test_park.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import threading
import time

import harness
import sipua
from test_media import Phone, media_of, port_range
from test_transfer import (End, check_media, check_notify, collect, rms, rtp_payload,
                           sipfrag_line, sipfrag_status, user_of)

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Caller", "alice-secret", {"call_groups": ["staff"]})
BOB = ("1002", "Bob Parker", "bob-secret", {"call_groups": ["staff"]})
CAROL = ("1003", "Carol Retriever", "carol-secret",
         {"call_groups": ["staff"], "pickup_groups": ["reception"]})
DAVE = ("1004", "Dave Outsider", "dave-secret")
EVE = ("1005", "Eve Comeback", "eve-secret", {"call_groups": ["staff"]})
EVERYONE = [ALICE, BOB, CAROL, DAVE, EVE]
TIMEOUT, COMEBACK_TIME = 5.0, 2.0
PARKING = f"""parking:
  - name: main
    code: "700"
    slots: "701-705"
    timeout: {TIMEOUT:.0f}s
    comeback_time: {COMEBACK_TIME:.0f}s
    comeback: "{EVE[0]}"
    park: ["group:staff"]
    retrieve: ["group:reception", "{BOB[0]}"]
"""
RECALL_ALERT = "urn:alert:service:recall:transfer"
LOUD = 300  # RMS of a µ-law packet that carries sound (silence and comfort noise stay below)


class Bench:
    """The server with the lot, and the phones of one check (one registered phone a number)."""

    def __init__(self, procs, binary, name):
        self.procs, self.binary = procs, binary
        self.udp, self.tcp = harness.free_port(), harness.free_port()
        self.first, self.last = port_range()
        extra = (f"media:\n  mode: relay\n  address: 127.0.0.1\n"
                 f"  ports: {self.first}-{self.last}\n" + PARKING)
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, EVERYONE, domain=DOMAIN, no_answer_timeout="20s",
            extra_yaml=extra, name=f"{name}.yaml", database_name=f"{name}.db")
        self.server = harness.start_catchline(procs, binary, self.config, name=name)
        self.phones = {}

    def phone(self, extension, mode="ring"):
        """The registered phone of `extension` in this check (made on first use); `mode` is what
        it does with a call rung to it ("ring", "answer" or a status)."""
        number = extension[0]
        if number not in self.phones:
            phone = Phone(self.udp, extension)
            self.phones[number] = phone
            response = phone.register()
            harness.check(response is not None and response.status == 200,
                          f"{number} did not register: {response and response.start}")
        self.phones[number].invite_mode = mode
        return self.phones[number]

    def relay_port(self, port):
        return self.first <= port <= self.last

    def close(self):
        """Unregisters and closes the phones: the next check's phones are the only ones rung."""
        for phone in self.phones.values():
            if self.server.poll() is None:
                phone.register(expires=0)
            phone.close()
        self.phones = {}


class Recorder:
    """Reads a phone's RTP socket in a thread: [(arrival, packet, source)] until stop()."""

    def __init__(self, phone):
        self.phone, self.packets, self.running = phone, [], True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                self.packets += collect(self.phone, time.monotonic() + 0.1)
            except OSError:  # the phone was closed after a failed check
                return

    def stop(self):
        self.running = False
        self.thread.join(timeout=2)
        return self.packets


def loud_from(packets, port):
    """Arrival times of the loud PCMU packets among `packets` that came from relay port `port`."""
    return [when for when, packet, source in packets
            if source == (sipua.LOOPBACK, port) and packet[1] & 0x7F == 0 and
            rms(rtp_payload(packet)) > LOUD]


class Pair:
    """`caller` called `callee`, which answered; both sent RTP (their relay streams latched)."""

    def __init__(self, bench, caller, callee):
        self.bench = bench
        a, b = bench.phone(caller), bench.phone(callee, "answer")
        rung_before = len(b.incoming)
        call = a.invite(a.aor(callee[0]))
        final = call.final()
        harness.check(final.status == 200,
                      f"{caller[0]} -> {callee[0]}: {final.status} {final.reason}, not 200")
        incoming = b.wait_incoming(rung_before + 1)
        harness.check(incoming is not None, f"{callee[0]} was not rung")
        b.invite_mode = "ring"  # a recall rings until the test says otherwise
        self.caller, self.callee = End(a, call, final.body), End(b, incoming,
                                                                 incoming.received.body)
        for end in (self.caller, self.callee):
            harness.check(bench.relay_port(end.relay), f"{end.number} was not given a relay port")
            end.send(3)
        time.sleep(0.1)
        a.drain()
        b.drain()

    def talking(self, what):
        """Caller and callee hear each other through the relay."""
        check_media(self.caller.phone, self.caller.relay, self.callee.phone, self.callee.relay,
                    f"{what}: {self.caller.number} -> {self.callee.number}")
        check_media(self.callee.phone, self.callee.relay, self.caller.phone, self.caller.relay,
                    f"{what}: {self.callee.number} -> {self.caller.number}")

    def hang_up(self):
        harness.check(self.caller.dialog.bye().status == 200,
                      f"{self.caller.number}'s BYE not answered 200")


class Park:
    """1001 called 1002, which answered and sent REFER to `target` (202 checked)."""

    def __init__(self, bench, target="700", parker=BOB):
        self.bench = bench
        self.pair = Pair(bench, ALICE, parker)
        self.parked, self.parker = self.pair.caller, self.pair.callee
        self.parker_seen = len(self.parker.dialog.requests)
        self.parked_seen = len(self.parked.dialog.requests)
        self.heard = {end.number: Recorder(end.phone) for end in (self.parked, self.parker)}
        self.started = time.monotonic()
        self.refer = self.parker.dialog.refer(self.parker.phone.aor(target),
                                              referred_by=self.parker.phone.aor())
        final = self.refer.wait_final(timeout=5)
        self.stop_recording_if(final.status != 202)
        harness.check(final.status == 202,
                      f"REFER to {target} answered {final.status} {final.reason!r}, not 202")

    def stop_recording_if(self, condition=True):
        if condition:
            for recorder in self.heard.values():
                recorder.stop()

    def notifies(self):
        return [m for m in self.parker.dialog.requests[self.parker_seen:] if m.method == "NOTIFY"]

    def wait_parked(self):
        """NOTIFY 100 Trying, then 200 terminated (after the announcement), then BYE, in the
        parker's dialog; the parked caller got no BYE. Returns the final NOTIFY."""
        dialog = self.parker.dialog
        trying = dialog.wait_request("NOTIFY", start=self.parker_seen)
        harness.check(trying is not None, "no NOTIFY after the 202")
        check_notify(trying, self.refer.cseq_number, 100, "active")
        final = dialog.wait_request("NOTIFY", lambda m: (sipfrag_status(m) or 0) >= 200,
                                    timeout=TIMEOUT + 2, start=self.parker_seen)
        harness.check(final is not None, f"no final NOTIFY within {TIMEOUT + 2:.0f}s; NOTIFYs: "
                      f"{[sipfrag_line(m) for m in self.notifies()]}")
        check_notify(final, self.refer.cseq_number, 200, "terminated")
        harness.check(dialog.wait_request("BYE", start=self.parker_seen) is not None,
                      "the parker got no BYE after its REFER completed")
        harness.check(self.parked.dialog.wait_request("BYE", start=self.parked_seen,
                                                      timeout=0.2) is None,
                      "the parked caller got BYE")
        return final

    def retrieve(self, retriever, uri, headers=()):
        """`retriever` sends INVITE to `uri`; returns its Call and final response."""
        phone = self.bench.phone(retriever)
        call = phone.invite(uri, headers=headers)
        return call, call.final()

    def check_retrieved(self, retriever, call, final):
        """The retriever got 200 naming the parked caller, the caller was told who it talks to
        now, and both hear each other through the relay."""
        harness.check(final.status == 200, f"{retriever[0]}'s retrieve answered {final.status} "
                      f"{final.reason!r}, not 200")
        identity = final.get("p-asserted-identity")
        harness.check(identity is not None and user_of(identity) == ALICE[0],
                      f"the retriever's 200 has P-Asserted-Identity {identity!r}, not 1001")
        address, port = media_of(final.body)
        harness.check(address == sipua.LOOPBACK and self.bench.relay_port(port),
                      f"the retriever's 200 names {address}:{port}, not the relay")
        told = harness.wait_until(lambda: next(
            (m for m in self.parked.dialog.requests[self.parked_seen:]
             if m.method in ("UPDATE", "INVITE")), None), timeout=5.0)
        harness.check(told is not None, "the parked caller got neither UPDATE nor re-INVITE")
        identity = told.get("p-asserted-identity")
        harness.check(identity is not None and user_of(identity) == retriever[0],
                      f"the parked caller's {told.method} has P-Asserted-Identity {identity!r}, "
                      f"not {retriever[0]}")
        parked_relay = self.parked.relay
        for m in self.parked.dialog.requests[self.parked_seen:]:
            if m.method in ("UPDATE", "INVITE") and "m=audio " in m.body:
                parked_relay = media_of(m.body)[1]
        phone = self.bench.phone(retriever)
        check_media(self.parked.phone, parked_relay, phone, port, "parked caller -> retriever")
        check_media(phone, port, self.parked.phone, parked_relay, "retriever -> parked caller")
        harness.check(call.bye().status == 200, "the retriever's BYE not answered 200")
        harness.check(self.parked.dialog.wait_request("BYE", start=self.parked_seen) is not None,
                      "the parked caller got no BYE when the retriever hung up")

    def leave(self):
        """The parked caller hangs up (its slot is then free)."""
        harness.check(self.parked.dialog.bye().status == 200,
                      "the parked caller's BYE not answered 200")


def check_slot_empty(bench, slot, dialler=CAROL):
    phone = bench.phone(dialler)
    final = phone.invite(phone.aor(slot)).final()
    harness.check((final.status, final.reason) == (404, f"Nothing parked at {slot}"),
                  f"{dialler[0]} dialling {slot}: {final.status} {final.reason!r}, not 404 "
                  f"'Nothing parked at {slot}'")


# ---- the cases ----

def case_park(bench):
    park = Park(bench)
    park.wait_parked()
    done = park.parker.dialog.wait_request("NOTIFY", lambda m: sipfrag_status(m) == 200,
                                           start=park.parker_seen)
    # The parker heard its slot before its REFER completed.
    announced = loud_from(park.heard[BOB[0]].stop(), park.parker.relay)
    harness.check(len(announced) >= 10 and announced[0] < done.received_at,
                  f"the parker got {len(announced)} loud packets from its relay port "
                  f"{park.parker.relay} before NOTIFY 200 "
                  f"({done.received_at - park.started:.2f}s after the REFER)")
    print(f"     (NOTIFY 200 came {done.received_at - park.started:.2f}s after the REFER; "
          f"{len(announced)} loud packets announced the slot)", flush=True)
    # The parked caller hears hold music from its own relay port, not the announcement's port.
    music = park.heard[ALICE[0]].stop()
    music += collect(park.parked.phone, time.monotonic() + 1.5)
    loud = loud_from(music, park.parked.relay)
    sources = {source for _, _, source in music}
    harness.check(sources == {(sipua.LOOPBACK, park.parked.relay)},
                  f"the parked caller got RTP from {sources}, not its relay port "
                  f"{park.parked.relay}")
    harness.check(len(loud) >= 25, f"the parked caller got {len(loud)} loud packets of "
                  f"{len(music)}: no hold music")
    park.leave()


def case_retrieve(bench):
    park = Park(bench)
    park.stop_recording_if()
    park.wait_parked()
    call, final = park.retrieve(CAROL, bench.phone(CAROL).aor("701"))
    park.check_retrieved(CAROL, call, final)
    check_slot_empty(bench, "701")


def case_slot_taken(bench):
    park = Park(bench, target="701")  # a directed park to a free slot
    park.stop_recording_if()
    # While 1001 waits on 701 (the announcement to its parker still playing), 1003 tries to
    # park its caller there too.
    pair = Pair(bench, EVE, CAROL)
    seen = len(pair.callee.dialog.requests)
    refer = pair.callee.dialog.refer(pair.callee.phone.aor("701"),
                                     referred_by=pair.callee.phone.aor())
    final = refer.wait_final(timeout=5)
    wanted = (486, "Slot 701 is taken")
    if final.status == 202:  # refused after the 202: the final NOTIFY says so
        notify = pair.callee.dialog.wait_request(
            "NOTIFY", lambda m: (sipfrag_status(m) or 0) >= 200, start=seen)
        harness.check(notify is not None, "REFER to a taken slot: 202 and no final NOTIFY")
        line = sipfrag_line(notify)
        harness.check(line == f"SIP/2.0 {wanted[0]} {wanted[1]}",
                      f"REFER to a taken slot: final NOTIFY {line!r}, not '486 {wanted[1]}'")
        print(f"     (refused in the final NOTIFY: {line})", flush=True)
    else:
        harness.check((final.status, final.reason) == wanted,
                      f"REFER to a taken slot answered {final.status} {final.reason!r}, not "
                      f"486 {wanted[1]!r}")
        print(f"     (refused as the REFER's answer: {final.status} {final.reason})", flush=True)
    # The first call still waits on 701 (retrieved before the lot's timeout).
    park.wait_parked()
    call, final = park.retrieve(BOB, bench.phone(BOB).aor("701"))
    park.check_retrieved(BOB, call, final)
    harness.check(pair.callee.dialog.wait_request("BYE", start=seen, timeout=0.1) is None,
                  "the refused transferor got BYE")
    pair.talking("after the refused park")
    pair.hang_up()


def case_empty_slot(bench):
    check_slot_empty(bench, "702")
    # The dialler was not parked there: 702 is still empty for the next one.
    check_slot_empty(bench, "702", dialler=BOB)


def case_comeback(bench):
    eve = bench.phone(EVE)  # the lot's comeback: registered, rings
    park = Park(bench)
    park.stop_recording_if()
    parker = park.parker.phone
    rung_before = len(parker.incoming)
    announced = park.wait_parked().received_at  # the lot's timeout starts here

    def check_marked(call, who, after):
        invite = call.received
        alert = " ".join(invite.get_all("alert-info"))
        harness.check(RECALL_ALERT in alert,
                      f"{who}'s INVITE has Alert-Info {alert!r}, not <{RECALL_ALERT}>")
        caller = invite.get("from", "")
        harness.check(user_of(caller) == ALICE[0] and "(parked 701)" in caller,
                      f"{who}'s INVITE has From {caller!r}, not 1001 marked '(parked 701)'")
        came = call.received.received_at - announced
        harness.check(after - 0.5 <= came <= after + 1.5,
                      f"{who} was rung {came:.2f}s after the announcement ended, expected "
                      f"about {after:.0f}s")

    recall = parker.wait_incoming(rung_before + 1, timeout=TIMEOUT + 3)
    harness.check(recall is not None, f"the parker was not rung {TIMEOUT + 3:.0f}s after parking")
    check_marked(recall, "the parker", TIMEOUT)
    comeback = eve.wait_incoming(1, timeout=COMEBACK_TIME + 3)
    harness.check(comeback is not None, "the comeback 1005 was not rung")
    check_marked(comeback, "the comeback 1005", TIMEOUT + COMEBACK_TIME)
    harness.check(harness.wait_until(lambda: recall.cancel_request, timeout=1.0),
                  "the parker's recall was not cancelled when the comeback rang")
    bye = park.parked.dialog.wait_request("BYE", start=park.parked_seen, timeout=COMEBACK_TIME + 3)
    harness.check(bye is not None, "the parked caller got no BYE when nobody took the call")
    ended = bye.received_at - announced
    harness.check(ended >= TIMEOUT + 2 * COMEBACK_TIME - 0.5,
                  f"the call ended {ended:.2f}s after the announcement, before the comeback rang "
                  f"{COMEBACK_TIME:.0f}s")
    harness.check(harness.wait_until(lambda: comeback.cancel_request, timeout=3.0),
                  "the comeback 1005 got no CANCEL when the call ended")
    check_slot_empty(bench, "701")


def case_not_allowed(bench):
    # 1004 may not park: refused, and its call goes on.
    pair = Pair(bench, ALICE, DAVE)
    seen = len(pair.callee.dialog.requests)
    final = pair.callee.dialog.refer(pair.callee.phone.aor("700")).wait_final(timeout=5)
    harness.check(final.status == 403 and final.reason.strip() not in ("", "Forbidden"),
                  f"1004's REFER to 700 answered {final.status} {final.reason!r}, not 403 with "
                  "a reason")
    print(f"     (park refused: {final.status} {final.reason})", flush=True)
    time.sleep(0.3)
    harness.check(not [m for m in pair.callee.dialog.requests[seen:]
                       if m.method in ("NOTIFY", "BYE")], "the refused parker got NOTIFY or BYE")
    pair.talking("after the refused park")
    pair.hang_up()
    # 1004 may neither retrieve nor watch a slot; the call stays parked for 1003.
    park = Park(bench)
    park.stop_recording_if()
    park.wait_parked()
    _, final = park.retrieve(DAVE, bench.phone(DAVE).aor("701"))
    harness.check(final.status == 403 and final.reason.strip() not in ("", "Forbidden"),
                  f"1004 dialling 701 answered {final.status} {final.reason!r}, not 403 with a "
                  "reason")
    print(f"     (retrieve refused: {final.status} {final.reason})", flush=True)
    sub = bench.phone(DAVE).subscribe("701")
    harness.check(sub.response.status == 403,
                  f"1004 watching 701: {sub.response.status} {sub.response.reason}, not 403")
    own = park.parked.dialog  # what a key would have shown: Replaces needs the right too
    _, final = park.retrieve(DAVE, bench.phone(DAVE).aor("701"), [(
        "Replaces", f"{own.call_id};to-tag={own.local_tag};from-tag={own.remote_tag}")])
    harness.check(final.status == 403,
                  f"1004's INVITE with Replaces of the parked dialog answered {final.status} "
                  f"{final.reason!r}, not 403")
    call, final = park.retrieve(CAROL, bench.phone(CAROL).aor("701"))
    park.check_retrieved(CAROL, call, final)


def case_blf_replaces(bench):
    carol = bench.phone(CAROL)
    sub = carol.subscribe("701")
    harness.check(sub.response.status == 200,
                  f"1003 watching 701: {sub.response.status} {sub.response.reason}")
    park = Park(bench)
    park.stop_recording_if()
    park.wait_parked()

    def parked_dialog():
        for notify in sub.notifies():
            for dialog in sipua.parse_dialog_info(notify.body).dialogs:
                if dialog.state == "confirmed" and dialog.call_id:
                    return dialog
        return None
    shown = harness.wait_until(parked_dialog, timeout=5.0)
    harness.check(shown is not None, "the 701 lamp never showed a confirmed dialog; NOTIFY "
                  f"bodies: {[m.body for m in sub.notifies()]}")
    own = park.parked.dialog
    harness.check(shown.call_id == own.call_id and
                  {shown.local_tag, shown.remote_tag} == {own.local_tag, own.remote_tag},
                  f"the 701 lamp shows call-id {shown.call_id} tags {shown.local_tag}/"
                  f"{shown.remote_tag}, not the parked phone's dialog {own.call_id} "
                  f"{own.local_tag}/{own.remote_tag}")
    # RFC 3891 §3 / RFC 5359 §2.16: to-tag = the remote-tag, from-tag = the local-tag.
    replaces = f"{shown.call_id};to-tag={shown.remote_tag};from-tag={shown.local_tag}"
    call, final = park.retrieve(CAROL, shown.remote_target or carol.aor("701"),
                                [("Replaces", replaces)])
    park.check_retrieved(CAROL, call, final)
    harness.check(harness.wait_until(lambda: any(
        d.id == shown.id and d.state == "terminated"
        for m in sub.notifies() for d in sipua.parse_dialog_info(m.body).dialogs), timeout=5.0),
        "the 701 lamp did not go terminated after the retrieve")
    sub.refresh(0)


def case_full_lot(bench):
    parks, spare = [], []
    try:
        for _ in range(5):
            parks.append(Park(bench))
            parks[-1].stop_recording_if()
            # The next call gets new phones: these keep their calls (1001's hears hold music,
            # which would never let a Pair drain its socket) but are rung no more.
            for number in (ALICE[0], BOB[0]):
                phone = bench.phones.pop(number)
                phone.register(expires=0)
                spare.append(phone)
        pair = Pair(bench, ALICE, BOB)
        final = pair.callee.dialog.refer(pair.callee.phone.aor("700")).wait_final(timeout=5)
        wanted = (486, "Every slot of main is taken")
        harness.check((final.status, final.reason) == wanted,
                      f"REFER to 700 with 701-705 taken answered {final.status} {final.reason!r}, "
                      f"not 486 {wanted[1]!r}")
        pair.talking("after the refused park")
        pair.hang_up()
    finally:
        for park in parks:
            park.parked.dialog.bye()  # its slot is free again; a failure here says nothing new
        for phone in spare:
            phone.close()


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        servers = []  # [Bench, failures counted when it started]

        def run(title, case):
            # A failed check may have left a call parked: the next check gets a new server.
            if not servers or servers[-1][1] != len(results.failed):
                if servers:
                    procs.stop(servers[-1][0].server)
                started = []
                results.run(f"start server park{len(servers)}", lambda: started.append(
                    Bench(procs, binary, f"park{len(servers)}")))
                if not started:
                    return
                servers.append([started[0], len(results.failed)])
            try:
                results.run(title, case, servers[-1][0])
            finally:
                servers[-1][0].close()

        run("a. park by REFER to 700: 202, NOTIFY 100 then 200 after the announcement, BYE to "
            "the parker; the parked caller stays up and hears hold music", case_park)
        run("b. 1003 dials 701: 200 naming 1001, 1001 told, RTP both ways; 701 empty after",
            case_retrieve)
        run("c. REFER to the taken slot 701: 486 'Slot 701 is taken', the transferor keeps its "
            "call; the first call still waits on 701", case_slot_taken)
        run("d. dialling the empty slot 702: 404 'Nothing parked at 702', nothing parked",
            case_empty_slot)
        run(f"e. nobody retrieves: after {TIMEOUT:.0f}s the parker rings (marked), after "
            f"{COMEBACK_TIME:.0f}s more the comeback 1005 (marked), then the call ends",
            case_comeback)
        run("f. 1004 may not park (403, call goes on), retrieve (403, also by Replaces) or "
            "watch 701 (403)",
            case_not_allowed)
        run("g. BLF on 701 shows the parked dialog; INVITE with Replaces from it retrieves",
            case_blf_replaces)
        run("h. five calls parked on 701-705: a sixth REFER to 700 gets 486 'Every slot of main "
            "is taken' and its transferor keeps the call", case_full_lot)
        if results.failed:
            for current, _ in servers:
                print(f"--- {current.server.name}.log, last 6000 bytes ---\n"
                      f"{procs.log_of(current.server)[-6000:]}")
    results.finish()


if __name__ == "__main__":
    main()
