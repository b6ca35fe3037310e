"""pop3d end to end: Python's poplib (the seed recipe), fetchmail, curl, hostile input.

Mail is delivered through smtpd when it is built, else written into Maildir/new/
(the store picks new files up when the mailbox is opened).
"""

import email.parser
import email.policy
import os
import poplib
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
from email.header import decode_header, make_header
from email.message import EmailMessage

from harness import Postroom, build_dir, have_tool, require

ALICE = ('alice@example.test', 'alice-pw')
SUBJECT = '中文主题：测试邮件'


def has_smtpd():
    return os.access(os.path.join(build_dir(), 'smtpd'), os.X_OK) and \
        os.path.exists(os.path.join(os.path.dirname(__file__), '..', '..', 'smtpd', 'main.c'))


def sample_messages():
    """Three messages: a Chinese subject with an attachment, dot lines, a plain one."""
    m = EmailMessage()
    m['From'] = 'sender@remote.test'
    m['To'] = ALICE[0]
    m['Subject'] = SUBJECT
    m.set_content('你好，世界。\n.\n..a line that starts with dots\n')
    m.add_attachment(bytes(range(256)) * 40, maintype='application',
                     subtype='octet-stream', filename='blob.bin')
    first = m.as_bytes(policy=email.policy.SMTP)
    second = (b'From: a@remote.test\r\nTo: alice@example.test\r\nSubject: dots\r\n\r\n'
              b'.\r\n.leading\r\n...\r\nend\r\n')
    third = b'From: b@remote.test\r\nTo: alice@example.test\r\nSubject: plain\r\n\r\nhi\r\n'
    return [first, second, third]


class Pop3Case(unittest.TestCase):
    daemons = ('smtpd', 'pop3d') if has_smtpd() else ('pop3d',)

    def setUp(self):
        self.pr = Postroom(daemons=self.daemons)
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)

    def deliver(self, msg, rcpt=ALICE[0]):
        """msg: bytes with CRLF line ends."""
        if 'smtpd' in self.daemons:
            with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
                s.sendmail('sender@remote.test', [rcpt], msg)
            return
        new = os.path.join(self.pr.maildir(rcpt), 'new')
        name = '%d.P%dQ%d.test' % (time.time(), os.getpid(), len(os.listdir(new)))
        with open(os.path.join(new, name), 'wb') as f:
            f.write(msg.replace(b'\r\n', b'\n'))

    def deliver_samples(self):
        msgs = sample_messages()
        for m in msgs:
            self.deliver(m)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == len(msgs))
        return msgs

    def on_disk_crlf(self):
        """Each stored file as a POP3 client must see it (CRLF line ends)."""
        return [f.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
                for f in self.pr.messages(ALICE[0])]

    def plain(self):
        return poplib.POP3('127.0.0.1', self.pr.port('pop3d.listen'), timeout=10)

    def tls(self):
        return poplib.POP3_SSL('127.0.0.1', self.pr.port('pop3d.tls_listen'), timeout=10,
                               context=self.pr.ssl_context())


