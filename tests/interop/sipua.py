"""A small scripted SIP user agent for interop tests (RFC 3261 over UDP, 127.0.0.1 only), for
what SIPp cannot do in one scenario: watch a line (SUBSCRIBE, then NOTIFY bodies read in
Python), pick a call up with INVITE/Replaces built from a NOTIFY, ring as a phone until the
test says what to do. Standard library only.

One UDP socket per UA. One thread reads it: responses go to the client transaction that sent
the request (top Via branch and CSeq method, RFC 3261 §17.1.3); requests are answered as
configured (NOTIFY 200 or `notify_status`, INVITE 180 then wait / 200 / a final status, CANCEL
200 + 487, BYE 200, in-dialog UPDATE 200 with an SDP answer to an offer, ACK kept on its
dialog). Client transactions retransmit per timer A/E (T1 = 500 ms, doubling; non-INVITE capped
at T2 = 4 s) and give up after 64*T1 (timers B/F); a 401/407 is answered once with MD5 digest
(qop=auth, RFC 2617/7616). REFER (RFC 3515) is sent with Dialog.refer().
"""
import dataclasses
import hashlib
import os
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET

LOOPBACK = "127.0.0.1"
T1, T2 = 0.5, 4.0
GIVE_UP = 64 * T1
COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
           "v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by"}
COPIED = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}
REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 405: "Method Not Allowed",
           481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated"}
SDP = ("v=0\r\no=sipua 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
       "a=rtpmap:101 telephone-event/8000\r\n")


def new_token():
    return os.urandom(6).hex()


class Message:
    """A parsed SIP message: start line, headers in order (compact names expanded), body."""

    def __init__(self, start, headers, body):
        self.start, self.headers, self.body = start, headers, body
        self.received_at = time.monotonic()
        parts = start.split(" ", 2)
        self.is_response = parts[0].startswith("SIP/")
        self.status = int(parts[1]) if self.is_response else 0
        self.reason = parts[2] if self.is_response and len(parts) > 2 else ""
        self.method = "" if self.is_response else parts[0]
        self.uri = "" if self.is_response else parts[1]

    @staticmethod
    def parse(data):
        text = data.decode("utf-8", errors="replace")
        head, _, body = text.partition("\r\n\r\n") if "\r\n\r\n" in text else text.partition("\n\n")
        lines = []
        for line in head.splitlines():
            if line[:1] in (" ", "\t") and lines:
                lines[-1] += " " + line.strip()  # RFC 3261 §7.3.1 folding
            elif line:
                lines.append(line)
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((COMPACT.get(name, name), value.strip()))
        message = Message(lines[0], headers, body)
        length = message.get("content-length")
        if length is not None and length.isdigit():
            message.body = body.encode()[:int(length)].decode(errors="replace")
        return message

    def get(self, name, default=None):
        """The first value of header `name` (any case, compact form too), or `default`."""
        values = self.get_all(name)
        return values[0] if values else default

    def get_all(self, name):
        name = COMPACT.get(name.lower(), name.lower())
        return [value for key, value in self.headers if key == name]

    def cseq(self):
        number, _, method = self.get("cseq", "0 ?").partition(" ")
        return int(number), method.strip()

    def tag(self, header):
        return param(self.get(header, ""), "tag")

    def branch(self):
        return param(self.get("via", ""), "branch")


def param(value, name):
    """A ;name=value parameter of a header value (after the name-addr's '>', if any)."""
    rest = value.rsplit(">", 1)[-1]
    match = re.search(r";\s*" + re.escape(name) + r"\s*(?:=\s*(\"[^\"]*\"|[^;,\s]+))?(?=[;,\s]|$)",
                      rest, re.I)
    if not match:
        return None
    return (match.group(1) or "").strip('"')


def uri_of(value):
    """The URI of a name-addr or addr-spec header value."""
    match = re.search(r"<([^>]*)>", value)
    return match.group(1) if match else value.split(";")[0].strip()


