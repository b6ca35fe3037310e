"""smtpd against hostile clients: each case asserts the reply and that the same
connection (or a parallel session) still works afterwards."""

import base64
import smtplib
import socket
import ssl
import threading
import time
import unittest

from harness import Postroom

ALICE = ('alice@example.test', 'alice-pw')
AUTH_PLAIN = b'AUTH PLAIN ' + base64.b64encode(b'\0alice@example.test\0alice-pw')


class Raw:
    """A bare SMTP client over a socket: send bytes, read whole replies."""

    def __init__(self, port, timeout=15):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.buf = b''
        self.greeting = self.reply()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while b'\n' not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError('connection closed; buffered %r' % self.buf[:200])
            self.buf += d
        line, self.buf = self.buf.split(b'\n', 1)
        return line + b'\n'

    def reply(self):
        """One (possibly multi-line) reply, as bytes."""
        out = b''
        while True:
            line = self._line()
            out += line
            if line[3:4] != b'-':
                return out

    def cmd(self, line):
        self.send(line + b'\r\n')
        return self.reply()

    def rest(self):
        """Everything until the server closes."""
        out = self.buf
        self.buf = b''
        while True:
            d = self.sock.recv(65536)
            if not d:
                return out
            out += d

    def starttls(self):
        self.sock = Postroom.ssl_context().wrap_socket(self.sock)


class HostileCase(unittest.TestCase):
    config = {'smtpd.max_message_size': '1M', 'smtpd.idle_timeout': '2s',
              'max_connections_per_ip': '200', 'auth_fail_delay': '0'}

    def setUp(self):
        self.pr = Postroom(daemons=('smtpd',), config=self.config)
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)
        self.mx = self.pr.port('smtpd.mx_listen')

    def raw(self, port=None):
        r = Raw(port or self.mx)
        self.addCleanup(r.close)
        self.assertTrue(r.greeting.startswith(b'220 '))
        return r

    def parallel_delivery_works(self, tag):
        before = len(self.pr.messages('bob@example.test'))
        with smtplib.SMTP('127.0.0.1', self.mx, timeout=10) as s:
            s.sendmail('x@remote.test', ['bob@example.test'], 'Subject: %s\r\n\r\nok\r\n' % tag)
        Postroom.wait_for(lambda: len(self.pr.messages('bob@example.test')) == before + 1)

    def transaction(self, r):
        self.assertTrue(r.cmd(b'EHLO hostile.test').startswith(b'250-'))
        self.assertEqual(r.cmd(b'MAIL FROM:<x@remote.test>'), b'250 2.1.0 Ok\r\n')
        self.assertEqual(r.cmd(b'RCPT TO:<alice@example.test>'), b'250 2.1.5 Ok\r\n')


