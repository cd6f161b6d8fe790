"""BLF through the real server (DESIGN.md §4-§5, ../shared/PHONES.md; RFC 6665, RFC 4235,
RFC 3863, RFC 3891): watchers subscribe to a colleague's line, see the calls ringing it with
the ids a phone needs to build Replaces, and pick them up.

- SUBSCRIBE: 401 then 200 and a NOTIFY at once (version 0, full, one idle dialog); 403 for a
  watcher who may not pick the line up (also for a protected one) and for a wrong password,
  404 for no such number, 489 for another event package, 423 below min_expires, max_expires
  applied; refresh, unsubscribe, a watcher answering 481 dropped, expiry;
- NOTIFY bodies while a call rings: early with the call-id, local-tag and remote-tag of the
  INVITE the phone got, the caller's identity and display name (escaped), remote target
  sip:**N@domain; versions rise by one; every dialog shown ends terminated; the caller's own
  line shows its call as initiator; blf_private hides the caller; a ring group shows its
  members' legs; two devices of one extension show two dialogs;
- Event: presence: PIDF open with the note Available, Ringing, On the phone;
- pickup with INVITE/Replaces built from the NOTIFY, in RFC 3891 tag order, swapped, and with
  the call-id alone: both 200s name the other side, the rung phone's CANCEL says "Call
  completed elsewhere", the lamp goes off, the record says pickup_kind blf; refusals (answered
  call 486/403, unknown dialog 481, not allowed 403) leave the call as it was; the directed
  code from the BLF key's remote target picks up as directed.

Watchers and pickers (and some callers and one phone) are tests/interop/sipua.py; the other
phones and callers are SIPp scenarios. Each SIPp phone first registers with register.xml, then
its UAS scenario listens on the port it registered from.

Usage: test_blf.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import os
import re
import time

import harness
import sipua
import test_baresip

DOMAIN = "catchline.test"
STATE_ORDER = {"trying": 0, "proceeding": 0, "early": 1, "confirmed": 2, "terminated": 3}

# (number, name, password, further YAML fields). 1002, 1006, 1007 and 1010 ring into
# "reception"; ring group 2000 (1008, 1009) into "sales".
ALICE = ("1001", "Alice O'Neil & Co", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret", {"call_groups": ["reception"]})
CAROL = ("1003", "Carol Reception", "carol-secret", {"pickup_groups": ["reception", "sales"]})
DAVE = ("1004", "Dave Allowed", "dave-secret", {"directed_pickup": ["1002"]})
EVE = ("1005", "Eve Outsider", "eve-secret")
PIA = ("1006", "Pia Private", "pia-secret", {"call_groups": ["reception"], "blf_private": True})
FRED = ("1007", "Fred Twophones", "fred-secret", {"call_groups": ["reception"]})
GUS = ("1008", "Gus Sales", "gus-secret")
HAL = ("1009", "Hal Sales", "hal-secret")
PAULA = ("1010", "Paula Protected", "paula-secret",
         {"call_groups": ["reception"], "pickup_protected": True})
EVERYONE = [ALICE, BOB, CAROL, DAVE, EVE, PIA, FRED, GUS, HAL, PAULA]
RING_GROUPS = """\
ring_groups:
  - number: "2000"
    name: "Sales"
    members: ["1008", "1009"]
    strategy: ringall
    call_groups: ["sales"]
  - number: "2001"
    name: "Front line"
    members: ["1002"]
    strategy: ringall
"""


def uri(number):
    return f"sip:{number}@{DOMAIN}"


class Bench:
    """The server, the SIPp phones registered with it, and the scripted UAs of the test."""

    def __init__(self, procs, binary):
        self.procs = procs
        self.binary = binary
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, EVERYONE, domain=DOMAIN, no_answer_timeout="20s",
            extra_yaml=RING_GROUPS)
        self.server = harness.start_catchline(procs, binary, self.config)
        self.runs = 0
        self.devices = {}  # number -> ports its SIPp devices registered from
        self.phones = {}   # port -> SIPp runs started there
        self.callers = []  # SIPp caller runs
        self.uas = {}
        for extension, devices in ((BOB, 1), (FRED, 2), (GUS, 1), (HAL, 1)):
            for _ in range(devices):
                run = harness.register(procs, self.udp, extension[0], extension[2],
                                       self.name(f"register-{extension[0]}"))
                self.devices.setdefault(extension[0], []).append(run.local_port)

    def name(self, what):
        self.runs += 1
        return f"{self.runs:02d}-{what}"

    def ua(self, extension, password=None):
        """The scripted UA of `extension` (one per extension, made on first use)."""
        if extension[0] not in self.uas:
            self.uas[extension[0]] = sipua.UA(self.udp, extension[0], password or extension[2],
                                              DOMAIN, name=extension[0])
        return self.uas[extension[0]]

    def phone(self, extension, scenario="uas_ring_until_cancel.xml", device=0, **variables):
        port = self.devices[extension[0]][device]
        for run in self.phones.pop(port, []):  # left over from a failed check: it holds the port
            self.procs.stop(run.proc)
        run = harness.phone(self.procs, scenario, port,
                            self.name(f"phone-{extension[0]}-{device}"), variables)
        self.phones.setdefault(port, []).append(run)
        return run

    def sipp_caller(self, callee, hangup=True, talk_ms=300):
        """Alice dialling `callee` with SIPp (uac_call_pickable.xml): answered or picked up."""
        run = harness.Sipp(
            self.procs, harness.scenario("uac_call_pickable.xml"), self.udp, harness.free_port(),
            self.name(f"call-{callee}"),
            {"caller": ALICE[0], "callee": callee, "domain": DOMAIN, "hangup": 1 if hangup else 0,
             "talk_ms": talk_ms}, extra=["-au", ALICE[0], "-ap", ALICE[2], "-timeout", "20s"])
        self.callers.append(run)
        return run

    def record(self, call_id):
        found = harness.wait_until(
            lambda: next((row for row in harness.call_records(self.binary, self.database)
                          if row["call_id"] == call_id), None), timeout=10)
        harness.check(found is not None, f"no call record for {call_id}")
        return found

    def reset(self):
        """After a failed check: stop its SIPp runs and cancel the scripted calls still
        ringing, so that the next check starts with no call (best effort)."""
        for run in self.callers + [r for runs in self.phones.values() for r in runs]:
            self.procs.stop(run.proc)
        for ua in self.uas.values():
            for dialog in list(ua.dialogs.values()):
                if isinstance(dialog, sipua.Call) and dialog.invite and not dialog.invite.final:
                    try:
                        dialog.cancel()
                    except AssertionError:
                        pass
        time.sleep(0.5)

    def close(self):
        for ua in self.uas.values():
            ua.close()


def sipp_call_id(run):
    return f"1-{run.proc.pid}@127.0.0.1"  # SIPp's -cid_str default, call number 1


# ---- reading what watchers were told ----

def infos(sub):
    return [sipua.parse_dialog_info(m.body) for m in sub.notifies()]


def describe(sub):
    """The NOTIFYs of a subscription in short: version, then each dialog's id, state, tags."""
    out = []
    for m in sub.notifies():
        try:
            info = sipua.parse_dialog_info(m.body)
        except Exception as error:  # noqa: BLE001 (shown as it is)
            out.append(f"unparsable body ({error}): {m.body[:200]!r}")
            continue
        out.append(f"v{info.version}[" + ", ".join(
            f"{d.id}:{d.state}{'/' + d.event if d.event else ''} call-id={d.call_id} "
            f"local={d.local_tag} remote={d.remote_tag}" for d in info.dialogs) + "]")
    return "; ".join(out) or "no NOTIFY"


