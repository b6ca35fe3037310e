"""smtpd end to end: the smtplib seed recipes on all three ports, swaks, group delivery.

Every delivery is checked byte for byte: what lands in new/ must be
"Return-Path: <sender>" + our Received: header + the message as sent with
CRLF turned into LF.  Hostile input and load live in test_smtpd_hostile.py
and test_smtpd_load.py.
"""

import os
import re
import smtplib
import socket
import subprocess
import unittest
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr

from harness import Postroom, have_tool, needs, start_postroom

ALICE = ('alice@example.test', 'alice-pw')
BOB = ('bob@example.test', 'bob-pw')
SUBJECT = '中文主题：测试邮件'
NAME = '张三'
FILENAME = '报告.pdf'

RECEIVED = re.compile(
    rb'Received: from [^\s()]+ \(\[127\.0\.0\.1\]\)\n'
    rb'(?:\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\n)?'
    rb'(?:\t\(authenticated user [a-z@.]+\)\n)?'
    rb'\tby mail\.example\.test \(Postroom\) with ((?:E|UTF8)?SMTP(?:S|A|SA)?) id ([0-9a-f]{16})'
    rb'(?:\n\tfor <[^>]+>)?; '
    rb'[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000\n')

# A 1x1 PNG for the inline cid: image.
PNG = bytes.fromhex('89504e470d0a1a0a0000000d4948445200000001000000010806000000'
                    '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082')


def seed_messages(sender, rcpt):
    """The seed message kinds, as (name, bytes with CRLF line ends)."""
    out = []

    m = MIMEText('Hello Alice,\nplain text.\n.\n..two dots\n', 'plain', 'utf-8')
    m['From'], m['To'], m['Subject'] = sender, rcpt, 'plain'
    out.append(('plain', m))

    m = MIMEText('<html><body><h1>Hi</h1><p>HTML body</p></body></html>', 'html', 'utf-8')
    m['From'], m['To'], m['Subject'] = sender, rcpt, 'html'
    out.append(('html', m))

    m = MIMEMultipart('alternative')
    m['From'], m['To'], m['Subject'] = sender, rcpt, 'alternative'
    m.attach(MIMEText('plain part', 'plain', 'utf-8'))
    m.attach(MIMEText('<p>html part</p>', 'html', 'utf-8'))
    out.append(('alternative', m))

    m = MIMEMultipart()
    m['From'], m['To'], m['Subject'] = sender, rcpt, 'attachment'
    m.attach(MIMEText('see attached', 'plain', 'utf-8'))
    part = MIMEApplication(bytes(range(256)) * 64)
    part.add_header('Content-Disposition', 'attachment', filename=('utf-8', '', FILENAME))
    m.attach(part)
    out.append(('attachment', m))

    m = MIMEMultipart('related')
    m['From'], m['To'], m['Subject'] = sender, rcpt, 'inline image'
    m.attach(MIMEText('<p><img src="cid:logo@example.test"></p>', 'html', 'utf-8'))
    img = MIMEImage(PNG, 'png')
    img.add_header('Content-ID', '<logo@example.test>')
    img.add_header('Content-Disposition', 'inline', filename='logo.png')
    m.attach(img)
    out.append(('inline', m))

    m = MIMEMultipart()
    m['From'] = formataddr((str(Header(NAME, 'utf-8')), sender))
    m['To'] = formataddr((str(Header('爱丽丝', 'utf-8')), rcpt))
    m['Subject'] = Header(SUBJECT, 'utf-8')
    m.attach(MIMEText('中文正文。\n', 'plain', 'utf-8'))
    part = MIMEApplication(b'%PDF-1.4 fake\n' * 100)
    part.add_header('Content-Disposition', 'attachment', filename=Header(FILENAME, 'utf-8').encode())
    m.attach(part)
    out.append(('chinese', m))
    # The seed recipe: sendmail(from, to, msg.as_string()).
    return [(name, msg.as_string()) for name, msg in out]


