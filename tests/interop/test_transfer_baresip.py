"""A blind transfer between three real softphones (baresip 1.0, Debian package baresip-core)
through the server in `media.mode: relay` (README "Transfer"), with real audio: each phone's
microphone is a sine (ausine) and what it hears is written to WAV files (sndfile), as in
test_media_baresip.py, whose phones and server this test reuses.

1001 (A, 1000 Hz) calls 1002 (B, 1600 Hz), which answers on its own; B transfers A to 1003
(C, 2000 Hz) with baresip's `transfer` command (REFER). C rings (answermode=manual) for a few
seconds, then the test accepts the call there. Checks:
- C is rung by A (the transferee), not B; B's call closes (the server ends the transferor's
  dialog) and C's call is established;
- A's recording holds B's tone, then the 425 Hz ringback (ITU-T E.180) while C rang, then C's
  tone, in that order, and C's recording holds A's tone;
- A and C got their RTP from ports of media.ports (the relay), never from each other.

Park and retrieve (README "Park and retrieve"): the server has a lot (code 700, slots 701-705,
timeout 30 s). A calls B, which answers; B transfers A to 700 (a park). Checks:
- B's call closes once the server has told it where A waits ("parked on 7 0 1", about 3 s):
  B's recording holds A's tone, then the announcement (loud, none of the tones);
- C dials 701 and is connected to A;
- A's recording holds B's tone, then the server's hold music (loud, none of the phones' tones
  nor the ringback) while parked, then C's tone, in that order; C's recording holds A's tone;
- A and C got their RTP from the relay.

Exits 77 (skipped) when baresip or a module it needs is not installed, or its menu has no
`transfer` command. Usage: test_transfer_baresip.py --catchline PATH.
"""
import math
import os
import struct
import sys
import time
import wave

import harness
import test_baresip as baresip
import test_media_baresip as media_baresip
from test_media_baresip import BLOCK, goertzel_share

ALICE = ("1001", "Alice Tone", "alice-secret")
BOB = ("1002", "Bob Tone", "bob-secret")
CAROL = ("1003", "Carol Target", "carol-secret")
# Each phone its own tone, so that a recording tells who was heard; the ringback is 425 Hz.
TONES = {ALICE[0]: 1000, BOB[0]: 1600, CAROL[0]: 2000}
RINGBACK = 425
MUSIC = "music"  # timeline's key for loud blocks that are none of the tones above
RINGING = 2.5  # seconds C rings before it answers (the ringback is 1 s on, 4 s off)
TALK = 3.0
PARKED = 4.0  # seconds A waits parked after B's call closed, before C retrieves it
ANNOUNCEMENT = 3.0  # "parked on seven zero one", which B hears before its call is closed
PARKING = """parking:
  - name: main
    code: "700"
    slots: "701-705"
    timeout: 30s
"""
MODULES = ("g711.so", "aubridge.so", "ausine.so", "sndfile.so", "menu.so", "ctrl_tcp.so",
           "account.so", "uuid.so")
SKIPPED = 77
skipped = []  # why the test could not run, found while it ran


def blocks(path):
    """The 50 ms blocks of a 16-bit mono WAV that carry sound: [(start in seconds, samples)]."""
    with wave.open(path, "rb") as w:
        harness.check(w.getsampwidth() == 2 and w.getnchannels() == 1,
                      f"{path}: {w.getsampwidth() * 8}-bit, {w.getnchannels()} channel(s)")
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    size = int(rate * BLOCK)
    out = []
    for start in range(0, len(samples) - size + 1, size):
        block = samples[start:start + size]
        if math.sqrt(sum(x * x for x in block) / size) >= 300:  # not silence
            out.append((start / rate, rate, block))
    return out


def timeline(phone):
    """Where each tone is heard in `phone`'s recordings (all of its calls' decoded audio, oldest
    file first): {frequency: [block start in seconds since the first file began]}, and under
    MUSIC the loud blocks in which no tone has even half of the energy (a tune or speech)."""
    files = phone.recordings()
    harness.check(files, f"{phone.number} recorded nothing in {phone.dumps}")
    harness.check(harness.wait_until(lambda: phone.finished_recording(files[-1]), 5.0),
                  f"{phone.number}'s recording {files[-1]} was not closed")
    tones = list(TONES.values()) + [RINGBACK]
    found = {tone: [] for tone in tones + [MUSIC]}
    offset = 0.0
    for path in files:
        with wave.open(path, "rb") as w:
            length = w.getnframes() / w.getframerate()
        for start, rate, block in blocks(path):
            shares = {tone: goertzel_share(block, rate, tone) for tone in tones}
            for tone in tones:
                if shares[tone] > 0.8 and all(shares[other] < 0.05
                                              for other in tones if other != tone):
                    found[tone].append(offset + start)
            if all(share < 0.5 for share in shares.values()):
                found[MUSIC].append(offset + start)
        offset += length
    return found


