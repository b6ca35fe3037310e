"""IMAP figures: Postroom imapd vs Dovecot on the same mail, written here
byte for byte into both servers' new/ (LF line ends, the same file names),
then opened once by each so that what is measured is an indexed mailbox.
Each figure is printed with the goal of issue 15 beside it, met or not.

Logins check the same hashes on both sides: yescrypt for the mailboxes
measured (LOGIN+SELECT costs what it costs a real user), SHA512-CRYPT at
1,000 rounds for the idlers only, so that 10,000 logins take seconds.
Memory is PSS and RSS summed over each server's process tree; per
connection is the growth of the PSS over the idle-free baseline."""

import os
import pwd
import resource
import select
import subprocess
import time
import warnings

from benchlib import (Samples, descendants, drop_caches, kv, print_table, progress, run_tool,
                      smaps_kb)
from dovecot import Dovecot
from harness import Postroom
from peers import BENCH_CONFIG, dovecot_pids

with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import crypt

PW = 'bench-pw'
BOX4K, BOX1K = 'box4k@example.test', 'box1k@example.test'
IDLE_PATTERN = 'idle%d@example.test'
MIXED_CLIENTS = 20
WORDS = ('alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike '
         'november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee '
         'zulu').split()
FILLER = b'The quick brown fox jumps over the lazy dog, then naps in the sun a bit.\n'

# Both servers sized for 10,000 idlers from one address, 1,000 per user,
# each process (or connection) well under the file limit this run raises.
PR_CONFIG = dict(BENCH_CONFIG, **{'max_connections': '15000', 'max_connections_per_ip': '15000',
                                  'imapd.max_connections_per_user': '10000'})
# An idle session holds two descriptors, and one imapd worker may accept
# most of the 10,000: the usual hard limit of 20,000 is not enough.
FILE_LIMIT = 65536
DC_SETTINGS = {'default_process_limit': '11000', 'default_client_limit': '19000',
               'mail_max_userip_connections': '11000', 'mail_fsync': 'optimized'}


