"""The media relay (issue 11) through the real server, with scripted phones that send and
receive real RTP on their own UDP sockets (127.0.0.1 only).

- a call: each phone's SDP names the relay (its address, a port of media.ports), never the
  other phone; RTP from each phone reaches the other byte for byte (SSRC, sequence, payload),
  and comes from the relay port that phone was given (symmetric RTP);
- the call record has each phone's stream counters (packets and bytes in and out);
- latching: once a phone's stream latched, packets from another source sent to the same relay
  port are dropped, not forwarded (no RTP hijack);
- pickup: the picker's phone gets the caller's media through the relay and the caller gets the
  picker's, without any re-INVITE to the caller;
- media.timeout: an answered call whose phones send nothing ends with BYE to both, and its
  record says hangup_by media-timeout;
- hold: a phone that holds (re-INVITE sendonly, or inactive) makes the relay send the other
  phone the prompt set's hold music (G.711 in the payload type that phone wrote, its own
  SSRC, audible), told "sendonly" in both cases; the holder's own packets stop reaching it,
  and resuming (sendrecv) gives it the holder's packets again, music stopped; a held call whose
  phones both go quiet outlives media.timeout;
- media.public_address: SDP names it while the relay binds media.address;
- media.mode direct per extension: a call between two direct extensions keeps the phones'
  own SDP addresses.

Usage: test_media.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import math
import os
import random
import re
import socket
import struct
import subprocess
import time

import harness
import sipua

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Caller", "alice-secret")
BOB = ("1002", "Bob Callee", "bob-secret", {"call_groups": ["desk"]})
CAROL = ("1003", "Carol Picker", "carol-secret", {"pickup_groups": ["desk"]})
DORA = ("1004", "Dora Direct", "dora-secret", {"media": "direct"})
ERIC = ("1005", "Eric Direct", "eric-secret", {"media": "direct"})
EVERYONE = [ALICE, BOB, CAROL, DORA, ERIC]


def port_range():
    """200 ports at random between 20000 and 30000, first even."""
    first = random.SystemRandom().randrange(20000, 29800, 2)
    return first, first + 199


def media_of(sdp):
    """(address, port) of the first audio stream of an SDP body."""
    address = re.search(r"^c=IN IP[46] (\S+)", sdp, re.M)
    port = re.search(r"^m=audio (\d+) ", sdp, re.M)
    harness.check(address and port, f"no audio stream in {sdp!r}")
    return address.group(1), int(port.group(1))


class Phone(sipua.UA):
    """A scripted phone with a real RTP socket, which its SDP names."""

    def __init__(self, server_port, extension):
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((sipua.LOOPBACK, 0))
        self.rtp.settimeout(0.05)
        self.rtp_port = self.rtp.getsockname()[1]
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        number, name, password, *_ = extension
        super().__init__(server_port, number, password, domain=DOMAIN, name=name)

    def sdp(self):
        return sipua.SDP.format(port=self.rtp_port)

    def send_rtp(self, to, count=5):
        """`count` G.711 packets to `to`; returns them as sent."""
        sent = []
        for _ in range(count):
            self.seq = (self.seq + 1) & 0xFFFF
            packet = struct.pack("!BBHII", 0x80, 0, self.seq, self.seq * 160, self.ssrc)
            packet += bytes(random.getrandbits(8) for _ in range(160))
            self.rtp.sendto(packet, to)
            sent.append(packet)
            time.sleep(0.005)
        return sent

    def received(self, wanted, timeout=3.0):
        """Packets read until `wanted` of them came or `timeout` passed: [(bytes, source)]."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < wanted and time.monotonic() < deadline:
            try:
                got.append(self.rtp.recvfrom(2048))
            except socket.timeout:
                pass
        return got

    def drain(self):
        while self.received(1, timeout=0.1):
            pass

    def close(self):
        super().close()
        self.rtp.close()