def describe(found):
    return ", ".join(f"{tone if tone == MUSIC else f'{tone} Hz'} {len(starts) * BLOCK:.2f} s" +
                     (f" ({starts[0]:.2f}-{starts[-1]:.2f})" if starts else "")
                     for tone, starts in found.items())


def check_from_relay(office, phone):
    sources = phone.rtp_sources()
    first, last = office.relay_ports
    harness.check(sources and all(first <= port <= last for port in sources),
                  f"{phone.number} got RTP from ports {sources}, not the relay's {first}-{last}")


def check_blind_transfer(procs, binary):
    office = media_baresip.Office(procs, binary, "transfer", [ALICE, BOB, CAROL],
                                  ["manual", "auto", "manual"])
    try:
        alice, bob, carol = (office.phones[e[0]] for e in (ALICE, BOB, CAROL))
        marks = {phone: phone.mark() for phone in (alice, bob, carol)}
        office.dial(alice, BOB[0])
        for phone in (alice, bob):
            harness.check(phone.event("CALL_ESTABLISHED", marks[phone]),
                          f"no CALL_ESTABLISHED on {phone.number}")
        time.sleep(1.5)  # A hears B for a while
        response = bob.control.command("transfer",
                                       f"sip:{CAROL[0]}@{office.address}:{office.udp}")
        if not response.get("ok"):
            skipped.append(f"baresip has no usable transfer command: {response}")
            return
        incoming = carol.event("CALL_INCOMING", marks[carol])
        harness.check(incoming, "1003 never rang")
        # The target sees the transferee calling, not the transferor.
        harness.check(f"sip:{ALICE[0]}@" in incoming.get("peeruri", ""),
                      f"1003 was rung by {incoming.get('peeruri')!r}, not 1001")
        time.sleep(RINGING)
        harness.check(carol.control.command("accept").get("ok"), "1003's accept refused")
        harness.check(carol.event("CALL_ESTABLISHED", marks[carol]),
                      "no CALL_ESTABLISHED on 1003")
        harness.check(bob.event("CALL_CLOSED", marks[bob]),
                      "the transferor 1002's call did not close after the transfer")
        time.sleep(TALK)
        harness.check(alice.control.command("hangup").get("ok"), "1001's hangup refused")
        for phone in (alice, carol):
            harness.check(phone.event("CALL_CLOSED", marks[phone]),
                          f"no CALL_CLOSED on {phone.number}")

        heard = timeline(alice)
        print(f"     1001 heard: {describe(heard)}", flush=True)
        b, ringback, c = heard[TONES[BOB[0]]], heard[RINGBACK], heard[TONES[CAROL[0]]]
        harness.check(len(b) * BLOCK >= 0.5, f"1001 did not hear 1002 before the transfer: "
                      f"{describe(heard)}")
        harness.check(len(ringback) * BLOCK >= 0.5,
                      f"1001 heard no {RINGBACK} Hz ringback while 1003 rang: {describe(heard)}")
        harness.check(len(c) * BLOCK >= TALK / 2,
                      f"1001 heard 1003's tone for {len(c) * BLOCK:.2f} s of {TALK:.0f} s: "
                      f"{describe(heard)}")
        harness.check(b[-1] < ringback[0] and ringback[-1] < c[0],
                      f"1001 did not hear 1002, ringback, 1003 in that order: {describe(heard)}")
        heard = timeline(carol)
        print(f"     1003 heard: {describe(heard)}", flush=True)
        a = heard[TONES[ALICE[0]]]
        harness.check(len(a) * BLOCK >= TALK / 2,
                      f"1003 heard 1001's tone for {len(a) * BLOCK:.2f} s of {TALK:.0f} s: "
                      f"{describe(heard)}")
        for phone in (alice, carol):
            check_from_relay(office, phone)
    finally:
        office.close()


def parking_office(procs, binary, label, extensions, answermodes):
    """test_media_baresip's Office, whose server's config also holds the lot PARKING (Office
    writes that config itself: PARKING is appended to what it writes)."""
    write = harness.write_server_config

    def with_lot(*args, extra_yaml="", **kwargs):
        return write(*args, extra_yaml=extra_yaml + PARKING, **kwargs)

    harness.write_server_config = with_lot
    try:
        return media_baresip.Office(procs, binary, label, extensions, answermodes)
    finally:
        harness.write_server_config = write


