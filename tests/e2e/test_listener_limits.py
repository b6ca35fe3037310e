"""Issue 19 item 7: idle MX connections must not lock submission users out.

- smtpd.mx_max_connections: with the MX listener full, the next MX client
  gets 421, while a submission client still logs in and sends (the rest of
  max_connections is theirs);
- stress: once a listener holds stress_threshold percent of its limit, idle
  sessions (those already open included) are closed after the short
  smtpd.stress_timeout, not the long idle_timeout; below the threshold they
  are left alone;
- smtpd.greeting_timeout: a client that never says EHLO/HELO is dropped
  sooner than one that did;
- pop3d: the same stress mode against max_connections (pop3d.stress_timeout),
  and pop3d.preauth_timeout: a client that never logs in is dropped sooner
  than a logged-in one.

Bounded: at most 25 connections, every wait under 10 s, loopback only.
"""

import poplib
import smtplib
import socket
import time
import unittest

from harness import have_built, require, start_postroom


def connect(port, ehlo=True):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    s.settimeout(10)
    f = s.makefile('rb')
    greeting = f.readline()
    assert greeting.startswith(b'220 '), greeting
    if ehlo:
        s.sendall(b'EHLO client.test\r\n')
        while True:
            line = f.readline()
            assert line.startswith(b'250'), line
            if line[3:4] == b' ':
                break
    return s, f


def alive(conn):
    """NOOP answered 250."""
    s, f = conn
    try:
        s.sendall(b'NOOP\r\n')
        return f.readline().startswith(b'250')
    except OSError:
        return False


def closed_with_421(conn, timeout):
    """Read until EOF (bounded); the last line before it, or None if still open."""
    s, f = conn
    s.settimeout(timeout)
    last = None
    try:
        while True:
            line = f.readline()
            if not line:
                return last
            last = line
    except (socket.timeout, OSError):
        return None