class Bench:
    def __init__(self, procs, binary, timeout="60s", name="catchline", public_address=None):
        self.procs = procs
        self.binary = binary
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.first, self.last = port_range()
        extra = (f"media:\n  mode: relay\n  address: 127.0.0.1\n"
                 f"  ports: {self.first}-{self.last}\n  timeout: {timeout}\n")
        if public_address:
            extra += f"  public_address: {public_address}\n"
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, EVERYONE, domain=DOMAIN, no_answer_timeout="20s",
            extra_yaml=extra, name=f"{name}.yaml", database_name=f"{name}.db")
        self.server = harness.start_catchline(procs, binary, self.config, name=name)
        self.phones = []

    def phone(self, extension, register=True):
        phone = Phone(self.udp, extension)
        self.phones.append(phone)
        if register:
            response = phone.register()
            harness.check(response is not None and response.status == 200,
                          f"{extension[0]} did not register")
            phone.registered = True
        return phone

    def relay_port(self, port):
        return self.first <= port <= self.last

    def close(self):
        """Unregisters the phones (the next check's phone of the same number is the only one
        rung) and closes them."""
        for phone in self.phones:
            if getattr(phone, "registered", False):
                phone.register(expires=0)
            phone.close()
        self.phones = []


def establish(bench, caller_ext, callee_ext):
    """caller_ext calls callee_ext, which answers; returns (caller, callee, call, incoming)."""
    caller = bench.phone(caller_ext, register=False)
    callee = bench.phone(callee_ext)
    callee.invite_mode = "answer"
    call = caller.invite(caller.aor(callee_ext[0]))
    final = call.final()
    harness.check(final is not None and final.status == 200, f"call not answered: {final}")
    incoming = callee.wait_incoming()
    harness.check(incoming is not None, "the callee was not rung")
    return caller, callee, call, incoming


def check_call_relayed(bench):
    caller, callee, call, incoming = establish(bench, ALICE, BOB)
    to_callee = media_of(incoming.received.body)  # where the callee must send: the relay
    to_caller = media_of(call.invite.final.body)
    for what, (address, port), own in (("INVITE to the callee", to_callee, caller.rtp_port),
                                       ("200 to the caller", to_caller, callee.rtp_port)):
        harness.check(address == "127.0.0.1" and bench.relay_port(port) and port != own,
                      f"{what} names {address}:{port}, not the relay's range "
                      f"{bench.first}-{bench.last}")
    harness.check(to_callee[1] != to_caller[1], "both legs got the same relay port")

    sent = caller.send_rtp(("127.0.0.1", to_caller[1]))
    got = callee.received(len(sent))
    harness.check([p for p, _ in got] == sent,
                  f"the callee got {len(got)} of {len(sent)} packets, or changed ones")
    harness.check(all(source == ("127.0.0.1", to_callee[1]) for _, source in got),
                  f"packets to the callee came from {set(s for _, s in got)}, not the port its "
                  f"SDP names {to_callee[1]}")
    back = callee.send_rtp(("127.0.0.1", to_callee[1]))
    got = caller.received(len(back))
    harness.check([p for p, _ in got] == back,
                  f"the caller got {len(got)} of {len(back)} packets, or changed ones")
    harness.check(all(source == ("127.0.0.1", to_caller[1]) for _, source in got),
                  "packets to the caller came from another port than the one its SDP names")

    # Latched: a stranger sending to the caller's relay port reaches nobody.
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    try:
        callee.drain()
        for seq in range(5):
            stranger.sendto(struct.pack("!BBHII", 0x80, 0, seq, 0, 0xDEADBEEF) + b"\x00" * 160,
                            ("127.0.0.1", to_caller[1]))
        got = callee.received(1, timeout=0.5)
        harness.check(not got, "a packet from a stranger to a latched port was forwarded")
    finally:
        stranger.close()
    # The real caller still gets through after that.
    sent = caller.send_rtp(("127.0.0.1", to_caller[1]), count=3)
    got = callee.received(3)
    harness.check([p for p, _ in got] == sent, "the caller's stream stopped after the stranger")

    harness.check(call.bye().status == 200, "BYE not answered 200")
    # The record counts each phone's stream: what it sent the relay and what the relay sent it
    # (the stranger's packets are not the caller's).
    record = harness.wait_until(
        lambda: next((r for r in harness.call_records(bench.binary, bench.database)
                      if r["call_id"] == call.call_id and r["media"]), None), timeout=5.0)
    harness.check(record is not None, "no call record with media counters")
    media = {m["party"]: m for m in record["media"]}
    harness.check(set(media) == {ALICE[0], BOB[0]}, f"media counters of {sorted(media)}")
    for party, sent, got in ((ALICE[0], 8, 5), (BOB[0], 5, 8)):
        m = media[party]
        harness.check(m["packets_in"] == sent and m["packets_out"] == got and
                      m["bytes_in"] == sent * 172 and m["bytes_out"] == got * 172,
                      f"{party}: counted {m}, sent {sent} and got {got} packets of 172 bytes")
    bench.close()