def watch(ua, number, event="dialog"):
    """A subscription to `number` that got its 200 and first NOTIFY."""
    sub = ua.subscribe(number, event=event)
    harness.check(sub.response.status == 200,
                  f"{ua.user} watching {number}: {sub.response.status} {sub.response.reason}")
    harness.check(sub.wait_notify() is not None, f"{ua.user} watching {number}: no NOTIFY")
    return sub


def wait_dialog(sub, match, what, timeout=6.0):
    """The first dialog any NOTIFY of `sub` showed for which match(dialog) holds."""
    def look():
        for info in infos(sub):
            for dialog in info.dialogs:
                if match(dialog):
                    return dialog
        return None
    found = harness.wait_until(look, timeout, step=0.02)
    harness.check(found is not None,
                  f"{what}: watcher of {sub.remote_uri} was told {describe(sub)}")
    return found


def early_with_tags(dialog):
    return dialog.state == "early" and dialog.local_tag != "" and dialog.id != "idle"


def ended(dialog_id):
    return lambda d: d.id == dialog_id and d.state == "terminated"


def history_problems(sub, entity):
    """What the NOTIFYs of a subscription broke of RFC 4235 and DESIGN.md §5: Event and
    Content-Type, entity, state full, versions 0, 1, 2..., at least one dialog per document,
    states never moving back, no dialog shown again after terminated, and (the calls being
    over) every dialog shown ending terminated."""
    problems = []
    last = {}
    for n, m in enumerate(sub.notifies()):
        if (m.get("event") or "").split(";")[0].strip() != "dialog" or \
                (m.get("content-type") or "") != "application/dialog-info+xml":
            problems.append(f"NOTIFY {n}: Event {m.get('event')!r} Content-Type "
                            f"{m.get('content-type')!r}")
        info = sipua.parse_dialog_info(m.body)
        if info.version != n or info.state != "full" or info.entity != entity:
            problems.append(f"NOTIFY {n}: version {info.version} state {info.state} entity "
                            f"{info.entity}")
        if not info.dialogs:
            problems.append(f"NOTIFY {n}: no <dialog>")
        for d in info.dialogs:
            if d.id == "idle":
                continue
            before = last.get(d.id)
            if before == "terminated":
                problems.append(f"NOTIFY {n}: dialog {d.id} shown again after terminated")
            elif before and STATE_ORDER.get(d.state, -1) < STATE_ORDER.get(before, -1):
                problems.append(f"NOTIFY {n}: dialog {d.id} went back from {before} to {d.state}")
            last[d.id] = d.state
    stuck = [i for i, state in last.items() if state != "terminated"]
    if stuck:
        problems.append(f"dialogs never shown terminated: {stuck}")
    return problems


def check_history(sub, entity):
    problems = history_problems(sub, entity)
    harness.check(not problems, "; ".join(problems) + f" -- NOTIFYs: {describe(sub)}")


def invites_received(run):
    """(Call-ID, From tag, To tag of our 180) of each INVITE a SIPp phone got (its trace)."""
    messages = [(way, sipua.Message.parse(text.encode())) for _, way, text in run.messages()]
    found = []
    for way, m in messages:
        if way == "received" and m.method == "INVITE" and m.cseq()[1] == "INVITE":
            ringing = next((r for w, r in messages if w == "sent" and r.status == 180 and
                            r.get("call-id") == m.get("call-id")), None)
            found.append((m.get("call-id"), m.tag("from"), ringing.tag("to") if ringing else ""))
    return found


def check_dialog_matches(dialog, invite, extension, caller=ALICE, private=False):
    """The early dialog as a watcher saw it against the INVITE the phone got (call-id, From
    tag, its own To tag) and DESIGN.md §5 (identities, remote target)."""
    call_id, from_tag, to_tag = invite
    problems = []
    got = (dialog.call_id, dialog.remote_tag, dialog.local_tag)
    if got != (call_id, from_tag, to_tag):
        problems.append(f"call-id/remote-tag/local-tag {got}, the phone's INVITE had Call-ID "
                        f"{call_id}, From tag {from_tag}, and its 180 To tag {to_tag}")
    if dialog.direction != "recipient":
        problems.append(f"direction {dialog.direction!r}")
    if dialog.local_identity != uri(extension[0]):
        problems.append(f"local identity {dialog.local_identity!r}")
    wanted = ("", "") if private else (uri(caller[0]), caller[1])
    if (dialog.remote_identity, dialog.remote_display) != wanted:
        problems.append(f"remote identity {dialog.remote_identity!r} display "
                        f"{dialog.remote_display!r}, expected {wanted}")
    if dialog.remote_target != f"sip:**{extension[0]}@{DOMAIN}":
        problems.append(f"remote target {dialog.remote_target!r}")
    harness.check(not problems, "; ".join(problems))


