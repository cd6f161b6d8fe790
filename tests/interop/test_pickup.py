"""Call pickup through the real server with SIPp phones (DESIGN.md §4; RFC 3261, RFC 3264 §6,
RFC 3325, RFC 3326): answering, from one's own phone, a call that rings elsewhere.

- group pickup (*8): the picker gets 200 naming the caller (P-Asserted-Identity,
  Remote-Party-ID) with an SDP answer built from the caller's offer, the caller gets 200 naming
  the picker with an answer built from the picker's offer, the rung phone gets CANCEL with
  `Reason: SIP;cause=200;text="Call completed elsewhere"`, and BYE from either side reaches the
  other;
- directed pickup (**N) through the group rule, the allow-list (a number, group:NAME, *) and
  one's own extension;
- denials, each with its exact final response, while the call keeps ringing: no pickup groups,
  not allowed, protected, no such number, nothing to pick up, nothing ringing at N, one's own
  call, no media in common, wrong password;
- the oldest ringing call first; an extension with two devices; ring groups (ringall as a whole,
  through a member, through the group's call groups; sequential, picked up at its second
  member); cancel_reason none per extension and for the whole server, with other feature codes;
- races, each run many times with random timing: two pickers for one call, and a pickup
  against the callee's own answer; exactly one side wins, every time.

The call records (`catchline calls --json`) say who answered, how, and whose call it was.

The first server relays media (the default): the SDP answers name the relay and keep the
codecs chosen from the other side's offer. The second (cancel_reason: none) has `media:
direct`: the answers built from the other phone's offer name that phone's own address and port.

Each phone first registers with SIPp (register.xml), then a SIPp UAS scenario listens on the
port it registered from (SIPp ties messages to a scenario run by Call-ID, so one run cannot both
register and receive the server's INVITE). Callers and pickers are SIPp UACs on fresh ports.

Usage: test_pickup.py --catchline PATH [--rounds N] [--seed S]. Prints one line per check and
"N passed, M failed".
"""
import argparse
import math
import os
import random
import re
import time

import harness

DOMAIN = "catchline.test"
NO_ANSWER_TIMEOUT = 8.0

# (number, name, password, further YAML fields). Groups: 1002, 1008, 1012 and 1013 ring into
# "reception", 1006 into "support"; ring group 2000 rings into "sales".
ALICE = ("1001", "Alice Example", "alice-secret", {"pickup_groups": ["reception"]})
BOB = ("1002", "Bob Builder", "bob-secret", {"call_groups": ["reception"]})
CAROL = ("1003", "Carol Reception", "carol-secret", {"pickup_groups": ["reception"]})
DAVE = ("1004", "Dave Allowed", "dave-secret", {"directed_pickup": ["1002"]})
EVE = ("1005", "Eve Outsider", "eve-secret")
FRANK = ("1006", "Frank Support", "frank-secret", {"call_groups": ["support"]})
GRACE = ("1007", "Grace Groupwise", "grace-secret", {"directed_pickup": ["group:reception"]})
HEIDI = ("1008", "Heidi Private", "heidi-secret",
         {"call_groups": ["reception"], "pickup_protected": True})
IVAN = ("1009", "Ivan Reception", "ivan-secret", {"pickup_groups": ["reception"]})
JUDY = ("1010", "Judy Sales", "judy-secret", {"pickup_groups": ["sales"]})
KIM = ("1011", "Kim Support", "kim-secret", {"pickup_groups": ["support"]})
PAT = ("1012", "Pat Twophones", "pat-secret", {"call_groups": ["reception"]})
NORA = ("1013", "Nora Nomissed", "nora-secret",
        {"call_groups": ["reception"], "pickup_cancel_reason": "none"})
LIAM = ("1014", "Liam Anyone", "liam-secret", {"directed_pickup": ["*"]})
EVERYONE = [ALICE, BOB, CAROL, DAVE, EVE, FRANK, GRACE, HEIDI, IVAN, JUDY, KIM, PAT, NORA, LIAM]

RING_GROUPS = """\
ring_groups:
  - number: "2000"
    name: "Sales"
    members: ["1002", "1006"]
    strategy: ringall
    call_groups: ["sales"]
  - number: "2001"
    name: "Support line"
    members: ["1002", "1006"]
    strategy: sequential
    ring_time: 1s
  - number: "2002"
    name: "Front line"
    members: ["1002", "1006"]
    strategy: ringall
  - number: "2003"
    name: "Front line in turn"
    members: ["1002", "1006"]
    strategy: sequential
    ring_time: 2s
  - number: "2004"
    name: "Private line"
    members: ["1008", "1006"]
    strategy: ringall
"""

# The second server: other feature codes, no Reason by default, one extension that keeps it.
QUIET_CODES = ("*55", "*56")
NORA_KEEPS_REASON = (NORA[0], NORA[1], NORA[2],
                     {"call_groups": ["reception"],
                      "pickup_cancel_reason": "completed-elsewhere"})
QUIET_PICKUP = f"""\
pickup:
  group_code: "{QUIET_CODES[0]}"
  directed_prefix: "{QUIET_CODES[1]}"
  cancel_reason: none
"""

# The SDP ports each role offers (scenarios): with media: direct the other side must get exactly
# this one; relayed, a port of the relay.
CALLER_PORT, CALLEE_PORT, PICKER_PORT = "49170", "49172", "49174"


