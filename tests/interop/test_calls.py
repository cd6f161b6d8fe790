"""Two-party calls through the real server with SIPp phones (RFC 3261 §13-§15, RFC 3326,
RFC 3325): answered and ended by either side, CANCEL (also before the callee rings, and crossing
the callee's answer), busy, no answer, 404, 480, forking to two
devices of one extension with "Call completed elsewhere", the 407 challenge of every INVITE, the
caller's identity shown to the callee, and the call records `catchline calls` prints afterwards.
The server relays media (the default): each phone's SDP names the relay; a second server with
`media: direct` passes the phones' SDP unchanged.

Each phone first registers with SIPp (register.xml), then a SIPp UAS scenario listens on the
port it registered from: SIPp ties messages to a scenario run by Call-ID, so one run cannot
both register and receive the server's INVITE (which has a Call-ID of its own).

Usage: test_calls.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import time

import harness

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret")
CAROL = ("1003", "Carol Away", "carol-secret")
DAVE = ("1004", "Dave Twophones", "dave-secret")
NO_ANSWER_TIMEOUT = 3.0
# The SDP ports the scenarios offer (uac_call*.xml) and answer (uas_answer*.xml) with.
CALLER_PORT, CALLEE_PORT = 49170, 49172


class Bench:
    """The server, Bob's registered phone, and the records of the calls placed."""

    def __init__(self, procs, binary, relayed=True, name="catchline"):
        self.procs = procs
        self.binary = binary
        self.relayed = relayed
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, [ALICE, BOB, CAROL, DAVE], domain=DOMAIN,
            no_answer_timeout=f"{int(NO_ANSWER_TIMEOUT)}s", name=f"{name}.yaml",
            database_name=f"{name}.db", extra_yaml="" if relayed else harness.DIRECT_MEDIA)
        self.server = harness.start_catchline(procs, binary, self.config, name=name)
        self.label = name
        self.runs = 0
        self.phones = {}  # local port -> SIPp phone runs started there
        self.bob = harness.register(procs, self.udp, BOB[0], BOB[2], self.name("register-bob"))
        self.expected_records = []  # (caller Call-ID, disposition, hangup_by, answered_by, what)

    def name(self, what):
        self.runs += 1
        return f"{self.label}-{self.runs:02d}-{what}"

    def phone(self, scenario, port, what, **variables):
        # A phone left over from a failed check would hold the port: stop it first.
        for run in self.phones.pop(port, []):
            self.procs.stop(run.proc)
        run = harness.phone(self.procs, scenario, port, self.name(what), variables)
        self.phones.setdefault(port, []).append(run)
        return run

    def caller(self, scenario, callee, what, transport="udp", **variables):
        variables.update({"caller": ALICE[0], "callee": callee, "domain": DOMAIN})
        port = self.tcp if transport == "tcp" else self.udp
        return harness.Sipp(self.procs, harness.scenario(scenario), port, harness.free_port(),
                            self.name(what), variables, extra=["-au", ALICE[0], "-ap", ALICE[2]],
                            transport=transport)

    def expect_record(self, caller_run, disposition, hangup_by, answered_by, what):
        # SIPp's Call-ID is "<call number>-<pid>@<local ip>" (-cid_str default).
        call_id = f"1-{caller_run.proc.pid}@127.0.0.1"
        self.expected_records.append((call_id, disposition, hangup_by, answered_by, what))


def check_callee_saw_caller(phone):
    """The INVITE showed Alice by name and number in From and in P-Asserted-Identity."""
    seen = {key: phone.value(key) for key in
            ("from_name", "from_number", "pai_name", "pai_number")}
    harness.check(seen == {"from_name": ALICE[1], "from_number": ALICE[0],
                           "pai_name": ALICE[1], "pai_number": ALICE[0]},
                  f"callee saw {seen}")


def check_media(bench, caller, callee):
    """The callee got an offer and the caller an answer that name the relay, or with media:
    direct the other phone's own port."""
    problems = [harness.media_problem(f"the offer to the callee ({callee.name})",
                                      callee.value("offer_addr"), callee.value("offer_port"),
                                      bench.relayed, CALLER_PORT),
                harness.media_problem(f"the answer to the caller ({caller.name})",
                                      caller.value("answer_addr"), caller.value("answer_port"),
                                      bench.relayed, CALLEE_PORT)]
    harness.check(not any(problems), "; ".join(p for p in problems if p))