def stored_form(sender, raw):
    """What smtplib sends for raw, as it must land: CRLF -> LF, final line end added.
    raw: bytes (sent as they are) or str (smtplib turns every line end into CRLF)."""
    if isinstance(raw, str):
        raw = re.sub(r'(?:\r\n|\n|\r(?!\n))', '\r\n', raw).encode('ascii')
    if not raw.endswith(b'\r\n'):
        raw += b'\r\n'
    return raw.replace(b'\r\n', b'\n')


class SmtpdCase(unittest.TestCase):
    config = {}

    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd',), config=self.config)

    def port(self, kind):
        return self.pr.port('smtpd.%s_listen' % kind)

    def new_messages(self, addr, before):
        msgs = self.pr.messages(addr)
        return msgs[before:] if len(msgs) >= before else msgs

    def assert_stored(self, data, sender, original, proto=None):
        """data: the file in new/; original: the bytes the client sent."""
        prefix = b'Return-Path: <%s>\n' % sender.encode()
        self.assertTrue(data.startswith(prefix), data[:200])
        m = RECEIVED.match(data, len(prefix))
        self.assertIsNotNone(m, data[:400])
        if proto is not None:
            self.assertEqual(m.group(1).decode(), proto)
        self.assertEqual(data[m.end():], stored_form(sender, original))
        return m.group(2).decode()

    def wait_messages(self, addr, n):
        return Postroom.wait_for(lambda: len(self.pr.messages(addr)) >= n and
                                 self.pr.messages(addr))


class SeedRecipes(SmtpdCase):
    """The seed scenarios, unmodified smtplib usage, all three port styles."""

    def send_all(self, connect, sender, login, proto):
        msgs = seed_messages(sender, BOB[0])
        before = len(self.pr.messages(BOB[0]))
        with connect() as s:
            if login:
                s.login(*login)
            for name, raw in msgs:
                s.sendmail(sender, [BOB[0]], raw)
        got = self.wait_messages(BOB[0], before + len(msgs))[before:]
        self.assertEqual(len(got), len(msgs))
        # Files are named by time: same order as sent.
        by_subject = {}
        for data in got:
            for name, raw in msgs:
                if stored_form(sender, raw) in data:
                    by_subject[name] = data
        self.assertEqual(sorted(by_subject), sorted(n for n, _ in msgs))
        for name, raw in msgs:
            self.assert_stored(by_subject[name], sender, raw, proto)

    def test_mx_port_without_auth(self):
        self.send_all(lambda: smtplib.SMTP('127.0.0.1', self.port('mx')),
                      'someone@remote.test', None, 'ESMTP')

    def test_mx_port_with_login(self):
        # The seed recipe SMTP(host, 25) + login(): plaintext AUTH on loopback.
        self.send_all(lambda: smtplib.SMTP('127.0.0.1', self.port('mx')),
                      ALICE[0], ALICE, 'ESMTPA')

    def test_submission_starttls_login(self):
        def connect():
            s = smtplib.SMTP('127.0.0.1', self.port('submission'))
            s.starttls(context=Postroom.ssl_context())
            return s
        self.send_all(connect, ALICE[0], ALICE, 'ESMTPSA')

    def test_submissions_implicit_tls(self):
        self.send_all(lambda: smtplib.SMTP_SSL('127.0.0.1', self.port('submissions'),
                                               context=Postroom.ssl_context()),
                      ALICE[0], ALICE, 'ESMTPSA')

    def test_send_message_and_received_details(self):
        msg = MIMEText('x', 'plain', 'utf-8')
        msg['From'], msg['To'], msg['Subject'] = ALICE[0], BOB[0], Header(SUBJECT, 'utf-8')
        with smtplib.SMTP_SSL('127.0.0.1', self.port('submissions'),
                              context=Postroom.ssl_context()) as s:
            s.login(*ALICE)
            s.send_message(msg)
        data = self.wait_messages(BOB[0], 1)[0]
        self.assertIn(b'\t(authenticated user alice@example.test)\n', data)
        self.assertIn(b'\n\tfor <bob@example.test>; ', data)
        self.assertIn(b'Subject: =?utf-8?', data)

    def test_submission_requires_auth(self):
        with smtplib.SMTP('127.0.0.1', self.port('submission')) as s:
            s.starttls(context=Postroom.ssl_context())
            s.ehlo()
            code, text = s.mail(ALICE[0])
            self.assertEqual((code, text), (530, b'5.7.0 Authentication required'))
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login(ALICE[0], 'wrong')
            self.assertEqual(cm.exception.smtp_code, 535)
            s.login(*ALICE)
            self.assertEqual(s.mail(ALICE[0])[0], 250)

    def test_mail_and_rcpt_options(self):
        """8BITMIME, SIZE, SMTPUTF8 and the DSN parameters are accepted and kept."""
        body = 'Subject: 8bit\r\n\r\nGrüße, 你好\r\n'.encode()
        with smtplib.SMTP('127.0.0.1', self.port('mx')) as s:
            s.ehlo()
            self.assertTrue(s.has_extn('auth'))
            s.login(*ALICE)
            s.ehlo()
            self.assertFalse(s.has_extn("auth"))  # not again once authenticated
            for ext in ('pipelining', 'size', '8bitmime', 'enhancedstatuscodes', 'dsn',
                        'smtputf8', 'chunking'):
                self.assertTrue(s.has_extn(ext), ext)
            s.sendmail(ALICE[0], [BOB[0], 'far@remote.test'], body,
                       mail_options=['BODY=8BITMIME', 'SIZE=%d' % len(body), 'RET=HDRS',
                                     'ENVID=env+2B1', 'SMTPUTF8'],
                       rcpt_options=['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;x@remote.test'])
        data = self.wait_messages(BOB[0], 1)[0]
        self.assert_stored(data, ALICE[0], body, 'UTF8SMTPA')
        # The remote recipient went to the queue with its DSN parameters.
        active = os.path.join(self.pr.queue_dir, 'active')
        files = os.listdir(active)
        self.assertEqual(len(files), 1)
        with open(os.path.join(active, files[0]), 'rb') as f:
            q = f.read()
        for needle in (b'far@remote.test\x006\x00rfc822;x@remote.test', b'env+2B1', b'HDRS',
                       'Grüße'.encode()):
            self.assertIn(needle, q)
        with smtplib.SMTP('127.0.0.1', self.port('mx')) as s:
            s.ehlo()
            code, _ = s.mail('a@remote.test', ['SIZE=%d' % (36 * 1024 * 1024)])
            self.assertEqual(code, 552)


