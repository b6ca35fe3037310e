"""Which syncs make a delivery durable (lib/commit.c journal_orders), end to end.

On ext4 with a journal a message's data is written and waited for
(sync_file_range) before its rename, and the fsync of new/ after it is the
one journal commit, which makes both durable; on ext4 without a journal
the file is fsynced as well.  Each case puts a user's Maildir on a small
loop-mounted ext4 of its own, delivers one message through smtpd while
strace counts the syncs of every smtpd process, and checks that the
message landed whole.  Needs root (mount), mkfs.ext4 and strace.
"""

import os
import pwd
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
            all(shutil.which(t) for t in ('mount', 'mkfs.ext4', 'strace')))


@needs(can_run(), 'needs root, loop devices, mkfs.ext4 and strace')
class CommitJournalTest(unittest.TestCase):

    def mount_ext4(self, pr, addr, journal):
        """addr's Maildir moved onto a fresh loop-mounted ext4 in its place."""
        md = pr.maildir(addr)
        pw = pwd.getpwnam(pr.user)
        top = tempfile.mkdtemp(prefix='postroom-ext4-')
        self.addCleanup(shutil.rmtree, top, True)
        image = os.path.join(top, 'fs.img')
        with open(image, 'wb') as f:
            f.truncate(IMAGE_MB << 20)
        subprocess.run(['mkfs.ext4', '-q', '-F'] + ([] if journal else ['-O', '^has_journal']) +
                       [image], check=True)
        saved = os.path.join(top, 'maildir')
        shutil.copytree(md, saved, symlinks=True)
        shutil.rmtree(md)
        os.mkdir(md, 0o700)
        subprocess.run(['mount', '-o', 'loop', image, md], check=True)
        self.addCleanup(subprocess.run, ['umount', md])
        shutil.copytree(saved, md, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(os.path.join(md, 'lost+found'), True)
        for dirpath, dirnames, filenames in os.walk(md):
            for n in dirnames + filenames + ['.']:
                os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
        return md

    def deliver_traced(self, pr, body):
        """Send one message to alice; the sync calls smtpd made meanwhile, by name."""
        out = os.path.join(tempfile.mkdtemp(prefix='postroom-strace-'), 'trace')
        self.addCleanup(shutil.rmtree, os.path.dirname(out), True)
        smtpd = pr.pid('smtpd')
        args = ['strace', '-f', '-qq', '-e', 'trace=fsync,fdatasync,sync_file_range', '-o', out]
        for p in [smtpd] + children(smtpd):
            args += ['-p', str(p)]
        tracer = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)         # attached to every thread
            with smtplib.SMTP('127.0.0.1', pr.port('smtpd.mx_listen'), timeout=10) as s:
                s.sendmail('bob@remote.test', [ALICE], body)
            time.sleep(0.3)
        finally:
            tracer.terminate()
            tracer.wait(10)
        with open(out) as f:
            calls = [line.split()[1].split('(')[0] for line in f if '(' in line]
        return {name: calls.count(name) for name in ('fsync', 'fdatasync', 'sync_file_range')}

    def delivered(self, md):
        names = os.listdir(os.path.join(md, 'new'))
        self.assertEqual(len(names), 1, names)
        with open(os.path.join(md, 'new', names[0]), 'rb') as f:
            return f.read()

    def check(self, journal):
        body = b'Subject: journal %r\r\n\r\n' % journal + b'line of the message\r\n' * 200
        with Postroom(daemons=('smtpd',)) as pr:
            md = self.mount_ext4(pr, ALICE, journal)
            syncs = self.deliver_traced(pr, body)
            self.assertTrue(self.delivered(md).endswith(body.replace(b'\r\n', b'\n')))
        return syncs

    def test_journal_one_commit(self):
        syncs = self.check(journal=True)
        # The data written and waited for, then new/'s fsync commits it with the rename.
        self.assertEqual(syncs['sync_file_range'], 1, syncs)
        self.assertEqual(syncs['fsync'], 1, syncs)

    def test_no_journal_fsyncs_the_file(self):
        syncs = self.check(journal=False)
        self.assertEqual(syncs['sync_file_range'], 0, syncs)
        self.assertEqual(syncs['fsync'], 2, syncs)     # the file, then new/


if __name__ == '__main__':
    unittest.main()
