"""The servers `make bench` runs side by side, each in a temp dir of its own.

Postfix from tests/bench/postfix.sh, Dovecot from tests/e2e/dovecot.py, Postroom
from the e2e harness: our templates only, loopback only.  temp_root(path) puts
the next ones (mail, queue, everything) on the file system holding path."""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

from benchlib import descendants, process_names
from harness import Postroom

HERE = os.path.dirname(os.path.abspath(__file__))
RCPT = 'alice@example.test'
# Logging and the per-address limit off the measured path (every client is 127.0.0.1).
BENCH_CONFIG = {'log_level': 'warn', 'max_connections_per_ip': '1000'}


@contextlib.contextmanager
def temp_root(path):
    saved = tempfile.tempdir
    tempfile.tempdir = path
    try:
        yield
    finally:
        tempfile.tempdir = saved


class Postfix:
    """The reference MTA: virtual(8) delivery into a Maildir for RCPT and, with
    transport ({domain: 'smtp:[ip]:port'}), smtp(8) relaying to those hosts."""
    name = 'Postfix'

    def __init__(self, transport=None):
        self.dir = tempfile.mkdtemp(prefix='postroom-bench-postfix-')
        self.port = Postroom._free_port(set())
        self.transport = transport

    def __enter__(self):
        args = ['sh', os.path.join(HERE, 'postfix.sh'), 'start', self.dir, str(self.port)]
        try:
            if self.transport:
                fd, table = tempfile.mkstemp(prefix='postroom-bench-transport-')
                with os.fdopen(fd, 'w') as f:
                    f.writelines('%s %s\n' % kv for kv in sorted(self.transport.items()))
                args.append(table)
            try:
                subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            finally:
                if self.transport:
                    os.unlink(table)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(('127.0.0.1', self.port), 0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError('postfix did not start')
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        subprocess.run(['sh', os.path.join(HERE, 'postfix.sh'), 'stop', self.dir],
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(self.dir, True)

    def new_dir(self):
        return os.path.join(self.dir, 'mail', 'example.test', 'alice', 'Maildir', 'new')

    def pids(self):
        with open(os.path.join(self.dir, 'queue', 'pid', 'master.pid')) as f:
            return descendants(int(f.read().strip()))

    def relay(self, on):
        """The queue manager started (mail leaves) or stopped (mail stays queued)."""
        subprocess.run(['sh', os.path.join(HERE, 'postfix.sh'), 'qmgr', self.dir,
                        'on' if on else 'off'], check=True)
        deadline = time.monotonic() + 10
        while not on and 'qmgr' in process_names(self.pids()):
            if time.monotonic() > deadline:
                raise RuntimeError('postfix: qmgr still running after reload')
            time.sleep(0.05)

    def queued(self):
        """Messages in any of the queues (mail not yet delivered or given up)."""
        q = os.path.join(self.dir, 'queue')
        return sum(len(files) for d in ('maildrop', 'incoming', 'active', 'deferred', 'hold')
                   for _, _, files in os.walk(os.path.join(q, d)))


class PostroomSMTP:
    name = 'Postroom'

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


class PostroomRelay(PostroomSMTP):
    """smtpd relaying for 127.0.0.1; relayd, sending, asks its DNS at dns_servers."""

    def __init__(self, build, dns_servers, port):
        conf = dict(BENCH_CONFIG)
        conf.update({'smtpd.relay_networks': '127.0.0.1/32', 'relayd.dns_servers': dns_servers,
                     'relayd.port': str(port)})
        self.pr = Postroom(build=build, daemons=('smtpd',), config=conf)

    def relay(self, on):
        """relayd started (mail leaves) or stopped (mail stays queued)."""
        if on:
            self.pr.start('relayd')
        else:
            self.pr.stop('relayd')

    def queued(self):
        q = self.pr.queue_dir
        return sum(len(os.listdir(os.path.join(q, d))) for d in ('active', 'state'))


def dovecot_pids(dc):
    with open(os.path.join(dc.dir, 'run', 'master.pid')) as f:
        return descendants(int(f.read().strip()))
