"""A call between two real softphones (baresip 1.0, Debian package baresip-core) through the
server: both register with digest, 1001 dials 1002 over baresip's ctrl_tcp interface, 1002
answers on its own (answermode=auto) and sees Alice's name, both report CALL_ESTABLISHED, 1001
hangs up, both report CALL_CLOSED, and the call record says answered by 1002, hung up by the
caller.

The server is configured with `sip.digest_algorithms: [MD5]` here: baresip 1.0's SIP stack
(libre) gives up with ENOSYS ("Function not implemented") on a 401/407 that also offers
SHA-256, even when the MD5 challenge comes first (RFC 8760 §2.4 asks clients to use the first
challenge they support).

Audio runs through the aubridge module (a loop inside each baresip), so no sound device is
needed. Usage: test_baresip.py --catchline PATH. Prints "N passed, M failed".
"""
import json
import os
import shutil
import socket
import threading
import time

import harness

DOMAIN = "catchline.test"
ALICE = ("1001", "Alice Example", "alice-secret")
BOB = ("1002", "Bob Builder", "bob-secret")


def modules_directory():
    """baresip's modules beside its binary: <prefix>/bin/baresip -> <prefix>/lib/baresip/modules."""
    binary = shutil.which("baresip")
    if binary is None:
        return None
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(binary)))
    return os.path.join(prefix, "lib", "baresip", "modules")


MODULES = modules_directory()


class Control:
    """baresip's ctrl_tcp: netstring-framed JSON commands, responses and events."""

    def __init__(self, port, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((harness.LOOPBACK, port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(None)
        self.messages = []
        self.lock = threading.Condition()
        self.tokens = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b":" in buffer:
                length_text, rest = buffer.split(b":", 1)
                length = int(length_text)
                if len(rest) < length + 1:
                    break
                payload, buffer = rest[:length], rest[length + 1:]
                with self.lock:
                    self.messages.append(json.loads(payload.decode(errors="replace")))
                    self.lock.notify_all()

    def command(self, name, params="", timeout=10.0):
        """Sends a command and returns its response object."""
        self.tokens += 1
        token = str(self.tokens)
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        response = self.wait(lambda m: m.get("response") and m.get("token") == token, timeout)
        harness.check(response is not None, f"no response to {name} {params}")
        return response

    def wait(self, predicate, timeout=10.0):
        """The first message (past or future) for which predicate holds, or None."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.lock.wait(left)

    def event(self, kind, timeout=10.0):
        return self.wait(lambda m: m.get("event") and m.get("type") == kind, timeout)

    def close(self):
        self.sock.close()


def baresip_config(workdir, name, sip_port, control_port, account):
    directory = os.path.join(workdir, name)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config"), "w") as f:
        f.write("\n".join([
            "poll_method epoll",
            f"sip_listen {harness.LOOPBACK}:{sip_port}",
            "call_local_timeout 120",
            "call_max_calls 4",
            # aubridge joins this player to this source: no sound card, audio still flows.
            "audio_player aubridge,loop",
            "audio_source aubridge,loop",
            "audio_alert aubridge,loop",
            "audio_buffer 20-160",
            "rtp_ports 20000-29999",
            f"module_path {MODULES}",
            "module g711.so",
            "module aubridge.so",
            "module_tmp uuid.so",
            "module_tmp account.so",
            "module_app menu.so",  # carries out answermode=auto in baresip 1.0
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen {harness.LOOPBACK}:{control_port}",
            "",
        ]))
    with open(os.path.join(directory, "accounts"), "w") as f:
        f.write(account + "\n")
    return directory


def start_phone(procs, server_port, extension, answermode, name):
    sip_port = harness.free_port()
    control_port = harness.free_port()
    account = (f"<sip:{extension[0]}@{harness.LOOPBACK}:{server_port};transport=udp>"
               f";auth_pass={extension[2]};answermode={answermode};regint=600")
    directory = baresip_config(procs.workdir, name, sip_port, control_port, account)
    proc = procs.start(["baresip", "-f", directory, "-t", "90", "-s"], name)
    return proc, Control(control_port)


def check_call(procs, binary, algorithms):
    udp, tcp = harness.free_port(), harness.free_port()
    config, database = harness.write_server_config(procs.workdir, udp, tcp, [ALICE, BOB],
                                                   domain=DOMAIN, digest_algorithms=algorithms)
    server = harness.start_catchline(procs, binary, config)
    alice_proc, alice = start_phone(procs, udp, ALICE, "manual", "baresip-1001")
    bob_proc, bob = start_phone(procs, udp, BOB, "auto", "baresip-1002")
    try:
        for extension, phone, proc in ((ALICE, alice, alice_proc), (BOB, bob, bob_proc)):
            # The REGISTER_OK event may come before we connect, so also ask reginfo.
            registered = harness.wait_until(
                lambda: phone.event("REGISTER_OK", timeout=0.1) is not None or
                "OK" in str(phone.command("reginfo").get("data", "")), timeout=10)
            harness.check(registered, f"baresip {extension[0]} did not register: "
                                      f"{procs.log_of(proc)[-1500:]}")
        dial = alice.command("dial", f"sip:{BOB[0]}@{harness.LOOPBACK}:{udp}")
        harness.check(dial.get("ok"), f"dial refused: {dial}")
        established = {}
        for who, phone in (("1001", alice), ("1002", bob)):
            established[who] = phone.event("CALL_ESTABLISHED", timeout=10)
            harness.check(established[who] is not None, f"no CALL_ESTABLISHED on {who}")
        # With answermode=auto baresip 1.0 reports no CALL_INCOMING; the established call says
        # who called: the caller's identity as the server presents it.
        callee_view = established["1002"]
        harness.check(f"sip:{ALICE[0]}@" in callee_view.get("peeruri", "") and
                      callee_view.get("peerdisplayname") == ALICE[1],
                      f"1002 sees the call from {callee_view.get('peerdisplayname')!r} "
                      f"{callee_view.get('peeruri')!r}")
        hangup = alice.command("hangup")
        harness.check(hangup.get("ok"), f"hangup refused: {hangup}")
        for who, phone in (("1001", alice), ("1002", bob)):
            harness.check(phone.event("CALL_CLOSED", timeout=10) is not None,
                          f"no CALL_CLOSED on {who}")
        records = harness.wait_until(
            lambda: harness.call_records(binary, database), timeout=10)
        harness.check(len(records) == 1, f"call records: {records}")
        row = records[0]
        got = (row["caller"], row["answered_by"], row["disposition"], row["hangup_by"])
        harness.check(got == (ALICE[0], BOB[0], "answered", "caller"), f"call record {got}")
    finally:
        alice.close()
        bob.close()
        for proc in (alice_proc, bob_proc):
            procs.stop(proc)


def main():
    binary = harness.catchline_binary()
    results = harness.Results()
    if MODULES is None or not os.path.isdir(MODULES):
        print("baresip (baresip-core) is not installed")
        results.failed.append("baresip missing")
        results.finish()
    with harness.session() as procs:
        results.run("baresip 1001 calls baresip 1002: established, hung up, recorded",
                    check_call, procs, binary, ["MD5"])
    results.finish()


if __name__ == "__main__":
    main()
