"""POP3 figures: Postroom pop3d vs Dovecot, both serving mail as it was
delivered: Postroom's mailboxes are copies of what its smtpd wrote into new/,
Dovecot's of what Postfix virtual(8) wrote (LF line ends, each server's own
headers and file names).  The first access is of a Maildir never opened
before; memory is PSS summed over each daemon's processes."""

import os
import pwd
import threading
import time

from benchlib import (Samples, copy_mail, descendants, drop_caches, progress, pss_kb, print_table,
                      run_tool)
from dovecot import Dovecot
from harness import Postroom
from peers import BENCH_CONFIG, RCPT, Postfix, dovecot_pids

PW = 'bench-pw'
RETR_USERS = ['bench%d@example.test' % i for i in range(10)]


def fresh_user(r):
    return 'fresh%d@example.test' % r


def deliver(tools, port, new_dir, n):
    run_tool([os.path.join(tools, 'smtpload'), '-p', str(port), '-c', '10', '-n', str(n),
              '-s', '4096', '-r', RCPT, '-w', new_dir, '-t', '900'])


class Side:
    """One POP3 server under test: where its mail goes and how to reach it."""

    def __init__(self, name, tools, port, maildir, owner, pids, template):
        self.name, self.port, self.maildir = name, port, maildir
        self.owner, self.pids, self.template = owner, pids, template
        self.pop3load = os.path.join(tools, 'pop3load')

    def fill(self, user):
        copy_mail(self.template, os.path.join(self.maildir(user), 'new'), *self.owner)

    def pop(self, *args):
        return [self.pop3load, '-p', str(self.port), '-w', PW] + list(args)


def stat(side, user, rounds):
    return run_tool(side.pop('-u', user, '-m', 'stat', '-n', str(rounds)))


def retr(side, clients):
    user = RETR_USERS[0] if clients == 1 else 'bench%d@example.test'
    return run_tool(side.pop('-u', user, '-m', 'retr', '-c', str(clients)))['MB_per_s']


def retr_with_memory(side):
    """RETR all by 10 clients, PSS sampled every 50 ms: (MB/s, peak KB, KB 1 s after)."""
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], pss_kb(side.pids()))
            time.sleep(0.05)
    t = threading.Thread(target=sample)
    t.start()
    try:
        mbs = retr(side, 10)
    finally:
        done.set()
        t.join()
    time.sleep(1.0)
    return mbs, peak[0], pss_kb(side.pids())


def measure_round(sides, r, s, cold):
    """One round: each figure for each side back to back, the order swapped every round."""
    order = sides if r % 2 == 0 else sides[::-1]
    for side in order:
        side.fill(fresh_user(r))
    for side in order:
        s.add((side.name, 'first'), stat(side, fresh_user(r), 1)['mean_ms'])
    for side in order:
        s.add((side.name, 'warm'), stat(side, fresh_user(r), 10)['p50_ms'])
    for side in order:
        s.add((side.name, 'retr1'), retr(side, 1))
    for side in order:
        mbs, peak, after = retr_with_memory(side)
        s.add((side.name, 'retr10'), mbs)
        s.add((side.name, 'pss peak'), peak / 1024)
        s.add((side.name, 'pss after'), after / 1024)
    if not cold:
        return
    drop_caches()       # one drop serves both sides: their files are distinct
    for side in order:
        s.add((side.name, 'cold login'), stat(side, RETR_USERS[1], 1)['mean_ms'])
    for side in order:
        s.add((side.name, 'retr1 cold'), retr(side, 1))
    drop_caches()
    for side in order:
        s.add((side.name, 'retr10 cold'), retr(side, 10))


