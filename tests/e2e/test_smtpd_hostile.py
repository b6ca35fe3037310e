"""smtpd against hostile clients, seen from the wire (issue 5, "Hostile input").

Every test sends the hostile input on a raw socket, asserts the reply (code,
enhanced status code and, where the wording is ours to keep, the exact
bytes), then that the NEXT command on the same connection still works (or,
where the protocol says the session ends, that it really ended), and that a
parallel well-behaved session delivers a message meanwhile.

One Postroom per class; the main instance uses a short idle timeout and a
small maximum message size so the limits are hit quickly.  Tests that share
an instance count only the messages carrying their own marker.
"""

import base64
import os
import threading
import time
import unittest

from harness import Postroom, have_built, needs, start_postroom
from smtpclient_raw import RawSMTP, send_ok

ALICE = 'alice@example.test'
BOB = 'bob@example.test'
PLAIN_ALICE = base64.b64encode(b'\0alice@example.test\0alice-pw').decode()
IDLE = 3           # smtpd.idle_timeout (s)
MAX_SIZE = 102400  # smtpd.max_message_size
MAX_RCPT = 100     # smtpd.max_recipients (the default)

OK = b'250 2.0.0 Ok\r\n'
MAIL_OK = b'250 2.1.0 Ok\r\n'
RCPT_OK = b'250 2.1.5 Ok\r\n'
TOO_BIG = b'552 5.3.4 Message size exceeds fixed limit\r\n'
NUL_IN_COMMAND = b'500 5.5.2 Error: NUL character in command\r\n'
NOT_RECOGNIZED = b'500 5.5.2 Error: command not recognized\r\n'
CANNOT_DECODE = b'501 5.5.2 Cannot decode response\r\n'
AUTH_OK = b'235 2.7.0 Authentication successful\r\n'
TLS_READY = b'220 2.0.0 Ready to start TLS\r\n'
SHUTTING_DOWN = b'421 4.3.2 mail.example.test Service shutting down\r\n'


@needs(have_built('smtpd', 'mailctl'), 'build/smtpd or build/mailctl not built')
class HostileBase(unittest.TestCase):
    config = {}
    stops_smtpd = False

    @classmethod
    def setUpClass(cls):
        cls.pr = start_postroom(cls, daemons=('smtpd',), config=cls.config)
        cls.mx = cls.pr.port('smtpd.mx_listen')
        cls.sub = cls.pr.port('smtpd.submission_listen')

    def setUp(self):
        self.assertTrue(self.pr.running('smtpd'), 'smtpd died in an earlier test; log:\n'
                        + self.pr.log('smtpd')[-3000:])

    def tearDown(self):
        if self.stops_smtpd:
            return
        self.assertTrue(self.pr.running('smtpd'), 'smtpd died; log:\n' + self.pr.log('smtpd')[-3000:])
        # whatever the client did, no half-written message stays behind in tmp/
        for addr in (ALICE, BOB):
            d = os.path.join(self.pr.maildir(addr), 'tmp')
            try:
                Postroom.wait_for(lambda: not os.listdir(d), timeout=3)
            except AssertionError:
                self.fail('files left in %s: %s' % (d, os.listdir(d)[:5]))

    def raw(self, port=None, **kwargs):
        c = RawSMTP(port or self.mx, **kwargs)
        self.addCleanup(c.close)
        self.assertEqual(c.greeting.code, 220, c.greeting)
        return c

    def count(self, marker, addr=ALICE):
        return sum(marker in m for m in self.pr.messages(addr))

    def assertReply(self, r, code, enhanced_prefix=None):
        codes = code if isinstance(code, (tuple, list)) else (code,)
        self.assertIn(r.code, codes, r)
        if enhanced_prefix is not None:
            self.assertIsNotNone(r.enhanced, 'no enhanced status code in %r' % r)
            self.assertTrue(r.enhanced.startswith(enhanced_prefix), r)

    def assertRaw(self, r, raw):
        self.assertEqual(r.raw, raw)

    def assertAlive(self, c):
        """The next command on the same connection works."""
        self.assertRaw(c.cmd('NOOP'), OK)

    def transaction(self, c, body, rcpt=ALICE):
        """A full MAIL/RCPT/DATA on an open connection; returns the final reply."""
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test>'), MAIL_OK)
        self.assertRaw(c.cmd('RCPT TO:<%s>' % rcpt), RCPT_OK)
        self.assertReply(c.cmd('DATA'), 354)
        c.send(body + b'.\r\n')
        return c.reply()


