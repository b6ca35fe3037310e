"""SMTP figures: Postroom smtpd vs Postfix virtual(8), messages landed in new/,
with the naive ceiling (tests/bench/fsyncloop.c) measured in the same rounds.
Run once on the working file system and once on a loop-mounted journaled ext4."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from benchlib import Samples, clear_dir, describe_fs, progress, pss_kb, print_table, run_tool
from loopfs import LoopUnavailable, loop_ext4
from peers import RCPT, Postfix, PostroomSMTP, temp_root

SERVERS = ('Postroom', 'Postfix')


def cases(quick, big):
    n = 300 if quick else 2000
    out = [('4KB c=1', 1, n // 4, 4096), ('4KB c=10', 10, n, 4096), ('4KB c=50', 50, n, 4096)]
    if big:
        out += [('1MB c=1', 1, 10 if quick else 30, 1 << 20),
                ('1MB c=10', 10, 20 if quick else 60, 1 << 20)]
    return out


def smtp_load(tools, server, conc, count, size):
    clear_dir(server.new_dir())
    return run_tool([os.path.join(tools, 'smtpload'), '-p', str(server.port), '-c', str(conc),
                     '-n', str(count), '-s', str(size), '-r', RCPT, '-w', server.new_dir(),
                     '-t', '300'])


def fsync_ceiling(tools, conc, count):
    d = tempfile.mkdtemp(prefix='postroom-fsync-')
    try:
        return run_tool([os.path.join(tools, 'fsyncloop'), d, str(conc), str(count), '4096'])
    finally:
        shutil.rmtree(d, True)


def one_round(tools, servers, case_list, r, s):
    """Every case once: Postroom, Postfix and the ceiling back to back, their
    order rotated each round so that none always runs first."""
    for label, conc, count, size in case_list:
        runs = [(srv.name, srv) for srv in servers]
        if size == 4096:
            runs.append(('ceiling', None))
        k = r % len(runs)
        for name, srv in runs[k:] + runs[:k]:
            if srv is None:
                s.add(('ceiling', label), fsync_ceiling(tools, conc, count)['msgs_per_s'])
                continue
            res = smtp_load(tools, srv, conc, count, size)
            s.add((name, label, 'msg/s'), res['msgs_per_s'])
            s.add((name, label, 'MB/s'), res['MB_per_s'])
            s.add((name, label, 'p50'), res['p50_ms'])
            s.add((name, label, 'p99'), res['p99_ms'])


def print_rounds(s, case_list):
    rows = []
    for label, conc, count, size in case_list:
        unit = 'msg/s' if size == 4096 else 'MB/s'
        fmt = '%.0f' if size == 4096 else '%.1f'
        pr, pf = ('Postroom', label, unit), ('Postfix', label, unit)
        row = ['%s %s (%d)' % (label, unit, count), s.cell(pr, fmt), s.cell(pf, fmt), s.ratio(pr, pf)]
        if size == 4096:
            ceil = ('ceiling', label)
            row += [s.cell(ceil, '%.0f'), s.ratio(pr, ceil), s.ratio(pf, ceil)]
        rows.append(row + [''] * (7 - len(row)))
    print_table(['case (messages)', 'Postroom', 'Postfix', 'PR/PF', 'ceiling', 'PR/ceil',
                 'PF/ceil'], rows)
    rows = []
    for label, conc, count, size in case_list:
        for q in ('p50', 'p99'):
            pr, pf = ('Postroom', label, q), ('Postfix', label, q)
            rows.append(['%s %s ms' % (label, q), s.cell(pr, '%.2f'), s.cell(pf, '%.2f'),
                         s.ratio(pr, pf)])
    print('latency, end of DATA sent to file in new/:')
    print_table(['case', 'Postroom', 'Postfix', 'PR/PF'], rows)


def syscalls_per_message(tools, server, count):
    """strace -c -f on every server process during a concurrency-10 run."""
    if shutil.which('strace') is None:
        return None
    clear_dir(server.new_dir())
    out = tempfile.mktemp(prefix='postroom-strace-')
    args = ['strace', '-c', '-f', '-o', out]
    for p in server.pids():
        args += ['-p', str(p)]
    tracer = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        run_tool([os.path.join(tools, 'smtpload'), '-p', str(server.port), '-c', '10', '-n',
                  str(count), '-s', '4096', '-r', RCPT, '-w', server.new_dir(), '-t', '300'])
        time.sleep(0.5)
    finally:
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


def pss_with_sessions(server, n=50):
    socks = []
    try:
        for _ in range(n):
            sock = socket.create_connection(('127.0.0.1', server.port), 5)
            sock.recv(512)
            sock.sendall(b'EHLO bench.test\r\n')
            sock.recv(4096)
            socks.append(sock)
        time.sleep(0.5)
        return pss_kb(server.pids())
    finally:
        for sock in socks:
            sock.close()


def run_on(args, tools, where, big):
    """Both servers and the ceiling on the file system holding where."""
    case_list = cases(args.quick, big)
    s = Samples()
    print('\n== SMTP into new/: Postroom smtpd vs Postfix virtual(8), %d rounds' % args.rounds)
    print('file system: %s' % describe_fs(where))
    with temp_root(where), PostroomSMTP(args.build) as pr, Postfix() as pf:
        for r in range(args.rounds):
            progress('SMTP round %d/%d' % (r + 1, args.rounds))
            one_round(tools, (pr, pf), case_list, r, s)
        print_rounds(s, case_list)
        if big:
            for srv in (pr, pf):
                sc = syscalls_per_message(tools, srv, 200 if args.quick else 500)
                if sc is not None:
                    print('%-8s syscalls/message %.1f, fsyncs/message %.2f (c=10)' % (
                        srv.name, sc[0], sc[1]))
            k = {srv.name: pss_with_sessions(srv) for srv in (pr, pf)}
            print('PSS with 50 idle sessions: Postroom %d KB, Postfix %d KB' % (
                k['Postroom'], k['Postfix']))


def bench_smtp(args, tools):
    run_on(args, tools, tempfile.gettempdir(), big=True)
    try:
        with loop_ext4() as mnt:
            run_on(args, tools, mnt, big=False)
    except LoopUnavailable as e:
        print('\n== SMTP on a loop-mounted journaled ext4: skipped (%s)' % e)
