"""Registration against the real server with SIPp (RFC 3261 §10): digest challenge, bindings with
their expiry, refresh, removal (one contact and "*"), 423 for too brief an interval, 403 for a
wrong password, an unknown user and another extension's address of record, 500 for an
out-of-order CSeq, 400 for a "*" that does not remove, and a binding running out.

Usage: test_register.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import re
import socket

import harness

ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret")
CAROL = ("1003", "Carol Unregistered", "carol-secret")
DAVE = ("1004", "Dave", "dave-secret")
DOMAIN = "catchline.test"


class Server:
    """One catchline for all checks of this file, on fresh loopback ports."""

    def __init__(self, procs, binary):
        self.procs = procs
        self.binary = binary
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, [ALICE, BOB, CAROL, DAVE], domain=DOMAIN,
            min_expires="60s")
        self.proc = harness.start_catchline(procs, binary, self.config)
        self.runs = 0

    def name(self, what):
        self.runs += 1
        return f"{self.runs:02d}-{what}"

    def refused(self, auth_user, password, to_user, expires=3600, contact=None, call_id=None,
                cseq=1):
        """Runs register_refused.xml; returns its Sipp after checking that it completed."""
        port = harness.free_port()
        extra = ["-au", auth_user, "-ap", password]
        if call_id:
            extra += ["-cid_str", call_id]
        run = harness.Sipp(
            self.procs, harness.scenario("register_refused.xml"), self.udp, port,
            self.name(f"refused-{auth_user}-as-{to_user}"),
            {"user": to_user, "contact": contact or f"<sip:{to_user}@127.0.0.1:{port}>",
             "expires": expires, "cseq": cseq, "cseq2": cseq + 1}, extra=extra)
        run.expect_success(f"REGISTER of {to_user} with credentials of {auth_user}")
        return run

    def call(self, caller, callee):
        """Calls `callee` from `caller` expecting a failure; returns the final status logged."""
        run = harness.Sipp(
            self.procs, harness.scenario("uac_call_refused.xml"), self.udp, harness.free_port(),
            self.name(f"call-{callee}"),
            {"caller": caller[0], "callee": callee, "domain": DOMAIN},
            extra=["-au", caller[0], "-ap", caller[2]])
        run.expect_success(f"call from {caller[0]} to {callee}")
        return run.value("status")


def contacts_of(run):
    """The Contact values (URI, expires) of the 200 the register scenario logged."""
    text = run.value("contacts") or ""
    return re.findall(r"<([^>]+)>;expires=(\d+)", text)


def check_challenge_then_200(server):
    # register.xml itself fails the call unless the first REGISTER is challenged 401 (with MD5
    # offered first, which SIPp needs) and the second is accepted with a Contact and expires.
    run = harness.register(server.procs, server.udp, ALICE[0], ALICE[2], server.name("register"))
    bindings = contacts_of(run)
    harness.check(len(bindings) == 1, f"expected our one binding in the 200, got {bindings}")
    uri, expires = bindings[0]
    harness.check(uri == run.contact, f"200 lists {uri}, we registered {run.contact}")
    # RFC 3261 §10.3 step 8: expires is the interval the registrar chose (Expires: 3600 is
    # within 60..3600). Exactness is checked below where it matters.
    harness.check(3590 <= int(expires) <= 3600, f"200 says expires={expires} for Expires: 3600")


def check_date_in_200(server):
    # RFC 3261 §10.3 step 8: "The response SHOULD include a Date header field." Phones without
    # a time server (many desk phones) set their clock from it.
    run = harness.register(server.procs, server.udp, ALICE[0], ALICE[2], server.name("date"))
    date = run.value("date") or ""
    harness.check(re.match(r"Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$", date),
                  f"200 to REGISTER has no RFC 1123 Date header (logged {date!r})")


def check_min_interval_accepted_as_is(server):
    # RFC 3261 §10.3 step 8: the 200 gives the interval the registrar chose. A phone asking for
    # exactly Min-Expires was granted 60 s this instant; reporting 59 tells it a value below the
    # minimum, which phones that reuse the granted value send back next time and get 423 for.
    run = harness.register(server.procs, server.udp, DAVE[0], DAVE[2],
                           server.name("register-60"), expires=60)
    bindings = contacts_of(run)
    harness.check(len(bindings) == 1 and bindings[0][1] == "60",
                  f"REGISTER with Expires: 60 (the minimum) answered with {bindings}")


def check_refresh(server):
    port = harness.free_port()
    call_id = f"refresh-{port}@interop"
    first = harness.register(server.procs, server.udp, ALICE[0], ALICE[2],
                             server.name("refresh-1"), local_port=port, call_id=call_id, cseq=1,
                             expires=600)
    # RFC 3261 §10.2.4: a refresh keeps the Call-ID and raises the CSeq; the binding is updated,
    # not duplicated.
    second = harness.register(server.procs, server.udp, ALICE[0], ALICE[2],
                              server.name("refresh-2"), local_port=port, call_id=call_id,
                              cseq=3, expires=1200)
    ours = [b for b in contacts_of(second) if b[0] == first.contact]
    harness.check(len(ours) == 1, f"refresh left {len(ours)} bindings for {first.contact}: "
                                  f"{contacts_of(second)}")
    harness.check(1190 <= int(ours[0][1]) <= 1200,
                  f"refresh to 1200 s answered expires={ours[0][1]}")


def check_over_tcp(server):
    run = harness.register(server.procs, server.tcp, CAROL[0], CAROL[2], server.name("tcp"),
                           transport="tcp")
    uris = [b[0] for b in contacts_of(run)]
    harness.check(run.contact in uris, f"TCP registration lists {uris}")
    harness.check(run.contact.endswith(";transport=TCP"), run.contact)
    # Leave 1003 unregistered for the 480 check below.
    unregister = harness.Sipp(
        server.procs, harness.scenario("unregister.xml"), server.tcp, run.local_port,
        server.name("tcp-unregister"),
        {"user": CAROL[0], "contact": f"<{run.contact}>", "cseq": 1, "cseq2": 2},
        extra=["-au", CAROL[0], "-ap", CAROL[2]], transport="tcp")
    unregister.expect_success("unregister 1003 over TCP")


def check_unregister_then_480(server):
    run = harness.register(server.procs, server.udp, BOB[0], BOB[2], server.name("bob"))
    # 1002 has this one binding; unregister.xml fails if the 200 still lists a Contact.
    unregister = harness.Sipp(
        server.procs, harness.scenario("unregister.xml"), server.udp, run.local_port,
        server.name("unregister-one"),
        {"user": BOB[0], "contact": f"<{run.contact}>", "cseq": 1, "cseq2": 2},
        extra=["-au", BOB[0], "-ap", BOB[2]])
    unregister.expect_success("REGISTER Expires: 0 for the one contact of 1002")
    status = server.call(ALICE, BOB[0])
    harness.check(status == "480", f"call to unregistered 1002 got {status}, expected 480")


def check_star(server):
    harness.register(server.procs, server.udp, CAROL[0], CAROL[2], server.name("carol-a"))
    harness.register(server.procs, server.udp, CAROL[0], CAROL[2], server.name("carol-b"))
    star = harness.Sipp(
        server.procs, harness.scenario("unregister.xml"), server.udp, harness.free_port(),
        server.name("unregister-star"),
        {"user": CAROL[0], "contact": "*", "cseq": 1, "cseq2": 2},
        extra=["-au", CAROL[0], "-ap", CAROL[2]])
    star.expect_success("REGISTER Contact: * Expires: 0 for 1003 (two bindings)")
    status = server.call(ALICE, CAROL[0])
    harness.check(status == "480", f"call to 1003 after Contact: * got {status}, expected 480")


def check_too_brief(server):
    run = server.refused(ALICE[0], ALICE[2], ALICE[0], expires=10)
    harness.check(run.value("status") == "423", f"Expires: 10 got {run.value('status')}")
    harness.check(run.value("min_expires") == "60",
                  f"423 Min-Expires is {run.value('min_expires')}, configured 60")


def check_forbidden(server):
    wrong = server.refused(ALICE[0], "not-the-password", ALICE[0])
    unknown = server.refused("1999", "whatever", "1999")
    harness.check(wrong.value("status") == "403", f"wrong password got {wrong.value('status')}")
    # The same answer for both, so that a scanner cannot tell which extensions exist.
    harness.check((unknown.value("status"), unknown.value("reason")) ==
                  (wrong.value("status"), wrong.value("reason")),
                  f"unknown user got {unknown.value('status')} {unknown.value('reason')}, "
                  f"wrong password {wrong.value('status')} {wrong.value('reason')}")


def check_other_extension(server):
    # Right credentials of 1001, but the address of record is 1002's.
    run = server.refused(ALICE[0], ALICE[2], BOB[0])
    harness.check(run.value("status") == "403",
                  f"1001 registering 1002 got {run.value('status')} {run.value('reason')}")


def check_out_of_order_cseq(server):
    port = harness.free_port()
    call_id = f"order-{port}@interop"
    harness.register(server.procs, server.udp, ALICE[0], ALICE[2], server.name("order-1"),
                     local_port=port, call_id=call_id, cseq=10)
    # RFC 3261 §10.3 step 7: same Call-ID, CSeq not above the last one: 500, binding unchanged.
    run = server.refused(ALICE[0], ALICE[2], ALICE[0], call_id=call_id, cseq=3,
                         contact=f"<sip:{ALICE[0]}@127.0.0.1:{port};transport=UDP>")
    harness.check(run.value("status") == "500",
                  f"REGISTER with CSeq 4 after 11 on one Call-ID got {run.value('status')} "
                  f"{run.value('reason')}")


def check_star_needs_expires_zero(server):
    # RFC 3261 §10.3 step 6: "*" is only valid with Expires: 0; otherwise 400.
    run = server.refused(ALICE[0], ALICE[2], ALICE[0], expires=3600, contact="*")
    harness.check(run.value("status") == "400",
                  f"Contact: * with Expires: 3600 got {run.value('status')} {run.value('reason')}")


def check_binding_expires(procs, binary):
    # A server of its own with a 1 s minimum, so that a binding can run out during the test.
    udp, tcp = harness.free_port(), harness.free_port()
    config, _ = harness.write_server_config(procs.workdir, udp, tcp, [ALICE, BOB], domain=DOMAIN,
                                            min_expires="1s", name="short.yaml",
                                            database_name="short.db")
    server = harness.start_catchline(procs, binary, config, name="catchline-short")
    run = harness.register(procs, udp, BOB[0], BOB[2], "expiry-register", expires=2)
    bindings = contacts_of(run)
    harness.check(len(bindings) == 1 and int(bindings[0][1]) in (1, 2),
                  f"REGISTER with Expires: 2 answered {bindings}")
    harness.check(harness.wait_for_log(procs, server, f"registration expired extension={BOB[0]}",
                                       timeout=6),
                  "the 2 s binding did not expire within 6 s")
    call = harness.Sipp(procs, harness.scenario("uac_call_refused.xml"), udp, harness.free_port(),
                        "expiry-call", {"caller": ALICE[0], "callee": BOB[0], "domain": DOMAIN},
                        extra=["-au", ALICE[0], "-ap", ALICE[2]])
    call.expect_success("call to 1002 after its binding expired")
    harness.check(call.value("status") == "480",
                  f"call after expiry got {call.value('status')}")
    procs.stop(server)


def check_challenge_of_retransmission(server):
    """RFC 3261 §8.2.7: a stateless UAS "MUST" generate To tags "in a manner that will generate
    the same tag for the same request consistently". The 401/407 challenges are stateless, so a
    retransmitted REGISTER or INVITE (same bytes, same branch) must get the same To tag."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((harness.LOOPBACK, 0))
        sock.settimeout(3)
        port = sock.getsockname()[1]
        seen = {}
        for method, target in (("REGISTER", ""), ("INVITE", f"{BOB[0]}@")):
            request = (
                f"{method} sip:{target}{harness.LOOPBACK}:{server.udp} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {harness.LOOPBACK}:{port};branch=z9hG4bK-again-{method}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{ALICE[0]}@{DOMAIN}>;tag=again\r\n"
                f"To: <sip:{ALICE[0] if method == 'REGISTER' else BOB[0]}@{DOMAIN}>\r\n"
                f"Call-ID: again-{method}-{port}@interop\r\n"
                f"CSeq: 1 {method}\r\n"
                f"Contact: <sip:{ALICE[0]}@{harness.LOOPBACK}:{port}>\r\n"
                "Content-Length: 0\r\n\r\n").encode()
            tags = []
            for _ in range(2):  # the request, then its retransmission
                sock.sendto(request, (harness.LOOPBACK, server.udp))
                response = sock.recv(65535).decode(errors="replace")
                status = response.split(" ", 2)[1]
                tag = re.search(r"^(?:To|t):[^\r\n]*;tag=([^;\r\n]+)", response, re.M)
                tags.append((status, tag.group(1) if tag else None))
            seen[method] = tags
    problems = [f"{method}: {tags[0]} then {tags[1]}" for method, tags in seen.items()
                if tags[0] != tags[1]]
    harness.check(not problems, "retransmission answered with another To tag: " +
                  "; ".join(problems))