class HostileTest(HostileBase):
    # workers = 2: max_connections_per_ip counts the connections of both together.
    config = {'smtpd.idle_timeout': '%ds' % IDLE, 'smtpd.data_timeout': '%ds' % IDLE,
              'smtpd.max_message_size': str(MAX_SIZE), 'workers': 2}

    def test_1mb_command_line(self):
        c = self.raw(timeout=30)
        # before EHLO and after it: one error reply for the whole line, then in sync
        c.send(b'A' * (1 << 20) + b'\r\n')
        self.assertRaw(c.reply(), b'500 5.5.2 Error: line too long\r\n')
        self.assertAlive(c)
        c.ehlo()
        c.send(b'NOOP ' + b'x' * (1 << 20) + b'\r\n')
        self.assertReply(c.reply(), 500, '5.5.')
        send_ok(self, self.mx)
        self.assertAlive(c)
        self.assertReply(self.transaction(c, b'Subject: after-1mb-line\r\n\r\nx\r\n'), 250, '2.0.0')
        self.assertEqual(self.count(b'after-1mb-line'), 1)

    def pipelined_rcpts(self, rcpts, marker):
        """MAIL and 10,000 RCPTs in one write: exactly max_recipients 250s, the rest
        452, and the transaction with the first ones still goes through."""
        c = self.raw(timeout=30)
        c.ehlo()
        data = b'MAIL FROM:<sender@remote.test>\r\n' + b''.join(
            b'RCPT TO:<%s>\r\n' % r.encode() for r in rcpts)
        err = []

        def writer():       # replies are read meanwhile: no deadlock on full buffers
            try:
                c.sock.sendall(data)
            except OSError as e:
                err.append(e)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        self.assertRaw(c.reply(), MAIL_OK)
        rcpt = c.replies(len(rcpts))
        t.join(30)
        self.assertFalse(err, err)
        self.assertEqual([r.raw for r in rcpt[:MAX_RCPT]], [RCPT_OK] * MAX_RCPT)
        over = rcpt[MAX_RCPT:]
        self.assertEqual(set(r.raw for r in over), {b'452 4.5.3 Error: too many recipients\r\n'})
        send_ok(self, self.mx)
        self.assertReply(c.cmd('DATA'), 354)
        c.send(b'Subject: ' + marker + b'\r\n\r\nx\r\n.\r\n')
        r = c.reply()
        self.assertTrue(r.raw.startswith(b'250 2.0.0 Ok: queued'), r)
        self.assertAlive(c)

    def test_10000_pipelined_rcpts(self):
        self.pipelined_rcpts(['alice+r%d@example.test' % i for i in range(10000)],
                             b'after-10000-rcpts')
        self.assertGreaterEqual(self.count(b'after-10000-rcpts'), 1)

    def test_10000_pipelined_rcpts_same_address(self):
        self.pipelined_rcpts([ALICE] * 10000, b'after-10000-same-rcpts')
        self.assertEqual(self.count(b'after-10000-same-rcpts'), 1)

    def test_oversize_size_parameter(self):
        c = self.raw()
        e = c.ehlo()
        self.assertIn('SIZE %d' % MAX_SIZE, e.lines)
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test> SIZE=%d' % (MAX_SIZE * 100)), TOO_BIG)
        send_ok(self, self.mx)
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test> SIZE=1000'), MAIL_OK)
        self.assertRaw(c.cmd('RSET'), OK)

    def test_oversize_actual_message(self):
        big = b'Subject: oversize-body\r\n\r\n' + (b'y' * 998 + b'\r\n') * (MAX_SIZE // 1000 + 50)
        c = self.raw(timeout=20)
        c.ehlo()
        self.assertRaw(self.transaction(c, big), TOO_BIG)
        send_ok(self, self.mx)
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test> SIZE=%d' % (MAX_SIZE * 2)), TOO_BIG)
        self.assertAlive(c)
        self.assertReply(self.transaction(c, b'Subject: after-oversize\r\n\r\nx\r\n'), 250, '2.0.0')
        self.assertEqual(self.count(b'oversize-body'), 0)
        self.assertEqual(self.count(b'after-oversize'), 1)

    def test_nul_in_commands(self):
        c = self.raw()
        self.assertRaw(c.cmd(b'NO\0OP'), NUL_IN_COMMAND)
        self.assertAlive(c)
        c.ehlo()
        self.assertReply(c.cmd(b'NOOP\0\0\0'), (500, 501), '5.5.')
        self.assertAlive(c)
        self.assertReply(c.cmd(b'MAIL FROM:<a\0b@remote.test>'), (500, 501, 553), '5.')
        send_ok(self, self.mx)
        self.assertRaw(c.cmd(b'MAIL FROM:<sender@remote.test>'), MAIL_OK)
        self.assertReply(c.cmd(b'RCPT TO:<alice\0@example.test>'), (500, 501, 550, 553), '5.')
        self.assertRaw(c.cmd(b'RSET'), OK)

    def test_nul_in_data(self):
        c = self.raw()
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
        c = self.raw()
        c.ehlo()
        self.assertRaw(c.cmd('AUTH PLAIN !!!not*base64!!!'), CANNOT_DECODE)
        self.assertAlive(c)
        self.assertRaw(c.cmd('AUTH LOGIN'), b'334 VXNlcm5hbWU6\r\n')
        self.assertRaw(c.cmd('%%%%'), CANNOT_DECODE)
        self.assertAlive(c)
        self.assertReply(c.cmd('AUTH PLAIN'), 334)
        self.assertRaw(c.cmd('AAA'), CANNOT_DECODE)     # valid characters, bad padding
        send_ok(self, self.mx)
        self.assertRaw(c.cmd('AUTH PLAIN ' + PLAIN_ALICE), AUTH_OK)

    def test_commands_after_421(self):
        """Too many errors: the 421, then the server reads no more commands."""
        c = self.raw()
        c.ehlo()
        c.send(b'XYZZY\r\n' * 60 + b'NOOP\r\n' * 5 + b'EHLO a\r\n')
        self.assertEqual(c.rest(), NOT_RECOGNIZED * 10 +
                         b'421 4.7.0 mail.example.test Error: too many errors\r\n')
        send_ok(self, self.mx)
        send_ok(self, self.mx, rcpt=BOB)

    def test_garbage_before_ehlo(self):
        c = self.raw()
        # A TLS ClientHello on the plaintext port, then binary junk.
        c.send(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xff\xfe\r\n')
        self.assertRaw(c.reply(), NUL_IN_COMMAND)
        self.assertRaw(c.cmd(b'\xff\xfe\x80junk junk'), NOT_RECOGNIZED)
        r = c.cmd(b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\xff\xfe garbage \x80\x81')
        self.assertReply(r, (500, 502), '5.5.')
        self.assertReply(c.cmd('hello there'), (500, 502), '5.5.')
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test>'),
                       b'503 5.5.1 Error: send HELO/EHLO first\r\n')
        send_ok(self, self.mx)
        c.ehlo()
        self.assertReply(self.transaction(c, b'Subject: after-garbage\r\n\r\nx\r\n'), 250, '2.0.0')
        self.assertEqual(self.count(b'after-garbage'), 1)

    def test_half_command_then_stall(self):
        c = self.raw(timeout=IDLE * 4)
        c.ehlo()
        c.send(b'MAIL FROM:<stall')
        t0 = time.monotonic()
        for _ in range(3):
            send_ok(self, self.mx)
        self.assertLess(time.monotonic() - t0, IDLE - 0.5, 'others slowed down by a staller')
        r = c.reply()
        waited = time.monotonic() - t0
        self.assertRaw(r, b'421 4.4.2 mail.example.test Error: timeout exceeded\r\n')
        self.assertGreater(waited, IDLE - 1, 'closed before idle_timeout')
        self.assertLess(waited, IDLE + 3, 'idle_timeout not enforced on a partial line')
        self.assertEqual(c.rest(3), b'', 'more after the idle 421, or still open')

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
        c = self.raw()
        c.ehlo()
        c.send(b'STARTTLS\r\nRSET\r\n')
        self.assertRaw(c.reply(), TLS_READY)
        c.starttls()
        # A reply to the pre-TLS command would come before EHLO's.
        e = c.ehlo()
        self.assertTrue(e.lines[0].startswith('mail.example.test'),
                        'a reply to the pre-TLS RSET arrived: %r' % e)
        self.assertNotIn('STARTTLS', e.lines)
        self.assertAlive(c)
        # the classic injection: a transaction riding on the STARTTLS packet
        c = self.raw()
        c.ehlo()
        c.send(b'STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<%s>\r\n' % ALICE.encode())
        self.assertRaw(c.reply(), TLS_READY)
        c.starttls()
        e = c.ehlo()
        self.assertTrue(e.lines[0].startswith('mail.example.test'),
                        'a reply to the pre-TLS MAIL arrived: %r' % e)
        self.assertNotIn('STARTTLS', e.lines)
        self.assertRaw(c.cmd('RCPT TO:<%s>' % ALICE), b'503 5.5.1 Error: need MAIL command\r\n')
        send_ok(self, self.mx)
        self.assertReply(self.transaction(c, b'Subject: after-starttls\r\n\r\nx\r\n'), 250, '2.0.0')

    SMUGGLE_FORMS = {
        'LF.LF': b'\n.\n',
        'LF.CRLF': b'\n.\r\n',
        'CR.CR': b'\r.\r',
        'CRLF.LF': b'\r\n.\n',
        'CRLF.CR': b'\r\n.\r',
        'CR.CRLF': b'\r.\r\n',
        'LF..CRLF': b'\n..\r\n',
        'CRLF.CRCRLF': b'\r\n.\r\r\n',
    }

    def test_smuggling(self):
        """A message end that is not CRLF.CRLF followed by a second transaction in
        the same write: one message, the 'smuggled' one is its text."""
        before_bob = len(self.pr.messages(BOB))
        for name, form in self.SMUGGLE_FORMS.items():
            with self.subTest(form=name):
                marker = b'smuggle-' + name.encode()
                c = self.raw()
                c.ehlo()
                self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test>'), MAIL_OK)
                self.assertRaw(c.cmd('RCPT TO:<%s>' % ALICE), RCPT_OK)
                self.assertReply(c.cmd('DATA'), 354)
                c.send(b'Subject: ' + marker + b'\r\n\r\nfirst part' + form +
                       b'MAIL FROM:<evil@remote.test>\r\n'
                       b'RCPT TO:<bob@example.test>\r\n'
                       b'DATA\r\n'
                       b'Subject: smuggled\r\n\r\n' + marker + b' smuggled text\r\n'
                       b'.\r\nQUIT\r\n')
                replies = c.rest().split(b'\r\n')
                self.assertEqual(len(replies), 3, 'extra replies: a second message was '
                                 'parsed: %r' % replies)
                self.assertTrue(replies[0].startswith(b'250 2.0.0 Ok: queued as '), replies)
                self.assertEqual(replies[1:], [b'221 2.0.0 Bye', b''])
                msgs = [m for m in self.pr.messages(ALICE) if marker in m]
                self.assertEqual(len(msgs), 1)
                self.assertIn(marker + b' smuggled text', msgs[0])
                self.assertIn(b'evil@remote.test', msgs[0])
                self.assertIn(b'Subject: smuggled', msgs[0])     # it stayed message text
        self.assertEqual(len(self.pr.messages(BOB)), before_bob, 'a smuggled message reached bob')
        send_ok(self, self.mx)

    def test_relay_without_auth(self):
        c = self.raw()
        c.ehlo()
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test>'), MAIL_OK)
        self.assertRaw(c.cmd('RCPT TO:<victim@elsewhere.test>'),
                       b'554 5.7.1 <victim@elsewhere.test>: Relay access denied\r\n')
        self.assertReply(c.cmd('RCPT TO:<victim%elsewhere.test@example.test>'), (550, 554), '5.')
        self.assertReply(c.cmd('RCPT TO:<@example.test:victim@elsewhere.test>'), (550, 554), '5.')
        self.assertRaw(c.cmd('RCPT TO:<nobody@example.test>'),
                       b'550 5.1.1 <nobody@example.test>: Recipient address rejected:'
                       b' User unknown\r\n')
        send_ok(self, self.mx)
        self.assertRaw(c.cmd('RCPT TO:<%s>' % ALICE), RCPT_OK)
        self.assertReply(c.cmd('DATA'), 354)
        c.send(b'Subject: after-relay\r\n\r\nx\r\n.\r\n')
        self.assertReply(c.reply(), 250, '2.0.0')
        self.assertEqual(self.count(b'after-relay'), 1)
        # submission: no transaction at all before AUTH
        c = self.raw(self.sub)
        c.ehlo()
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test>'),
                       b'530 5.7.0 Authentication required\r\n')
        self.assertAlive(c)

    def test_bare_lf_commands_and_pipelining(self):
        c = self.raw()
        c.send(b'EHLO a\nMAIL FROM:<x@remote.test>\nRCPT TO:<alice@example.test>\nDATA\n')
        self.assertEqual([r.code for r in c.replies(4)], [250, 250, 250, 354])
        r = c.cmd(b'Subject: bare-lf-commands\r\n\r\nhi\r\n.')
        self.assertTrue(r.raw.startswith(b'250 2.0.0 Ok: queued as '), r)
        self.assertEqual(self.count(b'bare-lf-commands'), 1)


class HostileNoLoopbackAuthTest(HostileBase):
    """plaintext_auth_loopback = no: loopback behaves like any other client address."""
    config = {'plaintext_auth_loopback': 'no'}

    def test_auth_before_starttls(self):
        for port in (self.sub, self.mx):
            submission = port == self.sub
            with self.subTest(port='submission' if submission else 'mx'):
                c = self.raw(port)
                e = c.ehlo()
                self.assertIn('STARTTLS', e.lines)
                r = c.cmd('AUTH PLAIN ' + PLAIN_ALICE)
                self.assertReply(r, (530, 538), '5.7.')
                self.assertAlive(c)
                self.assertReply(c.cmd('AUTH LOGIN'), (530, 538), '5.7.')
                if submission:
                    self.assertFalse([l for l in e.lines if 'AUTH' in l], e)
                    self.assertRaw(r, b'538 5.7.11 Encryption required for requested'
                                      b' authentication mechanism\r\n')
                    self.assertRaw(c.cmd('MAIL FROM:<%s>' % ALICE),
                                   b'530 5.7.0 Authentication required\r\n')
                send_ok(self, self.mx)
                self.assertRaw(c.cmd('STARTTLS'), TLS_READY)
                c.starttls()
                e = c.ehlo()
                self.assertTrue(any(l.startswith('AUTH') and 'PLAIN' in l for l in e.lines), e)
                if submission:
                    self.assertIn('AUTH PLAIN LOGIN', e.lines)
                self.assertRaw(c.cmd('AUTH PLAIN ' + PLAIN_ALICE), AUTH_OK)
                self.assertRaw(c.cmd('MAIL FROM:<%s>' % ALICE), MAIL_OK)


class BareLfRejectTest(HostileBase):
    config = {'smtpd.bare_lf': 'reject'}

    def test_bare_lf_in_data_rejected(self):
        c = self.raw()
        c.ehlo()
        self.assertRaw(c.cmd('MAIL FROM:<sender@remote.test>'), MAIL_OK)
        self.assertRaw(c.cmd('RCPT TO:<%s>' % ALICE), RCPT_OK)
        self.assertReply(c.cmd('DATA'), 354)
        self.assertRaw(c.cmd(b'a\nb\r\n.'), b'550 5.5.2 Error: bare <LF> received\r\n')
        self.assertAlive(c)
        self.assertEqual(self.pr.messages(ALICE), [])


class ShutdownTest(HostileBase):
    """SIGTERM: idle sessions get a polite 421, a message in flight is finished first.
    It stops smtpd: the only test of its instance."""
    stops_smtpd = True

    def test_sigterm_closes_idle_sessions_politely(self):
        idle = self.raw()
        idle.ehlo()
        busy = self.raw()
        busy.ehlo()
        self.assertRaw(busy.cmd('MAIL FROM:<x@remote.test>'), MAIL_OK)
        self.assertRaw(busy.cmd('RCPT TO:<%s>' % ALICE), RCPT_OK)
        self.assertReply(busy.cmd('DATA'), 354)
        busy.send(b'Subject: in flight\r\n\r\n')
        stopper = threading.Thread(target=self.pr.stop, args=('smtpd',))
        stopper.start()
        self.assertEqual(idle.rest(), SHUTTING_DOWN)
        # The message being sent is finished and answered before the farewell.
        r = busy.cmd(b'body\r\n.')
        self.assertTrue(r.raw.startswith(b'250 2.0.0 Ok: queued as '), r)
        self.assertEqual(busy.rest(), SHUTTING_DOWN)
        stopper.join()
        self.assertEqual(self.count(b'in flight'), 1)



class ShutdownGraceTest(HostileBase):
    """stop_grace bounds the wait for a client that never finishes its message:
    smtpd exits on its own (the harness would SIGKILL at 5 s; the default is 10 s)."""
    config = {'stop_grace': '1s'}
    stops_smtpd = True

    def test_stalled_message_cut_after_the_grace(self):
        stalled = self.raw()
        stalled.ehlo()
        self.assertRaw(stalled.cmd('MAIL FROM:<x@remote.test>'), MAIL_OK)
        self.assertRaw(stalled.cmd('RCPT TO:<%s>' % ALICE), RCPT_OK)
        self.assertReply(stalled.cmd('DATA'), 354)
        stalled.send(b'Subject: never ends\r\n\r\n')
        t0 = time.monotonic()
        status = self.pr.stop('smtpd')
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 0, self.pr.log('smtpd')[-2000:])
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 4.5)
        self.assertNotIn(b'250', stalled.rest())
        self.assertEqual(self.count(b'never ends'), 0)
        self.assertIn('event=stop_timeout', self.pr.log('smtpd'))


if __name__ == '__main__':
    unittest.main()
