"""The end-to-end harness: real binaries, loopback ports, a throw-away config.

    from harness import Postroom

    with Postroom(daemons=('smtpd',)) as pr:
        with smtplib.SMTP('127.0.0.1', pr.port('smtpd.mx_listen')) as s:
            s.sendmail('x@remote.test', ['alice@example.test'], b'Subject: hi\\r\\n\\r\\nhi\\r\\n')
        assert pr.messages('alice@example.test')

Every instance gets its own temporary directory (conf/, mail/, queue/, tls/, log/),
every listener its own free port on 127.0.0.1, and the users alice@example.test
("alice-pw") and bob@example.test ("bob-pw"), created with the real mailctl
(once per run: later instances copy its files).
On exit the daemons are stopped and their logs scanned for sanitizer reports.

API: .dir .conf_dir .conf_file .mail_root .queue_dir .state_dir .cert .config (dict);
.port(key); .mailctl(*args, input=None, check=True); .add_domain(d, catchall=None);
.add_user(addr, pw); .add_group(group, members); .add_alias(alias, targets);
.maildir(addr); .messages(addr, folder='INBOX'); .start(name) .stop(name)
.kill(name, sig=9) .restart(name) .pid(name) .running(name) .reload() .log(name);
.knows_user(daemon, addr, pw); .ssl_context(); .wait_for(fn, timeout=5); children(pid).

Test set-up: start_postroom(case, daemons=..., config=...) enters an
instance for one test (case is self) or one class (case is cls, in
setUpClass) and exits it in that test's or class's clean-up.

Prerequisites: require(ok, why) and the class decorator @needs(ok, why) skip
when something the test needs (root, a package, a built binary) is missing,
but FAIL under CI (CI set in the environment, as CI sets it), so a green CI
run never hides a test that did not run.  have_built(), have_tool() and
is_root() are the usual conditions.

POSTROOM_BUILD (set by run.py) names the build directory; POSTROOM_KEEP=1
keeps the temporary directory for a post-mortem.  Python stdlib only.
"""

import atexit
import ctypes
import os
import poplib
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Listener keys per daemon: the harness gives each a free port and waits for it.
LISTENERS = {
    'smtpd': ('smtpd.mx_listen', 'smtpd.submission_listen', 'smtpd.submissions_listen'),
    'pop3d': ('pop3d.listen', 'pop3d.tls_listen'),
    'imapd': ('imapd.listen', 'imapd.tls_listen'),
}
# Unix socket listeners: the harness puts them in the instance's directory.
UNIX_LISTENERS = {
    'relayd': ('relayd.control_listen',),
}

SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:')

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

USERS = (('alice@example.test', 'alice-pw'), ('bob@example.test', 'bob-pw'))

_tls_cache = None
_users_templates = {}
USERS_FILES = ('domains', 'passwd', '.mailctl.lock')   # what mailctl wrote in conf/
_subreaper = False
PR_SET_CHILD_SUBREAPER = 36


def build_dir(build=None):
    """The build directory: argument, else $POSTROOM_BUILD, else build/ (repo-relative)."""
    build = build or os.environ.get('POSTROOM_BUILD') or 'build'
    return build if os.path.isabs(build) else os.path.join(ROOT, build)


def in_ci():
    return os.environ.get('CI', '') not in ('', '0', 'false')


def require(ok, why):
    """Go on if ok; else skip (locally) or fail (under CI) with why."""
    if ok:
        return
    if in_ci():
        raise AssertionError('prerequisite missing under CI (tools/deps.sh installs '
                             'the packages; CI runs as root): ' + why)
    raise unittest.SkipTest(why)


def needs(ok, why):
    """Class decorator: the whole class is skipped (locally) or fails (under CI)."""
    def decorate(cls):
        if ok:
            return cls
        if not in_ci():
            return unittest.skip(why)(cls)

        def set_up_class(klass):
            require(False, why)
        cls.setUpClass = classmethod(set_up_class)
        return cls
    return decorate


def have_built(*names):
    """All of build/<name> exist as executable files (not the object directories)."""
    for n in names:
        p = os.path.join(build_dir(), n)
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            return False
    return True


def sanitized():
    """The build is ASan-instrumented."""
    with open(os.path.join(build_dir(), 'smtpd'), 'rb') as f:
        return b'__asan_' in f.read()


