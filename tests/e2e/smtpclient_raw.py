"""A raw-socket SMTP client for tests that must send what smtplib never would.

    c = RawSMTP(port)                 # reads the greeting into c.greeting
    r = c.cmd('EHLO x')               # Reply(code=250, lines=[...])
    c.send(b'RSET\\r\\nNOOP\\r\\n'); c.replies(2)
    c.starttls()                      # after a 220, wraps the socket
    c.closed()                        # True once the server has closed

Also: the skip helpers every SMTP test file uses (binary present?) and
send_ok(), a well-behaved parallel session that must get its message through.
Python stdlib only.
"""

import os
import re
import shutil
import smtplib
import socket
import ssl

from harness import Postroom, build_dir

ENHANCED = re.compile(r'^([245])\.(\d{1,3})\.(\d{1,3})\b')


def have_built(*names):
    """All of build/<name> exist as executable files (not the object directories)."""
    for n in names:
        p = os.path.join(build_dir(), n)
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            return False
    return True


def have_tool(*names):
    return all(shutil.which(n) for n in names)


class Reply:
    """One SMTP reply: code (int), lines (text after the code), the enhanced code or None."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        return '\n'.join(self.lines)

    @property
    def enhanced(self):
        m = ENHANCED.match(self.lines[0]) if self.lines else None
        return m.group(0) if m else None

    def __repr__(self):
        return 'Reply(%d, %r)' % (self.code, self.lines[:3] + (['...'] if len(self.lines) > 3 else []))


class ProtocolError(AssertionError):
    pass


class RawSMTP:
    def __init__(self, port, host='127.0.0.1', tls=False, timeout=10.0, greet=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        if tls:
            self.sock = Postroom.ssl_context().wrap_socket(self.sock)
        self.buf = b''
        self.eof = False
        self.greeting = self.reply() if greet else None

    # ---- bytes ----

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        """Read more bytes; False on EOF or reset (the server closed)."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            data = b''
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def line(self, timeout=None):
        """One reply line without CRLF; None on EOF."""
        while b'\r\n' not in self.buf:
            if self.eof or not self._fill(timeout):
                return None
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    # ---- replies ----

    def reply(self, timeout=None):
        """The next (possibly multi-line) reply; raises on EOF or a malformed line."""
        lines = []
        while True:
            line = self.line(timeout)
            if line is None:
                raise ProtocolError('connection closed while waiting for a reply (got %r so far)'
                                    % lines)
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3:4] not in b' -'):
                raise ProtocolError('malformed reply line %r' % line)
            code = int(line[:3])
            lines.append(line[4:].decode('utf-8', 'replace'))
            if len(line) == 3 or line[3:4] == b' ':
                return Reply(code, lines)

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line, timeout=None):
        self.send(line.encode() + b'\r\n' if isinstance(line, str) else line + b'\r\n')
        return self.reply(timeout)

    def pending(self, wait=0.5):
        """Bytes that arrive within `wait` seconds when nothing was asked (b'' if none)."""
        if not self.buf and not self.eof:
            try:
                self._fill(wait)
            except socket.timeout:
                pass
        data, self.buf = self.buf, b''
        return data

    def closed(self, wait=5.0):
        """True if the server closes the connection within `wait` seconds (data before is kept)."""
        try:
            while not self.eof:
                if not self._fill(wait):
                    return True
        except socket.timeout:
            return False
        return True

    def starttls(self):
        """STARTTLS was answered 220: wrap the socket.  Bytes already buffered are an error."""
        if self.buf:
            raise ProtocolError('plaintext bytes after the 220 to STARTTLS: %r' % self.buf[:200])
        self.sock.settimeout(self.timeout)
        self.sock = Postroom.ssl_context().wrap_socket(self.sock)

    def ehlo(self, name='client.example.net'):
        r = self.cmd('EHLO ' + name)
        if r.code != 250:
            raise ProtocolError('EHLO: %r' % r)
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def send_ok(testcase, port, rcpt='alice@example.test', body=b'parallel session\r\n', timeout=10):
    """A well-behaved session on `port` delivers one message: every reply as expected."""
    with smtplib.SMTP('127.0.0.1', port, timeout=timeout) as s:
        s.ehlo('parallel.example.net')
        code, msg = s.mail('someone@remote.test')
        testcase.assertEqual(code, 250, msg)
        code, msg = s.rcpt(rcpt)
        testcase.assertEqual(code, 250, msg)
        code, msg = s.data(b'Subject: parallel\r\n\r\n' + body)
        testcase.assertEqual(code, 250, msg)
