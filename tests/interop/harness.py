"""Helpers for interop tests: free loopback ports, processes we start and stop by PID, SIPp.

Everything stays on 127.0.0.1; every process started here is stopped by its own PID when the
test ends, whatever happens (never by name).
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

LOOPBACK = "127.0.0.1"


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (asked of the kernel, then released)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port = udp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


class Processes:
    """Starts processes and stops exactly those, by PID, on exit."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []

    def start(self, args, name, stdin=subprocess.DEVNULL):
        log = open(os.path.join(self.workdir, f"{name}.log"), "wb")
        proc = subprocess.Popen(args, cwd=self.workdir, stdin=stdin, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.name = name
        proc.logfile = log.name
        self.started.append(proc)
        return proc

    def log_of(self, proc):
        with open(proc.logfile, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, proc, sig=signal.SIGTERM, wait=5.0):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self):
        for proc in reversed(self.started):
            self.stop(proc)


@contextlib.contextmanager
def session(keep_on_failure=True):
    """A scratch directory and a process list, cleaned up at the end.
    On failure the directory is kept and its logs printed, to say what went wrong."""
    workdir = tempfile.mkdtemp(prefix="catchline-interop-")
    procs = Processes(workdir)
    ok = False
    try:
        yield procs
        ok = True
    finally:
        procs.stop_all()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            for name in sorted(os.listdir(workdir)):
                path = os.path.join(workdir, name)
                if name.endswith(".log") and os.path.isfile(path):
                    with open(path, "rb") as f:
                        tail = f.read()[-4000:].decode(errors="replace")
                    print(f"--- {name} (last 4000 bytes) ---\n{tail}", file=sys.stderr)


def wait_for_udp_listener(port, timeout=5.0):
    """Waits until something is bound on 127.0.0.1:port (UDP)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                return True
        time.sleep(0.02)
    return False


def sipp_args(scenario, remote_port, local_port, extra=()):
    """SIPp on loopback, no terminal UI, quitting on its own."""
    base = ["sipp", f"{LOOPBACK}:{remote_port}", "-i", LOOPBACK, "-p", str(local_port),
            "-nostdin", "-trace_err", "-trace_stat", "-fd", "1"]
    if scenario.endswith(".xml"):
        base += ["-sf", scenario]
    else:
        base += ["-sn", scenario]
    return base + list(extra)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def wait_for_log(procs, proc, text, timeout=10.0):
    """Waits until `text` appears in the process's output (or it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in procs.log_of(proc):
            return True
        if proc.poll() is not None:
            return text in procs.log_of(proc)
        time.sleep(0.02)
    return False
