"""What every daemon gets from lib/daemon and lib/tls (issue 3's acceptance),
checked on each daemon that is built:

- started as root, it holds no root privilege once it serves (/proc/PID/status);
- SIGHUP with a broken config keeps the old config running and logs file:line;
- the implicit-TLS port completes TLS 1.2 and 1.3 handshakes with
  `openssl s_client` and refuses TLS 1.1 and 1.0;
- a user added with mailctl while the daemon runs is served after the
  reload mailctl triggers, without a restart;
- its threads share two malloc arenas (issue 18: memory after the sessions).
"""

import os
import poplib
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import unittest

from harness import have_built, is_root, require, sanitized, start_postroom

# daemon -> (plain listener, implicit-TLS listener, greeting prefix)
DAEMONS = {
    'smtpd': ('smtpd.mx_listen', 'smtpd.submissions_listen', b'220 '),
    'pop3d': ('pop3d.listen', 'pop3d.tls_listen', b'+OK'),
}

OPENSSL = shutil.which('openssl')


def greeting(port):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        return s.recv(512)


def status_ids(pid):
    """Uid, Gid (real, effective, saved, fs), Groups and CapEff of a process."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('Uid', 'Gid', 'Groups', 'CapEff', 'CapPrm'):
                out[key] = value.split()
    return out


def descendants(pid):
    """pid and every process below it."""
    children = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


class DaemonCase:
    """Mixed into one TestCase per daemon; skipped when the daemon is not built."""
    name = None

    def setUp(self):
        require(have_built(self.name), '%s not built' % self.name)
        self.plain_key, self.tls_key, self.greeting = DAEMONS[self.name]

    def start(self, **config):
        pr = start_postroom(self, daemons=(self.name,), config=config)
        return pr

    def test_no_root_privileges_once_serving(self):
        require(is_root(), 'needs root: the privilege drop only happens when started as root')
        pr = self.start(workers=2)
        self.assertTrue(greeting(pr.port(self.plain_key)).startswith(self.greeting))
        nobody = pwd.getpwnam('nobody')
        procs = descendants(pr.pid(self.name))
        self.assertGreaterEqual(len(procs), 1)
        for pid in procs:
            ids = status_ids(pid)
            with self.subTest(pid=pid):
                self.assertEqual(ids['Uid'], [str(nobody.pw_uid)] * 4, ids)
                self.assertEqual(ids['Gid'], [str(nobody.pw_gid)] * 4, ids)
                self.assertIn(ids.get('Groups', []), ([], [str(nobody.pw_gid)]), ids)
                self.assertEqual(int(ids['CapEff'][0], 16), 0, ids)
                self.assertEqual(int(ids['CapPrm'][0], 16), 0, ids)

    def test_broken_config_on_sighup_keeps_old_one(self):
        pr = self.start()
        port = pr.port(self.plain_key)
        self.assertTrue(greeting(port).startswith(self.greeting))
        with open(pr.conf_file) as f:
            good = f.read()
        nlines = good.count('\n')
        with open(pr.conf_file, 'a') as f:
            f.write('max_connections = lots\n')
        pr.reload()
        pat = re.compile(r'%s:%d:' % (re.escape(pr.conf_file), nlines + 1))
        pr.wait_for(lambda: pat.search(pr.log(self.name)))
        self.assertTrue(pr.running(self.name), pr.log(self.name))
        self.assertTrue(greeting(port).startswith(self.greeting))
        # A good config is taken again afterwards.
        with open(pr.conf_file, 'w') as f:
            f.write(good)
        ok = re.compile(r'event=reload status=ok')
        before = len(ok.findall(pr.log(self.name)))
        pr.reload()
        pr.wait_for(lambda: len(ok.findall(pr.log(self.name))) > before)
        self.assertTrue(greeting(port).startswith(self.greeting))

    def s_client(self, port, *args):
        return subprocess.run([OPENSSL, 's_client', '-connect', '127.0.0.1:%d' % port,
                               '-servername', 'localhost', '-brief'] + list(args),
                              input='', capture_output=True, text=True, timeout=20)

    def test_tls_versions_on_implicit_tls_port(self):
        require(OPENSSL, 'openssl not installed')
        pr = self.start()
        port = pr.port(self.tls_key)
        for version, name in (('-tls1_2', 'TLSv1.2'), ('-tls1_3', 'TLSv1.3')):
            with self.subTest(version=version):
                p = self.s_client(port, version)
                out = p.stdout + p.stderr
                self.assertIn('CONNECTION ESTABLISHED', out)
                self.assertIn('Protocol version: %s' % name, out)
        # SECLEVEL=0 makes the client willing, so the refusal is the server's.
        for version in ('-tls1_1', '-tls1'):
            with self.subTest(version=version):
                p = self.s_client(port, version, '-cipher', 'DEFAULT@SECLEVEL=0')
                out = p.stdout + p.stderr
                self.assertNotEqual(p.returncode, 0, out)
                self.assertNotIn('CONNECTION ESTABLISHED', out)
        # The daemon is still fine afterwards.
        p = self.s_client(port, '-tls1_3')
        self.assertIn('CONNECTION ESTABLISHED', p.stdout + p.stderr)


    def test_mailctl_edit_reaches_running_daemon(self):
        pr = self.start()
        pr.add_user('carol@example.test', 'carol-pw')
        self.assertTrue(pr.wait_for(
            lambda: pr.knows_user(self.name, 'carol@example.test', 'carol-pw'), timeout=10))


    def exercise(self, pr):
        """Work for the loop, the workq and the authq threads: deliveries for
        smtpd; logins, STAT and RETR of a few messages for pop3d."""
        if self.name == 'smtpd':
            for i in range(8):
                with smtplib.SMTP('127.0.0.1', pr.port(self.plain_key), timeout=10) as s:
                    s.sendmail('someone@remote.test', ['alice@example.test'],
                               b'Subject: %d\r\n\r\nbody\r\n' % i)
            return
        new = os.path.join(pr.maildir('alice@example.test'), 'new')
        for i in range(8):
            with open(os.path.join(new, '17000000%02d.P1Q%d.test' % (i, i)), 'wb') as f:
                f.write(b'Subject: %d\n\nbody\n' % i)
        for _ in range(8):
            p = poplib.POP3('127.0.0.1', pr.port(self.plain_key), timeout=10)
            p.user('alice@example.test')
            p.pass_('alice-pw')
            self.assertEqual(p.stat()[0], 8)
            for i in range(1, 9):
                p.retr(i)
            p.quit()

    def test_threads_share_two_malloc_arenas(self):
        """glibc gives each thread that allocates an arena of its own (up to 8 per
        core), which keeps what it once held: every workq and authq thread kept
        160-220 KB after the sessions closed.  daemon_run caps them at two: the
        main one (the program's heap) and at most one other, a 64 MiB-aligned
        mapping."""
        if sanitized():
            self.skipTest("ASan's allocator replaces glibc's: no arenas to count")
        pr = self.start(workers=1)
        self.exercise(pr)
        for pid in descendants(pr.pid(self.name)):
            with self.subTest(pid=pid):
                self.assertLessEqual(len(arena_heaps(pid)), 1, arena_heaps(pid))


def arena_heaps(pid):
    """Start addresses of pid's glibc arena heaps other than the main one:
    anonymous read-write mappings on a 64 MiB boundary, the rest of the 64 MiB
    reserved behind them (mapped ---p)."""
    maps = []
    with open('/proc/%d/maps' % pid) as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split('-'))
            maps.append((lo, hi, fields[1], len(fields) > 5))
    heaps = []
    for (lo, hi, perms, named), nxt in zip(maps, maps[1:] + [None]):
        if (lo % (64 << 20) == 0 and perms == 'rw-p' and not named and nxt is not None and
                nxt[0] == hi and nxt[2] == '---p' and nxt[1] - lo == 64 << 20):
            heaps.append(hex(lo))
    return heaps


class TestSmtpdDaemon(DaemonCase, unittest.TestCase):
    name = 'smtpd'


class TestPop3dDaemon(DaemonCase, unittest.TestCase):
    name = 'pop3d'


if __name__ == '__main__':
    unittest.main()
