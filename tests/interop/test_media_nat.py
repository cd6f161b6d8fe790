"""The media relay (issue 11) with a phone behind a NAT: network namespaces of the test's own,
a server on a public address, and real RTP from scripted phones.

Topology (namespaces named catchline-nat-ROLE-PID; all are deleted at the end, also on
failure or SIGTERM, and with them their links and the router's iptables rule; those of a run
that was killed outright are deleted by the next run):

    wan         198.51.100.1   the server (SIP and media.address)
                198.51.100.20  the public phone
                198.51.100.30  a stranger
        | veth
    router      198.51.100.2   public side, iptables MASQUERADE to ports 61000-61999
                10.0.0.1       ip_forward on
        | veth
    lan         10.0.0.2       the NATed phone (default route via 10.0.0.1); the wan has no
                               route to 10.0.0.0/24, as on the internet

The server runs under `ip netns exec`; the phones' sockets are made on a thread that entered a
namespace with setns(CLONE_NEWNET), and stay in it (the rest of the test uses them from the main
thread). Checks:
- the NATed phone registers through the NAT; a call from the public phone rings it at its
  NAT mapping, its SDP names its private address, and the relay latches to the router's public
  address and mapped port: RTP both ways byte for byte, the NATed phone's packets leave the
  router from a mapped port (read in the router's conntrack table) and the public phone's reach
  the NATed phone through that mapping; after latching, a stranger on the wan and a second
  socket behind the same NAT (same public address, another port) sending to the NATed leg's
  relay port are not forwarded, and the NATed phone's stream still is;
- the NATed phone calls the public one: the same, the other way round.

Exits 77 (ctest: skipped) with the reason when namespaces cannot be made here (not root, no
`ip netns`, no iptables NAT). Usage: test_media_nat.py --catchline PATH.
"""
import ctypes
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import harness
import sipua
import test_media

DOMAIN = "catchline.test"
SERVER = "198.51.100.1"
PUBLIC_PHONE = "198.51.100.20"
STRANGER = "198.51.100.30"
ROUTER_PUBLIC = "198.51.100.2"
ROUTER_PRIVATE = "10.0.0.1"
NATED_PHONE = "10.0.0.2"
NAT_PORTS = (61000, 61999)
ALICE = ("1001", "Alice Public", "alice-secret")
BOB = ("1002", "Bob Behind-Nat", "bob-secret")
SKIPPED = 77
CLONE_NEWNET = 0x40000000
NAMESPACE_PREFIX = "catchline-nat-"


class Skip(Exception):
    """The machine cannot run this test (no namespaces, no NAT)."""


def run(*args):
    """Runs a command; raises with its output when it fails."""
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


