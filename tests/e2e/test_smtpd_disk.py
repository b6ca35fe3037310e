"""smtpd on a nearly full disk (issue 19 item 11): MAIL is answered 452 4.3.1 while the
free space of mail_root (a small tmpfs mounted for the test) is under
smtpd.min_free_space, or would be after MAIL's SIZE=; with the check off, a commit that
fails on the full disk still gets its 451 after the data."""

import errno
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import needs, start_postroom

MB = 1024 * 1024
TMPFS_SIZE = 16 * MB
MIN_FREE = 4 * MB
ALICE = 'alice@example.test'


def can_mount():
    return os.geteuid() == 0 and shutil.which('mount') and shutil.which('umount')


@needs(can_mount(), 'needs root to mount a tmpfs')
class LowDiskTest(unittest.TestCase):
    def setUp(self):
        self.pr = start_postroom(self, daemons=(), config={'smtpd.min_free_space': MIN_FREE})
        root = self.pr.mail_root
        saved = tempfile.mkdtemp(prefix='postroom-disk-')
        self.addCleanup(shutil.rmtree, saved, True)
        subprocess.run(['cp', '-a', root + '/.', saved], check=True)
        pw = pwd.getpwnam(self.pr.user)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d,mode=0755,uid=%d,gid=%d'
                        % (TMPFS_SIZE, pw.pw_uid, pw.pw_gid), 'tmpfs', root], check=True)
        self.addCleanup(self.unmount)
        subprocess.run(['cp', '-a', saved + '/.', root], check=True)
        self.filler = os.path.join(root, 'filler')
        self.pr.start('smtpd')

    def unmount(self):
        self.pr.stop('smtpd')
        subprocess.run(['umount', self.pr.mail_root], check=True)

    def free(self):
        st = os.statvfs(self.pr.mail_root)
        return st.f_bavail * st.f_frsize

    def fill(self, leave):
        """Grow the filler until only `leave` bytes are free (0: until ENOSPC)."""
        with open(self.filler, 'ab') as f:
            while self.free() > leave:
                try:
                    f.write(b'\0' * min(MB, max(self.free() - leave, 4096)))
                    f.flush()
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break

    def smtp(self):
        s = smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=15)
        s.ehlo()
        return s

    def test_452_at_mail_when_low(self):
        with self.smtp() as s:
            s.sendmail('x@remote.test', [ALICE], b'Subject: room\r\n\r\nx\r\n')
        self.assertEqual(len(self.pr.messages(ALICE)), 1)
        self.fill(MIN_FREE - MB)
        with self.smtp() as s:
            self.assertEqual(s.mail('x@remote.test'),
                             (452, b'4.3.1 Insufficient system storage'))
            # The session goes on: nothing was counted against it.
            self.assertEqual(s.noop()[0], 250)
        os.unlink(self.filler)
        free = self.free()
        with self.smtp() as s:
            # SIZE= counts: what would be left after the message decides.
            code, _ = s.mail('x@remote.test', ['SIZE=%d' % (free - MIN_FREE + MB)])
            self.assertEqual(code, 452)
            self.assertEqual(s.mail('x@remote.test', ['SIZE=%d' % MB])[0], 250)
            self.assertEqual(s.rcpt(ALICE)[0], 250)
            self.assertEqual(s.data(b'Subject: sized\r\n\r\nx\r\n')[0], 250)
        self.assertEqual(len(self.pr.messages(ALICE)), 2)

    def test_451_kept_when_check_off(self):
        self.pr.config['smtpd.min_free_space'] = '0'
        self.pr._write_config_file()
        self.pr.restart('smtpd')
        self.fill(0)
        with self.smtp() as s:
            self.assertEqual(s.mail('x@remote.test')[0], 250)
            self.assertEqual(s.rcpt(ALICE)[0], 250)
            code, text = s.data(b'Subject: full\r\n\r\n' + b'x' * 65536 + b'\r\n')
            self.assertEqual((code, text[:5]), (451, b'4.3.0'))
        self.assertEqual(self.pr.messages(ALICE), [])


if __name__ == '__main__':
    unittest.main()
