"""No password in the logs (issue 17 point 5), and every line in the one vocabulary.

Good and bad logins, with a password and with its base64 (SASL PLAIN), through smtpd
(submission, STARTTLS + AUTH), pop3d (USER/PASS and AUTH PLAIN) and imapd (LOGIN and
AUTHENTICATE PLAIN), at log_level debug; then no daemon log holds either password, plain or
base64, and every line has an event= (docs/LOGS.md lists them; tools/logs.sh checks the
source).  About 3 s.
"""

import base64
import imaplib
import poplib
import re
import smtplib
import unittest

from harness import Postroom, have_built, require

USER = 'alice@example.test'
GOOD = 'alice-pw'
BAD = 'Wrong-Secret-4711'
LINE = r'^[a-z0-9]+\[\d+\]: [a-z]+: (session=[0-9a-f]{16} )?event=[a-z_]+'


def plain(password):
    return base64.b64encode(('\0%s\0%s' % (USER, password)).encode()).decode()


class NoPasswords(unittest.TestCase):
    def setUp(self):
        require(have_built('smtpd', 'pop3d', 'imapd'), 'daemons not built')

    def test_no_password_logged(self):
        with Postroom(daemons=('smtpd', 'pop3d', 'imapd')) as pr:
            for password in (GOOD, BAD):
                with smtplib.SMTP('127.0.0.1', pr.port('smtpd.submission_listen')) as s:
                    s.starttls(context=Postroom.ssl_context())
                    s.ehlo('client.example.test')
                    code, _ = s.docmd('AUTH', 'PLAIN ' + plain(password))
                    self.assertEqual(code, 235 if password == GOOD else 535)
                p = poplib.POP3('127.0.0.1', pr.port('pop3d.listen'))
                p.user(USER)
                try:
                    p.pass_(password)
                except poplib.error_proto:
                    self.assertEqual(password, BAD)
                p.quit()
                p = poplib.POP3('127.0.0.1', pr.port('pop3d.listen'))
                if password == GOOD:
                    self.assertTrue(p._shortcmd('AUTH PLAIN ' + plain(password))
                                    .startswith(b'+OK'))
                else:
                    self.assertRaises(poplib.error_proto, p._shortcmd,
                                      'AUTH PLAIN ' + plain(password))
                p.quit()
                for how in ('login', 'authenticate'):
                    m = imaplib.IMAP4('127.0.0.1', pr.port('imapd.listen'))
                    try:
                        if how == 'login':
                            m.login(USER, password)
                        else:
                            m.authenticate('PLAIN', lambda _: ('\0%s\0%s' % (USER, password)))
                        self.assertEqual(password, GOOD)
                    except imaplib.IMAP4.error:
                        self.assertEqual(password, BAD)
                    m.logout()
            for name in ('smtpd', 'pop3d', 'imapd'):
                pr.stop(name)
                text = pr.log(name)
                self.assertIn('event=auth', text, name)
                for secret in (GOOD, BAD, plain(GOOD), plain(BAD)):
                    self.assertNotIn(secret, text, '%s logged a password' % name)
                for line in text.splitlines():
                    self.assertRegex(line, LINE, '%s: %r' % (name, line))


if __name__ == '__main__':
    unittest.main()
