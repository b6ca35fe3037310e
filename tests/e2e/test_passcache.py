"""Remembered logins (auth_cache_size, auth_cache_ttl): a client logging in
again skips the password hash, whichever worker it reaches; a changed
password is never matched by the old entry, nor a wrong one; with
auth_cache_ttl = 0 every login is hashed.

What a hash costs is read as pop3d's CPU time (user + system, every
process): the logins of fresh users, one hash each, against those of a user
already seen.  A busy machine stretches wall time, not CPU time.
"""

import os
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
    """The reply to PASS."""
    with socket.create_connection(('127.0.0.1', port), timeout=20) as s:
        f = s.makefile('rb')
        f.readline()
        s.sendall(('USER %s\r\nPASS %s\r\n' % (user, password)).encode())
        assert f.readline().startswith(b'+OK')
        reply = f.readline()
        s.sendall(b'QUIT\r\n')
        f.readline()
        return reply


class RememberedLogins(unittest.TestCase):
    ttl = '1h'

    def setUp(self):
        self.pr = start_postroom(self, daemons=('pop3d',), config={
            'workers': 2, 'auth_cache_ttl': self.ttl, 'auth_fail_delay': '50ms',
            'auth_max_failures': 1000})
        for i in range(FRESH):
            self.pr.add_user('fresh%d@example.test' % i, 'pw-%d' % i)
        self.pr.add_user(CAROL, 'first secret')
        self.pr.restart('pop3d')
        self.port = self.pr.port('pop3d.listen')
        pid = self.pr.pid('pop3d')
        self.pr.wait_for(lambda: len(children(pid)) == 2)    # forked a little after the start
        self.pids = [pid] + children(pid)

    def login(self, user, password):
        return pop3_login(self.port, user, password)

    def hash_seconds(self):
        """pop3d's CPU seconds per login of a user never seen."""
        t0 = cpu_seconds(self.pids)
        for i in range(FRESH):
            self.assertTrue(self.login('fresh%d@example.test' % i, 'pw-%d' % i).startswith(b'+OK'))
        per = (cpu_seconds(self.pids) - t0) / FRESH
        self.assertGreater(per, 0.005, 'a hash too cheap to tell apart from a session')
        return per

    def again_seconds(self):
        """pop3d's CPU seconds for AGAIN logins of carol, seen once before."""
        self.assertTrue(self.login(CAROL, 'first secret').startswith(b'+OK'))
        t0 = cpu_seconds(self.pids)
        for _ in range(AGAIN):
            self.assertTrue(self.login(CAROL, 'first secret').startswith(b'+OK'))
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
        self.assertTrue(self.login(CAROL, 'wrong').startswith(b'-ERR'))
        reloads = self.pr.log('pop3d').count('event=reload status=ok')
        self.pr.mailctl('passwd', CAROL, '--password-stdin', input='second secret\n')
        self.pr.reload()
        self.pr.wait_for(lambda: self.pr.log('pop3d').count('event=reload status=ok') >= reloads + 2)
        for _ in range(4):          # each worker answers some
            self.assertTrue(self.login(CAROL, 'second secret').startswith(b'+OK'))
            self.assertTrue(self.login(CAROL, 'first secret').startswith(b'-ERR'))


class NotRemembered(RememberedLogins):
    ttl = '0'

    def test_every_login_is_hashed(self):
        per_hash = self.hash_seconds()
        again = self.again_seconds()
        self.assertGreater(again, AGAIN * per_hash / 2,
                           '%d logins again: %.3f s of CPU, a hash %.3f s' % (AGAIN, again, per_hash))


if __name__ == '__main__':
    unittest.main()
