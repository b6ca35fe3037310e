"""imapd end to end: Python's imaplib on 143+STARTTLS and 993, the state
rules, logins before TLS, the failed-login delay and hostile input.

Mail is delivered through smtpd (Chinese subject and names, an attachment).
"""

import email.policy
import imaplib
import re
import socket
import ssl
import time
import unittest
from email.header import decode_header, make_header
from email.message import EmailMessage

from harness import Postroom, have_built, require

ALICE = ('alice@example.test', 'alice-pw')
SUBJECT = '中文主题：测试邮件'


def sample_messages():
    m = EmailMessage()
    m['From'] = '张三 <sender@remote.test>'
    m['To'] = ALICE[0]
    m['Subject'] = SUBJECT
    m.set_content('你好，世界。\n')
    m.add_attachment(bytes(range(256)) * 40, maintype='application',
                     subtype='octet-stream', filename='附件.bin')
    second = b'From: a@remote.test\r\nTo: alice@example.test\r\nSubject: plain\r\n\r\nhi\r\n'
    return [m.as_bytes(policy=email.policy.SMTP), second]


def quietly_shut(c):
    try:
        c.shutdown()
    except OSError:
        pass        # LOGOUT closed it already


def decode(value):
    return str(make_header(decode_header(value.decode())))


