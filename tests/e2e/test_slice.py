"""The vertical slice with real, unmodified clients: SMTP in, Maildir, POP3 out.

- Python smtplib on all three SMTP ports (MX plain; submission starttls()+login();
  submissions SMTP_SSL+login) sends a message with a Header()-encoded Chinese
  display name and subject and an attachment with a Chinese file name;
- poplib on the POP3 port (plain and after stls()) and POP3_SSL on the TLS port:
  retr() bytes equal the delivered Maildir file with LF -> CRLF, decode_header
  gives the Chinese subject back, dele()+quit() removes exactly that message and
  the next login's stat() agrees;
- fetchmail over POP3 with STLS (no certificate check), --mda "cat >> FILE",
  keep (-k) and then flush (-F);
- curl pop3:// and pop3s:// LIST/RETR; curl smtp:// and smtps:// sending.
"""

import email
import email.policy
import os
import poplib
import shutil
import smtplib
import subprocess
import tempfile
import unittest
from email.header import Header, decode_header, make_header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid

from harness import Postroom, have_built, have_tool, needs, start_postroom

ALICE, ALICE_PW = 'alice@example.test', 'alice-pw'
SUBJECT = '中文主题：季度报告'
FILENAME = '报告-二〇二六.pdf'
PAYLOAD = bytes(range(256)) * 64 + b'\r\n.\r\n..\r\n'
NEED = have_built('smtpd', 'pop3d', 'mailctl')
WHY = 'build/smtpd, build/pop3d or build/mailctl not built'


def seed_message(tag, sender=ALICE):
    """The seed recipe's message: Chinese display name and subject, text part, attachment."""
    msg = MIMEMultipart()
    msg['From'] = formataddr((str(Header('张三', 'utf-8')), sender))
    msg['To'] = ALICE
    msg['Subject'] = Header('%s (%s)' % (SUBJECT, tag), 'utf-8')
    msg['Message-ID'] = make_msgid(idstring=tag, domain='tester.example')
    msg.attach(MIMEText('你好，这是正文。\n.\n..两个点\n', 'plain', 'utf-8'))
    att = MIMEApplication(PAYLOAD, 'pdf')
    att.add_header('Content-Disposition', 'attachment', filename=('utf-8', '', FILENAME))
    msg.attach(att)
    return msg


def maildir_files(pr, addr=ALICE):
    """{basename without flags: bytes} over new/ and cur/."""
    out = {}
    base = pr.maildir(addr)
    for sub in ('new', 'cur'):
        d = os.path.join(base, sub)
        for n in os.listdir(d):
            with open(os.path.join(d, n), 'rb') as f:
                out[n.split(':', 1)[0]] = f.read()
    return out


def crlf(data):
    return data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')