class TestSeedRecipe(Pop3Case):
    def seed_recipe(self, connect):
        self.deliver_samples()
        stored = self.on_disk_crlf()
        p = connect()
        p.user(ALICE[0])
        p.pass_(ALICE[1])
        count, size = p.stat()
        self.assertEqual(count, 3)
        self.assertEqual(size, sum(len(m) for m in stored))
        resp, listing, _ = p.list()
        self.assertTrue(resp.startswith(b'+OK'))
        sizes = [int(l.split()[1]) for l in listing]
        got = []
        for i in range(1, count + 1):
            resp, lines, octets = p.retr(i)
            body = b'\r\n'.join(lines) + b'\r\n'
            self.assertEqual(len(body), sizes[i - 1])
            got.append(body)
        self.assertEqual(sorted(got), sorted(stored))
        chinese = [g for g in got if b'attachment' in g][0]
        msg = email.parser.BytesParser().parsebytes(chinese)
        self.assertEqual(str(make_header(decode_header(msg['Subject']))), SUBJECT)
        parts = [pt for pt in msg.walk() if pt.get_filename() == 'blob.bin']
        self.assertEqual(parts[0].get_payload(decode=True), bytes(range(256)) * 40)
        uidls = p.uidl()[1]
        self.assertEqual(len(uidls), 3)
        p.dele(1)
        p.dele(3)
        p.quit()
        left = self.on_disk_crlf()
        self.assertEqual(left, [got[1]])
        p = connect()
        p.user(ALICE[0])
        p.pass_(ALICE[1])
        self.assertEqual(p.stat(), (1, len(got[1])))
        self.assertEqual(p.uidl()[1], [b'1 ' + uidls[1].split()[1]])
        p.quit()

    def test_plain_loopback(self):
        self.seed_recipe(self.plain)

    def test_stls(self):
        def connect():
            p = self.plain()
            caps = p.capa()
            self.assertIn('STLS', caps)
            p.stls(self.pr.ssl_context())
            self.assertNotIn('STLS', p.capa())
            return p
        self.seed_recipe(connect)

    def test_implicit_tls(self):
        self.seed_recipe(self.tls)

    def test_capa(self):
        p = self.plain()
        caps = p.capa()
        for c in ('TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'USER',
                  'STLS', 'IMPLEMENTATION'):
            self.assertIn(c, caps)
        self.assertEqual(caps['SASL'], ['PLAIN', 'LOGIN'])
        p.quit()


class TestDurability(Pop3Case):
    def test_drop_without_quit_deletes_nothing(self):
        self.deliver_samples()
        p = self.plain()
        p.user(ALICE[0])
        p.pass_(ALICE[1])
        p.dele(1)
        p.dele(2)
        p.sock.close()
        time.sleep(0.2)
        self.assertEqual(len(self.pr.messages(ALICE[0])), 3)
        p = self.plain()
        p.user(ALICE[0])
        p.pass_(ALICE[1])
        self.assertEqual(p.stat()[0], 3)
        p.quit()

    def test_in_use(self):
        self.deliver_samples()
        a = self.plain()
        a.user(ALICE[0])
        a.pass_(ALICE[1])
        b = self.plain()
        b.user(ALICE[0])
        with self.assertRaises(poplib.error_proto) as cm:
            b.pass_(ALICE[1])
        self.assertTrue(str(cm.exception).startswith("b'-ERR [IN-USE]"), cm.exception)
        b.quit()
        a.quit()

    def test_kill_during_update(self):
        n = 200
        for i in range(n):
            self.deliver(b'Subject: m%d\r\n\r\nbody %d\r\n' % (i, i))
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == n, timeout=60)
        left = n
        # Kill sooner and later after QUIT: before, during and after the expunge.
        for delay in (0.0005, 0.001, 0.003):
            p = self.plain()
            p.user(ALICE[0])
            p.pass_(ALICE[1])
            for i in range(1, left + 1):
                p.dele(i)
            p.sock.sendall(b'QUIT\r\n')
            time.sleep(delay)
            self.pr.kill('pop3d')
            self.pr.start('pop3d')
            files = self.pr.messages(ALICE[0])
            p = self.plain()
            p.user(ALICE[0])
            p.pass_(ALICE[1])
            count, _ = p.stat()
            # Each message is present or gone, and the index agrees with the Maildir.
            self.assertEqual(count, len(files))
            got = sorted(b'\r\n'.join(p.retr(i)[1]) + b'\r\n' for i in range(1, count + 1))
            self.assertEqual(got, sorted(f.replace(b'\n', b'\r\n') for f in files))
            p.quit()
            left = count
            if left == 0:
                for i in range(n):
                    self.deliver(b'Subject: again %d\r\n\r\n' % i)
                self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == n, timeout=60)
                left = n