def check_pickup_rebridges(bench):
    caller = bench.phone(ALICE, register=False)
    callee = bench.phone(BOB)  # rings, never answers
    picker = bench.phone(CAROL, register=False)
    call = caller.invite(caller.aor(BOB[0]))
    harness.check(callee.wait_incoming() is not None, "the callee was not rung")
    pickup = picker.invite(picker.aor("*8"))
    final = pickup.final()
    harness.check(final is not None and final.status == 200, f"pickup not answered: {final}")
    caller_final = call.final()
    harness.check(caller_final is not None and caller_final.status == 200,
                  "the caller was not answered")
    to_picker = media_of(final.body)
    to_caller = media_of(caller_final.body)
    harness.check(bench.relay_port(to_picker[1]) and bench.relay_port(to_caller[1]),
                  f"pickup SDP does not name the relay: {to_picker} {to_caller}")

    sent = caller.send_rtp(("127.0.0.1", to_caller[1]))
    got = picker.received(len(sent))
    harness.check([p for p, _ in got] == sent,
                  f"the picker got {len(got)} of {len(sent)} of the caller's packets")
    back = picker.send_rtp(("127.0.0.1", to_picker[1]))
    got = caller.received(len(back))
    harness.check([p for p, _ in got] == back,
                  f"the caller got {len(got)} of {len(back)} of the picker's packets")
    got = callee.received(1, timeout=0.3)
    harness.check(not got, "the rung phone still gets the caller's media after the pickup")
    reinvites = [m for m in caller.answered if m[1] == "INVITE"]
    harness.check(not reinvites, "the caller got a re-INVITE")
    harness.check(pickup.bye().status == 200, "BYE not answered 200")
    bench.close()


def reinvite(phone, call, direction):
    """`phone` sends a re-INVITE in `call` whose SDP says `direction`; returns the 200."""
    body = phone.sdp() + (f"a={direction}\r\n" if direction != "sendrecv" else "")
    final = call.request("INVITE", headers=[("Contact", phone.contact())], body=body,
                         content_type="application/sdp")
    harness.check(final is not None and final.status == 200, f"re-INVITE ({direction}): {final}")
    return final


def direction_of(sdp):
    found = re.search(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", sdp, re.M)
    return found.group(1) if found else "sendrecv"


def ulaw_sample(byte):
    """One G.711 µ-law byte as a 16-bit linear sample (ITU-T G.711)."""
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte & 0x70) >> 4)
    return (0x84 - magnitude) if byte & 0x80 else (magnitude - 0x84)


