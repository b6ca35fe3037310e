"""make install / uninstall (issue 17): the tree under DESTDIR, the installed
daemons serving real SMTP, POP3 and IMAP sessions (the harness pointed at the
installed sbin/), an edited config file kept by a second install, uninstall
keeping config and mail; mailctl setup; the man pages render without a warning
and document every key and every mailctl command.
"""

import filecmp
import imaplib
import os
import poplib
import pwd
import re
import shutil
import smtplib
import stat
import subprocess
import sys
import tempfile
import unittest

from harness import ROOT, Postroom, build_dir, have_built, have_tool, is_root, require

PROGS = ('smtpd', 'relayd', 'pop3d', 'imapd', 'deliver', 'mailctl')
CONF_FILES = ('postroom.conf', 'domains', 'passwd', 'groups', 'aliases', 'senders')
STATE_DIRS = ('var/lib/postroom', 'var/lib/postroom/mail', 'var/spool/postroom')
MAN = os.path.join(ROOT, 'man')
ALICE = ('alice@example.test', 'alice-pw')


def make(target, dest):
    """make TARGET DESTDIR=dest PREFIX=/usr sysconfdir=/etc; its output."""
    return subprocess.run(
        ['make', '-s', '--no-print-directory', '-C', ROOT, target, 'DESTDIR=' + dest,
         'PREFIX=/usr', 'sysconfdir=/etc', 'BUILD=' + build_dir()],
        check=True, capture_output=True, text=True, timeout=120).stdout


def installed(dest, *parts):
    return os.path.join(dest, *parts)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def man_pages():
    return sorted(n for n in os.listdir(MAN) if re.search(r'\.[58]$', n))


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(have_built(*PROGS), 'not every program is built')
        cls.dest = tempfile.mkdtemp(prefix='postroom-install-')
        cls.addClassCleanup(shutil.rmtree, cls.dest, True)
        make('install', cls.dest)

    def test_tree(self):
        for p in PROGS:
            self.assertEqual(mode(installed(self.dest, 'usr/sbin', p)), 0o755, p)
        for f in CONF_FILES:
            path = installed(self.dest, 'etc/postroom', f)
            self.assertEqual(mode(path), 0o640, f)
            self.assertTrue(filecmp.cmp(path, os.path.join(ROOT, 'etc', f), shallow=False), f)
        for d in STATE_DIRS:
            self.assertTrue(stat.S_ISDIR(os.lstat(installed(self.dest, d)).st_mode), d)
            self.assertEqual(mode(installed(self.dest, d)), 0o750, d)
        for m in man_pages():
            self.assertTrue(os.path.isfile(
                installed(self.dest, 'usr/share/man', 'man' + m[-1], m)), m)
        units = os.path.join(ROOT, 'etc', 'systemd')
        for u in sorted(os.listdir(units)) if os.path.isdir(units) else ():
            with open(installed(self.dest, 'usr/lib/systemd/system', u)) as f:
                text = f.read()
            self.assertNotIn('@sbindir@', text, u)
            self.assertNotIn('@sysconfdir@', text, u)
        # deliver went to sbin with the rest: nothing under lib/postroom any more.
        self.assertFalse(os.path.exists(installed(self.dest, 'usr/lib/postroom')))

    def test_installed_daemons_serve(self):
        sbin = tempfile.mkdtemp(prefix='postroom-sbin-')
        self.addCleanup(shutil.rmtree, sbin, True)
        for p in PROGS:
            os.symlink(installed(self.dest, 'usr/sbin', p), os.path.join(sbin, p))
        with Postroom(build=sbin, daemons=('smtpd', 'pop3d', 'imapd')) as pr:
            self.assertEqual(os.path.realpath(os.readlink('/proc/%d/exe' % pr.pid('smtpd'))),
                             os.path.realpath(installed(self.dest, 'usr/sbin/smtpd')))
            with smtplib.SMTP('127.0.0.1', pr.port('smtpd.mx_listen'), timeout=10) as s:
                s.sendmail('x@remote.test', [ALICE[0]], b'Subject: installed\r\n\r\nhi\r\n')
            pr.wait_for(lambda: len(pr.messages(ALICE[0])) == 1)
            p = poplib.POP3('127.0.0.1', pr.port('pop3d.listen'), timeout=10)
            p.user(ALICE[0])
            p.pass_(ALICE[1])
            _, lines, _ = p.retr(1)
            p.quit()
            self.assertIn(b'Subject: installed', lines)
            with imaplib.IMAP4('127.0.0.1', pr.port('imapd.listen'), timeout=10) as c:
                c.login(*ALICE)
                typ, data = c.select('INBOX', readonly=True)
                self.assertEqual((typ, data), ('OK', [b'1']))
                typ, data = c.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
                self.assertEqual(typ, 'OK')
                self.assertIn(b'Subject: installed', data[0][1])

    def test_reinstall_keeps_edits_uninstall_keeps_config(self):
        dest = tempfile.mkdtemp(prefix='postroom-reinstall-')
        self.addCleanup(shutil.rmtree, dest, True)
        make('install', dest)
        conf = installed(dest, 'etc/postroom/postroom.conf')
        with open(conf, 'a') as f:
            f.write('hostname = mail.example.org\n')
        with open(conf) as f:
            edited = f.read()
        out = make('install', dest)
        with open(conf) as f:
            self.assertEqual(f.read(), edited)
        self.assertIn('kept /etc/postroom/postroom.conf', out)
        self.assertTrue(filecmp.cmp(conf + '.dist', os.path.join(ROOT, 'etc/postroom.conf'),
                                    shallow=False))
        # An unchanged file gets no .dist.
        self.assertFalse(os.path.exists(installed(dest, 'etc/postroom/passwd.dist')))

        make('uninstall', dest)
        for p in PROGS:
            self.assertFalse(os.path.lexists(installed(dest, 'usr/sbin', p)), p)
        for m in man_pages():
            self.assertFalse(os.path.lexists(installed(dest, 'usr/share/man', 'man' + m[-1], m)))
        with open(conf) as f:
            self.assertEqual(f.read(), edited)
        for f in CONF_FILES:
            self.assertTrue(os.path.isfile(installed(dest, 'etc/postroom', f)), f)
        for d in STATE_DIRS:
            self.assertTrue(os.path.isdir(installed(dest, d)), d)


