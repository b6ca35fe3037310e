"""Issue 17: the daemons actually run under their units' hardening.

systemd is not PID 1 here (no systemctl, systemd-run cannot start a unit),
so each daemon runs under unit_sandbox.py, which applies its unit's own
lines without systemd: ProtectSystem=strict with the test's data directory
as the only ReadWritePaths, PrivateTmp, ProtectHome, the syscall filter
(@system-service, as systemd expands it) with MemoryDenyWriteExecute,
RestrictAddressFamilies and LockPersonality, CapabilityBoundingSet and
NoNewPrivileges.  The rest (PrivateDevices, ProtectKernel*, ...) only
systemd applies: not checked here.

Under it, as root with listeners on ports below 1024 (CAP_NET_BIND_SERVICE
is what lets them bind): smtpd takes a message and delivers it to a
Maildir, pop3d and imapd log in and read it, relayd answers on its control
socket, each daemon reloads on SIGHUP and stops on SIGTERM with exit 0.
A probe under the same sandbox shows it is real: /usr and /etc are
read-only, a netlink socket is refused, CapBnd is the unit's three.
"""

import imaplib
import os
import poplib
import pwd
import signal
import smtplib
import socket
import subprocess
import time
import unittest

from harness import ROOT, have_built, have_tool, is_root, needs, sanitized, start_postroom

HERE = os.path.dirname(os.path.abspath(__file__))
SANDBOX = os.path.join(HERE, 'unit_sandbox.py')
UNIT_DIR = os.path.join(ROOT, 'etc', 'systemd')
SYSTEM_PYTHON = '/usr/bin/python3'      # python3-seccomp is Debian's
LOW_KEYS = {
    'smtpd': ('smtpd.mx_listen', 'smtpd.submission_listen', 'smtpd.submissions_listen'),
    'pop3d': ('pop3d.listen', 'pop3d.tls_listen'),
    'imapd': ('imapd.listen', 'imapd.tls_listen'),
}


def have_seccomp():
    return subprocess.run([SYSTEM_PYTHON, '-c', 'import seccomp'],
                          capture_output=True).returncode == 0 if os.path.exists(
                              SYSTEM_PYTHON) else False


