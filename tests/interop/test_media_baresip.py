"""Real audio through the media relay (issue 11): baresip 1.0 phones (Debian baresip-core)
whose microphone is a sine (the ausine module) and whose received audio is written to a WAV
file (the sndfile module dumps every decoded stream), behind a server in `media.mode: relay`.

- a call: 1001 (a 1000 Hz tone) calls 1002 (a 1600 Hz tone), which answers on its own; after a
  few seconds of talk 1001 hangs up. Each phone's recording, decoded by baresip from G.711, holds
  the other phone's tone and not its own (a Goertzel filter in Python), and each phone logs that
  its RTP came from a port of media.ports (the relay), not from the other phone;
- a pickup: 1001 calls 1002, which only rings; 1003 (a 1600 Hz tone) dials *8 and gets 1001's
  tone, and 1001 gets 1003's, through the relay legs re-bridged without a re-INVITE to 1001.

baresip 1.0 has no file player (its aufile module is a source only), hence sndfile's dumps;
ausine gives 48 kHz stereo, which baresip resamples for G.711. The players are aubridge devices
without a source (no sound card needed). Usage: test_media_baresip.py --catchline PATH.

Phone, Office and Place also serve test_media_nat_baresip.py, which puts the phones and the
server in network namespaces.
"""
import glob
import math
import os
import re
import struct
import time
import wave

import harness
import test_baresip as baresip
import test_media

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Tone", "alice-secret")
BOB = ("1002", "Bob Tone", "bob-secret", {"call_groups": ["desk"]})
CAROL = ("1003", "Carol Picker", "carol-secret", {"pickup_groups": ["desk"]})
TONES = {ALICE[0]: 1000, BOB[0]: 1600, CAROL[0]: 1600}
TALK = 3.0     # seconds of audio each way
BLOCK = 0.05   # Goertzel block: 50 ms, 20 Hz bins at 8 kHz (both tones sit on a bin)


def goertzel_share(samples, rate, frequency):
    """The share of the block's energy at `frequency` (about 1 for a pure tone there, about 0
    for silence or another tone), by the Goertzel recurrence."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    energy = 0.0
    for x in samples:
        s1, s2 = x + coefficient * s1 - s2, s1
        energy += x * x
    if energy == 0:
        return 0.0
    power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
    return power / (energy * len(samples) / 2)


def tone_seconds(path, frequency, others):
    """Seconds of `frequency` in a 16-bit mono WAV: 50 ms blocks that are loud enough, whose
    energy is mostly at `frequency` and hardly at any of `others`."""
    with wave.open(path, "rb") as w:
        harness.check(w.getsampwidth() == 2 and w.getnchannels() == 1,
                      f"{path}: {w.getsampwidth() * 8}-bit, {w.getnchannels()} channel(s)")
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    size = int(rate * BLOCK)
    found = 0
    for start in range(0, len(samples) - size + 1, size):
        block = samples[start:start + size]
        if math.sqrt(sum(x * x for x in block) / size) < 300:  # silence, or near it
            continue
        if goertzel_share(block, rate, frequency) > 0.8 and all(
                goertzel_share(block, rate, other) < 0.05 for other in others):
            found += 1
    return found * BLOCK


class Place:
    """Where a phone or the server runs: its own IP address (SIP; for a phone also RTP and its
    SDP), the prefix that starts a process there (e.g. ["ip", "netns", "exec", NS]) and `enter`,
    which calls a function there and returns its result (sockets made in it stay there). The
    default: 127.0.0.1 in the test's own network."""

    def __init__(self, address=harness.LOOPBACK, wrapper=(), enter=None):
        self.address, self.wrapper = address, list(wrapper)
        self.enter = enter or (lambda make: make())


def phone_config(workdir, name, sip_port, control_port, account, tone, relay_ports,
                 address=harness.LOOPBACK):
    """baresip's config and accounts: ausine `tone` Hz as the microphone, decoded audio dumped
    to WAV files in <name>/dumps, RTP ports outside the relay's range; SIP on `address`, which
    is also what its SDP names when it is not the loopback (the control socket stays on the
    loopback of wherever the phone runs)."""
    directory = os.path.join(workdir, name)
    dumps = os.path.join(directory, "dumps")
    os.makedirs(dumps, exist_ok=True)
    first, last = relay_ports
    rtp = "30000-39999" if first < 30000 else "20000-29999"
    harness.check(last < 30000 or first >= 40000, "relay range overlaps the phones'")
    with open(os.path.join(directory, "config"), "w") as f:
        f.write("\n".join([
            "poll_method epoll",
            f"sip_listen {address}:{sip_port}",
            "call_local_timeout 120",
            "call_max_calls 4",
            f"audio_player aubridge,{name}-ear",  # no source of that name: heard by nobody
            f"audio_source ausine,{tone}",
            f"audio_alert aubridge,{name}-alert",
            "ausrc_srate 48000",  # what ausine makes
            "ausrc_channels 2",
            "audio_buffer 20-160",
            f"rtp_ports {rtp}",
            f"module_path {baresip.MODULES}",
            "module g711.so",
            "module aubridge.so",
            "module ausine.so",
            "module sndfile.so",
            f"snd_path {dumps}",
            "module_tmp uuid.so",
            "module_tmp account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen {harness.LOOPBACK}:{control_port}",
        ] + ([] if address == harness.LOOPBACK else [
            # Else baresip takes its interface's first address (a namespace may hold several).
            f"net_interface {address}",
        ]) + [""]))
    with open(os.path.join(directory, "accounts"), "w") as f:
        f.write(account + "\n")
    return directory, dumps


