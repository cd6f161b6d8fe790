"""Trunks through the real server, with SIPp as the provider's gateway: calls in to a DID
(recognised by source address, no challenge), ringing an extension or a ring group, picked up
like an internal call; calls out by prefix, answering the gateway's 407 with the trunk's
credentials and showing the trunk's caller id; a call ringing out through a trunk is never
pickable; an INVITE from the gateway's address but another port is not the trunk's.

Usage: test_trunks.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import hashlib
import re
import time

import harness

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret")
CAROL = ("1003", "Carol Picker", "carol-secret")
OUTSIDE = "5550100"
DID_BOB = "5551002"
DID_SALES = "5552000"
CALLER_ID = "5551000"
GATEWAY_USER, GATEWAY_PASSWORD = "acct-17", "gw-secret"


class Bench:
    def __init__(self, procs, binary):
        self.procs = procs
        self.binary = binary
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.gateway = harness.free_port()        # the provider, with credentials
        self.plain_gateway = harness.free_port()  # a second provider, no credentials
        self.database = f"{procs.workdir}/catchline.db"
        self.config = f"{procs.workdir}/catchline.yaml"
        with open(self.config, "w") as f:
            f.write(f"""sip:
  listen: ["udp:127.0.0.1:{self.udp}", "tcp:127.0.0.1:{self.tcp}"]
  domain: {DOMAIN}
  no_answer_timeout: 3s
storage:
  path: {self.database}
extensions:
  - {{number: "{ALICE[0]}", name: "{ALICE[1]}", password: "{ALICE[2]}"}}
  - {{number: "{BOB[0]}", name: "{BOB[1]}", password: "{BOB[2]}", call_groups: [desk]}}
  - {{number: "{CAROL[0]}", name: "{CAROL[1]}", password: "{CAROL[2]}", pickup_groups: [desk]}}
ring_groups:
  - {{number: "2000", name: Sales, members: ["{BOB[0]}"], call_groups: [desk]}}
trunks:
  - name: provider
    address: "127.0.0.1:{self.gateway}"
    username: "{GATEWAY_USER}"
    password: "{GATEWAY_PASSWORD}"
    caller_id: "{CALLER_ID}"
    outbound_prefix: "9"
    dids: {{"{DID_BOB}": "{BOB[0]}", "{DID_SALES}": "2000"}}
  - name: backup
    address: "127.0.0.1:{self.plain_gateway}"
    outbound_prefix: "8"
