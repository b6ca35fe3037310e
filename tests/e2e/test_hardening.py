"""Issue 19 item 12: every process of a serving daemon (the supervisor and
its workers) has PR_SET_NO_NEW_PRIVS and the seccomp deny-list
(/proc/PID/status: NoNewPrivs: 1, Seccomp: 2), still serves, and
`seccomp = no` leaves the filter out (NoNewPrivs stays)."""

import socket
import unittest

from harness import have_built, require, start_postroom
from test_daemon import descendants

DAEMONS = {'smtpd': ('smtpd.mx_listen', b'220 '), 'pop3d': ('pop3d.listen', b'+OK')}


def status(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            key, _, value = line.partition(':')
            out[key] = value.strip()
    return out


class HardeningCase:
    name = None

    def setUp(self):
        require(have_built(self.name), '%s not built' % self.name)
        self.key, self.greeting = DAEMONS[self.name]

    def serving(self, **config):
        pr = start_postroom(self, daemons=(self.name,), config=config)
        with socket.create_connection(('127.0.0.1', pr.port(self.key)), timeout=5) as s:
            self.assertTrue(s.recv(512).startswith(self.greeting))
        procs = pr.wait_for(lambda: len(descendants(pr.pid(self.name))) >= 2 and
                            descendants(pr.pid(self.name)), timeout=5)
        return pr, procs

    def test_no_new_privs_and_seccomp(self):
        pr, procs = self.serving(workers=2)
        for pid in procs:
            st = status(pid)
            with self.subTest(pid=pid):
                self.assertEqual(st.get('NoNewPrivs'), '1', st)
                self.assertEqual(st.get('Seccomp'), '2', st)

    def test_seccomp_off(self):
        pr, procs = self.serving(workers=1, seccomp='no')
        for pid in procs:
            st = status(pid)
            with self.subTest(pid=pid):
                self.assertEqual(st.get('NoNewPrivs'), '1', st)
                self.assertEqual(st.get('Seccomp'), '0', st)


class TestSmtpdHardening(HardeningCase, unittest.TestCase):
    name = 'smtpd'


class TestPop3dHardening(HardeningCase, unittest.TestCase):
    name = 'pop3d'


if __name__ == '__main__':
    unittest.main()
