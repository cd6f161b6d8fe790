"""Bans for password guessing against the real server (issue 9): wrong-password REGISTERs from
one UDP port get no answer after `max_failures` while the right password from another port of
the same address registers; an unknown user counts like a wrong password, challenges and stale
nonces do not count; the address tier across ports; a trusted address spared by the
address tier but not by the port tier; the end of a ban after `ban_time`; SIGHUP lifting bans;
retransmissions and in-dialog requests of a banned port dropped as well; the ban log line, read
by the fail2ban filter that the README gives.

Each check starts its own server (security: max_failures 3, max_failures_per_ip 6, ban_time
2s, or 60s where a check needs more time than that) on fresh loopback ports, so that one
check's bans cannot leak into the next.

Usage: test_security.py --catchline PATH. Prints one line per check and "N passed, M failed".
"""
import re
import signal
import socket
import time

import harness
import sipua

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice", "alice-secret")
BOB = ("1002", "Bob", "bob-secret")
NO_ANSWER = 1.0  # seconds: on loopback an answer takes milliseconds

# The README's fail2ban filter (filter.d/catchline.conf, "%%" there for each "%" here), and
# fail2ban's own expansion of <HOST> (fail2ban 1.0, server/failregex.py and ipdns.py: an IPv4
# address, optionally ::ffff:-mapped, or an IPv6 address, either optionally in brackets, or a
# host name).
DATEPATTERN = r"^\[%Y-%m-%d %H:%M:%S(?:\.%f)?\]"
# Only address bans: fail2ban bans whole addresses, and a port ban is one phone behind an
# address that may be a whole office's.
FAILREGEX = r"^\s*\[\w+\] ban source=<HOST> scope=ip failures=\d+ window=\S+ until=\S+$"
IP4 = r"(?:\d{1,3}\.){3}\d{1,3}"
IP6 = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)"
F2B_HOST = (r"(?:\[?(?:(?:::f{4,6}:)?(?P<ip4>" + IP4 + r")|(?P<ip6>" + IP6 + r"))\]?"
            r"|(?P<dns>[\w\-.^_]*\w))")
# fail2ban cuts what DATEPATTERN matched out of the line before it applies the failregex.
DATE = re.compile(DATEPATTERN.replace("%Y", r"\d{4}").replace("%m", r"\d\d")
                  .replace("%d", r"\d\d").replace("%H", r"\d\d").replace("%M", r"\d\d")
                  .replace("%S", r"\d\d").replace("%f", r"\d+"))


def fail2ban_host(line):
    """The host fail2ban would ban for one log line, or None when the filter does not match."""
    rest, cut = DATE.subn("", line, count=1)
    if not cut:
        return None
    match = re.search(FAILREGEX.replace("<HOST>", F2B_HOST), rest)
    if not match:
        return None
    return match.group("ip4") or match.group("ip6") or match.group("dns")


class Server:
    """One catchline with a small security section, listening on UDP 127.0.0.1 and ::1."""

    def __init__(self, procs, binary, name, trusted=(), ban_time="2s"):
        self.procs = procs
        self.udp = harness.free_port()
        self.tcp = harness.free_port()
        self.name = name
        security = ["security:", "  max_failures: 3", "  max_failures_per_ip: 6",
                    "  window: 60s", f"  ban_time: {ban_time}"]
        if trusted:
            security.append("  trusted: [" + ", ".join(f'"{t}"' for t in trusted) + "]")
        self.config, _ = harness.write_server_config(
            procs.workdir, self.udp, self.tcp, [ALICE, BOB], domain=DOMAIN,
            name=f"{name}.yaml", database_name=f"{name}.db", extra_yaml="\n".join(security))
        # One more listen address for the IPv6 check: the helper writes IPv4 only.
        with open(self.config) as f:
            text = f.read()
        text = text.replace("  listen:\n", f"  listen:\n    - udp:[::1]:{self.udp}\n", 1)
        with open(self.config, "w") as f:
            f.write(text)
        self.proc = harness.start_catchline(procs, binary, self.config, name=name)

    def log(self):
        return self.procs.log_of(self.proc)

    def ban_lines(self):
        return [line for line in self.log().splitlines() if "] ban source=" in line]

    def wait_for_ban_line(self, count=1):
        harness.check(harness.wait_until(lambda: len(self.ban_lines()) >= count, timeout=5),
                      f"{self.name}: no ban line logged: {self.log()[-1500:]}")
        return self.ban_lines()[count - 1]


