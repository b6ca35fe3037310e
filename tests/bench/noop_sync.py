"""What one NOOP costs a session of a large folder after another session
changed one message's flags (imapd's sync: the change feed patches the
view; before, the whole snapshot was read again and diffed).

    python3 tests/bench/noop_sync.py [--build build] [-n 10000] [-r 200]

Prints the median and p90 milliseconds of a NOOP with nothing changed and
of one after a STORE by the other session, wall clock on 127.0.0.1.
"""

import argparse
import os
import pwd
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'e2e'))

from bench_imap import message  # noqa: E402
from harness import Postroom, USERS  # noqa: E402

USER, PW = USERS[0]


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.f = self.sock.makefile('rb')
        self.f.readline()
        self.n = 0

    def cmd(self, line):
        self.n += 1
        tag = b'x%d' % self.n
        self.sock.sendall(tag + b' ' + line + b'\r\n')
        lines = []
        while True:
            got = self.f.readline()
            if not got:
                raise EOFError(line)
            lines.append(got)
            if got.startswith(tag + b' '):
                if not got.startswith(tag + b' OK'):
                    raise RuntimeError(lines)
                return lines


def fill(pr, n):
    new = os.path.join(pr.maildir(USER), 'new')
    pw = pwd.getpwnam(pr.user)
    for i in range(n):
        path = os.path.join(new, '1764892800.M%dP1.bench' % i)
        with open(path, 'wb') as f:
            f.write(message(i, 2048))
        os.chown(path, pw.pw_uid, pw.pw_gid)


def timed(c, line):
    t = time.perf_counter()
    c.cmd(line)
    return (time.perf_counter() - t) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('-n', type=int, default=10000, help='messages in the folder')
    ap.add_argument('-r', type=int, default=200, help='rounds')
    ap.add_argument('--config', action='append', default=[], metavar='KEY=VALUE',
                    help='a postroom.conf override (e.g. seccomp=no for valgrind)')
    args = ap.parse_args()
    config = dict({'log_level': 'warn'}, **dict(kv.split('=', 1) for kv in args.config))
    with Postroom(build=args.build, daemons=('imapd',), config=config) as pr:
        fill(pr, args.n)
        port = pr.port('imapd.listen')
        a, b = Client(port), Client(port)
        for c in (a, b):
            c.cmd(b'LOGIN %s %s' % (USER.encode(), PW.encode()))
            c.cmd(b'SELECT INBOX')
        quiet, changed = [], []
        for i in range(args.r):
            quiet.append(timed(a, b'NOOP'))
            b.cmd(b'STORE %d +FLAGS.SILENT (\\Flagged)' % (i % args.n + 1))
            changed.append(timed(a, b'NOOP'))
        for name, ms in (('NOOP, nothing changed', quiet), ('NOOP after 1 STORE', changed)):
            ms.sort()
            print('%-24s %6d msgs  median %7.3f ms  p90 %7.3f ms  (%d rounds)' % (
                name, args.n, statistics.median(ms), ms[len(ms) * 9 // 10], len(ms)))


if __name__ == '__main__':
    main()
