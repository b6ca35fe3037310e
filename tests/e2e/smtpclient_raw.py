"""The one raw-socket SMTP client, for tests that must send what smtplib never would.

    c = RawSMTP(port)                 # reads the greeting into c.greeting
    r = c.cmd('EHLO x')               # Reply(code=250, lines=[...]); r.raw: the bytes
    c.send(b'RSET\\r\\nNOOP\\r\\n'); c.replies(2)
    c.starttls()                      # after a 220, wraps the socket
    c.closed()                        # True once the server has closed
    c.rest()                          # every byte until the server closes

Also send_ok(), a well-behaved parallel session that must get its message
through.  Python stdlib only.
"""

import re
import smtplib
import socket
import ssl

from harness import Postroom

ENHANCED = re.compile(r'^([245])\.(\d{1,3})\.(\d{1,3})\b')


class Reply:
    """One SMTP reply: code (int), lines (text after the code), the enhanced code
    or None, raw (the reply's bytes as sent, CRLFs included)."""

    def __init__(self, code, lines, raw=b''):
        self.code = code
        self.lines = lines
        self.raw = raw

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
        raw = b''
        while True:
            line = self.line(timeout)
            if line is None:
                raise ProtocolError('connection closed while waiting for a reply (got %r so far)'
                                    % lines)
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3:4] not in b' -'):
                raise ProtocolError('malformed reply line %r' % line)
            code = int(line[:3])
            lines.append(line[4:].decode('utf-8', 'replace'))
            raw += line + b'\r\n'
            if len(line) == 3 or line[3:4] == b' ':
                return Reply(code, lines, raw)

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line, timeout=None):
        self.send(line.encode() + b'\r\n' if isinstance(line, str) else line + b'\r\n')
        return self.reply(timeout)

    def closed(self, wait=5.0):
        """True if the server closes the connection within `wait` seconds (data before is kept)."""
        try:
            while not self.eof:
                if not self._fill(wait):
                    return True
        except socket.timeout:
            return False
        return True

    def rest(self, wait=10.0):
        """Every byte (buffered or still to come) until the server closes; fails
        if it has not closed within `wait` seconds."""
        if not self.closed(wait):
            raise ProtocolError('connection still open after %.0f s (got %r)'
                                % (wait, self.buf[:300]))
        data, self.buf = self.buf, b''
        return data

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