def names(value, extension):
    return value is not None and f'"{extension[1]}"' in value and \
        f"<{uri(extension[0])}>" in value


# ---- SUBSCRIBE ----

def check_subscribe(bench):
    carol = bench.ua(CAROL)
    sub = carol.subscribe(BOB[0])
    first = sub.response
    # The first SUBSCRIBE (no credentials) was challenged: 401 with an MD5 digest challenge.
    challenge = next((r for t in list(carol.transactions.values()) for r in t.responses
                      if r.get("call-id") == sub.call_id and r.status == 401), None)
    harness.check(challenge is not None, "the SUBSCRIBE without credentials was not challenged 401")
    offer = sipua.md5_challenge(challenge) or ""
    harness.check(f'realm="{DOMAIN}"' in offer and re.search(r'qop="?[^"]*\bauth\b', offer),
                  f"401 WWW-Authenticate {challenge.get_all('www-authenticate')}")
    harness.check(first.status == 200 and first.get("expires") == "600" and first.get("contact"),
                  f"SUBSCRIBE with credentials: {first.status} {first.reason}, Expires "
                  f"{first.get('expires')}, Contact {first.get('contact')}")
    notify = sub.wait_notify()
    harness.check(notify is not None, "no NOTIFY after the 200")
    state = notify.get("subscription-state") or ""
    expires = sipua.param(state, "expires")
    harness.check(state.startswith("active") and expires and 0 < int(expires) <= 600,
                  f"first NOTIFY Subscription-State {state!r}")
    harness.check(notify.get("event") == "dialog" and
                  notify.get("content-type") == "application/dialog-info+xml",
                  f"first NOTIFY Event {notify.get('event')!r} Content-Type "
                  f"{notify.get('content-type')!r}")
    info = sipua.parse_dialog_info(notify.body)
    idle = [(d.id, d.direction, d.state) for d in info.dialogs]
    harness.check((info.version, info.state, info.entity, idle) ==
                  (0, "full", uri(BOB[0]), [("idle", "recipient", "terminated")]),
                  f"first NOTIFY: version {info.version} state {info.state} entity {info.entity} "
                  f"dialogs {idle}; body {notify.body!r}")
    sub.refresh(0)


def expect_refused(ua, number, status, reason=None, event="dialog", expires=600, what=""):
    sub = ua.subscribe(number, event=event, expires=expires)
    got = sub.response
    harness.check(got.status == status and (reason is None or got.reason == reason),
                  f"{what}: SUBSCRIBE to {number} got {got.status} {got.reason}, expected "
                  f"{status} {reason or ''}")
    time.sleep(0.1)
    harness.check(not sub.notifies(), f"{what}: a refused SUBSCRIBE got a NOTIFY")
    return got


def check_subscribe_refusals(bench):
    eve, carol = bench.ua(EVE), bench.ua(CAROL)
    expect_refused(eve, BOB[0], 403, f"Not allowed to watch {BOB[0]}", what="no pickup right")
    expect_refused(carol, PAULA[0], 403, f"Not allowed to watch {PAULA[0]}",
                   what="pickup_protected")
    expect_refused(carol, "1999", 404, what="no such number")
    got = expect_refused(carol, BOB[0], 489, event="foo", what="Event: foo")
    allowed = [e.strip() for e in (got.get("allow-events") or "").split(",")]
    harness.check(sorted(allowed) == ["dialog", "presence"], f"489 Allow-Events {allowed}")
    got = expect_refused(carol, BOB[0], 423, expires=10, what="Expires: 10")
    harness.check(got.get("min-expires") == "60", f"423 Min-Expires {got.get('min-expires')!r}")
    wrong = sipua.UA(bench.udp, CAROL[0], "not-the-password", DOMAIN, name="carol-wrong")
    try:
        expect_refused(wrong, BOB[0], 403, what="wrong password")
    finally:
        wrong.close()
    own = watch(eve, EVE[0])  # one's own line is always watchable
    long = carol.subscribe(BOB[0], expires=7200)
    harness.check(long.response.status == 200 and long.response.get("expires") == "3600",
                  f"Expires: 7200 got {long.response.status} Expires "
                  f"{long.response.get('expires')}, expected 3600 (max_expires)")
    for sub in (own, long):
        sub.refresh(0)


# ---- a call ringing N ----

def check_subscription_cap(bench):
    """One extension holds at most 256 subscriptions: the next one gets 403, and ending one
    makes room again."""
    eve = bench.ua(EVE)
    subs = []
    for i in range(256):
        sub = eve.subscribe(EVE[0])
        harness.check(sub.response.status == 200,
                      f"subscription {i + 1} of 256 got {sub.response.status}")
        subs.append(sub)
    refused = eve.subscribe(EVE[0])
    harness.check(refused.response.status == 403 and
                  refused.response.reason == "Too many subscriptions",
                  f"the 257th subscription got {refused.response.status} "
                  f"{refused.response.reason}")
    harness.check(subs[0].refresh(0).status == 200, "unsubscribing one was not answered 200")
    again = eve.subscribe(EVE[0])
    harness.check(again.response.status == 200,
                  f"after one ended, a new subscription got {again.response.status}")
    for sub in subs[1:] + [again]:
        sub.refresh(0)


