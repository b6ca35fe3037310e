"""smtpd against hostile clients, seen from the wire (issue 5, "Hostile input").

Every test sends the hostile input on a raw socket, asserts the reply code (and
enhanced status code), then that the NEXT command on the same connection still
works (or, where the protocol says the session ends, that it really ended), and
that a parallel well-behaved session delivers a message meanwhile.

One Postroom per class; the instance uses a short idle timeout and a small
maximum message size so the limits can be hit quickly.
"""

import base64
import os
import threading
import time
import unittest

from harness import Postroom
from smtpclient_raw import RawSMTP, have_built, send_ok

ALICE = 'alice@example.test'
PLAIN_ALICE = base64.b64encode(b'\0alice@example.test\0alice-pw').decode()
IDLE = 3           # smtpd.idle_timeout (s)
MAX_SIZE = 102400  # smtpd.max_message_size
MAX_RCPT = 100     # smtpd.max_recipients (the default)


class HostileBase(unittest.TestCase):
    config = {}

    @classmethod
    def setUpClass(cls):
        cls.pr = Postroom(daemons=('smtpd',), config=cls.config)
        cls.pr.__enter__()
        cls.mx = cls.pr.port('smtpd.mx_listen')
        cls.sub = cls.pr.port('smtpd.submission_listen')

    @classmethod
    def tearDownClass(cls):
        cls.pr.__exit__(None, None, None)

    def setUp(self):
        self.assertTrue(self.pr.running('smtpd'), 'smtpd died in an earlier test; log:\n'
                        + self.pr.log('smtpd')[-3000:])

    def tearDown(self):
        self.assertTrue(self.pr.running('smtpd'), 'smtpd died; log:\n' + self.pr.log('smtpd')[-3000:])
        # whatever the client did, no half-written message stays behind in tmp/
        for addr in (ALICE, 'bob@example.test'):
            d = os.path.join(self.pr.maildir(addr), 'tmp')
            try:
                Postroom.wait_for(lambda: not os.listdir(d), timeout=3)
            except AssertionError:
                self.fail('files left in %s: %s' % (d, os.listdir(d)[:5]))

    def count(self, marker, addr=ALICE):
        return sum(marker in m for m in self.pr.messages(addr))

    def assertReply(self, r, code, enhanced_prefix=None):
        codes = code if isinstance(code, (tuple, list)) else (code,)
        self.assertIn(r.code, codes, r)
        if enhanced_prefix is not None:
            self.assertIsNotNone(r.enhanced, 'no enhanced status code in %r' % r)
            self.assertTrue(r.enhanced.startswith(enhanced_prefix), r)

    def assertAlive(self, c):
        """The next command on the same connection works."""
        self.assertReply(c.cmd('NOOP'), 250, '2.0.0')

    def transaction(self, c, body, rcpt=ALICE):
        """A full MAIL/RCPT/DATA on an open connection; returns the final reply."""
        self.assertReply(c.cmd('MAIL FROM:<sender@remote.test>'), 250, '2.1.0')
        self.assertReply(c.cmd('RCPT TO:<%s>' % rcpt), 250, '2.1.5')
        self.assertReply(c.cmd('DATA'), 354)
        c.send(body + b'.\r\n')
        return c.reply()


