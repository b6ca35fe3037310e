#!/usr/bin/env python3
"""FETCH and STORE over a whole folder, Postroom imapd and Dovecot back to
back on the same mail (a quick look for issue 15's FETCH/STORE figures; the
full side-by-side bench is make bench's).

    python3 tests/bench/fetch_timing.py --build build [--base DIR] [-n 2000] [--size 4096]
        [--rounds 3] [--only SUBSTRING]

N messages of about SIZE bytes (LF line ends, as delivered) go into both
Maildirs' cur/ with the same names; each server is logged in and the folder
SELECTed once before timing (its first sync is not measured here).  Each
command is timed from sending it to its tagged reply, on one connection,
the servers alternating in every round; the median of the rounds is printed,
wall time and the CPU time the server's processes used (user + system, all
threads: steadier than wall time on a busy machine).
Commands that set \\Seen are preceded by an untimed STORE 1:* -FLAGS (\\Seen).
--base adds a second Postroom from another build (an A/B in the same run).
Needs root (Dovecot); loopback only.
"""

import argparse
import contextlib
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'e2e'))

from benchlib import descendants  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from harness import Postroom  # noqa: E402
from peers import dovecot_pids  # noqa: E402

USER, PW = 'alice@example.test', 'alice-pw'

COMMANDS = [
    ('FETCH 1:* (FLAGS)', False),
    ('FETCH 1:* (ENVELOPE)', False),
    ('FETCH 1:* (BODY.PEEK[HEADER])', False),
    ('FETCH 1:* (BODY.PEEK[])', False),
    ('FETCH 1:* (BODY[]<0.100>)', True),
    ('STORE 1:* +FLAGS (\\Flagged)', False),
    ('STORE 1:* -FLAGS (\\Flagged)', False),
]


def message(i, size):
    head = ('From: Sender %d <s%d@remote.test>\nTo: %s\nSubject: message %d\n'
            'Date: Mon, 1 Jun 2026 10:00:00 +0000\nMessage-ID: <%d@remote.test>\n\n'
            % (i, i, USER, i, i)).encode()
    line = b'the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\n'
    return head + line * max(1, (size - len(head)) // len(line))


def cpu_seconds(pids):
    """User + system time of pids (each process's threads included)."""
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / os.sysconf('SC_CLK_TCK')


class Client:
    def __init__(self, port, pids):
        self.pids = pids
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=300)
        self.f = self.sock.makefile('rb')
        self.f.readline()
        self.n = 0

    def run(self, cmd):
        """(wall, server CPU) seconds from sending cmd to its tagged reply (which must be OK)."""
        self.n += 1
        tag = b'T%d ' % self.n
        pids = self.pids()
        c0 = cpu_seconds(pids)
        t0 = time.monotonic()
        self.sock.sendall(tag + cmd.encode() + b'\r\n')
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError('closed during %s' % cmd)
            if line.endswith(b'}\r\n'):
                self.f.read(int(line[line.rindex(b'{') + 1:-3]))
                continue
            if line.startswith(tag):
                break
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(pids) - c0
        if not line.startswith(tag + b'OK'):
            raise AssertionError('%s: %r' % (cmd, line))
        return elapsed, cpu

    def close(self):
        self.sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--base', help='another build, timed in the same rounds')
    ap.add_argument('-n', type=int, default=2000)
    ap.add_argument('--size', type=int, default=4096)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--only', help='a substring of the commands to run')
    args = ap.parse_args()
    if not 1 <= args.n <= 100000 or not 1 <= args.rounds <= 20:
        sys.exit('fetch_timing: -n 1..100000, --rounds 1..20')
    cmds = [c for c in COMMANDS if args.only is None or args.only in c[0]]
    with contextlib.ExitStack() as stack:
        builds = [('postroom', args.build)] + ([('base', args.base)] if args.base else [])
        prs = [(name, stack.enter_context(Postroom(build=b, daemons=('imapd',))))
               for name, b in builds]
        dc = stack.enter_context(Dovecot(users={USER: PW}))
        for i in range(args.n):
            name = '%d.M%dP1.bench:2,' % (1700000000 + i, i)
            for _, pr in prs:
                with open(os.path.join(pr.maildir(USER), 'cur', name), 'wb') as f:
                    f.write(message(i, args.size))
            dc.deliver(USER, message(i, args.size), name, sub='cur')
        sides = []
        for name, pr in prs:
            pr._chown_tree(pr.mail_root)
            sides.append((name, Client(pr.port('imapd.listen'),
                                       lambda pr=pr: descendants(pr.pid('imapd')))))
        sides.append(('dovecot', Client(dc.port('imap'), lambda: dovecot_pids(dc))))
        for _, c in sides:
            c.run('LOGIN %s %s' % (USER, PW))
            c.run('SELECT INBOX')
            c.run('FETCH 1:* (ENVELOPE)')       # both parse once, outside the timing
        times = {}
        for r in range(args.rounds):
            for cmd, unseen in cmds:
                for name, c in (sides if r % 2 == 0 else sides[::-1]):
                    if unseen:
                        c.run('STORE 1:* -FLAGS.SILENT (\\Seen)')
                    times.setdefault((cmd, name), []).append(c.run(cmd))
        for _, c in sides:
            c.close()
    print('%d messages of %d bytes, %d rounds, load %.1f; seconds, median; wall (server CPU)'
          % (args.n, args.size, args.rounds, os.getloadavg()[0]))
    names = [name for name, _ in sides]
    print('%-30s' % 'command' + ''.join('%16s' % n for n in names) + '  ratio to dovecot (wall)')
    for cmd, _ in cmds:
        med = {n: [statistics.median(t[k] for t in times[(cmd, n)]) for k in (0, 1)]
               for n in names}
        cells = ''.join('%16s' % ('%.3f (%.2f)' % tuple(med[n])) for n in names)
        ratios = ' '.join('%s %.2f' % (n, med[n][0] / med['dovecot'][0]) for n in names[:-1])
        print('%-30s%s  %s' % (cmd, cells, ratios))

if __name__ == '__main__':
    main()
