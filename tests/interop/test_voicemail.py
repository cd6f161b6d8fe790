"""Voicemail (issue 12) through the real server, with scripted phones that send and read real
RTP on 127.0.0.1.

1001 (Alice) calls 1002 (Bob), whose `forward.no_answer` is `voicemail`. Bob has no phone
registered, so the call goes to his box at once (Diversion reason unavailable):

1. Leave a message: the server answers 200 with SDP naming its relay, plays the greeting and
   the tone as loud µ-law from that port, then records. Alice sends 2 s of a 1 kHz tone and
   hangs up: Bob's folder gets a WAV file of about 2 s holding the tone, the database a row,
   and the call record names the message and says missed.
2. End a message with #: an RFC 4733 '#' during the recording ends it, Alice hears "your
   message has been saved" and the server hangs up (BYE).
   Bob's registered phone, which never subscribed, gets an unsolicited message-summary NOTIFY.
3. Listen: Bob registers (an unsolicited NOTIFY at once: new messages wait), subscribes (Event: message-summary: "yes", 2/0) and dials *97: 200, "you have 2 new messages", each message, then
   "no more messages" and the server's BYE; both messages are heard in the database, and the
   lamp goes off (a NOTIFY "Messages-Waiting: no", 0/2).
4. A forward to voicemail from a phone: *52*97 is answered and confirmed (BYE from the
   server), and is kept in the database.

Usage: test_voicemail.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import glob
import json
import math
import os
import sqlite3
import struct
import subprocess
import time
import wave

import harness
import sipua
from test_media import Phone, media_of, port_range, ulaw_sample

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Caller", "alice-secret")
BOB = ("1002", "Bob Box", "bob-secret", {"forward": {"no_answer": "voicemail",
                                                      "ring_time": "2s"}})
CAROL = ("1003", "Carol", "carol-secret")
EVERYONE = [ALICE, BOB, CAROL]


def ulaw(sample):
    """G.711 µ-law code of a 16-bit linear sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    for bit in range(7, -1, -1):
        if sample & (1 << (bit + 7)):
            exponent = bit
            break
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


TONE = bytes(ulaw(int(8000 * math.sin(2 * math.pi * 1000 * n / 8000))) for n in range(160))


class Bench:
    def __init__(self, procs, binary):
        self.procs = procs
        self.udp, self.tcp = harness.free_port(), harness.free_port()
        self.first, self.last = port_range()
        self.folder = os.path.join(procs.workdir, "voicemail")
        extra = (f"media:\n  mode: relay\n  address: 127.0.0.1\n  ports: {self.first}-{self.last}\n"
                 f"voicemail:\n  folder: {self.folder}\n  max_message: 10s\n"
                 "ring_groups:\n"
                 "  - {number: \"2000\", members: [\"1003\"], no_answer: \"voicemail:1002\","
                 " no_answer_time: 2s}\n"
                 "  - {number: \"2001\", members: [\"1003\"], no_answer: announcement,"
                 " no_answer_time: 2s}\n")
        self.config, self.database = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, EVERYONE, domain=DOMAIN, no_answer_timeout="20s",
            extra_yaml=extra, name="voicemail.yaml", database_name="voicemail.db")
        self.server = harness.start_catchline(procs, binary, self.config, name="voicemail")
        self.binary = binary

    def phone(self, extension, register=False):
        phone = Phone(self.udp, extension)
        if register:
            response = phone.register()
            harness.check(response is not None and response.status == 200,
                          f"{extension[0]} did not register")
        return phone

    def rows(self, sql):
        with sqlite3.connect(self.database) as db:
            return db.execute(sql).fetchall()


