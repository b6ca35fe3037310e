"""FETCH ENVELOPE/BODY/BODYSTRUCTURE from the throw-away Dovecot, byte exact.

Used by refresh_expected.py and tests/e2e/test_mime_dovecot.py with
tests/e2e/dovecot.py: load() puts the given messages into one user's Maildir
(UIDs pinned in order), fetch() reads `FETCH n (ENVELOPE BODY BODYSTRUCTURE)`
back with imaplib.  The values are returned exactly as Dovecot wrote them
(literals included), so they can be compared byte for byte with
mime_parse().  Python stdlib only.
"""

import imaplib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "e2e"))
from dovecot import Dovecot  # noqa: E402,F401  (tests/e2e/dovecot.py)

USER = "mime@example.test"
PASSWORD = "mime-test"
USERS = {USER: PASSWORD}
FIELDS = (b"ENVELOPE", b"BODY", b"BODYSTRUCTURE")


def load(dc, messages):
    """Every message into USER's cur/, UIDs 1..n in list order."""
    names = []
    for i, data in enumerate(messages):
        # the time prefix orders them even without the uidlist
        name = "%d.M%dP1.postroom-test:2," % (1000000000 + i, i)
        dc.deliver(USER, data, name, sub="cur")
        names.append(name)
    dc.pin_uids(USER, names)


def session(dc):
    """A logged-in imaplib.IMAP4 with INBOX selected read-only."""
    imap = imaplib.IMAP4("127.0.0.1", dc.port("imap"))
    imap.login(USER, PASSWORD)
    imap.select("INBOX", readonly=True)
    return imap


def fetch(dc, count):
    """[{b"ENVELOPE": ..., b"BODY": ..., b"BODYSTRUCTURE": ...}] for UIDs 1..count."""
    imap = session(dc)
    try:
        return [fetch_raw(imap, uid, "ENVELOPE BODY BODYSTRUCTURE")
                for uid in range(1, count + 1)]
    finally:
        imap.logout()


def fetch_raw(imap, uid, items):
    """{item name: value bytes exactly as sent} for UID FETCH uid (items)."""
    typ, data = imap.uid("FETCH", str(uid), "(%s)" % items)
    if typ != "OK" or not data or data[0] is None:
        raise RuntimeError("FETCH %d (%s): %r" % (uid, items, data))
    return parse_fetch(raw_response(data))


def string_value(raw):
    """The bytes an IMAP nstring stands for (literal, quoted or NIL)."""
    if raw.startswith(b"{"):
        return raw[raw.index(b"}") + 3:]
    if raw.startswith(b'"'):
        out, i = b"", 1
        while raw[i:i + 1] != b'"':
            if raw[i:i + 1] == b"\\":
                i += 1
            out += raw[i:i + 1]
            i += 1
        return out
    return b""                        # NIL


def raw_response(data):
    """Rebuild the untagged FETCH line (literals inline) from imaplib's list."""
    raw = b""
    for item in data:
        if isinstance(item, tuple):
            raw += item[0] + b"\r\n" + item[1]
        elif item is not None:
            raw += item
    return raw


def _skip_value(raw, i):
    """Index just past the IMAP value (atom, string, literal, list) at i."""
    c = raw[i:i + 1]
    if c == b"(":
        depth = 0
        while True:
            c = raw[i:i + 1]
            if c == b"(":
                depth += 1
                i += 1
            elif c == b")":
                depth -= 1
                i += 1
                if depth == 0:
                    return i
            elif c in (b'"', b"{"):
                i = _skip_value(raw, i)
            elif c == b"":
                raise ValueError("unterminated list")
            else:
                i += 1
    if c == b'"':
        i += 1
        while raw[i:i + 1] != b'"':
            i += 2 if raw[i:i + 1] == b"\\" else 1
            if i >= len(raw):
                raise ValueError("unterminated string")
        return i + 1
    if c == b"{":
        close = raw.index(b"}", i)
        n = int(raw[i + 1:close])
        return close + 3 + n          # "}\r\n" then n bytes
    while i < len(raw) and raw[i:i + 1] not in (b" ", b")"):
        i += 1
    return i


def parse_fetch(raw):
    """{field: value bytes} from "* n FETCH (UID u ENVELOPE (...) ...)"."""
    start = raw.index(b"(")
    i = start + 1
    out = {}
    while i < len(raw) and raw[i:i + 1] != b")":
        if raw[i:i + 1] == b" ":
            i += 1
            continue
        sp = raw.index(b" ", i)
        name = raw[i:sp].upper()
        end = _skip_value(raw, sp + 1)
        out[name] = raw[sp + 1:end]
        i = end
    return out


def expected_text(values):
    """The expected-file form the C test compares with, byte for byte."""
    return b"".join(f + b" " + values[f] + b"\n" for f in FIELDS)