class Bench:
    """One server, the phones registered with it, and helpers to place calls and pickups."""

    def __init__(self, procs, binary, extensions, extra_yaml="", name="catchline", relayed=True):
        self.procs = procs
        self.binary = binary
        self.relayed = relayed
        if not relayed:
            extra_yaml += harness.DIRECT_MEDIA
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, extensions, domain=DOMAIN,
            no_answer_timeout=f"{int(NO_ANSWER_TIMEOUT)}s", name=f"{name}.yaml",
            database_name=f"{name}.db", extra_yaml=extra_yaml)
        self.server = harness.start_catchline(procs, binary, self.config, name=name)
        self.label = name
        self.runs = 0
        self.phones = {}  # local port -> SIPp phone runs started there
        self.devices = {}  # extension number -> ports it registered from

    def name(self, what):
        self.runs += 1
        return f"{self.label}-{self.runs:03d}-{what}"

    def register(self, extension, devices=1):
        for _ in range(devices):
            run = harness.register(self.procs, self.udp, extension[0], extension[2],
                                   self.name(f"register-{extension[0]}"))
            self.devices.setdefault(extension[0], []).append(run.local_port)

    def phone(self, extension, scenario="uas_ring_until_cancel.xml", device=0, calls=1):
        """A SIPp UAS on the port `extension` registered from (its `device`-th one)."""
        port = self.devices[extension[0]][device]
        # A phone left over from a failed check would hold the port: stop it first.
        for run in self.phones.pop(port, []):
            self.procs.stop(run.proc)
        run = harness.phone(self.procs, scenario, port,
                            self.name(f"phone-{extension[0]}-{device}"), calls=calls)
        run.calls = calls
        self.phones.setdefault(port, []).append(run)
        return run

    def call(self, caller, callee, hangup=False, talk_ms=200):
        """A caller (uac_call_pickable.xml) dialling `callee` (a number)."""
        return self.media_of(harness.Sipp(
            self.procs, harness.scenario("uac_call_pickable.xml"), self.udp, harness.free_port(),
            self.name(f"call-{caller[0]}-{callee}"),
            {"caller": caller[0], "callee": callee, "domain": DOMAIN,
             "hangup": 1 if hangup else 0, "talk_ms": talk_ms},
            extra=["-au", caller[0], "-ap", caller[2], "-timeout", "20s"]))

    def pickup(self, picker, code, hangup=True, talk_ms=200, delay_ms=0):
        """A picker (uac_pickup.xml) dialling `code`; 200 or a final failure."""
        return self.media_of(harness.Sipp(
            self.procs, harness.scenario("uac_pickup.xml"), self.udp, harness.free_port(),
            self.name(f"pickup-{picker[0]}-{file_safe(code)}"),
            {"picker": picker[0], "code": code, "domain": DOMAIN, "delay_ms": f"{delay_ms:.0f}",
             "hangup": 1 if hangup else 0, "talk_ms": talk_ms},
            extra=["-au", picker[0], "-ap", picker[2], "-timeout", "15s"]))

    def media_of(self, run):
        """The run, marked with whether this server relays its media (its checks read it)."""
        run.relayed = self.relayed
        return run

    def refused(self, picker, code, formats="0 8", password=None):
        """A pickup that must fail (uac_pickup_refused.xml); returns (status, reason)."""
        run = harness.Sipp(
            self.procs, harness.scenario("uac_pickup_refused.xml"), self.udp,
            harness.free_port(), self.name(f"refused-{picker[0]}-{file_safe(code)}"),
            {"picker": picker[0], "code": code, "domain": DOMAIN, "formats": formats},
            extra=["-au", picker[0], "-ap", password or picker[2], "-timeout", "15s"])
        code_, _, _ = run.wait(timeout=25)
        got_200 = any(text.startswith("SIP/2.0 200") and "INVITE" in cseq_of(text)
                      for _, way, text in run.messages() if way == "received")
        harness.check(not got_200, f"{picker[0]} dialling {code} was answered 200: the pickup "
                                   "went through")
        harness.check(code_ == 0, f"{picker[0]} dialling {code}: sipp exited {code_}: "
                                  f"{run.error_text()[-1000:]}")
        return run.value("status"), run.value("reason")

    def record(self, caller_run):
        """The call record of a caller's call (SIPp's Call-ID is "1-<pid>@127.0.0.1")."""
        call_id = f"1-{caller_run.proc.pid}@127.0.0.1"
        found = harness.wait_until(
            lambda: next((row for row in harness.call_records(self.binary, self.database)
                          if row["call_id"] == call_id), None), timeout=10)
        harness.check(found is not None, f"no call record for {call_id}")
        return found


def file_safe(code):
    """A dialled code as part of a file name: "*8" -> "star8"."""
    return code.replace("*", "star")


def cseq_of(text):
    match = re.search(r"^CSeq:\s*(.*)$", text, re.M | re.I)
    return match.group(1).strip() if match else ""


def wait_logged(run, key, count=1, timeout=10.0):
    """Waits until the scenario logged `key=` `count` times; fails if it does not."""
    def seen():
        return len([line for line in run.logged() if line.startswith(key + "=")]) >= count
    harness.check(harness.wait_until(lambda: seen() or run.proc.poll() is not None,
                                     timeout=timeout, step=0.01) and seen(),
                  f"{run.name} did not log {key}= {count} time(s) within {timeout:.0f}s; "
                  f"logged {run.logged()}; errors: {run.error_text()[-800:]}")


def finish(*runs, what="", timeout=30):
    """Waits for every run to end with all its calls successful."""
    for run in runs:
        run.expect_success(f"{what}: {run.name}", timeout=timeout,
                           calls=getattr(run, "calls", 1))


def formats(text):
    return sorted((text or "").split())


