"""Store failures reach the client by their typed code (issue 14 item 2).

smtpd answers a delivery over the recipient's quota with 452 4.2.2 (mailbox
full, RFC 3463) and anything else the store refuses with 451 4.3.0.
(pop3d's [IN-USE] reply is pinned by test_pop3d.py.)
"""

import smtplib
import unittest

from harness import Postroom

MSG = b'Subject: hi\r\n\r\nhello\r\n'


class StoreErrorsCase(unittest.TestCase):
    def test_smtp_over_quota_is_452_mailbox_full(self):
        with Postroom(daemons=()) as pr:
            pr.mailctl('adduser', 'q@example.test', '--password-stdin',
                       '--quota-messages', '1', input='pw\n')
            pr.start('smtpd')
            with smtplib.SMTP('127.0.0.1', pr.port('smtpd.mx_listen'), timeout=10) as s:
                s.sendmail('x@remote.test', ['q@example.test'], MSG)
                with self.assertRaises(smtplib.SMTPDataError) as cm:
                    s.sendmail('x@remote.test', ['q@example.test'], MSG)
                self.assertEqual(cm.exception.smtp_code, 452)
                self.assertTrue(cm.exception.smtp_error.startswith(b'4.2.2'),
                                cm.exception.smtp_error)
                # The session goes on: another recipient still gets mail.
                s.sendmail('x@remote.test', ['alice@example.test'], MSG)
            self.assertEqual(len(pr.messages('q@example.test')), 1)
            self.assertEqual(len(pr.messages('alice@example.test')), 1)


if __name__ == '__main__':
    unittest.main()