def digest(challenge, method, uri, user, password):
    """An Authorization value answering one Digest challenge (MD5, qop=auth when offered)."""
    fields = {key.lower(): quoted or plain for key, quoted, plain in
              re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', challenge)}
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1 = md5(f"{user}:{fields['realm']}:{password}")
    ha2 = md5(f"{method}:{uri}")
    cnonce = new_token()
    out = (f'Digest username="{user}", realm="{fields["realm"]}", nonce="{fields["nonce"]}", '
           f'uri="{uri}", algorithm=MD5')
    if "auth" in [q.strip() for q in fields.get("qop", "").split(",")]:
        response = md5(f"{ha1}:{fields['nonce']}:00000001:{cnonce}:auth:{ha2}")
        out += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
    else:
        response = md5(f"{ha1}:{fields['nonce']}:{ha2}")
    out += f', response="{response}"'
    if "opaque" in fields:
        out += f', opaque="{fields["opaque"]}"'
    return out


def md5_challenge(response):
    """The Digest challenge of a 401/407 that uses MD5 (or names no algorithm)."""
    for value in response.get_all("www-authenticate") + response.get_all("proxy-authenticate"):
        algorithm = re.search(r"algorithm\s*=\s*\"?([\w-]+)", value, re.I)
        if value.lower().startswith("digest") and (not algorithm or
                                                  algorithm.group(1).upper() == "MD5"):
            return value
    return None


# ---- dialog-info (RFC 4235) and PIDF (RFC 3863) bodies ----

@dataclasses.dataclass
class DialogEntry:
    id: str
    call_id: str
    local_tag: str
    remote_tag: str
    direction: str
    state: str
    event: str
    local_identity: str
    remote_identity: str  # "" when the document has no <remote><identity>
    remote_display: str
    remote_target: str


@dataclasses.dataclass
class DialogInfo:
    version: int
    state: str
    entity: str
    dialogs: list


def parse_dialog_info(body):
    """An application/dialog-info+xml body; raises ValueError when it is not one."""
    ns = "{urn:ietf:params:xml:ns:dialog-info}"
    root = ET.fromstring(body)
    if root.tag != ns + "dialog-info":
        raise ValueError(f"root element {root.tag}")
    dialogs = []
    for d in root.findall(ns + "dialog"):
        def node(path):  # "remote/identity" -> the element, or None
            return d.find("/".join(ns + part for part in path.split("/")))

        def text(path, attribute=None):
            found = node(path)
            if found is None:
                return ""
            return found.get(attribute, "") if attribute else (found.text or "").strip()
        state = node("state")
        dialogs.append(DialogEntry(
            id=d.get("id", ""), call_id=d.get("call-id", ""), local_tag=d.get("local-tag", ""),
            remote_tag=d.get("remote-tag", ""), direction=d.get("direction", ""),
            state=text("state"), event=state.get("event", "") if state is not None else "",
            local_identity=text("local/identity"), remote_identity=text("remote/identity"),
            remote_display=text("remote/identity", "display"),
            remote_target=text("remote/target", "uri")))
    return DialogInfo(int(root.get("version", "-1")), root.get("state", ""),
                      root.get("entity", ""), dialogs)


def parse_pidf(body):
    """(basic, note) of an application/pidf+xml body."""
    ns = "{urn:ietf:params:xml:ns:pidf}"
    root = ET.fromstring(body)
    basic = root.find(f"{ns}tuple/{ns}status/{ns}basic")
    note = root.find(f".//{ns}note")
    return ((basic.text or "").strip() if basic is not None else "",
            (note.text or "").strip() if note is not None else "")


# ---- transactions and dialogs ----

class ClientTransaction:
    """One request we sent, its retransmissions and the responses it got."""

    def __init__(self, ua, method, text, branch):
        self.ua, self.method, self.text, self.branch = ua, method, text, branch
        self.responses = []
        self.final = None
        self.ack = None  # the ACK sent for a final response to INVITE
        self.interval = T1
        self.next_send = time.monotonic() + T1
        self.give_up = time.monotonic() + GIVE_UP

    def wait(self, predicate=lambda r: r.status >= 200, timeout=GIVE_UP + 1):
        """The first response for which predicate holds; None when the time is up."""
        with self.ua.lock:
            self.ua.lock.wait_for(
                lambda: any(predicate(r) for r in self.responses) or
                time.monotonic() > self.give_up, timeout)
            return next((r for r in self.responses if predicate(r)), None)

    def wait_final(self, timeout=GIVE_UP + 1):
        final = self.wait(timeout=timeout)
        if final is None:
            raise AssertionError(f"{self.ua.name}: no final response to {self.method} within "
                                 f"{timeout:.0f}s")
        return final


class Dialog:
    """What a UA keeps of one of its dialogs (RFC 3261 §12), enough to send requests in it."""

    def __init__(self, ua, call_id, local_uri, remote_uri, local_tag):
        self.ua, self.call_id, self.local_uri, self.remote_uri = ua, call_id, local_uri, remote_uri
        self.local_tag, self.remote_tag = local_tag, ""
        self.remote_target = remote_uri
        self.cseq = 0
        self.requests = []   # requests received in it (NOTIFY, BYE, UPDATE, re-INVITE, ...)
        self.acks = []       # ACKs received in it (of our 2xx to its INVITE or a re-INVITE)
        self.notify_status = None  # NOTIFY answer for this dialog, else the UA's

    def headers(self, cseq_method):
        self.cseq += 1
        to = f"<{self.remote_uri}>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        return [("From", f"<{self.local_uri}>;tag={self.local_tag}"), ("To", to),
                ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} {cseq_method}")]

    def update(self, response):
        """Remote tag and target from a 2xx (or a NOTIFY's From tag and Contact)."""
        tag = response.tag("to" if response.is_response else "from")
        if tag and not self.remote_tag:
            self.remote_tag = tag
        if response.get("contact") and (not response.is_response or response.status < 300):
            self.remote_target = uri_of(response.get("contact"))

    def request(self, method, headers=(), body="", content_type=None):
        """An in-dialog request; returns its final response."""
        t = self.ua.send_request(method, self.remote_target, self.headers(method) +
                                 list(headers), body, content_type)
        return t.wait_final()

    def refer(self, refer_to, referred_by=None, headers=()):
        """Sends REFER in this dialog (RFC 3515) with `Refer-To: <refer_to>` (none when
        `refer_to` is None) and `Referred-By: <referred_by>` when given; returns the client
        transaction at once (its `cseq_number` is the REFER's CSeq, the NOTIFYs' Event id)."""
        extra = [("Contact", self.ua.contact())]
        if refer_to is not None:
            extra.append(("Refer-To", f"<{refer_to}>"))
        if referred_by is not None:
            extra.append(("Referred-By", f"<{referred_by}>"))
        t = self.ua.send_request("REFER", self.remote_target,
                                 self.headers("REFER") + extra + list(headers))
        t.cseq_number = self.cseq
        return t

    def wait_request(self, method, predicate=lambda m: True, timeout=5.0, start=0):
        """The first `method` request (from index `start`) received in this dialog."""
        def found():
            return next((m for m in self.requests[start:]
                         if m.method == method and predicate(m)), None)
        with self.ua.lock:
            self.ua.lock.wait_for(found, timeout)
            return found()


