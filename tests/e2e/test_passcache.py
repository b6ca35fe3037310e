"""Remembered logins (auth_cache_size, auth_cache_ttl): a client logging in
again skips the password hash, whichever worker it reaches; a changed
password is never matched by the old entry, nor a wrong one; with
auth_cache_ttl = 0 every login is hashed.

Each daemon is tested, through its own login (POP3 USER/PASS, IMAP
LOGIN, SMTP AUTH).  What a hash costs is read as the daemon's CPU time (user + system, every
process): the logins of fresh users, one hash each, against those of a user
already seen.  A busy machine stretches wall time, not CPU time.
"""

import imaplib
import os
import smtplib
import socket
import unittest

from harness import children, start_postroom

CAROL = 'carol@example.test'
FRESH = 6           # users logged in once each: the cost of one hash
AGAIN = 20          # logins of a user already seen


def cpu_seconds(pids):
    total = 0
    for p in pids:
        with open('/proc/%d/stat' % p) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf('SC_CLK_TCK')


def pop3_login(port, user, password):
    with socket.create_connection(('127.0.0.1', port), timeout=20) as s:
        f = s.makefile('rb')
        f.readline()
        s.sendall(('USER %s\r\nPASS %s\r\n' % (user, password)).encode())
        assert f.readline().startswith(b'+OK')
        ok = f.readline().startswith(b'+OK')
        s.sendall(b'QUIT\r\n')
        f.readline()
        return ok


def imap_login(port, user, password):
    with imaplib.IMAP4('127.0.0.1', port, timeout=20) as m:
        try:
            m.login(user, password)
        except imaplib.IMAP4.error:
            return False
        m.logout()
        return True


def smtp_login(port, user, password):
    with smtplib.SMTP('127.0.0.1', port, timeout=20) as s:
        s.ehlo()
        try:
            s.login(user, password)
        except smtplib.SMTPAuthenticationError:
            return False
        return True


LOGINS = {'pop3d': ('pop3d.listen', pop3_login), 'imapd': ('imapd.listen', imap_login),
          'smtpd': ('smtpd.submission_listen', smtp_login)}


class RememberedLogins(unittest.TestCase):
    daemon = 'pop3d'
    ttl = '1h'

    def setUp(self):
        self.pr = start_postroom(self, daemons=(self.daemon,), config={
            'workers': 2, 'auth_cache_ttl': self.ttl, 'auth_fail_delay': '50ms',
            'auth_max_failures': 1000})
        for i in range(FRESH):
            self.pr.add_user('fresh%d@example.test' % i, 'pw-%d' % i)
        self.pr.add_user(CAROL, 'first secret')
        self.pr.restart(self.daemon)
        port, self.client = LOGINS[self.daemon]
        self.port = self.pr.port(port)
        pid = self.pr.pid(self.daemon)
        self.pr.wait_for(lambda: len(children(pid)) == 2)    # forked a little after the start
        self.pids = [pid] + children(pid)

    def login(self, user, password):
        return self.client(self.port, user, password)

    def hash_seconds(self):
        """The daemon's CPU seconds per login of a user never seen."""
        t0 = cpu_seconds(self.pids)
        for i in range(FRESH):
            self.assertTrue(self.login('fresh%d@example.test' % i, 'pw-%d' % i))
        per = (cpu_seconds(self.pids) - t0) / FRESH
        self.assertGreater(per, 0.005, 'a hash too cheap to tell apart from a session')
        return per

    def again_seconds(self):
        """The daemon's CPU seconds for AGAIN logins of carol, seen once before."""
        self.assertTrue(self.login(CAROL, 'first secret'))
        t0 = cpu_seconds(self.pids)
        for _ in range(AGAIN):
            self.assertTrue(self.login(CAROL, 'first secret'))
        return cpu_seconds(self.pids) - t0


class Remembered(RememberedLogins):
    def test_a_login_again_skips_the_hash(self):
        per_hash = self.hash_seconds()
        again = self.again_seconds()
        # Hashed, the 20 would cost 20 hashes; remembered, next to none.
        self.assertLess(again, AGAIN * per_hash / 4,
                        '%d logins again: %.3f s of CPU, a hash %.3f s' % (AGAIN, again, per_hash))

    def test_a_changed_or_wrong_password_is_refused(self):
        self.again_seconds()        # remembered, in both workers
        self.assertFalse(self.login(CAROL, 'wrong'))
        reloads = self.pr.log(self.daemon).count('event=reload status=ok')
        self.pr.mailctl('passwd', CAROL, '--password-stdin', input='second secret\n')
        self.pr.reload()
        self.pr.wait_for(lambda: self.pr.log(self.daemon).count('event=reload status=ok') >= reloads + 2)
        for _ in range(4):          # each worker answers some
            self.assertTrue(self.login(CAROL, 'second secret'))
            self.assertFalse(self.login(CAROL, 'first secret'))


class RememberedImap(Remembered):
    daemon = 'imapd'


class RememberedSmtp(Remembered):
    daemon = 'smtpd'


class NotRemembered(RememberedLogins):
    ttl = '0'

    def test_every_login_is_hashed(self):
        per_hash = self.hash_seconds()
        again = self.again_seconds()
        self.assertGreater(again, AGAIN * per_hash / 2,
                           '%d logins again: %.3f s of CPU, a hash %.3f s' % (AGAIN, again, per_hash))


if __name__ == '__main__':
    unittest.main()
