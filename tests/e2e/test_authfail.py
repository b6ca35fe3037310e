"""Login throttling end to end (issue 19 item 6): one failed-login table shared by
smtpd and pop3d and by every worker, loopback blocked like any address, and the
delay applied before the answer whether the password was right or not.

Clients bind to 127.0.0.2, 127.0.0.3... before connecting (Linux routes all of
127/8 to lo), so each test address has its own history.
"""

import base64
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from harness import Postroom, is_root, require, start_postroom, stop_process

ALICE = ('alice@example.test', 'alice-pw')
DELAY = 0.6          # auth_fail_delay below
BLOCK = 4.0          # auth_block_time below
MAX_FAILURES = 3


class Pop3:
    """A raw POP3 client bound to a chosen loopback source address."""

    def __init__(self, port, src):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=20,
                                             source_address=(src, 0))
        self.f = self.sock.makefile('rb')
        self.greeting = self.f.readline()

    def cmd(self, line):
        self.sock.sendall(line.encode() + b'\r\n')
        return self.f.readline()

    def close(self):
        try:
            self.cmd('QUIT')
        except OSError:
            pass
        self.f.close()
        self.sock.close()


def pop3_login(port, src, password):
    """(reply to PASS, seconds from PASS sent to its reply)."""
    c = Pop3(port, src)
    try:
        assert c.cmd('USER ' + ALICE[0]).startswith(b'+OK')
        t0 = time.monotonic()
        reply = c.cmd('PASS ' + password)
        return reply, time.monotonic() - t0
    finally:
        c.close()


def smtp_auth(port, src, password):
    """(code of AUTH PLAIN, seconds it took)."""
    with smtplib.SMTP('127.0.0.1', port, timeout=20, source_address=(src, 0)) as s:
        s.ehlo()
        ir = base64.b64encode(('\0%s\0%s' % (ALICE[0], password)).encode()).decode()
        t0 = time.monotonic()
        code, _ = s.docmd('AUTH', 'PLAIN ' + ir)
        return code, time.monotonic() - t0


class AuthfailCase(unittest.TestCase):
    config = {'workers': 2, 'auth_max_failures': MAX_FAILURES,
              'auth_fail_delay': '%dms' % (DELAY * 1000), 'auth_block_time': '%ds' % BLOCK}

    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd', 'pop3d'), config=self.config)
        self.pop3 = self.pr.port('pop3d.listen')
        self.smtp = self.pr.port('smtpd.submission_listen')
        # The first login creates alice's index (slow): not part of any timing.
        self.assertEqual(pop3_login(self.pop3, '127.0.0.100', ALICE[1])[0],
                         b'+OK Logged in.\r\n')

    def worker_pids(self, name, pattern, since=0):
        """Distinct worker pids whose log lines (from offset since) match pattern."""
        return {int(m.group(1)) for m in
                re.finditer(r'\[(\d+)\]:[^\n]*' + pattern, self.pr.log(name)[since:])}


class TestBlockShared(AuthfailCase):
    # Refusals wait (failures x delay) too: keep them short next to the block, and the
    # block long enough for up to 10 of them on a loaded machine.
    block = 8.0
    config = dict(AuthfailCase.config, auth_fail_delay='100ms', auth_block_time='8s')

    def test_pop3_failures_block_smtp_and_every_worker_then_lift(self):
        bad, good = '127.0.0.2', '127.0.0.3'
        for _ in range(MAX_FAILURES):
            reply, _ = pop3_login(self.pop3, bad, 'wrong')
            self.assertEqual(reply, b'-ERR [AUTH] Authentication failed.\r\n')
        blocked_at = time.monotonic()
        # Blocked on the other daemon: the table is shared.
        code, took = smtp_auth(self.smtp, bad, ALICE[1])
        self.assertEqual(code, 454)
        # Blocked on every pop3d worker, even with the right password.
        # The kernel picks the worker that accepts (idle, it is always the same one): stop
        # the one that refused first, so that the next connection goes to the other.
        since = len(self.pr.log('pop3d'))
        reply, _ = pop3_login(self.pop3, bad, ALICE[1])
        self.assertEqual(reply, b'-ERR [AUTH] Authentication failed.\r\n')
        (first,) = self.worker_pids('pop3d', 'event=auth status=failed', since)
        stop_process(first)
        try:
            reply, _ = pop3_login(self.pop3, bad, ALICE[1])
        finally:
            os.kill(first, signal.SIGCONT)
        self.assertEqual(reply, b'-ERR [AUTH] Authentication failed.\r\n')
        refusals = 2
        workers = self.worker_pids('pop3d', 'event=auth status=failed', since)
        self.assertEqual(len(workers), 2, 'the refusals never reached a second worker')
        for _ in range(4):
            self.assertEqual(smtp_auth(self.smtp, bad, ALICE[1])[0], 454)
        # Another loopback address is not affected, and answered at once.
        reply, took_pop3 = pop3_login(self.pop3, good, ALICE[1])
        self.assertEqual(reply, b'+OK Logged in.\r\n')
        code, took_smtp = smtp_auth(self.smtp, good, ALICE[1])
        self.assertEqual(code, 235)
        # Not delayed either (.2 would now wait 3 x 100 ms); generous for a loaded machine.
        self.assertLess(max(took_pop3, took_smtp), 0.5)
        # The block lifts after auth_block_time (refusals did not extend it).
        self.assertLess(time.monotonic() - blocked_at, self.block - 0.5)
        time.sleep(max(0.0, blocked_at + self.block + 0.3 - time.monotonic()))
        self.assertEqual(smtp_auth(self.smtp, bad, ALICE[1])[0], 235)
        self.assertEqual(pop3_login(self.pop3, bad, ALICE[1])[0], b'+OK Logged in.\r\n')
        sys.stderr.write('\n  block: %d pop3 refusals over %d workers, lifted after %.1f s;'
                         ' other address: pop3 %.3f s, smtp %.3f s\n'
                         % (refusals, len(workers), time.monotonic() - blocked_at,
                            took_pop3, took_smtp))


