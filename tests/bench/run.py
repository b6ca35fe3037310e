#!/usr/bin/env python3
"""make bench: Postroom side by side with Postfix (SMTP) and Dovecot (POP3), in one run.

Figures only, never pass/fail: the machine may be busy.  Every load is
bounded in count and runs on 127.0.0.1.  Needs root for the reference
servers (they run as their own users) and for dropping the page cache.

    python3 tests/bench/run.py --build build [--quick]
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'e2e'))

from harness import Postroom  # noqa: E402
from dovecot import Dovecot  # noqa: E402

RCPT = 'alice@example.test'
# Logging and the per-address limit off the measured path (every client is 127.0.0.1).
BENCH_CONFIG = {'log_level': 'warn', 'max_connections_per_ip': '1000'}


def kv(line):
    """'a=1 b=2.5' -> {'a': 1.0, 'b': 2.5} (numbers only)."""
    out = {}
    for k, v in re.findall(r'(\w+)=([-\d.]+)', line):
        out[k] = float(v)
    return out


def run_tool(args, timeout=600):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0 and not p.stdout:
        raise RuntimeError('%s: %s' % (args[0], p.stderr.strip()))
    return kv(p.stdout)


def descendants(pid):
    """pid and all its descendants, from /proc."""
    children = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kb(pids):
    total = 0
    for p in pids:
        try:
            with open('/proc/%d/status' % p) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def drop_caches():
    try:
        subprocess.run(['sync'], check=True)
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
        return True
    except OSError:
        return False


def clear_dir(d):
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))


class Postfix:
    """The reference MTA, from tests/bench/postfix.sh (own config dir, loopback)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='postroom-bench-postfix-')
        self.port = Postroom._free_port(set())

    def __enter__(self):
        subprocess.run(['sh', os.path.join(HERE, 'postfix.sh'), 'start', self.dir, str(self.port)],
                       check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('postfix did not start')

    def __exit__(self, *exc):
        subprocess.run(['sh', os.path.join(HERE, 'postfix.sh'), 'stop', self.dir],
                       stdout=subprocess.DEVNULL)
        time.sleep(1)
        shutil.rmtree(self.dir, True)

    def new_dir(self):
        return os.path.join(self.dir, 'mail', 'example.test', 'alice', 'Maildir', 'new')

    def pids(self):
        with open(os.path.join(self.dir, 'queue', 'pid', 'master.pid')) as f:
            return descendants(int(f.read().strip()))


class PostroomSMTP:
    def __init__(self, build):
        self.pr = Postroom(build=build, daemons=('smtpd',), config=BENCH_CONFIG)

    def __enter__(self):
        self.pr.__enter__()
        self.port = self.pr.port('smtpd.mx_listen')
        return self

    def __exit__(self, *exc):
        self.pr.__exit__(*exc)

    def new_dir(self):
        return os.path.join(self.pr.maildir(RCPT), 'new')

    def pids(self):
        return descendants(self.pr.pid('smtpd'))


def smtp_load(tools, server, conc, count, size):
    clear_dir(server.new_dir())
    return run_tool([os.path.join(tools, 'smtpload'), '-p', str(server.port), '-c', str(conc),
                     '-n', str(count), '-s', str(size), '-r', RCPT, '-w', server.new_dir(),
                     '-t', '300'])


def syscalls_per_message(tools, server, count):
    """strace -c -f on every server process during a concurrency-10 run."""
    if shutil.which('strace') is None:
        return None, None
    clear_dir(server.new_dir())
    out = tempfile.mktemp(prefix='postroom-strace-')
    args = ['strace', '-c', '-f', '-o', out]
    for p in server.pids():
        args += ['-p', str(p)]
    tracer = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    run_tool([os.path.join(tools, 'smtpload'), '-p', str(server.port), '-c', '10', '-n', str(count),
              '-s', '4096', '-r', RCPT, '-w', server.new_dir(), '-t', '300'])
    time.sleep(0.5)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    total = fsyncs = 0
    with open(out) as f:
        for line in f:
            cols = line.split()
            if len(cols) >= 5 and cols[-1] == 'total':
                total = int(cols[3])
            elif len(cols) >= 5 and cols[-1] in ('fsync', 'fdatasync'):
                fsyncs += int(cols[3])
    os.unlink(out)
    return total / count, fsyncs / count


def rss_with_sessions(server, n=50):
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(('127.0.0.1', server.port), 5)
            s.recv(512)
            s.sendall(b'EHLO bench.test\r\n')
            s.recv(4096)
            socks.append(s)
        time.sleep(0.5)
        return rss_kb(server.pids())
    finally:
        for s in socks:
            s.close()


def fsync_ceiling(tools, conc, count):
    d = tempfile.mkdtemp(prefix='postroom-fsync-')
    try:
        return run_tool([os.path.join(tools, 'fsyncloop'), d, str(conc), str(count), '4096'])
    finally:
        shutil.rmtree(d, True)


def ratio(a, b):
    return '%.2fx' % (a / b) if b else 'n/a'


def bench_smtp(args, tools):
    n4 = 300 if args.quick else 2000
    cases = [('4KB c=1', 1, n4 // 4, 4096), ('4KB c=10', 10, n4, 4096), ('4KB c=50', 50, n4, 4096),
             ('1MB c=1', 1, 10 if args.quick else 40, 1 << 20),
             ('1MB c=10', 10, 20 if args.quick else 100, 1 << 20)]
    print('\n== SMTP: messages delivered into new/ (Postroom vs Postfix virtual(8))')
    print('fsync ceiling (write+fsync+rename+dir fsync, 4 KB):', end='')
    ceiling = {}
    for c in (1, 10, 50):
        ceiling[c] = fsync_ceiling(tools, c, n4)['msgs_per_s']
        print(' c=%d %.0f/s' % (c, ceiling[c]), end='')
    print()
    results = {}
    for name, cls in (('postfix', Postfix), ('postroom', None)):
        server = Postfix() if cls else PostroomSMTP(args.build)
        with server:
            for label, conc, count, size in cases:
                results[(name, label)] = smtp_load(tools, server, conc, count, size)
            results[(name, 'syscalls')] = syscalls_per_message(tools, server, 200 if args.quick else 500)
            results[(name, 'rss')] = rss_with_sessions(server)
    print('%-10s %12s %12s %8s %9s %9s %9s %9s' % ('case', 'postroom/s', 'postfix/s', 'ratio',
                                                 'MB/s', 'p50 ms', 'p99 ms', 'pf p50'))
    for label, conc, count, size in cases:
        r, p = results[('postroom', label)], results[('postfix', label)]
        print('%-10s %12.0f %12.0f %8s %9.1f %9.2f %9.2f %9.2f' % (
            label, r['msgs_per_s'], p['msgs_per_s'], ratio(r['msgs_per_s'], p['msgs_per_s']),
            r['MB_per_s'], r['p50_ms'], r['p99_ms'], p['p50_ms']))
    for conc in (1, 10, 50):
        r = results[('postroom', '4KB c=%d' % conc)]
        print('4KB c=%d: %.0f%% of the fsync ceiling' % (conc, 100 * r['msgs_per_s'] / ceiling[conc]))
    for name in ('postroom', 'postfix'):
        sc, fs = results[(name, 'syscalls')]
        if sc is not None:
            print('%-8s syscalls/message %.1f, fsyncs/message %.2f' % (name, sc, fs))
    print('RSS with 50 sessions: postroom %d KB, postfix %d KB (%s)' % (
        results[('postroom', 'rss')], results[('postfix', 'rss')],
        ratio(results[('postroom', 'rss')], results[('postfix', 'rss')])))


def fill_maildir(new_dir, count, size, tag):
    body = ('x' * 75 + '\n') * (size // 76)
    for i in range(count):
        msg = 'From: bench@client.test\nTo: %s\nSubject: %s %d\nMessage-ID: <%s.%d@bench>\n\n%s' % (
            RCPT, tag, i, tag, i, body)
        with open(os.path.join(new_dir, '%d.M%dP1.bench' % (1700000000 + i, i)), 'w') as f:
            f.write(msg)


def bench_pop3(args, tools):
    n = 2000 if args.quick else 10000
    retr_users = ['bench%d@example.test' % i for i in range(10)]
    print('\n== POP3: %d x 4 KB mailbox (Postroom pop3d vs Dovecot)' % n)
    users = {RCPT: 'alice-pw'}
    users.update({u: 'bench-pw' for u in retr_users})
    results = {}
    with Dovecot(users=users) as dc, Postroom(build=args.build, daemons=('pop3d',),
                                               config=BENCH_CONFIG) as pr:
        for u in retr_users:
            pr.add_user(u, 'bench-pw')
        servers = {'postroom': (pr.port('pop3d.listen'), pr.maildir, pr._chown_tree),
                   'dovecot': (dc.port('pop3'), dc.maildir, dc.chown)}
        for name, (port, maildir, chown) in servers.items():
            fill_maildir(os.path.join(maildir(RCPT), 'new'), n, 4096, name)
            for u in retr_users:
                fill_maildir(os.path.join(maildir(u), 'new'), 1000 if not args.quick else 200, 4096, name)
            chown(os.path.dirname(maildir(RCPT)))
            for u in retr_users:
                chown(os.path.dirname(maildir(u)))
            pop = os.path.join(tools, 'pop3load')
            base = [pop, '-p', str(port)]
            # first login indexes / caches the new mail: not part of any figure
            run_tool(base + ['-u', RCPT, '-w', 'alice-pw', '-m', 'stat', '-n', '1'])
            for u in retr_users:
                run_tool(base + ['-u', u, '-w', 'bench-pw', '-m', 'stat', '-n', '1'])
            cold = run_tool(base + ['-u', RCPT, '-w', 'alice-pw', '-m', 'stat', '-n', '1']) \
                if drop_caches() else None
            warm = run_tool(base + ['-u', RCPT, '-w', 'alice-pw', '-m', 'stat', '-n', '20'])
            r1 = run_tool(base + ['-u', 'bench0@example.test', '-w', 'bench-pw', '-m', 'retr', '-c', '1'])
            r10 = run_tool(base + ['-u', 'bench%d@example.test', '-w', 'bench-pw', '-m', 'retr',
                                   '-c', '10'])
            results[name] = (cold, warm, r1, r10)
    print('%-28s %12s %12s %8s' % ('figure', 'postroom', 'dovecot', 'ratio'))
    pr_, dc_ = results['postroom'], results['dovecot']
    if pr_[0] and dc_[0]:
        print('%-28s %12.2f %12.2f %8s' % ('login+STAT+UIDL cold ms', pr_[0]['mean_ms'],
                                            dc_[0]['mean_ms'], ratio(pr_[0]['mean_ms'], dc_[0]['mean_ms'])))
    else:
        print('login+STAT+UIDL cold: page cache could not be dropped here')
    print('%-28s %12.2f %12.2f %8s' % ('login+STAT+UIDL warm ms', pr_[1]['mean_ms'], dc_[1]['mean_ms'],
                                        ratio(pr_[1]['mean_ms'], dc_[1]['mean_ms'])))
    for i, label in ((2, 'RETR all, 1 client MB/s'), (3, 'RETR all, 10 clients MB/s')):
        print('%-28s %12.1f %12.1f %8s' % (label, pr_[i]['MB_per_s'], dc_[i]['MB_per_s'],
                                            ratio(pr_[i]['MB_per_s'], dc_[i]['MB_per_s'])))


def index_disk_kb(maildir):
    """Allocated blocks (not apparent size) of a user's postroom-index, in KB."""
    d = os.path.join(maildir, 'postroom-index')
    return sum(os.stat(os.path.join(d, n)).st_blocks for n in os.listdir(d)) * 512 // 1024


def bench_index_disk(args):
    """What one user's Berkeley DB index costs on disk, empty and with 10,000 messages."""
    import poplib
    n = 2000 if args.quick else 10000
    with Postroom(build=args.build, daemons=('pop3d',), config=BENCH_CONFIG) as pr:
        pr.add_user('big@example.test', 'big-pw')
        fill_maildir(os.path.join(pr.maildir('big@example.test'), 'new'), n, 1024, 'disk')
        pr._chown_tree(os.path.dirname(pr.maildir('big@example.test')))
        for user, pw in ((RCPT, 'alice-pw'), ('big@example.test', 'big-pw')):
            p = poplib.POP3('127.0.0.1', pr.port('pop3d.listen'), timeout=600)
            p.user(user)
            p.pass_(pw)
            p.quit()
        pr.stop('pop3d')    # every environment closed (checkpointed, logs removed)
        print('\nindex disk per user: %d KB (empty) / %d KB (%s messages)' % (
            index_disk_kb(pr.maildir(RCPT)), index_disk_kb(pr.maildir('big@example.test')),
            format(n, ',')))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--quick', action='store_true', help='smaller counts (a smoke run)')
    ap.add_argument('--only', choices=('smtp', 'pop3', 'index'))
    args = ap.parse_args()
    tools = os.path.join(os.path.abspath(args.build), 'bench')
    if os.geteuid() != 0:
        sys.exit('bench: the reference servers need root')
    if args.only in (None, 'smtp'):
        bench_smtp(args, tools)
    if args.only in (None, 'pop3') and os.path.exists(os.path.join(args.build, 'pop3d')):
        bench_pop3(args, tools)
    if args.only in (None, 'index') and os.path.exists(os.path.join(args.build, 'pop3d')):
        bench_index_disk(args)


if __name__ == '__main__':
    main()