def check_ringing_then_cancelled(bench):
    carol, alice = bench.ua(CAROL), bench.ua(ALICE)
    sub = watch(carol, BOB[0])
    own = watch(alice, ALICE[0])
    bob = bench.phone(BOB)
    call = alice.invite(uri(BOB[0]))
    harness.check(any(r.status == 180 for r in call.invite.responses),
                  f"caller got {[r.start for r in call.invite.responses]}")
    dialog = wait_dialog(sub, early_with_tags, "early dialog with local-tag while 1002 rings")
    mine = wait_dialog(own, lambda d: d.state == "early" and d.call_id == call.call_id,
                       "the caller's own line shows its call")
    harness.check((mine.direction, mine.local_tag, mine.remote_identity) ==
                  ("initiator", call.local_tag, uri(BOB[0])),
                  f"caller's line: direction {mine.direction} local-tag {mine.local_tag} "
                  f"(caller's From tag {call.local_tag}) remote {mine.remote_identity}")
    harness.check(call.cancel().status == 200, "CANCEL not answered 200")
    harness.check(call.final().status == 487, f"INVITE after CANCEL: {call.final().start}")
    bob.expect_success("1002 rings, then CANCEL, 487")
    harness.check_cancel_reason(bob, False, "1002 after the caller cancelled")
    wait_dialog(sub, ended(dialog.id), "1002's dialog terminated after the CANCEL")
    wait_dialog(own, ended(mine.id), "the caller's dialog terminated after the CANCEL")
    invites = invites_received(bob)
    harness.check(len(invites) == 1, f"1002 got {len(invites)} INVITEs")
    check_dialog_matches(dialog, invites[0], BOB)
    last = infos(sub)[-1]
    ending = next(d for d in last.dialogs if d.id == dialog.id)
    harness.check(ending.event == "cancelled", f"terminated with event {ending.event!r}")
    time.sleep(0.2)
    check_history(sub, uri(BOB[0]))
    check_history(own, uri(ALICE[0]))
    row = bench.record(call.call_id)
    harness.check((row["disposition"], row["hangup_by"]) == ("cancelled", "caller"),
                  f"call record {row}")


# ---- pickup with Replaces ----

def replaces_pickup(bench, picker, header, request_uri, watcher=CAROL):
    """1002 rings (SIPp), Alice calls with SIPp, `picker` sends INVITE/Replaces with the
    header `header(dialog)` built from what `watcher` was told."""
    sub = watch(bench.ua(watcher), BOB[0])
    picker_line = watch(bench.ua(picker), picker[0])
    bob = bench.phone(BOB)
    caller = bench.sipp_caller(BOB[0], hangup=True, talk_ms=400)
    dialog = wait_dialog(sub, early_with_tags, "1002 ringing")
    ua = bench.ua(picker)
    call = ua.invite(request_uri(dialog), [("Replaces", header(dialog))])
    final = call.final()
    harness.check(final.status == 200, f"INVITE with Replaces: {final.status} {final.reason}")
    pai = final.get("p-asserted-identity")
    harness.check(names(pai, ALICE), f"picker's 200 P-Asserted-Identity {pai!r}")
    caller.expect_success("caller picked up, then hangs up")
    harness.check(names(caller.value("answered_by"), picker),
                  f"caller's 200 P-Asserted-Identity {caller.value('answered_by')!r}")
    harness.check(call.wait_request("BYE") is not None, "the caller's BYE never reached the picker")
    bob.expect_success("1002 cancelled after the pickup")
    harness.check_cancel_reason(bob, True, "1002 after the pickup")
    wait_dialog(sub, ended(dialog.id), "1002's lamp after the pickup")
    busy = wait_dialog(picker_line, lambda d: d.state == "confirmed",
                       f"the picker's own line {picker[0]} busy")
    harness.check(busy.direction == "initiator" and busy.call_id == call.call_id,
                  f"picker's line shows direction {busy.direction} call-id {busy.call_id}, "
                  f"its INVITE had {call.call_id}")
    check_dialog_matches(dialog, invites_received(bob)[0], BOB)
    row = bench.record(sipp_call_id(caller))
    got = {key: row.get(key) for key in ("disposition", "answered_by", "pickup_kind",
                                         "picked_from")}
    harness.check(got == {"disposition": "answered", "answered_by": picker[0],
                          "pickup_kind": "blf", "picked_from": BOB[0]}, f"call record {got}")
    time.sleep(0.2)
    check_history(sub, uri(BOB[0]))
    check_history(picker_line, uri(picker[0]))


def check_replaces_rfc_order(bench):
    # RFC 3891 §3 / RFC 5359 §2.16: to-tag = the remote-tag (our tag), from-tag = the local-tag.
    replaces_pickup(bench, CAROL,
                    lambda d: f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag};"
                              "early-only",
                    lambda d: uri(BOB[0]))


def check_replaces_swapped(bench):
    # Tags the other way round, no early-only (Jitsi-like), an arbitrary Request-URI; the
    # picker is allowed by its directed_pickup list and watches on its own.
    replaces_pickup(bench, DAVE,
                    lambda d: f"{d.call_id};to-tag={d.local_tag};from-tag={d.remote_tag}",
                    lambda d: uri("kfp-anything"), watcher=DAVE)


def check_replaces_call_id_only(bench):
    # Snom: the call-id alone, sent to the remote target.
    replaces_pickup(bench, CAROL, lambda d: d.call_id, lambda d: d.remote_target)


def check_replaces_answered_call(bench):
    sub = watch(bench.ua(CAROL), BOB[0])
    bob = bench.phone(BOB, "uas_answer.xml", ring_ms=300)
    caller = bench.sipp_caller(BOB[0], hangup=True, talk_ms=2000)
    dialog = wait_dialog(sub, early_with_tags, "1002 ringing")
    wait_dialog(sub, lambda d: d.id == dialog.id and d.state == "confirmed", "1002 answered")
    carol = bench.ua(CAROL)
    ids = f"{dialog.call_id};to-tag={dialog.remote_tag};from-tag={dialog.local_tag}"
    for header, wanted in ((ids + ";early-only", (486, "Call already answered")),
                           (ids, (403, "Replaces only picks up ringing calls"))):
        final = carol.invite(uri(BOB[0]), [("Replaces", header)]).final()
        harness.check((final.status, final.reason) == wanted,
                      f"Replaces: {header}: got {final.status} {final.reason}, expected {wanted}")
    caller.expect_success("the answered call goes on and the caller hangs up")
    bob.expect_success("1002 answered, then the caller's BYE")
    harness.check(names(caller.value("answered_by"), BOB),
                  f"caller's 200 names {caller.value('answered_by')!r}")
    wait_dialog(sub, ended(dialog.id), "1002's lamp after the hang-up")
    row = bench.record(sipp_call_id(caller))
    harness.check((row["answered_by"], row["pickup_kind"], row["hangup_by"]) ==
                  (BOB[0], "", "caller"), f"call record {row}")
    check_history(sub, uri(BOB[0]))