class Phone:
    """One baresip process, driven over ctrl_tcp, that plays its tone and records what it hears."""

    def __init__(self, procs, server, extension, answermode, relay_ports, label, place=None):
        """`server`: the server's (address, port); `place`: where the phone runs (Place)."""
        self.procs, self.number = procs, extension[0]
        self.name = f"{label}-baresip-{self.number}"
        place = place or Place()
        account = (f"<sip:{extension[0]}@{server[0]}:{server[1]};transport=udp>"
                   f";auth_pass={extension[2]};answermode={answermode};regint=600"
                   ";audio_codecs=PCMU")
        control_port = harness.free_port()
        self.directory, self.dumps = phone_config(procs.workdir, self.name, harness.free_port(),
                                                  control_port, account, TONES[self.number],
                                                  relay_ports, place.address)
        self.proc = procs.start(place.wrapper + ["baresip", "-f", self.directory, "-t", "120",
                                                 "-s"], self.name)
        self.control = place.enter(lambda: baresip.Control(control_port))

    def wait_registered(self):
        # The REGISTER_OK event may come before we connect, so also ask reginfo.
        registered = harness.wait_until(
            lambda: self.control.event("REGISTER_OK", timeout=0.1) is not None or
            "OK" in str(self.control.command("reginfo").get("data", "")), timeout=10)
        harness.check(registered, f"baresip {self.number} did not register: "
                                  f"{self.procs.log_of(self.proc)[-1500:]}")

    def event(self, kind, after, timeout=10.0):
        return harness.wait_until(
            lambda: next((m for m in self.control.messages[after:]
                          if m.get("event") and m.get("type") == kind), None), timeout)

    def mark(self):
        return len(self.control.messages)

    def finished_recording(self, path):
        """Whether sndfile closed `path`: its header counts the samples the file holds (baresip
        reports CALL_CLOSED before it closes the call's audio)."""
        try:
            with wave.open(path, "rb") as w:
                data = w.getnframes() * w.getsampwidth() * w.getnchannels()
        except (EOFError, wave.Error):
            return False
        return data > 0 and os.path.getsize(path) - data < 256

    def recordings(self):
        """The WAV files of decoded (received) audio, oldest first."""
        return sorted(glob.glob(os.path.join(self.dumps, "dump-*-dec.wav")), key=os.path.getmtime)

    def rtp_sources(self):
        """The ports baresip logged receiving RTP from ("incoming rtp ... receiving from")."""
        return [port for _, port in self.rtp_peers()]

    def rtp_peers(self):
        """The (address, port)s baresip logged receiving RTP from."""
        return [(address, int(port)) for address, port in re.findall(
            r"incoming rtp for 'audio' established, receiving from ([\d.]+):(\d+)",
            self.procs.log_of(self.proc))]

    def close(self):
        self.control.close()
        self.procs.stop(self.proc)