class ListenerLimitCase(unittest.TestCase):
    def setUp(self):
        require(have_built('smtpd'), 'smtpd not built')
        self.conns = []

    def tearDown(self):
        for s, f in self.conns:
            f.close()
            s.close()

    def start(self, daemon='smtpd', **config):
        # One worker: max_connections, a listener's own limit and stress are per process
        # (max_connections_per_ip is shared by the workers: test_conn_shared.py).
        base = {'workers': 1, 'max_connections_per_ip': 200}
        base.update(config)
        pr = start_postroom(self, daemons=(daemon,), config=base)
        return pr

    def open_mx(self, pr, n, ehlo=True):
        out = [connect(pr.port('smtpd.mx_listen'), ehlo) for _ in range(n)]
        self.conns += out
        return out

    def test_mx_full_submission_still_served(self):
        pr = self.start(max_connections=25, stress_threshold=0,
                        **{'smtpd.mx_max_connections': 20})
        self.open_mx(pr, 20)
        with socket.create_connection(('127.0.0.1', pr.port('smtpd.mx_listen')),
                                      timeout=10) as s:
            first = s.makefile('rb').readline()
        self.assertTrue(first.startswith(b'421'), first)
        # The 421 may reach us before the line is in the log.
        pr.wait_for(lambda: 'reason=listener_max_connections' in pr.log('smtpd'))
        # Submission still gets in, logs in and sends.
        with smtplib.SMTP('127.0.0.1', pr.port('smtpd.submission_listen'), timeout=10) as c:
            c.ehlo('client.test')
            c.login('alice@example.test', 'alice-pw')
            c.sendmail('alice@example.test', ['bob@example.test'],
                       b'Subject: reserve\r\n\r\nstill here\r\n')
        msgs = pr.messages('bob@example.test')
        self.assertEqual(len(msgs), 1)
        self.assertIn(b'still here', msgs[0])
        # The MX connections were not touched.
        self.assertTrue(all(alive(c) for c in self.conns))

    def test_stress_cuts_idle_timeout(self):
        pr = self.start(max_connections=100, stress_threshold=80,
                        **{'smtpd.mx_max_connections': 20, 'smtpd.stress_timeout': '2s',
                           'smtpd.idle_timeout': '60s'})
        calm = self.open_mx(pr, 10)		# 50 %: no stress
        time.sleep(3)
        self.assertTrue(all(alive(c) for c in calm), 'closed without stress')
        t0 = time.monotonic()
        self.open_mx(pr, 8)			# 18 of 20 = 90 %: stress
        for c in self.conns:
            last = closed_with_421(c, 10)
            self.assertIsNotNone(last, 'idle MX session still open under stress')
            self.assertTrue(last.startswith(b'421'), last)
        took = time.monotonic() - t0
        self.assertLess(took, 10.0)
        self.assertGreaterEqual(took, 1.5)
        self.assertRegex(pr.log('smtpd'), r'event=stress listener=mx connections=16 ')
        # Once they are gone the stress ends, and the port serves again.
        pr.wait_for(lambda: 'event=stress_end listener=mx' in pr.log('smtpd'))
        conn = connect(pr.port('smtpd.mx_listen'))
        self.conns.append(conn)
        self.assertTrue(alive(conn))

    def test_greeting_timeout(self):
        pr = self.start(**{'smtpd.greeting_timeout': '1s', 'smtpd.idle_timeout': '60s'})
        silent = self.open_mx(pr, 1, ehlo=False)[0]
        polite = self.open_mx(pr, 1, ehlo=True)[0]
        t0 = time.monotonic()
        last = closed_with_421(silent, 6)
        self.assertIsNotNone(last, 'a client that never said EHLO was kept')
        self.assertTrue(last.startswith(b'421'), last)
        self.assertLess(time.monotonic() - t0, 5.0)
        time.sleep(1)
        self.assertTrue(alive(polite), 'a client that said EHLO was dropped')

    def test_pop3_stress(self):
        require(have_built('pop3d'), 'pop3d not built')
        pr = self.start('pop3d', max_connections=10, stress_threshold=80,
                        **{'pop3d.stress_timeout': '1s', 'pop3d.idle_timeout': '60s'})
        port = pr.port('pop3d.listen')
        few = [poplib.POP3('127.0.0.1', port, timeout=10) for _ in range(5)]
        self.addCleanup(lambda: [p.close() for p in few])
        time.sleep(2)
        for p in few:
            self.assertTrue(p.capa())  # answered: still open
        more = [poplib.POP3('127.0.0.1', port, timeout=10) for _ in range(3)]  # 8 of 10
        self.addCleanup(lambda: [p.close() for p in more])
        t0 = time.monotonic()
        for p in few + more:
            p.sock.settimeout(6)
            try:
                while p.sock.recv(512):
                    pass
            except socket.timeout:
                self.fail('idle POP3 session still open under stress')
        self.assertLess(time.monotonic() - t0, 8.0)
        self.assertIn('event=stress listener=pop3', pr.log('pop3d'))

    def test_pop3_preauth_timeout(self):
        require(have_built('pop3d'), 'pop3d not built')
        pr = self.start('pop3d', **{'pop3d.preauth_timeout': '1s', 'pop3d.idle_timeout': '60s'})
        port = pr.port('pop3d.listen')
        anon = poplib.POP3('127.0.0.1', port, timeout=10)
        self.addCleanup(anon.close)
        user = poplib.POP3('127.0.0.1', port, timeout=10)
        self.addCleanup(user.close)
        user.user('alice@example.test')
        user.pass_('alice-pw')
        t0 = time.monotonic()
        anon.sock.settimeout(6)
        data = b''
        try:
            while True:
                chunk = anon.sock.recv(512)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            self.fail('a client that never logged in was kept')
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertIn(b'-ERR', data)
        time.sleep(1)
        self.assertTrue(user.noop().startswith(b'+OK'), 'a logged-in client was dropped')


if __name__ == '__main__':
    unittest.main()
