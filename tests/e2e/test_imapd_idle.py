"""imapd IDLE (RFC 2177) end to end, over a plain socket (Python 3.11's
imaplib has no idle()): a delivery through smtpd, a flag change and an
expunge made in the Maildir by another process all show up while idling
within a bounded time; DONE; anything else ends IDLE with a BAD; the
keep-alive; IDLE in the authenticated state; clients vanishing mid-IDLE
(with and without reading what was sent) are closed.
"""

import os
import smtplib
import socket
import time
import unittest

from harness import Postroom, have_built, require

ALICE = ('alice@example.test', 'alice-pw')
PLAIN = b'From: a@remote.test\r\nTo: alice@example.test\r\nSubject: idle %d\r\n\r\nhi\r\n'
BOUND = 5.0     # seconds a change may take to reach an idler (the issue asks 1 s; slack for load)


class IdleCase(unittest.TestCase):
    config = {'imapd.idle_keepalive': '1s'}

    @classmethod
    def setUpClass(cls):
        require(have_built('smtpd', 'imapd'), 'smtpd and imapd not built')

    def setUp(self):
        self.pr = Postroom(daemons=('smtpd', 'imapd'), config=dict(self.config))
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)

    def deliver(self, n, first=0):
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            for i in range(first, first + n):
                s.sendmail('sender@remote.test', [ALICE[0]], PLAIN % i)

    def connect(self):
        s = socket.create_connection(('127.0.0.1', self.pr.port('imapd.listen')), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile('rb')
        self.assertTrue(f.readline().startswith(b'* OK'))
        return s, f

    def command(self, s, f, tag, line):
        s.sendall(tag + b' ' + line + b'\r\n')
        lines = []
        while True:
            got = f.readline()
            self.assertTrue(got, 'connection closed during ' + line.decode())
            lines.append(got)
            if got.startswith(tag + b' '):
                return lines

    def selected(self):
        s, f = self.connect()
        self.assertIn(b'a OK', self.command(s, f, b'a', b'LOGIN %s %s' % (
            ALICE[0].encode(), ALICE[1].encode()))[-1])
        self.assertIn(b'b OK', self.command(s, f, b'b', b'SELECT INBOX')[-1])
        return s, f

    def idle(self, s, f, tag=b'i'):
        s.sendall(tag + b' IDLE\r\n')
        self.assertEqual(f.readline(), b'+ idling\r\n')

    def until(self, s, f, pred, bound=BOUND):
        """Untagged lines read while idling until pred(line) holds; fails after bound seconds."""
        seen = []
        end = time.monotonic() + bound
        while True:
            left = end - time.monotonic()
            self.assertGreater(left, 0, 'nothing matched in %.1f s: %r' % (bound, seen))
            s.settimeout(left)
            line = f.readline()
            self.assertTrue(line, 'connection closed while idling: %r' % seen)
            seen.append(line)
            if pred(line):
                s.settimeout(10)
                return seen

    def done(self, s, f, tag=b'i'):
        s.sendall(b'DONE\r\n')
        lines = self.until(s, f, lambda l: l.startswith(tag + b' '))
        self.assertTrue(lines[-1].startswith(tag + b' OK'), lines)
        return lines


class Idle(IdleCase):
    def test_advertised(self):
        s, f = self.connect()
        lines = self.command(s, f, b'c', b'CAPABILITY')
        self.assertIn(b' IDLE', lines[0])

    def test_delivery_shows_exists(self):
        self.deliver(2)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == 2)
        s, f = self.selected()
        self.idle(s, f)
        start = time.monotonic()
        self.deliver(1, 2)
        lines = self.until(s, f, lambda l: l == b'* 3 EXISTS\r\n')
        print('delivery -> EXISTS: %.0f ms (SMTP included)' % ((time.monotonic() - start) * 1000))
        self.assertNotIn(b'EXPUNGE', b''.join(lines))
        self.done(s, f)
        # The session goes on normally after DONE.
        self.assertIn(b'n OK', self.command(s, f, b'n', b'NOOP')[-1])

    def test_burst_is_coalesced(self):
        s, f = self.selected()
        self.idle(s, f)
        self.deliver(50)
        lines = self.until(s, f, lambda l: l == b'* 50 EXISTS\r\n', bound=30)
        exists = [l for l in lines if l.endswith(b' EXISTS\r\n')]
        print('50 deliveries told in %d EXISTS' % len(exists))
        self.assertLess(len(exists), 50)
        self.done(s, f)

    def test_flag_change_and_expunge_by_another_process(self):
        self.deliver(3)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == 3)
        s, f = self.selected()
        self.idle(s, f)
        self.until(s, f, lambda l: l.startswith(b'* OK Still here'))   # the first sync is done
        cur = os.path.join(self.pr.maildir(ALICE[0]), 'cur')
        names = sorted(os.listdir(cur), key=lambda n: n.split(':')[0])
        self.assertEqual(len(names), 3, names)
        base = names[1].split(':')[0]
        os.rename(os.path.join(cur, names[1]), os.path.join(cur, base + ':2,S'))
        self.until(s, f, lambda l: l.startswith(b'* 2 FETCH (FLAGS (\\Seen'))
        os.unlink(os.path.join(cur, names[0]))
        self.until(s, f, lambda l: l == b'* 1 EXPUNGE\r\n')
        self.done(s, f)

    def test_keepalive(self):
        s, f = self.selected()
        self.idle(s, f)
        self.until(s, f, lambda l: l == b'* OK Still here\r\n', bound=3)
        self.until(s, f, lambda l: l == b'* OK Still here\r\n', bound=3)
        self.done(s, f)

    def test_other_than_done_is_bad(self):
        s, f = self.selected()
        self.idle(s, f, b'x')
        s.sendall(b'y NOOP\r\n')
        lines = self.until(s, f, lambda l: l.startswith(b'x '))
        self.assertTrue(lines[-1].startswith(b'x BAD'), lines)
        self.assertIn(b'z OK', self.command(s, f, b'z', b'NOOP')[-1])

    def test_authenticated_state(self):
        s, f = self.connect()
        self.command(s, f, b'a', b'LOGIN %s %s' % (ALICE[0].encode(), ALICE[1].encode()))
        self.idle(s, f)
        self.until(s, f, lambda l: l == b'* OK Still here\r\n', bound=3)
        self.done(s, f)

    def test_vanished_idlers_are_closed(self):
        before = self.pr.log('imapd').count('event=close')
        idlers = []
        for i in range(3):
            s, f = self.selected()
            self.idle(s, f)
            idlers.append((s, f))
        self.deliver(1)
        time.sleep(0.5)
        # One shuts down, two close with EXISTS unread (a reset).  The makefile
        # must go too: until it does, socket.close() leaves the connection open.
        idlers[0][0].shutdown(socket.SHUT_RDWR)
        for s, f in idlers:
            f.close()
            s.close()
        end = time.monotonic() + BOUND
        while self.pr.log('imapd').count('event=close') - before < 3 and time.monotonic() < end:
            time.sleep(0.05)
        events = [l for l in self.pr.log('imapd').splitlines()
                  if 'event=close' in l or 'event=connect' in l]
        self.assertEqual(sum('event=close' in l for l in events) - before, 3, '\n'.join(events))

    def test_pipelined_done(self):
        s, f = self.selected()
        s.sendall(b'i IDLE\r\nDONE\r\nn NOOP\r\n')
        self.assertEqual(f.readline(), b'+ idling\r\n')
        lines = self.until(s, f, lambda l: l.startswith(b'n '))
        self.assertTrue(any(l.startswith(b'i OK') for l in lines), lines)
        self.assertTrue(lines[-1].startswith(b'n OK'), lines)


if __name__ == '__main__':
    unittest.main()
