"""Call pickup between three real softphones (baresip 1.0, Debian package baresip-core) through
the server (DESIGN.md §4): 1001 calls 1002, whose phone only rings (answermode=manual); 1003
dials `**1002` (directed pickup), then, on a second call, `*8` (group pickup: 1002 rings into
"reception", 1003 picks up from it). Each time 1001 and 1003 report CALL_ESTABLISHED, 1002's
call closes without ever being established (the server cancelled it: "Call completed
elsewhere"), 1003 hangs up, 1001's call closes, and the call record says who answered, how, and
whose call it was.

The phones are set up and driven as in test_baresip.py (ctrl_tcp, aubridge audio, MD5 digest
only). Usage: test_baresip_pickup.py --catchline PATH. Prints "N passed, M failed".
"""
import os
import time

import harness
import test_baresip as baresip

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret", {"call_groups": ["reception"]})
CAROL = ("1003", "Carol Reception", "carol-secret", {"pickup_groups": ["reception"]})


def wait_event(phone, kind, after, timeout=10.0):
    """The first event `kind` among the phone's messages from index `after` on, or None."""
    deadline = time.monotonic() + timeout
    with phone.lock:
        while True:
            for message in phone.messages[after:]:
                if message.get("event") and message.get("type") == kind:
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            phone.lock.wait(left)


def events_since(phone, after):
    with phone.lock:
        return [m.get("type") for m in phone.messages[after:] if m.get("event")]


class Office:
    """The server and three registered baresip phones (all answermode=manual)."""

    def __init__(self, procs, binary):
        self.procs = procs
        self.binary = binary
        self.udp, tcp = harness.free_port(), harness.free_port()
        config, self.database = harness.write_server_config(
            procs.workdir, self.udp, tcp, [ALICE, BOB, CAROL], domain=DOMAIN,
            digest_algorithms=["MD5"], no_answer_timeout="20s")
        self.server = harness.start_catchline(procs, binary, config)
        self.phones = {}
        for extension in (ALICE, BOB, CAROL):
            proc, control = baresip.start_phone(procs, self.udp, extension, "manual",
                                                f"baresip-{extension[0]}")
            self.phones[extension[0]] = (proc, control)
        for number, (proc, control) in self.phones.items():
            # The REGISTER_OK event may come before we connect, so also ask reginfo.
            registered = harness.wait_until(
                lambda: control.event("REGISTER_OK", timeout=0.1) is not None or
                "OK" in str(control.command("reginfo").get("data", "")), timeout=10)
            harness.check(registered, f"baresip {number} did not register: "
                                      f"{procs.log_of(proc)[-1500:]}")

    def control(self, extension):
        return self.phones[extension[0]][1]

    def close(self):
        for proc, control in self.phones.values():
            control.close()
            self.procs.stop(proc)


def check_pickup(office, code, kind):
    alice, bob, carol = (office.control(e) for e in (ALICE, BOB, CAROL))
    marks = {phone: len(phone.messages) for phone in (alice, bob, carol)}
    before = {row["call_id"] for row in harness.call_records(office.binary, office.database)}
    dial = alice.command("dial", f"sip:{BOB[0]}@{harness.LOOPBACK}:{office.udp}")
    harness.check(dial.get("ok"), f"1001's dial refused: {dial}")
    harness.check(wait_event(bob, "CALL_INCOMING", marks[bob]) is not None,
                  f"1002 never rang: events {events_since(bob, marks[bob])}")
    pick = carol.command("dial", f"sip:{code}@{harness.LOOPBACK}:{office.udp}")
    harness.check(pick.get("ok"), f"1003's dial of {code} refused: {pick}")
    for who, phone in (("1003 (the picker)", carol), ("1001 (the caller)", alice)):
        harness.check(wait_event(phone, "CALL_ESTABLISHED", marks[phone]) is not None,
                      f"no CALL_ESTABLISHED on {who}: events {events_since(phone, marks[phone])}")
    closed = wait_event(bob, "CALL_CLOSED", marks[bob])
    harness.check(closed is not None,
                  f"1002's ringing call was not closed: events {events_since(bob, marks[bob])}")
    harness.check("CALL_ESTABLISHED" not in events_since(bob, marks[bob]),
                  f"1002's call was established: events {events_since(bob, marks[bob])}")
    print(f"     1002's call closed: {closed.get('param')!r}", flush=True)
    hangup = carol.command("hangup")
    harness.check(hangup.get("ok"), f"1003's hangup refused: {hangup}")
    for who, phone in (("1003", carol), ("1001", alice)):
        harness.check(wait_event(phone, "CALL_CLOSED", marks[phone]) is not None,
                      f"no CALL_CLOSED on {who} after the picker hung up: events "
                      f"{events_since(phone, marks[phone])}")
    rows = harness.wait_until(
        lambda: [row for row in harness.call_records(office.binary, office.database)
                 if row["call_id"] not in before and row["caller"] == ALICE[0]], timeout=10)
    harness.check(len(rows) == 1, f"new call records of 1001: {rows}")
    row = rows[0]
    got = {key: row[key] for key in ("dialled", "answered_by", "disposition", "hangup_by",
                                     "pickup_kind", "picked_from")}
    expected = {"dialled": BOB[0], "answered_by": CAROL[0], "disposition": "answered",
                "hangup_by": "callee", "pickup_kind": kind, "picked_from": BOB[0]}
    harness.check(got == expected, f"call record {got}, expected {expected}")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    if baresip.MODULES is None or not os.path.isdir(baresip.MODULES):
        print("baresip (baresip-core) is not installed")
        results.failed.append("baresip missing")
        results.finish()
    with harness.session() as procs:
        office = None
        try:
            office = Office(procs, binary)
            results.run("baresip 1003 dials **1002 for 1001's call ringing baresip 1002: "
                        "established, 1002 closed, recorded directed",
                        check_pickup, office, "**" + BOB[0], "directed")
            results.run("baresip 1003 dials *8 for 1001's call ringing baresip 1002: "
                        "established, 1002 closed, recorded group",
                        check_pickup, office, "*8", "group")
        except AssertionError as error:
            results.failed.append("baresip phones register")
            print(f"FAIL baresip phones register: {error}")
        finally:
            if results.failed and procs.started:
                print(procs.log_of(procs.started[0])[-4000:])  # the server's
            if office:
                office.close()
    results.finish()


if __name__ == "__main__":
    main()
