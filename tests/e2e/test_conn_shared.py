"""Issue 18 (h6): connection limits hold across a daemon's worker processes.

With workers = 2 the kernel hands each connection to whichever worker
accepts first; the tests make it pick one by stopping the other (SIGSTOP),
so each limit is filled with connections held by both workers.

- smtpd, max_connections_per_ip = 4: two connections on each worker, then
  a fifth is refused with 421 by either worker; one closing frees a slot.
- kill -9 a worker holding connections: the supervisor drops its counts
  (event=worker_reclaim), so its clients' slots are free again at once.
- pop3d, pop3d.max_connections_per_user = 1: a login on one worker refuses
  the same user's login on the other.
- a burst of 10 pop3d connections, five times: neither worker takes more than 7.
- the same with one worker held stopped for 3 ms: it still takes at least 3.

Bounded: at most 6 connections, every wait under 10 s, loopback only.
"""

import os
import re
import signal
import socket
import time
import unittest

from harness import (Postroom, children, have_built, require, start_postroom,
                     stop_process)

PER_IP = 4


class Client:
    """A raw connection: its first line is read at once (the greeting, or the refusal)."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.file = self.sock.makefile('rb')
        self.first = self.file.readline()

    def send(self, line):
        self.sock.sendall(line + b'\r\n')
        return self.file.readline()

    def closed(self):
        try:
            return self.file.readline() == b''
        except OSError:
            return True

    def close(self):
        self.file.close()
        self.sock.close()


class SharedCase(unittest.TestCase):
    name = None
    config = {}

    def setUp(self):
        require(have_built(self.name), '%s not built' % self.name)
        self.pr = start_postroom(self, daemons=(self.name,),
                                 config=dict(self.config, workers=2))
        # Both workers in their loop: the listener is bound before the fork, so a
        # connection can come before the second worker is up, and the first takes it.
        self.workers = self.pr.wait_for(self.ready_workers)
        self.clients = []
        self.addCleanup(lambda: [c.close() for c in self.clients])

    def ready_workers(self):
        workers = children(self.pr.pid(self.name))
        log = self.pr.log(self.name)
        if len(workers) == 2 and all('event=ready pid=%d' % w in log for w in workers):
            return workers
        return None

    def on(self, worker, fn):
        """fn() while only `worker` accepts (the other is stopped)."""
        others = [w for w in children(self.pr.pid(self.name)) if w != worker]
        for w in others:
            stop_process(w)
        try:
            return fn()
        finally:
            for w in others:
                os.kill(w, signal.SIGCONT)

    def connect(self, worker, port):
        c = self.on(worker, lambda: Client(port))
        self.clients.append(c)
        return c

    def served_by(self, pattern):
        """Distinct worker pids whose log lines match pattern."""
        return {int(m.group(1)) for m in
                re.finditer(r'\[(\d+)\]:[^\n]*' + pattern, self.pr.log(self.name))}


class TestPerAddress(SharedCase):
    name = 'smtpd'
    config = {'max_connections_per_ip': PER_IP}

    def test_limit_holds_across_workers(self):
        port = self.pr.port('smtpd.mx_listen')
        a, b = self.workers
        for w in (a, b, a, b):
            self.assertTrue(self.connect(w, port).first.startswith(b'220 '))
        self.assertEqual(self.served_by('event=connect '), {a, b})
        # The fifth is refused by whichever worker takes it.
        for w in (a, b):
            extra = self.connect(w, port)
            self.assertTrue(extra.first.startswith(b'421 '), extra.first)
            self.assertTrue(extra.closed())
        self.assertEqual(self.served_by('reason=max_connections_per_ip'), {a, b})
        # The four are served, and a close on one worker frees a slot on the other.
        for c in self.clients[:PER_IP]:
            self.assertTrue(c.send(b'NOOP').startswith(b'250'))
        self.clients[0].send(b'QUIT')
        self.clients[0].close()
        Postroom.wait_for(lambda: 'event=close' in self.pr.log(self.name))
        self.assertTrue(self.connect(b, port).first.startswith(b'220 '))

    def test_dead_worker_counts_reclaimed(self):
        port = self.pr.port('smtpd.mx_listen')
        a, b = self.workers
        for _ in range(3):
            self.assertTrue(self.connect(a, port).first.startswith(b'220 '))
        self.assertTrue(self.connect(b, port).first.startswith(b'220 '))
        self.assertTrue(self.connect(b, port).first.startswith(b'421 '))
        os.kill(a, signal.SIGKILL)
        self.pr.wait_for(lambda: 'event=worker_reclaim' in self.pr.log(self.name))
        self.assertRegex(self.pr.log(self.name),
                         r'event=worker_reclaim index=\d pid=%d connections=3' % a)
        # b still holds one: three more fit, the fifth does not.
        for _ in range(3):
            self.assertTrue(self.connect(b, port).first.startswith(b'220 '))
        self.assertTrue(self.connect(b, port).first.startswith(b'421 '))


class TestPerUser(SharedCase):
    name = 'pop3d'
    config = {'pop3d.max_connections_per_user': 1}

    def login(self, worker, port):
        c = self.connect(worker, port)
        self.assertTrue(c.first.startswith(b'+OK'), c.first)
        self.assertEqual(self.on(worker, lambda: c.send(b'USER alice@example.test')), b'+OK\r\n')
        return c, self.on(worker, lambda: c.send(b'PASS alice-pw'))

    def test_user_limit_holds_across_workers(self):
        port = self.pr.port('pop3d.listen')
        a, b = self.workers
        first, reply = self.login(a, port)
        self.assertEqual(reply, b'+OK Logged in.\r\n')
        second, reply = self.login(b, port)
        self.assertEqual(reply, b'-ERR [IN-USE] Too many connections for this user.\r\n')
        self.assertEqual(self.served_by('event=login status=ok'), {a})
        self.assertEqual(self.served_by('event=login status=refused'), {b})
        # Logged out on a: b lets alice in.
        self.assertTrue(first.send(b'QUIT').startswith(b'+OK'))
        Postroom.wait_for(lambda: 'event=close' in self.pr.log(self.name))
        third, reply = self.login(b, port)
        self.assertEqual(reply, b'+OK Logged in.\r\n')


class TestSpread(SharedCase):
    """A burst of connections is spread over the workers: every worker is woken by
    each one, and one holding 2 more than another leaves it, looking again at once
    (yielding the CPU) for 2 ms, then every 1 ms, not watching the listener, up to
    10 ms, so the other takes it.  Before, the first worker to wake accepted up to
    32 at once and took the whole burst about one time in two; with a 300 us wait,
    shared by the burst, an idle worker on a virtual machine (286 us to wake at the
    median) lost 1 and 9 or 2 and 8 often enough that CI failed twice, and with
    2 ms once more.  The bursts start once both workers logged event=ready
    (SharedCase): before, the first could take a whole burst alone."""
    name = 'pop3d'

    def burst(self, late=None):
        """Connect 10 and read every greeting: how many each worker took, fewest
        first, and for how long `late` (a worker pid) was held stopped from the
        first connect: 3 ms after the last one, or more if this process was slow."""
        port = self.pr.port('pop3d.listen')
        since = len(self.pr.log(self.name))
        closed = self.pr.log(self.name).count('event=close')
        if late is not None:
            stop_process(late)
        start = time.monotonic()
        try:
            socks = [socket.create_connection(('127.0.0.1', port), timeout=10) for _ in range(10)]
        finally:
            if late is not None:
                time.sleep(0.003)
                os.kill(late, signal.SIGCONT)
        stopped = time.monotonic() - start
        try:
            for sock in socks:
                self.assertTrue(sock.makefile('rb').readline().startswith(b'+OK'))
            pids = re.findall(r'\[(\d+)\]:[^\n]*event=connect ', self.pr.log(self.name)[since:])
            self.assertEqual(len(pids), 10)
            return sorted(pids.count(w) for w in set(pids)), stopped
        finally:
            for sock in socks:
                sock.close()
            # Closed on both: the next burst starts from 0 and 0.
            self.pr.wait_for(lambda: self.pr.log(self.name).count('event=close') >= closed + 10)

    def test_burst_spread_over_workers(self):
        for _ in range(5):
            per_worker, _ = self.burst()
            self.assertEqual(len(per_worker), 2, per_worker)
            self.assertGreaterEqual(per_worker[0], 3, per_worker)

    def test_worker_late_by_3ms_gets_its_share(self):
        """The other worker is late (busy, or its vCPU not running): after the 2 ms
        spent looking at once, the one awake leaves it the listener for up to 8 ms
        more.  Taking the rest after 2 ms, it took all 10."""
        bursts = []
        for late in self.workers * 10:
            per_worker, stopped = self.burst(late)
            if stopped < 0.005:  # else the test was slow, not the worker: 10 ms ran out
                bursts.append(per_worker)
            if len(bursts) == 4:
                break
        if len(bursts) < 4:
            # Seen under ASan beside 4 busy loops on 2 cores (1 run in 10): nothing measured.
            self.skipTest('this process was too slow to hold a worker 3 ms (%d bursts of 4)'
                          % len(bursts))
        for per_worker in bursts:
            self.assertEqual(len(per_worker), 2, bursts)
            self.assertGreaterEqual(per_worker[0], 3, bursts)

if __name__ == '__main__':
    unittest.main()