class Phone:
    """One UDP port that registers an extension: synchronous, no retransmissions (loopback)."""

    def __init__(self, server, user, password, host=harness.LOOPBACK, auth_user=None):
        self.server, self.user, self.password, self.host = server, user, password, host
        self.auth_user = auth_user or user  # the digest user name
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.hostport = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.call_id = f"{sipua.new_token()}@{host}"
        self.tag = sipua.new_token()
        self.cseq = 0

    def close(self):
        self.sock.close()

    def send(self, text):
        self.sock.sendto(text.encode(), (self.host, self.server.udp))

    def receive(self):
        """The next message, or None when nothing came within NO_ANSWER."""
        self.sock.settimeout(NO_ANSWER)
        try:
            data, _ = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        return sipua.Message.parse(data)

    def request(self, method, uri, headers=(), to_tag=None, branch=None):
        """Sends one request; returns (its text, the response or None)."""
        self.cseq += 1
        to = f"<sip:{self.user}@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
        lines = [f"{method} {uri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.hostport};branch={branch or 'z9hG4bK' + sipua.new_token()}"
                 ";rport",
                 "Max-Forwards: 70",
                 f"From: <sip:{self.user}@{DOMAIN}>;tag={self.tag}", f"To: {to}",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} {method}"]
        lines += [f"{name}: {value}" for name, value in headers]
        text = "\r\n".join(lines + ["Content-Length: 0", "", ""])
        self.send(text)
        return text, self.receive()

    def register(self, password=None):
        """REGISTER, answering the 401 once: the final status, or None when nothing answers."""
        uri = f"sip:{DOMAIN}"
        contact = [("Contact", f"<sip:{self.user}@{self.hostport}>"), ("Expires", "600")]
        _, first = self.request("REGISTER", uri, contact)
        if first is None or first.status != 401:
            return first.status if first else None
        credentials = sipua.digest(sipua.md5_challenge(first), "REGISTER", uri, self.auth_user,
                                   password or self.password)
        _, final = self.request("REGISTER", uri, contact + [("Authorization", credentials)])
        return final.status if final else None


def guess(phone, times):
    """`times` wrong-password attempts from one port; each must be answered 403."""
    for i in range(times):
        status = phone.register(password="wrong-guess")
        harness.check(status == 403, f"wrong password #{i + 1} from {phone.hostport}: got "
                      f"{status}, expected 403")


def check_port_tier(procs, binary):
    server = Server(procs, binary, "port-tier")
    guesser = Phone(server, *ALICE[::2])
    guess(guesser, 3)
    harness.check(guesser.register(password="wrong-guess") is None,
                  "after 3 wrong passwords the port still gets an answer")
    harness.check(guesser.register() is None,
                  "the banned port is answered when it sends the right password")
    colleague = Phone(server, *ALICE[::2])
    status = colleague.register()
    harness.check(status == 200, f"the right password for the same extension from another port "
                  f"of the same address got {status}, expected 200 (the extension is locked)")
    line = server.wait_for_ban_line()
    harness.check(f"ban source=127.0.0.1:{guesser.port} scope=port failures=3 window=60s until="
                  in line, f"ban line: {line!r}")
    harness.check(len(server.ban_lines()) == 1, f"more than one ban line: {server.ban_lines()}")


def check_unknown_user_counts_like_a_wrong_password(procs, binary):
    server = Server(procs, binary, "unknown-user")
    guesser = Phone(server, "1999", "whatever")
    for i in range(3):
        status = guesser.register()
        harness.check(status == 403, f"unknown user attempt #{i + 1}: {status}, expected 403")
    harness.check(guesser.register() is None, "after 3 unknown-user attempts: still answered")
    logged = [line for line in server.log().splitlines() if "auth failed" in line]
    harness.check(logged and all("reason=\"wrong response\"" in line for line in logged),
                  f"unknown user not logged as a wrong password: {logged}")


def check_challenges_are_not_failures(procs, binary):
    server = Server(procs, binary, "challenges")
    phone = Phone(server, *ALICE[::2])
    uri = f"sip:{DOMAIN}"
    for i in range(10):
        _, response = phone.request("REGISTER", uri, [("Contact", f"<sip:1001@{phone.hostport}>")])
        harness.check(response is not None and response.status == 401,
                      f"REGISTER without credentials #{i + 1}: "
                      f"{response.status if response else 'no answer'}, expected 401")
    harness.check(phone.register() == 200, "10 challenges banned the port")


