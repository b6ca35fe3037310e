"""Issue 17: the systemd units in etc/systemd/, socket activation and sd_notify.

- every unit passes `systemd-analyze verify` (ExecStart pointed at the build),
  each .socket names a listener kind of its daemon and that kind's default
  port, and `systemd-analyze security --offline=yes` rates each service;
- socket activation through systemd-socket-activate (the systemd package):
  the daemon is exec'd on the first connection, serves on systemd's sockets
  (plain and implicit TLS) and binds none of its own listen keys;
- sd_notify to a test listener on NOTIFY_SOCKET, for every daemon with one
  worker and with two: READY=1 comes only once the workers accept (a
  connection made the moment it arrives gets its greeting), SIGHUP gives
  RELOADING=1 then READY=1 once every worker reloaded, SIGTERM gives
  STOPPING=1; a worker whose set-up fails means no READY=1 at all.

systemd is not PID 1 here: the units' sandbox itself is checked by
test_systemd_hardening.py, as close as a machine without systemd allows.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import (ROOT, build_dir, have_built, have_tool, needs, start_postroom)
from unit_sandbox import unit_keys

UNIT_DIR = os.path.join(ROOT, 'etc', 'systemd')
SERVICES = ('smtpd', 'pop3d', 'imapd', 'relayd')
SOCKETS = {'smtpd': ('mx', 'submission', 'submissions'), 'pop3d': ('pop3', 'pop3s'),
           'imapd': ('imap', 'imaps')}
# The listener kind's key (as `daemon -h` says).
KIND_KEYS = {'mx': 'smtpd.mx_listen', 'submission': 'smtpd.submission_listen',
             'submissions': 'smtpd.submissions_listen', 'pop3': 'pop3d.listen',
             'pop3s': 'pop3d.tls_listen', 'imap': 'imapd.listen', 'imaps': 'imapd.tls_listen'}
TLS_KINDS = ('submissions', 'pop3s', 'imaps')
GREETING = {'smtpd': b'220 ', 'pop3d': b'+OK', 'imapd': b'* OK'}
EXPOSURE_MAX = 3.0      # systemd's scale: below 2 "OK", 10 "UNSAFE"
NOTIFY_TIMEOUT = 20.0


def substituted_units(tmp):
    """The units as make install writes them, with the build as sbindir."""
    out = os.path.join(tmp, 'units')
    etc = os.path.join(tmp, 'etc')
    os.makedirs(out)
    os.makedirs(os.path.join(etc, 'postroom'))
    open(os.path.join(etc, 'postroom', 'postroom.conf'), 'w').close()
    for name in sorted(os.listdir(UNIT_DIR)):
        with open(os.path.join(UNIT_DIR, name)) as f:
            text = f.read()
        text = text.replace('@sbindir@', build_dir()).replace('@sysconfdir@', etc)
        with open(os.path.join(out, name), 'w') as f:
            f.write(text)
    return out


def listener_defaults(daemon):
    """kind -> default address, from the daemon's own usage text."""
    p = subprocess.run([os.path.join(build_dir(), daemon), '-h'], capture_output=True,
                       text=True)
    return dict(re.findall(r'^  (\w+) +\S+ = (\S+)', p.stderr, re.M))


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def greet(port, tls=False, timeout=10):
    """The first line the server sends on a fresh connection."""
    raw = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s = raw
    try:
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(raw)
        data = b''
        while not data.endswith(b'\n'):
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


