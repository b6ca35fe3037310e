#!/usr/bin/env python3
"""make bench: Postroom side by side with Postfix (SMTP, relay) and Dovecot (POP3, IMAP), in one run.

Figures only, never pass/fail: the machine may be busy.  Each figure is taken
in --rounds interleaved rounds (Postroom, peer, Postroom, peer, ...) and
printed as median (min-max) for both, with the ratio of the medians.  Every
load is bounded in count and runs on 127.0.0.1.  Needs root: the reference
servers run as their own users, the page cache is dropped, an ext4 is
loop-mounted.

    python3 tests/bench/run.py --build build [--quick] [--rounds N] [--only smtp|relay|pop3|imap|index]
"""

import argparse
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'e2e'))

from bench_imap import bench_imap  # noqa: E402
from bench_index import bench_index_disk  # noqa: E402
from bench_pop3 import bench_pop3  # noqa: E402
from bench_relay import bench_relay  # noqa: E402
from bench_smtp import bench_smtp  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--quick', action='store_true', help='smaller counts (a smoke run)')
    ap.add_argument('--rounds', type=int, default=3, help='interleaved rounds per figure')
    ap.add_argument('--only', choices=('smtp', 'relay', 'pop3', 'imap', 'index'))
    args = ap.parse_args()
    if args.rounds < 1 or args.rounds > 20:
        sys.exit('bench: --rounds is 1 to 20')
    tools = os.path.join(os.path.abspath(args.build), 'bench')
    if os.geteuid() != 0:
        sys.exit('bench: the reference servers need root')
    # A kill unwinds like Ctrl-C: servers stopped, the loop file system unmounted.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    pop3d = os.path.exists(os.path.join(args.build, 'pop3d'))
    if args.only in (None, 'smtp'):
        bench_smtp(args, tools)
    if args.only in (None, 'relay') and os.path.exists(os.path.join(args.build, 'relayd')):
        bench_relay(args, tools)
    if args.only in (None, 'pop3') and pop3d:
        bench_pop3(args, tools)
    if args.only in (None, 'imap') and os.path.exists(os.path.join(args.build, 'imapd')):
        bench_imap(args, tools)
    if args.only in (None, 'index') and pop3d:
        bench_index_disk(args, tools)


if __name__ == '__main__':
    main()
