"""A certificate renewed in place and SIGHUP (issue 17, as a Let's Encrypt
deploy hook does it): new connections get the new certificate on every
implicit-TLS port, an IMAP session idling over TLS since before stays up and
is still told of new mail; a pair that does not load is refused with the
reason logged and the running one kept.
"""

import os
import re
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import Postroom, have_built, require

ALICE = ('alice@example.test', 'alice-pw')


def new_pair(directory, cn):
    """A fresh self-signed certificate and key (EC: fast); (cert, key) bytes."""
    cert, key = os.path.join(directory, cn + '.pem'), os.path.join(directory, cn + '.key')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=' + cn,
                    '-keyout', key, '-out', cert], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(cert, 'rb') as c, open(key, 'rb') as k:
        return c.read(), k.read()


def served_cn(port):
    """The subject CN of the certificate a new TLS connection to port gets."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(('127.0.0.1', port), timeout=10) as raw, \
            ctx.wrap_socket(raw) as s:
        der = s.getpeercert(binary_form=True)
    text = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-noout', '-subject'],
                          input=der, capture_output=True, check=True).stdout.decode()
    return re.search(r'CN\s*=\s*([^,/\n]+)', text).group(1).strip()


class CertificateReload(unittest.TestCase):

    def setUp(self):
        require(have_built('smtpd', 'pop3d', 'imapd'), 'smtpd, pop3d and imapd not built')
        self.pr = Postroom(daemons=('smtpd', 'pop3d', 'imapd'))
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)
        self.tmp = tempfile.mkdtemp(prefix='postroom-certs-')
        self.addCleanup(__import__('shutil').rmtree, self.tmp, True)
        self.ports = [self.pr.port(k) for k in
                      ('smtpd.submissions_listen', 'pop3d.tls_listen', 'imapd.tls_listen')]

    def install(self, cert, key):
        """As a deploy hook: the files rewritten in place, then SIGHUP."""
        for path, data in ((self.pr.cert, cert), (self.pr.key, key)):
            with open(path, 'wb') as f:
                f.write(data)
        before = {d: self.pr.log(d).count('event=tls_reload') for d in ('smtpd', 'pop3d', 'imapd')}
        self.pr.reload()
        for d, n in before.items():
            self.pr.wait_for(lambda d=d, n=n: self.pr.log(d).count('event=tls_reload') > n)

    def idling_over_tls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        raw = socket.create_connection(('127.0.0.1', self.pr.port('imapd.tls_listen')), timeout=10)
        s = ctx.wrap_socket(raw)
        self.addCleanup(s.close)
        f = s.makefile('rb')
        self.assertTrue(f.readline().startswith(b'* OK'))
        for tag, line in ((b'a', b'LOGIN %s %s' % (ALICE[0].encode(), ALICE[1].encode())),
                          (b'b', b'SELECT INBOX')):
            s.sendall(tag + b' ' + line + b'\r\n')
            while not (got := f.readline()).startswith(tag + b' '):
                self.assertTrue(got, 'closed during %r' % line)
            self.assertTrue(got.startswith(tag + b' OK'), got)
        s.sendall(b'i IDLE\r\n')
        self.assertEqual(f.readline(), b'+ idling\r\n')
        return s, f

    def test_new_certificate_for_new_connections_idle_session_stays(self):
        first = self.served()
        self.assertEqual(set(first), {'localhost'})
        s, f = self.idling_over_tls()
        self.install(*new_pair(self.tmp, 'renewed.example.test'))
        self.assertEqual(set(self.served()), {'renewed.example.test'})
        # the session from before: still there, and still told
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as smtp:
            smtp.sendmail('sender@remote.test', [ALICE[0]], b'Subject: after\r\n\r\nhi\r\n')
        end = time.monotonic() + 10
        while not (line := f.readline()).endswith(b' EXISTS\r\n'):
            self.assertTrue(line and time.monotonic() < end, 'no EXISTS: %r' % line)
        s.sendall(b'DONE\r\n')
        while not (line := f.readline()).startswith(b'i '):
            self.assertTrue(line.startswith(b'* '), line)
        self.assertTrue(line.startswith(b'i OK'), line)

        # a key that is not the certificate's: refused, the renewed pair kept
        cert, _ = new_pair(self.tmp, 'broken.example.test')
        _, other_key = new_pair(self.tmp, 'other.example.test')
        self.install(cert, other_key)
        for d in ('smtpd', 'pop3d', 'imapd'):
            self.assertIn('event=tls_reload status=failed', self.pr.log(d))
        self.assertEqual(set(self.served()), {'renewed.example.test'})

    def served(self):
        return [served_cn(p) for p in self.ports]


if __name__ == '__main__':
    unittest.main()