def check_answered_caller_hangs_up(bench):
    bob = bench.phone("uas_answer.xml", bench.bob.local_port, "bob-answers", ring_ms=200)
    alice = bench.caller("uac_call.xml", BOB[0], "alice-calls-bob", talk_ms=300)
    alice.expect_success("caller: 407, INVITE again, 180, 200, ACK, BYE, 200")
    bob.expect_success("callee: INVITE, 180, 200, ACK, BYE from the caller, 200")
    check_callee_saw_caller(bob)
    check_media(bench, alice, bob)
    harness.check(alice.value("rang") == "1", "the caller never saw the 180")
    answered_by = alice.value("answered_by") or ""
    harness.check(f'"{BOB[1]}"' in answered_by and f"sip:{BOB[0]}@" in answered_by,
                  f"200 to the caller has P-Asserted-Identity {answered_by!r}")
    bench.expect_record(alice, "answered", "caller", BOB[0], "answered, caller hung up")


def check_answered_callee_hangs_up_caller_on_tcp(bench):
    bob = bench.phone("uas_answer_bye.xml", bench.bob.local_port, "bob-answers-hangs-up",
                      ring_ms=100, talk_ms=300)
    alice = bench.caller("uac_call_remote_bye.xml", BOB[0], "alice-tcp-calls-bob",
                         transport="tcp")
    bob.expect_success("callee: INVITE, 180, 200, ACK, sends BYE, gets 200")
    alice.expect_success("caller over TCP: answered, then the server's BYE arrives")
    check_callee_saw_caller(bob)
    check_media(bench, alice, bob)
    bench.expect_record(alice, "answered", "callee", BOB[0], "answered, callee hung up")


def check_caller_cancels(bench):
    bob = bench.phone("uas_ring_cancel.xml", bench.bob.local_port, "bob-rings")
    alice = bench.caller("uac_call_cancel.xml", BOB[0], "alice-cancels")
    alice.expect_success("caller: 180, CANCEL, 200, 487, ACK")
    bob.expect_success("callee: INVITE, 180, CANCEL without 'completed elsewhere', 487, ACK")
    bench.expect_record(alice, "cancelled", "caller", "", "caller cancelled")


def check_cancel_before_ringing(bench):
    bob = bench.phone("uas_slow_ring_cancel.xml", bench.bob.local_port, "bob-slow-to-ring",
                      silent_ms=600)
    alice = bench.caller("uac_call_cancel_early.xml", BOB[0], "alice-cancels-early")
    alice.expect_success("caller: 100, CANCEL, 200, 487, ACK")
    bob.expect_success("callee: no CANCEL before its 180 (RFC 3261 §9.1), then 487")
    bench.expect_record(alice, "cancelled", "caller", "", "caller cancelled before ringing")


def check_answer_crossing_cancel(bench):
    bob = bench.phone("uas_answer_crossing_cancel.xml", bench.bob.local_port,
                      "bob-answers-too-late")
    alice = bench.caller("uac_call_cancel.xml", BOB[0], "alice-cancels-as-bob-answers")
    alice.expect_success("caller: 180, CANCEL, 200, 487, ACK")
    bob.expect_success("callee whose 200 crossed the CANCEL: ACK, then BYE from the server")
    bench.expect_record(alice, "cancelled", "caller", "", "answer crossed the caller's CANCEL")


def check_busy(bench):
    bob = bench.phone("uas_busy.xml", bench.bob.local_port, "bob-busy")
    alice = bench.caller("uac_call_refused.xml", BOB[0], "alice-gets-busy")
    alice.expect_success("caller of a busy phone")
    bob.expect_success("callee: INVITE, 486, ACK")
    harness.check(alice.value("status") == "486",
                  f"busy callee: caller got {alice.value('status')} {alice.value('reason')}")
    bench.expect_record(alice, "busy", "callee", "", "busy")


def check_no_answer(bench):
    bob = bench.phone("uas_ring_cancel.xml", bench.bob.local_port, "bob-rings-unanswered")
    started = time.monotonic()
    alice = bench.caller("uac_call_refused.xml", BOB[0], "alice-no-answer")
    alice.expect_success("caller of a phone that only rings")
    elapsed = time.monotonic() - started
    bob.expect_success("callee: INVITE, 180, CANCEL without 'completed elsewhere', 487, ACK")
    harness.check(alice.value("status") == "480",
                  f"no answer: caller got {alice.value('status')} {alice.value('reason')}")
    harness.check(alice.value("rang") == "1", "the caller never saw the 180")
    harness.check(NO_ANSWER_TIMEOUT - 0.3 <= elapsed <= NO_ANSWER_TIMEOUT + 5,
                  f"480 came after {elapsed:.1f}s, no_answer_timeout is {NO_ANSWER_TIMEOUT}s")
    bench.expect_record(alice, "no-answer", "system", "", "no answer")


