"""Helpers for interop tests: free loopback ports, processes we start and stop by PID, SIPp.

Everything stays on 127.0.0.1; every process started here is stopped by its own PID when the
test ends, whatever happens (never by name).
"""
import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

LOOPBACK = "127.0.0.1"


def _ephemeral_range():
    """The kernel's ephemeral port range (where port-0 binds land), or the Linux default."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1, chosen at random below the kernel's
    ephemeral range. A test releases such a port and binds it again later (a phone registers
    with SIPp, then its UAS starts on the same port); a port the kernel hands out for port-0
    binds (scripted UAs, other tests running beside this one) could be taken in between."""
    low, _ = _ephemeral_range()
    top = low - 1 if low > 12000 else 60999
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(10000, top)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((LOOPBACK, port))
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


def catchline_binary():
    """The server binary named by --catchline, the one argument every test takes, made absolute."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--catchline", required=True)
    return os.path.abspath(parser.parse_args().catchline)


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


# ---- Helpers for the call server tests (test_register.py, test_calls.py, ...) ----

import json  # noqa: E402 (added with the helpers below, which alone use them)
import re  # noqa: E402

SCENARIOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")


def scenario(name):
    """The path of one of our SIPp scenario files."""
    return os.path.join(SCENARIOS, name)


# A server whose configuration has no media: section relays every call's media (app/config.h):
# on its SIP address, RTP on ports 20000-30000. Two servers at once never share a port: each
# binds its ports exclusively and skips one held by anybody else. DIRECT_MEDIA is the section
# for a test of SDP passing from phone to phone unchanged.
DEFAULT_MEDIA_PORTS = (20000, 30000)
DIRECT_MEDIA = "media:\n  mode: direct\n"


def media_problem(what, address, port, relayed, phone_port, server_address=LOOPBACK,
                  relay_ports=DEFAULT_MEDIA_PORTS):
    """None when an SDP a phone received sends its media where it should, else what is wrong:
    with `relayed`, to the relay (`server_address`, a port of `relay_ports`); without, to the
    other phone's own `phone_port` on the loopback. `address` and `port` as a scenario logged
    them (strings, None when it logged nothing)."""
    if relayed:
        if address == server_address and port and port.isdigit() and \
                relay_ports[0] <= int(port) <= relay_ports[1]:
            return None
        return (f"{what} names {address}:{port}, not the relay at {server_address} "
                f"{relay_ports[0]}-{relay_ports[1]}")
    if (address, port) == (LOOPBACK, str(phone_port)):
        return None
    return f"{what} names {address}:{port}, not the other phone's own {LOOPBACK}:{phone_port}"


def write_server_config(workdir, udp_port, tcp_port, extensions, no_answer_timeout="3s",
                        min_expires="60s", domain="catchline.test", name="catchline.yaml",
                        digest_algorithms=None, database_name="catchline.db", extra_yaml="",
                        address=LOOPBACK):
    """Writes a catchline configuration listening on loopback (UDP and TCP) with its database in
    `workdir`. `extensions` is a list of (number, name, password), or of (number, name, password,
    fields) where `fields` is a dict of further per-extension keys, e.g.
    {"call_groups": ["reception"], "pickup_protected": True}; `digest_algorithms` a list such
    as ["MD5"], None for the server's default; `extra_yaml` is appended as it is (top-level
    sections such as `pickup:` or `ring_groups:`); `address` is where the server listens (a
    test in network namespaces of its own gives another). Returns (config, database)."""
    database = os.path.join(workdir, database_name)
    lines = [
        "sip:",
        "  listen:",
        f"    - udp:{address}:{udp_port}",
        f"    - tcp:{address}:{tcp_port}",
        f"  domain: {domain}",
        f"  no_answer_timeout: {no_answer_timeout}",
    ]
    if digest_algorithms:
        lines += ["  digest_algorithms:"] + [f"    - {a}" for a in digest_algorithms]
    lines += [
        "registrar:",
        f"  min_expires: {min_expires}",
        "storage:",
        f"  path: {database}",
        "extensions:",
    ]
    for number, display, password, *more in extensions:
        lines += [f"  - number: \"{number}\"", f"    name: \"{display}\"",
                  f"    password: \"{password}\""]
        # JSON is YAML's flow style: lists, strings and booleans come out as YAML reads them.
        for key, value in (more[0] if more else {}).items():
            lines.append(f"    {key}: {json.dumps(value)}")
    config = os.path.join(workdir, name)
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
        if extra_yaml:
            f.write(extra_yaml.rstrip("\n") + "\n")
    return config, database


def start_catchline(procs, binary, config, name="catchline", timeout=10.0, wrapper=()):
    """Starts the server and waits for its start-up line; fails if it does not come.
    `wrapper` goes before the command, e.g. ["ip", "netns", "exec", NAME] (which execs the
    server in place, so its PID is still the server's)."""
    server = procs.start(list(wrapper) + [binary, "--config", config], name)
    check(wait_for_log(procs, server, "catchline started", timeout),
          f"{name} did not start: {procs.log_of(server)[-2000:]}")
    return server


def sipp_counts(output):
    """(successful, failed) calls from SIPp's final statistics (-trace_stat -fd 1 output)."""
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", output)
    failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", output)
    return (int(ok[-1]) if ok else -1, int(failed[-1]) if failed else -1)


class Sipp:
    """One SIPp run of a scenario file against the server; its <log> lines go to `<name>.actions`."""

    def __init__(self, procs, scenario_file, server_port, local_port, name, variables=None,
                 extra=(), calls=1, transport="udp"):
        self.procs = procs
        self.name = name
        self.actions = os.path.join(procs.workdir, f"{name}.actions")
        self.errors = os.path.join(procs.workdir, f"{name}.errors")
        args = ["-m", str(calls), "-timeout", "30s", "-timeout_error", "-trace_logs",
                "-log_file", self.actions, "-error_file", self.errors, "-trace_msg",
                "-message_file", os.path.join(procs.workdir, f"{name}.messages")]
        if transport == "tcp":
            args += ["-t", "t1"]
        for key, value in (variables or {}).items():
            args += ["-set", key, str(value)]
        self.proc = procs.start(sipp_args(scenario_file, server_port, local_port,
                                          args + list(extra)), name)
        self.local_port = local_port

    def wait(self, timeout=40.0):
        """Waits for SIPp to exit; returns (exit code, successful, failed)."""
        code = self.proc.wait(timeout=timeout)
        ok, failed = sipp_counts(self.procs.log_of(self.proc))
        return code, ok, failed

    def expect_success(self, what, timeout=40.0, calls=1):
        code, ok, failed = self.wait(timeout)
        check(code == 0 and ok == calls and failed == 0,
              f"{what}: sipp {self.name} exited {code} with {ok} successful and {failed} failed "
              f"calls; errors: {self.error_text()[-1500:]}")

    def logged(self):
        """The lines the scenario wrote with <log>."""
        try:
            with open(self.actions) as f:
                return [line.rstrip("\n") for line in f]
        except FileNotFoundError:
            return []

    def value(self, key):
        """The last `key=value` the scenario logged, or None."""
        found = None
        for line in self.logged():
            if line.startswith(key + "="):
                found = line[len(key) + 1:]
        return found

    def error_text(self):
        try:
            with open(self.errors, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def messages_text(self):
        """The SIP messages SIPp sent and received so far (its -trace_msg file)."""
        try:
            with open(os.path.join(self.procs.workdir, f"{self.name}.messages"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def messages(self):
        """The -trace_msg file as a list of (unix time, "sent" or "received", message text),
        in the order SIPp wrote them; each entry starts with a line of dashes and a local time
        such as "2024-05-16 10:15:02.123456"."""
        entries = []
        for block in re.split(r"^-{20,} ", self.messages_text(), flags=re.M)[1:]:
            stamp, _, rest = block.partition("\n")
            header, _, text = rest.partition("\n")
            try:
                when = time.mktime(time.strptime(stamp.strip()[:19], "%Y-%m-%d %H:%M:%S"))
                when += float("0" + stamp.strip()[19:])
            except ValueError:
                continue
            direction = "sent" if " sent" in header else "received"
            entries.append((when, direction, text.strip("\n")))
        return entries


def call_records(binary, database):
    """`catchline calls --db FILE --json` as a list of dicts, oldest first."""
    result = subprocess.run([binary, "calls", "--db", database, "--json"], capture_output=True,
                            text=True, timeout=20)
    check(result.returncode == 0, f"catchline calls failed: {result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def wait_until(predicate, timeout=10.0, step=0.05):
    """Polls `predicate` until it is true or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


class Results:
    """Runs named checks, keeps going after a failure, and ends with "N passed, M failed"."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def run(self, name, function, *args):
        started = time.monotonic()
        try:
            function(*args)
        except Exception as error:  # every failure is reported, then the next check runs
            self.failed.append(name)
            print(f"FAIL {name}: {error}", flush=True)
        else:
            self.passed += 1
            print(f"ok   {name} ({time.monotonic() - started:.1f}s)", flush=True)

    def finish(self):
        print(f"{self.passed} passed, {len(self.failed)} failed")
        if self.failed:
            print("failed: " + ", ".join(self.failed))
        sys.exit(1 if self.failed else 0)


def register(procs, server_port, number, password, name, local_port=None, transport="udp",
             expires=3600, user=None, call_id=None, cseq=1, domain="catchline.test"):
    """Registers `number` with SIPp's register.xml from `local_port` (a fresh one by default) and
    fails unless the server answers 200 with a binding. Returns the finished Sipp run; its
    `local_port` is where the server will send INVITEs."""
    local_port = local_port or free_port()
    contact = f"sip:{number}@{LOOPBACK}:{local_port};transport={transport.upper()}"
    extra = ["-au", number, "-ap", password]
    if call_id:
        extra += ["-cid_str", call_id]
    run = Sipp(procs, scenario("register.xml"), server_port, local_port, name,
               {"user": user or number, "domain": domain, "contact": contact, "expires": expires,
                "cseq": cseq, "cseq2": cseq + 1}, extra=extra, transport=transport)
    run.expect_success(f"register {number} from port {local_port}")
    run.contact = contact
    return run


def phone(procs, scenario_name, local_port, name, variables=None, calls=1):
    """Starts a SIPp UAS (`calls` calls, one by default) on the UDP port a phone registered from,
    and waits until it listens, so that a call placed next finds it."""
    run = Sipp(procs, scenario(scenario_name), 1, local_port, name, variables, calls=calls)
    check(wait_until(lambda: udp_port_bound(local_port) or run.proc.poll() is not None)
          and run.proc.poll() is None,
          f"{name} did not start on port {local_port}: {procs.log_of(run.proc)[-1500:]}")
    return run


def udp_port_bound(port):
    """Whether some socket is bound to UDP `port` on IPv4, read from /proc/net/udp (binding a
    probe socket instead could steal the port from the process being waited for)."""
    suffix = f":{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            next(f)
            return any(line.split()[1].endswith(suffix) for line in f if line.strip())
    except OSError:
        return False


# RFC 3326: the Reason a CANCEL carries when the call was answered (or picked up) elsewhere.
COMPLETED_ELSEWHERE = re.compile(r'^SIP *; *cause=200 *; *text="Call completed elsewhere" *$')


def check_cancel_reason(run, elsewhere, what):
    """The phone run logged a CANCEL (its scenario logs reason=) whose Reason says "Call
    completed elsewhere" when `elsewhere`, and no Reason otherwise."""
    reason = run.value("reason")
    check(reason is not None, f"{what}: the phone logged no CANCEL: {run.logged()}")
    if elsewhere:
        check(COMPLETED_ELSEWHERE.match(reason),
              f'{what}: CANCEL has Reason {reason!r}, expected SIP;cause=200;text="Call '
              'completed elsewhere"')
    else:
        check(reason == "", f"{what}: CANCEL has Reason {reason!r}, expected none")