class TestLimits(unittest.TestCase):
    def test_connections_per_address(self):
        # Two workers: whichever takes a connection counts it with the other's.
        with Postroom(daemons=('pop3d',), config={'max_connections_per_ip': 2,
                                                  'workers': 2}) as pr:
            port = pr.port('pop3d.listen')
            a, b = Raw(port), Raw(port)
            self.assertTrue(a.line().startswith(b'+OK'))
            self.assertTrue(b.line().startswith(b'+OK'))
            c = Raw(port)
            self.assertEqual(c.line(), b'-ERR [SYS/TEMP] Too many connections, try again later.\r\n')
            self.assertEqual(c.line(), b'')
            for r in (a, b, c):
                r.close()

    def test_max_errors_and_its_old_name(self):
        """pop3d.max_errors closes after that many bad commands in a row; the
        old key max_bad_commands still sets it, with a warning naming the new one."""
        for key in ('pop3d.max_errors', 'max_bad_commands'):
            with Postroom(daemons=('pop3d',), config={key: 2}) as pr:
                r = Raw(pr.port('pop3d.listen'))
                self.assertTrue(r.line().startswith(b'+OK'))
                self.assertEqual(r.cmd('BOGUS')[:4], b'-ERR')
                self.assertEqual(r.cmd('BOGUS')[:4], b'-ERR')
                self.assertEqual(r.line(), b'-ERR Too many bad commands, closing.\r\n')
                self.assertEqual(r.line(), b'')
                r.close()
                deprecated = 'key max_bad_commands is deprecated, use pop3d.max_errors'
                self.assertEqual(deprecated in pr.log('pop3d'), key == 'max_bad_commands')


class TestOpensTakeTurns(unittest.TestCase):
    def fill(self, pr, user, n, body):
        new = os.path.join(pr.maildir(user), 'new')
        os.makedirs(new, exist_ok=True)
        for j in range(n):
            with open(os.path.join(new, '1700000000.M%dP1.test' % j), 'wb') as f:
                f.write(body)
        if pr.as_root:
            subprocess.run(['chown', '-R', pr.user, os.path.dirname(new)], check=True)

    def test_logins_at_once_open_in_turn(self):
        """store.max_opens = 1 in one worker: four logins at once to fresh
        2,000-message maildrops each open in its turn and count right, and
        clients that hang up while theirs waits change nothing for the others."""
        body = b'From: a@remote.test\nSubject: s\n\nbody\n'
        users = [ALICE[0], 'bob@example.test', 'carol@example.test', 'dave@example.test']
        with Postroom(daemons=(), config={'workers': 1, 'store.max_opens': 1}) as pr:
            for u in users[2:] + ['erin@example.test']:
                pr.add_user(u, 'pw')
            for u in users + ['erin@example.test']:
                self.fill(pr, u, 2000, body)
            pr.start('pop3d')
            port = pr.port('pop3d.listen')
            pw = {ALICE[0]: ALICE[1], 'bob@example.test': 'bob-pw'}
            stats, errors = {}, []

            def session(user):
                try:
                    p = poplib.POP3('127.0.0.1', port, timeout=30)
                    p.user(user)
                    p.pass_(pw.get(user, 'pw'))
                    stats[user] = p.stat()
                    p.quit()
                except Exception as e:  # reported below, with the user
                    errors.append((user, e))
            gone = []       # erin's, so that no lock they may take is one the others need
            for _ in range(2):
                r = Raw(port)
                r.line()
                r.s.sendall(b'USER erin@example.test\r\nPASS pw\r\n')
                gone.append(r)
            threads = [threading.Thread(target=session, args=(u,)) for u in users]
            for t in threads:
                t.start()
            for r in gone:
                r.close()
            for t in threads:
                t.join(60)
            self.assertEqual(errors, [])
            self.assertEqual(stats, {u: (2000, 2000 * (len(body) + body.count(b'\n')))
                                     for u in users})
            self.assertTrue(pr.running('pop3d'))
            self.assertEqual(pr.stop('pop3d'), 0)