def low_ports(n):
    """Free ports below 1024 on 127.0.0.1 (a daemon needs CAP_NET_BIND_SERVICE there)."""
    out = []
    for port in range(1023, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
        out.append(port)
        if len(out) == n:
            return out
    raise AssertionError('no free port below 1024')


def listening(port):
    with open('/proc/net/tcp') as f:
        return any(l.split()[3] == '0A' and int(l.split()[1].rsplit(':', 1)[1], 16) == port
                   for l in list(f)[1:])


def sandboxed(daemon, rw, argv):
    unit = os.path.join(UNIT_DIR, 'postroom-%s.service' % daemon)
    return ['unshare', '-m', '--propagation', 'private', SYSTEM_PYTHON, SANDBOX, unit, rw,
            '--'] + argv


@needs(is_root() and have_tool('unshare', 'setpriv', 'systemd-analyze') and have_seccomp()
       and have_built('smtpd', 'pop3d', 'imapd', 'relayd'),
       'root, unshare and setpriv (util-linux), systemd-analyze (systemd) and '
       'python3-seccomp are needed')
class TestHardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ports = low_ports(7)
        config = {}
        for d in ('smtpd', 'pop3d', 'imapd'):
            for k in LOW_KEYS[d]:
                config[k] = '127.0.0.1:%d' % ports.pop()
        cls.pr = start_postroom(cls, daemons=(), config=config)
        cls.lay_out(cls.pr)

    @staticmethod
    def lay_out(pr):
        """Owners as an installed system has them (the harness gives the mail
        user everything).  Without CAP_DAC_OVERRIDE, root reads and creates only
        what it may as a plain owner: the config and certificate are root's,
        group-readable by the mail user (workers reread them on SIGHUP); the
        state directory (authfail.table, relayd.sock: made by root at start) is
        root's; mail and queue stay the mail user's."""
        gid = pwd.getpwnam(pr.user).pw_gid
        for top, mode in ((pr.conf_dir, 0o750), (os.path.dirname(pr.cert), 0o750)):
            os.chown(top, 0, gid)
            os.chmod(top, mode)
            for n in os.listdir(top):
                os.chown(os.path.join(top, n), 0, gid)
                os.chmod(os.path.join(top, n), 0o640)
        for d in (pr.dir, pr.state_dir):
            os.chown(d, 0, 0)
            os.chmod(d, 0o755)

    def launch(self, daemon):
        pr = self.pr
        argv = sandboxed(daemon, pr.dir, [os.path.join(pr.build, daemon), '-c', pr.conf_file])
        env = dict(os.environ)
        if sanitized():
            # LeakSanitizer stops the world with ptrace, which @system-service
            # refuses: the units are for the plain build; every other test checks leaks.
            env['ASAN_OPTIONS'] = env.get('ASAN_OPTIONS', '') + ':detect_leaks=0'
        with open(os.path.join(pr.log_dir, daemon + '.log'), 'ab') as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env=env)
        pr.procs[daemon] = p
        self.addCleanup(pr.stop, daemon)
        deadline = time.monotonic() + 15
        while True:
            self.assertIsNone(p.poll(), pr.log(daemon)[-3000:])
            if daemon == 'relayd':
                up = os.path.exists(pr.config['relayd.control_listen'])
            else:
                up = all(listening(pr.port(k)) for k in LOW_KEYS[daemon])
            if up and 'event=ready' in pr.log(daemon):
                return p
            self.assertLess(time.monotonic(), deadline, pr.log(daemon)[-3000:])
            time.sleep(0.05)

    def reload_and_stop(self, daemon, p):
        n = self.pr.log(daemon).count('event=reload status=ok')
        p.send_signal(signal.SIGHUP)
        self.pr.wait_for(lambda: self.pr.log(daemon).count('event=reload status=ok') > n, 10)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0, self.pr.log(daemon)[-3000:])
        log = self.pr.log(daemon)
        self.assertNotIn('status=failed', log)
        # Root made the shared failed-login table without overriding permissions.
        self.assertNotIn('shared=no', log)

    def test_1_smtpd_delivers(self):
        p = self.launch('smtpd')
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            s.sendmail('someone@remote.test', ['alice@example.test'],
                       b'Subject: sandboxed\r\n\r\nunder the unit\'s hardening\r\n')
        self.pr.wait_for(lambda: self.pr.messages('alice@example.test'), 10)
        self.reload_and_stop('smtpd', p)

    def test_2_pop3d_reads(self):
        p = self.launch('pop3d')
        c = poplib.POP3('127.0.0.1', self.pr.port('pop3d.listen'), timeout=10)
        try:
            c.user('alice@example.test')
            c.pass_('alice-pw')
            self.assertGreaterEqual(c.stat()[0], 1)
            self.assertIn(b'Subject: sandboxed', b'\n'.join(c.retr(1)[1]))
        finally:
            c.quit()
        self.reload_and_stop('pop3d', p)

    def test_3_imapd_reads(self):
        p = self.launch('imapd')
        c = imaplib.IMAP4('127.0.0.1', self.pr.port('imapd.listen'), timeout=10)
        try:
            c.login('alice@example.test', 'alice-pw')
            typ, data = c.select('INBOX')
            self.assertEqual(typ, 'OK')
            self.assertGreaterEqual(int(data[0]), 1)
            typ, data = c.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
            self.assertIn(b'sandboxed', data[0][1])
        finally:
            c.logout()
        self.reload_and_stop('imapd', p)

    def test_4_relayd_answers(self):
        p = self.launch('relayd')
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.pr.config['relayd.control_listen'])
            s.sendall(b'LIST\n')
            data = b''
            while not data.endswith(b'OK\n'):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.endswith(b'OK\n'), data)
        self.reload_and_stop('relayd', p)

    def test_sandbox_is_real(self):
        probe = ('import os, socket\n'
                 'st = open("/proc/self/status").read()\n'
                 'print(st.split("CapBnd:")[1].split()[0], st.split("NoNewPrivs:")[1].split()[0])\n'
                 'for p in ("/usr/x", "/etc/x", "%s/x"):\n'
                 '    try:\n'
                 '        open(p, "w").close(); print("rw", p)\n'
                 '    except OSError as e:\n'
                 '        print("ro", p, e.errno)\n'
                 'try:\n'
                 '    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW); print("netlink")\n'
                 'except OSError:\n'
                 '    print("no-netlink")\n' % self.pr.dir)
        out = subprocess.run(sandboxed('smtpd', self.pr.dir, [SYSTEM_PYTHON, '-c', probe]),
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        # CAP_SETGID (6), CAP_SETUID (7), CAP_NET_BIND_SERVICE (10); no new privileges.
        self.assertEqual(lines[0], '00000000000004c0 1')
        self.assertEqual(lines[1:4], ['ro /usr/x 30', 'ro /etc/x 30', 'rw %s/x' % self.pr.dir])
        self.assertEqual(lines[4], 'no-netlink')


if __name__ == '__main__':
    unittest.main()