def check_unknown_number(bench):
    alice = bench.caller("uac_call_refused.xml", "1999", "alice-calls-nobody")
    alice.expect_success("call to a number that does not exist")
    harness.check(alice.value("status") == "404", f"1999: got {alice.value('status')}")


def check_not_registered(bench):
    alice = bench.caller("uac_call_refused.xml", CAROL[0], "alice-calls-carol")
    alice.expect_success("call to an extension with no device registered")
    harness.check(alice.value("status") == "480", f"1003: got {alice.value('status')}")


def check_forked_to_two_devices(bench):
    desk = harness.register(bench.procs, bench.udp, DAVE[0], DAVE[2], bench.name("dave-desk"))
    mobile = harness.register(bench.procs, bench.udp, DAVE[0], DAVE[2],
                              bench.name("dave-mobile"))
    answers = bench.phone("uas_answer.xml", desk.local_port, "dave-desk-answers", ring_ms=400)
    loses = bench.phone("uas_ring_cancel_elsewhere.xml", mobile.local_port,
                        "dave-mobile-cancelled")
    alice = bench.caller("uac_call.xml", DAVE[0], "alice-calls-dave", talk_ms=200)
    alice.expect_success("caller of a two-device extension")
    answers.expect_success("the device that answers")
    loses.expect_success('the other device: CANCEL with Reason: SIP;cause=200;text="Call '
                         'completed elsewhere"')
    check_callee_saw_caller(answers)
    check_media(bench, alice, answers)
    bench.expect_record(alice, "answered", "caller", DAVE[0], "forked, answered on one device")


def check_call_records(bench):
    """`catchline calls --db FILE --json` lists each call with its disposition and who hung up."""
    wanted = {call_id: rest for call_id, *rest in bench.expected_records}
    records = harness.wait_until(
        lambda: (lambda rows: rows if all(cid in rows for cid in wanted) else None)(
            {row["call_id"]: row for row in harness.call_records(bench.binary, bench.database)}),
        timeout=10)
    harness.check(records, "not every call has a record after 10 s: "
                           f"{harness.call_records(bench.binary, bench.database)}")
    problems = []
    for call_id, (disposition, hangup_by, answered_by, what) in wanted.items():
        row = records[call_id]
        got = (row["disposition"], row["hangup_by"], row["answered_by"])
        if got != (disposition, hangup_by, answered_by):
            problems.append(f"{what}: recorded {got}, expected "
                            f"{(disposition, hangup_by, answered_by)}")
        if row["caller"] != ALICE[0]:
            problems.append(f"{what}: caller {row['caller']}")
        # Times: every call ended; only answered calls have an answer time, after the start.
        if row["end"] == "-" or row["start"] == "-" or row["end"] < row["start"]:
            problems.append(f"{what}: start {row['start']} end {row['end']}")
        if (row["answer"] != "-") != (disposition == "answered"):
            problems.append(f"{what}: answer time {row['answer']} for a call {disposition}")
    harness.check(not problems, "; ".join(problems))


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        results.run("answered, ended by the caller; callee sees the caller's name",
                    check_answered_caller_hangs_up, bench)
        results.run("answered, ended by the callee (caller on TCP)",
                    check_answered_callee_hangs_up_caller_on_tcp, bench)
        results.run("caller cancels while ringing: 487", check_caller_cancels, bench)
        results.run("caller cancels before any 180: CANCEL waits for the callee's 180",
                    check_cancel_before_ringing, bench)
        results.run("callee's 200 crosses the CANCEL: ACK and BYE to the callee",
                    check_answer_crossing_cancel, bench)
        results.run("callee busy: 486", check_busy, bench)
        results.run("no answer: 480 after no_answer_timeout, CANCEL without Reason",
                    check_no_answer, bench)
        results.run("unknown number: 404", check_unknown_number, bench)
        results.run("known but unregistered: 480", check_not_registered, bench)
        results.run("forked to two devices: the other gets 'Call completed elsewhere'",
                    check_forked_to_two_devices, bench)
        results.run("call records: disposition and hangup_by", check_call_records, bench)
        if results.failed:
            print(procs.log_of(bench.server)[-4000:])
        procs.stop(bench.server)
        direct = Bench(procs, binary, relayed=False, name="direct")
        results.run("media: direct: answered, ended by the caller; the phones' SDP unchanged",
                    check_answered_caller_hangs_up, direct)
        results.run("media: direct: answered, ended by the callee (caller on TCP)",
                    check_answered_callee_hangs_up_caller_on_tcp, direct)
    results.finish()


if __name__ == "__main__":
    main()
