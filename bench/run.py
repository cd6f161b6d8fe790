#!/usr/bin/env python3
"""Runs every Catchline benchmark and prints one summary table.

    python3 bench/run.py --build build/bench --out build/bench/summary.json [--quick]

What runs (the registry is the file system, so a new benchmark needs no edit here):

  * every executable named bench_* in <build>/bench/: the Google Benchmark binaries, one per
    bench/bench_<topic>.cpp, run with --benchmark_format=json;
  * every script bench/load_*.py beside this file, run as
    `python3 bench/load_<topic>.py --build <build> [--quick]`. A script prints its figures on
    stdout as JSON, either one list of rows or one row object per line; a row has the keys
    name, value, unit and, when it has them, baseline, ratio, goal, and met (true/false: whether
    the goal was met, shown in the table only). Anything a script wants to say to people goes
    to stderr.

Google Benchmark results become rows through FIGURES below, the one place that maps
benchmark names to figures. All rows end in one table on stdout and in --out as a JSON list
of objects with the keys name, value, unit, baseline, ratio, goal. `ratio` is always
value / baseline (ours over theirs), so for parses/s higher is better and for nanoseconds and
allocations lower is better; the goal column says which.

One bench that fails hides nothing of the others: every binary and script runs whatever
happened before it, and every row that each one printed (a failed script's too, up to where
it stopped) reaches the table and --out. A bench fails when it exits non-zero, times out
(a script gets SIGINT first, so that it stops what it started and prints what it has), or
prints no row or something that is not a row; it then has a line "FAILED <bench>: <why>"
under the table (why: the exit status and the last line the bench wrote on stderr) and an
entry {"name": <bench>, "value": null, ..., "failed": <why>} in --out.

Exit status: 0 when every binary and script ran and every figure has a value; 1 otherwise,
and then the last line names every bench that failed (and counts the figures without a
value). Goals that are not met do not change the exit status: these are measurements, not
tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent

# Full run: each benchmark runs REPETITIONS times for at least MIN_TIME seconds each, with the
# repetitions of all benchmarks of a binary in random order (Google Benchmark's random
# interleaving), and the median is reported. A burst of load from elsewhere on the machine then
# hits Catchline and its baseline alike instead of one of them, which is what keeps the ratios
# meaningful on a shared machine; the whole run stays within a minute or two.
# --quick is a smoke run: every benchmark once, briefly.
MIN_TIME_SECONDS = 0.2
REPETITIONS = 9
QUICK_MIN_TIME_SECONDS = 0.05
QUICK_REPETITIONS = 1
BINARY_TIMEOUT_SECONDS = 300
SCRIPT_TIMEOUT_SECONDS = 420
QUICK_SCRIPT_TIMEOUT_SECONDS = 120
# After SIGINT at its timeout, a script has this long to stop its processes and print its rows.
SCRIPT_GRACE_SECONDS = 60

ROW_KEYS = ("name", "value", "unit", "baseline", "ratio", "goal")


@dataclasses.dataclass(frozen=True)
class Source:
    """One number from one Google Benchmark result.

    field: "per_second" (1 / CPU time per iteration: one core's throughput),
           "ns" (CPU time per iteration in nanoseconds), or the name of a user counter
           such as "allocs_per_op".
    """

    benchmark: str
    field: str


@dataclasses.dataclass(frozen=True)
class Figure:
    """One row of the summary: our number, the baseline's, and the goal they are held to."""

    name: str
    unit: str
    ours: Source
    baseline: Optional[Source]
    goal: str
    met: Callable[[float, Optional[float]], bool]


def at_least(value: float, ratio: float | None = None) -> Callable[[float, Optional[float]], bool]:
    """Goal: value >= `value` and, when given, ours/theirs >= `ratio`."""
    return lambda v, r: v >= value and (ratio is None or (r is not None and r >= ratio))


def at_most(value: float, ratio: float | None = None) -> Callable[[float, Optional[float]], bool]:
    """Goal: value <= `value` and, when given, ours/theirs <= `ratio`."""
    return lambda v, r: v <= value and (ratio is None or (r is not None and r <= ratio))


# The mapping from benchmark results to summary rows. Names of benchmarks are those
# registered in bench/bench_*.cpp; the baseline is oSIP2 measured in the same binary.
FIGURES: list[Figure] = [
    Figure(
        "parse INVITE (parses/s, one core)",
        "parses/s",
        Source("BM_ParseInvite_CatchlineView", "per_second"),
        Source("BM_ParseInvite_Osip", "per_second"),
        ">= 1,000,000/s and >= 5x oSIP2",
        at_least(1_000_000, 5),
    ),
    Figure(
        "parse INVITE, owned copy (parses/s)",
        "parses/s",
        Source("BM_ParseInvite_CatchlineOwned", "per_second"),
        Source("BM_ParseInvite_Osip", "per_second"),
        ">= 1,000,000/s and >= 5x oSIP2",
        at_least(1_000_000, 5),
    ),
    Figure(
        "parse INVITE, then Request-URI and Contact as structures (parses/s)",
        "parses/s",
        Source("BM_ParseInvite_CatchlineViewWithUris", "per_second"),
        Source("BM_ParseInvite_Osip", "per_second"),
        ">= 1,000,000/s and >= 3x oSIP2",
        at_least(1_000_000, 3),
    ),
    Figure(
        "parse 180 (parses/s)",
        "parses/s",
        Source("BM_ParseRinging_CatchlineView", "per_second"),
        Source("BM_ParseRinging_Osip", "per_second"),
        ">= 2,000,000/s and >= 5x oSIP2",
        at_least(2_000_000, 5),
    ),
    Figure(
        "allocations per INVITE parse",
        "allocations",
        Source("BM_ParseInvite_CatchlineView", "allocs_per_op"),
        Source("BM_ParseInvite_Osip", "allocs_per_op"),
        "0",
        at_most(0),
    ),
    Figure(
        "allocations per INVITE parse, owned copy",
        "allocations",
        Source("BM_ParseInvite_CatchlineOwned", "allocs_per_op"),
        Source("BM_ParseInvite_Osip", "allocs_per_op"),
        "<= 1 (the copy itself)",
        at_most(1),
    ),
    Figure(
        "allocations per 180 parse",
        "allocations",
        Source("BM_ParseRinging_CatchlineView", "allocs_per_op"),
        Source("BM_ParseRinging_Osip", "allocs_per_op"),
        "0",
        at_most(0),
    ),
    Figure(
        "build 180 response (ns)",
        "ns",
        Source("BM_BuildRinging_Catchline", "ns"),
        Source("BM_BuildRinging_Osip", "ns"),
        "<= 1,000 ns and <= 0.2x oSIP2",
        at_most(1_000, 0.2),
    ),
    Figure(
        "build 180 with To tag, received, rport (ns)",
        "ns",
        Source("BM_BuildRingingTagReceived_Catchline", "ns"),
        Source("BM_BuildRingingTagReceived_Osip", "ns"),
        "<= 1,000 ns and <= 0.2x oSIP2",
        at_most(1_000, 0.2),
    ),
    Figure(
        "allocations per 180 build",
        "allocations",
        Source("BM_BuildRinging_Catchline", "allocs_per_op"),
        Source("BM_BuildRinging_Osip", "allocs_per_op"),
        "<= 2 (the text)",
        at_most(2),
    ),
]

NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def last_line(text: str) -> str:
    """The last non-empty line of what a bench wrote (its own words on why it stopped)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


@dataclasses.dataclass
class Failure:
    """A bench (binary or script, by file name) that failed, and why."""

    bench: str
    why: str


# ---- Google Benchmark binaries ------------------------------------------------------------------


def find_binaries(build: Path) -> list[Path]:
    """Every executable bench_* in <build>/bench (or in <build> itself, if it is that folder)."""
    folders = [build / "bench", build]
    for folder in folders:
        found = sorted(
            p
            for p in folder.glob("bench_*")
            if p.is_file() and os.access(p, os.X_OK) and p.suffix == ""
        )
        if found:
            return found
    return []


def run_binary(binary: Path, quick: bool, benchmark_filter: str | None) -> dict:
    """Runs one Google Benchmark binary; returns its parsed JSON output."""
    min_time = QUICK_MIN_TIME_SECONDS if quick else MIN_TIME_SECONDS
    repetitions = QUICK_REPETITIONS if quick else REPETITIONS
    command = [
        str(binary),
        "--benchmark_format=json",
        f"--benchmark_min_time={min_time}",
        f"--benchmark_repetitions={repetitions}",
    ]
    if repetitions > 1:
        command.append("--benchmark_report_aggregates_only=true")
        command.append("--benchmark_enable_random_interleaving=true")
    if benchmark_filter:
        command.append(f"--benchmark_filter={benchmark_filter}")
    log(f"running {binary.name} ({' '.join(command[1:])})")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=BINARY_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"timed out after {BINARY_TIMEOUT_SECONDS} s") from error
    if done.returncode != 0:
        if done.stderr.strip():
            sys.stderr.write(done.stderr[-2000:])
        raise RuntimeError(f"exited with {done.returncode}: {last_line(done.stderr)}")
    if benchmark_filter and not done.stdout.strip():
        return {}  # nothing in this binary matches the filter
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"printed no JSON: {error}") from error


@dataclasses.dataclass
class Results:
    """Benchmark entries by run name (median when repeated), and the errors reported."""

    entries: dict[str, dict] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    contexts: list[dict] = dataclasses.field(default_factory=list)

    def add(self, output: dict) -> dict[str, str]:
        """Takes one binary's output; returns the errors it reported, by benchmark."""
        self.contexts.append(output.get("context", {}))
        errors = {}
        for entry in output.get("benchmarks", []):
            run_name = entry.get("run_name", entry.get("name", ""))
            if entry.get("error_occurred"):
                errors[run_name] = entry.get("error_message", "error")
                self.errors[run_name] = errors[run_name]
                continue
            if entry.get("run_type") == "aggregate":
                if entry.get("aggregate_name") == "median":
                    self.entries[run_name] = entry
            elif run_name not in self.entries:
                self.entries[run_name] = entry
        return errors

    def number(self, source: Source | None) -> float | None:
        if source is None or source.benchmark not in self.entries:
            return None
        entry = self.entries[source.benchmark]
        cpu_ns = float(entry["cpu_time"]) * NS_PER_UNIT[entry.get("time_unit", "ns")]
        if source.field == "per_second":
            return 1e9 / cpu_ns if cpu_ns > 0 else None
        if source.field == "ns":
            return cpu_ns
        value = entry.get(source.field)
        return float(value) if value is not None else None


def figure_rows(results: Results) -> list[dict]:
    rows = []
    for figure in FIGURES:
        value = results.number(figure.ours)
        baseline = results.number(figure.baseline)
        rows.append(make_row(figure.name, value, figure.unit, baseline, figure.goal, figure.met))
    return rows


def make_row(
    name: str,
    value: float | None,
    unit: str,
    baseline: float | None,
    goal: str,
    met: Callable[[float, Optional[float]], bool] | None = None,
    ratio: float | None = None,
) -> dict:
    if ratio is None and value is not None and baseline:
        ratio = value / baseline
    row = {
        "name": name,
        "value": tidy(value),
        "unit": unit,
        "baseline": tidy(baseline),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "goal": goal,
    }
    # Kept out of the JSON (its keys are fixed); shown in the table only.
    row["_met"] = met(value, ratio) if (met is not None and value is not None) else None
    return row


def tidy(number: float | None) -> float | int | None:
    """Rounds for people: whole numbers above 100, three significant digits below."""
    if number is None or math.isnan(number):
        return None
    if abs(number) >= 100:
        return int(round(number))
    return float(f"{number:.3g}")


# ---- load scripts ---------------------------------------------------------------------------------


def find_scripts() -> list[Path]:
    return sorted(HERE.glob("load_*.py"))


def run_script(script: Path, build: Path, quick: bool) -> tuple[list[dict], Failure | None]:
    """Runs one registered bench script; returns every row it printed (with every summary key
    present), and why it failed when it did. Its rows count even when it failed."""
    command = [sys.executable, str(script), "--build", str(build)]
    if quick:
        command.append("--quick")
    log(f"running {script.name}")
    timeout = QUICK_SCRIPT_TIMEOUT_SECONDS if quick else SCRIPT_TIMEOUT_SECONDS
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    why = None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGINT: a Python script unwinds (its finally blocks stop what it started and print
        # the rows it has); SIGKILL only if it does not end in time.
        why = f"timed out after {timeout} s"
        proc.send_signal(signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=SCRIPT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    if stderr.strip():
        sys.stderr.write(stderr)
    if why is None and proc.returncode != 0:
        why = f"exited with {proc.returncode}: {last_line(stderr)}"
    rows, problem = parse_rows(stdout)
    if why is None and problem:
        why = problem
    if why is None and not rows:
        why = "printed no rows"
    return rows, Failure(script.name, why) if why else None


def parse_rows(text: str) -> tuple[list[dict], str | None]:
    """A script's rows (one JSON list, or one object a line), and what was wrong with the rest."""
    text = text.strip()
    if not text:
        return [], None
    try:
        parsed = json.loads(text)
        raws = parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError:
        raws = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                raws.append(json.loads(line))
            except json.JSONDecodeError:
                raws.append(line)
    rows, problem = [], None
    for raw in raws:
        if not isinstance(raw, dict) or not {"name", "value", "unit"} <= raw.keys():
            problem = problem or f"printed something that is not a row: {str(raw)[:200]!r}"
            continue
        rows.append(
            make_row(
                str(raw["name"]),
                float(raw["value"]) if raw["value"] is not None else None,
                str(raw["unit"]),
                float(raw["baseline"]) if raw.get("baseline") is not None else None,
                str(raw.get("goal") or ""),
                ratio=float(raw["ratio"]) if raw.get("ratio") is not None else None,
            )
        )
        if isinstance(raw.get("met"), bool):
            rows[-1]["_met"] = raw["met"]
    return rows, problem


# ---- output ---------------------------------------------------------------------------------------


def show(number: float | int | None, unit: str = "") -> str:
    if number is None:
        return "-"
    if isinstance(number, int) or float(number).is_integer():
        return f"{int(number):,}"
    return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.0f}"


def print_table(rows: list[dict]) -> None:
    header = ["figure", "value", "unit", "baseline", "ratio", "goal", "met"]
    table = [header]
    for row in rows:
        met = row.get("_met")
        table.append(
            [
                row["name"],
                show(row["value"]),
                row["unit"],
                show(row["baseline"]),
                f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-",
                row["goal"],
                "FAILED" if "_failed" in row else ("-" if met is None else ("yes" if met else "NO")),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    right = {1, 3, 4}
    for index, line in enumerate(table):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def describe_context(results: Results, build: Path) -> str:
    context = results.contexts[0] if results.contexts else {}
    parts = []
    if context:
        parts.append(
            f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz"
        )
        load = context.get("load_avg")
        if load:
            parts.append("load average " + " ".join(f"{x:.2f}" for x in load))
    build_type = cmake_build_type(build)
    if build_type:
        parts.append(f"build type {build_type}")
    return ", ".join(parts)


def cmake_build_type(build: Path) -> str | None:
    cache = build / "CMakeCache.txt"
    if not cache.is_file():
        return None
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith("CMAKE_BUILD_TYPE:"):
            return line.split("=", 1)[1] or None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, type=Path, help="the CMake build folder")
    parser.add_argument("--out", type=Path, help="where to write the summary as JSON")
    parser.add_argument("--quick", action="store_true", help="smoke run: short and once")
    parser.add_argument(
        "--filter", help="only benchmarks matching this regex (passed to --benchmark_filter)"
    )
    args = parser.parse_args()

    failures: list[Failure] = []
    binaries = find_binaries(args.build)
    scripts = find_scripts()
    if not binaries and not scripts:
        log(f"no bench_* binaries in {args.build / 'bench'} and no load_*.py scripts")
        return 1

    results = Results()
    for binary in binaries:
        try:
            errors = results.add(run_binary(binary, args.quick, args.filter))
        except RuntimeError as error:
            failures.append(Failure(binary.name, str(error)))
            continue
        if errors:
            failures.append(
                Failure(binary.name, "; ".join(f"{name}: {why}" for name, why in errors.items()))
            )

    rows = figure_rows(results) if binaries else []
    if args.filter:
        rows = [row for row in rows if row["value"] is not None]
    rows.extend(failure_row(failure) for failure in failures)
    # --filter picks the load scripts by name too (load_blf, load_calls|load_pickup, ...).
    for script in scripts:
        if args.filter and not re.search(args.filter, script.stem):
            continue
        script_rows, failure = run_script(script, args.build, args.quick)
        rows.extend(script_rows)
        if failure:
            failures.append(failure)
            rows.append(failure_row(failure))

    missing = [row["name"] for row in rows if row["value"] is None and "_failed" not in row]

    context = describe_context(results, args.build)
    title = "Catchline benchmarks" + (" (quick)" if args.quick else "")
    print(title + (f": {context}" if context else ""))
    print(
        "ratio = value / baseline, both measured in this run (parser and builder: oSIP2 in"
        " the same binary); times are CPU time on one core"
    )
    print()
    print_table(rows)
    sys.stdout.flush()

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        summary = []
        for row in rows:
            entry = {key: row[key] for key in ROW_KEYS}
            if "_failed" in row:
                entry["failed"] = row["_failed"]
            summary.append(entry)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        log(f"summary written to {args.out}")

    if failures or missing:
        print()
    for failure in failures:
        print(f"FAILED {failure.bench}: {failure.why}")
    for name in missing:
        print(f"no value for figure: {name}")
    if not failures and not missing:
        return 0
    said = []
    if failures:
        said.append(
            f"{len(failures)} bench{'es' if len(failures) > 1 else ''} failed: "
            + ", ".join(failure.bench for failure in failures)
        )
    if missing:
        said.append(f"{len(missing)} figure{'s' if len(missing) > 1 else ''} without a value")
    print("bench: " + "; ".join(said), flush=True)
    return 1


def failure_row(failure: Failure) -> dict:
    """The row that stands in the table and the JSON for a bench that failed."""
    row = make_row(failure.bench, None, "", None, "")
    row["_failed"] = failure.why
    return row

if __name__ == "__main__":
    sys.exit(main())