def control(path, line):
    """One relayd control command; the reply's last line."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(line.encode() + b'\n')
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode().splitlines()[-1] if data else ''


def listening(port):
    with open('/proc/net/tcp') as f:
        return any(l.split()[3] == '0A' and int(l.split()[1].rsplit(':', 1)[1], 16) == port
                   for l in list(f)[1:])


@needs(have_tool('systemd-analyze') and have_built(*SERVICES),
       'systemd-analyze (package systemd) and the daemons are needed')
class TestUnits(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='postroom-units-')
        self.addCleanup(subprocess.run, ['rm', '-rf', self.tmp])
        self.units = substituted_units(self.tmp)

    def test_the_units_are_there(self):
        want = {'postroom.target'} | {'postroom-%s.service' % d for d in SERVICES}
        want |= {'postroom-%s-%s.socket' % (d, k) for d in SOCKETS for k in SOCKETS[d]}
        self.assertEqual(set(os.listdir(UNIT_DIR)), want)

    def test_verify_every_unit(self):
        names = sorted(os.listdir(self.units))
        p = subprocess.run(['systemd-analyze', 'verify', '--man=no'] + names,
                           cwd=self.units, capture_output=True, text=True)
        print('\nsystemd-analyze verify %d units: exit %d, %d lines of warnings'
              % (len(names), p.returncode, len(p.stderr.splitlines())))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.strip(), '', 'verify warned')

    def test_verify_catches_a_misspelt_key(self):
        """The check above can fail: a typo is reported on stderr."""
        path = os.path.join(self.units, 'postroom-relayd.service')
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(text.replace('LockPersonality=', 'LockPersonalty='))
        p = subprocess.run(['systemd-analyze', 'verify', '--man=no', path],
                           capture_output=True, text=True)
        self.assertIn("Unknown key 'LockPersonalty'", p.stderr)

    def test_services(self):
        for d in SERVICES:
            k = unit_keys(os.path.join(UNIT_DIR, 'postroom-%s.service' % d))
            self.assertEqual(k['Type'], ['notify'], d)
            self.assertEqual(k['ExecReload'], ['/bin/kill -HUP $MAINPID'], d)
            self.assertEqual(k['ExecStart'],
                             ['@sbindir@/%s -c @sysconfdir@/postroom/postroom.conf' % d], d)
            caps = set(k['CapabilityBoundingSet'][0].split())
            want = {'CAP_SETUID', 'CAP_SETGID'} | ({'CAP_NET_BIND_SERVICE'}
                                                   if d in SOCKETS else set())
            self.assertEqual(caps, want, d)
            for key in ('ProtectSystem', 'ReadWritePaths', 'ProtectHome', 'PrivateTmp',
                        'NoNewPrivileges', 'RestrictAddressFamilies', 'SystemCallFilter',
                        'MemoryDenyWriteExecute', 'LockPersonality', 'RestrictRealtime'):
                self.assertIn(key, k, '%s: no %s' % (d, key))
            self.assertEqual(k['ProtectSystem'], ['strict'])
            self.assertIn('@system-service', k['SystemCallFilter'])

    def test_sockets_name_a_listener_kind_on_its_port(self):
        for d, kinds in SOCKETS.items():
            defaults = listener_defaults(d)
            self.assertEqual(set(defaults), set(kinds), d)
            for kind in kinds:
                k = unit_keys(os.path.join(UNIT_DIR, 'postroom-%s-%s.socket' % (d, kind)))
                self.assertEqual(k['FileDescriptorName'], [kind])
                self.assertEqual(k['Service'], ['postroom-%s.service' % d])
                self.assertEqual(k['ListenStream'], [defaults[kind].rsplit(':', 1)[1]])

    def test_security_exposure(self):
        for d in SERVICES:
            p = subprocess.run(['systemd-analyze', 'security', '--offline=yes', '--no-pager',
                                os.path.join(self.units, 'postroom-%s.service' % d)],
                               capture_output=True, text=True)
            m = re.search(r'Overall exposure level for \S+: ([\d.]+) (\w+)', p.stdout)
            self.assertIsNotNone(m, p.stdout[-2000:] + p.stderr)
            print('\nsystemd-analyze security postroom-%s.service: %s %s'
                  % (d, m.group(1), m.group(2)))
            self.assertLessEqual(float(m.group(1)), EXPOSURE_MAX, p.stdout)


class NotifyListener:
    """An AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, 'notify')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)      # the dropped workers never send, but be plain

    def next(self, timeout=NOTIFY_TIMEOUT):
        """The next datagram as text, or '' after timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            return ''

    def close(self):
        self.sock.close()


class Base(unittest.TestCase):
    def instance(self, daemon, workers):
        config = {'workers': workers}
        if daemon == 'imapd':
            p, t = free_ports(2)
            config.update({'imapd.listen': '127.0.0.1:%d' % p,
                           'imapd.tls_listen': '127.0.0.1:%d' % t})
        pr = start_postroom(self, daemons=(), config=config)
        self.notify = NotifyListener(pr.dir)
        self.addCleanup(self.notify.close)
        return pr

    def launch(self, pr, daemon, argv):
        """Run argv as pr's daemon (its log, stopped at clean-up with the rest)."""
        with open(os.path.join(pr.log_dir, daemon + '.log'), 'ab') as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT,
                                 env=dict(os.environ, NOTIFY_SOCKET=self.notify.path))
        pr.procs[daemon] = p
        return p

    def probe(self, pr, daemon, port=None, tls=False):
        """The service answers: a greeting, or relayd's control socket says OK."""
        if daemon == 'relayd':
            self.assertEqual(control(pr.config['relayd.control_listen'], 'LIST'), 'OK')
            return
        key = {'smtpd': 'smtpd.mx_listen', 'pop3d': 'pop3d.listen',
               'imapd': 'imapd.listen'}[daemon]
        line = greet(port or pr.port(key), tls=tls)
        self.assertTrue(line.startswith(GREETING[daemon]), '%s: %r' % (daemon, line))