def print_pop3(s, n, cold):
    figures = [('first', 'first login+STAT+UIDL, fresh Maildir, ms', '%.0f'),
               ('warm', 'login+STAT+UIDL again (p50 of 10), ms', '%.1f'),
               ('retr1', 'RETR all, 1 client, MB/s', '%.1f'),
               ('retr10', 'RETR all, 10 clients, MB/s', '%.1f'),
               ('pss peak', 'PSS, 10 RETR sessions: peak, MiB', '%.1f'),
               ('pss after', 'PSS 1 s after they closed, MiB', '%.1f')]
    if cold:
        figures += [('cold login', 'login+STAT+UIDL, cache dropped, ms', '%.0f'),
                    ('retr1 cold', 'RETR all, 1 client, cache dropped, MB/s', '%.1f'),
                    ('retr10 cold', 'RETR all, 10 clients, cache dropped, MB/s', '%.1f')]
    rows = [[label, s.cell(('Postroom', k), fmt), s.cell(('Dovecot', k), fmt),
             s.ratio(('Postroom', k), ('Dovecot', k))] for k, label, fmt in figures]
    print_table(['figure (%s x 4 KB per mailbox)' % format(n, ','), 'Postroom', 'Dovecot',
                 'PR/DC'], rows)


def make_templates(tools, pr, n):
    """n messages delivered by Postroom smtpd and by Postfix: the mail both serve."""
    deliver(tools, pr.port('smtpd.mx_listen'), os.path.join(pr.maildir(RCPT), 'new'), n)
    pr.stop('smtpd')
    pf = Postfix()
    with pf:
        deliver(tools, pf.port, pf.new_dir(), n)
        os.rename(pf.new_dir(), os.path.join(pr.dir, 'postfix-new'))
    return os.path.join(pr.maildir(RCPT), 'new'), os.path.join(pr.dir, 'postfix-new')


def bench_pop3(args, tools):
    n = 1000 if args.quick else 10000
    users = {u: PW for u in RETR_USERS + [fresh_user(r) for r in range(args.rounds)]}
    print('\n== POP3: Postroom pop3d vs Dovecot, %s x 4 KB per mailbox, %d rounds' % (
        format(n, ','), args.rounds))
    with Postroom(build=args.build, daemons=('smtpd', 'pop3d'), config=BENCH_CONFIG) as pr:
        for u in users:
            pr.add_user(u, PW)
        with Dovecot(users=users, stored=stored_hashes(pr)) as dc:
            run_pop3(args, tools, n, pr, dc)


def stored_hashes(pr):
    """{user: hash} from Postroom's passwd: Dovecot checks the same yescrypt
    hashes with crypt(3), so logins cost both servers the same."""
    with open(os.path.join(pr.conf_dir, 'passwd')) as f:
        return dict(line.split(':')[:2] for line in f if ':' in line)


def run_pop3(args, tools, n, pr, dc):
    """Fill both servers' mailboxes, measure each round, print the table."""
    progress('POP3: delivering %d messages through each SMTP' % n)
    pr_tpl, pf_tpl = make_templates(tools, pr, n)
    nobody = pwd.getpwnam(pr.user)
    sides = [Side('Postroom', tools, pr.port('pop3d.listen'), pr.maildir,
                  (nobody.pw_uid, nobody.pw_gid), lambda: descendants(pr.pid('pop3d')),
                  pr_tpl),
             Side('Dovecot', tools, dc.port('pop3'), dc.maildir, (dc.uid, dc.gid),
                  lambda: dovecot_pids(dc), pf_tpl)]
    progress('POP3: filling and opening 10 mailboxes per server')
    for side in sides:
        for u in RETR_USERS:
            side.fill(u)
            stat(side, u, 1)    # the first access of these is not what they measure
    cold = drop_caches()
    if not cold:
        print('cache-dropped figures skipped: /proc/sys/vm/drop_caches not writable')
    # That check dropped the page cache, and round 1's warm figures read cold files
    # (RETR 1 client 41 MB/s, then 100).  One download reads them back, and its QUIT
    # marks every message seen (a rename each) outside the rounds, as in the later ones.
    for side in sides:
        retr(side, 10)
    s = Samples()
    for r in range(args.rounds):
        progress('POP3 round %d/%d' % (r + 1, args.rounds))
        measure_round(sides, r, s, cold)
    print_pop3(s, n, cold)