def identity_problems(value, extension, header):
    """"Name" <sip:NUMBER@domain> in a P-Asserted-Identity value."""
    if value is None or f'"{extension[1]}"' not in value or \
            f"<sip:{extension[0]}@{DOMAIN}>" not in value:
        return [f"{header} {value!r}, expected \"{extension[1]}\" <sip:{extension[0]}@{DOMAIN}>"]
    return []


def check_picker_side(picker_run, caller):
    """The picker's 200 names the caller and answers the picker's offer (PCMA, PCMU, event 96)
    from the caller's (PCMU, event 101) at the caller's address and port, or the relay's."""
    harness.check(picker_run.value("outcome") == "picked",
                  f"the picker got {picker_run.value('status')} {picker_run.value('reason')}")
    problems = identity_problems(picker_run.value("caller_identity"), caller,
                                 "picker's 200 P-Asserted-Identity")
    rpid = picker_run.value("rpid") or ""
    if f"sip:{caller[0]}@" not in rpid or "party=calling" not in rpid:
        problems.append(f"picker's 200 Remote-Party-ID {rpid!r}, expected the caller "
                        "with party=calling")
    sdp = (formats(picker_run.value("answer_formats")), picker_run.value("answer_te"))
    if sdp != (["0", "96"], "96"):
        problems.append(f"picker's SDP answer formats {sdp[0]} telephone-event {sdp[1]}, "
                        "expected the common codecs in the picker's numbers ['0', '96'] and "
                        "telephone-event 96")
    problems.append(harness.media_problem(
        "the picker's SDP answer", picker_run.value("answer_addr"),
        picker_run.value("answer_port"), picker_run.relayed, CALLER_PORT))
    harness.check(not any(problems), "; ".join(p for p in problems if p))


def check_caller_side(caller_run, picker):
    """The caller's 200 names the picker and answers the caller's offer from the picker's, at
    the picker's address and port, or the relay's."""
    harness.check(caller_run.value("outcome") == "answered",
                  f"the caller got {caller_run.value('status')} {caller_run.value('reason')}")
    problems = identity_problems(caller_run.value("answered_by"), picker,
                                 "caller's 200 P-Asserted-Identity")
    sdp = (formats(caller_run.value("answer_formats")), caller_run.value("answer_te"))
    if sdp != (["0", "101"], "101"):
        problems.append(f"caller's SDP answer formats {sdp[0]} telephone-event {sdp[1]}, "
                        "expected the common codecs in the caller's numbers ['0', '101'] and "
                        "telephone-event 101")
    problems.append(harness.media_problem(
        "the caller's SDP answer", caller_run.value("answer_addr"),
        caller_run.value("answer_port"), caller_run.relayed, PICKER_PORT))
    harness.check(not any(problems), "; ".join(p for p in problems if p))


def check_record(bench, caller_run, **expected):
    row = bench.record(caller_run)
    got = {key: row.get(key) for key in expected}
    harness.check(got == expected, f"call record {got}, expected {expected} (whole row {row})")
    if expected.get("disposition") == "answered":
        harness.check(row["answer"] != "-", f"answered call without an answer time: {row}")


def answered_from(caller_run, phone_port):
    """None when the caller's SDP answer points where the answering phone's media comes from:
    that phone's own port with media: direct, else the relay (the same relay port whoever
    answers: the identity says who did). Else what is wrong."""
    return harness.media_problem("the caller's SDP answer", caller_run.value("answer_addr"),
                                 caller_run.value("answer_port"), caller_run.relayed, phone_port)


def answered_count(caller_run):
    """How many different 200s (by To tag) the caller's INVITE got."""
    tags = set()
    for _, way, text in caller_run.messages():
        if way == "received" and text.startswith("SIP/2.0 200") and "INVITE" in cseq_of(text):
            match = re.search(r"^To:.*;\s*tag=([^;\s]+)", text, re.M | re.I)
            tags.add(match.group(1) if match else "")
    return len(tags)


# ---- group and directed pickup ----

def check_group_pickup(bench):
    bob = bench.phone(BOB)
    alice = bench.call(ALICE, BOB[0], hangup=False)
    wait_logged(bob, "invited")
    carol = bench.pickup(CAROL, "*8", hangup=True, talk_ms=300)
    finish(carol, alice, bob, what="group pickup, picker hangs up")
    check_picker_side(carol, ALICE)
    check_caller_side(alice, CAROL)
    harness.check_cancel_reason(bob, True, "1002 after the pickup")
    # The caller's run waited for a BYE: the picker's hang-up reached it.
    check_record(bench, alice, caller=ALICE[0], dialled=BOB[0], disposition="answered",
                 answered_by=CAROL[0], pickup_kind="group", picked_from=BOB[0],
                 hangup_by="callee")


def directed(bench, picker, target=BOB, caller_hangs_up=False):
    phone = bench.phone(target)
    alice = bench.call(ALICE, target[0], hangup=caller_hangs_up, talk_ms=300)
    wait_logged(phone, "invited")
    run = bench.pickup(picker, "**" + target[0], hangup=not caller_hangs_up, talk_ms=300)
    finish(run, alice, phone, what=f"{picker[0]} dials **{target[0]}")
    check_picker_side(run, ALICE)
    check_caller_side(alice, picker)
    harness.check_cancel_reason(phone, True, f"{target[0]} after the pickup")
    check_record(bench, alice, disposition="answered", answered_by=picker[0],
                 pickup_kind="directed", picked_from=target[0],
                 hangup_by="caller" if caller_hangs_up else "callee")


def check_directed_by_number_caller_hangs_up(bench):
    """1004 has directed_pickup ["1002"] and no pickup groups; the caller hangs up after."""
    directed(bench, DAVE, caller_hangs_up=True)


