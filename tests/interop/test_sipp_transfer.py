"""Transfer and park signaling, message by message (issue 12; RFC 3515 REFER, RFC 5589, RFC 3891
Replaces), played by SIPp against the real server (127.0.0.1 only). Where test_transfer.py and
test_park.py follow media with scripted phones, these scenarios fail on any request or response
out of its place, and log the exact header values and sipfrag lines the checks below compare.

Every phone is a SIPp process on the port its extension registered from: 1001 (A) calls 1002 (B),
which answers; A transfers B. 1003 (C) is the target; 1005 retrieves besides 1003.

1. Blind transfer (xfer_blind_transferor.xml, REFER CSeq 7), each outcome:
   a. C answers: 202; NOTIFYs (Event: refer;id=7, Content-Type: message/sipfrag;version=2.0)
      "SIP/2.0 100 Trying", "SIP/2.0 180 Ringing" (active;expires=N), "SIP/2.0 200 OK"
      (terminated;reason=noresource), each body exactly that line; then BYE to A. C's INVITE
      comes From B with Referred-By A; B is re-INVITEd naming C (P-Asserted-Identity).
   b. C busy (486 at once): NOTIFYs 100 Trying, then "SIP/2.0 486 Busy Here", terminated; A
      has B back and hangs up.
   c. C rings past sip.transfer_timeout (2 s): CANCEL to C, NOTIFYs 100, 180, then a final
      408 or 480 (the server sends "480 No Answer"; the README names no code), not before
      the timeout; A has B back.
   d. Refusals, no NOTIFY: no Refer-To "400 Missing Refer-To"; 1999 "404 No such number 1999".
2. Attended transfer (xfer_attended_transferor.xml): A consults C in a second dialog, then
   REFERs B to C with Replaces naming that dialog, tags in either order: 202; BYE of the
   consultation; one NOTIFY "SIP/2.0 200 OK" terminated;reason=noresource; BYE of the first
   call. B is re-INVITEd naming C, C naming B; B hangs up and C gets BYE.
3. Park races (lot "main": code 700, slots 701-709, timeout 20 s; lot "short": code 710, slots
   711-719, timeout 2 s, comeback_time 1 s, no comeback):
   a. A parks B on 701 (NOTIFY 100, then 200 after the announcement, then BYE); 1003 and 1005
      INVITE 701 from one SIPp run, within a millisecond: exactly one gets 200, the other a final
      error; B is re-INVITEd naming the winner.
   b. A parks B on 711; one retriever's INVITE lands near the moment the lot's timeout fires
      (five tries: 300 and 50 ms before, at, 50 and 300 ms after it). Either it gets 200 and
      A's phone is never rung, or it gets 404 "Nothing parked at 711" and A's phone is rung as
      a recall (Alert-Info <urn:alert:service:recall:transfer>), then cancelled, and the call
      ends; never both, never neither.

Usage: test_sipp_transfer.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import os
import re
import time

import harness

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Transferor", "alice-secret")
BOB = ("1002", "Bob Transferee", "bob-secret")
CAROL = ("1003", "Carol Target", "carol-secret")
EVE = ("1005", "Eve Retriever", "eve-secret")
EVERYONE = [ALICE, BOB, CAROL, EVE]
NOWHERE = "1999"  # no extension, no ring group, no trunk
TRANSFER_TIMEOUT = 2.0
SHORT_LOT_TIMEOUT, SHORT_COMEBACK = 2.0, 1.0
PARKING = f"""parking:
  - name: main
    code: "700"
    slots: "701-709"
    timeout: 20s
    park: ["*"]
  - name: short
    code: "710"
    slots: "711-719"
    timeout: {SHORT_LOT_TIMEOUT:.0f}s
    comeback_time: {SHORT_COMEBACK:.0f}s
    park: ["*"]