class ImapCase(unittest.TestCase):
    daemons = ('smtpd', 'imapd')
    config = None

    @classmethod
    def setUpClass(cls):
        require(have_built('smtpd', 'imapd'), 'smtpd and imapd not built')

    def setUp(self):
        self.pr = Postroom(daemons=self.daemons, config=self.config)
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)

    def deliver_samples(self):
        import smtplib
        msgs = sample_messages()
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            for m in msgs:
                s.sendmail('sender@remote.test', [ALICE[0]], m)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == len(msgs))
        return msgs

    def imap(self):
        c = imaplib.IMAP4('127.0.0.1', self.pr.port('imapd.listen'), timeout=10)
        self.addCleanup(quietly_shut, c)
        return c

    def imaps(self):
        c = imaplib.IMAP4_SSL('127.0.0.1', self.pr.port('imapd.tls_listen'),
                              ssl_context=self.pr.ssl_context(), timeout=10)
        self.addCleanup(quietly_shut, c)
        return c

    def raw(self):
        s = socket.create_connection(('127.0.0.1', self.pr.port('imapd.listen')), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile('rb')
        self.assertTrue(f.readline().startswith(b'* OK [CAPABILITY IMAP4rev1'))
        return s, f

    @staticmethod
    def until_tagged(f, tag):
        """Lines up to and including the one tagged tag."""
        lines = []
        while True:
            line = f.readline()
            if not line:
                return lines
            lines.append(line)
            if line.startswith(tag + b' '):
                return lines


class ImaplibScenario(ImapCase):
    def check_mailbox(self, c, sizes):
        typ, data = c.select('INBOX')
        self.assertEqual((typ, data), ('OK', [str(len(sizes)).encode()]))
        self.assertIn('READ-WRITE', c.untagged_responses)
        self.assertTrue(c.untagged_responses['UIDVALIDITY'][0].isdigit())
        typ, data = c.fetch('1:*', '(FLAGS UID RFC822.SIZE ENVELOPE)')
        self.assertEqual(typ, 'OK')
        lines = [d[0] + d[1] + (d[2] if len(d) > 2 else b'') if isinstance(d, tuple) else d
                 for d in data if d != b')']
        self.assertEqual(len(data), len(sizes), data)
        got = [int(re.search(rb'RFC822\.SIZE (\d+)', line).group(1)) for line in lines]
        self.assertEqual(got, sizes)
        self.assertIn(b'FLAGS (\\Recent)', lines[0])
        env = re.search(rb'ENVELOPE \((?:NIL|"[^"]*") "([^"]*)" \(\("([^"]*)"', lines[0])
        self.assertEqual(decode(env.group(1)), SUBJECT)
        self.assertEqual(decode(env.group(2)), '张三')
        typ, data = c.uid('FETCH', '1:*', '(INTERNALDATE BODYSTRUCTURE)')
        self.assertEqual(typ, 'OK')
        self.assertIn(b'("application" "octet-stream" ', data[0].lower())
        self.assertIn(b'INTERNALDATE "', data[1])
        self.assertEqual(c.close(), ('OK', [b'Close completed.']))
        self.assertEqual(c.logout()[0], 'BYE')

    def sizes(self):
        return [len(m.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n'))
                for m in self.pr.messages(ALICE[0])]

    def test_starttls_login_select_fetch(self):
        self.deliver_samples()
        c = self.imap()
        self.assertIn('STARTTLS', c.capabilities)
        c.starttls(ssl_context=self.pr.ssl_context())
        self.assertNotIn('STARTTLS', c.capabilities)
        self.assertIn('AUTH=PLAIN', c.capabilities)
        self.assertEqual(c.login(*ALICE)[0], 'OK')
        self.check_mailbox(c, self.sizes())

    def test_imaps_authenticate_plain(self):
        self.deliver_samples()
        c = self.imaps()
        typ, _ = c.authenticate('PLAIN', lambda _: ('\0%s\0%s' % ALICE).encode())
        self.assertEqual(typ, 'OK')
        self.check_mailbox(c, self.sizes())

    def test_examine_is_read_only_and_empty_folder(self):
        c = self.imaps()
        c.login(*ALICE)
        typ, data = c.select('Trash', readonly=True)
        self.assertEqual((typ, data), ('OK', [b'0']))
        self.assertIn('READ-ONLY', c.untagged_responses)
        with self.assertRaisesRegex(imaplib.IMAP4.error, 'BAD'):
            c.fetch('1', '(FLAGS)')                         # no message 1
        self.assertEqual(c.fetch('1:*', '(FLAGS)'), ('OK', [None]))  # `*` is no message
        self.assertEqual(c.uid('FETCH', '1:*', '(FLAGS)'), ('OK', [None]))
        self.assertEqual(c.select('NoSuchFolder')[0], 'NO')
        self.assertEqual(c.noop()[0], 'OK')

    def test_noop_sees_a_delivery(self):
        import smtplib
        self.deliver_samples()
        c = self.imaps()
        c.login(*ALICE)
        self.assertEqual(c.select('INBOX'), ('OK', [b'2']))
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            s.sendmail('sender@remote.test', [ALICE[0]], sample_messages()[1])
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == 3)
        self.assertEqual(c.noop()[0], 'OK')
        self.assertEqual(c.response('EXISTS')[1][-1], b'3')   # after SELECT's 2
        typ, data = c.fetch('3', '(UID RFC822.SIZE)')
        self.assertEqual(typ, 'OK')
        self.assertTrue(data[0].startswith(b'3 (UID 3 RFC822.SIZE '), data)

    def test_id_namespace_enable(self):
        c = self.imaps()
        c.login(*ALICE)
        typ, data = c.xatom('ID', '("name" "imaplib")')
        self.assertEqual(typ, 'OK')
        self.assertEqual(c.untagged_responses.pop('ID'), [b'("name" "Postroom")'])
        self.assertEqual(c.namespace(), ('OK', [b'(("" ".")) NIL NIL']))
        self.assertEqual(c.enable('CONDSTORE')[0], 'OK')


class Help(unittest.TestCase):
    def test_help_lists_the_listeners(self):
        import os
        import subprocess
        from harness import build_dir
        require(have_built('imapd'), 'imapd not built')
        p = subprocess.run([os.path.join(build_dir(), 'imapd'), '-h'], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn('imapd.listen = 0.0.0.0:143', p.stderr)
        self.assertIn('imapd.tls_listen = 0.0.0.0:993 (implicit TLS)', p.stderr)


class Raw(ImapCase):
    def send(self, s, f, tag, line):
        s.sendall(line)
        return self.until_tagged(f, tag)

    def test_wrong_state(self):
        s, f = self.raw()
        self.assertTrue(self.send(s, f, b'a', b'a SELECT INBOX\r\n')[-1].startswith(b'a BAD'))
        self.assertTrue(self.send(s, f, b'b', b'b FETCH 1 FLAGS\r\n')[-1].startswith(b'b BAD'))
        self.assertTrue(self.send(s, f, b'c', b'c LOGIN alice@example.test alice-pw\r\n')
                        [-1].startswith(b'c OK'))
        self.assertTrue(self.send(s, f, b'd', b'd FETCH 1 FLAGS\r\n')[-1].startswith(b'd BAD'))
        self.assertTrue(self.send(s, f, b'e', b'e LOGIN x y\r\n')[-1].startswith(b'e BAD'))
        # Pipelined: three commands in one write, answered in order.
        out = self.send(s, f, b'h', b'f NOOP\r\ng CAPABILITY\r\nh LOGOUT\r\n')
        self.assertEqual([l.split()[0] for l in out if not l.startswith(b'*')],
                         [b'f', b'g', b'h'])

    def test_sasl_ir_and_continuation(self):
        import base64
        s, f = self.raw()
        ir = base64.b64encode(b'\0alice@example.test\0alice-pw')
        out = self.send(s, f, b'a', b'a AUTHENTICATE PLAIN ' + ir + b'\r\n')
        self.assertTrue(out[-1].startswith(b'a OK [CAPABILITY'), out)
        s2, f2 = self.raw()
        s2.sendall(b'b AUTHENTICATE LOGIN\r\n')
        self.assertTrue(f2.readline().startswith(b'+ '))
        s2.sendall(base64.b64encode(b'alice@example.test') + b'\r\n')
        self.assertTrue(f2.readline().startswith(b'+ '))
        s2.sendall(base64.b64encode(b'alice-pw') + b'\r\n')
        self.assertTrue(self.until_tagged(f2, b'b')[-1].startswith(b'b OK'))
        s3, f3 = self.raw()
        s3.sendall(b'c AUTHENTICATE PLAIN\r\n')
        self.assertTrue(f3.readline().startswith(b'+'))
        self.assertTrue(self.send(s3, f3, b'c', b'*\r\n')[-1].startswith(b'c BAD'))

    def test_literals(self):
        s, f = self.raw()
        s.sendall(b'a LOGIN {18}\r\n')
        self.assertTrue(f.readline().startswith(b'+ '))
        out = self.send(s, f, b'a', b'alice@example.test {8+}\r\nalice-pw\r\n')
        self.assertTrue(out[-1].startswith(b'a OK'), out)

    def test_failed_login_is_delayed(self):
        # The harness sets auth_fail_delay to 100 ms: the second failure waits for it.
        c = self.imap()
        t0 = time.monotonic()
        with self.assertRaises(imaplib.IMAP4.error):
            c.login(ALICE[0], 'wrong')
        first = time.monotonic() - t0
        t0 = time.monotonic()
        with self.assertRaises(imaplib.IMAP4.error):
            c.login(ALICE[0], 'wrong')
        second = time.monotonic() - t0
        self.assertGreaterEqual(second, 0.09, (first, second))
        self.assertEqual(c.login(*ALICE)[0], 'OK')


class Hostile(ImapCase):
    def send(self, s, f, tag, line):
        s.sendall(line)
        return self.until_tagged(f, tag)

    def test_one_megabyte_line(self):
        s, f = self.raw()
        # Its end, and whether it ended in a literal, is lost: untagged BAD, BYE, close.
        s.sendall(b'a NOOP ' + b'x' * (1 << 20) + b'\r\n')
        self.assertTrue(f.readline().startswith(b'* BAD [TOOBIG]'))
        self.assertTrue(f.readline().startswith(b'* BYE'))
        self.assertEqual(f.readline(), b'')
        self.still_serving()

    def test_huge_literals(self):
        s, f = self.raw()
        # Synchronising: refused before a byte of it is sent, the session goes on.
        out = self.send(s, f, b'a', b'a LOGIN {9223372036854775807}\r\n')
        self.assertTrue(out[-1].startswith(b'a BAD'), out)
        self.assertTrue(self.send(s, f, b'b', b'b NOOP\r\n')[-1].startswith(b'b OK'))
        # Non-synchronising: it cannot be skipped, so BAD and close.
        out = self.send(s, f, b'c', b'c LOGIN {9223372036854775807+}\r\n')
        self.assertTrue(out[-1].startswith(b'c BAD'), out)
        self.assertTrue(f.readline().startswith(b'* BYE'))
        self.assertEqual(f.readline(), b'')
        self.still_serving()

    def test_unterminated_literal_then_disconnect(self):
        s, f = self.raw()
        s.sendall(b'a LOGIN {100}\r\n')
        self.assertTrue(f.readline().startswith(b'+ '))
        s.sendall(b'only a part')
        s.close()
        self.still_serving()

    def still_serving(self):
        c = self.imap()
        self.assertEqual(c.login(*ALICE)[0], 'OK')
        self.assertEqual(c.select('INBOX')[0], 'OK')
        self.assertTrue(self.pr.running('imapd'))


class LoginBeforeTls(ImapCase):
    """Off loopback a plaintext login is refused; loopback is made to count as off."""
    config = {'plaintext_auth_loopback': 'no'}

    def test_login_disabled_until_starttls(self):
        c = self.imap()
        self.assertIn('LOGINDISABLED', c.capabilities)
        self.assertNotIn('AUTH=PLAIN', c.capabilities)
        s, f = self.raw()
        s.sendall(b'a LOGIN alice@example.test alice-pw\r\n')
        self.assertTrue(self.until_tagged(f, b'a')[-1].startswith(b'a NO [PRIVACYREQUIRED]'))
        s.sendall(b'b AUTHENTICATE PLAIN\r\n')
        self.assertTrue(self.until_tagged(f, b'b')[-1].startswith(b'b NO [PRIVACYREQUIRED]'))
        c.starttls(ssl_context=self.pr.ssl_context())
        self.assertNotIn('LOGINDISABLED', c.capabilities)
        self.assertEqual(c.login(*ALICE)[0], 'OK')

    def test_plaintext_after_starttls_is_discarded(self):
        s, f = self.raw()
        # A command injected after STARTTLS in the same packet must never run.
        s.sendall(b'a STARTTLS\r\nb LOGIN alice@example.test alice-pw\r\n')
        self.assertTrue(self.until_tagged(f, b'a')[-1].startswith(b'a OK'))
        ctx = self.pr.ssl_context()
        t = ctx.wrap_socket(s, server_hostname='mail.example.test')
        tf = t.makefile('rb')
        t.sendall(b'c NOOP\r\n')
        out = self.until_tagged(tf, b'c')
        self.assertEqual([l for l in out if l.startswith(b'b ')], [])
        self.assertTrue(out[-1].startswith(b'c OK'))
        t.close()


if __name__ == '__main__':
    unittest.main()
