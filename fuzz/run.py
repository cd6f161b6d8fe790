#!/usr/bin/env python3
"""Runs every libFuzzer target of a fuzz build for a while over its seed corpus.

    python3 fuzz/run.py --build build/fuzz --seconds 30 [--only fuzz_message ...]

Each target fuzz/fuzz_<name>.cpp is built as <build>/fuzz/fuzz_<name> (CMake target `fuzzers`)
and seeded from fuzz/corpus/fuzz_<name>/. New inputs go to a scratch directory (passed first,
so libFuzzer writes there), never into the repository's corpus. A crash, leak, timeout or
sanitizer report makes the script say which input did it and exit non-zero.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Larger inputs for the message parser (messages are long); grammars need less.
MAX_LEN = {"fuzz_message": 16384, "fuzz_uri": 1024, "fuzz_headers": 2048, "fuzz_sdp": 4096,
           "fuzz_dialog_info": 2048, "fuzz_sdp_rewrite": 4096, "fuzz_wav": 4096,
           "fuzz_rtp": 1500}


def find_targets(build):
    folder = os.path.join(os.path.abspath(build), "fuzz")
    if not os.path.isdir(folder):
        sys.exit(f"run.py: no fuzz build in {folder}; build the `fuzzers` target first")
    targets = sorted(
        name for name in os.listdir(folder)
        if name.startswith("fuzz_") and os.access(os.path.join(folder, name), os.X_OK)
        and os.path.isfile(os.path.join(folder, name)))
    if not targets:
        sys.exit(f"run.py: no fuzz_* binaries in {folder}")
    return [(name, os.path.join(folder, name)) for name in targets]


def run_target(name, binary, seconds, scratch, jobs):
    corpus = os.path.join(HERE, "corpus", name)
    work = os.path.join(scratch, name)
    new_inputs = os.path.join(work, "new")
    artifacts = os.path.join(work, "artifacts") + os.sep
    os.makedirs(new_inputs)
    os.makedirs(artifacts)
    command = [
        binary, new_inputs,
        f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
        f"-artifact_prefix={artifacts}", "-print_final_stats=1",
    ]
    if name in MAX_LEN:
        command.append(f"-max_len={MAX_LEN[name]}")
    if jobs > 1:
        command += [f"-jobs={jobs}", f"-workers={jobs}"]
    if os.path.isdir(corpus):
        command.append(corpus)
    else:
        print(f"run.py: {name}: no seed corpus at {corpus}, starting empty")
    env = dict(os.environ)
    # UBSan findings are failures too, with a stack to read.
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    print(f"run.py: {name}: fuzzing for {seconds}s", flush=True)
    result = subprocess.run(command, cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    found = sorted(os.listdir(artifacts))
    stats = [line for line in result.stdout.splitlines()
             if line.startswith(("stat::number_of_executed_units", "stat::new_units_added"))]
    for line in stats:
        print(f"run.py: {name}: {line}")
    if result.returncode != 0 or found:
        print(result.stdout[-6000:])
        for artifact in found:
            print(f"run.py: {name}: failing input {os.path.join(artifacts, artifact)}")
            print(f"run.py: {name}: reproduce with: {binary} {os.path.join(artifacts, artifact)}")
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", required=True, help="the fuzz build directory (build/fuzz)")
    parser.add_argument("--seconds", type=int, default=30, help="time per target")
    parser.add_argument("--only", nargs="*", help="run only these targets")
    parser.add_argument("--jobs", type=int, default=1, help="parallel fuzzing processes")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory (new inputs and artifacts)")
    args = parser.parse_args()

    targets = find_targets(args.build)
    if args.only:
        targets = [(name, binary) for name, binary in targets if name in args.only]
    scratch = tempfile.mkdtemp(prefix="catchline-fuzz-")
    failed = []
    try:
        for name, binary in targets:
            if not run_target(name, binary, args.seconds, scratch, args.jobs):
                failed.append(name)
    finally:
        if failed or args.keep:
            print(f"run.py: scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    if failed:
        print(f"run.py: FAILED: {', '.join(failed)}")
        return 1
    print(f"run.py: all {len(targets)} targets ran {args.seconds}s without a finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