def check_directed_by_group_entry(bench):
    """1007 has directed_pickup ["group:reception"]; 1002 rings into reception."""
    directed(bench, GRACE)


def check_directed_by_star(bench):
    directed(bench, LIAM)


def check_directed_by_pickup_group(bench):
    directed(bench, CAROL)


def check_directed_own_extension(bench):
    """A desk phone of 1002 that is not registered (so not rung) takes the call ringing 1002."""
    directed(bench, BOB)


# ---- denials ----

def check_nothing_ringing(bench):
    problems = []
    for picker, code, status, reason in (
            (CAROL, "*8", "480", "No call to pick up"),
            (CAROL, "**1002", "480", "Nothing ringing at 1002"),
            (BOB, "*8", "403", "No pickup groups")):
        got = bench.refused(picker, code)
        if got != (status, reason):
            problems.append(f"{picker[0]} dialling {code}: got {got}, expected "
                            f"{(status, reason)}")
    harness.check(not problems, "; ".join(problems))


class RingingCalls:
    """1001 calls 1002 and 1005 calls the protected 1008; both ring until nobody answered."""

    def __init__(self, bench):
        self.bench = bench
        self.bob = bench.phone(BOB)
        self.heidi = bench.phone(HEIDI)
        self.started = time.monotonic()
        self.alice = bench.call(ALICE, BOB[0])
        self.eve = bench.call(EVE, HEIDI[0])
        wait_logged(self.bob, "invited")
        wait_logged(self.heidi, "invited")

    def denied(self, picker, code, statuses, reason, formats="0 8", password=None):
        """`picker` dials `code` and gets one of `statuses` with `reason` (None: any), and
        neither ringing phone is cancelled."""
        got = self.bench.refused(picker, code, formats=formats, password=password)
        harness.check(got[0] in statuses.split() and reason in (None, got[1]),
                      f"{picker[0]} dialling {code}: got {got}, expected {statuses} {reason}")
        for phone in (self.bob, self.heidi):
            harness.check(phone.value("reason") is None,
                          f"{phone.name} was cancelled (Reason {phone.value('reason')!r}) "
                          f"after {picker[0]} dialled {code}")

    def check_still_ringing_then_no_answer(self):
        finish(self.alice, self.eve, self.bob, self.heidi, what="calls after the denials",
               timeout=NO_ANSWER_TIMEOUT + 15)
        elapsed = time.monotonic() - self.started
        for caller_run in (self.alice, self.eve):
            harness.check(caller_run.value("outcome") == "refused" and
                          caller_run.value("status") == "480",
                          f"{caller_run.name}: {caller_run.value('outcome')} "
                          f"{caller_run.value('status')} {caller_run.value('reason')}, expected "
                          "480 after no_answer_timeout")
        harness.check(elapsed >= NO_ANSWER_TIMEOUT - 0.5,
                      f"the calls ended after {elapsed:.1f}s, before no_answer_timeout")
        harness.check_cancel_reason(self.bob, False, "1002 when nobody answered")
        harness.check_cancel_reason(self.heidi, False, "1008 when nobody answered")
        for caller_run in (self.alice, self.eve):
            check_record(self.bench, caller_run, disposition="no-answer", answered_by="",
                         pickup_kind="", picked_from="")


# ---- which call ----

def check_oldest_first(bench):
    """1001's call starts ringing 1002 before 1005's: the first *8 gets 1001's."""
    bob = bench.phone(BOB, calls=2)
    alice = bench.call(ALICE, BOB[0])
    wait_logged(bob, "invited")
    eve = bench.call(EVE, BOB[0])
    wait_logged(bob, "invited", count=2)
    carol = bench.pickup(CAROL, "*8", talk_ms=300)
    wait_logged(carol, "outcome")
    ivan = bench.pickup(IVAN, "*8", talk_ms=300)
    finish(carol, ivan, alice, eve, bob, what="two calls ringing 1002, two group pickups")
    harness.check(carol.value("outcome") == "picked" and ALICE[1] in
                  (carol.value("caller_identity") or ""),
                  f"the first *8 got {carol.value('outcome')} {carol.value('status')} from "
                  f"{carol.value('caller_identity')!r}, expected the older call, from 1001")
    check_picker_side(carol, ALICE)
    check_caller_side(alice, CAROL)
    check_picker_side(ivan, EVE)
    check_caller_side(eve, IVAN)
    cancels = sorted(line for line in bob.logged() if line.startswith("cancel="))
    harness.check(len(cancels) == 2 and all(
        harness.COMPLETED_ELSEWHERE.match(line.split(" ", 1)[1] if " " in line else "")
        for line in cancels), f"1002's CANCELs: {cancels}")
    check_record(bench, alice, answered_by=CAROL[0], pickup_kind="group", picked_from=BOB[0])
    check_record(bench, eve, answered_by=IVAN[0], pickup_kind="group", picked_from=BOB[0])


def check_forked(bench):
    desk = bench.phone(PAT, device=0)
    mobile = bench.phone(PAT, device=1)
    alice = bench.call(ALICE, PAT[0])
    wait_logged(desk, "invited")
    wait_logged(mobile, "invited")
    carol = bench.pickup(CAROL, "*8")
    finish(carol, alice, desk, mobile, what="1012 rings on two devices, *8")
    check_picker_side(carol, ALICE)
    check_caller_side(alice, CAROL)
    harness.check_cancel_reason(desk, True, "1012's first device")
    harness.check_cancel_reason(mobile, True, "1012's second device")
    check_record(bench, alice, answered_by=CAROL[0], pickup_kind="group", picked_from=PAT[0])


