"""Index disk per user: what one Berkeley DB environment costs, empty and
with n messages delivered through smtpd and indexed by a POP3 login."""

import os
import poplib

from benchlib import run_tool
from harness import Postroom
from peers import BENCH_CONFIG


def index_disk_kb(maildir):
    """Allocated blocks (not apparent size) of a user's postroom-index, in KB."""
    d = os.path.join(maildir, 'postroom-index')
    return sum(os.stat(os.path.join(d, n)).st_blocks for n in os.listdir(d)) * 512 // 1024


def bench_index_disk(args, tools):
    n = 2000 if args.quick else 10000
    big = 'big@example.test'
    with Postroom(build=args.build, daemons=('smtpd', 'pop3d'), config=BENCH_CONFIG) as pr:
        pr.add_user(big, 'big-pw')
        run_tool([os.path.join(tools, 'smtpload'), '-p', str(pr.port('smtpd.mx_listen')),
                  '-c', '10', '-n', str(n), '-s', '1024', '-r', big,
                  '-w', os.path.join(pr.maildir(big), 'new'), '-t', '900'])
        for user, pw in (('alice@example.test', 'alice-pw'), (big, 'big-pw')):
            p = poplib.POP3('127.0.0.1', pr.port('pop3d.listen'), timeout=600)
            p.user(user)
            p.pass_(pw)
            p.quit()
        pr.stop('pop3d')    # every environment closed (checkpointed, logs removed)
        print('\nindex disk per user: %d KB (empty) / %d KB (%s x 1 KB messages)' % (
            index_disk_kb(pr.maildir('alice@example.test')), index_disk_kb(pr.maildir(big)),
            format(n, ',')))
