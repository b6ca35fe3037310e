"""A throw-away Dovecot (Debian's dovecot-imapd) on a random loopback port.

Used by refresh_expected.py and tests/e2e/test_mime_dovecot.py (the name
is not "dovecot" because tests/e2e/dovecot.py exists): the given
message files are put into a fresh Maildir (UIDs pinned in order through
dovecot-uidlist), Dovecot is started with its own config in a temporary
directory, and `FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE)` is read back with
imaplib.  The values are returned exactly as Dovecot wrote them (literals
included), so they can be compared byte for byte with mime_parse().
Python stdlib only.
"""

import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOVECOT_PATHS = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
USER = "mime"
PASSWORD = "mime-test"
FIELDS = (b"ENVELOPE", b"BODY", b"BODYSTRUCTURE")


def find_dovecot():
    """Path of the dovecot binary, or None if it is not installed."""
    for path in DOVECOT_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("dovecot")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accounts():
    """(mail user, login user, internal user): unprivileged when root."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, me, me
    return "nobody", "dovenull", "dovecot"


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
info_log_path = {tmp}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = {login}
default_internal_user = {internal}
first_valid_uid = 1
mail_location = maildir:{tmp}/Maildir
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""


class Dovecot:
    """Context manager: a running throw-away Dovecot holding `messages`."""

    def __init__(self, messages):
        self.messages = messages          # list of bytes
        self.binary = find_dovecot()
        self.tmp = None
        self.proc = None
        self.port = None

    def __enter__(self):
        if self.binary is None:
            raise RuntimeError("dovecot is not installed")
        self.tmp = tempfile.mkdtemp(prefix="postroom-dovecot-")
        os.chmod(self.tmp, 0o755)
        user, login, internal = _accounts()
        pw = pwd.getpwnam(user)
        self._make_maildir()
        for d in ("run", "state", "home"):
            os.makedirs(os.path.join(self.tmp, d), exist_ok=True)
        for root, dirs, files in os.walk(self.tmp):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)
        os.chown(os.path.join(self.tmp, "run"), 0 if os.geteuid() == 0
                 else pw.pw_uid, -1)
        self.port = _free_port()
        conf = os.path.join(self.tmp, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(CONFIG.format(tmp=self.tmp, login=login,
                                  internal=internal, uid=pw.pw_uid,
                                  gid=pw.pw_gid, password=PASSWORD,
                                  port=self.port))
        self.proc = subprocess.Popen([self.binary, "-F", "-c", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self._wait_listening()
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def _make_maildir(self):
        md = os.path.join(self.tmp, "Maildir")
        for d in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, d))
        names = []
        for i, data in enumerate(self.messages):
            # the time prefix orders them even without the uidlist
            name = "%d.M%dP1.postroom-test:2," % (1000000000 + i, i)
            with open(os.path.join(md, "cur", name), "wb") as f:
                f.write(data)
            names.append(name)
        with open(os.path.join(md, "dovecot-uidlist"), "w") as f:
            f.write("3 V1 N%d\n" % (len(names) + 1))
            for uid, name in enumerate(names, 1):
                f.write("%d :%s\n" % (uid, name))

    def _wait_listening(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s" % self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start: %s" % self.log())

    def log(self):
        try:
            with open(os.path.join(self.tmp, "dovecot.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def session(self):
        """A logged-in imaplib.IMAP4 with INBOX selected read-only."""
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        imap.login(USER, PASSWORD)
        imap.select("INBOX", readonly=True)
        return imap

    def fetch(self):
        """[{b"ENVELOPE": ..., b"BODY": ..., b"BODYSTRUCTURE": ...}] by UID."""
        imap = self.session()
        try:
            return [fetch_raw(imap, uid, "ENVELOPE BODY BODYSTRUCTURE")
                    for uid in range(1, len(self.messages) + 1)]
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