def check_late_answer_after_pickup(bench):
    """1002 answers only as the pickup's CANCEL arrives (uas_answer_crossing_cancel.xml: 200 for
    the CANCEL, then 200 for the INVITE): the server acknowledges that 200 and ends it with BYE,
    and the caller stays with the picker."""
    bob = bench.phone(BOB, scenario="uas_answer_crossing_cancel.xml")
    alice = bench.call(ALICE, BOB[0], hangup=True, talk_ms=500)
    # That scenario logs nothing: its message trace shows the INVITE.
    harness.check(harness.wait_until(lambda: request_received(bob, "INVITE") < math.inf,
                                     timeout=10),
                  "1002 got no INVITE")
    carol = bench.pickup(CAROL, "*8", hangup=False)
    finish(carol, alice, bob, what="1002's 200 after the pickup won")
    check_picker_side(carol, ALICE)
    check_caller_side(alice, CAROL)
    harness.check(answered_count(alice) == 1,
                  f"the caller was answered {answered_count(alice)} times")
    harness.check(request_received(bob, "BYE") < request_sent(alice, "BYE"),
                  "1002's late 200 was not ended by the server before the caller hung up")
    check_record(bench, alice, answered_by=CAROL[0], pickup_kind="group", picked_from=BOB[0],
                 hangup_by="caller")


# ---- ring groups ----

def ring_group_pickup(bench, picker, code, kind, picked_from):
    bob = bench.phone(BOB)
    frank = bench.phone(FRANK)
    alice = bench.call(ALICE, "2000")
    wait_logged(bob, "invited")
    wait_logged(frank, "invited")
    run = bench.pickup(picker, code)
    finish(run, alice, bob, frank, what=f"ring group 2000 rings 1002 and 1006, {code}")
    check_picker_side(run, ALICE)
    check_caller_side(alice, picker)
    harness.check_cancel_reason(bob, True, "member 1002")
    harness.check_cancel_reason(frank, True, "member 1006")
    check_record(bench, alice, dialled="2000", disposition="answered", answered_by=picker[0],
                 pickup_kind=kind, picked_from=picked_from)


def check_ring_group_as_a_whole(bench):
    """**2000 by 1010, whose pickup group is the ring group's call group."""
    ring_group_pickup(bench, JUDY, "**2000", "directed", "2000")


def check_ring_group_through_member(bench):
    """**1006 by 1011, whose pickup group is member 1006's call group."""
    ring_group_pickup(bench, KIM, "**1006", "directed", "1006")


def check_ring_group_by_its_call_groups(bench):
    """*8 by 1010: neither member rings into "sales", the ring group does."""
    ring_group_pickup(bench, JUDY, "*8", "group", "2000")


def check_ring_group_by_member_call_groups(bench):
    """*8 by 1011, whose pickup group is member 1006's call group: the caller dialled 2000."""
    ring_group_pickup(bench, KIM, "*8", "group", "2000")


def check_sequential_ring_group(bench):
    bob = bench.phone(BOB)
    frank = bench.phone(FRANK)
    alice = bench.call(ALICE, "2001")
    wait_logged(bob, "invited")
    harness.check(frank.value("invited") is None, "1006 rang together with 1002")
    early = bench.refused(KIM, "**1006")
    harness.check(early == ("480", "Nothing ringing at 1006"),
                  f"**1006 while only 1002 rings: got {early}")
    wait_logged(frank, "invited", timeout=5)
    waited = request_received(frank, "INVITE") - request_received(bob, "INVITE")
    harness.check(0.7 <= waited <= 2.5, f"1006 rang {waited:.2f}s after 1002, ring_time is 1s")
    wait_logged(bob, "reason", timeout=2)
    harness.check_cancel_reason(bob, False, "1002 when the ring group moved on")
    kim = bench.pickup(KIM, "**1006")
    finish(kim, alice, bob, frank, what="sequential ring group, **1006 at its second member")
    check_picker_side(kim, ALICE)
    check_caller_side(alice, KIM)
    harness.check_cancel_reason(frank, True, "member 1006 after the pickup")
    check_record(bench, alice, dialled="2001", disposition="answered", answered_by=KIM[0],
                 pickup_kind="directed", picked_from="1006")


# The permission of **RINGGROUP is the union of the ring group's own rule and the rules of the
# members ringing at that moment (2002-2004 have no call groups of their own).

def ringall_refused_then_taken(bench, number, members, refused_by, taken_by):
    """ringall `number` rings `members`: `refused_by` dialling **number gets 403 and nothing
    is cancelled; `taken_by` then takes the call and every member is cancelled."""
    phones = [bench.phone(member) for member in members]
    alice = bench.call(ALICE, number)
    for phone in phones:
        wait_logged(phone, "invited")
    refused = bench.refused(refused_by, "**" + number)
    harness.check(refused == ("403", f"Pickup of {number} is not allowed"),
                  f"**{number} by {refused_by[0]}: got {refused}")
    for phone in phones:
        harness.check(phone.value("reason") is None, f"{phone.name} was cancelled by a refusal")
    run = bench.pickup(taken_by, "**" + number)
    finish(run, alice, *phones, what=f"ringall {number}, **{number} by {taken_by[0]}")
    check_picker_side(run, ALICE)
    check_caller_side(alice, taken_by)
    for phone in phones:
        harness.check_cancel_reason(phone, True, f"{phone.name} after the pickup")
    check_record(bench, alice, dialled=number, disposition="answered", answered_by=taken_by[0],
                 pickup_kind="directed", picked_from=number)