class Groups(SmtpdCase):
    def test_nested_overlapping_groups_once_per_member(self):
        self.pr.add_user('carol@example.test', 'carol-pw')
        self.pr.add_group('staff@example.test', ['bob@example.test', 'carol@example.test'])
        self.pr.add_group('team@example.test', ['alice@example.test', 'staff@example.test',
                                                'bob@example.test'])
        self.pr.add_alias('boss@example.test', ['alice@example.test'])
        self.pr.reload()
        raw = b'Subject: to the team\r\n\r\nhello team\r\n'

        def send():
            with smtplib.SMTP('127.0.0.1', self.port('mx')) as s:
                s.sendmail('x@remote.test', ['team@example.test', 'staff@example.test',
                                             'boss@example.test', 'alice+tag@example.test'], raw)
        Postroom.wait_for(lambda: self._try(send), timeout=5)
        for who in ('alice', 'bob', 'carol'):
            msgs = self.wait_messages('%s@example.test' % who, 1)
            self.assertEqual(len(msgs), 1, who)
            self.assert_stored(msgs[0], 'x@remote.test', raw)
        # One store delivery: the three files are hard links of one inode.
        inodes = set()
        for who in ('alice', 'bob', 'carol'):
            d = os.path.join(self.pr.maildir('%s@example.test' % who), 'new')
            inodes.add(os.stat(os.path.join(d, os.listdir(d)[0])).st_ino)
        self.assertEqual(len(inodes), 1)

    @staticmethod
    def _try(fn):
        # The reload is asynchronous: retry until the groups are known.
        try:
            fn()
            return True
        except smtplib.SMTPRecipientsRefused:
            return False