def asan_reuse_freed(case):
    """For daemons case starts next, on a sanitized build: ASan keeps freed
    blocks in quarantine (256 MB), so an RSS bound would count every buffer
    ever freed, not what is live.  Reuse them at once; restored at clean-up."""
    if not sanitized():
        return
    old = os.environ.get('ASAN_OPTIONS')
    os.environ['ASAN_OPTIONS'] = (old + ':' if old else '') + 'quarantine_size_mb=0'
    case.addCleanup(lambda: os.environ.__setitem__('ASAN_OPTIONS', old)
                    if old is not None else os.environ.pop('ASAN_OPTIONS', None))


def have_tool(*names):
    return all(shutil.which(n) for n in names)


def is_root():
    return os.geteuid() == 0


def start_postroom(case, **kwargs):
    """A started Postroom(**kwargs), stopped in case's clean-up: case is a
    TestCase (one instance per test) or its class (one per class)."""
    pr = Postroom(**kwargs)
    pr.__enter__()
    if isinstance(case, type):
        case.addClassCleanup(pr.__exit__, None, None, None)
    else:
        case.addCleanup(pr.__exit__, None, None, None)
    return pr


def _tls_files():
    """One self-signed certificate per test run (RSA key generation is slow)."""
    global _tls_cache
    if _tls_cache is None:
        d = tempfile.mkdtemp(prefix='postroom-tls-')
        atexit.register(shutil.rmtree, d, True)
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                        '-days', '3', '-subj', '/CN=localhost',
                        '-keyout', os.path.join(d, 'key.pem'),
                        '-out', os.path.join(d, 'cert.pem')],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _tls_cache = d
    return os.path.join(_tls_cache, 'cert.pem'), os.path.join(_tls_cache, 'key.pem')


def _listening_ports():
    """Ports in LISTEN state on any address, from /proc/net/tcp{,6}; None if unreadable."""
    ports = set()
    found = False
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == '0A':
                        ports.add(int(fields[1].rsplit(':', 1)[1], 16))
            found = True
        except OSError:
            pass
    return ports if found else None


