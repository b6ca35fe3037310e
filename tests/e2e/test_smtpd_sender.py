"""smtpd's sender policy (issue 19 item 2): a logged-in user sends only as their own
addresses, in MAIL FROM (553 5.7.1) and in the From: header (550 5.7.1 at the end of
the message), on submission (STARTTLS), submissions and AUTH on the MX port; and
`mailctl sender` edits the per-user senders list the policy reads."""

import base64
import poplib
import smtplib
import unittest

from harness import Postroom, start_postroom

ALICE = ('alice@example.test', 'alice-pw')
BOB = ('bob@example.test', 'bob-pw')

REJECTED = ('bob@example.test', 'someone@gmail.com', 'postmaster@example.test', '',
            'bob+alice@example.test', 'nobody@example.test')
ACCEPTED = ('alice@example.test', 'Alice+news@Example.TEST', 'sales@example.test',
            'team@example.test', 'alice@gmail.com')


def message(sender_header, subject):
    return ('From: %s\r\nTo: bob@example.test\r\nSubject: %s\r\n\r\nhello\r\n'
            % (sender_header, subject)).encode()


class SenderCase(unittest.TestCase):
    config = {}

    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd',), config=self.config)
        self.pr.add_group('team@example.test', ['alice@example.test', 'bob@example.test'])
        self.pr.add_alias('sales@example.test', ['alice@example.test'])
        self.pr.add_alias('postmaster@example.test', ['bob@example.test'])
        self.pr.mailctl('sender', 'add', 'alice@example.test', 'Alice@Gmail.com')
        # mailctl signalled the daemon; wait until it has the new directory.
        Postroom.wait_for(lambda: self.mail_reply(self.submissions, 'alice@gmail.com')[0]
                          == 250)

    def port(self, kind):
        return self.pr.port('smtpd.%s_listen' % kind)

    def submission(self):
        s = smtplib.SMTP('127.0.0.1', self.port('submission'), timeout=15)
        s.starttls(context=Postroom.ssl_context())
        s.login(*ALICE)
        return s

    def submissions(self):
        s = smtplib.SMTP_SSL('127.0.0.1', self.port('submissions'),
                             context=Postroom.ssl_context(), timeout=15)
        s.login(*ALICE)
        return s

    def mx_login(self):
        s = smtplib.SMTP('127.0.0.1', self.port('mx'), timeout=15)
        s.login(*ALICE)
        return s

    def mail_reply(self, connect, sender):
        with connect() as s:
            return s.mail(sender)

    def send(self, connect, envelope, header, subject):
        with connect() as s:
            s.sendmail(envelope, [BOB[0]], message(header, subject))

    def delivered(self, subject):
        return [m for m in self.pr.messages(BOB[0]) if b'Subject: %s\n' % subject.encode() in m]


