"""mailctl check, status and dns (issue 17 point 4) against real daemons:
check passes on the harness's configuration and names file:line for a
broken line in each file; status shows the daemons, their listeners, the
open connections (summed over workers), the queue, the last reload and the
certificate's expiry, and a daemon killed with -9 as not running; dns prints
the records of one of our domains and refuses another."""
import datetime
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import unittest

from harness import Postroom, start_postroom
from test_relayd import RelaydCase


def append(path, text):
    """Append a line; returns its line number and the old content."""
    with open(path) as f:
        old = f.read()
    with open(path, 'w') as f:
        f.write(old + ('' if old.endswith('\n') or not old else '\n') + text + '\n')
    return len((old + ('' if old.endswith('\n') or not old else '\n')).splitlines()) + 1, old


def key_line(conf_file, key):
    with open(conf_file) as f:
        for n, line in enumerate(f, 1):
            if line.split('=')[0].strip() == key:
                return n
    raise AssertionError('%s not in %s' % (key, conf_file))


class MailctlCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pr = start_postroom(cls, daemons=())

    def check(self):
        return self.pr.mailctl('check', check=False)

    def test_harness_config_passes(self):
        p = self.check()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('ok', p.stdout)
        self.assertEqual(p.stdout.count('\n'), 1)

    def test_broken_line_in_each_file_is_named(self):
        broken = {
            'postroom.conf': 'smtpd.max_recipients = lots',
            'domains': 'not a domain!',
            'passwd': 'garbage line',
            'groups': 'team@example.test: nobody@elsewhere.test',
            'aliases': 'alias-without-colon',
        }
        for name, text in broken.items():
            with self.subTest(file=name):
                path = os.path.join(self.pr.conf_dir, name)
                line, old = append(path, text)
                try:
                    p = self.check()
                finally:
                    with open(path, 'w') as f:
                        f.write(old)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn('%s:%d: ' % (path, line), p.stderr)
                self.assertEqual(p.stdout, '')
        self.assertEqual(self.check().returncode, 0)

    def set_key(self, key, value):
        old = self.pr.config.get(key)
        self.pr.config[key] = value
        self.pr._write_config_file()
        self.addCleanup(self.restore_key, key, old)

    def restore_key(self, key, old):
        self.pr.config[key] = old
        self.pr._write_config_file()

    def test_settings_are_checked_with_the_key_line(self):
        missing = os.path.join(self.pr.dir, 'nowhere')
        self.set_key('mail_root', missing)
        not_key = os.path.join(self.pr.dir, 'not-a-key.pem')
        with open(self.pr.cert) as src, open(not_key, 'w') as dst:
            dst.write(src.read())                   # a certificate is no key
        self.set_key('tls_key', not_key)
        self.set_key('user', 'no-such-user-postroom')
        p = self.check()
        self.assertEqual(p.returncode, 1)
        conf = self.pr.conf_file
        self.assertIn('%s:%d: mail_root: %s: No such file or directory'
                      % (conf, key_line(conf, 'mail_root'), missing), p.stderr)
        self.assertIn('%s:%d: tls_key: %s: ' % (conf, key_line(conf, 'tls_key'), not_key),
                      p.stderr)
        self.assertIn('%s:%d: user: no-such-user-postroom: no such user'
                      % (conf, key_line(conf, 'user')), p.stderr)
        self.assertIn('3 errors', p.stderr)

    def test_directory_the_mail_user_cannot_write(self):
        os.chmod(self.pr.queue_dir, 0o555)          # the user owns it (the harness chowns)
        self.addCleanup(os.chmod, self.pr.queue_dir, 0o755)
        p = self.check()
        self.assertEqual(p.returncode, 1)
        self.assertIn('%s:%d: queue_dir: %s: not writable by user %s\n'
                      % (self.pr.conf_file, key_line(self.pr.conf_file, 'queue_dir'),
                         self.pr.queue_dir, self.pr.user), p.stderr)
        self.assertIn('1 error\n', p.stderr)

    def test_status_file_of_a_zombie_reads_not_running(self):
        # An "smtpd" that exited and was not reaped yet: its pid and name stay.
        exe = os.path.join(self.pr.dir, 'smtpd')
        os.symlink(shutil.which('true'), exe)
        p = subprocess.Popen([exe])
        self.addCleanup(p.wait)
        self.pr.wait_for(lambda: open('/proc/%d/stat' % p.pid).read().split(') ')[1][0] == 'Z')
        os.makedirs(os.path.join(self.pr.state_dir, 'run'), exist_ok=True)
        with open(os.path.join(self.pr.state_dir, 'run', 'smtpd.status'), 'w') as f:
            f.write('daemon=smtpd\npid=%d\nstarted=1\nworkers=1\n' % p.pid)
        self.addCleanup(os.unlink, f.name)
        out = self.pr.mailctl('status').stdout
        self.assertIn('smtpd: not running (its status file names pid %d, which is gone)\n'
                      % p.pid, out)

    def test_dns_records_of_our_domain(self):
        p = self.pr.mailctl('dns', 'Example.TEST')
        records = [l.split('\t') for l in p.stdout.splitlines() if not l.startswith(';')]
        self.assertEqual(records, [
            ['example.test.', '3600', 'IN', 'MX', '10 mail.example.test.'],
            ['example.test.', '3600', 'IN', 'TXT', '"v=spf1 mx -all"'],
            ['_dmarc.example.test.', '3600', 'IN', 'TXT',
             '"v=DMARC1; p=none; rua=mailto:postmaster@example.test"'],
        ])
        self.assertIn('DKIM', p.stdout)

    def test_dns_refuses_a_domain_not_ours(self):
        p = self.pr.mailctl('dns', 'elsewhere.test', check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, '')
        self.assertIn('elsewhere.test is not one of our domains', p.stderr)