class Office:
    """The relaying server and baresip phones."""

    def __init__(self, procs, binary, label, extensions, answermodes, server_place=None,
                 places=None):
        """`server_place`: where the server runs (Place; its address is SIP's and the relay's);
        `places`: where each phone runs, by number (Place() for those not named)."""
        self.procs, self.binary = procs, binary
        server_place = server_place or Place()
        self.address = server_place.address
        self.udp, tcp = harness.free_port(), harness.free_port()
        self.relay_ports = test_media.port_range()
        first, last = self.relay_ports
        extra = (f"media:\n  mode: relay\n  address: {self.address}\n"
                 f"  ports: {first}-{last}\n  timeout: 30s\n")
        config, self.database = harness.write_server_config(
            procs.workdir, self.udp, tcp, extensions, domain=DOMAIN, digest_algorithms=["MD5"],
            no_answer_timeout="20s", extra_yaml=extra, name=f"{label}.yaml",
            database_name=f"{label}.db", address=self.address)
        self.server = harness.start_catchline(procs, binary, config, name=label,
                                              wrapper=server_place.wrapper)
        self.phones = {}
        try:
            for extension, mode in zip(extensions, answermodes):
                self.phones[extension[0]] = Phone(procs, (self.address, self.udp), extension,
                                                  mode, self.relay_ports, label,
                                                  (places or {}).get(extension[0]))
            for phone in self.phones.values():
                phone.wait_registered()
        except BaseException:
            self.close()
            raise

    def dial(self, phone, target):
        response = phone.control.command("dial", f"sip:{target}@{self.address}:{self.udp}")
        harness.check(response.get("ok"), f"{phone.number}'s dial of {target} refused: {response}")

    def check_heard(self, listener, talker, others):
        """The listener recorded the talker's tone for most of the talk, and from the relay."""
        files = listener.recordings()
        harness.check(files, f"{listener.number} recorded nothing in {listener.dumps}")
        harness.check(harness.wait_until(lambda: listener.finished_recording(files[-1]), 5.0),
                      f"{listener.number}'s recording {files[-1]} was not closed")
        tone = TONES[talker.number]
        heard = tone_seconds(files[-1], tone, [TONES[o.number] for o in others
                                               if TONES[o.number] != tone])
        print(f"     {listener.number} heard {talker.number}'s {tone} Hz for {heard:.2f} s",
              flush=True)
        harness.check(heard >= TALK / 2, f"{listener.number} heard {talker.number}'s {tone} Hz "
                      f"for {heard:.2f} s of {TALK:.0f} s ({files[-1]})")
        sources = listener.rtp_sources()
        first, last = self.relay_ports
        harness.check(sources and all(first <= port <= last for port in sources),
                      f"{listener.number} got RTP from ports {sources}, not the relay's "
                      f"{first}-{last}")

    def close(self):
        for phone in self.phones.values():
            phone.close()
        self.procs.stop(self.server)


def check_call(procs, binary):
    office = Office(procs, binary, "call", [ALICE, BOB], ["manual", "auto"])
    try:
        alice, bob = office.phones[ALICE[0]], office.phones[BOB[0]]
        marks = {phone: phone.mark() for phone in (alice, bob)}
        office.dial(alice, BOB[0])
        for phone in (alice, bob):
            harness.check(phone.event("CALL_ESTABLISHED", marks[phone]),
                          f"no CALL_ESTABLISHED on {phone.number}")
        time.sleep(TALK)
        harness.check(alice.control.command("hangup").get("ok"), "1001's hangup refused")
        for phone in (alice, bob):
            harness.check(phone.event("CALL_CLOSED", marks[phone]),
                          f"no CALL_CLOSED on {phone.number}")
        office.check_heard(bob, alice, [bob])
        office.check_heard(alice, bob, [alice])
    finally:
        office.close()


def check_pickup(procs, binary):
    office = Office(procs, binary, "pickup", [ALICE, BOB, CAROL],
                    ["manual", "manual", "manual"])
    try:
        alice, bob, carol = (office.phones[e[0]] for e in (ALICE, BOB, CAROL))
        marks = {phone: phone.mark() for phone in (alice, bob, carol)}
        office.dial(alice, BOB[0])
        harness.check(bob.event("CALL_INCOMING", marks[bob]), "1002 never rang")
        office.dial(carol, "*8")
        for phone in (alice, carol):
            harness.check(phone.event("CALL_ESTABLISHED", marks[phone]),
                          f"no CALL_ESTABLISHED on {phone.number}")
        harness.check(bob.event("CALL_CLOSED", marks[bob]), "1002's ringing call not closed")
        time.sleep(TALK)
        harness.check(carol.control.command("hangup").get("ok"), "1003's hangup refused")
        for phone in (alice, carol):
            harness.check(phone.event("CALL_CLOSED", marks[phone]),
                          f"no CALL_CLOSED on {phone.number}")
        office.check_heard(carol, alice, [carol])
        office.check_heard(alice, carol, [alice])
        harness.check(not bob.recordings(), f"1002 (only rung) recorded {bob.recordings()}")
    finally:
        office.close()


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
    with harness.session() as procs:
        results.run(f"baresip 1001 ({TONES[ALICE[0]]} Hz) calls baresip 1002 "
                    f"({TONES[BOB[0]]} Hz) through the relay: each records the other's tone",
                    check_call, procs, binary)
        results.run("baresip 1003 picks up 1001's call to 1002 with *8: 1001 and 1003 hear "
                    "each other's tone through the re-bridged relay legs",
                    check_pickup, procs, binary)
        if results.failed:
            for proc in procs.started:
                print(f"--- {proc.name} ---\n{procs.log_of(proc)[-3000:]}")
    results.finish()


if __name__ == "__main__":
    main()