@needs(have_tool('swaks'), 'swaks not installed')
class Swaks(SmtpdCase):
    def swaks(self, *args):
        p = subprocess.run(['swaks', '--server', '127.0.0.1', '--hide-all', '--timeout', '10']
                           + list(args), capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def check_one(self, addr, sender, raw_body):
        data = self.wait_messages(addr, 1)[-1]
        prefix = b'Return-Path: <%s>\n' % sender.encode()
        m = RECEIVED.match(data, len(prefix))
        self.assertIsNotNone(m, data[:300])
        return data[m.end():]

    def test_pipeline(self):
        # swaks adds the CRLF before the final dot itself.
        data = 'Subject: swaks pipelined\r\n\r\nline\r\n.dot'
        self.swaks('--port', str(self.port('mx')), '--pipeline', '--from', 'x@remote.test',
                   '--to', ALICE[0], '--data', data)
        self.assertEqual(self.check_one(ALICE[0], 'x@remote.test', data),
                         data.encode().replace(b'\r\n', b'\n') + b'\n')

    def test_auth_plain_starttls_8bit(self):
        data = 'Subject: swaks plain\r\n\r\nGrüße'
        self.swaks('--port', str(self.port('submission')), '--tls', '--auth', 'PLAIN',
                   '--auth-user', ALICE[0], '--auth-password', ALICE[1],
                   '--from', ALICE[0], '--to', BOB[0], '--data', data)
        self.assertEqual(self.check_one(BOB[0], ALICE[0], data),
                         data.encode().replace(b'\r\n', b'\n') + b'\n')

    def test_auth_login_implicit_tls(self):
        data = 'Subject: swaks login\r\n\r\nbody'
        self.swaks('--port', str(self.port('submissions')), '--tls-on-connect', '--auth', 'LOGIN',
                   '--auth-user', BOB[0], '--auth-password', BOB[1],
                   '--from', BOB[0], '--to', ALICE[0], '--data', data)
        self.assertEqual(self.check_one(ALICE[0], BOB[0], data),
                         data.encode().replace(b'\r\n', b'\n') + b'\n')

    def test_wrong_password_fails(self):
        p = subprocess.run(['swaks', '--server', '127.0.0.1', '--port', str(self.port('mx')),
                            '--auth', 'PLAIN', '--auth-user', ALICE[0], '--auth-password', 'x',
                            '--to', BOB[0]], capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'535 5.7.8', p.stdout)


class Bdat(SmtpdCase):
    """CHUNKING over a raw socket (swaks 2020 has no BDAT), pipelined."""

    def test_bdat_chunks(self):
        chunks = [b'Subject: bdat\r\n\r\nfirst\r', b'\nsecond\r\n', b'.third\r\n']
        with socket.create_connection(('127.0.0.1', self.port('mx'))) as c:
            f = c.makefile('rb')
            self.assertTrue(f.readline().startswith(b'220 '))
            out = b'EHLO a\r\nMAIL FROM:<x@remote.test> BODY=8BITMIME\r\nRCPT TO:<alice@example.test>\r\n'
            for i, ch in enumerate(chunks):
                out += b'BDAT %d%s\r\n' % (len(ch), b' LAST' if i == len(chunks) - 1 else b'')
                out += ch
            out += b'QUIT\r\n'
            c.sendall(out)
            replies = f.read()
        self.assertIn(b'250 2.0.0 Ok: 23 octets received\r\n', replies)
        self.assertIn(b'250 2.0.0 Ok: queued as ', replies)
        self.assertTrue(replies.endswith(b'221 2.0.0 Bye\r\n'))
        data = self.wait_messages(ALICE[0], 1)[0]
        m = RECEIVED.match(data, len(b'Return-Path: <x@remote.test>\n'))
        self.assertEqual(data[m.end():], b''.join(chunks).replace(b'\r\n', b'\n'))


if __name__ == '__main__':
    unittest.main()