def _port_accepts(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return True
    except OSError:
        return False


def _unix_accepts(path):
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def children(pid):
    """Direct children of pid (a daemon's workers), from /proc, sorted."""
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return sorted(out)


def stop_process(pid, timeout=5.0):
    """SIGSTOP pid and wait until it is stopped: the signal is delivered
    asynchronously, and a worker still running could accept the very
    connection the caller makes next, then stop holding it."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while True:
        with open('/proc/%d/stat' % pid) as f:
            if f.read().rsplit(')', 1)[1].split()[0] in ('T', 't'):
                return
        if time.monotonic() > deadline:
            raise AssertionError('process %d not stopped after %.0f s' % (pid, timeout))
        time.sleep(0.001)


def _become_subreaper():
    """Orphans of a killed daemon become our children, so _reaped_or_gone()
    reaps them at once instead of waiting for PID 1 to (which, on some
    machines, takes about a second)."""
    global _subreaper
    if not _subreaper:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _reaped_or_gone(pid):
    """Reap pid if it is our zombie; False while it still exists (a zombie still
    counts: kill(pid, 0) finds it, so a restarted daemon would take its files
    for a live writer's)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass                # not ours: PID 1 reaps it
    return not os.path.exists('/proc/%d' % pid)


def _clone(src, dst):
    """Copy a file or a tree with modes, times and (as root) owners."""
    if os.path.isdir(src) and not os.path.islink(src):
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            _clone(os.path.join(src, name), os.path.join(dst, name))
        shutil.copystat(src, dst)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
    if os.geteuid() == 0:
        st = os.lstat(src)
        os.lchown(dst, st.st_uid, st.st_gid)


def _has_sanitizer_report(text):
    return any(m in text for m in SANITIZER_MARKS)


class MailctlError(subprocess.CalledProcessError):
    def __str__(self):
        return 'mailctl %s exited %d: %s' % (' '.join(self.cmd[3:]), self.returncode,
                                            (self.stderr or '').strip())


class Postroom:
    def __init__(self, build=None, daemons=('smtpd', 'pop3d'), config=None):
        """build: build directory (default $POSTROOM_BUILD or build/).
        daemons: which daemons to start on enter (() for mailctl-only tests).
        config: dict of postroom.conf overrides; a value of None drops the key."""
        self.build = build_dir(build)
        self.daemons = tuple(daemons)
        self.overrides = dict(config or {})
        self.dir = None
        self.procs = {}
        self.ports = {}
        self.config = {}
        self.as_root = os.geteuid() == 0
        self.user = 'nobody' if self.as_root else pwd.getpwuid(os.geteuid()).pw_name

    # ---- set-up and tear-down ----

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix='postroom-')
        self.log_dir = os.path.join(self.dir, 'log')
        try:
            self._setup()
            for name in self.daemons:
                self.start(name)
        except BaseException:
            self._teardown(check=False)
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self._teardown(check=exc_type is None)
        return False

    def _setup(self):
        self.conf_dir = os.path.join(self.dir, 'conf')
        self.mail_root = os.path.join(self.dir, 'mail')
        self.queue_dir = os.path.join(self.dir, 'queue')
        self.state_dir = os.path.join(self.dir, 'state')
        tls_dir = os.path.join(self.dir, 'tls')
        for d in (self.conf_dir, self.mail_root, self.queue_dir, self.state_dir, self.log_dir,
                  tls_dir):
            os.mkdir(d)
        cert, key = _tls_files()
        self.cert = os.path.join(tls_dir, 'cert.pem')
        self.key = os.path.join(tls_dir, 'key.pem')
        shutil.copyfile(cert, self.cert)
        shutil.copyfile(key, self.key)
        os.chmod(self.key, 0o600)
        for name in ('passwd', 'domains', 'groups', 'aliases'):
            open(os.path.join(self.conf_dir, name), 'w').close()
        self._write_config()
        if self.as_root:
            self._chown_tree(self.dir)
        self._add_default_users()

    def _add_default_users(self):
        """example.test, alice and bob, made by mailctl once per test run and
        per mail user: later instances copy what it wrote (conf/domains,
        conf/passwd, the Maildirs), as a yescrypt hash costs up to a second
        on a busy machine.  Only `user` and `mail_root` change what mailctl
        writes, so an instance that overrides them runs mailctl itself."""
        key = (self.build, self.user)
        own = 'user' in self.overrides or 'mail_root' in self.overrides
        template = None if own else _users_templates.get(key)
        if template is None:
            self.mailctl('adddomain', 'example.test')
            for addr, pw in USERS:
                self.add_user(addr, pw)
            if not own:
                _users_templates[key] = self._save_users()
            return
        for name in os.listdir(os.path.join(template, 'conf')):
            _clone(os.path.join(template, 'conf', name), os.path.join(self.conf_dir, name))
        _clone(os.path.join(template, 'mail'), self.mail_root)

    def _save_users(self):
        d = tempfile.mkdtemp(prefix='postroom-users-')
        atexit.register(shutil.rmtree, d, True)
        os.mkdir(os.path.join(d, 'conf'))
        for name in USERS_FILES:
            if os.path.lexists(os.path.join(self.conf_dir, name)):
                _clone(os.path.join(self.conf_dir, name), os.path.join(d, 'conf', name))
        _clone(self.mail_root, os.path.join(d, 'mail'))
        return d

    def _write_config(self):
        cfg = {}
        used = set()
        for name in self._listener_daemons():
            for key in LISTENERS[name]:
                cfg[key] = '127.0.0.1:%d' % self._free_port(used)
        cfg.update({
            'mail_root': self.mail_root,
            'queue_dir': self.queue_dir,
            'tls_cert': self.cert,
            'tls_key': self.key,
            'log_level': 'debug',
            'user': self.user,
            'hostname': 'mail.example.test',
            # The failed-login table is shared by every daemon of this instance only,
            # and loopback is throttled like any address: keep deliberate failures cheap.
            'state_dir': self.state_dir,
            'auth_fail_delay': '100ms',
            'relayd.control_listen': os.path.join(self.dir, 'relayd.sock'),
        })
        for k, v in self.overrides.items():
            if v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = str(v)
        self.config = cfg
        self.conf_file = os.path.join(self.conf_dir, 'postroom.conf')
        self._write_config_file()

    def _write_config_file(self):
        with open(self.conf_file, 'w') as f:
            f.write('# written by tests/e2e/harness.py\n')
            for k, v in self.config.items():
                f.write('%s = %s\n' % (k, v))

    def _listener_daemons(self):
        # smtpd and pop3d listeners are always configured (their keys exist);
        # imapd's only when asked for, so its keys do not warn before it exists.
        names = ['smtpd', 'pop3d']
        names += [d for d in self.daemons if d not in names and d in LISTENERS]
        return names

    @staticmethod
    def _free_port(used):
        while True:
            with socket.socket() as s:
                s.bind(('127.0.0.1', 0))
                port = s.getsockname()[1]
            if port not in used:
                used.add(port)
                return port

    def _chown_tree(self, top):
        pw = pwd.getpwnam(self.user)
        for dirpath, dirnames, filenames in os.walk(top):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            for n in filenames:
                os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)

    def _teardown(self, check):
        reports = []
        for name in list(self.procs):
            self._terminate(name)
        if os.path.isdir(self.log_dir):
            for n in sorted(os.listdir(self.log_dir)):
                with open(os.path.join(self.log_dir, n), errors='replace') as f:
                    text = f.read()
                if _has_sanitizer_report(text):
                    reports.append('%s:\n%s' % (n, text[-4000:]))
        keep = os.environ.get('POSTROOM_KEEP') == '1'
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print('POSTROOM_KEEP: kept %s' % self.dir)
        if reports:
            msg = 'sanitizer report in daemon log:\n' + '\n'.join(reports)
            if check:
                raise AssertionError(msg)
            print(msg)

    # ---- configuration and users ----

    def port(self, key):
        """The port a listener key was given: pr.port('pop3d.listen')."""
        return int(self.config[key].rsplit(':', 1)[1])

    def mailctl(self, *args, input=None, check=True):
        """Run build/mailctl --config conf/ ARGS; text in and out.
        check: raise MailctlError on a non-zero exit.  A sanitizer report
        always raises, whatever the exit status."""
        exe = os.path.join(self.build, 'mailctl')
        if not os.access(exe, os.X_OK):
            raise AssertionError('%s not built (run make first)' % exe)
        if isinstance(input, bytes):
            input = input.decode()
        cmd = [exe, '--config', self.conf_dir] + [str(a) for a in args]
        p = subprocess.run(cmd, input=input if input is not None else '',
                           capture_output=True, text=True, errors='replace')
        if _has_sanitizer_report(p.stderr):
            raise AssertionError('sanitizer report from %s:\n%s' % (' '.join(cmd), p.stderr))
        if check and p.returncode != 0:
            raise MailctlError(p.returncode, cmd, p.stdout, p.stderr)
        return p

    def add_domain(self, domain, catchall=None):
        args = ['adddomain', domain] + (['--catchall', catchall] if catchall else [])
        return self.mailctl(*args)

    def add_user(self, addr, pw):
        return self.mailctl('adduser', addr, '--password-stdin', input=pw + '\n')

    def add_group(self, group, members):
        return self.mailctl('group', 'add', group, *members)

    def add_alias(self, alias, targets):
        return self.mailctl('alias', 'add', alias, *targets)

    def maildir(self, addr):
        local, domain = addr.lower().rsplit('@', 1)
        return os.path.join(self.mail_root, domain, local, 'Maildir')

    def messages(self, addr, folder='INBOX'):
        """Contents (bytes) of the files in new/ and cur/ of a folder, sorted by file name."""
        base = self.maildir(addr)
        if folder != 'INBOX':
            base = os.path.join(base, '.' + folder)
        files = []
        for sub in ('new', 'cur'):
            d = os.path.join(base, sub)
            if os.path.isdir(d):
                files += [os.path.join(d, n) for n in os.listdir(d)]
        out = []
        for path in sorted(files, key=os.path.basename):
            with open(path, 'rb') as f:
                out.append(f.read())
        return out

    # ---- daemons ----

    def start(self, name):
        """Start a daemon and wait until all its listeners accept connections.
        If a port was taken meanwhile (bind fails), the daemon gets new ones."""
        exe = os.path.join(self.build, name)
        if not os.access(exe, os.X_OK):
            raise AssertionError('%s not built' % exe)
        if name in self.procs and self.procs[name].poll() is None:
            raise AssertionError('%s already running' % name)
        for attempt in range(3):
            offset = len(self.log(name))
            rc = self._start_once(exe, name)
            if rc is None:
                return
            if (attempt < 2 and 'in use' in self.log(name)[offset:] and
                    self._new_ports(name)):
                continue
            raise AssertionError('%s exited with %d at start-up; log:\n%s'
                                 % (name, rc, self._log_tail(name)))

    def _start_once(self, exe, name):
        """None once listening; the exit status if it died first."""
        log = open(os.path.join(self.log_dir, name + '.log'), 'ab')
        try:
            self.procs[name] = subprocess.Popen([exe, '-c', self.conf_file],
                                                stdin=subprocess.DEVNULL,
                                                stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        ports = set(self.port(k) for k in self._listener_keys(name))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            rc = self.procs[name].poll()
            if rc is not None:
                del self.procs[name]
                return rc
            listening = _listening_ports()
            if listening is not None:
                missing = ports - listening
            else:
                missing = set(p for p in ports if not _port_accepts(p))
            missing |= set(path for path in (self.config.get(k)
                                             for k in UNIX_LISTENERS.get(name, ()))
                           if path and not _unix_accepts(path))
            if not missing:
                return None
            if time.monotonic() > deadline:
                self._terminate(name)
                raise AssertionError('%s not listening on %s after %.0f s; log:\n%s'
                                     % (name, sorted(missing), START_TIMEOUT,
                                        self._log_tail(name)))
            time.sleep(0.02)

    def _listener_keys(self, name):
        return [k for k in LISTENERS.get(name, ()) if self.config.get(k)]

    def _new_ports(self, name):
        """Fresh ports for name's listeners (not those the test chose itself)."""
        keys = [k for k in self._listener_keys(name) if k not in self.overrides]
        if not keys:
            return False
        used = set(self.port(k) for k in self.config if k in sum(LISTENERS.values(), ())
                   and self.config[k])
        for k in keys:
            self.config[k] = '127.0.0.1:%d' % self._free_port(used)
        self._write_config_file()
        return True

    def _terminate(self, name):
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop(self, name):
        """SIGTERM and wait (SIGKILL after 5 s); returns the exit status."""
        p = self.procs.get(name)
        if p is None:
            return None
        self._terminate(name)
        return p.returncode

    def kill(self, name, sig=signal.SIGKILL):
        """Signal the daemon's top process (its supervisor) and wait for it.
        With SIGKILL its workers die with it (PR_SET_PDEATHSIG): wait until
        they are reaped too, so ports and pids are free when this returns."""
        p = self.procs.pop(name)
        workers = children(p.pid)
        _become_subreaper()
        p.send_signal(sig)
        p.wait()
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + STOP_TIMEOUT
            while any(_reaped_or_gone(w) is False for w in workers) and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
        return p.returncode

    def restart(self, name):
        self.stop(name)
        self.start(name)

    def pid(self, name):
        return self.procs[name].pid

    def running(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def reload(self):
        """SIGHUP to every running daemon (the reload itself is asynchronous)."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGHUP)

    def log(self, name):
        try:
            with open(os.path.join(self.log_dir, name + '.log'), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def _log_tail(self, name, lines=40):
        return '\n'.join(self.log(name).splitlines()[-lines:])

    # ---- helpers for tests ----

    @staticmethod
    def ssl_context():
        """A client context that trusts anything (the certificate is self-signed)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def knows_user(self, daemon, addr, pw):
        """The running daemon serves addr (say, after a mailctl edit): smtpd
        takes RCPT TO it on the MX port, pop3d logs it in with pw."""
        if daemon == 'smtpd':
            with smtplib.SMTP('127.0.0.1', self.port('smtpd.mx_listen'), timeout=10) as s:
                s.ehlo('client.test')
                s.mail('someone@remote.test')
                return s.rcpt(addr)[0] == 250
        p = poplib.POP3('127.0.0.1', self.port('pop3d.listen'), timeout=10)
        try:
            p.user(addr)
            p.pass_(pw)
            return True
        except poplib.error_proto:
            return False
        finally:
            p.close()

    @staticmethod
    def wait_for(fn, timeout=5.0, interval=0.02):
        """Call fn until it returns something true; return that, or fail after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError('condition not met within %.1f s: %r' % (timeout, fn))
            time.sleep(interval)