def check_replaces_refused_while_ringing(bench):
    sub = watch(bench.ua(CAROL), BOB[0])
    bob = bench.phone(BOB)
    alice = bench.ua(ALICE)
    call = alice.invite(uri(BOB[0]))
    dialog = wait_dialog(sub, early_with_tags, "1002 ringing")
    good = f"{dialog.call_id};to-tag={dialog.remote_tag};from-tag={dialog.local_tag};early-only"
    for who, header, wanted in (
            (CAROL, "no-such-call@127.0.0.1;to-tag=a;from-tag=b", (481, "No such dialog")),
            (CAROL, f"{dialog.call_id};to-tag=wrong;from-tag={dialog.local_tag}",
             (481, "No such dialog")),
            (EVE, good, (403, f"Pickup of {BOB[0]} is not allowed")),
            # Permission before anything is said of the dialog: 1005 may not pick up 1002, so
            # wrong tags and a call-id that does not exist get the same 403 as the right ones.
            (EVE, f"{dialog.call_id};to-tag=wrong;from-tag={dialog.local_tag}",
             (403, f"Pickup of {BOB[0]} is not allowed")),
            (EVE, "no-such-call@127.0.0.1;to-tag=a;from-tag=b",
             (403, f"Pickup of {BOB[0]} is not allowed"))):
        final = bench.ua(who).invite(uri(BOB[0]), [("Replaces", header)]).final()
        harness.check((final.status, final.reason) == wanted,
                      f"{who[0]} with Replaces: {header}: got {final.status} {final.reason}, "
                      f"expected {wanted}")
    time.sleep(0.3)
    states = [d.state for info in infos(sub) for d in info.dialogs if d.id == dialog.id]
    harness.check(states and states[-1] == "early" and bob.proc.poll() is None,
                  f"after the refusals 1002's dialog shows {states}, its phone "
                  f"{'ended' if bob.proc.poll() is not None else 'rings'}")
    call.cancel()
    harness.check(call.final().status == 487, f"caller after CANCEL: {call.final().start}")
    bob.expect_success("1002 rang through the refusals, then the caller cancelled")
    harness.check_cancel_reason(bob, False, "1002 after the caller cancelled")
    wait_dialog(sub, ended(dialog.id), "1002's lamp after the CANCEL")
    check_history(sub, uri(BOB[0]))


def check_replaces_unknown_dialog_without_pickup_rights(bench):
    """A picker that may take no call but its own learns nothing from Replaces: 403 even for a
    call-id that does not exist and a Request-URI that names no number."""
    final = bench.ua(EVE).invite(uri("kfp-anything"),
                                 [("Replaces", "no-such-call@127.0.0.1;to-tag=a;from-tag=b")]
                                 ).final()
    harness.check((final.status, final.reason) == (403, "Pickup is not allowed"),
                  f"got {final.status} {final.reason}")
    final = bench.ua(CAROL).invite(uri("kfp-anything"),
                                   [("Replaces", "no-such-call@127.0.0.1;to-tag=a;from-tag=b")]
                                   ).final()
    harness.check((final.status, final.reason) == (481, "No such dialog"),
                  f"a picker with rights: got {final.status} {final.reason}")


def check_replaces_from_the_first_early_notify(bench):
    """The first NOTIFY of a ringing extension has our tag but no local-tag (the phone has not
    sent its 18x): a key pressed then sends "from-tag=" empty, which picks the call up; a
    to-tag that contradicts the leg is still 481."""
    sub = watch(bench.ua(CAROL), BOB[0])
    bob = bench.phone(BOB, "uas_slow_ring_cancel.xml", silent_ms=4000)
    caller = bench.sipp_caller(BOB[0], hangup=True, talk_ms=300)
    dialog = wait_dialog(sub, lambda d: d.state == "early" and d.id != "idle" and
                         d.local_tag == "" and d.remote_tag != "", "1002 ringing, no 18x yet")
    carol = bench.ua(CAROL)
    wrong = carol.invite(uri(BOB[0]), [("Replaces", f"{dialog.call_id};to-tag=wrong;from-tag=")])
    harness.check((wrong.final().status, wrong.final().reason) == (481, "No such dialog"),
                  f"a contradicting to-tag: {wrong.final().status} {wrong.final().reason}")
    call = carol.invite(uri(BOB[0]),
                        [("Replaces", f"{dialog.call_id};to-tag={dialog.remote_tag};from-tag=")])
    final = call.final()
    harness.check(final.status == 200, f"INVITE with Replaces and an empty from-tag: "
                                       f"{final.status} {final.reason}")
    harness.check(bob.value("reason") is None and not invites_received(bob)[1:],
                  "1002 was rung twice")
    caller.expect_success("the caller, picked up before 1002 rang, hangs up")
    harness.check(names(caller.value("answered_by"), CAROL),
                  f"caller's 200 P-Asserted-Identity {caller.value('answered_by')!r}")
    bob.expect_success("1002 sends its late 180 and gets CANCEL")
    row = bench.record(sipp_call_id(caller))
    harness.check((row["answered_by"], row["pickup_kind"], row["picked_from"]) ==
                  (CAROL[0], "blf", BOB[0]), f"call record {row}")
    wait_dialog(sub, ended(dialog.id), "1002's lamp after the pickup")


