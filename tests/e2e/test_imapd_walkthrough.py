"""The issue's imaplib scenario in one piece, on 143+STARTTLS and on 993,
and the pop3d/imapd cross checks (issue 15, Acceptance).

Mail comes through smtpd (a Chinese subject, sender name and attachment
file name).  Scenario: login, select('INBOX'), search ALL and UNSEEN,
headers only (BODY.PEEK[HEADER]) with the RFC 2047 subject decoded,
(RFC822), both ways of moving to Trash (COPY + \\Deleted + EXPUNGE, and
MOVE), and a second client kept in sync (it sees the EXPUNGEs at NOOP).
Cross: what pop3d's RETR gives is what imapd's RFC822 gives; a message
deleted in one is gone in the other; one APPENDed in IMAP is retrieved in
POP3.  About 5 s.
"""

import email
import email.policy
import imaplib
import poplib
import re
import unittest

from harness import Postroom, have_built, require
from test_imapd import ALICE, SUBJECT, decode, quietly_shut, sample_messages


class Scenario(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(have_built('smtpd', 'imapd', 'pop3d'), 'smtpd, imapd and pop3d not built')

    def setUp(self):
        self.pr = Postroom(daemons=('smtpd', 'imapd', 'pop3d'))
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)

    def deliver(self, copies=1):
        import smtplib
        msgs = sample_messages() * copies
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            for m in msgs:
                s.sendmail('sender@remote.test', [ALICE[0]], m)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == len(msgs))
        return msgs

    def client(self, tls):
        if tls:
            c = imaplib.IMAP4_SSL('127.0.0.1', self.pr.port('imapd.tls_listen'),
                                  ssl_context=self.pr.ssl_context(), timeout=10)
        else:
            c = imaplib.IMAP4('127.0.0.1', self.pr.port('imapd.listen'), timeout=10)
            c.starttls(ssl_context=self.pr.ssl_context())
        self.addCleanup(quietly_shut, c)
        self.assertEqual(c.login(*ALICE)[0], 'OK')
        return c

    def pop3(self):
        p = poplib.POP3('127.0.0.1', self.pr.port('pop3d.listen'), timeout=10)
        p.user(ALICE[0])
        p.pass_(ALICE[1])
        return p

    def scenario(self, tls):
        self.deliver(copies=2)          # 4 messages: 1 and 3 Chinese, 2 and 4 plain
        c, other = self.client(tls), self.client(tls)
        self.assertEqual(c.select('INBOX'), ('OK', [b'4']))
        self.assertEqual(other.select('INBOX'), ('OK', [b'4']))
        self.assertEqual(c.search(None, 'ALL'), ('OK', [b'1 2 3 4']))
        self.assertEqual(c.search(None, 'UNSEEN'), ('OK', [b'1 2 3 4']))
        typ, data = c.fetch('1:*', '(BODY.PEEK[HEADER])')
        self.assertEqual(typ, 'OK')
        headers = [email.message_from_bytes(d[1]) for d in data if isinstance(d, tuple)]
        self.assertEqual([decode(h['Subject'].encode()) for h in headers],
                         [SUBJECT, 'plain', SUBJECT, 'plain'])
        self.assertEqual(decode(headers[0]['From'].encode()), '张三 <sender@remote.test>')
        self.assertEqual(c.search(None, 'UNSEEN'), ('OK', [b'1 2 3 4']))     # PEEK
        typ, data = c.fetch('1', '(RFC822)')
        msg = email.message_from_bytes(data[0][1], policy=email.policy.default)
        self.assertEqual(msg['Subject'], SUBJECT)
        self.assertEqual([p.get_filename() for p in msg.iter_attachments()], ['附件.bin'])
        self.assertEqual(c.search(None, 'UNSEEN'), ('OK', [b'2 3 4']))       # RFC822 sets \Seen
        # The old way: COPY, \Deleted, EXPUNGE.
        self.assertEqual(c.copy('1', 'Trash')[0], 'OK')
        self.assertEqual(c.store('1', '+FLAGS', '(\\Deleted)')[0], 'OK')
        self.assertEqual(c.expunge(), ('OK', [b'1']))
        # MOVE (RFC 6851): the plain message now numbered 2.
        typ, data = c._simple_command('MOVE', '2', 'Trash')
        self.assertEqual(typ, 'OK')
        self.assertEqual(c.untagged_responses.pop('EXPUNGE'), [b'2'])
        self.assertEqual(c.search(None, 'ALL'), ('OK', [b'1 2']))
        # The other client hears of both at NOOP, numbered as it counts.
        other.noop()
        self.assertEqual(other.untagged_responses.pop('EXPUNGE'), [b'1', b'2'])
        self.assertEqual(other.fetch('1:*', '(UID)')[1], [b'1 (UID 2)', b'2 (UID 4)'])
        t = self.client(tls)
        self.assertEqual(t.select('Trash'), ('OK', [b'2']))
        typ, data = t.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
        self.assertEqual([decode(email.message_from_bytes(d[1])['Subject'].encode())
                          for d in data if isinstance(d, tuple)], [SUBJECT, SUBJECT])
        for s in (c, other, t):
            self.assertEqual(s.logout()[0], 'BYE')

    def test_starttls_143(self):
        self.scenario(tls=False)

    def test_imaps_993(self):
        self.scenario(tls=True)

    def test_cross_pop3d_imapd(self):
        self.deliver()
        c = self.client(True)
        c.select('INBOX')
        p = self.pop3()
        for n in (1, 2):
            popped = b'\r\n'.join(p.retr(n)[1]) + b'\r\n'
            typ, data = c.fetch(str(n), '(BODY.PEEK[])')
            self.assertEqual(popped, data[0][1], 'message %d' % n)
        # Deleted in POP3: gone in IMAP.
        p.dele(1)
        p.quit()
        c.noop()
        self.assertEqual(c.untagged_responses.pop('EXPUNGE', None), [b'1'])
        self.assertEqual(c.search(None, 'ALL'), ('OK', [b'1']))
        # Expunged in IMAP: gone in POP3; APPENDed in IMAP: retrieved in POP3.
        c.store('1', '+FLAGS', '(\\Deleted)')
        c.expunge()
        appended = ('From: a@example.test\r\nSubject: =?UTF-8?B?%s?=\r\n\r\n追加\r\n'
                    % 'IOS4reWKoA==').encode()
        typ, data = c.append('INBOX', None, None, appended)
        self.assertEqual(typ, 'OK')
        self.assertRegex(data[0], rb'^\[APPENDUID \d+ 3\]')
        p = self.pop3()
        self.assertEqual(p.stat()[0], 1)
        self.assertEqual(b'\r\n'.join(p.retr(1)[1]) + b'\r\n', appended)
        self.assertRegex(p.uidl(1), rb'^\+OK 1 \S+')
        p.quit()
        self.assertEqual(c.logout()[0], 'BYE')


if __name__ == '__main__':
    unittest.main()
