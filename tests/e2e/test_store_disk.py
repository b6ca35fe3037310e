"""The index on a full disk (issue 19 item 3), end to end.

A user's Maildir sits on its own small tmpfs, filled until there is no
room for a Berkeley DB environment.  Logging in must be -ERR [SYS/TEMP],
and the pop3d process (with every other session on it) must live on: on the
base code it died with SIGBUS when the sparse region file was touched.
Needs root (mount); skipped otherwise.
"""

import os
import poplib
import pwd
import shutil
import subprocess
import tempfile
import unittest

from harness import Postroom

ALICE = ('alice@example.test', 'alice-pw')
CAROL = ('carol@example.test', 'carol-pw')
TMPFS_SIZE = 4 * 1024 * 1024
LEAVE_FREE = 128 * 1024      # room for a message, not for an index


def can_mount():
    return os.geteuid() == 0 and shutil.which('mount') is not None


def login(pr, user):
    p = poplib.POP3('127.0.0.1', pr.port('pop3d.listen'), timeout=10)
    p.user(user[0])
    try:
        p.pass_(user[1])
    except poplib.error_proto:
        p.close()
        raise
    return p


@unittest.skipUnless(can_mount(), 'needs root to mount a tmpfs')
class IndexDiskFullTest(unittest.TestCase):

    def mount_maildir(self, pr, addr):
        """Move addr's Maildir onto a TMPFS_SIZE tmpfs mounted in its place."""
        md = pr.maildir(addr)
        pw = pwd.getpwnam(pr.user)
        saved = tempfile.mkdtemp(prefix='postroom-maildir-')
        self.addCleanup(shutil.rmtree, saved, True)
        shutil.rmtree(saved)
        shutil.copytree(md, saved, symlinks=True)
        shutil.rmtree(md)
        os.mkdir(md, 0o700)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d,mode=0700,uid=%d,gid=%d'
                        % (TMPFS_SIZE, pw.pw_uid, pw.pw_gid), 'tmpfs', md], check=True)
        self.addCleanup(subprocess.run, ['umount', '-l', md])
        shutil.copytree(saved, md, symlinks=True, dirs_exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(md):
            for n in dirnames + filenames:
                os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
        with open(os.path.join(md, 'new', '1700000000.M1P1.test'), 'wb') as f:
            f.write(b'From: a@remote.test\nSubject: hi\n\nhi\n')
        os.chown(os.path.join(md, 'new', '1700000000.M1P1.test'), pw.pw_uid, pw.pw_gid)
        return md

    @staticmethod
    def fill(path, leave):
        """A filler file leaving about `leave` bytes free on path's file system."""
        st = os.statvfs(path)
        free = st.f_bavail * st.f_frsize
        filler = os.path.join(path, 'filler')
        with open(filler, 'wb') as f:
            os.posix_fallocate(f.fileno(), 0, max(free - leave, 4096))
        return filler

    def test_full_disk_index_is_temp_error_and_pop3d_lives(self):
        with Postroom(daemons=('pop3d',)) as pr:
            pr.add_user(*CAROL)
            md = self.mount_maildir(pr, CAROL[0])
            self.assertFalse(os.path.exists(os.path.join(md, 'postroom-index')))
            filler = self.fill(md, LEAVE_FREE)
            pid = pr.pid('pop3d')
            alice = login(pr, ALICE)     # a session that must survive
            self.addCleanup(alice.close)
            with self.assertRaises(poplib.error_proto) as cm:
                login(pr, CAROL)
            reply = cm.exception.args[0]
            if isinstance(reply, str):      # poplib's own: the connection dropped
                reply = reply.encode()
            self.assertTrue(reply.startswith(b'-ERR [SYS/TEMP]'),
                            '%r; pop3d exit status %r' % (reply, pr.procs['pop3d'].poll()))
            # The process and the session on it are still there.
            self.assertTrue(pr.running('pop3d'), pr.log('pop3d')[-2000:])
            self.assertEqual(pr.pid('pop3d'), pid)
            self.assertEqual(alice.stat(), (0, 0))
            alice.quit()
            login(pr, ALICE).quit()
            # Room again: the same user logs in and sees the message.
            os.unlink(filler)
            carol = login(pr, CAROL)
            self.assertEqual(carol.stat()[0], 1)
            carol.quit()
            self.assertNotIn('Bus error', pr.log('pop3d'))


if __name__ == '__main__':
    unittest.main()