class TestTiming(AuthfailCase):
    """After one failure, a right password waits as long as a wrong one."""

    def test_pop3_success_waits_like_failure(self):
        for src in ('127.0.0.4', '127.0.0.5'):
            self.assertTrue(pop3_login(self.pop3, src, 'wrong')[0].startswith(b'-ERR'))
        ok, t_ok = pop3_login(self.pop3, '127.0.0.4', ALICE[1])
        bad, t_bad = pop3_login(self.pop3, '127.0.0.5', 'wrong')
        self.assertEqual(ok, b'+OK Logged in.\r\n')
        self.assertTrue(bad.startswith(b'-ERR [AUTH]'))
        sys.stderr.write('\n  pop3 after 1 failure: right %.3f s, wrong %.3f s\n' % (t_ok, t_bad))
        self.assertGreater(t_ok, DELAY * 0.8)
        self.assertLess(abs(t_ok - t_bad), DELAY * 0.5)

    def test_smtp_success_waits_like_failure(self):
        for src in ('127.0.0.6', '127.0.0.7'):
            self.assertEqual(smtp_auth(self.smtp, src, 'wrong')[0], 535)
        code_ok, t_ok = smtp_auth(self.smtp, '127.0.0.6', ALICE[1])
        code_bad, t_bad = smtp_auth(self.smtp, '127.0.0.7', 'wrong')
        self.assertEqual((code_ok, code_bad), (235, 535))
        sys.stderr.write('\n  smtp after 1 failure: right %.3f s, wrong %.3f s\n' % (t_ok, t_bad))
        self.assertGreater(t_ok, DELAY * 0.8)
        self.assertLess(abs(t_ok - t_bad), DELAY * 0.5)

    def test_failure_on_one_daemon_delays_the_other(self):
        self.assertTrue(pop3_login(self.pop3, '127.0.0.8', 'wrong')[0].startswith(b'-ERR'))
        code, took = smtp_auth(self.smtp, '127.0.0.8', ALICE[1])
        self.assertEqual(code, 235)
        self.assertGreater(took, DELAY * 0.8)


class TestLoopbackExempt(AuthfailCase):
    config = dict(AuthfailCase.config, auth_exempt_loopback='yes', workers=1)

    def test_exempt_loopback_is_delayed_never_blocked(self):
        for _ in range(MAX_FAILURES):
            pop3_login(self.pop3, '127.0.0.9', 'wrong')
        code, took = smtp_auth(self.smtp, '127.0.0.9', ALICE[1])
        self.assertEqual(code, 235)
        self.assertGreater(took, DELAY * 0.8)


class TestFullDisk(unittest.TestCase):
    """A state_dir too small for the table: a warning and tables per process, no SIGBUS."""

    def test_table_on_a_full_file_system_falls_back(self):
        require(is_root(), 'mounting a tmpfs needs root')
        mnt = tempfile.mkdtemp(prefix='postroom-statefs-')
        self.addCleanup(os.rmdir, mnt)
        mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt],
                                 capture_output=True).returncode == 0
        require(mounted, 'cannot mount a tmpfs here')
        self.addCleanup(subprocess.run, ['umount', mnt], check=True)
        # 10,000 entries need 480 KB: more than the file system has.
        with Postroom(daemons=('smtpd', 'pop3d'),
                      config={'state_dir': mnt, 'auth_max_failures': 2,
                              # per-process tables: one worker sees every try
                              'workers': 1}) as pr:
            pop3, smtp = pr.port('pop3d.listen'), pr.port('smtpd.submission_listen')
            for _ in range(2):
                pop3_login(pop3, '127.0.0.11', 'wrong')
            self.assertTrue(pop3_login(pop3, '127.0.0.11', ALICE[1])[0].startswith(b'-ERR'))
            self.assertEqual(smtp_auth(smtp, '127.0.0.11', ALICE[1])[0], 235)  # not shared
            for name in ('smtpd', 'pop3d'):
                self.assertIn('shared=no reason="No space left on device"', pr.log(name))
                self.assertTrue(pr.running(name))


if __name__ == '__main__':
    unittest.main()
