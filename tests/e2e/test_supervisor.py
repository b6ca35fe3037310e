"""Issue 19 item 3b: a supervisor restarts a worker process that dies.

For smtpd and pop3d (each when built):
- workers = 1: kill -9 the worker (not the supervisor): within a few seconds
  the port answers again with a fresh greeting, served by a new process, and
  the death and the restart are logged;
- workers = 2: kill -9 one worker while a session is established on the
  other: that session carries on (NOOP answered) and the port keeps answering;
- a SIGHUP reload still works after a restart (a user added with mailctl is
  served by the restarted worker);
- SIGTERM to the supervisor still stops everything cleanly (exit 0, no
  worker left);
- a worker that keeps dying is restarted with a growing delay, not in a loop;
- a worker whose first start fails in set-up (smtpd's queue) stops the
  daemon (exit 1) instead of being restarted forever.
"""

import os
import poplib
import re
import signal
import smtplib
import socket
import time
import unittest

from harness import children, have_built, require, start_postroom

# daemon -> (plain listener key, greeting prefix)
DAEMONS = {
    'smtpd': ('smtpd.mx_listen', b'220 '),
    'pop3d': ('pop3d.listen', b'+OK'),
}


def greeting(port, timeout=2):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        return s.recv(512)


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


class SupervisorCase:
    name = None

    def setUp(self):
        require(have_built(self.name), '%s not built' % self.name)
        self.key, self.greeting = DAEMONS[self.name]

    def start(self, **config):
        pr = start_postroom(self, daemons=(self.name,), config=config)
        return pr

    def workers(self, pr, n):
        """Wait until the supervisor has n worker children; return their pids."""
        return pr.wait_for(lambda: len(children(pr.pid(self.name))) == n and
                           children(pr.pid(self.name)), timeout=10)

    def answers(self, port):
        try:
            return greeting(port).startswith(self.greeting)
        except OSError:
            return False

    def test_worker_killed_is_restarted_with_one_worker(self):
        pr = self.start(workers=1)
        port = pr.port(self.key)
        self.assertTrue(greeting(port).startswith(self.greeting))
        sup = pr.pid(self.name)
        [old] = self.workers(pr, 1)
        os.kill(old, signal.SIGKILL)
        t0 = time.monotonic()
        [new] = pr.wait_for(lambda: [p for p in children(sup) if p != old], timeout=8)
        pr.wait_for(lambda: self.answers(port), timeout=8)
        took = time.monotonic() - t0
        self.assertLess(took, 8.0)
        self.assertNotEqual(new, old)
        self.assertTrue(pr.running(self.name), 'the supervisor itself must survive')
        log = pr.log(self.name)
        self.assertRegex(log, r'event=worker_exit index=0 pid=%d signal=9 unexpected=yes' % old)
        self.assertRegex(log, r'event=worker_restart index=0 delay_ms=0')
        self.assertRegex(log, r'event=worker_start index=0 pid=%d' % new)
        # A reload after the restart reaches the new worker.
        pr.add_user('carol@example.test', 'carol-pw')
        self.assertTrue(pr.wait_for(
            lambda: pr.knows_user(self.name, 'carol@example.test', 'carol-pw'), timeout=10))
        # SIGTERM to the supervisor stops everything, cleanly.
        self.assertEqual(pr.stop(self.name), 0, pr.log(self.name)[-2000:])
        self.assertFalse(alive(new))
        self.assertIn('event=stopped', pr.log(self.name))

    def test_worker_restarted_after_a_reload_keeps_what_was_reloaded(self):
        pr = self.start(workers=1)
        sup = pr.pid(self.name)
        [old] = self.workers(pr, 1)
        pr.add_user('dave@example.test', 'dave-pw')     # mailctl sends SIGHUP
        self.assertTrue(pr.wait_for(
            lambda: pr.knows_user(self.name, 'dave@example.test', 'dave-pw'), timeout=10))
        os.kill(old, signal.SIGKILL)
        pr.wait_for(lambda: [p for p in children(sup) if p != old], timeout=8)
        pr.wait_for(lambda: self.answers(pr.port(self.key)), timeout=8)
        # The new worker is forked from the supervisor: it must hold the reloaded
        # directory, not the one read at start-up.
        self.assertTrue(pr.knows_user(self.name, 'dave@example.test', 'dave-pw'),
                        pr.log(self.name)[-2000:])

    def test_other_worker_session_unaffected(self):
        pr = self.start(workers=2)
        port = pr.port(self.key)
        sup = pr.pid(self.name)
        pids = self.workers(pr, 2)
        # An established session; find out which worker holds it.
        sess = self.open_session(port)
        self.addCleanup(sess.close)
        holder = self.holder(pids, sess)
        victim = [p for p in pids if p != holder][0]
        os.kill(victim, signal.SIGKILL)
        pr.wait_for(lambda: len(children(sup)) == 2 and victim not in children(sup),
                    timeout=5)
        self.assertTrue(alive(holder))
        self.assertTrue(self.noop(sess), 'the session on the surviving worker was cut')
        for _ in range(4):
            self.assertTrue(self.answers(port))

    def test_crash_loop_backs_off(self):
        pr = self.start(workers=1, worker_restart_burst=2)
        sup = pr.pid(self.name)
        killed = []
        deadline = time.monotonic() + 15
        while len(killed) < 4 and time.monotonic() < deadline:
            pids = [p for p in children(sup) if p not in killed]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)
        self.assertEqual(len(killed), 4, pr.log(self.name)[-2000:])
        log = pr.log(self.name)
        delays = [int(m) for m in re.findall(r'event=worker_restart index=0 delay_ms=(\d+)', log)]
        self.assertEqual(delays[:4], [0, 0, 1000, 2000], log[-2000:])
        pr.wait_for(lambda: self.answers(pr.port(self.key)), timeout=5)