def check_ring_group_without_groups_by_ringing_members(bench):
    """ringall 2002 rings 1002 (reception) and 1006 (support): 1010 (sales) is refused, 1009
    (reception) takes it with **2002."""
    ringall_refused_then_taken(bench, "2002", [BOB, FRANK], JUDY, IVAN)


def check_sequential_ring_group_by_the_member_whose_turn_it_is(bench):
    """sequential 2003: while 1002 (reception) rings, 1011 (support) gets 480; once 1006
    (support) rings, 1009 (reception) gets 480 and 1011 takes it with **2003."""
    bob = bench.phone(BOB)
    frank = bench.phone(FRANK)
    alice = bench.call(ALICE, "2003")
    wait_logged(bob, "invited")
    early = bench.refused(KIM, "**2003")
    harness.check(frank.value("invited") is None, "1006 rang before the first refusal ended: "
                                                  "the check lost its race with ring_time")
    harness.check(early == ("480", "Nothing ringing at 2003"),
                  f"**2003 by 1011 while only 1002 rings: got {early}")
    wait_logged(frank, "invited", timeout=5)
    late = bench.refused(IVAN, "**2003")
    harness.check(late == ("480", "Nothing ringing at 2003"),
                  f"**2003 by 1009 once 1006's turn came: got {late}")
    kim = bench.pickup(KIM, "**2003")
    finish(kim, alice, bob, frank, what="sequential 2003, **2003 at its second member")
    check_caller_side(alice, KIM)
    harness.check_cancel_reason(bob, False, "1002 when the ring group moved on")
    harness.check_cancel_reason(frank, True, "member 1006 after the pickup")
    check_record(bench, alice, dialled="2003", disposition="answered", answered_by=KIM[0],
                 pickup_kind="directed", picked_from="2003")


def check_ring_group_with_a_protected_member(bench):
    """ringall 2004 rings the protected 1008 (reception) and 1006 (support): 1009 (reception)
    is refused (a protected member lends no rights), 1011 (support) takes the call."""
    ringall_refused_then_taken(bench, "2004", [HEIDI, FRANK], IVAN, KIM)


# ---- cancel_reason ----

def check_extension_without_reason(bench):
    """1013 has pickup_cancel_reason: none."""
    nora = bench.phone(NORA)
    alice = bench.call(ALICE, NORA[0])
    wait_logged(nora, "invited")
    carol = bench.pickup(CAROL, "*8")
    finish(carol, alice, nora, what="*8 for a call ringing 1013")
    check_picker_side(carol, ALICE)
    check_caller_side(alice, CAROL)
    harness.check_cancel_reason(nora, False, "1013 (pickup_cancel_reason: none)")
    check_record(bench, alice, answered_by=CAROL[0], pickup_kind="group", picked_from=NORA[0])


def check_quiet_server(quiet, code, target, elsewhere, kind):
    phone = quiet.phone(target)
    alice = quiet.call(ALICE, target[0])
    wait_logged(phone, "invited")
    carol = quiet.pickup(CAROL, code)
    finish(carol, alice, phone, what=f"{code} on the server with cancel_reason: none")
    check_picker_side(carol, ALICE)
    check_caller_side(alice, CAROL)
    harness.check_cancel_reason(phone, elsewhere, f"{target[0]} on the server with cancel_reason: none")
    check_record(quiet, alice, answered_by=CAROL[0], pickup_kind=kind, picked_from=target[0])


# ---- races ----

def check_race_two_pickers(bench, rounds, rng):
    """Each picker waits 0-50 ms at random before its authenticated INVITE; the second SIPp
    starts a little later than the first, a lag measured from the traces and taken off."""
    wins = {CAROL[0]: 0, IVAN[0]: 0}
    gaps = []
    lag = 0.0  # ms by which the second picker's INVITE trails for the same delay
    for n in range(rounds):
        bob = bench.phone(BOB)
        alice = bench.call(ALICE, BOB[0], hangup=True, talk_ms=150)
        wait_logged(bob, "invited")
        delays = (rng.uniform(0, 50) + max(lag, 0.0), rng.uniform(0, 50) + max(-lag, 0.0))
        carol = bench.pickup(CAROL, "*8", hangup=False, delay_ms=delays[0])
        ivan = bench.pickup(IVAN, "*8", hangup=False, delay_ms=delays[1])
        finish(carol, ivan, alice, bob, what=f"round {n + 1}: two pickers, delays "
                                             f"{delays[0]:.0f}/{delays[1]:.0f} ms")
        outcomes = {CAROL[0]: carol, IVAN[0]: ivan}
        picked = [number for number, run in outcomes.items() if run.value("outcome") == "picked"]
        harness.check(len(picked) == 1,
                      f"round {n + 1}: {len(picked)} pickers got 200: " + ", ".join(
                          f"{number} {run.value('outcome')} {run.value('status')} "
                          f"{run.value('reason')}" for number, run in outcomes.items()))
        winner = picked[0]
        loser_run = ivan if winner == CAROL[0] else carol
        harness.check((loser_run.value("status"), loser_run.value("reason")) ==
                      ("480", "No call to pick up"),
                      f"round {n + 1}: the second picker got {loser_run.value('status')} "
                      f"{loser_run.value('reason')}, expected 480 No call to pick up")
        harness.check(answered_count(alice) == 1,
                      f"round {n + 1}: the caller was answered {answered_count(alice)} times")
        harness.check(f"sip:{winner}@" in (alice.value("answered_by") or ""),
                      f"round {n + 1}: {winner} won but the caller's 200 names "
                      f"{alice.value('answered_by')!r}")
        harness.check_cancel_reason(bob, True, f"round {n + 1}: 1002")
        check_record(bench, alice, answered_by=winner, pickup_kind="group", picked_from=BOB[0])
        wins[winner] += 1
        gap = (invite_sent(ivan) - invite_sent(carol)) * 1000
        gaps.append(abs(gap))
        lag = 0.5 * lag + 0.5 * (gap - (delays[1] - delays[0]))
    print(f"     two pickers, {rounds} rounds: wins {wins}; authenticated INVITEs "
          f"{min(gaps):.0f}-{max(gaps):.0f} ms apart, {sum(g < 5 for g in gaps)} rounds "
          "within 5 ms", flush=True)