"""
RECALL_ALERT = "urn:alert:service:recall:transfer"
ACTIVE = re.compile(r"^active;expires=[0-9]+$")
TERMINATED = "terminated;reason=noresource"


class Bench:
    """One server; each extension registered once, from the port its SIPp phones then use."""

    def __init__(self, procs, binary):
        self.procs = procs
        self.udp, self.tcp = harness.free_port(), harness.free_port()
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, EVERYONE, domain=DOMAIN, no_answer_timeout="20s",
            extra_yaml=PARKING)
        with open(self.config) as f:
            text = f.read()
        # A key of the sip: section, which write_server_config writes first.
        text = text.replace("  no_answer_timeout:",
                            f"  transfer_timeout: {TRANSFER_TIMEOUT:.0f}s\n  no_answer_timeout:", 1)
        with open(self.config, "w") as f:
            f.write(text)
        self.server = harness.start_catchline(procs, binary, self.config)
        self.port = {}
        self.runs = 0
        self.started = []
        for number, _, password in EVERYONE:
            run = harness.register(procs, self.udp, number, password, self.name(f"reg{number}"))
            self.port[number] = run.local_port

    def name(self, what):
        """A log name no other run of this session has."""
        self.runs += 1
        return f"{self.runs:02d}-{what}"

    def phone(self, extension, scenario_name, what, variables=None):
        """A SIPp UAS on `extension`'s registered port, listening when this returns."""
        run = harness.phone(self.procs, scenario_name, self.port[extension[0]],
                            self.name(what), variables)
        self.started.append(run)
        return run

    def caller(self, extension, scenario_name, what, variables, extra=()):
        """A SIPp UAC on `extension`'s registered port, answering challenges as it."""
        number, _, password = extension
        values = {"caller": number, "domain": DOMAIN}
        values.update(variables)
        run = harness.Sipp(self.procs, harness.scenario(scenario_name), self.udp,
                           self.port[number], self.name(what), values,
                           extra=["-au", number, "-ap", password, *extra])
        self.started.append(run)
        return run

    def stop(self, run):
        """Stops a SIPp phone still waiting (one that was not rung) and frees its port."""
        self.procs.stop(run.proc)

    def run(self, results, title, case, *args):
        """One check; whatever SIPp it left running (after a failure) is stopped after it, so
        that the next check finds its ports free. After a failure, a pause lets the server's
        retransmissions to the stopped phones die down (SIPp logs strays, and goes on)."""
        failed = len(results.failed)
        results.run(title, case, self, *args)
        for run in self.started:
            self.stop(run)
        self.started = []
        if len(results.failed) > failed:
            time.sleep(2)


def values(run, key):
    """Every `key=value` the scenario logged, in order."""
    return [line[len(key) + 1:] for line in run.logged() if line.startswith(key + "=")]


def notifies(run):
    """(sipfrag line, Subscription-State) of each NOTIFY the transferor logged."""
    return [tuple(entry.split("|", 1)) for entry in values(run, "notify")]