def check_stale_nonce_is_not_a_failure(procs, binary):
    """The right password with a used nonce is answered 401 stale=true, and never counts."""
    server = Server(procs, binary, "stale")
    phone = Phone(server, *ALICE[::2])
    uri = f"sip:{DOMAIN}"
    contact = [("Contact", f"<sip:1001@{phone.hostport}>"), ("Expires", "600")]
    _, challenge = phone.request("REGISTER", uri, contact)
    harness.check(challenge is not None and challenge.status == 401, "no challenge")
    statuses = []
    for _ in range(5):  # the same nonce and nonce count each time: a replay after the first
        credentials = sipua.digest(sipua.md5_challenge(challenge), "REGISTER", uri, "1001",
                                   ALICE[2])
        _, response = phone.request("REGISTER", uri, contact + [("Authorization", credentials)])
        statuses.append((response.status, "stale=true" in response.get("www-authenticate", ""))
                        if response else None)
    harness.check(statuses == [(200, False)] + [(401, True)] * 4,
                  f"answers to one nonce used 5 times: {statuses}")
    harness.check(phone.register() == 200, "4 stale answers banned the port")
    harness.check(not server.ban_lines(), f"ban lines: {server.ban_lines()}")


def check_ip_tier(procs, binary):
    server = Server(procs, binary, "ip-tier")
    guessers = [Phone(server, *ALICE[::2]) for _ in range(3)]
    for guesser in guessers:
        guess(guesser, 2)  # 2 per port: no port reaches 3, the address reaches 6
    latecomer = Phone(server, *ALICE[::2])
    harness.check(latecomer.register() is None,
                  "after 6 failures over 3 ports, a new port of the address is still answered")
    line = server.wait_for_ban_line()
    harness.check("ban source=127.0.0.1 scope=ip failures=6 window=60s until=" in line,
                  f"ban line: {line!r}")
    # Another address is not concerned.
    other = Phone(server, *BOB[::2], host="::1")
    harness.check(other.register() == 200, "::1 lost its answer when 127.0.0.1 was banned")


def check_trusted_address(procs, binary):
    server = Server(procs, binary, "trusted", trusted=["127.0.0.0/8", "2001:db8::/32"])
    for _ in range(4):
        guess(Phone(server, *ALICE[::2]), 2)  # 8 failures from the address, 2 a port
    colleague = Phone(server, *ALICE[::2])
    harness.check(colleague.register() == 200,
                  "a trusted address was banned as a whole after 8 failures over 4 ports")
    guesser = Phone(server, *ALICE[::2])
    guess(guesser, 3)
    harness.check(guesser.register() is None,
                  "the guessing port of a trusted address is still answered after 3 failures")
    harness.check(Phone(server, *BOB[::2]).register() == 200,
                  "the trusted address's other ports lost their answer")
    harness.check(all("scope=port" in line for line in server.ban_lines()),
                  f"a trusted address got an address ban: {server.ban_lines()}")


def check_ban_ends(procs, binary):
    server = Server(procs, binary, "ban-ends")
    guesser = Phone(server, *ALICE[::2])
    guess(guesser, 3)
    harness.check(guesser.register() is None, "not banned after 3 failures")
    time.sleep(2.2 - NO_ANSWER)  # ban_time 2s: the unanswered attempt took NO_ANSWER already
    status = guesser.register()
    harness.check(status == 200, f"after ban_time the right password got {status}, expected 200")


def check_sighup_lifts_bans(procs, binary):
    server = Server(procs, binary, "sighup", ban_time="60s")
    guesser = Phone(server, *ALICE[::2])
    guess(guesser, 3)
    harness.check(guesser.register() is None, "not banned after 3 failures")
    server.proc.send_signal(signal.SIGHUP)
    harness.check(harness.wait_for_log(procs, server.proc, "bans lifted count=1"),
                  f"no 'bans lifted' line after SIGHUP: {server.log()[-1500:]}")
    status = guesser.register()
    harness.check(status == 200, f"after SIGHUP the right password got {status}, expected 200")


