"""smtpd under load: 200 concurrent sessions x 5 messages delivered exactly once,
and kill -9 during a 50-session load: every message that got 250 is in the
Maildir exactly once, none twice, and no unpublished queue file is left."""

import os
import random
import re
import smtplib
import threading
import time
import unittest

from harness import Postroom

ID = re.compile(rb'^Subject: load (\S+)$', re.M)


def ids_in(pr, addr):
    out = []
    for data in pr.messages(addr):
        m = ID.search(data)
        if m:
            out.append(m.group(1).decode())
    return out


def parse_queue_file(data):
    """queue/queue.h's record format; fails on any damage."""
    records, off = {}, 0
    while True:
        assert len(data) - off >= 5, 'truncated'
        kind, n = data[off:off + 1], int.from_bytes(data[off + 1:off + 5], 'big')
        assert off + 5 + n <= len(data), 'truncated record'
        records.setdefault(kind, []).append(data[off + 5:off + 5 + n])
        if kind == b'X':
            assert int(records[b'X'][0]) == off and off + 5 + n == len(data), 'bad END'
            return records
        off += 5 + n


class Load(unittest.TestCase):
    config = {'max_connections_per_ip': '1000', 'max_connections': '2000'}

    def setUp(self):
        self.pr = Postroom(daemons=('smtpd',), config=self.config)
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)
        self.mx = self.pr.port('smtpd.mx_listen')

    def test_200_sessions_x_5_messages(self):
        sessions, per = 200, 5
        errors = []
        start = threading.Barrier(sessions)

        def client(n):
            try:
                start.wait(timeout=30)
                with smtplib.SMTP('127.0.0.1', self.mx, timeout=60) as s:
                    for i in range(per):
                        s.sendmail('load@remote.test', ['alice@example.test'],
                                   'Subject: load %d.%d\r\n\r\n%s\r\n' % (n, i, 'x' * 4000))
            except Exception as e:      # reported below, with the count
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(sessions)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - t0
        self.assertEqual(errors, [])
        got = ids_in(self.pr, 'alice@example.test')
        want = ['%d.%d' % (n, i) for n in range(sessions) for i in range(per)]
        self.assertEqual(sorted(got), sorted(want))
        print('\n  200x5: %d messages in %.2f s (%.0f msg/s)' % (len(got), elapsed,
                                                            len(got) / elapsed))


class KillNine(unittest.TestCase):
    # Loopback may relay: every message goes to the store AND the queue.
    config = {'max_connections_per_ip': '1000', 'smtpd.relay_networks': '127.0.0.0/8'}
    rounds = 10
    sessions = 50

    def setUp(self):
        self.pr = Postroom(daemons=('smtpd',), config=self.config)
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)

    def load_round(self, rnd, acked, tried):
        mx = self.pr.port('smtpd.mx_listen')
        stop = threading.Event()
        lock = threading.Lock()

        def client(n):
            i = 0
            while not stop.is_set():
                try:
                    with smtplib.SMTP('127.0.0.1', mx, timeout=10) as s:
                        while not stop.is_set():
                            mid = '%d.%d.%d' % (rnd, n, i)
                            i += 1
                            with lock:
                                tried.add(mid)
                            # Local recipient and a relayed one: store and queue both.
                            s.sendmail('load@remote.test', ['alice@example.test',
                                                            'far@remote.test'],
                                       'Subject: load %s\r\n\r\nbody %s\r\n' % (mid, mid))
                            with lock:
                                acked.add(mid)
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.01)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(self.sessions)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.3, 0.8))
        self.pr.kill('smtpd')
        stop.set()
        for t in threads:
            t.join(30)
        self.pr.start('smtpd')

    def test_kill_during_load(self):
        acked, tried = set(), set()
        for rnd in range(self.rounds):
            self.load_round(rnd, acked, tried)
        got = ids_in(self.pr, 'alice@example.test')
        counts = {}
        for g in got:
            counts[g] = counts.get(g, 0) + 1
        dups = [g for g, c in counts.items() if c > 1]
        lost = sorted(acked - set(counts))
        self.assertEqual(dups, [])
        self.assertEqual(lost, [])
        self.assertTrue(set(counts) <= tried)
        # The queue: every acked message published exactly once, none torn.
        active = os.path.join(self.pr.queue_dir, 'active')
        queued = {}
        for name in os.listdir(active):
            with open(os.path.join(active, name), 'rb') as f:
                data = f.read()
            records = parse_queue_file(data)
            m = ID.search(records[b'M'][0])
            queued[m.group(1).decode()] = queued.get(m.group(1).decode(), 0) + 1
        self.assertEqual([q for q, c in queued.items() if c > 1], [])
        self.assertEqual(sorted(acked - set(queued)), [])
        # Unpublished queue files of the killed process are gone after restart.
        for sub in ('tmp', 'incoming'):
            self.assertEqual(os.listdir(os.path.join(self.pr.queue_dir, sub)), [])
        leftovers = os.listdir(os.path.join(self.pr.maildir('alice@example.test'), 'tmp'))
        print('\n  kill -9 x%d: %d acked, %d delivered (%d unacked but stored), '
              '%d Maildir tmp/ leftovers' % (self.rounds, len(acked), len(counts),
                                             len(set(counts) - acked), len(leftovers)))


if __name__ == '__main__':
    unittest.main()