def message_body(text):
    parts = re.split(r"\r?\n\r?\n", text, maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def first_line(text):
    return text.split("\n", 1)[0].strip()


def received_requests(run, method):
    """(arrival time, full text) of each `method` request SIPp received, from its -trace_msg."""
    return [(when, text) for when, direction, text in run.messages()
            if direction == "received" and first_line(text).startswith(method + " ")]


def sent_requests(run, method):
    return [(when, text) for when, direction, text in run.messages()
            if direction == "sent" and first_line(text).startswith(method + " ")]


def header(text, name):
    found = re.search(rf"^{re.escape(name)}:[ \t]*([^\r\n]*)", text, re.M | re.I)
    return found.group(1) if found else None


def check_notifies(run, expected):
    """The transferor got exactly these NOTIFYs, in this order: [(sipfrag line, state)], where
    state "active" means active;expires=N. Each body is the sipfrag line and CRLF, nothing else."""
    got = notifies(run)
    shown = [f"{line} [{state}]" for line, state in got]
    harness.check(len(got) == len(expected) and all(
        line == want_line and (ACTIVE.match(state) if want_state == "active" else
                               state == want_state)
        for (line, state), (want_line, want_state) in zip(got, expected)),
        f"NOTIFYs {shown}, not {[f'{line} [{state}]' for line, state in expected]}")
    # The trace drops line ends: the length says the body is the line and its CRLF, no more.
    received = [text for _, text in received_requests(run, "NOTIFY")]
    bodies = [(message_body(text).strip(), header(text, "Content-Length")) for text in received]
    harness.check(bodies == [(line, str(len(line) + 2)) for line, _ in got],
                  f"NOTIFY (body, Content-Length) {bodies} are not the sipfrag status lines "
                  "with CRLF alone")


def expect(run, what, timeout=40.0):
    run.expect_success(what, timeout=timeout)


def check_value(run, key, want, what):
    got = values(run, key)
    harness.check(got == want, f"{what}: {run.name} logged {key}={got}, not {want}")


# ---- 1. blind transfer ----

def case_blind_answered(bench):
    b = bench.phone(BOB, "xfer_party.xml", "b-transferee", {"hang_up": "yes"})
    c = bench.phone(CAROL, "xfer_party.xml", "c-target", {"hang_up": "no"})
    a = bench.caller(ALICE, "xfer_blind_transferor.xml", "a-blind",
                     {"callee": BOB[0], "target": CAROL[0]})
    expect(a, "transferor")
    expect(b, "transferee")
    expect(c, "target")
    check_notifies(a, [("SIP/2.0 100 Trying", "active"), ("SIP/2.0 180 Ringing", "active"),
                       ("SIP/2.0 200 OK", TERMINATED)])
    check_value(a, "bye", ["server"], "the transferor's dialog ends with the server's BYE")
    check_value(c, "invited_from", [BOB[0]], "the target sees the transferee calling")
    referred = values(c, "referred_by")
    harness.check(len(referred) == 1 and f"sip:{ALICE[0]}@" in referred[0],
                  f"the target's INVITE has Referred-By {referred}, not the transferor")
    check_value(b, "told", [f"INVITE {CAROL[0]}"], "the transferee is told who it talks to")
    check_value(b, "bye", ["self"], "the transferee hangs up")
    check_value(c, "bye", ["server"], "the target gets BYE when the transferee hangs up")


def case_blind_busy(bench):
    b = bench.phone(BOB, "xfer_party.xml", "b-transferee", {"hang_up": "no"})
    c = bench.phone(CAROL, "uas_busy.xml", "c-busy")
    a = bench.caller(ALICE, "xfer_blind_transferor.xml", "a-blind-busy",
                     {"callee": BOB[0], "target": CAROL[0]})
    expect(a, "transferor")
    expect(b, "transferee")
    expect(c, "busy target")
    check_notifies(a, [("SIP/2.0 100 Trying", "active"), ("SIP/2.0 486 Busy Here", TERMINATED)])
    check_value(a, "bye", ["self"], "the transferor has its caller back and hangs up")
    check_value(b, "told", [], "the transferee is told nothing when the transfer fails")
    check_value(b, "bye", ["server"], "the transferee gets the transferor's BYE")


def case_blind_no_answer(bench):
    b = bench.phone(BOB, "xfer_party.xml", "b-transferee", {"hang_up": "no"})
    c = bench.phone(CAROL, "uas_ring_until_cancel.xml", "c-no-answer")
    a = bench.caller(ALICE, "xfer_blind_transferor.xml", "a-blind-no-answer",
                     {"callee": BOB[0], "target": CAROL[0]})
    expect(a, "transferor", timeout=TRANSFER_TIMEOUT + 20)
    expect(b, "transferee")
    expect(c, "ringing target")
    got = notifies(a)
    harness.check(len(got) == 3, f"NOTIFYs {got}, not 100, 180 and a final one")
    final = got[-1][0]
    harness.check(final in ("SIP/2.0 408 Request Timeout", "SIP/2.0 480 No Answer",
                            "SIP/2.0 480 Temporarily Unavailable"),
                  f"the final NOTIFY after no answer says {final!r}, not 408 or 480")
    check_notifies(a, [("SIP/2.0 100 Trying", "active"), ("SIP/2.0 180 Ringing", "active"),
                       (final, TERMINATED)])
    refer_sent = sent_requests(a, "REFER")[0][0]
    final_at = received_requests(a, "NOTIFY")[-1][0]
    harness.check(final_at - refer_sent >= TRANSFER_TIMEOUT - 0.3,
                  f"the final NOTIFY came {final_at - refer_sent:.2f}s after the REFER, before "
                  f"sip.transfer_timeout ({TRANSFER_TIMEOUT:.0f}s)")
    check_value(c, "cancelled", [BOB[0]], "the target is cancelled")
    check_value(a, "bye", ["self"], "the transferor has its caller back and hangs up")
    check_value(b, "bye", ["server"], "the transferee gets the transferor's BYE")
    print(f"     (final NOTIFY {final!r}, {final_at - refer_sent:.2f}s after the REFER)",
          flush=True)


def case_refusals(bench):
    b = bench.phone(BOB, "xfer_party.xml", "b-transferee", {"hang_up": "no"})
    a = bench.caller(ALICE, "xfer_refer_refused.xml", "a-refused",
                     {"callee": BOB[0], "nowhere": NOWHERE})
    expect(a, "transferor")
    expect(b, "transferee")
    check_value(a, "missing", ["400 Missing Refer-To"], "REFER without Refer-To")
    check_value(a, "nowhere", [f"404 No such number {NOWHERE}"], f"REFER to {NOWHERE}")
    harness.check(not received_requests(a, "NOTIFY"), "a refused REFER got a NOTIFY")


# ---- 2. attended transfer ----

def case_attended(bench, tags):
    b = bench.phone(BOB, "xfer_party.xml", "b-transferee", {"hang_up": "yes"})
    c = bench.phone(CAROL, "xfer_party.xml", "c-consulted", {"hang_up": "no"})
    a = bench.caller(ALICE, "xfer_attended_transferor.xml", f"a-attended-{tags}",
                     {"callee": BOB[0], "target": CAROL[0], "tags": tags},
                     extra=["-cid_str", "%u-%p-attended"])
    expect(a, "transferor")
    expect(b, "transferee")
    expect(c, "target")
    call_id, consult = values(a, "call_id"), values(a, "consult_call_id")
    harness.check(len(call_id) == 1 and consult == [f"consult///{call_id[0]}"],
                  f"the consultation has Call-ID {consult}, first call {call_id}")
    refer_to = values(a, "refer_to")
    harness.check(len(refer_to) == 1 and ("?Replaces=consult///" in refer_to[0]) and
                  (refer_to[0].index("to-tag") < refer_to[0].index("from-tag")) ==
                  (tags == "to_first"), f"the REFER did not send the tags {tags}: {refer_to}")
    check_value(a, "bye", [consult[0], call_id[0]],
                "the consultation, then the first call, end with the server's BYE")
    check_notifies(a, [("SIP/2.0 200 OK", TERMINATED)])
    check_value(c, "invited_from", [ALICE[0]], "the consultation comes from the transferor")
    check_value(c, "told", [f"INVITE {BOB[0]}"], "the target is told it talks to the transferee")
    check_value(b, "told", [f"INVITE {CAROL[0]}"],
                "the transferee is told it talks to the target")
    check_value(b, "bye", ["self"], "the transferee hangs up")
    check_value(c, "bye", ["server"], "the target gets BYE when the transferee hangs up")


# ---- 3. park races ----

def park(bench, lot, b_variables=None):
    """A parks B with a blind transfer to `lot`; returns (B's phone, the time NOTIFY 200 came)."""
    b = bench.phone(BOB, "xfer_party.xml", "b-parked", b_variables or {"hang_up": "no"})
    a = bench.caller(ALICE, "xfer_blind_transferor.xml", f"a-park-{lot}",
                     {"callee": BOB[0], "target": lot})
    expect(a, "parker", timeout=20)
    check_notifies(a, [("SIP/2.0 100 Trying", "active"), ("SIP/2.0 200 OK", TERMINATED)])
    check_value(a, "bye", ["server"], "the parker's dialog ends with the server's BYE")
    return b, received_requests(a, "NOTIFY")[-1][0]


def retrievers(bench, slot, who, what, talk_ms=300):
    """One SIPp run whose calls (one for each of `who`) dial `slot` at once."""
    inf = os.path.join(bench.procs.workdir, f"{what}.csv")
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n" + "".join(
            f"{number};[authentication username={number} password={password}];\n"
            for number, _, password in who))
    run = harness.Sipp(bench.procs, harness.scenario("park_retrieve.xml"), bench.udp,
                       harness.free_port(), bench.name(what),
                       {"slot": slot, "domain": DOMAIN, "talk_ms": talk_ms}, calls=len(who),
                       extra=["-inf", inf, "-l", str(len(who)), "-r", "1000"])
    bench.started.append(run)
    return run