def loud_packets(phone, relay_port, quiet=0.6, limit=30.0):
    """Reads RTP from the relay until `quiet` seconds pass without a packet: how many loud
    (speech or tone) packets came."""
    loud, last = 0, time.monotonic()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and time.monotonic() - last < quiet:
        for packet, source in phone.received(1, timeout=0.05):
            harness.check(source == ("127.0.0.1", relay_port),
                          f"media from {source}, not the relay port {relay_port}")
            last = time.monotonic()
            payload = packet[12:]
            if max(abs(ulaw_sample(b)) for b in payload) > 2000:
                loud += 1
    return loud


def send_tone(phone, to, seconds):
    """RTP packets of the 1 kHz tone, paced at 20 ms."""
    start = time.monotonic()
    for i in range(int(seconds * 50)):
        phone.seq = (phone.seq + 1) & 0xFFFF
        packet = struct.pack("!BBHII", 0x80, 0, phone.seq, phone.seq * 160, phone.ssrc) + TONE
        phone.rtp.sendto(packet, to)
        time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))


def send_key(phone, to, key="#"):
    """One RFC 4733 event: 3 packets, then 3 end packets (payload type 101)."""
    event = "0123456789*#".index(key)
    timestamp = (phone.seq + 1) * 160
    for i in range(6):
        end = 0x80 if i >= 3 else 0
        phone.seq = (phone.seq + 1) & 0xFFFF
        packet = struct.pack("!BBHII", 0x80, 101 | (0x80 if i == 0 else 0), phone.seq,
                             timestamp, phone.ssrc)
        packet += struct.pack("!BBH", event, end | 10, 160 * (i + 1))
        phone.rtp.sendto(packet, to)
        time.sleep(0.02)


def call_voicemail(bench):
    alice = bench.phone(ALICE)
    call = alice.invite(alice.aor("1002"))
    final = call.final()
    harness.check(final is not None and final.status == 200,
                  f"voicemail did not answer: {final and final.start}")
    relay = media_of(final.body)[1]
    harness.check(bench.first <= relay <= bench.last, f"SDP names {relay}, not a relay port")
    return alice, call, relay


def wav_files(bench):
    return sorted(glob.glob(os.path.join(bench.folder, "1002", "*.wav")))