def check_replaces_ring_group_by_its_call_groups(bench):
    """2000 (call group sales) rings 1008 and 1009, which have no call groups of their own:
    1003 (pickup group sales) watches 2000 and picks 1008's leg up with Replaces, by the ring
    group's rule."""
    sub = watch(bench.ua(CAROL), "2000")
    gus = bench.phone(GUS)
    hal = bench.phone(HAL)
    caller = bench.sipp_caller("2000", hangup=True, talk_ms=300)

    def both_ringing():
        latest = infos(sub)[-1].dialogs
        early = [d for d in latest if early_with_tags(d)]
        return early if len(early) == 2 else None
    dialogs = harness.wait_until(both_ringing, 6, step=0.02)
    harness.check(dialogs, f"2000's two legs never both showed early: {describe(sub)}")
    gus_call_id = harness.wait_until(lambda: invites_received(gus) and invites_received(gus)[0][0])
    dialog = next((d for d in dialogs if d.call_id == gus_call_id), None)
    harness.check(dialog is not None, f"no dialog for 1008's leg {gus_call_id}: {describe(sub)}")
    call = bench.ua(CAROL).invite(
        uri("2000"), [("Replaces", f"{dialog.call_id};to-tag={dialog.remote_tag};"
                                   f"from-tag={dialog.local_tag};early-only")])
    final = call.final()
    harness.check(final.status == 200, f"Replaces of 1008's leg: {final.status} {final.reason}")
    caller.expect_success("the caller, picked up, hangs up")
    gus.expect_success("1008 cancelled")
    hal.expect_success("1009 cancelled")
    row = bench.record(sipp_call_id(caller))
    harness.check((row["answered_by"], row["pickup_kind"]) == (CAROL[0], "blf"),
                  f"call record {row}")
    for d in dialogs:
        wait_dialog(sub, ended(d.id), f"2000's dialog {d.id} after the pickup")


def check_watch_ring_group_by_its_members(bench):
    """2001 has no call groups: watching it follows its members' rules (1003 picks up
    reception, 1002's group; 1005 may pick up nothing)."""
    sub = watch(bench.ua(CAROL), "2001")
    harness.check(sub.response.status == 200, "1003 may not watch 2001")
    expect_refused(bench.ua(EVE), "2001", 403, what="1005 watching 2001")


def check_directed_code_from_remote_target(bench):
    sub = watch(bench.ua(CAROL), BOB[0])
    bob = bench.phone(BOB)
    caller = bench.sipp_caller(BOB[0], hangup=False)
    dialog = wait_dialog(sub, early_with_tags, "1002 ringing")
    carol = bench.ua(CAROL)
    call = carol.invite(dialog.remote_target)  # a plain INVITE to sip:**1002@domain
    final = call.final()
    harness.check(final.status == 200 and names(final.get("p-asserted-identity"), ALICE),
                  f"INVITE {dialog.remote_target}: {final.status} {final.reason}, "
                  f"P-Asserted-Identity {final.get('p-asserted-identity')!r}")
    time.sleep(0.2)
    harness.check(call.bye().status == 200, "the picker's BYE was not answered 200")
    caller.expect_success("caller picked up, then the picker's BYE")
    harness.check(names(caller.value("answered_by"), CAROL),
                  f"caller's 200 names {caller.value('answered_by')!r}")
    bob.expect_success("1002 cancelled after the pickup")
    harness.check_cancel_reason(bob, True, "1002 after the directed pickup")
    wait_dialog(sub, ended(dialog.id), "1002's lamp after the pickup")
    row = bench.record(sipp_call_id(caller))
    got = (row["answered_by"], row["pickup_kind"], row["picked_from"])
    harness.check(got == (CAROL[0], "directed", BOB[0]), f"call record {got}")


# ---- the subscription's life ----

def check_refresh_and_unsubscribe(bench):
    carol = bench.ua(CAROL)
    sub = watch(carol, BOB[0])
    answer = sub.refresh(600)
    harness.check(answer.status == 200 and answer.get("expires") == "600",
                  f"refresh: {answer.status} {answer.reason} Expires {answer.get('expires')}")
    notify = sub.wait_notify(start=1)
    harness.check(notify is not None, f"no NOTIFY after the refresh: {describe(sub)}")
    harness.check(sipua.parse_dialog_info(notify.body).version == 1 and
                  (notify.get("subscription-state") or "").startswith("active"),
                  f"NOTIFY after refresh: Subscription-State {notify.get('subscription-state')}, "
                  f"{describe(sub)}")
    answer = sub.refresh(0)
    harness.check(answer.status == 200, f"unsubscribe: {answer.status} {answer.reason}")
    notify = sub.wait_notify(start=2)
    harness.check(notify is not None, f"no NOTIFY after Expires: 0: {describe(sub)}")
    state = re.sub(r"\s", "", notify.get("subscription-state") or "")
    harness.check(state == "terminated;reason=timeout" and
                  sipua.parse_dialog_info(notify.body).version == 2,
                  f"last NOTIFY: Subscription-State {state}, {describe(sub)}")
    time.sleep(0.2)
    answer = sub.refresh(600)
    harness.check(answer.status == 481,
                  f"refresh of an ended subscription: {answer.status} {answer.reason}")


def check_watcher_answering_481_is_dropped(bench):
    control = watch(bench.ua(CAROL), BOB[0])
    dropped = watch(bench.ua(DAVE), BOB[0])
    dropped.notify_status = 481
    alice = bench.ua(ALICE)
    seen = {"idle"}
    for round_ in (1, 2):
        bob = bench.phone(BOB)
        call = alice.invite(uri(BOB[0]))
        dialog = wait_dialog(control, lambda d: d.state == "early" and d.id not in seen,
                             f"call {round_}: control watcher sees 1002 ring")
        seen.add(dialog.id)
        call.cancel()
        call.final()
        bob.expect_success(f"call {round_} to 1002, cancelled")
        wait_dialog(control, ended(dialog.id), f"call {round_}: control watcher sees it end")
    time.sleep(0.3)
    count = len(dropped.notifies())
    harness.check(count == 2, f"the watcher that answered 481 got {count} NOTIFYs (expected the "
                              f"first one and the one it answered 481): {describe(dropped)}")
    answer = dropped.refresh(600)
    harness.check(answer.status == 481,
                  f"refresh after the 481: {answer.status} {answer.reason}, expected 481")