class SliceBase(unittest.TestCase):
    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd', 'pop3d'))
        self.tmp = tempfile.mkdtemp(prefix='postroom-slice-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mx = self.pr.port('smtpd.mx_listen')
        self.pop = self.pr.port('pop3d.listen')
        self.pops = self.pr.port('pop3d.tls_listen')

    def send_mx(self, tag):
        with smtplib.SMTP('127.0.0.1', self.mx, timeout=10) as s:
            s.send_message(seed_message(tag, 'sender@remote.test'), 'sender@remote.test', [ALICE])

    def check_seed(self, raw, tag):
        """Parsed like the seed recipe: Chinese subject and attachment name/bytes intact."""
        m = email.message_from_bytes(raw)
        self.assertEqual(str(make_header(decode_header(m['Subject']))), '%s (%s)' % (SUBJECT, tag))
        self.assertEqual(str(make_header(decode_header(m['From']))), '张三 <%s>' % ALICE
                         if 'sender' not in m['From'] else '张三 <sender@remote.test>')
        parts = [p for p in m.walk() if p.get_filename()]
        self.assertEqual(len(parts), 1)
        self.assertEqual(parts[0].get_filename(), FILENAME)
        self.assertEqual(parts[0].get_payload(decode=True), PAYLOAD)
        body = [p for p in m.walk() if p.get_content_type() == 'text/plain'][0]
        self.assertEqual(body.get_payload(decode=True).decode('utf-8'), '你好，这是正文。\n.\n..两个点\n')

    def pop_login(self, kind):
        if kind == 'ssl':
            p = poplib.POP3_SSL('127.0.0.1', self.pops, context=Postroom.ssl_context(), timeout=10)
        else:
            p = poplib.POP3('127.0.0.1', self.pop, timeout=10)
            if kind == 'stls':
                p.stls(Postroom.ssl_context())
        p.user(ALICE)
        p.pass_(ALICE_PW)
        return p


@needs(NEED, WHY)
class SliceSmtplibPoplibTest(SliceBase):

    def test_three_smtp_ports_then_pop3(self):
        ctx = Postroom.ssl_context()
        self.send_mx('mx')
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.submission_listen'), timeout=10) as s:
            s.starttls(context=ctx)
            s.login(ALICE, ALICE_PW)
            s.send_message(seed_message('submission'))
        with smtplib.SMTP_SSL('127.0.0.1', self.pr.port('smtpd.submissions_listen'),
                              context=ctx, timeout=10) as s:
            s.login(ALICE, ALICE_PW)
            s.send_message(seed_message('submissions'))
        files = maildir_files(self.pr)
        self.assertEqual(len(files), 3)
        for raw in files.values():
            self.assertNotIn(b'\r', raw.split(b'\n\n', 1)[0], 'Maildir file has CRLF headers')
        expected = {crlf(raw): name for name, raw in files.items()}
        tags = {}
        for raw in files.values():
            subject = str(make_header(decode_header(email.message_from_bytes(raw)['Subject'])))
            tags[crlf(raw)] = subject.rsplit('(', 1)[-1].rstrip(')')
        self.assertEqual(sorted(tags.values()), ['mx', 'submission', 'submissions'])
        # the submission ports record the authenticated user
        for raw in files.values():
            if tags[crlf(raw)] != 'mx':
                self.assertRegex(raw.split(b'\n\n', 1)[0], rb'ESMTPS?A|auth')

        for kind in ('plain', 'stls', 'ssl'):
            with self.subTest(pop3=kind):
                p = self.pop_login(kind)
                count, size = p.stat()
                self.assertEqual(count, 3)
                self.assertEqual(size, sum(len(k) for k in expected))
                seen = set()
                for n in range(1, 4):
                    resp, lines, octets = p.retr(n)
                    self.assertTrue(resp.startswith(b'+OK'), resp)
                    data = b'\r\n'.join(lines) + b'\r\n'
                    self.assertIn(data, expected, 'RETR %d differs from every Maildir file' % n)
                    self.check_seed(data, tags[data])
                    seen.add(data)
                self.assertEqual(len(seen), 3)
                p.quit()

        # dele()+quit() removes exactly that message
        p = self.pop_login('ssl')
        _, lines, _ = p.retr(2)
        gone = b'\r\n'.join(lines) + b'\r\n'
        self.assertTrue(p.dele(2).startswith(b'+OK'))
        p.quit()
        after = {crlf(raw) for raw in maildir_files(self.pr).values()}
        self.assertEqual(after, set(expected) - {gone})
        p = self.pop_login('plain')
        self.assertEqual(p.stat(), (2, sum(len(k) for k in after)))
        got = {b'\r\n'.join(p.retr(n)[1]) + b'\r\n' for n in (1, 2)}
        self.assertEqual(got, after)
        p.quit()


@needs(NEED and have_tool('fetchmail'), WHY + ' or fetchmail missing')
class SliceFetchmailTest(SliceBase):

    def fetchmail(self, *args):
        env = dict(os.environ, HOME=self.tmp, FETCHMAILHOME=self.tmp)
        cmd = ['fetchmail', '-f', self.rc, '-v', '-N', '--nosslcertck', '--sslproto', 'TLS1.2+',
               '-i', os.path.join(self.tmp, 'ids'), '--pidfile', os.path.join(self.tmp, 'pid'),
               '-m', 'cat >> %s' % self.out] + list(args)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, errors='replace', timeout=60)
        return p

    def test_fetchmail_stls_keep_then_flush(self):
        self.rc = os.path.join(self.tmp, 'fetchmailrc')
        self.out = os.path.join(self.tmp, 'out.mbox')
        with open(self.rc, 'w') as f:
            f.write('set no syslog\n'
                    'poll 127.0.0.1 service %d protocol POP3 uidl\n'
                    '    user "%s" there with password "%s" is "root" here\n' % (self.pop, ALICE, ALICE_PW))
        os.chmod(self.rc, 0o600)
        self.send_mx('fm1')
        self.send_mx('fm2')
        ids = [email.message_from_bytes(raw)['Message-ID'].encode()
               for raw in maildir_files(self.pr).values()]
        self.assertEqual(len(ids), 2)

        p = self.fetchmail('-k')
        log = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, log)
        self.assertRegex(log, r'POP3> STLS')
        self.assertNotRegex(log, r'POP3> (USER|PASS).*\n(?s:.*)POP3> STLS')
        with open(self.out, 'rb') as f:
            got = f.read()
        for mid in ids:
            self.assertEqual(got.count(mid), 1, 'message %r in the mda output' % mid)
        for raw in maildir_files(self.pr).values():
            body = raw.split(b'\n\n', 1)[1]
            self.assertIn(body.replace(b'\n', b'\r\n'), got.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n'))
        self.assertEqual(len(maildir_files(self.pr)), 2, 'keep (-k) deleted messages')

        p = self.fetchmail('-F')
        log = p.stdout + p.stderr
        self.assertIn(p.returncode, (0, 1), log)      # 1: no new mail
        self.assertEqual(maildir_files(self.pr), {}, 'flush (-F) left messages:\n' + log)
        with open(self.out, 'rb') as f:
            got = f.read()
        for mid in ids:
            self.assertEqual(got.count(mid), 1, 'flush retrieved %r again (UIDL not stable?)' % mid)
        p3 = self.pop_login('stls')
        self.assertEqual(p3.stat()[0], 0)
        p3.quit()


@needs(NEED and have_tool('curl'), WHY + ' or curl missing')
class SliceCurlTest(SliceBase):

    def curl(self, *args, data=None):
        cmd = ['curl', '-sS', '--max-time', '20'] + list(args)
        p = subprocess.run(cmd, capture_output=True, timeout=30, input=data)
        self.assertEqual(p.returncode, 0, '%s: %s' % (' '.join(cmd), p.stderr.decode(errors='replace')))
        return p.stdout

    def test_curl_smtp_and_pop3(self):
        crlf_policy = email.policy.compat32.clone(linesep='\r\n')
        # MX: a remote sender; submission: From: must be the login's (sender policy).
        msgs = [seed_message('curl', 'sender@remote.test').as_bytes(policy=crlf_policy),
                seed_message('curl').as_bytes(policy=crlf_policy)]
        uploads = [os.path.join(self.tmp, 'msg%d.eml' % i) for i in range(2)]
        for upload, msg in zip(uploads, msgs):
            with open(upload, 'wb') as f:
                f.write(msg)
        self.curl('smtp://127.0.0.1:%d/client.example.net' % self.mx,
                  '--mail-from', 'sender@remote.test', '--mail-rcpt', ALICE,
                  '--upload-file', uploads[0])
        self.curl('-k', 'smtps://127.0.0.1:%d' % self.pr.port('smtpd.submissions_listen'),
                  '--user', '%s:%s' % (ALICE, ALICE_PW),
                  '--mail-from', ALICE, '--mail-rcpt', ALICE, '--upload-file', uploads[1])
        files = maildir_files(self.pr)
        self.assertEqual(len(files), 2)
        for raw in files.values():
            # the stored file is the upload, LF line ends, after our trace headers
            self.assertTrue(any(crlf(raw).endswith(m) for m in msgs),
                            'stored bytes differ from the upload')
            self.check_seed(raw, 'curl')

        user = '%s:%s' % (ALICE, ALICE_PW)
        expected = sorted(crlf(raw) for raw in files.values())
        for url, extra in (('pop3://127.0.0.1:%d' % self.pop, []),
                           ('pop3s://127.0.0.1:%d' % self.pops, ['-k']),
                           ('pop3://127.0.0.1:%d' % self.pop, ['--ssl-reqd', '-k'])):
            with self.subTest(url=url, extra=extra):
                listing = self.curl(*extra, '-u', user, url + '/').decode()
                rows = [l.split() for l in listing.splitlines() if l.strip()]
                self.assertEqual([r[0] for r in rows], ['1', '2'], listing)
                self.assertEqual(sorted(int(r[1]) for r in rows), sorted(len(e) for e in expected))
                got = sorted(self.curl(*extra, '-u', user, '%s/%d' % (url, n)) for n in (1, 2))
                self.assertEqual(got, expected)


if __name__ == '__main__':
    unittest.main()
