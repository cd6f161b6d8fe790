"""The heap report: SIGUSR1 makes the server give free heap pages back (malloc_trim) and log
one line `heap in_use=... free=... arena=... mmap=... keepcost=... rss=... private=...`, and
go on serving. After 1,000 registrations the heap in use has grown by a plausible amount.

Usage: test_heap_report.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import re
import signal
import socket
import time

import harness
import sipua

DOMAIN = "catchline.test"
FIRST = 100_000
COUNT = 1_000
BATCH = 100
KEYS = ("in_use", "free", "arena", "mmap", "keepcost", "rss", "private")
HEAP_LINE = re.compile(r"\] \[info\] heap (\S.*)$")


class Bench:
    def __init__(self, procs, binary):
        self.procs = procs
        self.udp = harness.free_port()
        extensions = [(str(number), f"User {number}", f"pw-{number}")
                      for number in range(FIRST, FIRST + COUNT)]
        self.config, _ = harness.write_server_config(
            procs.workdir, self.udp, harness.free_port(), extensions, domain=DOMAIN)
        self.server = harness.start_catchline(procs, binary, self.config, timeout=30)
        self.reports = []

    def heap_report(self):
        """Sends SIGUSR1; returns the figures of the heap line it logs."""
        seen = len(self.heap_lines())
        self.server.send_signal(signal.SIGUSR1)
        harness.check(harness.wait_until(lambda: len(self.heap_lines()) > seen, timeout=10),
                      f"no heap line after SIGUSR1 (server "
                      f"{'exited ' + str(self.server.poll()) if self.server.poll() is not None else 'running'}"
                      f"): {self.procs.log_of(self.server)[-1000:]}")
        line = self.heap_lines()[seen]
        fields = dict(pair.split("=", 1) for pair in line.split())
        harness.check(tuple(fields) == KEYS, f"heap line keys {tuple(fields)}, not {KEYS}")
        harness.check(all(value.isdigit() for value in fields.values()),
                      f"heap line values not all byte counts: {line}")
        figures = {key: int(value) for key, value in fields.items()}
        self.reports.append(figures)
        return figures

    def heap_lines(self):
        return [found.group(1) for found in
                (HEAP_LINE.search(line) for line in self.procs.log_of(self.server).splitlines())
                if found]


def register_all(port):
    """REGISTERs every extension (401 challenge, then credentials) from one UDP socket, BATCH
    at a time; returns how many got their 200."""
    registered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((harness.LOOPBACK, 0))
        sock.settimeout(5)
        local = sock.getsockname()[1]
        uri = f"sip:{DOMAIN}"

        def send(number, cseq, authorization=None):
            lines = [f"REGISTER {uri} SIP/2.0",
                     f"Via: SIP/2.0/UDP {harness.LOOPBACK}:{local};branch=z9hG4bK{number}x{cseq};rport",
                     f"From: <sip:{number}@{DOMAIN}>;tag=t{number}",
                     f"To: <sip:{number}@{DOMAIN}>",
                     f"Call-ID: heap-{number}@{harness.LOOPBACK}",
                     f"CSeq: {cseq} REGISTER",
                     f"Contact: <sip:{number}@{harness.LOOPBACK}:{local}>",
                     "Expires: 3600", "Max-Forwards: 70"]
            if authorization:
                lines.append(f"Authorization: {authorization}")
            text = "\r\n".join(lines + ["Content-Length: 0", "", ""])
            sock.sendto(text.encode(), (harness.LOOPBACK, port))

        def answers(count):
            """`count` final responses, by the extension in their Call-ID."""
            got = {}
            while len(got) < count:
                message = sipua.Message.parse(sock.recv(65535))
                if message.status >= 200:
                    number = message.get("call-id").split("@")[0].removeprefix("heap-")
                    got[number] = message
            return got

        for start in range(FIRST, FIRST + COUNT, BATCH):
            numbers = [str(n) for n in range(start, start + BATCH)]
            for number in numbers:
                send(number, 1)
            challenges = answers(len(numbers))
            for number in numbers:
                challenge = sipua.md5_challenge(challenges[number])
                harness.check(challenge, f"no digest challenge for {number}: "
                                         f"{challenges[number].start}")
                send(number, 2, sipua.digest(challenge, "REGISTER", uri, number, f"pw-{number}"))
            for message in answers(len(numbers)).values():
                registered += message.status == 200
    return registered


def check_report_at_start(bench):
    figures = bench.heap_report()
    harness.check(figures["in_use"] > 0, f"nothing in use: {figures}")
    # What malloc hands out lies in what it took from the system (brk arenas, mmapped chunks).
    harness.check(figures["in_use"] <= figures["arena"] + figures["mmap"],
                  f"in_use above arena + mmap: {figures}")
    harness.check(0 < figures["private"] <= figures["rss"], f"private outside (0, rss]: {figures}")
    harness.check(bench.server.poll() is None, "the server ended after SIGUSR1")


def check_in_use_rises_after_registrations(bench):
    harness.check(bench.reports, "no heap report from before the registrations")
    before = bench.reports[-1]
    started = time.monotonic()
    registered = register_all(bench.udp)
    harness.check(registered == COUNT, f"{registered} of {COUNT} registrations got 200")
    harness.check(
        harness.wait_for_log(bench.procs, bench.server, f"extension={FIRST + COUNT - 1} ", 10),
        "the last registration was not logged")
    after = bench.heap_report()
    grown = (after["in_use"] - before["in_use"]) / COUNT
    print(f"     {COUNT} registrations in {time.monotonic() - started:.1f} s: in_use "
          f"{before['in_use']:,} -> {after['in_use']:,} ({grown:.0f} B each, their REGISTER "
          f"transactions still alive), private {before['private']:,} -> {after['private']:,}")
    # A binding holds its contact, Call-ID and source (a few hundred bytes); the transactions
    # that made them are alive for 32 s more. Less than 64 B or more than 32 KiB each is wrong.
    harness.check(64 <= grown <= 32 * 1024, f"in_use grew {grown:.0f} B per registration")


def check_report_repeats_and_stop_is_clean(bench):
    bench.heap_report()
    bench.heap_report()
    code = bench.procs.stop(bench.server, signal.SIGTERM, wait=10)
    harness.check(code == 0, f"catchline exited {code} on SIGTERM after the heap reports")
    harness.check("catchline stopped" in bench.procs.log_of(bench.server), "no clean stop line")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        bench = Bench(procs, binary)
        results.run("SIGUSR1 logs a plausible heap line and the server goes on",
                    check_report_at_start, bench)
        results.run("in_use rises after 1,000 registrations",
                    check_in_use_rises_after_registrations, bench)
        results.run("the report answers every SIGUSR1; SIGTERM still stops cleanly",
                    check_report_repeats_and_stop_is_clean, bench)
        if results.failed:
            print(procs.log_of(bench.server)[-3000:])
    results.finish()


if __name__ == "__main__":
    main()
