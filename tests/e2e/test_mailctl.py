"""mailctl end to end: the real binary on a throw-away config directory.

Issue 3's acceptance: adduser -> the hash verifies with Dovecot's
`doveadm pw -t` (mailctl verify when Dovecot is not installed) -> passwd ->
deluser; every bad input gives one line on stderr, a non-zero exit and
leaves the files byte-identical.
"""

import os
import pty
import select
import shutil
import subprocess
import sys
import textwrap
import time
import unittest

from harness import Postroom, start_postroom

DOVEADM = shutil.which('doveadm')


def snapshot(pr):
    """Bytes of every config file and the list of everything under mail/."""
    files = {}
    for n in sorted(os.listdir(pr.conf_dir)):
        p = os.path.join(pr.conf_dir, n)
        if os.path.isfile(p) and n != '.mailctl.lock':
            with open(p, 'rb') as f:
                files[n] = f.read()
    tree = []
    for dirpath, dirnames, filenames in os.walk(pr.dir):
        tree += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return files, sorted(tree)


class MailctlCase(unittest.TestCase):
    def setUp(self):
        self.pr = start_postroom(self, daemons=())

    def passwd_line(self, addr):
        with open(os.path.join(self.pr.conf_dir, 'passwd')) as f:
            for line in f:
                if line.split(':', 1)[0] == addr:
                    return line.rstrip('\n')
        return None

    def hash_of(self, addr):
        return self.passwd_line(addr).split(':')[1]

    def assert_password(self, addr, pw, ok=True):
        """Check the stored hash as Dovecot would, else through mailctl verify."""
        if DOVEADM:
            p = subprocess.run([DOVEADM, 'pw', '-t', self.hash_of(addr), '-p', pw],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode == 0, ok, p.stdout + p.stderr)
            if ok:
                self.assertIn('(verified)', p.stdout + p.stderr)
        else:
            p = self.pr.mailctl('verify', addr, '--password-stdin', input=pw + '\n',
                                check=False)
            self.assertEqual(p.returncode == 0, ok, p.stderr)

    def assert_fails_cleanly(self, *args, input=None, needle=None, config=None):
        """Non-zero exit, exactly one line on stderr, nothing changed."""
        before = snapshot(self.pr)
        if config is None:
            p = self.pr.mailctl(*args, input=input, check=False)
        else:
            p = subprocess.run([os.path.join(self.pr.build, 'mailctl'), '--config', config]
                               + list(args), input=input or '', capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0, 'mailctl %s succeeded' % ' '.join(args))
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, 'stderr of mailctl %s: %r' % (' '.join(args), p.stderr))
        self.assertTrue(lines[0].startswith(('mailctl: ', 'usage: mailctl')), lines[0])
        if needle:
            self.assertIn(needle, lines[0])
        self.assertEqual(snapshot(self.pr), before, 'files changed by mailctl %s' % ' '.join(args))
        return lines[0]