class Setup(unittest.TestCase):
    """mailctl setup creates the system user once and gives it the directories."""

    def setUp(self):
        require(have_built('mailctl'), 'mailctl not built')
        self.dir = tempfile.mkdtemp(prefix='postroom-setup-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.conf = os.path.join(self.dir, 'conf')
        os.mkdir(self.conf)
        self.user = 'prsetup%d' % os.getpid()
        self.dirs = [os.path.join(self.dir, d) for d in ('state', 'spool', 'state/mail')]
        with open(os.path.join(self.conf, 'postroom.conf'), 'w') as f:
            f.write('user = %s\nstate_dir = %s\nqueue_dir = %s\nmail_root = %s\n' %
                    (self.user, *self.dirs))
        with open(os.path.join(self.conf, 'passwd'), 'w'):
            pass
        os.chmod(os.path.join(self.conf, 'passwd'), 0o600)

    def setup(self, user=None):
        return subprocess.run([os.path.join(build_dir(), 'mailctl'), '--config', self.conf,
                               'setup'], capture_output=True, text=True, timeout=30, user=user)

    def test_setup_twice(self):
        require(is_root() and have_tool('useradd', 'userdel'), 'needs root and useradd')
        first = self.setup()
        self.addCleanup(subprocess.run, ['userdel', self.user], capture_output=True)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertIn('created system user %s' % self.user, first.stdout)
        pw = pwd.getpwnam(self.user)
        self.assertEqual(pw.pw_shell, '/usr/sbin/nologin')
        self.assertLess(pw.pw_uid, 1000)
        # state_dir stays root's (the units give root no CAP_DAC_OVERRIDE): its run/ is the user's
        owners = {self.dirs[0]: 0, os.path.join(self.dirs[0], 'run'): pw.pw_uid}
        for d in self.dirs + [os.path.join(self.dirs[0], 'run')]:
            st = os.lstat(d)
            self.assertEqual((st.st_uid, st.st_gid, mode(d)),
                             (owners.get(d, pw.pw_uid), pw.pw_gid, 0o750), d)
        st = os.lstat(os.path.join(self.conf, 'passwd'))
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (0, pw.pw_gid, 0o640))
        second = self.setup()
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(second.stdout, 'user %s exists\n' % self.user)

    def test_bad_user_name(self):
        """The name goes on useradd's command line: one that reads as an option is refused."""
        require(is_root(), 'needs root')
        path = os.path.join(self.conf, 'postroom.conf')
        with open(path) as f:
            text = f.read().replace('user = %s\n' % self.user, 'user = --badname\n')
        with open(path, 'w') as f:
            f.write(text)
        r = self.setup()
        self.assertEqual(r.returncode, 1)
        self.assertIn('not a system user name', r.stderr)
        self.assertEqual([d for d in self.dirs if os.path.lexists(d)], [])

    def test_refused_unless_root(self):
        """Not root (as root: run as nobody), setup changes nothing and says why."""
        if is_root():
            for d in (self.dir, self.conf):
                os.chmod(d, 0o755)
        r = self.setup(user='nobody' if is_root() else None)
        self.assertEqual(r.returncode, 1)
        self.assertIn('run it as root', r.stderr)
        self.assertEqual([d for d in self.dirs if os.path.lexists(d)], [])


class ManPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(have_tool('groff', 'man'), 'groff and man-db not installed')

    def test_render_without_warnings(self):
        self.assertEqual(len(man_pages()), 7)
        for m in man_pages():
            path = os.path.join(MAN, m)
            r = subprocess.run(['groff', '-man', '-ww', '-z', path], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual((r.returncode, r.stderr), (0, ''), m)
            r = subprocess.run(['man', '--warnings', '-l', path], capture_output=True,
                               text=True, timeout=30, env=dict(os.environ, MANWIDTH='80'))
            self.assertEqual((r.returncode, r.stderr), (0, ''), m)

    def test_conf_page_generated_with_every_key(self):
        gen = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'gen_confman.py')],
                             check=True, capture_output=True, text=True, timeout=30).stdout
        with open(os.path.join(MAN, 'postroom.conf.5')) as f:
            self.assertEqual(f.read(), gen, 'run: python3 tools/gen_confman.py > '
                             'man/postroom.conf.5')
        require(have_built('mailctl'), 'mailctl not built')
        keys = subprocess.run([os.path.join(build_dir(), 'mailctl'), '--config',
                               os.path.join(ROOT, 'etc'), 'config'], check=True,
                              capture_output=True, text=True, timeout=30).stdout
        keys = [line.split(' =')[0] for line in keys.splitlines()]
        self.assertGreater(len(keys), 50)
        missing = [k for k in keys if '\n\\fB%s\\fR =' % k not in gen]
        self.assertEqual(missing, [])

    def test_mailctl_page_has_every_command(self):
        require(have_built('mailctl'), 'mailctl not built')
        text = subprocess.run([os.path.join(build_dir(), 'mailctl'), 'help'], check=True,
                              capture_output=True, text=True, timeout=30).stdout
        section = text.split('\nCOMMANDS\n')[1].split('\nFILES\n')[0]
        commands = set(re.findall(r'^     ([a-z][a-z-]*)', section, re.M))
        self.assertIn('setup', commands)
        with open(os.path.join(MAN, 'mailctl.8')) as f:
            page = f.read()
        missing = [c for c in sorted(commands)
                   if '\n\\fB%s\\fR' % c.replace('-', '\\-') not in page]
        self.assertEqual(missing, [])


if __name__ == '__main__':
    unittest.main()