@needs(have_built(*SERVICES), 'the daemons are not built')
class TestNotify(Base):
    def check(self, daemon, workers):
        pr = self.instance(daemon, workers)
        p = self.launch(pr, daemon, [os.path.join(pr.build, daemon), '-c', pr.conf_file])
        self.assertEqual(self.notify.next(), 'READY=1', pr.log(daemon)[-3000:])
        # At once: the listener accepts and a worker greets.
        self.probe(pr, daemon)
        self.assertEqual(pr.log(daemon).count('event=ready '), workers)
        p.send_signal(signal.SIGHUP)
        self.assertEqual(self.notify.next(), 'RELOADING=1')
        self.assertEqual(self.notify.next(), 'READY=1')
        # READY=1 after the reload means every worker has finished it.
        self.assertEqual(pr.log(daemon).count('event=reload status=ok'), workers)
        self.probe(pr, daemon)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(self.notify.next(), 'STOPPING=1')
        self.assertEqual(p.wait(15), 0)
        self.assertEqual(self.notify.next(0.2), '')

    def test_smtpd(self):
        for workers in (1, 2):
            with self.subTest(workers=workers):
                self.check('smtpd', workers)

    def test_pop3d(self):
        for workers in (1, 2):
            with self.subTest(workers=workers):
                self.check('pop3d', workers)

    def test_imapd(self):
        for workers in (1, 2):
            with self.subTest(workers=workers):
                self.check('imapd', workers)

    def test_relayd(self):
        # relayd runs one worker whatever `workers` says (the queue's one owner).
        self.check('relayd', 1)

    def test_no_ready_when_a_worker_cannot_start(self):
        pr = self.instance('smtpd', 2)
        bad = os.path.join(pr.dir, 'not-a-dir')
        open(bad, 'w').close()
        pr.config['queue_dir'] = bad
        pr._write_config_file()
        p = self.launch(pr, 'smtpd', [os.path.join(pr.build, 'smtpd'), '-c', pr.conf_file])
        self.assertEqual(p.wait(15), 1)
        self.assertEqual(self.notify.next(1), 'STOPPING=1')
        self.assertEqual(self.notify.next(0.2), '')


@needs(have_tool('systemd-socket-activate') and have_built(*SERVICES),
       'systemd-socket-activate (package systemd) and the daemons are needed')
class TestSocketActivation(Base):
    def check(self, daemon, workers=1):
        pr = self.instance(daemon, workers)
        kinds = SOCKETS[daemon]
        ports = dict(zip(kinds, free_ports(len(kinds))))
        argv = ['systemd-socket-activate', '-E', 'NOTIFY_SOCKET=' + self.notify.path,
                '--fdname=' + ':'.join(kinds)]
        for k in kinds:
            argv += ['-l', '127.0.0.1:%d' % ports[k]]
        argv += ['--', os.path.join(pr.build, daemon), '-c', pr.conf_file]
        p = self.launch(pr, daemon, argv)
        deadline = time.monotonic() + 10
        while not all(listening(ports[k]) for k in kinds):
            self.assertIsNone(p.poll(), pr.log(daemon))
            self.assertLess(time.monotonic(), deadline, 'systemd-socket-activate not listening')
            time.sleep(0.02)
        # The first connection starts the daemon, which answers it on systemd's socket.
        self.probe(pr, daemon, port=ports[kinds[0]])
        self.assertEqual(self.notify.next(), 'READY=1')
        for k in kinds:
            self.probe(pr, daemon, port=ports[k], tls=k in TLS_KINDS)
        log = pr.log(daemon)
        for k in kinds:
            self.assertIn('event=listen listener=%s addr=127.0.0.1 port=%d from=systemd'
                          % (k, ports[k]), log)
            # Its own listen keys are not bound: the ports are systemd's alone.
            self.assertFalse(listening(pr.port(KIND_KEYS[k])), KIND_KEYS[k])
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0)
        self.assertEqual(self.notify.next(), 'STOPPING=1')

    def test_smtpd(self):
        self.check('smtpd')

    def test_smtpd_two_workers(self):
        self.check('smtpd', workers=2)

    def test_pop3d(self):
        self.check('pop3d')

    def test_imapd(self):
        self.check('imapd')


if __name__ == '__main__':
    unittest.main()