class TestClients(Pop3Case):
    def test_fetchmail_stls_keep_then_flush(self):
        require(have_tool('fetchmail'), 'fetchmail not installed')
        self.deliver_samples()
        home = tempfile.mkdtemp(prefix='fetchmail-')
        self.addCleanup(shutil.rmtree, home, True)
        rc = os.path.join(home, '.fetchmailrc')
        with open(rc, 'w') as f:
            f.write('poll 127.0.0.1 protocol POP3 port %d\n'
                    '  user "%s" password "%s" is root here\n'
                    '  sslproto "TLS1.2+" no sslcertck\n'
                    % (self.pr.port('pop3d.listen'), ALICE[0], ALICE[1]))
        os.chmod(rc, 0o600)
        out = os.path.join(home, 'mbox')
        env = dict(os.environ, HOME=home)

        def run(*extra):
            return subprocess.run(['fetchmail', '-f', rc, '--nosyslog', '--nodetach',
                                   '-i', os.path.join(home, 'ids'),
                                   '--mda', 'cat >> %s' % out] + list(extra),
                                  env=env, capture_output=True, text=True, timeout=60)
        r = run('--keep')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('event=starttls tls="TLSv1', self.pr.log('pop3d'))
        with open(out, 'rb') as f:
            data = f.read()
        self.assertIn(b'Subject: dots', data)
        self.assertEqual(len(self.pr.messages(ALICE[0])), 3)
        r = run('--nokeep', '--all')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.pr.messages(ALICE[0]), [])

    def curl(self, url, *extra):
        return subprocess.run(['curl', '-sS', '--max-time', '20', '-u', '%s:%s' % ALICE,
                               url] + list(extra), capture_output=True, timeout=30)

    def test_curl(self):
        require(have_tool('curl'), 'curl not installed')
        self.deliver_samples()
        stored = self.on_disk_crlf()
        for url, extra in (('pop3://127.0.0.1:%d/' % self.pr.port('pop3d.listen'), ()),
                           ('pop3://127.0.0.1:%d/' % self.pr.port('pop3d.listen'),
                            ('--ssl-reqd', '-k')),
                           ('pop3s://127.0.0.1:%d/' % self.pr.port('pop3d.tls_listen'), ('-k',))):
            r = self.curl(url, *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.split(b'\r\n')
            self.assertEqual(len([l for l in lines if l]), 3, r.stdout)
            r = self.curl(url + '2', *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(r.stdout, stored)


class Raw:
    """A line-oriented raw client for hostile-input tests."""

    def __init__(self, port, wrap=None, source='127.0.0.1'):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=10,
                                          source_address=(source, 0))
        if wrap:
            self.s = wrap.wrap_socket(self.s)
        self.f = self.s.makefile('rb')

    def line(self):
        return self.f.readline()

    def cmd(self, text):
        self.s.sendall(text if isinstance(text, bytes) else text.encode() + b'\r\n')
        return self.line()

    def close(self):
        self.f.close()
        self.s.close()


class TestHostile(Pop3Case):
    def login(self, r):
        self.assertEqual(r.cmd('USER ' + ALICE[0])[:3], b'+OK')
        self.assertEqual(r.cmd('PASS ' + ALICE[1])[:3], b'+OK')

    def test_hostile_inputs(self):
        self.deliver_samples()
        r = Raw(self.pr.port('pop3d.listen'))
        self.assertTrue(r.line().startswith(b'+OK'))
        self.assertEqual(r.cmd(b'X' * 100000 + b'\r\n'), b'-ERR line too long\r\n')
        self.assertTrue(r.cmd('STAT').startswith(b'-ERR'))
        self.assertTrue(r.cmd('AUTH PLAIN !!!!').startswith(b'-ERR'))
        self.assertEqual(r.cmd('AUTH PLAIN'), b'+ \r\n')
        self.assertTrue(r.cmd('%%%%').startswith(b'-ERR'))
        self.login(r)
        for bad in ('RETR 0', 'RETR -1', 'RETR 1099511627776', 'RETR garbage', 'RETR',
                    'TOP 1 x', 'DELE 4', 'LIST 0', 'USER x', 'STLS'):
            self.assertTrue(r.cmd(bad).startswith(b'-ERR'), bad)
        r.s.sendall(b'NOOP\r\n' * 10000)
        for i in range(10000):
            self.assertEqual(r.line(), b'+OK\r\n')
        self.assertEqual(r.cmd('STAT')[:6], b'+OK 3 ')
        self.assertTrue(r.cmd('QUIT').startswith(b'+OK'))
        r.close()
        # Gone while the password is being checked (on an I/O thread), or mid-AUTH.
        for blob in (b'USER %s\r\nPASS %s\r\n' % (ALICE[0].encode(), ALICE[1].encode()),
                     b'USER x@example.test\r\nPASS y\r\n', b'AUTH LOGIN\r\n'):
            for i in range(20):
                r = Raw(self.pr.port('pop3d.listen'))
                r.s.sendall(blob)
                r.close()
        # Those failed logins may have got 127.0.0.1 blocked (auth_max_failures): the
        # server is checked from another address.  The abandoned good logins open the
        # maildrop on the workq and hold its lock until they finish: wait for them.
        def logged_in():
            r = Raw(self.pr.port('pop3d.listen'), source='127.0.0.7')
            try:
                r.line()
                r.cmd('USER ' + ALICE[0])
                reply = r.cmd('PASS ' + ALICE[1])
                if not reply.startswith(b'+OK'):
                    self.assertIn(b'[IN-USE]', reply)
                    return False
                self.assertEqual(r.cmd('STAT')[:6], b'+OK 3 ')
                return True
            finally:
                r.close()
        self.pr.wait_for(logged_in, timeout=10, interval=0.1)

    def test_pipelined_retr_of_a_large_message(self):
        # More pipelined commands than one line buffer holds, each with a reply far
        # over the output high-water mark: the session must pause and resume reading.
        big = b'Subject: big\r\n\r\n' + (b'.' + b'y' * 998 + b'\r\n') * 600
        self.deliver(big)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == 1)
        big = self.on_disk_crlf()[0]    # smtpd adds trace headers
        r = Raw(self.pr.port('pop3d.listen'))
        r.line()
        self.login(r)
        n = 200
        r.s.sendall(b'RETR 1\r\n' * n + b'QUIT\r\n')
        for i in range(n):
            self.assertTrue(r.line().startswith(b'+OK'), i)
            body = []
            while True:
                l = r.line()
                if l == b'.\r\n':
                    break
                body.append(l[1:] if l.startswith(b'.') else l)
            self.assertEqual(b''.join(body), big)
        self.assertTrue(r.line().startswith(b'+OK'))
        r.close()

    def test_stls_twice_and_injection(self):
        r = Raw(self.pr.port('pop3d.listen'))
        r.line()
        # Plaintext pipelined behind STLS must be discarded, not executed.
        r.s.sendall(b'STLS\r\nUSER alice@example.test\r\n')
        self.assertTrue(r.line().startswith(b'+OK'))
        t = Raw.__new__(Raw)
        t.s = self.pr.ssl_context().wrap_socket(r.s)
        t.f = t.s.makefile('rb')
        self.assertTrue(t.cmd('PASS alice-pw').startswith(b'-ERR'))
        self.assertTrue(t.cmd('STLS').startswith(b'-ERR'))
        self.login(t)
        t.close()

    def test_bad_commands_close(self):
        r = Raw(self.pr.port('pop3d.listen'))
        r.line()
        for i in range(19):
            self.assertTrue(r.cmd('BOGUS').startswith(b'-ERR'))
        self.assertTrue(r.cmd('BOGUS').startswith(b'-ERR'))
        self.assertTrue(r.line().startswith(b'-ERR Too many'))
        self.assertEqual(r.line(), b'')
        r.close()

    def test_failed_login_is_delayed(self):
        # After a failure every answer waits auth_fail_delay (the harness: 100 ms) per
        # failure, the right password's too (the timing must not tell).
        r = Raw(self.pr.port('pop3d.listen'))
        r.line()
        self.login(r)			# the first login creates the index: not timed
        r.close()
        r = Raw(self.pr.port('pop3d.listen'))
        r.line()
        r.cmd('USER ' + ALICE[0])
        self.assertEqual(r.cmd('PASS wrong'), b'-ERR [AUTH] Authentication failed.\r\n')
        r.cmd('USER ' + ALICE[0])
        t0 = time.monotonic()
        self.assertEqual(r.cmd('PASS wrong'), b'-ERR [AUTH] Authentication failed.\r\n')
        self.assertGreater(time.monotonic() - t0, 0.09)
        t0 = time.monotonic()
        self.login(r)			# two failures: 200 ms
        self.assertGreater(time.monotonic() - t0, 0.18)
        r.close()


if __name__ == '__main__':
    unittest.main()
