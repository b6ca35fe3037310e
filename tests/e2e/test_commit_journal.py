"""Which syncs make a delivery durable (lib/commit.c journal_orders), end to end.

On ext4 with its journal inside, a message's data is written and waited
for (sync_file_range) before its rename, and the fsync of new/ after it is
the one journal commit, which makes both durable.  Without a journal, with
the journal on another device (whose commits need not flush the mail
disk), or mounted journal_async_commit (commit records not after a flush),
the file is fsynced as well.  Each case puts a user's Maildir on a small
loop-mounted ext4 of its own, delivers one message through smtpd while
strace records the syncs of every smtpd process (with the paths of their
descriptors), and checks that the message landed whole.  Needs root
(mount, losetup), mkfs.ext4 and strace.
"""

import os
import pwd
import re
import select
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from harness import Postroom, children, needs

ALICE = 'alice@example.test'
IMAGE_MB = 32


def can_run():
    return (os.geteuid() == 0 and os.path.exists('/dev/loop-control') and
            all(shutil.which(t) for t in ('mount', 'losetup', 'mkfs.ext4', 'strace')))


@needs(can_run(), 'needs root, loop devices, mkfs.ext4 and strace')
class CommitJournalTest(unittest.TestCase):

    def image(self, top, name, mkfs):
        path = os.path.join(top, name)
        with open(path, 'wb') as f:
            f.truncate(IMAGE_MB << 20)
        subprocess.run(['mkfs.ext4', '-q', '-F', '-b', '4096'] + mkfs + [path], check=True)
        return path

    def external_journal(self, top):
        """A journal device on a loop device of its own: mkfs.ext4 -J device=..."""
        jdev = subprocess.run(['losetup', '--find', '--show',
                               self.image(top, 'journal.img', ['-O', 'journal_dev'])],
                              check=True, capture_output=True, text=True).stdout.strip()
        self.addCleanup(subprocess.run, ['losetup', '-d', jdev])
        return ['-J', 'device=' + jdev]

    def mount_ext4(self, pr, addr, mkfs=(), options=(), journal_device=False):
        """addr's Maildir moved onto a fresh loop-mounted ext4 in its place."""
        md = pr.maildir(addr)
        pw = pwd.getpwnam(pr.user)
        top = tempfile.mkdtemp(prefix='postroom-ext4-')
        self.addCleanup(shutil.rmtree, top, True)
        mkfs = list(mkfs) + (self.external_journal(top) if journal_device else [])
        image = self.image(top, 'fs.img', mkfs)
        saved = os.path.join(top, 'maildir')
        shutil.copytree(md, saved, symlinks=True)
        shutil.rmtree(md)
        os.mkdir(md, 0o700)
        subprocess.run(['mount', '-o', ','.join(['loop'] + list(options)), image, md],
                       check=True)
        self.addCleanup(subprocess.run, ['umount', md])
        shutil.copytree(saved, md, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(os.path.join(md, 'lost+found'), True)
        for dirpath, dirnames, filenames in os.walk(md):
            for n in dirnames + filenames + ['.']:
                os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
        return md

    def deliver_traced(self, pr, body):
        """Send one message to alice: the syncs smtpd made meanwhile, as (call, path, args)."""
        top = tempfile.mkdtemp(prefix='postroom-strace-')
        self.addCleanup(shutil.rmtree, top, True)
        smtpd = pr.pid('smtpd')
        pids = [smtpd] + pr.wait_for(lambda: children(smtpd))     # its worker forked
        # -ff: a file per thread, so no call is split by another thread's.
        args = ['strace', '-ff', '-ttt', '-y', '-e', 'trace=fsync,fdatasync,sync_file_range',
                '-o', os.path.join(top, 'trace')]
        for p in pids:
            args += ['-p', str(p)]
        tracer = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        try:
            self.wait_attached(tracer, len(pids))
            with smtplib.SMTP('127.0.0.1', pr.port('smtpd.mx_listen'), timeout=10) as s:
                s.sendmail('bob@remote.test', [ALICE], body)
        finally:
            tracer.terminate()
            tracer.wait(10)
        calls = []
        for name in os.listdir(top):
            with open(os.path.join(top, name)) as f:
                calls += [(float(m.group(1)), m.group(2), m.group(3), m.group(4)) for m in
                          (re.search(r'^([\d.]+) (\w+)\(\d+<([^>]*)>(.*)\) = 0$', line)
                           for line in f) if m]
        return [c[1:] for c in sorted(calls)]     # in time order, over all threads

    def wait_attached(self, tracer, n):
        """Until strace says it holds every thread of the n processes (a sleep was too
        short under ASan): one "Process P attached [with T threads]" line each."""
        deadline = time.monotonic() + 30
        said = []
        while sum(' attached' in line for line in said) < n:
            self.assertLess(time.monotonic(), deadline, 'strace did not attach: %r' % said)
            if select.select([tracer.stderr], [], [], 1.0)[0]:
                line = tracer.stderr.readline()
                self.assertTrue(line, 'strace exited: %r' % said)
                said.append(line)

    def delivered(self, md):
        names = os.listdir(os.path.join(md, 'new'))
        self.assertEqual(len(names), 1, names)
        with open(os.path.join(md, 'new', names[0]), 'rb') as f:
            return f.read()

    def syncs(self, **fs):
        body = b'Subject: %r\r\n\r\n' % sorted(fs.items()) + b'line of the message\r\n' * 200
        # One worker, so that every process is traced once it is there.
        with Postroom(daemons=('smtpd',), config={'workers': 1}) as pr:
            md = self.mount_ext4(pr, ALICE, **fs)
            calls = self.deliver_traced(pr, body)
            self.assertTrue(self.delivered(md).endswith(body.replace(b'\r\n', b'\n')))
        tmp, new = os.path.join(md, 'tmp') + '/', os.path.join(md, 'new')
        return [(call, 'tmp file' if path.startswith(tmp) else 'new/' if path == new else path,
                 rest) for call, path, rest in calls]

    def assert_fsyncs_file(self, calls):
        self.assertEqual([(c, p) for c, p, _ in calls], [('fsync', 'tmp file'), ('fsync', 'new/')])

    def test_journal_one_commit(self):
        calls = self.syncs()
        # The data written and waited for, then new/'s fsync commits it with the rename.
        self.assertEqual([(c, p) for c, p, _ in calls],
                         [('sync_file_range', 'tmp file'), ('fsync', 'new/')], calls)
        for flag in ('SYNC_FILE_RANGE_WAIT_BEFORE', 'SYNC_FILE_RANGE_WRITE',
                     'SYNC_FILE_RANGE_WAIT_AFTER'):
            self.assertIn(flag, calls[0][2])

    def test_no_journal_fsyncs_the_file(self):
        self.assert_fsyncs_file(self.syncs(mkfs=['-O', '^has_journal']))

    def test_journal_on_another_device_fsyncs_the_file(self):
        self.assert_fsyncs_file(self.syncs(journal_device=True))

    def test_async_commit_fsyncs_the_file(self):
        # ext4 allows it with data=writeback only.
        self.assert_fsyncs_file(self.syncs(options=['data=writeback', 'journal_async_commit']))


if __name__ == '__main__':
    unittest.main()