def check_park(procs, binary):
    office = parking_office(procs, binary, "park", [ALICE, BOB, CAROL],
                            ["manual", "auto", "manual"])
    try:
        alice, bob, carol = (office.phones[e[0]] for e in (ALICE, BOB, CAROL))
        marks = {phone: phone.mark() for phone in (alice, bob, carol)}
        office.dial(alice, BOB[0])
        for phone in (alice, bob):
            harness.check(phone.event("CALL_ESTABLISHED", marks[phone]),
                          f"no CALL_ESTABLISHED on {phone.number}")
        time.sleep(1.5)  # A hears B for a while
        response = bob.control.command("transfer", f"sip:700@{office.address}:{office.udp}")
        if not response.get("ok"):
            skipped.append(f"baresip has no usable transfer command: {response}")
            return
        parked = time.monotonic()
        harness.check(bob.event("CALL_CLOSED", marks[bob], timeout=ANNOUNCEMENT + 7),
                      f"the parker 1002's call did not close {ANNOUNCEMENT + 7:.0f} s after "
                      f"the park")
        let_go = time.monotonic() - parked
        print(f"     1002's call closed {let_go:.2f} s after its transfer to 700", flush=True)
        # The server lets the parker go after the announcement, not at once.
        harness.check(let_go >= ANNOUNCEMENT - 1,
                      f"1002's call closed {let_go:.2f} s after the park, before the "
                      f"{ANNOUNCEMENT:.0f} s announcement could be heard")
        harness.check(alice.event("CALL_CLOSED", marks[alice], timeout=0.1) is None,
                      "the parked 1001's call closed")
        time.sleep(PARKED)
        marks[carol] = carol.mark()
        office.dial(carol, "701")
        harness.check(carol.event("CALL_ESTABLISHED", marks[carol]),
                      "1003's call to 701 was not established")
        time.sleep(TALK)
        harness.check(alice.control.command("hangup").get("ok"), "1001's hangup refused")
        for phone in (alice, carol):
            harness.check(phone.event("CALL_CLOSED", marks[phone]),
                          f"no CALL_CLOSED on {phone.number}")

        heard = timeline(alice)
        print(f"     1001 heard: {describe(heard)}", flush=True)
        b, music, c = heard[TONES[BOB[0]]], heard[MUSIC], heard[TONES[CAROL[0]]]
        harness.check(len(b) * BLOCK >= 0.5, f"1001 did not hear 1002 before the park: "
                      f"{describe(heard)}")
        # Parked from the transfer until 701 answered (the announcement, then PARKED seconds):
        # the music plays throughout, give or take a second for set-up and jitter.
        harness.check(len(music) * BLOCK >= let_go + PARKED - 1,
                      f"1001 heard {len(music) * BLOCK:.2f} s of hold music while parked for "
                      f"{let_go + PARKED:.1f} s: {describe(heard)}")
        harness.check(len(c) * BLOCK >= TALK / 2,
                      f"1001 heard 1003's tone for {len(c) * BLOCK:.2f} s of {TALK:.0f} s: "
                      f"{describe(heard)}")
        harness.check(b[-1] < music[0] and music[-1] < c[0],
                      f"1001 did not hear 1002, hold music, 1003 in that order: "
                      f"{describe(heard)}")
        heard = timeline(carol)
        print(f"     1003 heard: {describe(heard)}", flush=True)
        a = heard[TONES[ALICE[0]]]
        harness.check(len(a) * BLOCK >= TALK / 2,
                      f"1003 heard 1001's tone for {len(a) * BLOCK:.2f} s of {TALK:.0f} s: "
                      f"{describe(heard)}")
        heard = timeline(bob)
        print(f"     1002 heard: {describe(heard)}", flush=True)
        a, speech = heard[TONES[ALICE[0]]], heard[MUSIC]
        # Spoken words with pauses between them: not every block of the announcement is loud.
        harness.check(a and len(speech) * BLOCK >= ANNOUNCEMENT / 3 and a[-1] < speech[0],
                      f"1002 did not hear 1001, then the announcement: {describe(heard)}")
        for phone in (alice, carol):
            check_from_relay(office, phone)
    finally:
        office.close()


def main():
    binary = harness.catchline_binary()
    missing = [m for m in MODULES if baresip.MODULES is None or
               not os.path.isfile(os.path.join(baresip.MODULES, m))]
    if missing:
        print(f"skipped: baresip (baresip-core) lacks {', '.join(missing)} "
              f"(modules: {baresip.MODULES})")
        sys.exit(SKIPPED)
    # test_media_baresip's phones take their tone from its table: this process's copy.
    media_baresip.TONES.update(TONES)
    results = harness.Results()
    with harness.session() as procs:
        results.run("baresip 1002 blind-transfers 1001 to 1003: 1001 hears 1002, the 425 Hz "
                    "ringback while 1003 rings, then 1003; 1003 hears 1001; all through the "
                    "relay", check_blind_transfer, procs, binary)
        results.run("baresip 1002 parks 1001 on 700 (blind transfer) and 1003 retrieves it "
                    "from 701: 1001 hears 1002, hold music, then 1003; 1003 hears 1001; all "
                    "through the relay", check_park, procs, binary)
        if results.failed:
            for proc in procs.started:
                print(f"--- {proc.name} ---\n{procs.log_of(proc)[-3000:]}")
    if skipped and not results.failed:
        print(f"skipped: {skipped[0]}")
        sys.exit(SKIPPED)
    results.finish()


if __name__ == "__main__":
    main()