def check_expiry(procs, binary):
    """With blf.min_expires: 1s, a subscription of Expires 2 ends with a NOTIFY
    terminated;reason=timeout."""
    udp, tcp = harness.free_port(), harness.free_port()
    config, _ = harness.write_server_config(
        procs.workdir, udp, tcp, [CAROL, BOB], domain=DOMAIN, name="short.yaml",
        database_name="short.db", extra_yaml="blf:\n  min_expires: 1s\n")
    server = harness.start_catchline(procs, binary, config, name="catchline-short-expiry")
    carol = sipua.UA(udp, CAROL[0], CAROL[2], DOMAIN, name="carol-short")
    try:
        sub = carol.subscribe(BOB[0], expires=2)
        harness.check(sub.response.status == 200 and sub.response.get("expires") == "2",
                      f"Expires: 2 got {sub.response.status} {sub.response.reason} Expires "
                      f"{sub.response.get('expires')}")
        notify = sub.wait_notify(start=1, timeout=5)
        state = re.sub(r"\s", "", (notify.get("subscription-state") if notify else "") or "")
        harness.check(state == "terminated;reason=timeout",
                      f"at expiry: {'no NOTIFY' if notify is None else state}")
    finally:
        carol.close()
        procs.stop(server)


# ---- presence, private lines, ring groups, forks ----

def check_presence(bench):
    sub = bench.ua(CAROL).subscribe(BOB[0], event="presence")
    harness.check(sub.response.status == 200, f"Event: presence: {sub.response.status}")
    bob = bench.phone(BOB, "uas_answer.xml", ring_ms=700)
    notes = []

    def seen(note):
        def look():
            for m in sub.notifies()[len(notes):]:
                harness.check(m.get("content-type") == "application/pidf+xml" and
                              m.get("event") == "presence",
                              f"presence NOTIFY Event {m.get('event')} Content-Type "
                              f"{m.get('content-type')}")
                basic, text = sipua.parse_pidf(m.body)
                harness.check(basic == "open", f"PIDF basic {basic!r}")
                notes.append(text)
            return note in notes
        harness.check(harness.wait_until(look, 6), f"no PIDF note {note!r}; notes {notes}")
    seen("Available")
    caller = bench.sipp_caller(BOB[0], hangup=True, talk_ms=700)
    seen("Ringing")
    seen("On the phone")
    caller.expect_success("caller answered by 1002, hangs up")
    bob.expect_success("1002 answers")
    count = len(notes)
    harness.wait_until(lambda: len(sub.notifies()) > count, 3)
    seen("Available")
    order = [n for i, n in enumerate(notes) if i == 0 or notes[i - 1] != n]
    harness.check(order == ["Available", "Ringing", "On the phone", "Available"],
                  f"notes in order {notes}")
    sub.refresh(0)


def check_private(bench):
    pia = bench.ua(PIA)
    pia.invite_mode = "ring"
    harness.check(pia.register().status == 200, "1006 did not register")
    sub = watch(bench.ua(CAROL), PIA[0])
    call = bench.ua(ALICE).invite(uri(PIA[0]))
    rung = pia.wait_incoming()
    harness.check(rung is not None, "1006 never rang")
    dialog = wait_dialog(sub, early_with_tags, "1006 ringing")
    check_dialog_matches(dialog, (rung.call_id, rung.remote_tag, rung.local_tag), PIA,
                         private=True)
    body = next(m.body for m in sub.notifies() if dialog.id in m.body)
    harness.check(ALICE[0] not in body and "Alice" not in body,
                  f"blf_private: the caller shows in the NOTIFY: {body}")
    call.cancel()
    harness.check(call.final().status == 487, "caller's INVITE not ended 487")
    # The server sends the CANCEL and the 487 together; the phone's thread may read it later.
    harness.check(harness.wait_until(lambda: rung.cancel_request is not None, 3.0),
                  "1006 got no CANCEL")
    wait_dialog(sub, ended(dialog.id), "1006's lamp after the CANCEL")
    check_history(sub, uri(PIA[0]))


def check_multi_dialogs(bench, watched, extension_of_device, what):
    """Alice calls `watched`; each (extension, device) in `extension_of_device` rings; the
    watcher sees one early dialog per leg, with that leg's ids, then all terminated."""
    sub = watch(bench.ua(CAROL), watched)
    phones = [bench.phone(ext, device=device) for ext, device in extension_of_device]
    call = bench.ua(ALICE).invite(uri(watched))

    def all_ringing():
        latest = infos(sub)[-1].dialogs
        early = [d for d in latest if early_with_tags(d)]
        return early if len(early) == len(phones) else None
    dialogs = harness.wait_until(all_ringing, 6, step=0.02)
    harness.check(dialogs, f"{what}: expected {len(phones)} early dialogs: {describe(sub)}")
    harness.check(len({d.id for d in dialogs}) == len(dialogs) and
                  len({d.call_id for d in dialogs}) == len(dialogs),
                  f"{what}: dialog ids or call-ids repeat: {describe(sub)}")
    call.cancel()
    call.final()
    for phone in phones:
        phone.expect_success(f"{what}: {phone.name} rings, then CANCEL")
    for d in dialogs:
        wait_dialog(sub, ended(d.id), f"{what}: dialog {d.id} after the CANCEL")
    by_call_id = {d.call_id: d for d in dialogs}
    for phone, (ext, _) in zip(phones, extension_of_device):
        invite = invites_received(phone)[0]
        harness.check(invite[0] in by_call_id, f"{what}: the INVITE {phone.name} got (Call-ID "
                                               f"{invite[0]}) is not among {list(by_call_id)}")
        check_dialog_matches(by_call_id[invite[0]], invite, ext)
    check_history(sub, uri(watched))


def check_ring_group(bench):
    check_multi_dialogs(bench, "2000", [(GUS, 0), (HAL, 0)], "ring group 2000")


def check_forked(bench):
    check_multi_dialogs(bench, FRED[0], [(FRED, 0), (FRED, 1)], "1007 on two devices")