def invite_sent(run, cseq="2 INVITE"):
    """When the run first sent the INVITE with this CSeq (unix time)."""
    return next((when for when, way, text in run.messages()
                 if way == "sent" and text.startswith("INVITE") and cseq_of(text) == cseq), 0.0)


def request_received(run, method):
    """When the run first received a `method` request (unix time; infinity if it never did)."""
    return next((when for when, way, text in run.messages()
                 if way == "received" and text.startswith(method + " ")), math.inf)


def request_sent(run, method):
    """When the run first sent a `method` request (unix time; infinity if it never did)."""
    return next((when for when, way, text in run.messages()
                 if way == "sent" and text.startswith(method + " ")), math.inf)


def response_sent(run, status):
    return next((when for when, way, text in run.messages()
                 if way == "sent" and text.startswith(f"SIP/2.0 {status}")
                 and "INVITE" in cseq_of(text)), 0.0)


def check_race_pickup_against_answer(bench, rounds, rng):
    """The callee answers 300 ms after its 180 (uas_ring_answer_late.xml); the picker's INVITE is
    aimed at that moment, give or take 25 ms: `aim` is corrected each round from the message
    traces, since SIPp takes a while to start."""
    tally = {"picker": 0, "picker, callee's 200 ACKed and BYE'd": 0, "callee": 0}
    aim = 250.0  # ms from seeing the INVITE to the picker's authenticated INVITE, corrected
    offsets = []
    for n in range(rounds):
        bob = bench.phone(BOB, scenario="uas_ring_answer_late.xml")
        alice = bench.call(ALICE, BOB[0], hangup=True, talk_ms=150)
        wait_logged(bob, "invited")
        jitter = rng.uniform(-25, 25)
        carol = bench.pickup(CAROL, "*8", hangup=False, delay_ms=max(0.0, aim + jitter))
        finish(carol, alice, bob, what=f"round {n + 1}: pickup against the answer")
        rang = response_sent(bob, 180)
        offset = (invite_sent(carol) - (rang + 0.300)) * 1000 if rang else 0.0
        offsets.append(offset)
        aim -= 0.7 * (offset - jitter)
        round_name = f"round {n + 1} (pickup {offset:+.0f} ms from the answer)"
        harness.check(answered_count(alice) == 1,
                      f"{round_name}: the caller was answered {answered_count(alice)} times")
        by = alice.value("answered_by") or ""
        if carol.value("outcome") == "picked":
            harness.check(f"sip:{CAROL[0]}@" in by and
                          not answered_from(alice, PICKER_PORT),
                          f"{round_name}: the picker got 200 but the caller's 200 names {by!r}: "
                          f"{answered_from(alice, PICKER_PORT)}")
            if bob.value("outcome") == "cancelled":
                harness.check_cancel_reason(bob, True, f"{round_name}: 1002")
                tally["picker"] += 1
            else:
                # Its 200 came after the pickup won: ACKed, then ended with BYE (the run
                # finished, so both came), the server's own BYE: the caller's is later and goes
                # to the picker.
                harness.check(bob.value("outcome") == "answered",
                              f"{round_name}: the callee logged {bob.logged()}")
                harness.check(request_received(bob, "BYE") < request_sent(alice, "BYE"),
                              f"{round_name}: the callee's late 200 was not ended by the server "
                              "before the caller hung up")
                tally["picker, callee's 200 ACKed and BYE'd"] += 1
            check_record(bench, alice, answered_by=CAROL[0], pickup_kind="group",
                         picked_from=BOB[0])
        else:
            harness.check((carol.value("status"), carol.value("reason")) ==
                          ("480", "No call to pick up"),
                          f"{round_name}: the picker got {carol.value('status')} "
                          f"{carol.value('reason')}, expected 200 or 480 No call to pick up")
            harness.check(bob.value("outcome") == "answered" and f"sip:{BOB[0]}@" in by and
                          not answered_from(alice, CALLEE_PORT),
                          f"{round_name}: the pickup lost, yet the callee logged "
                          f"{bob.value('outcome')} and the caller's 200 names {by!r}: "
                          f"{answered_from(alice, CALLEE_PORT)}")
            check_record(bench, alice, answered_by=BOB[0], pickup_kind="", picked_from="")
            tally["callee"] += 1
    print(f"     pickup against answer, {rounds} rounds: {tally}; pickups "
          f"{min(offsets):+.0f} to {max(offsets):+.0f} ms from the answer", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--catchline", required=True)
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each race")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    binary = os.path.abspath(args.catchline)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"random seed {seed} (--seed to repeat)", flush=True)
    rng = random.Random(seed)
    results = harness.Results()
    started = time.monotonic()
    with harness.session() as procs:
        bench = Bench(procs, binary, EVERYONE, extra_yaml=RING_GROUPS)
        for extension in (BOB, FRANK, HEIDI, NORA):
            bench.register(extension)
        bench.register(PAT, devices=2)
        run = results.run
        run("group pickup *8: both 200s name the other side, SDP answers from the other's "
            "offer, 'completed elsewhere', BYE relayed", check_group_pickup, bench)
        run("directed **1002 by allow-list number; the caller hangs up",
            check_directed_by_number_caller_hangs_up, bench)
        run("directed **1002 by allow-list group:reception", check_directed_by_group_entry,
            bench)
        run("directed **1002 by allow-list *", check_directed_by_star, bench)
        run("directed **1002 by pickup group", check_directed_by_pickup_group, bench)
        run("directed **1002 from 1002's own other phone", check_directed_own_extension, bench)
        run("nothing ringing: 480 No call to pick up, 480 Nothing ringing at 1002; "
            "403 No pickup groups", check_nothing_ringing, bench)
        calls = []
        run("denials: 1001 calls 1002, 1005 calls the protected 1008, both ring",
            lambda: calls.append(RingingCalls(bench)))
        if calls:
            ringing = calls[0]
            for title, args_ in (
                    ("*8 without pickup groups: 403 No pickup groups",
                     (DAVE, "*8", "403", "No pickup groups")),
                    ("**1002 without permission: 403 Pickup of 1002 is not allowed",
                     (KIM, "**1002", "403", "Pickup of 1002 is not allowed")),
                    ("**1008 (protected): 403 Pickup of 1008 is not allowed: protected",
                     (CAROL, "**1008", "403", "Pickup of 1008 is not allowed: protected")),
                    ("**1008 (protected) despite directed_pickup *: 403 ...: protected",
                     (LIAM, "**1008", "403", "Pickup of 1008 is not allowed: protected")),
                    ("**9999: 404 No such number", (CAROL, "**9999", "404", "No such number")),
                    ("*8 with nothing in my groups ringing: 480 No call to pick up",
                     (KIM, "*8", "480", "No call to pick up")),
                    ("**1012 while 1012 is idle: 480 Nothing ringing at 1012",
                     (CAROL, "**1012", "480", "Nothing ringing at 1012")),
                    ("*8 by the caller itself: 480 No call to pick up (own call)",
                     (ALICE, "*8", "480", "No call to pick up"))):
                run("denied, call keeps ringing: " + title, ringing.denied, *args_)
            run("denied, call keeps ringing: *8 offering only G.722: 488 No media in common "
                "with the caller", lambda: ringing.denied(CAROL, "*8", "488",
                                                          "No media in common with the caller",
                                                          formats="9"))
            run("denied, call keeps ringing: *8 with a wrong password: 403 or 407",
                lambda: ringing.denied(CAROL, "*8", "403 407", None, password="wrong"))
            run("after the denials both calls rang on to no answer: plain CANCEL, 480, "
                "recorded no-answer", ringing.check_still_ringing_then_no_answer)
        run("oldest first: two calls ring 1002, *8 takes 1001's, the next *8 1005's",
            check_oldest_first, bench)
        run("1012 rings on two devices: a pickup cancels both with the Reason", check_forked,
            bench)
        run("1002 answers after the pickup won: its 200 is ACKed and ended with BYE",
            check_late_answer_after_pickup, bench)
        run("ringall 2000 as a whole (**2000): both members cancelled",
            check_ring_group_as_a_whole, bench)
        run("ringall 2000 through its member (**1006)", check_ring_group_through_member, bench)
        run("ringall 2000 by the ring group's call_groups (*8)",
            check_ring_group_by_its_call_groups, bench)
        run("ringall 2000 by its member's call_groups (*8)",
            check_ring_group_by_member_call_groups, bench)
        run("sequential 2001: 1002 rings, CANCEL without Reason after 1 s, 1006 rings, **1006 "
            "picks it up", check_sequential_ring_group, bench)
        run("ringall 2002 without call groups: **2002 refused 403 for sales, taken by a "
            "ringing member's pickup group", check_ring_group_without_groups_by_ringing_members,
            bench)
        run("sequential 2003: **2003 by the group of the member whose turn it is, 480 for the "
            "other", check_sequential_ring_group_by_the_member_whose_turn_it_is, bench)
        run("ringall 2004 with a protected member: 403 through it, taken through the other",
            check_ring_group_with_a_protected_member, bench)
        run("pickup_cancel_reason: none on 1013: CANCEL without Reason",
            check_extension_without_reason, bench)
        run(f"race, {args.rounds} rounds: two pickers for one call, exactly one wins",
            check_race_two_pickers, bench, args.rounds, rng)
        run(f"race, {args.rounds} rounds: pickup against the callee's answer, exactly one wins",
            check_race_pickup_against_answer, bench, args.rounds, rng)
        if results.failed:
            print(procs.log_of(bench.server)[-4000:])
        procs.stop(bench.server)

        # Direct media here keeps the answers built from the other phone's own offer covered.
        quiet = Bench(procs, binary, [ALICE, BOB, CAROL, NORA_KEEPS_REASON],
                      extra_yaml=QUIET_PICKUP, name="quiet", relayed=False)
        quiet.register(BOB)
        quiet.register(NORA_KEEPS_REASON)
        run(f"cancel_reason: none, group_code {QUIET_CODES[0]}: CANCEL without Reason",
            check_quiet_server, quiet, QUIET_CODES[0], BOB, False, "group")
        run(f"cancel_reason: none, but 1013 keeps it: {QUIET_CODES[1]}1013 gives 'completed "
            "elsewhere'", check_quiet_server, quiet, QUIET_CODES[1] + NORA[0],
            NORA_KEEPS_REASON, True, "directed")
        if any(name.startswith("cancel_reason") for name in results.failed):
            print(procs.log_of(quiet.server)[-4000:])
    print(f"took {time.monotonic() - started:.0f}s")
    results.finish()


if __name__ == "__main__":
    main()