class Subscription(Dialog):
    """A SUBSCRIBE dialog we started; NOTIFYs received in it are in `requests`."""

    def notifies(self):
        return [m for m in self.requests if m.method == "NOTIFY"]

    def wait_notify(self, predicate=lambda m: True, timeout=5.0, start=0):
        return self.wait_request("NOTIFY", predicate, timeout, start)

    def refresh(self, expires):
        return self.request("SUBSCRIBE", [("Event", self.event), ("Expires", str(expires)),
                                          ("Contact", self.ua.contact())])


class Call(Dialog):
    """An INVITE we sent (caller, picker) or received (phone)."""

    invite = None         # outgoing: the current INVITE transaction
    received = None       # incoming: the INVITE as it arrived
    cancel_request = None  # incoming: the CANCEL, if one came
    final_status = 0

    def final(self, timeout=GIVE_UP + 1):
        return self.invite.wait_final(timeout)

    def cancel(self):
        """CANCEL on the INVITE's branch (RFC 3261 §9.1); returns the CANCEL's final response."""
        lines = self.invite.text.split("\r\n")
        keep = [line for line in lines[1:] if line.split(":")[0].lower() in
                ("via", "from", "to", "call-id", "max-forwards")]
        cseq = f"CSeq: {self.invite.text.split('CSeq: ')[1].split(' ')[0]} CANCEL"
        uri = lines[0].split(" ")[1]
        text = "\r\n".join([f"CANCEL {uri} SIP/2.0"] + keep + [cseq, "Content-Length: 0", "", ""])
        return self.ua.start(ClientTransaction(self.ua, "CANCEL", text,
                                               self.invite.branch)).wait_final()

    def bye(self):
        return self.request("BYE")

    def answer(self):
        """Incoming: 200 OK with an SDP answer, sent until the ACK comes."""
        self.ua.respond(self.received, 200, to_tag=self.local_tag, body=self.ua.sdp(),
                        content_type="application/sdp", reliable=True)
        self.final_status = 200

    def reject(self, status):
        """Incoming, still ringing: a final `status` (486, 603, ...), sent until the ACK comes."""
        self.final_status = status
        self.ua.respond(self.received, status, to_tag=self.local_tag, reliable=True)