class TestSenderPolicy(SenderCase):
    def test_envelope_not_owned_is_553(self):
        for connect in (self.submission, self.submissions, self.mx_login):
            with connect() as s:    # one login per port: a refused MAIL leaves no state
                replies = [(sender, s.mail(sender)) for sender in REJECTED]
            for sender, (code, text) in replies:
                self.assertEqual(code, 553, (connect.__name__, sender, text))
                self.assertEqual(text.decode(), '5.7.1 <%s>: Sender address rejected: not '
                                 'owned by user alice@example.test' % sender)

    def test_owned_addresses_are_delivered(self):
        for i, sender in enumerate(ACCEPTED):
            subject = 'owned %d' % i
            self.send(self.submission, sender, '"Alice" <%s>' % sender, subject)
            got = Postroom.wait_for(lambda: self.delivered(subject))
            self.assertTrue(got[0].startswith(b'Return-Path: <%s>\n' % sender.encode()))

    def test_from_header_not_owned_is_550(self):
        for header in ('bob@example.test', 'Bob <bob@example.test>',
                       'Alice <alice@example.test>, bob@example.test',
                       '"alice@example.test" <someone@gmail.com>',
                       'alice@example.test <bob@example.test>', 'bob'):
            with self.submissions() as s:
                with self.assertRaises(smtplib.SMTPDataError) as cm:
                    s.sendmail(ALICE[0], [BOB[0]], message(header, 'forged'))
                self.assertEqual(cm.exception.smtp_code, 550, header)
                self.assertIn(b'5.7.1', cm.exception.smtp_error)
                # The session goes on: the next message with a true From: is taken.
                s.sendmail(ALICE[0], [BOB[0]], message(ALICE[0], 'true after forged'))
        self.assertEqual(self.delivered('forged'), [])
        Postroom.wait_for(lambda: len(self.delivered('true after forged')) == 6)

    def test_unauthenticated_mx_not_concerned(self):
        with smtplib.SMTP('127.0.0.1', self.port('mx'), timeout=15) as s:
            s.sendmail('someone@remote.test', [BOB[0]], message('x@remote.test', 'from mx'))
        Postroom.wait_for(lambda: self.delivered('from mx'))

    def test_mailctl_sender(self):
        out = self.pr.mailctl('sender', 'list').stdout
        self.assertEqual(out, 'alice@example.test: alice@gmail.com\n')
        self.pr.mailctl('sender', 'add', 'alice@example.test', 'boss@example.test')
        self.assertEqual(self.pr.mailctl('sender', 'list', 'alice@example.test').stdout,
                         'alice@gmail.com\nboss@example.test\n')
        Postroom.wait_for(lambda: self.mail_reply(self.submission, 'boss@example.test')[0]
                          == 250)
        self.pr.mailctl('sender', 'del', 'alice@example.test', 'alice@gmail.com')
        Postroom.wait_for(lambda: self.mail_reply(self.submission, 'alice@gmail.com')[0]
                          == 553)
        p = self.pr.mailctl('sender', 'add', 'ghost@example.test', 'x@y.test', check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('no such user', p.stderr)
        p = self.pr.mailctl('deluser', 'alice@example.test', check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.pr.mailctl('sender', 'del', 'alice@example.test')
        self.assertEqual(self.pr.mailctl('sender', 'list').stdout, '')
        self.assertIn('sender add', self.pr.mailctl('help').stdout)


class TestSenderPolicyOff(SenderCase):
    config = {'smtpd.sender_login_match': 'no'}

    def test_old_behaviour(self):
        for connect in (self.submission, self.mx_login):
            self.assertEqual(self.mail_reply(connect, 'bob@example.test')[0], 250)
        self.send(self.submissions, 'bob@example.test', 'bob@example.test', 'off')
        Postroom.wait_for(lambda: self.delivered('off'))


class TestNullSenderAllowed(SenderCase):
    config = {'smtpd.sender_allow_null': 'yes'}

    def test_null_sender(self):
        self.assertEqual(self.mail_reply(self.submission, '')[0], 250)
        self.assertEqual(self.mail_reply(self.submission, 'bob@example.test')[0], 553)


def plain(authzid, user=ALICE[0], pw=ALICE[1]):
    return base64.b64encode(b'%s\0%s\0%s' % (authzid.encode(), user.encode(),
                                              pw.encode())).decode()


class TestAuthzidAndEnvid(unittest.TestCase):
    """Issue 19 item 13, end to end: smtpd and pop3d answer an authorization identity
    that is not the login with an authorization error (and take one that differs
    only in case); an ENVID or ORCPT that decodes to CR LF is refused, not stored."""

    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd', 'pop3d'))

    def test_smtp_authzid(self):
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=15) as s:
            s.ehlo()
            code, text = s.docmd('AUTH', 'PLAIN ' + plain('bob@example.test'))
            self.assertEqual((code, text), (535, b'5.7.8 Error: authorization identity must '
                                            b'match the login'))
            code, _ = s.docmd('AUTH', 'PLAIN ' + plain('ALICE@Example.TEST'))
            self.assertEqual(code, 235)

    def test_pop3_authzid(self):
        p = poplib.POP3('127.0.0.1', self.pr.port('pop3d.listen'), timeout=15)
        try:
            p._putcmd('AUTH PLAIN ' + plain('bob@example.test'))
            with self.assertRaises(poplib.error_proto) as cm:
                p._getresp()
            self.assertEqual(cm.exception.args[0],
                             b'-ERR [AUTH] Authorization identity must match the login.')
            self.assertTrue(p._shortcmd('AUTH PLAIN ' + plain('Alice@EXAMPLE.test'))
                            .startswith(b'+OK'))
        finally:
            p.quit()

    def test_envid_orcpt_crlf_refused(self):
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=15) as s:
            s.ehlo()
            code, text = s.mail('x@remote.test', ['ENVID=a+0D+0ABcc:+20evil@x.test'])
            self.assertEqual((code, text), (501, b'5.5.4 Bad ENVID parameter syntax'))
            self.assertEqual(s.mail('x@remote.test', ['ENVID=fine+2B1'])[0], 250)
            code, text = s.rcpt(ALICE[0], ['NOTIFY=FAILURE', 'ORCPT=rfc822;a+0D+0Ab@x.test'])
            self.assertEqual((code, text), (501, b'5.5.4 Bad ORCPT parameter syntax'))
            self.assertEqual(s.rcpt(ALICE[0], ['ORCPT=rfc822;' + ALICE[0]])[0], 250)
            s.data(b'Subject: envid\r\n\r\nx\r\n')
        Postroom.wait_for(lambda: self.pr.messages(ALICE[0]))


if __name__ == '__main__':
    unittest.main()
