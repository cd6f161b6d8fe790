"""The SIP pieces the Python user agents of the load scripts share: parsing a message, building
requests and responses, answering a digest challenge. Standard library only; not a bench itself
(bench/run.py runs only load_*.py)."""

from __future__ import annotations

import hashlib
import re
import secrets

from loopback import LOOPBACK

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "k": "supported", "e": "content-encoding",
           "s": "subject"}


class Message:
    """One parsed SIP message: the start line, headers by lower-case name (in order), the body."""

    __slots__ = ("method", "uri", "status", "headers", "body")

    def __init__(self, data: bytes):
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        first = lines[0].split(" ", 2)
        if first[0].startswith("SIP/"):
            self.method, self.uri, self.status = None, None, int(first[1])
        else:
            self.method, self.uri, self.status = first[0], first[1], None
        headers: dict[str, list[str]] = {}
        last = None
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and last is not None:
                headers[last][-1] += " " + line.strip()
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            name = COMPACT.get(name, name)
            headers.setdefault(name, []).append(value.strip())
            last = name
        self.headers = headers
        self.body = body.decode("utf-8", "replace")

    def get(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self.headers.get(name, [])

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.get("cseq") or "0 ?").partition(" ")
        return int(number), method.strip()


def tag_of(value: str | None) -> str | None:
    found = re.search(r";\s*tag=([^;>\s]+)", value or "")
    return found.group(1) if found else None


def user_of(value: str | None) -> str | None:
    found = re.search(r"sips?:([^@;>]+)@", value or "")
    return found.group(1) if found else None


def uri_of(value: str | None) -> str | None:
    if not value:
        return None
    if "<" in value:
        return value.split("<", 1)[1].split(">", 1)[0]
    return value.split(";", 1)[0].strip()


def token() -> str:
    return secrets.token_hex(8)


def sdp(session: int, port: int) -> str:
    return ("v=0\r\n"
            f"o=- {session} 1 IN IP4 {LOOPBACK}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {LOOPBACK}\r\n"
            "t=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=sendrecv\r\n")


def request(method: str, uri: str, headers: list[str], body: str = "",
            content_type: str = "application/sdp") -> bytes:
    lines = [f"{method} {uri} SIP/2.0", *headers, "Max-Forwards: 70"]
    if body:
        lines.append(f"Content-Type: {content_type}")
    encoded = body.encode()
    lines.append(f"Content-Length: {len(encoded)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + encoded


def response(to: Message, status: int, reason: str, to_tag: str | None = None,
             extra: tuple[str, ...] = (), body: str = "",
             content_type: str = "application/sdp") -> bytes:
    """A response to `to` (RFC 3261 §8.2.6.2): its Vias, From, Call-ID and CSeq; its To with
    `to_tag` added when it has none; `body` (of `content_type`) when one is given."""
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in to.all("via")]
    lines.append(f"From: {to.get('from')}")
    to_value = to.get("to") or ""
    if to_tag and tag_of(to_value) is None:
        to_value += f";tag={to_tag}"
    lines.append(f"To: {to_value}")
    lines.append(f"Call-ID: {to.call_id}")
    lines.append(f"CSeq: {to.get('cseq')}")
    lines += list(extra)
    if body:
        lines.append(f"Content-Type: {content_type}")
    encoded = body.encode()
    lines.append(f"Content-Length: {len(encoded)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + encoded


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def challenge_params(message: Message, header: str) -> dict[str, str] | None:
    """The parameters of the MD5 digest challenge in `header` (the server offers one challenge
    per algorithm); None when there is none."""
    for value in message.all(header):
        if not value.lower().startswith("digest"):
            continue
        params = {key.lower(): quoted if quoted else bare for key, quoted, bare in
                  re.findall(r'([\w-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', value[6:])}
        if params.get("algorithm", "MD5").upper() == "MD5":
            return params
    return None


def credentials(params: dict[str, str], user: str, password: str, method: str,
                uri: str) -> str:
    """RFC 2617 / RFC 7616 digest answer, MD5, qop=auth, nonce-count 1 (a fresh nonce)."""
    nc, cnonce = "00000001", token()
    ha1 = md5(f"{user}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{uri}")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        answer = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        answer = md5(f"{ha1}:{params['nonce']}:{ha2}")
        extra = ""
    opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
    return (f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{uri}", response="{answer}", algorithm=MD5{extra}{opaque}')