class TestRoundTrip(MailctlCase):
    def test_adduser_passwd_deluser(self):
        pr = self.pr
        pr.add_user('carol@example.test', 'first secret')
        line = self.passwd_line('carol@example.test')
        self.assertRegex(line, r'^carol@example\.test:\{CRYPT\}\$y\$[^:]+::::::$')
        self.assert_password('carol@example.test', 'first secret')
        self.assert_password('carol@example.test', 'wrong', ok=False)

        md = pr.maildir('carol@example.test')
        for sub in ('new', 'cur', 'tmp', '.Sent/new', '.Drafts/cur', '.Trash/tmp', '.Junk/new'):
            self.assertTrue(os.path.isdir(os.path.join(md, sub)), sub)
        if os.geteuid() == 0:
            self.assertEqual(os.stat(md).st_uid, os.stat(pr.mail_root).st_uid)

        pr.mailctl('passwd', 'carol@example.test', '--password-stdin', input='second\n')
        self.assert_password('carol@example.test', 'second')
        self.assert_password('carol@example.test', 'first secret', ok=False)

        pr.mailctl('deluser', 'carol@example.test')
        self.assertIsNone(self.passwd_line('carol@example.test'))
        self.assertFalse(os.path.exists(md))
        self.assertIsNotNone(self.passwd_line('alice@example.test'))

    def test_deluser_keep_mail(self):
        md = self.pr.maildir('bob@example.test')
        self.pr.mailctl('deluser', 'bob@example.test', '--keep-mail')
        self.assertIsNone(self.passwd_line('bob@example.test'))
        self.assertTrue(os.path.isdir(os.path.join(md, 'new')))

    def test_case_is_folded(self):
        self.pr.add_user('Dave@EXAMPLE.test', 'pw')
        self.assertIsNotNone(self.passwd_line('dave@example.test'))
        self.assert_fails_cleanly('adduser', 'DAVE@example.TEST', '--password-stdin',
                                  input='pw\n', needle='already exists')

    def test_passwd_keeps_quota(self):
        self.pr.mailctl('adduser', 'q@example.test', '--password-stdin', '--quota-bytes', '1000',
                        '--quota-messages', '7', input='pw\n')
        self.pr.mailctl('passwd', 'q@example.test', '--password-stdin', input='pw2\n')
        self.assertTrue(self.passwd_line('q@example.test').endswith(
            ':::::: quota_bytes=1000 quota_messages=7'))
        users = self.pr.mailctl('users').stdout.splitlines()
        self.assertIn('q@example.test quota_bytes=1000 quota_messages=7', users)
        self.assertIn('alice@example.test', users)

    def test_crlf_password_line(self):
        self.pr.add_user('erin@example.test', 'pw\r')
        self.assert_password('erin@example.test', 'pw')

    def prompted(self, *args, answers):
        """Run mailctl on a pseudo-terminal, answering each prompt in turn."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(os.path.join(self.pr.build, 'mailctl'),
                     ['mailctl', '--config', self.pr.conf_dir] + list(args))
        out = b''
        try:
            for answer in answers + [None]:
                while True:
                    r, _, _ = select.select([fd], [], [], 10)
                    self.assertTrue(r, 'mailctl stalled; output so far %r' % out)
                    try:
                        chunk = os.read(fd, 1024)
                    except OSError:     # EIO: the child is gone
                        chunk = b''
                    out += chunk
                    if not chunk or (answer is not None and out.endswith(b'assword: ')):
                        break
                if answer is None or not chunk:
                    break
                os.write(fd, answer + b'\n')
        finally:
            os.close(fd)
            _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out

    def test_prompts_twice_without_echo(self):
        rc, out = self.prompted('adduser', 'tty@example.test',
                                answers=[b'tty-secret', b'tty-secret'])
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count(b'assword: '), 2, out)
        self.assertNotIn(b'tty-secret', out)         # not echoed
        self.assert_password('tty@example.test', 'tty-secret')
        before = snapshot(self.pr)
        rc, out = self.prompted('passwd', 'tty@example.test', answers=[b'one', b'two'])
        self.assertEqual(rc, 1, out)
        self.assertIn(b'do not match', out)
        self.assertEqual(snapshot(self.pr), before)

    def test_help(self):
        out = self.pr.mailctl('help').stdout
        for word in ('SYNOPSIS', 'adduser', 'deluser', 'passwd', 'users', 'adddomain',
                     'deldomain', 'domains', 'group add', 'alias add', 'reload'):
            self.assertIn(word, out)


class TestBadInput(MailctlCase):
    def test_bad_address(self):
        for addr in ('alice', 'alice@', '@example.test', 'a b@example.test', 'a..b@example.test',
                     'alice@exa_mple.test', 'x' * 65 + '@example.test'):
            self.assert_fails_cleanly('adduser', addr, '--password-stdin', input='pw\n',
                                      needle='not a valid address')

    def test_unknown_domain(self):
        self.assert_fails_cleanly('adduser', 'alice@other.test', '--password-stdin',
                                  input='pw\n', needle='unknown domain')

    def test_existing_user(self):
        self.assert_fails_cleanly('adduser', 'alice@example.test', '--password-stdin',
                                  input='pw\n', needle='already exists')

    def test_empty_password(self):
        self.assert_fails_cleanly('adduser', 'new@example.test', '--password-stdin',
                                  input='\n', needle='empty password')
        self.assert_fails_cleanly('adduser', 'new@example.test', '--password-stdin',
                                  input='', needle='no password')
        self.assert_fails_cleanly('passwd', 'alice@example.test', '--password-stdin',
                                  input='\n', needle='empty password')

    def test_no_terminal(self):
        self.assert_fails_cleanly('adduser', 'new@example.test', input='pw\n',
                                  needle='--password-stdin')

    def test_unreadable_config(self):
        broken = os.path.join(self.pr.dir, 'broken')
        shutil.copytree(self.pr.conf_dir, broken)
        self.assert_fails_cleanly('adduser', 'new@example.test', '--password-stdin',
                                  input='pw\n', config=os.path.join(self.pr.dir, 'nonexistent'),
                                  needle='no such file')
        with open(os.path.join(broken, 'postroom.conf'), 'a') as f:
            f.write('this is not a setting\n')
        self.assert_fails_cleanly('adduser', 'new@example.test', '--password-stdin',
                                  input='pw\n', config=broken, needle='postroom.conf:')
        os.unlink(os.path.join(broken, 'postroom.conf'))
        os.mkdir(os.path.join(broken, 'postroom.conf'))
        self.assert_fails_cleanly('users', config=broken)

    def test_broken_directory_file_is_not_edited(self):
        path = os.path.join(self.pr.conf_dir, 'passwd')
        with open(path, 'a') as f:
            f.write('garbage line without a password field\n')
        line = self.assert_fails_cleanly('adduser', 'new@example.test', '--password-stdin',
                                         input='pw\n')
        self.assertIn('passwd:3', line)

    def test_other_bad_edits(self):
        cases = [
            (('deluser', 'ghost@example.test'), 'no such user'),
            (('passwd', 'ghost@example.test', '--password-stdin'), 'no such user'),
            (('adddomain', 'example.test'), 'already exists'),
            (('adddomain', 'bad_domain.test'), 'not a valid domain'),
            (('deldomain', 'example.test'), 'still has 2 user'),
            (('deldomain', 'nosuch.test'), 'no such domain'),
            (('adddomain', 'example.test', '--catchall', 'ghost'), 'ghost@example.test'),
            (('group', 'add', 'team@example.test', 'ghost@example.test'), 'ghost@example.test'),
            (('group', 'add', 'alice@example.test', 'bob@example.test'), 'already a user'),
            (('group', 'add', 'team@other.test', 'bob@example.test'), 'unknown domain'),
            (('group', 'del', 'team@example.test'), 'no such group'),
            (('alias', 'add', 'pm@example.test', 'someone@remote.test'), 'not a local address'),
            (('alias', 'add', 'pm@example.test', 'not an address'), 'not a valid address'),
            (('alias', 'del', 'pm@example.test'), 'no such alias'),
            (('frobnicate',), 'unknown command'),
            (('adduser',), 'usage'),
            (('group', 'add', 'team@example.test'), 'usage'),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                self.assert_fails_cleanly(*args, input='pw\n', needle=needle)


class TestGroupsAliasesDomains(MailctlCase):
    def test_groups(self):
        pr = self.pr
        pr.add_group('team@example.test', ['alice@example.test', 'Bob@example.test'])
        self.assertEqual(pr.mailctl('group', 'members', 'team@example.test').stdout.split(),
                         ['alice@example.test', 'bob@example.test'])
        pr.add_group('all@example.test', ['team@example.test', 'alice@example.test'])
        line = self.assert_fails_cleanly('group', 'add', 'team@example.test', 'all@example.test')
        self.assertIn('cycle', line)
        self.assert_fails_cleanly('deluser', 'bob@example.test', needle='bob@example.test')
        self.assert_fails_cleanly('group', 'del', 'team@example.test', needle='team@example.test')
        pr.mailctl('group', 'del', 'team@example.test', 'alice@example.test')
        self.assertEqual(pr.mailctl('group', 'members', 'team@example.test').stdout.split(),
                         ['bob@example.test'])
        pr.mailctl('group', 'del', 'all@example.test')
        pr.mailctl('group', 'del', 'team@example.test', 'bob@example.test')
        with open(os.path.join(pr.conf_dir, 'groups')) as f:
            self.assertEqual(f.read(), '')

    def test_aliases(self):
        pr = self.pr
        pr.add_alias('postmaster@example.test', ['alice@example.test'])
        pr.add_alias('postmaster@example.test', ['bob@example.test'])
        self.assertEqual(pr.mailctl('alias', 'list').stdout,
                         'postmaster@example.test: alice@example.test, bob@example.test\n')
        self.assert_fails_cleanly('group', 'add', 'postmaster@example.test',
                                  'alice@example.test', needle='already a alias')
        pr.mailctl('alias', 'del', 'postmaster@example.test')
        self.assertEqual(pr.mailctl('alias', 'list').stdout, '')

    def test_domains_and_catchall(self):
        pr = self.pr
        pr.add_domain('Other.Test')
        pr.add_user('x@other.test', 'pw')
        pr.add_domain('other.test', catchall='x')
        self.assertEqual(pr.mailctl('domains').stdout,
                         'example.test\nother.test catchall=x\n')
        self.assertEqual(pr.mailctl('users', 'other.test').stdout, 'x@other.test\n')
        self.assert_fails_cleanly('deldomain', 'other.test', needle='1 user')
        self.assert_fails_cleanly('deluser', 'x@other.test', needle='catchall')
        pr.add_domain('third.test')
        pr.mailctl('deldomain', 'third.test')
        self.assertNotIn('third.test', pr.mailctl('domains').stdout)


class TestLockAndReload(MailctlCase):
    def test_parallel_adds_all_land(self):
        exe = os.path.join(self.pr.build, 'mailctl')
        procs = [subprocess.Popen([exe, '--config', self.pr.conf_dir, 'adduser',
                                   'u%d@example.test' % i, '--password-stdin'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for i in range(8)]
        for p in procs:
            out, err = p.communicate('pw\n', timeout=60)
            self.assertEqual(p.returncode, 0, err)
        users = self.pr.mailctl('users').stdout.split()
        self.assertEqual(len(users), 10)
        for i in range(8):
            self.assertIn('u%d@example.test' % i, users)
        self.assertEqual([n for n in os.listdir(self.pr.conf_dir) if n.startswith('.mailctl.')],
                         ['.mailctl.lock'])

    def fake_daemon(self, name, conf, status_file=None):
        """A process called `name` (a python3 symlink) that records SIGHUPs."""
        d = os.path.join(self.pr.dir, 'fake-%s-%d' % (name, len(os.listdir(self.pr.dir))))
        os.mkdir(d)
        exe = os.path.join(d, name)
        os.symlink(os.path.realpath(sys.executable), exe)
        script = os.path.join(d, 'daemon.py')
        hups = os.path.join(d, 'hups')
        with open(script, 'w') as f:
            f.write(textwrap.dedent('''\
                import signal, sys, time
                def hup(*a):
                    with open(%r, 'a') as f:
                        f.write('hup\\n')
                signal.signal(signal.SIGHUP, hup)
                print('ready', flush=True)
                while True:
                    time.sleep(1)
                ''' % hups))
        p = subprocess.Popen([exe, script, '-c', conf], stdout=subprocess.PIPE, text=True)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline().strip(), 'ready')
        if status_file:     # as lib/daemon_status.c writes it
            with open(status_file, 'w') as f:
                f.write('daemon=%s\npid=%d\n' % (name, p.pid))
        return p, hups

    def hups(self, path):
        try:
            with open(path) as f:
                return f.read().count('hup')
        except FileNotFoundError:
            return 0

    def test_reload_by_scan_signals_only_our_daemons(self):
        ours, ours_hups = self.fake_daemon('smtpd', self.pr.conf_file)
        other_conf = os.path.join(self.pr.dir, 'other.conf')
        open(other_conf, 'w').close()
        theirs, theirs_hups = self.fake_daemon('smtpd', other_conf)
        out = self.pr.mailctl('reload').stdout
        self.assertIn('smtpd (pid %d)' % ours.pid, out)
        self.pr.wait_for(lambda: self.hups(ours_hups) == 1)
        # An edit reloads too.
        self.pr.add_user('f@example.test', 'pw')
        self.pr.wait_for(lambda: self.hups(ours_hups) == 2)
        time.sleep(0.2)
        self.assertEqual(self.hups(theirs_hups), 0)

    def status_file(self, name):
        os.makedirs(os.path.join(self.pr.state_dir, 'run'), exist_ok=True)
        return os.path.join(self.pr.state_dir, 'run', name + '.status')

    def test_reload_by_status_file(self):
        p, hups = self.fake_daemon('pop3d', '/nonexistent.conf',
                                   status_file=self.status_file('pop3d'))
        self.assertIn('pop3d (pid %d)' % p.pid, self.pr.mailctl('reload').stdout)
        self.pr.wait_for(lambda: self.hups(hups) == 1)

    def test_stale_status_file_is_ignored(self):
        with open(self.status_file('smtpd'), 'w') as f:
            f.write('daemon=smtpd\npid=%d\n' % os.getpid())    # alive, but not an smtpd
        p = self.pr.mailctl('reload')
        self.assertEqual(p.stdout, '')
        self.assertIn('no running daemon', p.stderr)


class TestConfig(unittest.TestCase):
    def test_config_prints_the_settings(self):
        """mailctl config: every key as the daemons read it (file, else default);
        named keys only when given; a deprecated name shows as its new key."""
        with Postroom(daemons=(), config={'max_bad_commands': 4,
                                          'smtpd.max_message_size': 10240}) as pr:
            lines = pr.mailctl('config').stdout.splitlines()
            self.assertIn('mail_root = %s' % pr.mail_root, lines)
            self.assertIn('auth_fail_delay = 100ms', lines)
            self.assertIn('smtpd.max_message_size = 10K', lines)
            self.assertIn('pop3d.max_errors = 4', lines)
            self.assertIn('smtpd.max_errors = 10', lines)
            self.assertFalse(any(line.startswith('max_bad_commands') for line in lines))
            p = pr.mailctl('config', 'smtpd.max_errors', 'max_bad_commands')
            self.assertEqual(p.stdout, 'smtpd.max_errors = 10\npop3d.max_errors = 4\n')
            p = pr.mailctl('config', 'workers', 'smtpd.max_eror', check=False)
            self.assertEqual((p.returncode, p.stdout), (1, ''))
            self.assertEqual(p.stderr, 'mailctl: smtpd.max_eror: unknown key\n')


if __name__ == '__main__':
    unittest.main()
