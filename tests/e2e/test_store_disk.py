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
import select
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Postroom, needs

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


@needs(can_mount(), 'needs root to mount a tmpfs')
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


class LoginSyncOffLoopTest(unittest.TestCase):
    """Issue 19 item 10: the first login to a large Maildir without an index
    rebuilds the index; that must not hold up the other sessions of the
    process (it runs on the workq, as the password check does)."""

    NMSG = 3000

    def fill_maildir(self, pr, addr):
        md = pr.maildir(addr)
        pw = pwd.getpwnam(pr.user)
        for i in range(self.NMSG):
            path = os.path.join(md, 'new', '1700000000.M%dP1.test' % i)
            with open(path, 'wb') as f:
                f.write(b'From: a@remote.test\nTo: %s\nSubject: message %d\n'
                        b'Message-ID: <%d@remote.test>\n\nbody %d\n'
                        % (addr.encode(), i, i, i))
            if pr.as_root:
                os.chown(path, pw.pw_uid, pw.pw_gid)

    @staticmethod
    def cheap_hash(pr, addr, password):
        """A SHA-512-crypt hash (a few ms) instead of yescrypt (~0.2 s here), so
        that the time the login takes is the rebuild's."""
        h = subprocess.run(['openssl', 'passwd', '-6', '-salt', 'e2esalt', password],
                           check=True, capture_output=True, text=True).stdout.strip()
        path = os.path.join(pr.conf_dir, 'passwd')
        with open(path) as f:
            lines = f.read().splitlines()
        with open(path, 'w') as f:
            for line in lines:
                if line.startswith(addr + ':'):
                    line = '%s:{CRYPT}%s%s' % (addr, h, line[line.index('::'):])
                f.write(line + '\n')

    @staticmethod
    def read_line(sock):
        data = b''
        while not data.endswith(b'\r\n'):
            chunk = sock.recv(1)
            if not chunk:
                break
            data += chunk
        return data

    def test_other_greeting_not_delayed_by_rebuild(self):
        with Postroom(daemons=()) as pr:
            pr.add_user(*CAROL)
            self.cheap_hash(pr, *CAROL)
            self.fill_maildir(pr, CAROL[0])
            pr.start('pop3d')
            port = pr.port('pop3d.listen')
            carol = socket.create_connection(('127.0.0.1', port), timeout=30)
            self.addCleanup(carol.close)
            self.assertTrue(self.read_line(carol).startswith(b'+OK'))
            carol.sendall(b'USER %s\r\n' % CAROL[0].encode())
            self.assertTrue(self.read_line(carol).startswith(b'+OK'))
            start = time.monotonic()
            carol.sendall(b'PASS %s\r\n' % CAROL[1].encode())
            time.sleep(0.05)    # the password check (~ms) is done: the rebuild runs
            other = socket.create_connection(('127.0.0.1', port), timeout=30)
            self.addCleanup(other.close)
            select.select([other], [], [], 30)
            t_greeting = time.monotonic() - start
            # Carol's +OK must not be there yet: the rebuild is still running.
            login_pending = not select.select([carol], [], [], 0)[0]
            greeting = self.read_line(other)
            reply = self.read_line(carol)
            t_login = time.monotonic() - start
            print('\n%d-message rebuild at login: +OK after %.3f s; another client\'s '
                  'greeting after %.3f s' % (self.NMSG, t_login, t_greeting))
            self.assertTrue(greeting.startswith(b'+OK'), greeting)
            self.assertTrue(reply.startswith(b'+OK'), reply)
            self.assertTrue(login_pending, 'the greeting waited for the rebuild')
            carol.sendall(b'STAT\r\n')
            self.assertEqual(self.read_line(carol).split()[:2], [b'+OK', b'%d' % self.NMSG])


class UpdateOffLoopTest(unittest.TestCase):
    """Issue 14 item 4: QUIT's UPDATE (the expunge of every DELE'd message,
    with its fsyncs) runs on the workq, so another client's greeting is not
    held up by it; and what +OK answered is gone for good."""

    NMSG = 3000

    def test_other_greeting_not_delayed_by_update(self):
        helper = LoginSyncOffLoopTest
        with Postroom(daemons=()) as pr:
            pr.add_user(*CAROL)
            helper.cheap_hash(pr, *CAROL)
            helper.fill_maildir(self, pr, CAROL[0])
            pr.start('pop3d')
            port = pr.port('pop3d.listen')
            carol = socket.create_connection(('127.0.0.1', port), timeout=60)
            self.addCleanup(carol.close)
            self.assertTrue(helper.read_line(carol).startswith(b'+OK'))
            carol.sendall(b'USER %s\r\nPASS %s\r\n' % (CAROL[0].encode(), CAROL[1].encode()))
            self.assertTrue(helper.read_line(carol).startswith(b'+OK'))
            self.assertTrue(helper.read_line(carol).startswith(b'+OK'))   # index built
            carol.sendall(b''.join(b'DELE %d\r\n' % i for i in range(1, self.NMSG + 1)))
            for _ in range(self.NMSG):
                self.assertEqual(helper.read_line(carol), b'+OK Marked to be deleted.\r\n')
            start = time.monotonic()
            carol.sendall(b'QUIT\r\n')
            time.sleep(0.02)    # the UPDATE is running
            other = socket.create_connection(('127.0.0.1', port), timeout=60)
            self.addCleanup(other.close)
            select.select([other], [], [], 60)
            t_greeting = time.monotonic() - start
            # Carol's +OK must not be there yet: the expunge is still running.
            update_pending = not select.select([carol], [], [], 0)[0]
            greeting = helper.read_line(other)
            reply = helper.read_line(carol)
            t_update = time.monotonic() - start
            print('\nUPDATE expunging %d messages: +OK after %.3f s; another client\'s '
                  'greeting after %.3f s' % (self.NMSG, t_update, t_greeting))
            self.assertTrue(greeting.startswith(b'+OK'), greeting)
            self.assertEqual(reply, b'+OK Logging out, messages deleted.\r\n')
            self.assertTrue(update_pending, 'the greeting waited for the UPDATE')
            # Durable and visible: the mailbox is empty, its files gone.
            md = pr.maildir(CAROL[0])
            self.assertEqual(os.listdir(os.path.join(md, 'cur')) +
                             os.listdir(os.path.join(md, 'new')), [])
            p = login(pr, CAROL)
            self.assertEqual(p.stat(), (0, 0))
            p.quit()