def case_retrieve_race(bench):
    b, _ = park(bench, "700")
    run = retrievers(bench, "701", [CAROL, EVE], "retrieve-race")
    run.expect_success("two retrievers", calls=2)
    outcomes = sorted(values(run, "retrieve"), key=lambda line: " 200 " not in line + " ")
    harness.check(len(outcomes) == 2, f"retrievers logged {outcomes}")
    winner, loser = outcomes
    harness.check(winner.split(" ", 2)[1] == "200" and int(loser.split(" ", 2)[1]) >= 400,
                  f"retrievers got {outcomes}: not exactly one 200 and one final error")
    invites = sent_requests(run, "INVITE")
    authed = sorted(when for when, text in invites if header(text, "Proxy-Authorization"))
    spread = (authed[-1] - authed[0]) * 1000 if len(authed) == 2 else float("nan")
    print(f"     (winner {winner!r}, loser {loser!r}; their INVITEs {spread:.1f} ms apart)",
          flush=True)
    expect(b, "parked caller")
    check_value(b, "told", [f"INVITE {winner.split()[0]}"],
                "the parked caller is told who retrieved it")
    check_value(b, "bye", ["server"], "the parked caller gets BYE when the retriever hangs up")


def case_retrieve_vs_timeout(bench, offset, lead):
    """Parks on 711, then dials 711 so that the retriever's INVITE reaches the server `offset`
    seconds after the lot's timeout fires (`lead`: how long SIPp takes from start to that
    INVITE, measured by the try before). Returns the lead measured this time."""
    b, parked_at = park(bench, "710")
    recall = bench.phone(ALICE, "uas_ring_until_cancel.xml", "a-recall")
    fires_at = parked_at + SHORT_LOT_TIMEOUT
    time.sleep(max(0.0, fires_at + offset - lead - time.time()))
    started = time.time()
    run = retrievers(bench, "711", [CAROL], "retrieve-at-timeout")
    run.expect_success("the retriever")
    outcome = values(run, "retrieve")
    harness.check(len(outcome) == 1, f"the retriever logged {outcome}")
    authed = [when for when, text in sent_requests(run, "INVITE")
              if header(text, "Proxy-Authorization")]
    sent_at = authed[0] if authed else started + lead
    status = outcome[0].split(" ", 1)[1]
    rung = harness.wait_until(lambda: values(recall, "invited"),
                              timeout=1.5 if status.startswith("200") else 5.0)
    print(f"     (INVITE {1000 * (sent_at - fires_at):+.0f} ms from the lot timeout: {status}; "
          f"parker rung again: {bool(rung)})", flush=True)
    if status.startswith("200"):
        harness.check(not rung, "the retriever got the call, and the parker was rung too")
        bench.stop(recall)
        expect(b, "parked caller")
        check_value(b, "told", [f"INVITE {CAROL[0]}"],
                    "the parked caller is told who retrieved it")
        check_value(b, "bye", ["server"], "the parked caller gets BYE when the retriever hangs up")
    else:
        harness.check(status == "404 Nothing parked at 711",
                      f"the retriever got {status!r}, not 200 or 404 'Nothing parked at 711'")
        harness.check(rung, "the retriever got 404, and the parker was not rung again")
        expect(recall, "the parker's recall", timeout=SHORT_COMEBACK + 10)
        invite = received_requests(recall, "INVITE")[0][1]
        alert = header(invite, "Alert-Info") or ""
        harness.check(RECALL_ALERT in alert,
                      f"the recall INVITE has Alert-Info {alert!r}, not <{RECALL_ALERT}>")
        expect(b, "parked caller")
        check_value(b, "told", [], "the parked caller is told of no retriever")
        check_value(b, "bye", ["server"], "the call ends when nobody takes the recall")
    return sent_at - started


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        started = []
        results.run("start the server and register 1001, 1002, 1003, 1005",
                    lambda: started.append(Bench(procs, binary)))
        if started:
            bench = started[0]
            bench.run(results, "1a. blind, target answers: 202, NOTIFY 100/180 active, 200 "
                      "terminated (refer;id=7, message/sipfrag;version=2.0), BYE",
                      case_blind_answered)
            bench.run(results, "1b. blind, target busy: NOTIFY 100, then 486 terminated",
                      case_blind_busy)
            bench.run(results, f"1c. blind, no answer within transfer_timeout "
                      f"{TRANSFER_TIMEOUT:.0f}s: CANCEL, NOTIFY 100, 180, then 408 or 480",
                      case_blind_no_answer)
            bench.run(results, "1d. refusals: no Refer-To 400, 1999 404, no NOTIFY",
                      case_refusals)
            for tags in ("to_first", "from_first"):
                bench.run(results, f"2. attended, Replaces with {tags.replace('_', '-')}: 202, "
                          "BYE consultation, NOTIFY 200 terminated, BYE first call",
                          case_attended, tags)
            bench.run(results, "3a. two retrievers dial 701 at once: one 200, one final error",
                      case_retrieve_race)
            lead = [0.08]  # SIPp's start to its second INVITE; measured by each try
            for offset in (-0.3, -0.05, 0.0, 0.05, 0.3):
                bench.run(results, f"3b. retrieve {offset * 1000:+.0f} ms from the lot timeout: "
                          "200 and no recall, or 404 and a recall",
                          lambda b, o=offset: lead.append(case_retrieve_vs_timeout(
                              b, o, lead[-1])))
            if results.failed:
                print(f"--- catchline.log, last 6000 bytes ---\n"
                      f"{procs.log_of(bench.server)[-6000:]}")
    results.finish()


if __name__ == "__main__":
    main()
