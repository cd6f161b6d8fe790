#!/usr/bin/env python3
"""RTP relay load: G.711 20 ms streams through Catchline's relay and, in the same run, rtpengine.

    python3 bench/load_relay.py --build build/bench [--quick]

bench/relay_driver (built with the benchmarks) opens CALLS calls of two legs each and sends
172-byte packets (12 RTP + 160 G.711) at RATE packets/s per call in each direction, as the
issue states the load (100/s a call each way), phases spread evenly, every packet stamped with
its send time; a receiver thread times each packet that comes out. It runs three times:

  * direct: the phones send to each other: the loopback path alone, the part to subtract;
  * catchline: Catchline's relay in the driver's process on a media thread of its own,
    opened and bridged through MediaControl as the signaling thread will;
  * rtpengine: the Debian rtpengine-daemon, userspace forwarding (--table=-1, no kernel
    module), one worker thread, each call an ng offer/answer. When it is not installed or does
    not start, the rows say "baseline unavailable" on stderr and have no baseline.

Each runs twice: at the issue's load (CALLS calls, RATE packets/s each way) for the relayed
packets per second per core (packets that arrived / the relay's CPU seconds: the media
thread's for Catchline, every thread of the process for rtpengine) and the packets lost; and at
LIGHT_RATE for the latency and jitter each relay adds at p99 (its p99 less the direct path's p99
in the same run). On a 2-core machine the driver (sender and receiver) shares the cores with
the relay, so the issue's load (200,000 packets/s at 1,000 calls) saturates the machine
before the relay: its queues, not the relay's work, would be the latency measured there.

A fourth run, player: the relay's player sends hold music (the build's prompts/hold_music.wav,
PCMA, looped) to CALLS legs, 50 packets/s each, and nobody sends to the relay: the media
thread's CPU for it gives the playing legs one core serves, and the receiver how far each
packet's arrival strays from its RTP timestamp (the pacing's jitter).
Prints rows for bench/run.py on stdout (JSON lines); what it sees goes to stderr.
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loopback import free_port, stop, wait_udp_bound

CALLS = 1000
RATE = 100  # packets/s a call each way (issue 11)
LIGHT_RATE = 20  # for latency and jitter: well below what the machine can drive
SECONDS = 5
QUICK_CALLS = 200
QUICK_SECONDS = 2


def log(message: str) -> None:
    print(f"load_relay: {message}", file=sys.stderr, flush=True)


def drive(driver: Path, target: str, calls: int, rate: int, seconds: float,
          extra: list[str]) -> dict:
    command = [str(driver), "--target", target, "--calls", str(calls), "--rate", str(rate),
               "--seconds", str(seconds), "--warmup", "1"] + extra
    result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"relay_driver {target} exited with {result.returncode}: "
                           f"{result.stderr.strip().splitlines()[-1:] or ''}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    log(f"{target} at {rate}/s: {json.dumps(figures)}")
    return figures


def drive_player(driver: Path, legs: int, seconds: float, prompts: Path) -> dict:
    command = [str(driver), "--target", "player", "--calls", str(legs), "--seconds", str(seconds),
               "--warmup", "1", "--prompts", str(prompts)]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"relay_driver player exited with {result.returncode}: "
                           f"{result.stderr.strip().splitlines()[-1:] or ''}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    log(f"player: {json.dumps(figures)}")
    return figures


def rtpengine_at(binary: str, driver: Path, calls: int, rate: int,
                 seconds: float) -> dict | None:
    """One fresh rtpengine (nothing queued from an earlier run) driven at `rate`; None when it
    does not start or answer."""
    ng_port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="catchline-rtpengine-"))
    log_path = workdir / "rtpengine.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [binary, "--config-file=none", "--foreground", "--log-stderr", "--table=-1",
             "--interface=127.0.0.1", f"--listen-ng=127.0.0.1:{ng_port}",
             "--port-min=50000", "--port-max=59999", "--num-threads=1", "--log-level=3"],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        try:
            wait_udp_bound(ng_port, timeout=10)
        except RuntimeError:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            log(f"baseline unavailable: rtpengine did not start: {tail}")
            return None
        if proc.poll() is not None:
            log(f"baseline unavailable: rtpengine exited with {proc.returncode}")
            return None
        try:
            return drive(driver, "rtpengine", calls, rate, seconds,
                         ["--ng", str(ng_port), "--cpu-pid", str(proc.pid)])
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
            log(f"baseline unavailable: {error}")
            return None
    finally:
        stop(proc, "rtpengine", log)
        shutil.rmtree(workdir, ignore_errors=True)


def run_rtpengine(driver: Path, calls: int, seconds: float) -> tuple[dict | None, dict | None]:
    """rtpengine at RATE and at LIGHT_RATE; None for a run it could not do."""
    binary = shutil.which("rtpengine")
    if binary is None:
        log("baseline unavailable: rtpengine is not installed (Debian rtpengine-daemon)")
        return None, None
    return (rtpengine_at(binary, driver, calls, RATE, seconds),
            rtpengine_at(binary, driver, calls, LIGHT_RATE, seconds))


def row(name: str, value, unit: str, baseline, goal: str, met: bool | None, lower_is_better=False):
    ratio = None
    if value is not None and baseline not in (None, 0):
        ratio = round(value / baseline, 3)
    out = {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio,
           "goal": goal}
    if met is not None:
        out["met"] = met
    print(json.dumps(out), flush=True)


def added(figures: dict | None, direct: dict, key: str) -> float | None:
    """A relay's p99 less the direct path's, in microseconds (never below 0)."""
    if figures is None or figures.get(key) is None or direct.get(key) is None:
        return None
    return round(max(0.0, figures[key] - direct[key]), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    driver = Path(args.build).resolve() / "bench" / "relay_driver"
    if not driver.exists():
        log(f"no driver at {driver}: build the benchmarks first")
        return 1
    calls = QUICK_CALLS if args.quick else CALLS
    seconds = QUICK_SECONDS if args.quick else SECONDS

    ours = drive(driver, "catchline", calls, RATE, seconds, [])
    direct = drive(driver, "direct", calls, LIGHT_RATE, seconds, [])
    ours_light = drive(driver, "catchline", calls, LIGHT_RATE, seconds, [])
    theirs, theirs_light = run_rtpengine(driver, calls, seconds)
    player = drive_player(driver, calls, seconds, Path(args.build).resolve() / "prompts")

    load = f"{calls} calls, {RATE} pkt/s each way"
    light = f"{calls} calls, {LIGHT_RATE} pkt/s each way"
    per_core = round(ours["per_core"])
    baseline = round(theirs["per_core"]) if theirs else None
    row(f"relay: relayed packets/s per core ({load})", per_core, "packets/s", baseline,
        ">= 100,000/s and >= 2x rtpengine",
        per_core >= 100_000 and baseline is not None and per_core >= 2 * baseline)
    latency = added(ours_light, direct, "latency_p99_us")
    row(f"relay: added latency p99 ({light})", latency, "us",
        added(theirs_light, direct, "latency_p99_us"), "<= 200 us",
        latency is not None and latency <= 200)
    jitter = added(ours_light, direct, "jitter_p99_us")
    row(f"relay: added jitter p99 ({light})", jitter, "us",
        added(theirs_light, direct, "jitter_p99_us"), "<= 100 us",
        jitter is not None and jitter <= 100)
    row(f"relay: packets lost ({load})", ours["lost"], "packets",
        theirs["lost"] if theirs else None, "0 below saturation", ours["lost"] == 0)
    row(f"relay: packets relayed per second ({load}, offered {2 * calls * RATE}/s)",
        round(ours["received_per_s"]), "packets/s",
        round(theirs["received_per_s"]) if theirs else None, "all offered", None)
    # The player's goal: a call server plays to few of its calls at once (parked, held, being
    # transferred): 1,000 plays, as many as the relay's goal has calls, in half a core or less,
    # so that playing never takes the media thread from the calls it relays.
    playing = f"{calls} legs playing hold music"
    legs_per_core = round(player["legs_per_core"])
    row(f"relay: playing legs per core ({playing})", legs_per_core, "legs", None,
        ">= 2,000 (1,000 plays in half a core)", legs_per_core >= 2000)
    # Against forwarding in the same run: a played packet is built and sent, a relayed one read
    # and sent.
    row(f"relay: played packets/s per core ({playing}), baseline relayed per core",
        round(player["per_core"]), "packets/s", per_core, "reported", None)
    jitter = player["jitter_p99_us"]
    # A phone's jitter buffer holds 20-60 ms; half a packet leaves it untouched. At 1,000 legs
    # one tick's sends take a few ms, and the receiver shares the machine's two cores.
    row(f"relay: player jitter p99 ({playing})", jitter, "us", None,
        "<= 10,000 us (half a packet)", jitter is not None and jitter <= 10_000)
    # Sequence numbers a phone never saw (a played packet lost, or skipped by a late tick).
    row(f"relay: player packets lost ({playing})", player["gaps"], "packets", None, "0",
        player["gaps"] == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