@unittest.skipUnless(have_built('smtpd', 'mailctl'), 'build/smtpd or build/mailctl not built')
class HostileTest(HostileBase):
    config = {'smtpd.idle_timeout': '%ds' % IDLE, 'smtpd.data_timeout': '%ds' % IDLE,
              'smtpd.max_message_size': str(MAX_SIZE)}

    def test_1mb_command_line(self):
        with RawSMTP(self.mx, timeout=30) as c:
            c.ehlo()
            c.send(b'NOOP ' + b'x' * (1 << 20) + b'\r\n')
            r = c.reply()
            self.assertReply(r, 500, '5.5.')
            send_ok(self, self.mx)
            # exactly one error reply for the whole line: the next reply is NOOP's
            self.assertAlive(c)
            self.assertReply(self.transaction(c, b'Subject: after-1mb-line\r\n\r\nx\r\n'), 250, '2.0.0')
        self.assertEqual(self.count(b'after-1mb-line'), 1)

    def test_10000_pipelined_rcpts(self):
        n = 10000
        with RawSMTP(self.mx, timeout=30) as c:
            c.ehlo()
            group = [b'MAIL FROM:<sender@remote.test>\r\n']
            group += [b'RCPT TO:<alice+r%d@example.test>\r\n' % i for i in range(n)]
            data = b''.join(group)
            err = []

            def writer():
                try:
                    c.sock.sendall(data)
                except OSError as e:
                    err.append(e)
            t = threading.Thread(target=writer, daemon=True)
            t.start()
            replies = [c.reply()]
            self.assertReply(replies[0], 250, '2.1.0')
            for i in range(n):
                r = c.reply()
                replies.append(r)
            t.join(30)
            self.assertFalse(err, err)
            rcpt = replies[1:]
            ok = [r for r in rcpt if r.code == 250]
            self.assertEqual(len(ok), MAX_RCPT, 'expected exactly max_recipients 250s')
            self.assertTrue(all(r.code == 250 for r in rcpt[:MAX_RCPT]), rcpt[:MAX_RCPT])
            over = rcpt[MAX_RCPT:]
            self.assertEqual(set(r.code for r in over), {452},
                             'codes after the limit: %r' % sorted(set(r.code for r in over)))
            self.assertReply(over[0], 452, '4.5.3')
            send_ok(self, self.mx)
            # the transaction with the first 100 recipients still goes through
            self.assertReply(c.cmd('DATA'), 354)
            c.send(b'Subject: after-10000-rcpts\r\n\r\nx\r\n.\r\n')
            self.assertReply(c.reply(), 250, '2.0.0')
            self.assertAlive(c)
        self.assertGreaterEqual(self.count(b'after-10000-rcpts'), 1)

    def test_oversize_size_parameter(self):
        with RawSMTP(self.mx) as c:
            e = c.ehlo()
            self.assertIn('SIZE %d' % MAX_SIZE, e.lines)
            self.assertReply(c.cmd('MAIL FROM:<sender@remote.test> SIZE=%d' % (MAX_SIZE * 100)),
                             552, '5.3.4')
            send_ok(self, self.mx)
            self.assertReply(c.cmd('MAIL FROM:<sender@remote.test> SIZE=1000'), 250, '2.1.0')
            self.assertReply(c.cmd('RSET'), 250, '2.0.0')

    def test_oversize_actual_message(self):
        big = b'Subject: oversize-body\r\n\r\n' + (b'y' * 998 + b'\r\n') * (MAX_SIZE // 1000 + 50)
        with RawSMTP(self.mx, timeout=20) as c:
            c.ehlo()
            self.assertReply(self.transaction(c, big), 552, '5.3.4')
            send_ok(self, self.mx)
            self.assertAlive(c)
            self.assertReply(self.transaction(c, b'Subject: after-oversize\r\n\r\nx\r\n'), 250, '2.0.0')
        self.assertEqual(self.count(b'oversize-body'), 0)
        self.assertEqual(self.count(b'after-oversize'), 1)

    def test_nul_in_commands(self):
        with RawSMTP(self.mx) as c:
            c.ehlo()
            self.assertReply(c.cmd(b'NOOP\0\0\0'), (500, 501), '5.5.')
            self.assertAlive(c)
            self.assertReply(c.cmd(b'MAIL FROM:<a\0b@remote.test>'), (500, 501, 553), '5.')
            send_ok(self, self.mx)
            self.assertReply(c.cmd(b'MAIL FROM:<sender@remote.test>'), 250, '2.1.0')
            self.assertReply(c.cmd(b'RCPT TO:<alice\0@example.test>'), (500, 501, 550, 553), '5.')
            self.assertReply(c.cmd(b'RSET'), 250, '2.0.0')

    def test_nul_in_data(self):
        with RawSMTP(self.mx) as c:
            c.ehlo()
            r = self.transaction(c, b'Subject: nul-data\r\n\r\nbefore\0after\r\n')
            # Accepting (stored byte exact) and refusing with a 5xx are both defensible.
            self.assertIn(r.code, (250, 550, 554), r)
            if r.code == 250:
                msgs = [m for m in self.pr.messages(ALICE) if b'nul-data' in m]
                self.assertEqual(len(msgs), 1)
                self.assertIn(b'before\0after', msgs[0], 'NUL not stored byte exact')
            else:
                self.assertEqual(self.count(b'nul-data'), 0)
            send_ok(self, self.mx)
            self.assertAlive(c)
            self.assertReply(self.transaction(c, b'Subject: after-nul\r\n\r\nx\r\n'), 250, '2.0.0')

    def test_bad_base64_in_auth(self):
        with RawSMTP(self.mx) as c:
            c.ehlo()
            self.assertReply(c.cmd('AUTH PLAIN !!!not*base64!!!'), 501, '5.5.2')
            self.assertAlive(c)
            self.assertReply(c.cmd('AUTH LOGIN'), 334)
            self.assertReply(c.cmd('%%%%'), 501, '5.5.2')
            self.assertAlive(c)
            self.assertReply(c.cmd('AUTH PLAIN'), 334)
            self.assertReply(c.cmd('AAA'), 501, '5.5.2')     # valid characters, bad padding
            send_ok(self, self.mx)
            self.assertReply(c.cmd('AUTH PLAIN ' + PLAIN_ALICE), 235, '2.7.0')

    def test_commands_after_421(self):
        """Too many errors: 421, then the server reads no more commands."""
        with RawSMTP(self.mx) as c:
            c.ehlo()
            c.send(b'XYZZY\r\n' * 60 + b'NOOP\r\n' * 5)
            codes = []
            while True:
                r = c.reply()
                codes.append(r.code)
                if r.code == 421 or len(codes) > 60:
                    break
            self.assertEqual(codes[-1], 421, codes)
            self.assertTrue(all(code >= 500 for code in codes[:-1]), codes)
            self.assertTrue(r.enhanced and r.enhanced.startswith('4.'), r)
            send_ok(self, self.mx)
            try:
                c.send(b'NOOP\r\n')
            except OSError:
                pass
            self.assertTrue(c.closed(5), 'connection still open after 421')
            self.assertEqual(c.buf, b'', 'replies after the 421: %r' % c.buf[:300])

    def test_garbage_before_ehlo(self):
        with RawSMTP(self.mx) as c:
            r = c.cmd(b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\xff\xfe garbage \x80\x81')
            self.assertReply(r, (500, 502), '5.5.')
            self.assertReply(c.cmd('hello there'), (500, 502), '5.5.')
            self.assertReply(c.cmd('MAIL FROM:<sender@remote.test>'), 503, '5.5.1')
            send_ok(self, self.mx)
            c.ehlo()
            self.assertReply(self.transaction(c, b'Subject: after-garbage\r\n\r\nx\r\n'), 250, '2.0.0')
        self.assertEqual(self.count(b'after-garbage'), 1)

    def test_half_command_then_stall(self):
        with RawSMTP(self.mx, timeout=IDLE * 4) as c:
            c.ehlo()
            c.send(b'MAIL FROM:<stall')
            t0 = time.monotonic()
            for _ in range(3):
                send_ok(self, self.mx)
            self.assertLess(time.monotonic() - t0, IDLE - 0.5, 'others slowed down by a staller')
            r = c.reply()
            waited = time.monotonic() - t0
            self.assertReply(r, 421, '4.4.2')
            self.assertGreater(waited, IDLE - 1, 'closed before idle_timeout')
            self.assertLess(waited, IDLE + 3, 'idle_timeout not enforced on a partial line')
            self.assertTrue(c.closed(3), 'still open after the idle 421')

    def test_stall_and_drop_inside_data(self):
        """A client that stalls in DATA gets 421 after data_timeout; one that drops the
        connection mid-DATA delivers nothing (tearDown: neither leaves a file in tmp/)."""
        with RawSMTP(self.mx, timeout=IDLE * 4) as c:
            c.ehlo()
            self.assertReply(c.cmd('MAIL FROM:<sender@remote.test>'), 250)
            self.assertReply(c.cmd('RCPT TO:<%s>' % ALICE), 250)
            self.assertReply(c.cmd('DATA'), 354)
            c.send(b'Subject: stalled-data\r\n\r\npartial body\r\n')
            t0 = time.monotonic()
            send_ok(self, self.mx)
            r = c.reply()
            waited = time.monotonic() - t0
            self.assertReply(r, 421, '4.4.2')
            self.assertGreater(waited, IDLE - 1)
            self.assertLess(waited, IDLE + 3)
            self.assertTrue(c.closed(3))
        with RawSMTP(self.mx) as c:
            c.ehlo()
            self.assertReply(c.cmd('MAIL FROM:<sender@remote.test>'), 250)
            self.assertReply(c.cmd('RCPT TO:<%s>' % ALICE), 250)
            self.assertReply(c.cmd('DATA'), 354)
            c.send(b'Subject: dropped-data\r\n\r\n' + b'body line\r\n' * 2000)
        send_ok(self, self.mx)
        self.assertEqual(self.count(b'stalled-data'), 0)
        self.assertEqual(self.count(b'dropped-data'), 0)

    def test_connections_per_ip_limit(self):
        """max_connections_per_ip (20): the 21st connection is refused with 421, the
        others keep working, and a slot frees up when one closes."""
        conns = []
        try:
            for _ in range(20):
                conns.append(RawSMTP(self.mx))
            self.assertTrue(all(k.greeting.code == 220 for k in conns))
            with RawSMTP(self.mx) as extra:
                self.assertReply(extra.greeting, 421, '4.')
                self.assertTrue(extra.closed(3))
            for k in conns:
                self.assertAlive(k)
            conns.pop().close()

            def slot():
                k = RawSMTP(self.mx)
                if k.greeting.code == 220:
                    conns.append(k)
                    return True
                k.close()
                return False
            Postroom.wait_for(slot, timeout=3, interval=0.1)
        finally:
            for k in conns:
                k.close()

        def free():
            # The server counts the closes as it reads them: wait, do not race it.
            with RawSMTP(self.mx) as k:
                return k.greeting.code == 220
        Postroom.wait_for(free, timeout=5, interval=0.1)
        send_ok(self, self.mx)

    def test_starttls_pipelined_plaintext_discarded(self):
        with RawSMTP(self.mx) as c:
            c.ehlo()
            c.send(b'STARTTLS\r\nRSET\r\n')
            r = c.reply()
            self.assertReply(r, 220, '2.0.0')
            c.starttls()
            self.assertEqual(c.pending(1.0), b'', 'a reply to the pre-TLS RSET arrived')
            e = c.ehlo()
            self.assertNotIn('STARTTLS', e.lines)
            self.assertAlive(c)
        # the classic injection: a MAIL FROM riding on the STARTTLS packet
        with RawSMTP(self.mx) as c:
            c.ehlo()
            c.send(b'STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n')
            self.assertReply(c.reply(), 220)
            c.starttls()
            self.assertEqual(c.pending(1.0), b'', 'a reply to the pre-TLS MAIL arrived')
            c.ehlo()
            self.assertReply(c.cmd('RCPT TO:<%s>' % ALICE), 503, '5.5.1')
            send_ok(self, self.mx)
            self.assertReply(self.transaction(c, b'Subject: after-starttls\r\n\r\nx\r\n'), 250, '2.0.0')

    SMUGGLE_FORMS = {
        'LF.LF': b'\n.\n',
        'CR.CR': b'\r.\r',
        'LF.CRLF': b'\n.\r\n',
        'CRLF.LF': b'\r\n.\n',
        'CRLF.CR': b'\r\n.\r',
    }

    def test_smuggling(self):
        for name, form in self.SMUGGLE_FORMS.items():
            with self.subTest(form=name):
                marker = b'smuggle-' + name.encode()
                body = (b'Subject: ' + marker + b'\r\n\r\nfirst part' + form +
                        b'MAIL FROM:<evil@remote.test>\r\n'
                        b'RCPT TO:<bob@example.test>\r\n'
                        b'DATA\r\n'
                        b'Subject: smuggled\r\n\r\n' + marker + b' smuggled text\r\n')
                before_bob = len(self.pr.messages('bob@example.test'))
                with RawSMTP(self.mx) as c:
                    c.ehlo()
                    r = self.transaction(c, body)
                    self.assertReply(r, 250, '2.0.0')
                    c.send(b'QUIT\r\n')
                    rest = []
                    while True:
                        try:
                            rest.append(c.reply(3).code)
                        except (AssertionError, OSError):
                            break
                    self.assertEqual(rest, [221], 'extra replies: a second message was parsed')
                msgs = [m for m in self.pr.messages(ALICE) if marker in m]
                self.assertEqual(len(msgs), 1)
                self.assertIn(marker + b' smuggled text', msgs[0])
                self.assertIn(b'evil@remote.test', msgs[0])
                self.assertEqual(len(self.pr.messages('bob@example.test')), before_bob,
                                 'the smuggled message reached bob')
        send_ok(self, self.mx)

    def test_relay_without_auth(self):
        with RawSMTP(self.mx) as c:
            c.ehlo()
            self.assertReply(c.cmd('MAIL FROM:<sender@remote.test>'), 250, '2.1.0')
            self.assertReply(c.cmd('RCPT TO:<victim@elsewhere.test>'), (550, 554), '5.7.1')
            self.assertReply(c.cmd('RCPT TO:<victim%elsewhere.test@example.test>'), (550, 554), '5.')
            self.assertReply(c.cmd('RCPT TO:<@example.test:victim@elsewhere.test>'), (550, 554), '5.')
            send_ok(self, self.mx)
            self.assertReply(c.cmd('RCPT TO:<%s>' % ALICE), 250, '2.1.5')
            self.assertReply(c.cmd('DATA'), 354)
            c.send(b'Subject: after-relay\r\n\r\nx\r\n.\r\n')
            self.assertReply(c.reply(), 250, '2.0.0')
        self.assertEqual(self.count(b'after-relay'), 1)
        # submission: no transaction at all before AUTH
        with RawSMTP(self.sub) as c:
            c.ehlo()
            self.assertReply(c.cmd('MAIL FROM:<sender@remote.test>'), 530, '5.7.0')
            self.assertAlive(c)


@unittest.skipUnless(have_built('smtpd', 'mailctl'), 'build/smtpd or build/mailctl not built')
class HostileNoLoopbackAuthTest(HostileBase):
    """plaintext_auth_loopback = no: loopback behaves like any other client address."""
    config = {'plaintext_auth_loopback': 'no'}

    def test_auth_before_starttls(self):
        for port in (self.sub, self.mx):
            with self.subTest(port='submission' if port == self.sub else 'mx'):
                with RawSMTP(port) as c:
                    e = c.ehlo()
                    self.assertIn('STARTTLS', e.lines)
                    self.assertReply(c.cmd('AUTH PLAIN ' + PLAIN_ALICE), (530, 538), '5.7.')
                    self.assertAlive(c)
                    self.assertReply(c.cmd('AUTH LOGIN'), (530, 538), '5.7.')
                    send_ok(self, self.mx)
                    self.assertReply(c.cmd('STARTTLS'), 220)
                    c.starttls()
                    e = c.ehlo()
                    self.assertTrue(any(l.startswith('AUTH') and 'PLAIN' in l for l in e.lines), e)
                    self.assertReply(c.cmd('AUTH PLAIN ' + PLAIN_ALICE), 235, '2.7.0')
                    self.assertReply(c.cmd('MAIL FROM:<%s>' % ALICE), 250, '2.1.0')


if __name__ == '__main__':
    unittest.main()