class Network:
    """The three namespaces and their links; a context manager that deletes every namespace it
    made, whatever happened.

    With `public_host`, the public phone's address is not on the wan's link but in a fourth
    namespace of its own (`self.public`), a host on the wan side reached by a veth from the wan:
    a phone that binds its RTP to the wildcard address (baresip does) would otherwise send to
    the server from the server's own address, as two programs on one machine do."""

    def __init__(self, public_host=False):
        pid = os.getpid()
        self.wan, self.router, self.lan = (f"{NAMESPACE_PREFIX}{role}-{pid}"
                                           for role in ("wan", "router", "lan"))
        self.public = f"{NAMESPACE_PREFIX}public-{pid}" if public_host else None
        # Interface names live inside their namespace, so short fixed names cannot collide.
        self.made = []

    def __enter__(self):
        if os.geteuid() != 0:
            raise Skip("network namespaces need root")
        remove_orphans()
        try:
            for name in (self.wan, self.router, self.lan, self.public):
                if name is None:
                    continue
                run("ip", "netns", "add", name)
                self.made.append(name)
        except (RuntimeError, OSError) as error:
            self.__exit__(None, None, None)
            raise Skip(f"cannot create a network namespace: {error}")
        try:
            self._links()
        except (RuntimeError, OSError) as error:
            self.__exit__(None, None, None)
            raise Skip(f"cannot build the NAT between namespaces: {error}")
        return self

    def _links(self):
        wan, router, lan = self.wan, self.router, self.lan
        run("ip", "link", "add", "wan0", "netns", wan, "type", "veth", "peer", "name", "up0",
            "netns", router)
        run("ip", "link", "add", "down0", "netns", router, "type", "veth", "peer", "name",
            "lan0", "netns", lan)
        addresses = [(wan, "wan0", SERVER), (wan, "wan0", STRANGER), (router, "up0", ROUTER_PUBLIC),
                     (router, "down0", ROUTER_PRIVATE), (lan, "lan0", NATED_PHONE)]
        if self.public is None:
            addresses.append((wan, "wan0", PUBLIC_PHONE))
        for ns, device, address in addresses:
            run("ip", "-n", ns, "addr", "add", address + "/24", "dev", device)
        for ns, device in ((wan, "lo"), (wan, "wan0"), (router, "lo"), (router, "up0"),
                           (router, "down0"), (lan, "lo"), (lan, "lan0")):
            run("ip", "-n", ns, "link", "set", device, "up")
        run("ip", "-n", lan, "route", "add", "default", "via", ROUTER_PRIVATE)
        if self.public is not None:
            # A point-to-point link inside the wan's /24: a host route each way.
            public = self.public
            run("ip", "link", "add", "host0", "netns", wan, "type", "veth", "peer", "name",
                "eth0", "netns", public)
            run("ip", "-n", public, "addr", "add", PUBLIC_PHONE + "/32", "dev", "eth0")
            for ns, device in ((public, "lo"), (public, "eth0"), (wan, "host0")):
                run("ip", "-n", ns, "link", "set", device, "up")
            run("ip", "-n", wan, "route", "add", PUBLIC_PHONE + "/32", "dev", "host0")
            run("ip", "-n", public, "route", "add", "default", "dev", "eth0")
        run("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # A mapped port range apart from the phones' own ports, so a latched port tells which.
        run("ip", "netns", "exec", router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o",
            "up0", "-p", "udp", "-j", "MASQUERADE", "--to-ports", f"{NAT_PORTS[0]}-{NAT_PORTS[1]}")

    def __exit__(self, *exc):
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self.made = []
        return False

    def exec_prefix(self, ns):
        return ["ip", "netns", "exec", ns]

    def conntrack(self):
        """The router's UDP conntrack entries as dicts: src, sport, dst, dport (the original
        direction) and reply_src, reply_sport, reply_dst, reply_dport; `unreplied` when nothing
        came back yet; with net.netfilter.nf_conntrack_acct on in the router, also packets and
        reply_packets (counts as strings, like the rest)."""
        entries = []
        text = run("ip", "netns", "exec", self.router, "cat", "/proc/net/nf_conntrack")
        for line in text.splitlines():
            if " udp " not in f" {line} ":
                continue
            pairs = re.findall(r"(src|dst|sport|dport)=(\S+)", line)
            if len(pairs) < 8:
                continue
            entry = {key: value for key, value in pairs[:4]}
            entry.update({"reply_" + key: value for key, value in pairs[4:8]})
            counts = re.findall(r"packets=(\d+)", line)
            if len(counts) == 2:
                entry["packets"], entry["reply_packets"] = counts
            entry["unreplied"] = "[UNREPLIED]" in line
            entries.append(entry)
        return entries


def remove_orphans():
    """Deletes the namespaces of earlier runs of this test whose process is gone (one that was
    killed, e.g. by a ctest timeout, had no chance to delete its own)."""
    try:
        names = run("ip", "netns", "list").split()
    except (RuntimeError, OSError):
        return
    for name in names:
        match = re.fullmatch(NAMESPACE_PREFIX + r"(?:wan|router|lan|public)-(\d+)", name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)


_libc = ctypes.CDLL(None, use_errno=True)


def in_namespace(ns, make):
    """Calls make() on a thread that entered network namespace `ns` (only that thread moves:
    Python 3.11 has no os.setns); sockets made there stay in `ns`. Returns what make() returned."""
    outcome = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns {ns}: {os.strerror(error)}")
            finally:
                os.close(fd)
            outcome["value"] = make()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def udp_socket(address):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.settimeout(0.05)
    return sock


class Phone(sipua.UA):
    """A scripted phone on `address` with a real RTP socket there, which its SDP names."""

    def __init__(self, server_port, extension, address):
        self.rtp = udp_socket(address)
        self.rtp_port = self.rtp.getsockname()[1]
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        number, name, password, *_ = extension
        super().__init__(server_port, number, password, domain=DOMAIN, name=name,
                         address=address, server_address=SERVER)

    def sdp(self):
        return (f"v=0\r\no=sipua 1 1 IN IP4 {self.address}\r\ns=-\r\n"
                f"c=IN IP4 {self.address}\r\nt=0 0\r\n"
                f"m=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                "a=rtpmap:101 telephone-event/8000\r\n")

    send_rtp = test_media.Phone.send_rtp
    received = test_media.Phone.received
    drain = test_media.Phone.drain

    def close(self):
        super().close()
        self.rtp.close()


class Bench:
    """The server in the wan namespace, and the phones."""

    def __init__(self, procs, binary, net):
        self.procs, self.binary, self.net = procs, binary, net
        self.udp, self.tcp = random.SystemRandom().sample(range(10000, 19999), 2)
        self.first, self.last = test_media.port_range()
        extra = (f"media:\n  mode: relay\n  address: {SERVER}\n"
                 f"  ports: {self.first}-{self.last}\n  timeout: 60s\n")
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, [ALICE, BOB], domain=DOMAIN,
            no_answer_timeout="20s", extra_yaml=extra, address=SERVER)
        self.server = harness.start_catchline(procs, binary, self.config,
                                              wrapper=net.exec_prefix(net.wan))
        self.phones = []
        self.sockets = []

    def public_phone(self):
        return self._phone(self.net.wan, ALICE, PUBLIC_PHONE)

    def nated_phone(self):
        return self._phone(self.net.lan, BOB, NATED_PHONE)

    def _phone(self, ns, extension, address):
        phone = in_namespace(ns, lambda: Phone(self.udp, extension, address))
        self.phones.append(phone)
        response = phone.register()
        harness.check(response is not None and response.status == 200,
                      f"{extension[0]} at {address} did not register: "
                      f"{response.start if response else 'no answer'}")
        phone.registered = True
        return phone

    def socket_in(self, ns, address):
        sock = in_namespace(ns, lambda: udp_socket(address))
        self.sockets.append(sock)
        return sock

    def relayed(self, sdp, what):
        address, port = test_media.media_of(sdp)
        harness.check(address == SERVER and self.first <= port <= self.last,
                      f"{what} names {address}:{port}, not the relay at {SERVER} "
                      f"{self.first}-{self.last}")
        return port

    def close(self):
        for phone in self.phones:
            if getattr(phone, "registered", False):
                phone.register(expires=0)
            phone.close()
        for sock in self.sockets:
            sock.close()
        self.phones, self.sockets = [], []


def check_same(got, sent, source, who):
    harness.check([p for p, _ in got] == sent,
                  f"{who} got {len(got)} of {len(sent)} packets, or changed ones")
    harness.check(all(s == source for _, s in got),
                  f"packets to {who} came from {set(s for _, s in got)}, not the relay port "
                  f"its SDP names {source}")


def nat_mapping(bench, phone, relay_port):
    """The router's public (address, port) for the NATed phone's RTP to `relay_port`."""
    for entry in bench.net.conntrack():
        if (entry["src"], entry["sport"], entry["dst"], entry["dport"]) == (
                NATED_PHONE, str(phone.rtp_port), SERVER, str(relay_port)):
            return entry["reply_dst"], int(entry["reply_dport"])
    return None


def check_talk_through_nat(bench, nated, public, to_nated, to_public):
    """RTP both ways between the phones, the NATed one first (as a phone behind NAT must: the
    relay cannot reach its private address); then strangers try the NATed leg's port."""
    sent = nated.send_rtp((SERVER, to_nated))
    check_same(public.received(len(sent)), sent, (SERVER, to_public), "the public phone")
    mapping = nat_mapping(bench, nated, to_nated)
    harness.check(mapping is not None, "no conntrack entry for the NATed phone's RTP in the "
                  f"router: {bench.net.conntrack()}")
    harness.check(mapping[0] == ROUTER_PUBLIC and NAT_PORTS[0] <= mapping[1] <= NAT_PORTS[1]
                  and mapping[1] != nated.rtp_port,
                  f"the NATed phone's RTP left the router as {mapping}, not masqueraded")
    back = public.send_rtp((SERVER, to_public))
    # The wan has no route to the private address: these can only come through the mapping.
    check_same(nated.received(len(back)), back, (SERVER, to_nated),
               f"the NATed phone (mapped at {mapping[0]}:{mapping[1]})")

    # Latched to the mapping: a stranger on the wan, and a second socket behind the same NAT
    # (the router's address, another mapped port), send to the NATed leg's relay port.
    stranger = bench.socket_in(bench.net.wan, STRANGER)
    neighbour = bench.socket_in(bench.net.lan, NATED_PHONE)
    for who, sock in (("a stranger on the wan", stranger),
                      ("a second socket behind the same NAT", neighbour)):
        public.drain()
        for seq in range(5):
            sock.sendto(struct.pack("!BBHII", 0x80, 0, seq, 0, 0xDEADBEEF) + b"\x00" * 160,
                        (SERVER, to_nated))
        got = public.received(1, timeout=0.5)
        harness.check(not got, f"{who} took over the NATed phone's latched stream: "
                               f"{len(got)} packet(s) forwarded to the public phone")
    other = [e for e in bench.net.conntrack() if e["sport"] == str(neighbour.getsockname()[1])]
    harness.check(other and other[0]["reply_dst"] == ROUTER_PUBLIC,
                  f"the second socket's packets did not leave through the NAT: {other}")
    sent = nated.send_rtp((SERVER, to_nated), count=3)
    check_same(public.received(3), sent, (SERVER, to_public), "the public phone (after)")
    back = public.send_rtp((SERVER, to_public), count=3)
    check_same(nated.received(3), back, (SERVER, to_nated), "the NATed phone (after)")


def check_public_calls_nated(bench):
    try:
        nated = bench.nated_phone()
        public = bench.public_phone()
        registered = re.compile(rf"register extension={BOB[0]} .*source=\S*"
                                rf"{re.escape(ROUTER_PUBLIC)}:")
        harness.check(registered.search(bench.procs.log_of(bench.server)),
                      "the NATed phone's registration does not name the router's address as its "
                      "source")
        nated.invite_mode = "answer"
        call = public.invite(public.aor(BOB[0]))
        final = call.final()
        harness.check(final is not None and final.status == 200, f"call not answered: {final}")
        incoming = nated.wait_incoming()
        harness.check(incoming is not None, "the NATed phone was not rung")
        to_nated = bench.relayed(incoming.received.body, "the INVITE to the NATed phone")
        to_public = bench.relayed(final.body, "the 200 to the public phone")
        check_talk_through_nat(bench, nated, public, to_nated, to_public)
        harness.check(call.bye().status == 200, "BYE not answered 200")
    finally:
        bench.close()


def check_nated_calls_public(bench):
    try:
        public = bench.public_phone()
        nated = bench.nated_phone()
        public.invite_mode = "answer"
        call = nated.invite(nated.aor(ALICE[0]))
        final = call.final()
        harness.check(final is not None and final.status == 200, f"call not answered: {final}")
        incoming = public.wait_incoming()
        harness.check(incoming is not None, "the public phone was not rung")
        to_public = bench.relayed(incoming.received.body, "the INVITE to the public phone")
        to_nated = bench.relayed(final.body, "the 200 to the NATed phone")
        check_talk_through_nat(bench, nated, public, to_nated, to_public)
        harness.check(call.bye().status == 200, "BYE not answered 200")
    finally:
        bench.close()


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    # A SIGTERM (ctest, a user) unwinds like an error: the server stops, the namespaces go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    try:
        with Network() as net:
            with harness.session() as procs:
                bench = Bench(procs, binary, net)
                try:
                    results.run("public phone calls the NATed one: rung at its mapping, relay "
                                "latched to the NAT's address and port, RTP both ways, no "
                                "hijack from the wan or from behind the same NAT",
                                check_public_calls_nated, bench)
                    results.run("NATed phone calls the public one: the same the other way",
                                check_nated_calls_public, bench)
                    if results.failed:
                        print(procs.log_of(bench.server)[-4000:])
                finally:
                    bench.close()
    except Skip as why:
        print(f"skipped: {why}")
        sys.exit(SKIPPED)
    results.finish()


if __name__ == "__main__":
    main()
