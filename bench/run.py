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

Exit status: 0 when every binary and script ran and every figure has a value; 1 otherwise
(the table and the JSON are still written, with null for what is missing). Goals that are
not met do not change the exit status: these are measurements, not tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
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
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=BINARY_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{binary.name} exited with {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    if benchmark_filter and not done.stdout.strip():
        return {}  # nothing in this binary matches the filter
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"{binary.name} printed no JSON: {error}") from error


@dataclasses.dataclass
class Results:
    """Benchmark entries by run name (median when repeated), and the errors reported."""

    entries: dict[str, dict] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    contexts: list[dict] = dataclasses.field(default_factory=list)

    def add(self, output: dict) -> None:
        self.contexts.append(output.get("context", {}))
        for entry in output.get("benchmarks", []):
            run_name = entry.get("run_name", entry.get("name", ""))
            if entry.get("error_occurred"):
                self.errors[run_name] = entry.get("error_message", "error")
                continue
            if entry.get("run_type") == "aggregate":
                if entry.get("aggregate_name") == "median":
                    self.entries[run_name] = entry
            elif run_name not in self.entries:
                self.entries[run_name] = entry

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


def run_script(script: Path, build: Path, quick: bool) -> list[dict]:
    """Runs one registered bench script; returns its rows with every summary key present."""
    command = [sys.executable, str(script), "--build", str(build)]
    if quick:
        command.append("--quick")
    log(f"running {script.name}")
    timeout = QUICK_SCRIPT_TIMEOUT_SECONDS if quick else SCRIPT_TIMEOUT_SECONDS
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.stderr.strip():
        sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} exited with {done.returncode}")
    text = done.stdout.strip()
    if not text:
        raise RuntimeError(f"{script.name} printed no rows")
    try:
        parsed = json.loads(text)
        raw_rows = parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError:
        try:
            raw_rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise RuntimeError(f"{script.name} printed something that is not JSON: {error}")
    rows = []
    for raw in raw_rows:
        if not isinstance(raw, dict) or not {"name", "value", "unit"} <= raw.keys():
            raise RuntimeError(f"{script.name}: a row needs name, value and unit: {raw!r}")
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
    return rows


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
                "-" if met is None else ("yes" if met else "NO"),
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

    failures: list[str] = []
    binaries = find_binaries(args.build)
    scripts = find_scripts()
    if not binaries and not scripts:
        log(f"no bench_* binaries in {args.build / 'bench'} and no load_*.py scripts")
        return 1

    results = Results()
    for binary in binaries:
        try:
            results.add(run_binary(binary, args.quick, args.filter))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            failures.append(str(error))
    for name, message in sorted(results.errors.items()):
        failures.append(f"{name}: {message}")

    rows = figure_rows(results) if binaries else []
    # --filter picks the load scripts by name too (load_blf, load_calls|load_pickup, ...).
    for script in scripts:
        if args.filter and not re.search(args.filter, script.stem):
            continue
        try:
            rows.extend(run_script(script, args.build, args.quick))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            failures.append(str(error))

    missing = [row["name"] for row in rows if row["value"] is None]
    if args.filter:
        rows = [row for row in rows if row["value"] is not None]
        missing = []

    context = describe_context(results, args.build)
    title = "Catchline benchmarks" + (" (quick)" if args.quick else "")
    print(title + (f": {context}" if context else ""))
    print(
        "ratio = value / baseline, both measured in this run (parser and builder: oSIP2 in"
        " the same binary); times are CPU time on one core"
    )
    print()
    print_table(rows)

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        summary = [{key: row[key] for key in ROW_KEYS} for row in rows]
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        log(f"summary written to {args.out}")

    for failure in failures:
        log(f"FAILED {failure}")
    for name in missing:
        log(f"no value for figure: {name}")
    return 1 if failures or missing else 0


if __name__ == "__main__":
    sys.exit(main())