def message(i, size):
    """Message i of a bench mailbox: a subject word of 26 (SEARCH SUBJECT
    quebec finds 1 in 26), a body padded to size, "needle" in every 100th."""
    head = ('From: Sender %d <sender%d@example.test>\nTo: Bench <bench@example.test>\n'
            'Subject: message %d about %s\nDate: Sat, 5 Dec 2026 %02d:%02d:%02d +0000\n'
            'Message-ID: <%d.bench@example.test>\n\n' % (
                i % 97, i % 97, i, WORDS[i % 26], i // 3600 % 24, i // 60 % 60, i % 60,
                i)).encode()
    body = b'a needle in the haystack\n' if i % 100 == 0 else b'hay\n'
    pad = size - len(head) - len(body) - 1
    return head + body + FILLER * (pad // len(FILLER)) + b'x' * (pad % len(FILLER)) + b'\n'


def hash_cheap(pw):
    return '{SHA512-CRYPT}' + crypt.crypt(pw, '$6$rounds=1000$postroombench$')


class Side:
    """One IMAP server under test: where its mail goes and how to reach it."""

    def __init__(self, name, tools, port, maildir, owner, pids):
        self.name, self.port, self.maildir, self.owner, self.pids = name, port, maildir, owner, pids
        self.imapload = os.path.join(tools, 'imapload')

    def fill(self, user, messages):
        new = os.path.join(self.maildir(user), 'new')
        for name, data in messages:
            path = os.path.join(new, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.close(fd)
            os.chown(path, *self.owner)

    def load(self, user, *args):
        return run_tool([self.imapload, '-p', str(self.port), '-w', PW, '-u', user] + list(args))

    def memory(self):
        pids = self.pids()
        return smaps_kb(pids, 'Pss') / 1024, smaps_kb(pids, 'Rss') / 1024


def fill_mailbox(sides, user, n, size):
    for i0 in range(0, n, 1000):
        batch = [('1764892800.M%dP1.bench' % i, message(i, size))
                 for i in range(i0, min(n, i0 + 1000))]
        for side in sides:
            side.fill(user, batch)
    for side in sides:
        side.load(user, '-m', 'select')        # first access: both index it


def timed_command(side, user, command, after=None):
    extra = ['-x', after] if after else []
    return side.load(user, '-m', 'cmd', '-e', command, *extra)


BOX_FIGURES = [
    # key, label, format; the goal of each is box_goal()'s
    ('warm', 'LOGIN+SELECT warm (p50 of 5), ms', '%.1f'),
    ('warm select', '  of which SELECT, ms', '%.1f'),
    ('cold', 'LOGIN+SELECT cold (caches dropped), ms', '%.0f'),
    ('cold select', '  of which SELECT, ms', '%.0f'),
    ('flags', 'FETCH 1:* (FLAGS), ms', '%.1f'),
    ('envelope', 'FETCH 1:* (ENVELOPE), ms', '%.0f'),
    ('body', 'FETCH 1:* BODY.PEEK[], MB/s', '%.1f'),
    ('subject', 'SEARCH SUBJECT quebec, ms', '%.1f'),
    ('text', 'SEARCH TEXT needle, ms', '%.0f'),
    ('store', 'STORE 1:* +FLAGS (\\Flagged), ms', '%.0f'),
]
HALF_TIME = ('<= 1/2 of DC', lambda p, d: p <= d / 2)
DOUBLE_RATE = ('>= 2x DC', lambda p, d: p >= 2 * d)


def box_goal(key, n):
    if key == 'cold' and n >= 100000:
        return ('<= 1/4 of DC', lambda p, d: p <= d / 4)
    if key in ('warm select', 'cold select'):
        return None
    return DOUBLE_RATE if key == 'body' else HALF_TIME


def measure_box(sides, user, r, s):
    """One round of a mailbox's warm figures, each for both sides back to back."""
    order = sides if r % 2 == 0 else sides[::-1]
    for side in order:
        v = side.load(user, '-m', 'select', '-n', '5')
        s.add((side.name, user, 'warm'), v['p50_ms'])
        s.add((side.name, user, 'warm select'), v['select_ms'])
    for key, command, after in (('flags', 'FETCH 1:* (FLAGS)', None),
                                ('envelope', 'FETCH 1:* (ENVELOPE)', None),
                                ('body', 'FETCH 1:* BODY.PEEK[]', None),
                                ('subject', 'SEARCH SUBJECT quebec', None),
                                ('text', 'SEARCH TEXT needle', None),
                                ('store', 'STORE 1:* +FLAGS (\\Flagged)',
                                 'STORE 1:* -FLAGS.SILENT (\\Flagged)')):
        for side in order:
            v = timed_command(side, user, command, after)
            s.add((side.name, user, key), v['MB_per_s'] if key == 'body' else v['ms'])


def measure_cold(sides, user, r, s):
    """One round of a mailbox's LOGIN+SELECT after the caches are dropped."""
    for side in (sides if r % 2 == 0 else sides[::-1]):
        drop_caches()
        v = side.load(user, '-m', 'select')
        s.add((side.name, user, 'cold'), v['mean_ms'])
        s.add((side.name, user, 'cold select'), v['select_ms'])


def measure_mixed(sides, r, s, seconds):
    order = sides if r % 2 == 0 else sides[::-1]
    for side in order:
        v = side.load(BOX4K, '-m', 'mixed', '-c', str(MIXED_CLIENTS), '-t', str(seconds))
        for key in ('ops_per_s', 'p50_ms', 'p99_ms'):
            s.add((side.name, 'mixed', key), v[key])


def idle_memory(side, n, users):
    """n connections LOGIN, SELECT, IDLE; the server's memory while they idle
    and the seconds from one delivery to each user until every connection
    is told EXISTS: (PSS MiB, RSS MiB, PSS KiB per connection over the
    baseline, seconds)."""
    base_pss, _ = side.memory()
    p = subprocess.Popen([side.imapload, '-p', str(side.port), '-w', PW, '-u', IDLE_PATTERN,
                          '-U', str(len(users)), '-m', 'idle', '-c', str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        if not select.select([p.stdout], [], [], 1800)[0]:
            raise RuntimeError('imapload idle: no answer in 30 min')
        ready = p.stdout.readline()
        if not ready.startswith('ready'):
            raise RuntimeError('imapload idle failed: %s' % p.stderr.read().strip())
        time.sleep(2.0)         # the last processes settle
        pss, rss = side.memory()
        p.stdin.write('exists\n')
        p.stdin.flush()
        stamp = '%d.M%dP1.exists' % (time.time(), n)
        for user in users:
            side.fill(user, [(stamp, message(n, 1024))])
        if not select.select([p.stdout], [], [], 120)[0]:
            raise RuntimeError('imapload idle: no EXISTS in 120 s')
        told = kv(p.stdout.readline())
        if 'seconds' not in told:
            raise RuntimeError('imapload idle failed: %s' % p.stderr.read().strip())
    finally:
        p.stdin.close()
        p.wait(300)
    return pss, rss, (pss - base_pss) * 1024 / n, float(told['seconds'])


def measure_memory(sides, plan, s):
    """Each level for each side; a failure (a server refusing the 10,000th
    connection) is printed and the other figures kept."""
    for n in plan.levels:
        for side in sides:
            progress('IMAP: %s, %d IDLE connections' % (side.name, n))
            try:
                pss, rss, per, told = idle_memory(side, n, plan.idle_users)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                print('%d IDLE on %s failed: %s' % (n, side.name, e))
                continue
            s.add((side.name, n, 'pss'), pss)
            s.add((side.name, n, 'rss'), rss)
            s.add((side.name, n, 'per'), per)
            s.add((side.name, n, 'exists'), told)
            time.sleep(2.0)     # Dovecot's processes exit


def row(s, key, label, fmt, goal):
    pr, dc = ('Postroom',) + key, ('Dovecot',) + key
    cells = [label, s.cell(pr, fmt), s.cell(dc, fmt), s.ratio(pr, dc)]
    if goal is None:
        return cells + ['', '']
    p, d = s.median(pr), s.median(dc)
    met = '-' if p is None or d is None else 'met' if goal[1](p, d) else 'not met'
    return cells + [goal[0], met]


def print_imap(s, boxes, levels, cold):
    rows = []
    for user, n, size in boxes:
        for key, label, fmt in BOX_FIGURES:
            if key.startswith('cold') and not cold:
                continue
            rows.append(row(s, (user, key), '%s x %d KB: %s' % (format(n, ','), size // 1024,
                                                               label), fmt, box_goal(key, n)))
    rows.append(row(s, ('mixed', 'ops_per_s'), 'mixed, %d clients: ops/s' % MIXED_CLIENTS,
                    '%.0f', ('>= 1.5x DC', lambda p, d: p >= 1.5 * d)))
    rows.append(row(s, ('mixed', 'p50_ms'), 'mixed: p50 ms', '%.2f', None))
    rows.append(row(s, ('mixed', 'p99_ms'), 'mixed: p99 ms', '%.2f', None))
    for n in levels:
        c = format(n, ',')
        total = ('< 512 MiB', lambda p, d: p < 512) if n >= 10000 else None
        rows.append(row(s, (n, 'pss'), '%s IDLE: PSS total, MiB' % c, '%.1f', total))
        rows.append(row(s, (n, 'rss'), '%s IDLE: RSS total, MiB' % c, '%.1f', None))
        rows.append(row(s, (n, 'per'), '%s IDLE: PSS per connection, KiB' % c, '%.1f',
                        ('<= 1/10 of DC', lambda p, d: p <= d / 10)))
        rows.append(row(s, (n, 'exists'), '%s IDLE: one delivery to the last EXISTS, s' % c,
                        '%.2f', None))
    print_table(['figure', 'Postroom', 'Dovecot', 'PR/DC', 'goal', ''], rows)


class Plan:
    """What a run measures: mailboxes (user, messages, size), idle levels,
    the idlers' users (1,000 sessions each at most) and the seconds of the
    mixed load."""

    def __init__(self, quick):
        n4k, n1k = (1000, 2000) if quick else (10000, 100000)
        self.boxes = [(BOX4K, n4k, 4096), (BOX1K, n1k, 1024)]
        self.levels = [200] if quick else [500, 10000]
        self.mixed_seconds = 5 if quick else 20
        self.idle_users = ['idle%d@example.test' % i for i in range(10)]


def raise_file_limit(want):
    """Soft and hard file limits to want (root may pass the hard one), else
    the soft one to the hard; both servers inherit it.  The new hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def bench_imap(args, tools, plan=None):
    plan = plan or Plan(args.quick)
    hard = raise_file_limit(FILE_LIMIT)
    if hard < max(plan.levels) + 1000:
        plan.levels = [n for n in plan.levels if n + 1000 <= hard]
        print('IDLE levels cut to %s: ulimit -Hn is %d' % (plan.levels, hard))
    print('\n== IMAP: Postroom imapd vs Dovecot, %d rounds' % args.rounds)
    with Postroom(build=args.build, daemons=('imapd',), config=PR_CONFIG) as pr:
        for u in [BOX4K, BOX1K] + plan.idle_users:
            pr.add_user(u, PW)
        stored = cheap_idlers(pr, plan.idle_users)
        pr.restart('imapd')     # loads the passwd file as edited
        with Dovecot(users={u: PW for u in stored}, stored=stored, settings=DC_SETTINGS) as dc:
            run_imap(args, tools, pr, dc, plan)


def cheap_idlers(pr, idle_users):
    """Postroom's passwd with the idlers' hashes made cheap; {user: hash} for Dovecot."""
    path = os.path.join(pr.conf_dir, 'passwd')
    with open(path) as f:
        lines = [line.rstrip('\n').split(':') for line in f if ':' in line]
    cheap = hash_cheap(PW)
    for fields in lines:
        if fields[0] in idle_users:
            fields[1] = cheap
    with open(path, 'w') as f:
        f.writelines(':'.join(fields) + '\n' for fields in lines)
    return {fields[0]: fields[1] for fields in lines}


def run_imap(args, tools, pr, dc, plan):
    nobody = pwd.getpwnam(pr.user)
    sides = [Side('Postroom', tools, pr.port('imapd.listen'), pr.maildir,
                  (nobody.pw_uid, nobody.pw_gid), lambda: descendants(pr.pid('imapd'))),
             Side('Dovecot', tools, dc.port('imap'), dc.maildir, (dc.uid, dc.gid),
                  lambda: dovecot_pids(dc))]
    for user, n, size in plan.boxes:
        progress('IMAP: writing %d x %d KB into both servers and opening it' % (n, size // 1024))
        fill_mailbox(sides, user, n, size)
    for user in plan.idle_users:
        fill_mailbox(sides, user, 10, 1024)
    s = Samples()
    for r in range(args.rounds):
        progress('IMAP round %d/%d' % (r + 1, args.rounds))
        for user, _, _ in plan.boxes:
            measure_box(sides, user, r, s)
        measure_mixed(sides, r, s, plan.mixed_seconds)
    # After every warm figure: a command after a cache drop reads the files back from
    # disk (FETCH BODY.PEEK[] of 10,000 x 4 KB at 110 MB/s, against 256 from the cache).
    cold = drop_caches()
    if not cold:
        print('cache-dropped figures skipped: /proc/sys/vm/drop_caches not writable')
    for r in range(args.rounds):
        for user, _, _ in plan.boxes:
            measure_cold(sides, user, r, s)
    measure_memory(sides, plan, s)
    print_imap(s, plan.boxes, plan.levels, cold)