def check_unknown_number_404(server):
    status = server.call(ALICE, "1999")
    harness.check(status == "404", f"call to 1999 (no such extension) got {status}")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        server = Server(procs, binary)
        results.run("401 challenge then 200 with Contact and expires",
                    check_challenge_then_200, server)
        results.run("200 to REGISTER carries a Date header", check_date_in_200, server)
        results.run("Expires equal to min_expires is granted as is",
                    check_min_interval_accepted_as_is, server)
        results.run("refresh with the same Call-ID and higher CSeq", check_refresh, server)
        results.run("register and unregister over TCP", check_over_tcp, server)
        results.run("unregister (Expires: 0), then a call gets 480",
                    check_unregister_then_480, server)
        results.run("Contact: * with Expires: 0 removes every binding", check_star, server)
        results.run("Expires below min_expires: 423 with Min-Expires", check_too_brief, server)
        results.run("wrong password and unknown user: the same 403", check_forbidden, server)
        results.run("REGISTER of another extension's address: 403", check_other_extension,
                    server)
        results.run("call to an unknown number: 404", check_unknown_number_404, server)
        results.run("out-of-order CSeq on one Call-ID: 500", check_out_of_order_cseq, server)
        results.run("a retransmitted REGISTER/INVITE is challenged with the same To tag",
                    check_challenge_of_retransmission, server)
        results.run("Contact: * without Expires: 0: 400", check_star_needs_expires_zero, server)
        results.run("a binding expires on time, then calls get 480", check_binding_expires,
                    procs, binary)
        if results.failed:
            print(harness.Processes.log_of(procs, server.proc)[-3000:])
    results.finish()


if __name__ == "__main__":
    main()