""")
        self.server = harness.start_catchline(procs, binary, self.config)
        self.runs = 0
        self.bob = harness.register(procs, self.udp, BOB[0], BOB[2], self.name("register-bob"))

    def name(self, what):
        self.runs += 1
        return f"{self.runs:02d}-{what}"

    def phone(self, scenario, port, what, **variables):
        return harness.phone(self.procs, scenario, port, self.name(what), variables)

    def provider_call(self, did, what, talk_ms=300, port=None):
        """The gateway calls in from its own address (the trunk's)."""
        return harness.Sipp(self.procs, harness.scenario("trunk_uac_call.xml"), self.udp,
                            port or self.gateway, self.name(what),
                            {"did": did, "caller": OUTSIDE, "talk_ms": talk_ms})

    def extension_call(self, scenario, who, callee, what, **variables):
        variables.update({"caller": who[0], "callee": callee, "domain": DOMAIN})
        return harness.Sipp(self.procs, harness.scenario(scenario), self.udp, harness.free_port(),
                            self.name(what), variables, extra=["-au", who[0], "-ap", who[2]])

    def picker(self, scenario, who, code, what, **variables):
        variables.update({"picker": who[0], "code": code, "domain": DOMAIN})
        return harness.Sipp(self.procs, harness.scenario(scenario), self.udp, harness.free_port(),
                            self.name(what), variables, extra=["-au", who[0], "-ap", who[2]])

    def record_of(self, call_id):
        def find():
            return next((r for r in harness.call_records(self.binary, self.database)
                         if r["call_id"] == call_id), None)
        return harness.wait_until(find, timeout=5.0)


def call_id_of(run):
    return f"1-{run.proc.pid}@127.0.0.1"


def check_inbound_did_rings_extension(bench):
    bob = bench.phone("uas_answer.xml", bench.bob.local_port, "bob-answers", ring_ms=100)
    gateway = bench.provider_call(DID_BOB, "provider-calls-did")
    gateway.expect_success("provider: INVITE without challenge, 200, ACK, BYE")
    bob.expect_success("callee: rings and answers the outside call")
    harness.check(bob.value("from_number") == OUTSIDE and bob.value("from_name") ==
                  "Outside Caller", f"callee saw {bob.value('from_name')!r} "
                  f"{bob.value('from_number')!r}, not the outside caller")
    harness.check(f"sip:{BOB[0]}@" in (gateway.value("answered_by") or ""),
                  f"provider's 200 says {gateway.value('answered_by')!r}")
    record = bench.record_of(call_id_of(gateway))
    harness.check(record and record["caller"] == OUTSIDE and record["dialled"] == DID_BOB and
                  record["answered_by"] == BOB[0], f"call record {record}")


def check_inbound_call_is_pickable(bench):
    bob = bench.phone("uas_ring_cancel_elsewhere.xml", bench.bob.local_port, "bob-rings")
    gateway = bench.provider_call(DID_SALES, "provider-calls-ring-group", talk_ms=300)
    harness.check(harness.wait_until(lambda: "call start" in bench.procs.log_of(bench.server)
                                     and bob.logged() is not None, timeout=5.0), "no call")
    time.sleep(0.5)
    carol = bench.picker("uac_pickup.xml", CAROL, "*8", "carol-picks-up", delay_ms=0, hangup=0,
                         talk_ms=0)
    carol.expect_success("picker: 200 for the outside caller's call, then the caller's BYE")
    gateway.expect_success("provider: answered by the picker")
    bob.expect_success("ringing phone: CANCEL with 'Call completed elsewhere'")
    harness.check(f"sip:{CAROL[0]}@" in (gateway.value("answered_by") or ""),
                  f"provider's 200 says {gateway.value('answered_by')!r}, not the picker")
    harness.check(f"sip:{OUTSIDE}@" in (carol.value("caller_identity") or ""),
                  f"picker was told {carol.value('caller_identity')!r}, not the outside number")
    record = bench.record_of(call_id_of(gateway))
    harness.check(record and record["answered_by"] == CAROL[0] and
                  record["pickup_kind"] == "group" and record["picked_from"] == "2000",
                  f"call record {record}")


def check_outbound_answers_gateway_challenge(bench):
    gateway = bench.phone("trunk_uas_challenge.xml", bench.gateway, "gateway-challenges")
    alice = bench.extension_call("uac_call.xml", ALICE, "95550199", "alice-dials-out",
                                 talk_ms=300)
    alice.expect_success("caller: 407 from us, then the gateway's answer")
    gateway.expect_success("gateway: 407, INVITE with credentials, 200, ACK, BYE")
    harness.check(gateway.value("number") == "5550199",
                  f"gateway was asked for {gateway.value('number')!r} (prefix not stripped?)")
    harness.check(f"sip:{CALLER_ID}@" in (gateway.value("from") or ""),
                  f"gateway saw From {gateway.value('from')!r}, not the trunk's caller id")
    check_digest_response(gateway.value("credentials") or "", gateway.value("uri") or "",
                          GATEWAY_USER, GATEWAY_PASSWORD, "provider.test")


def check_digest_response(credentials, uri, user, password, realm):
    """The Proxy-Authorization answers the gateway's challenge (RFC 7616 §3.4.1, qop=auth)."""
    fields = {key: quoted or token for key, quoted, token in
              re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', credentials)}
    harness.check(fields.get("username") == user and fields.get("realm") == realm and
                  fields.get("uri") == uri, f"credentials {credentials!r} for request {uri!r}")
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1 = md5(f"{user}:{realm}:{password}")
    ha2 = md5(f"INVITE:{uri}")
    expected = md5(f"{ha1}:{fields.get('nonce')}:{fields.get('nc')}:{fields.get('cnonce')}:"
                   f"{fields.get('qop')}:{ha2}")
    harness.check(fields.get("qop") == "auth" and fields.get("response") == expected,
                  f"digest response {fields.get('response')} is not {expected}: {credentials!r}")


def check_outbound_call_is_never_pickable(bench):
    gateway = bench.phone("uas_ring_cancel.xml", bench.plain_gateway, "gateway-rings")
    alice = bench.extension_call("uac_call_refused.xml", ALICE, "85550111", "alice-rings-out")
    harness.check(harness.wait_until(lambda: gateway.messages_text().count("180 Ringing") > 0,
                                     timeout=5.0), "the gateway never rang")
    carol = bench.picker("uac_pickup_refused.xml", CAROL, "*8", "carol-tries", formats="0")
    carol.expect_success("picker: refused")
    harness.check(carol.value("status") == "480", f"picker got {carol.value('status')}")
    alice.expect_success("caller: no answer from the gateway, 480")
    gateway.expect_success("gateway: plain CANCEL on no answer")


def check_other_port_of_gateway_is_challenged(bench):
    # Same address, other port: not the trunk (inbound_from defaults to address:port), so the
    # INVITE is an unauthenticated one from nobody: challenged, and SIPp fails on the 407.
    gateway = bench.provider_call(DID_BOB, "stranger-calls-did", port=harness.free_port())
    code, ok, failed = gateway.wait()
    harness.check(ok == 0 and "407" in gateway.messages_text(),
                  "an INVITE from another port was let through without a challenge")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        results.run("inbound DID rings its extension, callee sees the outside caller",
                    check_inbound_did_rings_extension, bench)
        results.run("inbound call to a ring group is picked up with *8",
                    check_inbound_call_is_pickable, bench)
        results.run("outbound by prefix answers the gateway's 407, shows the trunk caller id",
                    check_outbound_answers_gateway_challenge, bench)
        results.run("a call ringing out through a trunk is not pickable",
                    check_outbound_call_is_never_pickable, bench)
        results.run("the gateway's address on another port is not the trunk",
                    check_other_port_of_gateway_is_challenged, bench)
    results.finish()


if __name__ == "__main__":
    main()
