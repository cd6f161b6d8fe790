"""Real phones on both sides of a NAT talk through the media relay (issue 11, "done when"):
baresip 1.0 phones with a sine as microphone and WAV dumps of what they decode (the phones of
test_media_baresip.py) in the network namespaces of test_media_nat.py.

    public  198.51.100.20  baresip 1001 (1000 Hz), a host of its own on the wan side
      | veth
    wan     198.51.100.1   the server (SIP and media.address, relay mode)
      | veth
    router  198.51.100.2   MASQUERADE to ports 61000-61999 (packet counts on in its conntrack)
      | veth
    lan     10.0.0.2       baresip 1002 (1600 Hz), behind the NAT; no route to it from the wan

(baresip binds RTP to the wildcard address: in the server's own namespace it would send from the
server's address, hence the public phone's namespace.)

- 1002 behind the NAT calls 1001, which answers on its own; after a few seconds 1002 hangs up;
- 1001 calls 1002 behind the NAT, the same the other way round.

Each time each phone records the other's tone for most of the talk (Goertzel on its dump) and
gets RTP only from the relay (the server's address, a port of media.ports); the NATed phone's
SDP names its private 10.0.0.2, which neither the relay nor the public phone can reach, and the
public phone never sees that address in any SDP. The relay latched the NATed phone's stream to
the router's public address: the router's conntrack entry for the NATed phone's RTP to its relay
port was masqueraded to 198.51.100.2 and a port of the NAT range, and the relay's packets came
back through that mapping (counted there: most of the talk's packets).

The server and the phones run under `ip netns exec` (their PIDs are theirs); baresip's control
socket is reached from a thread inside the phone's namespace. Every process is stopped and every
namespace deleted at the end, also on failure or SIGTERM. Exits 77 (ctest: skipped) with the
reason when namespaces or NAT cannot be made here. Usage: test_media_nat_baresip.py --catchline
PATH.
"""
import os
import re
import signal
import sys
import time

import harness
import test_baresip as baresip
import test_media_baresip as audio
import test_media_nat as nat

PUBLIC, NATED = audio.ALICE, audio.BOB
PACKETS_PER_SECOND = 50  # G.711 in 20 ms packets


def place_in(net, ns, address):
    return audio.Place(address, net.exec_prefix(ns),
                       lambda make: nat.in_namespace(ns, make))


def sdp_addresses(phone):
    """Every address in a c= line of the SIP trace (-s) in the phone's log: its own SDP and the
    SDP it was sent."""
    return set(re.findall(r"^c=IN IP4 (\S+)", phone.procs.log_of(phone.proc), re.M))


def check_latched(net, office, nated, peers_before):
    """The NATed phone's stream went through the router's mapping both ways: the relay latched
    to the router's public address and mapped port, not to the private address in its SDP."""
    peers = nated.rtp_peers()[peers_before:]
    harness.check(peers, f"{nated.number} logged no incoming RTP")
    relay_address, relay_port = peers[-1]
    harness.check(relay_address == nat.SERVER,
                  f"{nated.number} got RTP from {relay_address}, not the relay at {nat.SERVER}")
    entries = [e for e in net.conntrack()
               if (e["src"], e["dst"], e["dport"]) == (nat.NATED_PHONE, nat.SERVER,
                                                       str(relay_port))]
    harness.check(len(entries) == 1, f"conntrack entries in the router for {nat.NATED_PHONE} "
                  f"-> {nat.SERVER}:{relay_port}: {entries}; all: {net.conntrack()}")
    entry = entries[0]
    mapped = (entry["reply_dst"], int(entry["reply_dport"]))
    harness.check(mapped[0] == nat.ROUTER_PUBLIC and
                  nat.NAT_PORTS[0] <= mapped[1] <= nat.NAT_PORTS[1],
                  f"{nated.number}'s RTP left the router as {mapped[0]}:{mapped[1]}, not "
                  f"masqueraded to {nat.ROUTER_PUBLIC} {nat.NAT_PORTS[0]}-{nat.NAT_PORTS[1]}")
    harness.check(not entry["unreplied"], f"the relay sent nothing back to {mapped}: {entry}")
    if "reply_packets" in entry:
        # The wan has no route to 10.0.0.2: what the relay sent can only arrive this way.
        wanted = int(audio.TALK * PACKETS_PER_SECOND / 2)
        harness.check(int(entry["reply_packets"]) >= wanted,
                      f"the relay sent {entry['reply_packets']} packets to the mapping "
                      f"{mapped[0]}:{mapped[1]}, fewer than {wanted}")
    print(f"     relay {nat.SERVER}:{relay_port} latched to {mapped[0]}:{mapped[1]} "
          f"({entry.get('reply_packets', 'uncounted')} packets sent there, "
          f"{entry.get('packets', 'uncounted')} received from it)", flush=True)