class TestSmtpdSupervisor(SupervisorCase, unittest.TestCase):
    name = 'smtpd'

    def test_first_start_init_failure_stops(self):
        pr = self.start(workers=1)
        pr.stop(self.name)
        # A queue dir that is a file: smtpd's queue cannot open, restarting cannot help.
        bad = os.path.join(pr.dir, 'not-a-dir')
        open(bad, 'w').close()
        pr.config['mail_root'] = bad
        pr.config['queue_dir'] = bad
        pr._write_config_file()
        # The supervisor listens before the worker fails: either may come first.
        try:
            pr.start(self.name)
        except AssertionError as e:
            self.assertIn('exited with 1 at start-up', str(e))
        else:
            self.assertEqual(pr.procs[self.name].wait(10), 1)
        self.assertIn('event=worker_init_failed', pr.log(self.name))
        self.assertEqual(pr.log(self.name).count('event=worker_start'), 2, 'restarted')


    def open_session(self, port):
        s = smtplib.SMTP('127.0.0.1', port, timeout=10)
        s.ehlo('client.test')
        return s

    def holder(self, pids, sess):
        local = sess.sock.getsockname()
        return holder_of(pids, local)

    def noop(self, sess):
        return sess.noop()[0] == 250


class TestPop3dSupervisor(SupervisorCase, unittest.TestCase):
    name = 'pop3d'


    def open_session(self, port):
        p = poplib.POP3('127.0.0.1', port, timeout=10)
        p.user('alice@example.test')
        p.pass_('alice-pw')
        return p

    def holder(self, pids, sess):
        return holder_of(pids, sess.sock.getsockname())

    def noop(self, sess):
        return sess.noop().startswith(b'+OK')


def socket_inodes(pid):
    out = set()
    fd_dir = '/proc/%d/fd' % pid
    for n in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, n))
        except OSError:
            continue
        if link.startswith('socket:['):
            out.add(link[8:-1])
    return out


def holder_of(pids, client_addr):
    """The worker pid holding the server side of the connection from client_addr."""
    ip, port = client_addr[:2]
    hexport = '%04X' % port
    inode = None
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            fields = line.split()
            # The server side's remote address is the client's.
            if fields[2].endswith(':' + hexport) and fields[3] == '01':
                inode = fields[9]
    assert inode is not None, 'no server-side socket for %r' % (client_addr,)
    for pid in pids:
        if inode in socket_inodes(pid):
            return pid
    raise AssertionError('no worker holds socket %s' % inode)


if __name__ == '__main__':
    unittest.main()