def check_leave_message(bench):
    alice, call, relay = call_voicemail(bench)
    send_tone(alice, ("127.0.0.1", relay), 0.1)  # latch: the relay sends where this comes from
    greeting = loud_packets(alice, relay)
    harness.check(greeting > 50, f"greeting: only {greeting} loud packets")
    send_tone(alice, ("127.0.0.1", relay), 2.0)
    call.bye()
    deadline = time.monotonic() + 5
    while not wav_files(bench) and time.monotonic() < deadline:
        time.sleep(0.1)
    files = wav_files(bench)
    harness.check(len(files) == 1, f"message files: {files}")
    with wave.open(files[0]) as w:
        harness.check(w.getframerate() == 8000 and w.getnchannels() == 1, "not 8 kHz mono")
        frames = w.getnframes()
        samples = struct.unpack(f"<{frames}h", w.readframes(frames))
    harness.check(1.6 * 8000 <= frames <= 2.6 * 8000, f"message of {frames / 8000:.2f} s")
    loud = sum(1 for s in samples if abs(s) > 4000)
    harness.check(loud > frames // 4, f"the tone is not in the message ({loud} of {frames})")
    time.sleep(0.3)
    rows = bench.rows("SELECT box, caller, heard, duration_ms FROM voicemail")
    harness.check(len(rows) == 1 and rows[0][:3] == ("1002", "1001", 0), f"rows: {rows}")
    out = subprocess.run([bench.binary, "calls", "--db", bench.database, "--json"],
                         capture_output=True, text=True, timeout=10)
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    left = [r for r in records if r.get("voicemail")]
    harness.check(len(left) == 1, f"no record names the message: {out.stdout}")
    harness.check(left[0]["missed"] is True, f"a call to voicemail is missed: {left[0]}")
    harness.check(left[0]["forward_reason"] == "unavailable", f"record: {left[0]}")
    alice.close()


def check_hash_ends_the_message(bench):
    # Bob's phone is registered now (and never answers): the call rings it for ring_time,
    # then voicemail; the phone never subscribed, so its lamp comes by unsolicited NOTIFY.
    bob = bench.phone(BOB, register=True)
    alice, call, relay = call_voicemail(bench)
    send_tone(alice, ("127.0.0.1", relay), 0.1)
    loud_packets(alice, relay)  # the greeting
    send_tone(alice, ("127.0.0.1", relay), 1.0)
    send_key(alice, ("127.0.0.1", relay), "#")
    saved = loud_packets(alice, relay, quiet=1.0)
    harness.check(saved > 20, f"'message saved' not heard ({saved} loud packets)")
    bye = call.wait_request("BYE", timeout=5)
    harness.check(bye is not None, "the server did not hang up after 'saved'")
    time.sleep(0.5)
    harness.check(len(wav_files(bench)) == 2, f"files: {wav_files(bench)}")
    harness.check(harness.wait_until(lambda: bob.unsolicited, timeout=3.0),
                  "Bob's phone got no unsolicited message-summary NOTIFY")
    lamp = bob.unsolicited[-1].body
    harness.check("Messages-Waiting: yes" in lamp and "Voice-Message: 2/0" in lamp,
                  f"lamp NOTIFY body: {lamp!r}")
    alice.close()
    bob.register(expires=0)
    bob.close()


def check_listen(bench):
    bob = bench.phone(BOB, register=True)
    harness.check(harness.wait_until(lambda: bob.unsolicited, timeout=3.0),
                  "registering with new messages waiting brought no unsolicited NOTIFY")
    lamp = bob.subscribe("1002", event="message-summary")
    unsolicited = len(bob.unsolicited)
    harness.check(lamp.response.status == 200, f"MWI SUBSCRIBE: {lamp.response.start}")
    first = lamp.wait_notify()
    harness.check(first is not None and "Messages-Waiting: yes" in first.body
                  and "Voice-Message: 2/0" in first.body,
                  f"first MWI NOTIFY: {first and first.body!r}")
    seen = len(lamp.requests)
    call = bob.invite(bob.aor("*97"))
    final = call.final()
    harness.check(final is not None and final.status == 200, f"*97: {final and final.start}")
    relay = media_of(final.body)[1]
    send_tone(bob, ("127.0.0.1", relay), 0.1)
    heard = loud_packets(bob, relay, quiet=1.5, limit=40)
    harness.check(heard > 250, f"intro and two messages: only {heard} loud packets")
    bye = call.wait_request("BYE", timeout=10)
    harness.check(bye is not None, "no BYE after 'no more messages'")
    time.sleep(0.5)
    rows = bench.rows("SELECT heard FROM voicemail")
    harness.check(rows and all(r[0] == 1 for r in rows), f"not all heard: {rows}")
    off = lamp.wait_notify(lambda m: "Messages-Waiting: no" in m.body, start=seen, timeout=3)
    harness.check(off is not None and "Voice-Message: 0/2" in off.body,
                  f"the lamp did not go off: {[m.body for m in lamp.requests[seen:]]}")
    harness.check(len(bob.unsolicited) == unsolicited,
                  "a subscribed phone got unsolicited NOTIFYs too")
    bob.register(expires=0)
    bob.close()


def check_forward_to_voicemail_code(bench):
    carol = bench.phone(CAROL, register=True)
    call = carol.invite(carol.aor("*52*97"))
    final = call.final()
    harness.check(final is not None and final.status == 200, f"*52*97: {final and final.start}")
    relay = media_of(final.body)[1]
    send_tone(carol, ("127.0.0.1", relay), 0.1)
    loud_packets(carol, relay)
    harness.check(call.wait_request("BYE", timeout=5) is not None, "no BYE after the confirmation")
    time.sleep(0.3)
    rows = bench.rows("SELECT extension, kind, target FROM forwarding")
    harness.check(rows == [("1003", "no_answer", "voicemail")], f"forwarding rows: {rows}")
    carol.register(expires=0)
    carol.close()


def check_ring_group_no_answer(bench):
    """Ring group 2000 rings 1003 for 2 s, then Bob's box answers; group 2001 rings 1003 for
    2 s, then "nobody is available" and the server hangs up."""
    carol = bench.phone(CAROL, register=True)  # rings, never answers
    alice = bench.phone(ALICE)
    try:
        for group, ends in (("2000", "voicemail"), ("2001", "announcement")):
            started = time.monotonic()
            call = alice.invite(alice.aor(group))
            final = call.final()
            waited = time.monotonic() - started
            harness.check(final is not None and final.status == 200,
                          f"{group}: {final and final.start}")
            harness.check(1.5 <= waited <= 4.0, f"{group} answered after {waited:.1f}s, not ~2s")
            harness.check(carol.incoming and carol.incoming[-1].cancel_request is not None or
                          harness.wait_until(lambda: carol.incoming[-1].cancel_request,
                                             timeout=2.0),
                          f"{group}: 1003 was not cancelled")
            relay = media_of(final.body)[1]
            send_tone(alice, ("127.0.0.1", relay), 0.1)
            heard = loud_packets(alice, relay)
            harness.check(heard > 20, f"{group}: {heard} loud packets")
            if ends == "announcement":
                harness.check(call.wait_request("BYE", timeout=5) is not None,
                              "no BYE after the announcement")
            else:
                call.bye()
    finally:
        alice.close()
        carol.register(expires=0)
        carol.close()


def check_direct_mode_still_answers(procs, binary):
    """media.mode direct: phones send media to each other, but what the server answers itself
    (a feature code's confirmation) still comes from its relay."""
    udp, tcp = harness.free_port(), harness.free_port()
    first, last = port_range()
    extra = f"media:\n  mode: direct\n  address: 127.0.0.1\n  ports: {first}-{last}\n"
    config, _ = harness.write_server_config(
        procs.workdir, udp, tcp, EVERYONE, domain=DOMAIN, extra_yaml=extra, name="direct.yaml",
        database_name="direct.db")
    server = harness.start_catchline(procs, binary, config, name="direct")
    carol = Phone(udp, CAROL)
    try:
        call = carol.invite(carol.aor("*73"))
        final = call.final()
        harness.check(final is not None and final.status == 200, f"*73: {final and final.start}")
        relay = media_of(final.body)[1]
        harness.check(first <= relay <= last, f"SDP names {relay}, not the relay")
        send_tone(carol, ("127.0.0.1", relay), 0.1)
        heard = loud_packets(carol, relay)
        harness.check(heard > 20, f"confirmation: {heard} loud packets")
        harness.check(call.wait_request("BYE", timeout=5) is not None, "no BYE")
    finally:
        carol.close()
        procs.stop(server)


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        results.run("a message: greeting from the relay, 2 s of tone recorded to a WAV file, "
                    "a row, a record that names it and says missed", check_leave_message, bench)
        results.run("# ends a message: 'saved', then the server's BYE",
                    check_hash_ends_the_message, bench)
        results.run("*97: intro, both messages, BYE; both heard", check_listen, bench)
        results.run("*52*97: unanswered calls to my box, confirmed and stored",
                    check_forward_to_voicemail_code, bench)
        results.run("ring groups' no_answer: voicemail:1002 after 2 s, announcement after 2 s",
                    check_ring_group_no_answer, bench)
        if results.failed:
            print(procs.log_of(bench.server)[-6000:])
        procs.stop(bench.server)
        results.run("media.mode direct: *73 is still answered from the relay and confirmed",
                    check_direct_mode_still_answers, procs, binary)
    results.finish()


if __name__ == "__main__":
    main()
