#!/usr/bin/env python3
"""bench/run.py when a bench fails: every other bench still runs and every row reaches the
table and the JSON, the failed one is named with its reason, and the exit status is 1.

    python3 tests/bench/run_test.py --run-py bench/run.py

run.py finds its load_*.py scripts beside itself, so each test copies it into a folder of
its own next to small fake scripts (and, for a failing binary, a fake bench_* executable in
a fake build folder). Standard library only; nothing listens on the network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

RUN_PY: Path | None = None

GOOD = """\
import json
print(json.dumps({"name": "good figure one", "value": 1.5, "unit": "s", "goal": "< 2"}))
print(json.dumps({"name": "good figure two", "value": 42, "unit": "bytes"}))
"""

# Prints one row, then fails the way load_memory.py did on a machine where gdb fails.
BROKEN = """\
import json, sys
print(json.dumps({"name": "broken figure measured first", "value": 590, "unit": "bytes"}),
      flush=True)
print("load_b_broken: registering...", file=sys.stderr)
print("load_b_broken: failed: gdb could not trim the server's heap", file=sys.stderr)
sys.exit(1)
"""

AFTER = """\
import json
print(json.dumps([{"name": "figure of the bench after the broken one", "value": 7,
                   "unit": "calls"}]))
"""

GARBAGE = """\
import json
print(json.dumps({"name": "a row before the garbage", "value": 3, "unit": "s"}))
print("this is not a row")
"""


class RunPy(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="catchline-run-py-"))
        self.bench = self.folder / "bench"
        self.bench.mkdir()
        shutil.copy(RUN_PY, self.bench / "run.py")
        self.build = self.folder / "build"
        (self.build / "bench").mkdir(parents=True)
        self.out = self.build / "summary.json"

    def tearDown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def script(self, name: str, text: str) -> None:
        (self.bench / name).write_text(textwrap.dedent(text))

    def run_py(self) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(self.bench / "run.py"), "--build", str(self.build), "--out",
             str(self.out)],
            capture_output=True, text=True, timeout=120, check=False)
        self.output = done.stdout
        return done

    def summary(self) -> list[dict]:
        return json.loads(self.out.read_text())

    def test_every_row_reaches_the_summary_when_one_script_fails(self):
        self.script("load_a_good.py", GOOD)
        self.script("load_b_broken.py", BROKEN)
        self.script("load_c_after.py", AFTER)
        done = self.run_py()
        self.assertEqual(done.returncode, 1, self.output)
        names = [row["name"] for row in self.summary()]
        self.assertEqual(names, ["good figure one", "good figure two",
                                 "broken figure measured first", "load_b_broken.py",
                                 "figure of the bench after the broken one"])
        for name in names:
            self.assertIn(name, done.stdout)
        failed = [row for row in self.summary() if "failed" in row]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["value"], None)
        self.assertEqual(failed[0]["failed"], "exited with 1: load_b_broken: failed: gdb could "
                         "not trim the server's heap")
        self.assertIn("FAILED load_b_broken.py: exited with 1: load_b_broken: failed: gdb could "
                      "not trim the server's heap", done.stdout.splitlines())
        self.assertEqual(done.stdout.strip().splitlines()[-1],
                         "bench: 1 bench failed: load_b_broken.py")

    def test_a_script_that_prints_something_else_than_rows_fails_and_keeps_its_rows(self):
        self.script("load_a_good.py", GOOD)
        self.script("load_g_garbage.py", GARBAGE)
        done = self.run_py()
        self.assertEqual(done.returncode, 1, self.output)
        rows = {row["name"]: row for row in self.summary()}
        self.assertEqual(rows["a row before the garbage"]["value"], 3)
        self.assertIn("not a row", rows["load_g_garbage.py"]["failed"])
        self.assertEqual(done.stdout.strip().splitlines()[-1],
                         "bench: 1 bench failed: load_g_garbage.py")

    def test_a_failing_binary_and_a_failing_script_are_both_named_last(self):
        binary = self.build / "bench" / "bench_broken"
        binary.write_text("#!/bin/sh\necho 'bench_broken: no such fixture' >&2\nexit 3\n")
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
        self.script("load_a_good.py", GOOD)
        self.script("load_b_broken.py", BROKEN)
        done = self.run_py()
        self.assertEqual(done.returncode, 1, self.output)
        rows = {row["name"]: row for row in self.summary()}
        self.assertEqual(rows["bench_broken"]["failed"],
                         "exited with 3: bench_broken: no such fixture")
        self.assertEqual(rows["good figure two"]["value"], 42)
        last = done.stdout.strip().splitlines()[-1]
        self.assertTrue(last.startswith("bench: 2 benches failed: bench_broken, load_b_broken.py"),
                        last)

    def test_exit_status_is_zero_when_every_bench_succeeds(self):
        self.script("load_a_good.py", GOOD)
        self.script("load_c_after.py", AFTER)
        done = self.run_py()
        self.assertEqual(done.returncode, 0, self.output + done.stderr)
        self.assertEqual(len(self.summary()), 3)
        self.assertFalse(any("failed" in row for row in self.summary()))
        self.assertNotIn("FAILED", done.stdout)


def main() -> int:
    global RUN_PY
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-py", type=Path, required=True, help="bench/run.py")
    args, rest = parser.parse_known_args()
    RUN_PY = args.run_py.resolve()
    program = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