class Hostile(HostileCase):
    def test_one_megabyte_line(self):
        r = self.raw()
        r.send(b'A' * (1024 * 1024) + b'\r\n')
        self.assertEqual(r.reply(), b'500 5.5.2 Error: line too long\r\n')
        self.assertEqual(r.cmd(b'NOOP'), b'250 2.0.0 Ok\r\n')
        self.parallel_delivery_works('after long line')

    def test_ten_thousand_recipients(self):
        r = self.raw()
        self.assertTrue(r.cmd(b'EHLO a').startswith(b'250-'))
        self.assertEqual(r.cmd(b'MAIL FROM:<x@remote.test>'), b'250 2.1.0 Ok\r\n')
        # Pipelined: a sender thread, replies read here (no deadlock on full buffers).
        t = threading.Thread(target=r.send, args=(b'RCPT TO:<alice@example.test>\r\n' * 10000,))
        t.start()
        replies = [r.reply() for _ in range(10000)]
        t.join()
        self.assertEqual(replies.count(b'250 2.1.5 Ok\r\n'), 100)
        self.assertEqual(replies.count(b'452 4.5.3 Error: too many recipients\r\n'), 9900)
        self.assertEqual(r.cmd(b'DATA')[:3], b'354')
        self.assertTrue(r.cmd(b'Subject: many\r\n\r\nx\r\n.').startswith(b'250 2.0.0 Ok: queued'))
        self.assertEqual(len(Postroom.wait_for(lambda: self.pr.messages('alice@example.test'))), 1)

    def test_oversize_message(self):
        r = self.raw()
        self.transaction(r)
        self.assertEqual(r.cmd(b'DATA')[:3], b'354')
        line = b'x' * 998 + b'\r\n'
        r.send(line * 1600)            # 1.6 MB, over the 1 MB limit
        r.send(b'.\r\n')
        self.assertEqual(r.reply(), b'552 5.3.4 Message size exceeds fixed limit\r\n')
        self.assertEqual(r.cmd(b'MAIL FROM:<x@remote.test> SIZE=2000000'),
                         b'552 5.3.4 Message size exceeds fixed limit\r\n')
        self.assertEqual(r.cmd(b'MAIL FROM:<x@remote.test>'), b'250 2.1.0 Ok\r\n')
        self.assertEqual(self.pr.messages('alice@example.test'), [])

    def test_nul_bytes(self):
        r = self.raw()
        self.assertEqual(r.cmd(b'NO\0OP'), b'500 5.5.2 Error: NUL character in command\r\n')
        self.assertEqual(r.cmd(b'NOOP'), b'250 2.0.0 Ok\r\n')

    def test_bad_base64_auth(self):
        r = self.raw()
        r.cmd(b'EHLO a')
        self.assertEqual(r.cmd(b'AUTH PLAIN !!!not*base64'), b'501 5.5.2 Cannot decode response\r\n')
        self.assertEqual(r.cmd(b'AUTH LOGIN'), b'334 VXNlcm5hbWU6\r\n')
        self.assertEqual(r.cmd(b'%%%'), b'501 5.5.2 Cannot decode response\r\n')
        self.assertEqual(r.cmd(AUTH_PLAIN), b'235 2.7.0 Authentication successful\r\n')

    def test_commands_after_421(self):
        r = self.raw()
        r.send(b'BOGUS\r\n' * 10 + b'NOOP\r\nEHLO a\r\n')
        rest = r.rest()
        self.assertEqual(rest.count(b'500 5.5.2 Error: command not recognized\r\n'), 10)
        self.assertTrue(rest.endswith(b'421 4.7.0 mail.example.test Error: too many errors\r\n'),
                        rest)
        self.parallel_delivery_works('after 421')

    def test_garbage_before_ehlo(self):
        r = self.raw()
        # A TLS ClientHello on the plaintext port, then binary junk.
        r.send(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xff\xfe\r\n')
        self.assertEqual(r.reply(), b'500 5.5.2 Error: NUL character in command\r\n')
        r.send(b'\xff\xfe\x80junk junk\r\n')
        self.assertEqual(r.reply(), b'500 5.5.2 Error: command not recognized\r\n')
        self.assertEqual(r.cmd(b'MAIL FROM:<a@b.test>'),
                         b'503 5.5.1 Error: send HELO/EHLO first\r\n')
        self.transaction(r)

    def test_half_command_then_stall(self):
        r = self.raw()
        r.send(b'MAIL FR')
        start = time.monotonic()
        self.parallel_delivery_works('during stall')
        self.assertEqual(r.rest(), b'421 4.4.2 mail.example.test Error: timeout exceeded\r\n')
        self.assertGreater(time.monotonic() - start, 1.0)

    def test_starttls_discards_pipelined_plaintext(self):
        r = self.raw()
        r.cmd(b'EHLO a')
        r.send(b'STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<alice@example.test>\r\n')
        self.assertEqual(r.reply(), b'220 2.0.0 Ready to start TLS\r\n')
        r.starttls()
        ehlo = r.cmd(b'EHLO a')
        self.assertNotIn(b'STARTTLS', ehlo)
        # The injected MAIL was thrown away with the plaintext buffer.
        self.assertEqual(r.cmd(b'RCPT TO:<alice@example.test>'),
                         b'503 5.5.1 Error: need MAIL command\r\n')

    def test_relay_attempt_without_auth(self):
        r = self.raw()
        r.cmd(b'EHLO a')
        r.cmd(b'MAIL FROM:<x@remote.test>')
        self.assertEqual(r.cmd(b'RCPT TO:<victim@elsewhere.test>'),
                         b'554 5.7.1 <victim@elsewhere.test>: Relay access denied\r\n')
        self.assertEqual(r.cmd(b'RCPT TO:<nobody@example.test>'),
                         b'550 5.1.1 <nobody@example.test>: Recipient address rejected:'
                         b' User unknown\r\n')
        self.assertEqual(r.cmd(b'RCPT TO:<alice@example.test>'), b'250 2.1.5 Ok\r\n')

    def test_smuggling_forms(self):
        forms = [b'\n.\n', b'\n.\r\n', b'\r.\r', b'\r\n.\n', b'\r\n.\r', b'\r.\r\n',
                 b'\n..\r\n', b'\r\n.\r\r\n']
        for i, form in enumerate(forms):
            r = self.raw()
            self.transaction(r)
            self.assertEqual(r.cmd(b'DATA')[:3], b'354')
            r.send(b'Subject: first %d\r\n\r\nbody' % i + form +
                   b'MAIL FROM:<evil@x.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n'
                   b'Subject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n')
            rest = r.rest()
            self.assertEqual(rest.count(b'queued as'), 1, (form, rest))
            self.assertTrue(rest.endswith(b'221 2.0.0 Bye\r\n'), rest)
        self.assertEqual(self.pr.messages('bob@example.test'), [])
        msgs = self.pr.messages('alice@example.test')
        self.assertEqual(len(msgs), len(forms))
        for m in msgs:
            self.assertIn(b'Subject: smuggled', m)     # it stayed message text

    def test_bare_lf_commands_and_pipelining(self):
        r = self.raw()
        r.send(b'EHLO a\nMAIL FROM:<x@remote.test>\nRCPT TO:<alice@example.test>\nDATA\n')
        for expect in (b'250', b'250', b'250', b'354'):
            self.assertEqual(r.reply()[:3], expect)
        self.assertTrue(r.cmd(b'hi\r\n.').startswith(b'250 2.0.0 Ok: queued as '))


class Shutdown(HostileCase):
    def test_sigterm_closes_idle_sessions_politely(self):
        idle = self.raw()
        idle.cmd(b'EHLO a')
        busy = self.raw()
        self.transaction(busy)
        self.assertEqual(busy.cmd(b'DATA')[:3], b'354')
        busy.send(b'Subject: in flight\r\n\r\n')
        stopper = threading.Thread(target=self.pr.stop, args=('smtpd',))
        stopper.start()
        self.assertEqual(idle.rest(), b'421 4.3.2 mail.example.test Service shutting down\r\n')
        # The message being sent is finished and answered before the farewell.
        reply = busy.cmd(b'body\r\n.')
        self.assertTrue(reply.startswith(b'250 2.0.0 Ok: queued as '), reply)
        self.assertEqual(busy.rest(), b'421 4.3.2 mail.example.test Service shutting down\r\n')
        stopper.join()
        self.assertEqual(len(self.pr.messages('alice@example.test')), 1)


class NoPlaintextAuth(HostileCase):
    config = dict(HostileCase.config, plaintext_auth_loopback='no')

    def test_auth_before_starttls_refused(self):
        r = self.raw(self.pr.port('smtpd.submission_listen'))
        ehlo = r.cmd(b'EHLO a')
        self.assertIn(b'250-STARTTLS', ehlo)
        self.assertNotIn(b'AUTH', ehlo)
        self.assertEqual(r.cmd(AUTH_PLAIN), b'538 5.7.11 Encryption required for requested'
                         b' authentication mechanism\r\n')
        self.assertEqual(r.cmd(b'MAIL FROM:<alice@example.test>'),
                         b'530 5.7.0 Authentication required\r\n')
        self.assertEqual(r.cmd(b'STARTTLS'), b'220 2.0.0 Ready to start TLS\r\n')
        r.starttls()
        self.assertIn(b'250-AUTH PLAIN LOGIN', r.cmd(b'EHLO a'))
        self.assertEqual(r.cmd(AUTH_PLAIN), b'235 2.7.0 Authentication successful\r\n')
        self.assertEqual(r.cmd(b'MAIL FROM:<alice@example.test>'), b'250 2.1.0 Ok\r\n')


class BareLfReject(HostileCase):
    config = dict(HostileCase.config, **{'smtpd.bare_lf': 'reject'})

    def test_bare_lf_in_data_rejected(self):
        r = self.raw()
        self.transaction(r)
        r.cmd(b'DATA')
        self.assertEqual(r.cmd(b'a\nb\r\n.'), b'550 5.5.2 Error: bare <LF> received\r\n')
        self.assertEqual(r.cmd(b'NOOP'), b'250 2.0.0 Ok\r\n')
        self.assertEqual(self.pr.messages('alice@example.test'), [])


if __name__ == '__main__':
    unittest.main()