class UA:
    """One scripted phone on its own UDP port on 127.0.0.1, talking to the server."""

    def __init__(self, server_port, user, password=None, domain="catchline.test", name=None,
                 address=LOOPBACK, server_address=LOOPBACK):
        """`address`: where this UA binds, names itself in Via and Contact (127.0.0.1 unless a
        test runs it in a network namespace of its own); `server_address`: the server's."""
        self.server = (server_address, server_port)
        self.address = address
        self.user, self.password, self.domain = user, password, domain
        self.name = name or user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.settimeout(0.02)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Condition()
        self.transactions = {}  # (branch, method) -> ClientTransaction
        self.dialogs = {}       # (call-id, local tag) -> Dialog; incoming calls: (call-id, "")
        self.answered = {}      # (branch, method) of requests received -> [response text]
        self.reliable = {}      # branch of an INVITE we answered finally -> [text, next, interval]
        self.incoming = []      # Calls rung here (phone role), in order
        self.unsolicited = []   # NOTIFYs of message-summary outside any subscription (MWI)
        self.notify_status = 200
        self.invite_mode = "ring"  # "ring": 180 and wait; "answer": 180, 200; or a final status
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # ---- sending ----

    def contact(self):
        return f"<sip:{self.user}@{self.address}:{self.port}>"

    def aor(self, user=None):
        return f"sip:{user or self.user}@{self.domain}"

    def sdp(self):
        return SDP.format(port=40000 + self.port % 20000)

    def answer_sdp(self, offer):
        """Our SDP answering `offer` (a re-INVITE's): sendonly is answered recvonly, recvonly
        sendonly, inactive inactive (RFC 3264 §6.1); no offer gets our plain SDP."""
        direction = re.search(r"^a=(sendonly|recvonly|inactive)\s*$", offer, re.M)
        answer = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
        sdp = self.sdp()
        return sdp + f"a={answer[direction.group(1)]}\r\n" if direction else sdp

    def send(self, text):
        self.sock.sendto(text.encode(), self.server)

    def start(self, t):
        with self.lock:
            self.transactions[(t.branch, t.method)] = t
        self.send(t.text)
        return t

    def send_request(self, method, uri, headers, body="", content_type=None, branch=None):
        branch = branch or "z9hG4bK" + new_token()
        lines = [f"{method} {uri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.address}:{self.port};branch={branch};rport",
                 "Max-Forwards: 70"] + [f"{k}: {v}" for k, v in headers]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines += [f"Content-Length: {len(body.encode())}", "", body]
        return self.start(ClientTransaction(self, method, "\r\n".join(lines), branch))

    def authenticated(self, dialog, method, uri, headers, body="", content_type=None):
        """A request outside a dialog, answered once with credentials if challenged 401/407
        (the INVITE's ACK of the challenge is sent by the reader). Returns its transaction."""
        t = self.send_request(method, uri, dialog.headers(method) + list(headers), body,
                              content_type)
        first = t.wait(lambda r: r.status >= 180, timeout=GIVE_UP + 1)
        if first is None or first.status not in (401, 407) or self.password is None:
            return t
        challenge = md5_challenge(first)
        if challenge is None:
            return t
        name = "Authorization" if first.status == 401 else "Proxy-Authorization"
        credentials = digest(challenge, method, uri, self.user, self.password)
        return self.send_request(method, uri, dialog.headers(method) + list(headers) +
                                 [(name, credentials)], body, content_type)

    def new_dialog(self, kind, remote_uri):
        dialog = kind(self, f"{new_token()}@{LOOPBACK}", self.aor(), remote_uri, new_token())
        with self.lock:
            self.dialogs[(dialog.call_id, dialog.local_tag)] = dialog
        return dialog

    def register(self, expires=3600):
        """REGISTER this UA's contact for its user; returns the final response."""
        dialog = self.new_dialog(Dialog, self.aor())
        return self.authenticated(dialog, "REGISTER", f"sip:{self.domain}",
                                  [("Contact", self.contact()), ("Expires", str(expires))]
                                  ).wait_final()

    def subscribe(self, resource, event="dialog", expires=600, headers=()):
        """SUBSCRIBE to sip:resource@domain. Returns the Subscription; its `response` is the
        final answer (after a challenge, the one to the request with credentials)."""
        sub = self.new_dialog(Subscription, self.aor(resource))
        sub.event = event
        accept = {"presence": "application/pidf+xml",
                  "message-summary": "application/simple-message-summary"}.get(
                      event, "application/dialog-info+xml")
        t = self.authenticated(sub, "SUBSCRIBE", self.aor(resource),
                               [("Event", event), ("Expires", str(expires)), ("Accept", accept),
                                ("Contact", self.contact())] + list(headers))
        sub.response = t.wait_final()
        if sub.response.status < 300:
            sub.update(sub.response)
        return sub

    def invite(self, uri, headers=(), to_uri=None):
        """INVITE `uri` (To: `to_uri`, default `uri`) with an SDP offer; returns the Call once
        a provisional or final response came (after a 407, to the request with credentials)."""
        call = self.new_dialog(Call, to_uri or uri)
        call.invite = self.authenticated(call, "INVITE", uri,
                                         [("Contact", self.contact())] + list(headers),
                                         self.sdp(), "application/sdp")
        call.invite.wait(lambda r: r.status >= 180, timeout=GIVE_UP + 1)
        return call

    # ---- receiving ----

    def respond(self, request, status, to_tag=None, headers=(), body="", content_type=None,
                reliable=False):
        lines = [f"SIP/2.0 {status} {REASONS.get(status, 'Response')}"]
        for key, value in request.headers:
            if key == "to" and to_tag and not param(value, "tag"):
                value += f";tag={to_tag}"
            if key in COPIED:
                lines.append(f"{COPIED[key]}: {value}")
        if request.method in ("INVITE", "SUBSCRIBE") and status < 300:
            lines.append(f"Contact: {self.contact()}")
        lines += [f"{k}: {v}" for k, v in headers]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines += [f"Content-Length: {len(body.encode())}", "", body]
        text = "\r\n".join(lines)
        with self.lock:
            self.answered.setdefault((request.branch(), request.method), []).append(text)
            if reliable:
                self.reliable[request.branch()] = [text, time.monotonic() + T1, T1,
                                                   request.get("call-id")]
        self.send(text)

    def _run(self):
        while not self.closed:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                data = None
            except OSError:
                return
            if data and data.strip():
                try:
                    message = Message.parse(data)
                except (IndexError, ValueError):
                    continue
                with self.lock:
                    if message.is_response:
                        self._on_response(message)
                    else:
                        self._on_request(message)
                    self.lock.notify_all()
            with self.lock:
                self._tick()

    def _tick(self):
        now = time.monotonic()
        for t in list(self.transactions.values()):
            if t.final is None and now > t.give_up:
                self.lock.notify_all()
            elif t.final is None and now >= t.next_send and not (
                    t.method == "INVITE" and t.responses):
                self.sock.sendto(t.text.encode(), self.server)
                t.interval = t.interval * 2 if t.method == "INVITE" else min(t.interval * 2, T2)
                t.next_send = now + t.interval
        for entry in self.reliable.values():
            if now >= entry[1]:
                self.sock.sendto(entry[0].encode(), self.server)
                entry[2] = min(entry[2] * 2, T2)
                entry[1] = now + entry[2]

    def _on_response(self, response):
        t = self.transactions.get((response.branch(), response.cseq()[1]))
        if t is None:
            return
        if t.final is not None and response.status >= 200:
            if t.ack and response.tag("to") == t.final.tag("to"):
                self.sock.sendto(t.ack.encode(), self.server)  # a retransmitted final
            return
        t.responses.append(response)
        if response.status < 200:
            return
        t.final = response
        dialog = self.dialogs.get((response.get("call-id"), response.tag("from")))
        if t.method == "INVITE":
            t.ack = self._ack(t, response, dialog)
            self.sock.sendto(t.ack.encode(), self.server)

    def _ack(self, t, response, dialog):
        """RFC 3261 §17.1.1.3 (non-2xx: same branch, same Request-URI) or §13.2.2.4 (2xx:
        a new transaction to the remote target)."""
        number = response.cseq()[0]
        if response.status >= 300 or dialog is None:
            uri, branch = t.text.split(" ")[1], t.branch
        else:
            dialog.update(response)
            uri, branch = dialog.remote_target, "z9hG4bK" + new_token()
        return "\r\n".join([
            f"ACK {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.address}:{self.port};branch={branch};rport",
            "Max-Forwards: 70", f"From: {response.get('from')}", f"To: {response.get('to')}",
            f"Call-ID: {response.get('call-id')}", f"CSeq: {number} ACK", "Content-Length: 0",
            "", ""])

    def _on_request(self, request):
        key = (request.branch(), request.method)
        if key in self.answered and request.method != "ACK":
            for text in self.answered[key]:  # a retransmission: answer as before
                self.sock.sendto(text.encode(), self.server)
            return
        method, call_id = request.method, request.get("call-id")
        dialog = self.dialogs.get((call_id, request.tag("to"))) or \
            self.dialogs.get((call_id, ""))
        if method == "ACK":
            if dialog is not None:
                dialog.acks.append(request)
            self.reliable.pop(request.branch(), None)
            for branch, entry in list(self.reliable.items()):
                if entry[3] == call_id:  # the ACK of a 2xx has a branch of its own
                    self.reliable.pop(branch)
            return
        if dialog is not None and method != "INVITE":
            dialog.requests.append(request)
        if method == "NOTIFY" and dialog is None and \
                request.get("event", "").startswith("message-summary"):
            self.unsolicited.append(request)  # a message-waiting lamp without a subscription
            self.respond(request, 200)
        elif method == "NOTIFY":
            if dialog is not None:
                dialog.update(request)
            status = self.notify_status if dialog is None or dialog.notify_status is None \
                else dialog.notify_status
            self.respond(request, status if dialog is not None else 481)
        elif method == "INVITE" and dialog is None:
            self._on_invite(request)
        elif method == "INVITE":  # a re-INVITE: answered 200 as RFC 3264 §6.1 wants (hold)
            dialog.requests.append(request)
            self.respond(request, 200, to_tag=dialog.local_tag, body=self.answer_sdp(request.body),
                         content_type="application/sdp", reliable=True)
        elif method == "UPDATE" and dialog is not None:  # RFC 3311: 200, an answer to an offer
            offer = request.body if request.get("content-type", "").startswith("application/sdp") \
                else ""
            self.respond(request, 200, to_tag=dialog.local_tag,
                         body=self.answer_sdp(offer) if offer else "",
                         content_type="application/sdp" if offer else None)
        elif method == "CANCEL" and isinstance(dialog, Call) and dialog.received is not None:
            dialog.cancel_request = request
            self.respond(request, 200)
            if dialog.final_status == 0:
                dialog.final_status = 487
                self.respond(dialog.received, 487, to_tag=dialog.local_tag, reliable=True)
        elif method in ("BYE", "CANCEL"):
            self.respond(request, 200 if dialog is not None else 481)
        elif method == "OPTIONS":
            self.respond(request, 200)
        else:
            self.respond(request, 405,
                         headers=[("Allow", "INVITE, ACK, CANCEL, BYE, NOTIFY, UPDATE")])

    def _on_invite(self, request):
        """Phone role: a new call rings here."""
        call = Call(self, request.get("call-id"), uri_of(request.get("to")),
                    uri_of(request.get("from")), new_token())
        call.remote_tag = request.tag("from")
        call.remote_target = uri_of(request.get("contact", request.get("from")))
        call.received = request
        self.dialogs[(call.call_id, "")] = call
        self.dialogs[(call.call_id, call.local_tag)] = call
        self.incoming.append(call)
        if isinstance(self.invite_mode, int):
            call.final_status = self.invite_mode
            self.respond(request, self.invite_mode, to_tag=call.local_tag, reliable=True)
            return
        self.respond(request, 180, to_tag=call.local_tag)
        if self.invite_mode == "answer":
            call.final_status = 200
            self.respond(request, 200, to_tag=call.local_tag, body=self.sdp(),
                         content_type="application/sdp", reliable=True)

    def wait_incoming(self, count=1, timeout=5.0):
        """The `count`-th call rung here, once it arrived; None if it did not."""
        with self.lock:
            self.lock.wait_for(lambda: len(self.incoming) >= count, timeout)
            return self.incoming[count - 1] if len(self.incoming) >= count else None

    def close(self):
        self.closed = True
        self.thread.join(timeout=2)
        self.sock.close()
