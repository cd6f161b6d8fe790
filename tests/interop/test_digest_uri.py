"""Digest answers whose uri names this server in another form than the Request-URI (RFC 7616
§3.4.6 asks for the same resource, not the same text): SIPp's default [authentication] answers
with uri="sip:SERVER-IP:PORT" to domain Request-URIs for REGISTER, INVITE and SUBSCRIBE; a
Kamailio in front rewrites the Request-URI to our address while the phone's digest uri names
the domain. A digest uri naming another user or a foreign host is still refused with 400.

Usage: test_digest_uri.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import re
import shutil
import time
from pathlib import Path

import harness
import sipua

ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret")
DOMAIN = "catchline.test"
HERE = Path(__file__).resolve().parent
MODULE_PATHS = ["/usr/lib/x86_64-linux-gnu/kamailio/modules/", "/usr/lib/kamailio/modules/"]


class Bench:
    def __init__(self, procs, binary):
        self.procs = procs
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        config, _ = harness.write_server_config(procs.workdir, self.udp, self.tcp, [ALICE, BOB],
                                                domain=DOMAIN)
        self.server = harness.start_catchline(procs, binary, config)
        self.runs = 0

    def name(self, what):
        self.runs += 1
        return f"{self.runs:02d}-{what}"


def sent_with_uri(run, method, request_uri, digest_uri):
    """Whether SIPp sent `method` to `request_uri` with credentials naming `digest_uri`."""
    for _, direction, text in run.messages():
        first = text.split("\r\n", 1)[0].split("\n", 1)[0]
        if direction == "sent" and first.startswith(f"{method} {request_uri} ") and \
                f'uri="{digest_uri}"' in text:
            return True
    return False


def check_sipp_register(bench):
    run = harness.register(bench.procs, bench.udp, ALICE[0], ALICE[2], bench.name("register"))
    harness.check(sent_with_uri(run, "REGISTER", f"sip:{DOMAIN}",
                                f"sip:{harness.LOOPBACK}:{bench.udp}"),
                  "SIPp did not answer the challenge with uri=sip:IP:PORT for sip:DOMAIN")


def check_sipp_invite(bench):
    bob = harness.register(bench.procs, bench.udp, BOB[0], BOB[2], bench.name("register-bob"))
    phone = harness.phone(bench.procs, "uas_answer.xml", bob.local_port, bench.name("bob"),
                          {"ring_ms": 0})
    alice = harness.Sipp(bench.procs, harness.scenario("uac_call.xml"), bench.udp,
                         harness.free_port(), bench.name("alice-calls-bob"),
                         {"caller": ALICE[0], "callee": BOB[0], "domain": DOMAIN,
                          "talk_ms": 100}, extra=["-au", ALICE[0], "-ap", ALICE[2]])
    alice.expect_success("a call with a domain Request-URI and SIPp's default digest uri")
    phone.expect_success("1002 answers")
    harness.check(sent_with_uri(alice, "INVITE", f"sip:{BOB[0]}@{DOMAIN}",
                                f"sip:{harness.LOOPBACK}:{bench.udp}"),
                  "SIPp did not answer the 407 with uri=sip:IP:PORT")


def check_sipp_subscribe(bench):
    run = harness.Sipp(bench.procs, harness.scenario("subscribe.xml"), bench.udp,
                       harness.free_port(), bench.name("bob-watches-bob"),
                       {"watcher": BOB[0], "target": BOB[0], "domain": DOMAIN},
                       extra=["-au", BOB[0], "-ap", BOB[2]])
    run.expect_success("a SUBSCRIBE with a domain Request-URI and SIPp's default digest uri")
    harness.check((run.value("state") or "").strip().startswith("active"),
                  f"the NOTIFY's Subscription-State is {run.value('state')!r}")
    harness.check(run.value("dialog_state") == "terminated",
                  f"idle 1002 shown as {run.value('dialog_state')!r}, not one terminated dialog")
    harness.check(sent_with_uri(run, "SUBSCRIBE", f"sip:{BOB[0]}@{DOMAIN}",
                                f"sip:{harness.LOOPBACK}:{bench.udp}"),
                  "SIPp did not answer the 401 with uri=sip:IP:PORT")


def answer_with_uri(ua, method, request_uri, digest_uri, headers=()):
    """Sends `method` to `request_uri`, answers its challenge with credentials computed over
    `digest_uri`, and returns the final response to the second request."""
    dialog = ua.new_dialog(sipua.Dialog, request_uri if method != "REGISTER" else ua.aor())
    extra = [("Contact", ua.contact())] + list(headers)
    first = ua.send_request(method, request_uri, dialog.headers(method) + extra).wait_final()
    harness.check(first.status in (401, 407), f"{method}: first answer {first.status}")
    name = "Authorization" if first.status == 401 else "Proxy-Authorization"
    credentials = sipua.digest(sipua.md5_challenge(first), method, digest_uri, ua.user,
                               ua.password)
    return ua.send_request(method, request_uri, dialog.headers(method) + extra +
                           [(name, credentials)]).wait_final()


def check_foreign_digest_uri_refused(bench):
    ua = sipua.UA(bench.udp, ALICE[0], ALICE[2], DOMAIN, name="alice-forged")
    try:
        for method, request_uri, digest_uri in [
                ("REGISTER", f"sip:{DOMAIN}", "sip:192.0.2.1:5060"),
                ("REGISTER", f"sip:{DOMAIN}", f"sip:{harness.LOOPBACK}:{bench.udp + 1}"),
                ("INVITE", f"sip:{BOB[0]}@{DOMAIN}", f"sip:{ALICE[0]}@{DOMAIN}"),
                ("INVITE", f"sip:{BOB[0]}@{DOMAIN}", "sip:1002@other.example.test")]:
            final = answer_with_uri(ua, method, request_uri, digest_uri)
            harness.check(final.status == 400 and
                          "Digest uri does not match Request-URI" in final.reason,
                          f"{method} {request_uri} with digest uri {digest_uri}: "
                          f"{final.status} {final.reason}")
        final = answer_with_uri(ua, "REGISTER", f"sip:{DOMAIN}",
                                f"sip:{harness.LOOPBACK}:{bench.udp}")
        harness.check(final.status == 200, f"our own address refused: {final.status}")
    finally:
        ua.close()


def start_kamailio(bench):
    kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
    mpath = next((p for p in MODULE_PATHS if Path(p).is_dir()), None)
    harness.check(Path(kamailio).exists() and mpath, "kamailio is not installed")
    port = harness.free_port()
    text = (HERE / "kamailio_front.cfg").read_text()
    text = text.replace("@LISTEN@", f"{harness.LOOPBACK}:{port}")
    text = text.replace("@SERVER@", f"{harness.LOOPBACK}:{bench.udp}").replace("@MPATH@", mpath)
    config = Path(bench.procs.workdir) / "kamailio_front.cfg"
    config.write_text(text)
    # -DD: stay in the foreground (its PID is the one we stop); -E: log to stderr.
    proc = bench.procs.start([kamailio, "-f", str(config), "-DD", "-E", "-m", "64", "-M", "8",
                              "-P", str(Path(bench.procs.workdir) / "kamailio.pid")], "kamailio")
    harness.check(harness.wait_until(lambda: harness.udp_port_bound(port) or
                                     proc.poll() is not None) and proc.poll() is None,
                  f"kamailio did not start: {bench.procs.log_of(proc)[-1500:]}")
    return proc, port


def check_behind_kamailio(bench):
    proc, port = start_kamailio(bench)
    ours = f"sip:{harness.LOOPBACK}:{bench.udp}"
    bob = sipua.UA(bench.udp, BOB[0], BOB[2], DOMAIN, name="bob")
    alice = sipua.UA(port, ALICE[0], ALICE[2], DOMAIN, name="alice-via-kamailio")
    try:
        bob.invite_mode = "answer"
        harness.check(bob.register().status == 200, "1002 did not register directly")
        registered = alice.register()
        harness.check(registered.status == 200,
                      f"REGISTER via Kamailio: {registered.status} {registered.reason}")
        call = alice.invite(f"sip:{BOB[0]}@{DOMAIN}")
        final = call.final()
        harness.check(final.status == 200, f"INVITE via Kamailio: {final.status} {final.reason}")
        call.update(final)
        sub = alice.subscribe(ALICE[0])
        harness.check(sub.response.status == 200,
                      f"SUBSCRIBE via Kamailio: {sub.response.status} {sub.response.reason}")
        harness.check(bob.wait_incoming() is not None, "1002 was never rung")
        log = bench.procs.log_of(proc)
        for method, uri in [("REGISTER", ours), ("INVITE", f"sip:{BOB[0]}@{ours[4:]}"),
                            ("SUBSCRIBE", f"sip:{ALICE[0]}@{ours[4:]}")]:
            harness.check(f"front relays {method} to {uri}" in log,
                          f"Kamailio did not rewrite the {method} Request-URI to {uri}: "
                          f"{log[-1500:]}")
        call.bye()
    finally:
        alice.close()
        bob.close()
        bench.procs.stop(proc)


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        results.run("sipp_register_domain_uri", check_sipp_register, bench)
        results.run("sipp_invite_domain_uri", check_sipp_invite, bench)
        results.run("sipp_subscribe_domain_uri", check_sipp_subscribe, bench)
        results.run("foreign_digest_uri_refused", check_foreign_digest_uri_refused, bench)
        results.run("behind_kamailio", check_behind_kamailio, bench)
    results.finish()


if __name__ == "__main__":
    main()