def check_banned_port_gets_nothing_at_all(procs, binary):
    """Retransmissions, in-dialog requests, CANCEL and OPTIONS of a banned port are dropped."""
    server = Server(procs, binary, "nothing-at-all", ban_time="60s")
    guesser = Phone(server, *ALICE[::2])
    # An OPTIONS before the ban creates a transaction; its retransmission after the ban would be
    # answered again by the transaction layer unless the ban stops it first.
    branch = "z9hG4bK" + sipua.new_token()
    options, response = guesser.request("OPTIONS", f"sip:{DOMAIN}", branch=branch)
    harness.check(response is not None and response.status == 200, "OPTIONS before the ban")
    guess(guesser, 3)
    guesser.send(options)
    harness.check(guesser.receive() is None, "retransmitted OPTIONS answered after the ban")
    for method, to_tag in (("OPTIONS", None), ("BYE", "t1"), ("INFO", "t2"), ("CANCEL", None),
                           ("SUBSCRIBE", None), ("INVITE", None)):
        _, response = guesser.request(method, f"sip:1002@{DOMAIN}", to_tag=to_tag)
        harness.check(response is None, f"{method} from a banned port answered "
                      f"{response.status if response else ''}")


def check_ipv6_and_fail2ban_filter(procs, binary):
    server = Server(procs, binary, "ipv6", ban_time="60s")
    guesser = Phone(server, *ALICE[::2], host="::1")
    guess(guesser, 3)
    harness.check(guesser.register() is None, "::1 port not banned after 3 failures")
    harness.check(Phone(server, *ALICE[::2], host="::1").register() == 200,
                  "another port of ::1 lost its answer")
    for _ in range(3):
        guess(Phone(server, *ALICE[::2], host="::1"), 1)
    # 3 + 3 = 6 failures from ::1: the address tier.
    harness.check(Phone(server, *ALICE[::2], host="::1").register() is None,
                  "::1 not banned as a whole after 6 failures")
    port_line = server.wait_for_ban_line(1)
    ip_line = server.wait_for_ban_line(2)
    harness.check(f"ban source=[::1]:{guesser.port} scope=port " in port_line,
                  f"IPv6 port ban line: {port_line!r}")
    harness.check("ban source=::1 scope=ip " in ip_line, f"IPv6 address ban line: {ip_line!r}")
    # The filter: the address ban gives its address; the port ban and every other line, even an
    # "auth failed" line whose user name imitates a ban line (the sender chooses it), nothing.
    fake = Phone(server, "1001", "p",
                 auth_user="x ban source=192.0.2.99 scope=ip failures=9 window=1s until=x")
    fake.register()
    harness.check(harness.wait_until(lambda: "192.0.2.99" in server.log(), timeout=5),
                  "the imitating user name was not logged")
    found = [(line, fail2ban_host(line)) for line in server.log().splitlines()
             if fail2ban_host(line)]
    harness.check([host for _, host in found] == ["::1"] and found[0][0] == ip_line,
                  f"fail2ban filter found {found}, expected the address ban's ::1 alone")
    v4 = Server(procs, binary, "ipv4-filter", ban_time="60s")
    for _ in range(3):
        guess(Phone(v4, *ALICE[::2]), 2)
    line = v4.wait_for_ban_line()
    harness.check("scope=ip" in line and fail2ban_host(line) == "127.0.0.1",
                  f"filter does not read {line!r}")


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    with harness.session() as procs:
        results.run("3 wrong passwords ban that port; the right one from another port registers",
                    check_port_tier, procs, binary)
        results.run("an unknown user counts, and is logged, like a wrong password",
                    check_unknown_user_counts_like_a_wrong_password, procs, binary)
        results.run("requests without credentials (401) are not failures",
                    check_challenges_are_not_failures, procs, binary)
        results.run("the right password with a used nonce (401 stale) is not a failure",
                    check_stale_nonce_is_not_a_failure, procs, binary)
        results.run("6 failures over 3 ports ban the address", check_ip_tier, procs, binary)
        results.run("a trusted address keeps its answer; its guessing port does not",
                    check_trusted_address, procs, binary)
        results.run("a ban ends after ban_time", check_ban_ends, procs, binary)
        results.run("SIGHUP lifts bans", check_sighup_lifts_bans, procs, binary)
        results.run("a banned port gets no answer to anything",
                    check_banned_port_gets_nothing_at_all, procs, binary)
        results.run("IPv6 bans; the fail2ban filter reads the address bans and no other line",
                    check_ipv6_and_fail2ban_filter, procs, binary)
    results.finish()


if __name__ == "__main__":
    main()