def music_packets(phone, relay_port, not_ssrc, seconds=1.0):
    """The RTP packets `phone` got from `relay_port` within `seconds` whose SSRC is not
    `not_ssrc` (the holder's): [(payload type, ssrc, payload)]."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for packet, source in phone.received(1, timeout=deadline - time.monotonic()):
            harness.check(source == ("127.0.0.1", relay_port),
                          f"media to the held phone from {source}, not the relay port")
            ssrc = struct.unpack("!I", packet[8:12])[0]
            if ssrc != not_ssrc:
                got.append((packet[1] & 0x7F, ssrc, packet[12:]))
    return got


def check_hold_music(bench):
    caller, callee, call, incoming = establish(bench, ALICE, BOB)
    to_callee = media_of(incoming.received.body)
    to_caller = media_of(call.invite.final.body)
    # Both talk first: each latches.
    caller.send_rtp(("127.0.0.1", to_caller[1]), count=3)
    callee.send_rtp(("127.0.0.1", to_callee[1]), count=3)
    callee.drain()

    for hold in ("sendonly", "inactive"):
        seen = len(incoming.requests)
        final = reinvite(caller, call, hold)
        held = incoming.wait_request("INVITE", start=seen)
        harness.check(held is not None, f"the held phone got no re-INVITE ({hold})")
        harness.check(direction_of(held.body) == "sendonly",
                      f"the held phone was told {direction_of(held.body)} for the holder's {hold}")
        answered = {"sendonly": "recvonly", "inactive": "inactive"}[hold]
        harness.check(direction_of(final.body) == answered,
                      f"the holder's {hold} was answered {direction_of(final.body)}")
        caller.send_rtp(("127.0.0.1", to_caller[1]), count=5)  # on hold: must not be heard
        music = music_packets(callee, to_callee[1], caller.ssrc)
        harness.check(len(music) >= 35, f"{len(music)} packets of hold music in 1 s ({hold})")
        harness.check({pt for pt, _, _ in music} == {0}, "hold music not in PCMU (0), which "
                      f"the held phone wrote: {set(pt for pt, _, _ in music)}")
        harness.check(len({ssrc for _, ssrc, _ in music}) == 1, "hold music in several SSRCs")
        samples = [ulaw_sample(b) for _, _, p in music for b in p]
        loud = math.sqrt(sum(x * x for x in samples) / max(len(samples), 1))
        harness.check(loud > 300, f"the hold music is near silence (RMS {loud})")

        reinvite(caller, call, "sendrecv")  # resume
        time.sleep(0.1)
        callee.drain()
        sent = caller.send_rtp(("127.0.0.1", to_caller[1]))
        got = callee.received(len(sent) + 5, timeout=0.5)
        harness.check([p for p, _ in got] == sent,
                      f"after resuming, the held phone got {len(got)} packets, not the "
                      f"holder's {len(sent)} alone")
    harness.check(call.bye().status == 200, "BYE not answered 200")
    bench.close()


def check_direct_extensions_keep_their_sdp(bench):
    caller, callee, call, incoming = establish(bench, DORA, ERIC)
    harness.check(media_of(incoming.received.body)[1] == caller.rtp_port,
                  "a call between direct extensions was relayed (INVITE)")
    harness.check(media_of(call.invite.final.body)[1] == callee.rtp_port,
                  "a call between direct extensions was relayed (200)")
    call.bye()
    bench.close()


def check_media_timeout(procs, binary):
    bench = Bench(procs, binary, timeout="2s", name="timeout")
    try:
        caller, callee, call, incoming = establish(bench, ALICE, BOB)
        # Nobody sends RTP: both phones get BYE after about 2 s.
        byes = harness.wait_until(
            lambda: any(m[1] == "BYE" for m in caller.answered) and
            any(m[1] == "BYE" for m in callee.answered), timeout=8.0)
        harness.check(byes, "a silent call did not end with BYE to both phones")
        records = harness.wait_until(
            lambda: [r for r in harness.call_records(binary, bench.database)
                     if r.get("hangup_by") == "media-timeout"], timeout=5.0)
        harness.check(records, "no call record with hangup_by media-timeout")
        # The first call's 1002 stays registered otherwise: the next call would ring both
        # phones, and the one that answers second gets the server's ACK and BYE.
        bench.close()

        # On hold, the holder (sendonly) and the held phone (recvonly) may both be silent.
        caller, callee, call, incoming = establish(bench, ALICE, BOB)
        reinvite(caller, call, "sendonly")
        time.sleep(3.5)
        harness.check(not any(m[1] == "BYE" for phone in (caller, callee) for m in phone.answered),
                      "a call on hold ended after media.timeout")
        harness.check(call.bye().status == 200, "the held call is gone")
    finally:
        bench.close()
        procs.stop(bench.server)


def check_public_address(procs, binary):
    """A relay behind its own NAT: it binds media.address (127.0.0.1) and SDP names
    media.public_address (a documentation address nothing is sent to)."""
    bench = Bench(procs, binary, name="public", public_address="192.0.2.10")
    try:
        caller, callee, call, incoming = establish(bench, ALICE, BOB)
        to_callee = media_of(incoming.received.body)
        to_caller = media_of(call.invite.final.body)
        harness.check(to_callee[0] == "192.0.2.10" and to_caller[0] == "192.0.2.10",
                      f"SDP names {to_callee[0]} and {to_caller[0]}, not media.public_address")
        harness.check(re.search(r"^o=\S+ \d+ \d+ IN IP4 192\.0\.2\.10", incoming.received.body,
                                re.M), "o= does not name the public address")
        # The NAT in front of the relay would map 192.0.2.10 to 127.0.0.1: send there.
        sent = caller.send_rtp(("127.0.0.1", to_caller[1]))
        got = callee.received(len(sent))
        harness.check([p for p, _ in got] == sent, f"the callee got {len(got)} of {len(sent)}")
        harness.check(call.bye().status == 200, "BYE not answered 200")
    finally:
        bench.close()
        procs.stop(bench.server)


def check_bad_prompts_folder(procs, binary):
    """media.prompts naming a folder that lacks the server's prompts: the server does not start,
    and says which setting and which file."""
    udp, tcp = harness.free_port(), harness.free_port()
    empty = os.path.join(procs.workdir, "my-prompts")
    os.makedirs(empty, exist_ok=True)
    extra = f"media:\n  mode: relay\n  address: 127.0.0.1\n  prompts: {empty}\n"
    config, _ = harness.write_server_config(procs.workdir, udp, tcp, EVERYONE, domain=DOMAIN,
                                            extra_yaml=extra, name="prompts.yaml",
                                            database_name="prompts.db")
    result = subprocess.run([binary, "--config", config], capture_output=True, text=True,
                            timeout=20)
    harness.check(result.returncode != 0, "the server started without its prompts")
    harness.check(f"media.prompts: {empty}/" in result.stderr and "missing" in result.stderr,
                  f"unclear error: {result.stderr.strip()!r}")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        try:
            results.run("a call through the relay: SDP names the relay, RTP both ways byte for "
                        "byte from the named ports, a stranger cannot take a latched stream",
                        check_call_relayed, bench)
            results.run("pickup re-bridges the caller to the picker's phone in the relay, no "
                        "re-INVITE", check_pickup_rebridges, bench)
            results.run("hold: the held phone hears hold music (sendonly and inactive), "
                        "the holder's media again after resuming", check_hold_music, bench)
            results.run("media: direct on both extensions keeps the phones' own SDP",
                        check_direct_extensions_keep_their_sdp, bench)
            if results.failed:
                print(procs.log_of(bench.server)[-4000:])
        finally:
            bench.close()
        procs.stop(bench.server)
        results.run("media.prompts without the server's prompts: no start, file named",
                    check_bad_prompts_folder, procs, binary)
        results.run("media.public_address: SDP names it, the relay binds media.address",
                    check_public_address, procs, binary)
        results.run("media.timeout 2s: a silent call ends with BYE both ways, record "
                    "media-timeout", check_media_timeout, procs, binary)
    results.finish()


if __name__ == "__main__":
    main()
