"""Registrations survive a restart: a phone registers, the server is stopped with SIGTERM and
started again with the same configuration and database, and a call to the phone rings it and is
answered without the phone registering again. A binding removed before the restart stays removed.
Calls in progress at the stop are ended cleanly (BYE to both sides of an answered call; CANCEL
to the ringing phone and 503 to its caller) and recorded.

Usage: test_restart.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import signal

import harness
import sipua

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret")
CAROL = ("1003", "Carol Gone", "carol-secret")
DAVE = ("1004", "Dave Ringing", "dave-secret")


class Bench:
    def __init__(self, procs, binary):
        self.procs = procs
        self.binary = binary
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, [ALICE, BOB, CAROL, DAVE], domain=DOMAIN,
            no_answer_timeout="30s")
        self.server = harness.start_catchline(procs, binary, self.config, name="catchline-1")
        self.bob = None
        self.calls_at_stop = (None, None)
        self.runs = 0

    def name(self, what):
        self.runs += 1
        return f"{self.runs:02d}-{what}"


def check_register_then_restart(bench):
    bench.bob = harness.register(bench.procs, bench.udp, BOB[0], BOB[2], bench.name("bob"))
    carol = harness.register(bench.procs, bench.udp, CAROL[0], CAROL[2], bench.name("carol"))
    gone = harness.Sipp(
        bench.procs, harness.scenario("unregister.xml"), bench.udp, carol.local_port,
        bench.name("carol-leaves"),
        {"user": CAROL[0], "contact": f"<{carol.contact}>", "cseq": 1, "cseq2": 2},
        extra=["-au", CAROL[0], "-ap", CAROL[2]])
    gone.expect_success("unregister 1003")
    # Calls in progress when the server stops: one answered, one still ringing.
    dave = harness.register(bench.procs, bench.udp, DAVE[0], DAVE[2], bench.name("dave"))
    talking_bob = harness.phone(bench.procs, "uas_answer.xml", bench.bob.local_port,
                                bench.name("bob-talks"), {"ring_ms": 0})
    talking_alice = harness.Sipp(
        bench.procs, harness.scenario("uac_call_remote_bye.xml"), bench.udp, harness.free_port(),
        bench.name("alice-talks"), {"caller": ALICE[0], "callee": BOB[0], "domain": DOMAIN},
        extra=["-au", ALICE[0], "-ap", ALICE[2]])
    harness.check(harness.wait_for_log(bench.procs, bench.server, "call answered", timeout=10),
                  "the call to 1002 was not answered")
    ringing_dave = harness.phone(bench.procs, "uas_ring_cancel.xml", dave.local_port,
                                 bench.name("dave-rings"))
    waiting_alice = harness.Sipp(
        bench.procs, harness.scenario("uac_call_refused.xml"), bench.udp, harness.free_port(),
        bench.name("alice-waits"), {"caller": ALICE[0], "callee": DAVE[0], "domain": DOMAIN},
        extra=["-au", ALICE[0], "-ap", ALICE[2]])
    harness.check(harness.wait_until(
        lambda: "SIP/2.0 180 Ringing" in ringing_dave.messages_text(), timeout=10),
        "1004 never rang")
    bench.calls_at_stop = (talking_alice, waiting_alice)
    code = bench.procs.stop(bench.server, signal.SIGTERM, wait=10)
    harness.check(code == 0, f"catchline exited {code} on SIGTERM")
    harness.check("catchline stopped" in bench.procs.log_of(bench.server),
                  "no clean stop line after SIGTERM")
    # The answered call ends with BYE on both sides, the ringing one with CANCEL to the phone
    # and a final response to the caller.
    talking_bob.expect_success("answered callee at shutdown: BYE from the server, 200")
    talking_alice.expect_success("answered caller at shutdown: BYE from the server, 200")
    ringing_dave.expect_success("ringing callee at shutdown: CANCEL, 487")
    waiting_alice.expect_success("ringing caller at shutdown: a final response")
    harness.check(waiting_alice.value("status") == "503",
                  f"caller of a ringing call at shutdown got {waiting_alice.value('status')}")
    bench.server = harness.start_catchline(bench.procs, bench.binary, bench.config,
                                           name="catchline-2")
    log = bench.procs.log_of(bench.server)
    # 1002 and 1004 are registered; 1003 was removed before the stop.
    harness.check("registrations=2" in log,
                  f"after the restart: {[l for l in log.splitlines() if 'started' in l]}")


def check_restored_phone_rings(bench):
    harness.check(bench.bob is not None, "no registration was made before the restart")
    bob = harness.phone(bench.procs, "uas_answer.xml", bench.bob.local_port,
                        bench.name("bob-answers"), {"ring_ms": 100})
    alice = harness.Sipp(
        bench.procs, harness.scenario("uac_call.xml"), bench.udp, harness.free_port(),
        bench.name("alice-calls-bob"),
        {"caller": ALICE[0], "callee": BOB[0], "domain": DOMAIN, "talk_ms": 100},
        extra=["-au", ALICE[0], "-ap", ALICE[2]])
    alice.expect_success("call to 1002 after the restart")
    bob.expect_success("1002 rings and answers with its registration from before the restart")
    harness.check(alice.value("rang") == "1", "the caller never heard 1002 ringing")


def check_removed_binding_stays_removed(bench):
    alice = harness.Sipp(
        bench.procs, harness.scenario("uac_call_refused.xml"), bench.udp, harness.free_port(),
        bench.name("alice-calls-carol"),
        {"caller": ALICE[0], "callee": CAROL[0], "domain": DOMAIN},
        extra=["-au", ALICE[0], "-ap", ALICE[2]])
    alice.expect_success("call to 1003 after the restart")
    harness.check(alice.value("status") == "480",
                  f"1003 unregistered before the restart: got {alice.value('status')}")


def check_records_of_interrupted_calls(bench):
    talking, waiting = bench.calls_at_stop
    rows = {r["call_id"]: r for r in harness.call_records(bench.binary, bench.database)}
    got = {}
    for what, run in (("answered", talking), ("ringing", waiting)):
        row = rows.get(f"1-{run.proc.pid}@127.0.0.1")
        got[what] = row and (row["disposition"], row["hangup_by"], row["answered_by"])
    harness.check(got == {"answered": ("answered", "system", BOB[0]),
                          "ringing": ("failed", "system", "")},
                  f"records of the calls cut by the stop: {got}")


def register_with(ua, challenge, cseq):
    """REGISTER of `ua` answering `challenge` (a 401 from whichever server issued it)."""
    dialog = ua.new_dialog(sipua.Dialog, ua.aor())
    dialog.cseq = cseq - 1
    uri = f"sip:{ua.domain}"
    credentials = sipua.digest(challenge, "REGISTER", uri, ua.user, ua.password)
    return ua.send_request("REGISTER", uri, dialog.headers("REGISTER") + [
        ("Contact", ua.contact()), ("Expires", "3600"), ("Authorization", credentials)]
    ).wait_final()


def check_old_nonce_after_restart(bench):
    """A phone answers with the nonce it was given before the restart (the nonce key is random
    per process): the right password gets a fresh challenge (401 stale=true), never 403, and
    the phone registers with it."""
    ua = sipua.UA(bench.udp, ALICE[0], ALICE[2], DOMAIN, name="alice-keeps-nonce")
    try:
        dialog = ua.new_dialog(sipua.Dialog, ua.aor())
        first = ua.send_request("REGISTER", f"sip:{DOMAIN}", dialog.headers("REGISTER") + [
            ("Contact", ua.contact()), ("Expires", "3600")]).wait_final()
        harness.check(first.status == 401, f"first REGISTER: {first.status}")
        old = sipua.md5_challenge(first)
        harness.check(register_with(ua, old, 2).status == 200, "REGISTER before the restart")
        code = bench.procs.stop(bench.server, signal.SIGTERM, wait=10)
        harness.check(code == 0, f"catchline exited {code} on SIGTERM")
        bench.server = harness.start_catchline(bench.procs, bench.binary, bench.config,
                                               name="catchline-3")
        again = register_with(ua, old, 3)
        harness.check(again.status == 401 and
                      "stale=true" in (again.get("www-authenticate") or "").lower(),
                      f"the old nonce after the restart: {again.status} {again.reason}, "
                      f"{again.get('www-authenticate')}")
        harness.check(register_with(ua, sipua.md5_challenge(again), 4).status == 200,
                      "REGISTER answering the fresh challenge")
    finally:
        ua.close()


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        results.run("register, SIGTERM, start again: the registration is restored",
                    check_register_then_restart, bench)
        results.run("calls cut by the stop are recorded", check_records_of_interrupted_calls,
                    bench)
        results.run("the restored phone rings and answers", check_restored_phone_rings, bench)
        results.run("a binding removed before the restart stays removed",
                    check_removed_binding_stays_removed, bench)
        results.run("a nonce from before a restart with the right password: 401 stale=true, "
                    "not 403", check_old_nonce_after_restart, bench)
        if results.failed:
            print(procs.log_of(bench.server)[-3000:])
    results.finish()


if __name__ == "__main__":
    main()