def check_call(net, office, caller, callee):
    public, nated = office.phones[PUBLIC[0]], office.phones[NATED[0]]
    peers_before = len(nated.rtp_peers())
    marks = {phone: phone.mark() for phone in (caller, callee)}
    office.dial(caller, callee.number)
    for phone in (caller, callee):
        harness.check(phone.event("CALL_ESTABLISHED", marks[phone]),
                      f"no CALL_ESTABLISHED on {phone.number}")
    time.sleep(audio.TALK)
    harness.check(caller.control.command("hangup").get("ok"), f"{caller.number}'s hangup refused")
    for phone in (caller, callee):
        harness.check(phone.event("CALL_CLOSED", marks[phone]),
                      f"no CALL_CLOSED on {phone.number}")
    office.check_heard(callee, caller, [callee])
    office.check_heard(caller, callee, [caller])
    for phone in (public, nated):
        sources = {address for address, _ in phone.rtp_peers()}
        harness.check(sources == {nat.SERVER},
                      f"{phone.number} got RTP from {sources}, not only the relay {nat.SERVER}")
    nated_sdp, public_sdp = sdp_addresses(nated), sdp_addresses(public)
    harness.check(nat.NATED_PHONE in nated_sdp,
                  f"{nated.number}'s SDP names {nated_sdp}, not its private {nat.NATED_PHONE}")
    harness.check(public_sdp == {nat.PUBLIC_PHONE, nat.SERVER},
                  f"SDP seen by {public.number} names {public_sdp}: expected only its own "
                  f"{nat.PUBLIC_PHONE} and the relay {nat.SERVER}")
    check_latched(net, office, nated, peers_before)


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    if baresip.MODULES is None or not all(
            os.path.isfile(os.path.join(baresip.MODULES, m))
            for m in ("ausine.so", "sndfile.so", "aubridge.so", "g711.so")):
        print(f"baresip (baresip-core) with ausine, sndfile, aubridge and g711 is not installed "
              f"(modules: {baresip.MODULES})")
        results.failed.append("baresip missing")
        results.finish()
    # A SIGTERM (ctest, a user) unwinds like an error: processes stop, the namespaces go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    try:
        with nat.Network(public_host=True) as net:
            try:
                # Per-entry packet counts; without them the check falls back to "replied".
                nat.run("ip", "netns", "exec", net.router, "sysctl", "-qw",
                        "net.netfilter.nf_conntrack_acct=1")
            except (RuntimeError, OSError) as error:
                print(f"no conntrack packet counts in the router: {error}")
            with harness.session() as procs:
                office = audio.Office(
                    procs, binary, "nat", [PUBLIC, NATED], ["auto", "auto"],
                    server_place=place_in(net, net.wan, nat.SERVER),
                    places={PUBLIC[0]: place_in(net, net.public, nat.PUBLIC_PHONE),
                            NATED[0]: place_in(net, net.lan, nat.NATED_PHONE)})
                try:
                    public, nated = office.phones[PUBLIC[0]], office.phones[NATED[0]]
                    results.run(f"baresip {NATED[0]} behind the NAT calls baresip {PUBLIC[0]} on "
                                "the wan: each hears the other's tone through the relay, which "
                                "latched to the router's public address and mapped port",
                                check_call, net, office, nated, public)
                    results.run(f"baresip {PUBLIC[0]} on the wan calls baresip {NATED[0]} "
                                "behind the NAT: the same the other way round",
                                check_call, net, office, public, nated)
                    if results.failed:
                        for proc in procs.started:
                            print(f"--- {proc.name} ---\n{procs.log_of(proc)[-3000:]}")
                finally:
                    office.close()
    except nat.Skip as why:
        print(f"skipped: {why}")
        sys.exit(nat.SKIPPED)
    results.finish()


if __name__ == "__main__":
    main()