class MailctlStatus(RelaydCase):
    def status(self):
        return self.pr.mailctl('status').stdout

    def wait_status(self, pattern):
        seen = []

        def found():
            seen[:] = [self.status()]
            return re.search(pattern, seen[0], re.M)
        if not self.pr.wait_for(found, timeout=10):
            self.fail('no %r in mailctl status:\n%s' % (pattern, seen[0]))
        return seen[0]

    def test_status_of_running_daemons(self):
        self.start({'127.0.0.2': 'defer'}, **{'relayd.min_backoff': '1h', 'workers': 2})
        pr = self.pr
        # Published just after the listeners, which the harness waited for.
        out = self.wait_status(r'^smtpd: running(.|\n)*^relayd: running')
        self.assertRegex(out, r'(?m)^smtpd: running pid=%d since=\S+Z workers=2$'
                         % pr.pid('smtpd'))
        self.assertRegex(out, r'(?m)^relayd: running pid=%d ' % pr.pid('relayd'))
        self.assertRegex(out, r'(?m)^pop3d: not running$')
        mx = pr.port('smtpd.mx_listen')
        self.assertIn('smtpd: listener mx 127.0.0.1:%d connections=0\n' % mx, out)
        self.assertIn('smtpd: listener submission 127.0.0.1:%d connections=0\n'
                      % pr.port('smtpd.submission_listen'), out)
        # (the harness's probe of the control socket may still be counted)
        self.assertRegex(out, r'(?m)^relayd: listener control %s connections=\d+$'
                         % re.escape(pr.config['relayd.control_listen']))
        self.assertIn('smtpd: last reload none\n', out)

        # Certificate expiry, as the certificate says.
        not_after = ssl._ssl._test_decode_cert(pr.cert)['notAfter']
        day = datetime.datetime.strptime(not_after, '%b %d %H:%M:%S %Y %Z')
        self.assertIn('certificate: %s expires=%s' % (pr.cert, day.strftime('%Y-%m-%dT%H:%M:%SZ')),
                      out)

        # Open connections, summed over the two workers, then closed.
        conns = [socket.create_connection(('127.0.0.1', mx)) for _ in range(3)]
        for c in conns:
            c.recv(100)
        self.wait_status(r'^smtpd: listener mx \S+ connections=3$')
        for c in conns:
            c.close()
        self.wait_status(r'^smtpd: listener mx \S+ connections=0$')

        # A deferred message.
        self.assertIn('queue: messages=0 deferred=0 held=0\n', out)
        self.send(['bob@relay.test'])
        pr.wait_for(lambda: 'status=deferred' in pr.log('relayd'))
        self.wait_status(r'^queue: messages=1 deferred=1 held=0$')

        # Reloads: a good one, then one refused.
        pr.reload()
        self.wait_status(r'^smtpd: last reload \S+Z ok$(.|\n)*^relayd: last reload \S+Z ok$')
        line, _ = append(pr.conf_file, 'smtpd.max_recipients = lots')
        pr.reload()
        # mailctl reads the config too: the good one back once the daemons tried.
        # (both workers: the slower one must not read the good one)
        pr.wait_for(lambda: pr.log('smtpd').count('event=reload status=failed') == 2)
        pr._write_config_file()
        self.wait_status(r'^smtpd: last reload \S+Z failed \(.*postroom.conf:%d: '
                         r'smtpd.max_recipients: lots: expected an integer\)$' % line)

        # kill -9 leaves the status file behind; its pid is gone.
        pid = pr.pid('smtpd')
        pr.kill('smtpd', signal.SIGKILL)
        self.assertTrue(os.path.exists(os.path.join(pr.state_dir, 'run', 'smtpd.status')))
        out = self.status()
        self.assertIn('smtpd: not running (its status file names pid %d, which is gone)\n'
                      % pid, out)
        self.assertNotIn('smtpd: listener', out)
        # A clean stop removes it.
        pr.stop('relayd')
        out = self.status()
        self.assertIn('relayd: not running\n', out)
        self.assertIn('queue: unknown (relayd is not running)\n', out)


if __name__ == '__main__':
    unittest.main()
