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

from benchlib import descendants
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
    """The reference MTA: virtual(8) delivery into a Maildir for RCPT."""
    name = 'Postfix'

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='postroom-bench-postfix-')
        self.port = Postroom._free_port(set())

    def __enter__(self):
        try:
            subprocess.run(['sh', os.path.join(HERE, 'postfix.sh'), 'start', self.dir,
                            str(self.port)], check=True, stdout=subprocess.DEVNULL)
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


def dovecot_pids(dc):
    with open(os.path.join(dc.dir, 'run', 'master.pid')) as f:
        return descendants(int(f.read().strip()))
