"""Delivery never follows a symlinked Maildir directory (issue 19 item 8).

The mail user can replace its Maildir's new/ (or tmp/, or the Maildir
itself) with a symlink to another directory.  smtpd must answer 4xx (the
mail stays with the sender, nothing is lost) and write nothing there.
"""

import os
import pwd
import shutil
import smtplib
import subprocess
import unittest

from harness import is_root, needs, start_postroom

MSG = b'From: x@remote.test\r\nTo: alice@example.test\r\nSubject: s\r\n\r\nbody\r\n'


def files_under(top):
    return sorted(os.path.join(d, n) for d, _, names in os.walk(top) for n in names)


class DeliverySymlinkCase(unittest.TestCase):
    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd',))
        # The victim belongs to the mail user: only the symlink check protects it.
        self.victim = os.path.join(self.pr.dir, 'victim')
        for sub in ('', 'tmp', 'new', 'cur'):
            os.mkdir(os.path.join(self.victim, sub))
            if os.geteuid() == 0:
                pw = pwd.getpwnam(self.pr.user)
                os.chown(os.path.join(self.victim, sub), pw.pw_uid, pw.pw_gid)

    def plant(self, path):
        shutil.rmtree(path)
        os.symlink(self.victim, path)

    def send(self):
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            try:
                s.sendmail('x@remote.test', ['alice@example.test'], MSG)
            except smtplib.SMTPDataError as e:
                return e.smtp_code, e.smtp_error
            except smtplib.SMTPRecipientsRefused as e:
                return e.recipients['alice@example.test']
        return 250, b''

    def assert_temporary_and_untouched(self):
        code, text = self.send()
        self.assertTrue(400 <= code < 500, (code, text))
        self.assertEqual(files_under(self.victim), [])
        # smtpd still works for everybody else.
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            s.sendmail('x@remote.test', ['bob@example.test'], MSG)
        self.assertEqual(len(self.pr.messages('bob@example.test')), 1)

    def test_symlinked_new(self):
        self.plant(os.path.join(self.pr.maildir('alice@example.test'), 'new'))
        self.assert_temporary_and_untouched()

    def test_symlinked_tmp(self):
        self.plant(os.path.join(self.pr.maildir('alice@example.test'), 'tmp'))
        self.assert_temporary_and_untouched()

    def test_symlinked_maildir(self):
        self.plant(self.pr.maildir('alice@example.test'))
        self.assert_temporary_and_untouched()


@needs(is_root(), 'deliver drops privileges only when run as root')
class DeliverAsRootCase(unittest.TestCase):
    """deliver run by root (an MTA's mailbox_command) acts as the mail user."""

    def setUp(self):
        self.pr = start_postroom(self, daemons=())

    def deliver(self, rcpt):
        return subprocess.run([os.path.join(self.pr.build, 'deliver'), '-c', self.pr.conf_file,
                               '-f', 'x@remote.test', '-d', rcpt], input=MSG,
                              capture_output=True)

    def test_files_belong_to_the_mail_user(self):
        p = self.deliver('alice@example.test')
        self.assertEqual(p.returncode, 0, p.stderr)
        new = os.path.join(self.pr.maildir('alice@example.test'), 'new')
        names = os.listdir(new)
        self.assertEqual(len(names), 1)
        uid = pwd.getpwnam(self.pr.user).pw_uid
        self.assertEqual(os.stat(os.path.join(new, names[0])).st_uid, uid)

    def test_symlinked_new_is_a_temporary_failure(self):
        victim = os.path.join(self.pr.dir, 'victim')
        os.mkdir(victim)    # root's: the dropped deliver could not write it anyway
        new = os.path.join(self.pr.maildir('alice@example.test'), 'new')
        shutil.rmtree(new)
        os.symlink(victim, new)
        p = self.deliver('alice@example.test')
        self.assertEqual(p.returncode, 75, p.stderr)     # EX_TEMPFAIL
        self.assertIn(b'symbolic link', p.stderr)
        self.assertEqual(os.listdir(victim), [])


if __name__ == '__main__':
    unittest.main()