def check_baresip_presence(bench):
    """baresip 1.0's presence module (Event: presence only, ../shared/PHONES.md) as 1003, with
    1002 in its contacts: it authenticates its SUBSCRIBE, takes every PIDF NOTIFY (200, never
    415), shows 1002 Online, and is told Ringing while 1002 rings, then Available."""
    sip_port, control_port = harness.free_port(), harness.free_port()
    account = (f"<sip:{CAROL[0]}@{harness.LOOPBACK}:{bench.udp};transport=udp>"
               f";auth_pass={CAROL[2]};answermode=manual;regint=0")
    directory = test_baresip.baresip_config(bench.procs.workdir, "baresip-1003", sip_port,
                                            control_port, account)
    with open(os.path.join(directory, "config"), "a") as f:
        f.write("module_app contact.so\nmodule_app presence.so\n")
    with open(os.path.join(directory, "contacts"), "w") as f:
        f.write(f'"{BOB[1]}" <sip:{BOB[0]}@{harness.LOOPBACK}:{bench.udp}>;presence=p2p\n')
    proc = bench.procs.start(["baresip", "-f", directory, "-t", "60", "-s"], "baresip-1003")
    control = test_baresip.Control(control_port)
    log = lambda: bench.procs.log_of(proc)  # noqa: E731 (-s: baresip prints its SIP trace)
    try:
        subscribed = f"subscribe watcher={CAROL[0]} resource={BOB[0]} event=presence"
        harness.check(harness.wait_until(lambda: subscribed in bench.procs.log_of(bench.server),
                                         8),
                      f"baresip's SUBSCRIBE was not accepted: {log()[-1500:]}")
        harness.check(harness.wait_until(lambda: "<note>Available</note>" in log(), 5),
                      f"baresip got no PIDF NOTIFY: {log()[-1500:]}")
        listed = harness.wait_until(
            lambda: "Online" in str(control.command("contacts").get("data", "")), 5)
        harness.check(listed, f"baresip shows 1002 as {control.command('contacts')}")
        bob = bench.phone(BOB)
        call = bench.ua(ALICE).invite(uri(BOB[0]))
        harness.check(harness.wait_until(lambda: "<note>Ringing</note>" in log(), 5),
                      f"baresip was not told Ringing: {log()[-1500:]}")
        call.cancel()
        call.final()
        bob.expect_success("1002 rings for baresip's contact list, then CANCEL")
        harness.check(harness.wait_until(
            lambda: "<note>Available</note>" in log()[log().rindex("<note>Ringing</note>"):], 5),
            f"baresip was not told Available after the call: {log()[-1500:]}")
        # Responses to NOTIFY in baresip's trace: status line, then header lines up to the CSeq.
        answers = re.findall(r"SIP/2.0 (\d+)[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?CSeq: \d+ NOTIFY",
                             log())
        harness.check(len(answers) >= 3 and set(answers) == {"200"},
                      f"baresip answered the server's NOTIFYs with {answers}")
    finally:
        control.close()
        bench.procs.stop(proc)


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    started = time.monotonic()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        try:
            def run(name, check, *args):
                failed = len(results.failed)
                results.run(name, check, *args)
                if len(results.failed) > failed:
                    bench.reset()
            run("SUBSCRIBE: 401, then 200 and NOTIFY version 0 with one idle dialog",
                check_subscribe, bench)
            run("SUBSCRIBE refused: 403 not allowed / protected / wrong password, 404, 489 with "
                "Allow-Events, 423 with Min-Expires; own line allowed; Expires cut to 3600",
                check_subscribe_refusals, bench)
            run("one extension holds at most 256 subscriptions: the next gets 403 Too many "
                "subscriptions, ending one makes room", check_subscription_cap, bench)
            run("a call rings 1002: early with the phone's call-id and tags, caller identity, "
                "target **1002; caller's line initiator; caller cancels: terminated",
                check_ringing_then_cancelled, bench)
            run("Replaces in RFC 3891 tag order with early-only: picked up, 'completed "
                "elsewhere', lamp off, record blf", check_replaces_rfc_order, bench)
            run("Replaces with the tags swapped, no early-only, any Request-URI (allow-list "
                "picker)", check_replaces_swapped, bench)
            run("Replaces with the call-id alone to the remote target",
                check_replaces_call_id_only, bench)
            run("Replaces of an answered call: 486 with early-only, 403 without; the call goes "
                "on", check_replaces_answered_call, bench)
            run("Replaces refused while ringing: unknown call-id 481, wrong tags 481, not "
                "allowed 403 whatever the tags or call-id; the call rings on",
                check_replaces_refused_while_ringing, bench)
            run("Replaces without pickup rights: 403 for any dialog, even one that does not "
                "exist; 481 only for a picker with rights",
                check_replaces_unknown_dialog_without_pickup_rights, bench)
            run("Replaces from the first early NOTIFY (from-tag= empty, no 18x yet): picked up; "
                "a contradicting to-tag 481", check_replaces_from_the_first_early_notify, bench)
            run("Replaces of a ring group member without call groups, by the ring group's "
                "rule", check_replaces_ring_group_by_its_call_groups, bench)
            run("watching ring group 2001 (no call groups) by its members' rules: 200, 403",
                check_watch_ring_group_by_its_members, bench)
            run("directed code from the BLF remote target (INVITE sip:**1002@domain): picked "
                "up, record directed", check_directed_code_from_remote_target, bench)
            run("refresh: 200 and NOTIFY version 1; Expires: 0: 200 and NOTIFY terminated; "
                "then 481", check_refresh_and_unsubscribe, bench)
            run("a watcher that answers NOTIFY with 481 is dropped: later calls send it nothing",
                check_watcher_answering_481_is_dropped, bench)
            run("Event: presence: PIDF open, notes Available, Ringing, On the phone, Available",
                check_presence, bench)
            run("blf_private: the dialog has the ids but no caller identity", check_private,
                bench)
            run("ring group 2000: its watcher sees both members' legs ring", check_ring_group,
                bench)
            run("1007 with two devices: two dialogs with their own ids", check_forked, bench)
            if test_baresip.MODULES and os.path.isdir(test_baresip.MODULES):
                run("baresip 1.0 presence: SUBSCRIBE authenticated, PIDF taken, Online; told "
                    "Ringing, then Available", check_baresip_presence, bench)
            else:
                print("skip baresip presence: baresip (baresip-core) is not installed")
            if results.failed:
                print(procs.log_of(bench.server)[-4000:])
        finally:
            bench.close()
        procs.stop(bench.server)
        results.run("expiry (blf.min_expires: 1s): NOTIFY terminated;reason=timeout at Expires",
                    check_expiry, procs, binary)
    print(f"took {time.monotonic() - started:.0f}s")
    results.finish()


if __name__ == "__main__":
    main()
