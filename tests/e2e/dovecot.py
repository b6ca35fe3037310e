"""The one throw-away Dovecot: differential tests, the MIME comparison and `make bench`.

    from dovecot import Dovecot
    with Dovecot(users={'alice@example.test': 'alice-pw'}) as dc:
        dc.deliver('alice@example.test', b'Subject: x\\n\\nx\\n', '1.M1P1.test')
        poplib.POP3('127.0.0.1', dc.port('pop3'))
        imaplib.IMAP4('127.0.0.1', dc.port('imap'))

Debian's dovecot-core with dovecot-imapd and dovecot-pop3d, started in the
foreground (-F) with its own config, base_dir and state in a temporary
directory, IMAP and POP3 listeners on free 127.0.0.1 ports, the same
Maildir layout as Postroom (<root>/<domain>/<local>/Maildir) and mail owned
by `nobody` (or the current user when not root), and no auth penalty (a
deliberate failed login would delay the next logins by 2 to 15 s).  Never touches the
packaged instance.  tls=(cert, key) turns on STARTTLS/STLS; settings={}
overrides top-level settings (e.g. auth_failure_delay); sections='...' is
more configuration text appended as is (a namespace block).  stored={user: hash}
gives a user the password hash as Postroom's conf/passwd holds it
("{CRYPT}$y$..."): Dovecot then checks it with crypt(3) like Postroom does,
where the default {PLAIN} hashes nothing (the bench compares like for like;
the differential tests stay fast).  Mail put in before
the first login is what Dovecot sees; pin_uids() fixes the UID order.
Dovecot.missing() says why it cannot run here (None if it can).
Python stdlib only.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import Postroom

BINARY = '/usr/sbin/dovecot'
PROTOCOL_BINARIES = ('/usr/lib/dovecot/imap', '/usr/lib/dovecot/pop3')
START_TIMEOUT = 15.0

SETTINGS = {
    'protocols': 'imap pop3',
    'listen': '127.0.0.1',
    'ssl': 'no',
    'disable_plaintext_auth': 'no',
    'auth_mechanisms': 'plain login',
    'first_valid_uid': '1',
}

SECTIONS = """\
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _accounts():
    """(mail owner, login user, internal user): unprivileged ones when root."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, me, me
    return 'nobody', 'dovenull', 'dovecot'


class Dovecot:
    def __init__(self, users=None, tls=None, settings=None, stored=None, sections=''):
        self.users = dict(users or {'alice@example.test': 'alice-pw'})
        self.stored = dict(stored or {})
        self.tls = tls
        self.settings = dict(settings or {})
        self.sections = sections
        self.dir = None
        self.proc = None
        self._ports = {}

    @staticmethod
    def missing():
        """Why this machine cannot run it (for skip or fail), or None."""
        for path in (BINARY,) + PROTOCOL_BINARIES:
            if not os.access(path, os.X_OK):
                return '%s missing (apt-get install dovecot-imapd dovecot-pop3d)' % path
        return None

    @staticmethod
    def available():
        return Dovecot.missing() is None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix='postroom-dovecot-')
        os.chmod(self.dir, 0o755)      # its auth and mail processes are not root
        try:
            self._setup()
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _setup(self):
        owner, login, internal = _accounts()
        pw = pwd.getpwnam(owner)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        used = set()
        for proto in ('imap', 'pop3'):
            self._ports[proto] = Postroom._free_port(used)
        for sub in ('run', 'state', 'mail'):
            os.makedirs(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, 'passwd'), 'w') as f:
            for user, password in self.users.items():
                f.write('%s:%s\n' % (user, self.stored.get(user, '{PLAIN}' + password)))
                for sub in ('new', 'cur', 'tmp'):
                    os.makedirs(os.path.join(self.maildir(user), sub))
        self.chown(os.path.join(self.dir, 'mail'))
        settings = dict(SETTINGS, base_dir=self.dir + '/run', state_dir=self.dir + '/state',
                        log_path=self.dir + '/dovecot.log',
                        mail_location='maildir:%s/mail/%%d/%%n/Maildir' % self.dir,
                        default_login_user=login, default_internal_user=internal)
        if self.tls:
            settings.update(ssl='yes', ssl_cert='<' + self.tls[0], ssl_key='<' + self.tls[1])
        settings.update(self.settings)
        self.conf = os.path.join(self.dir, 'dovecot.conf')
        with open(self.conf, 'w') as f:
            for k, v in settings.items():
                f.write('%s = %s\n' % (k, v))
            f.write(SECTIONS.format(d=self.dir, uid=self.uid, gid=self.gid,
                                    imap=self._ports['imap'], pop3=self._ports['pop3']))
            f.write(self.sections)

    def _start(self):
        self.proc = subprocess.Popen([BINARY, '-F', '-c', self.conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        waiting = set(self._ports.values())
        while waiting:
            if self.proc.poll() is not None:
                raise AssertionError('dovecot exited with %d: %s' % (self.proc.returncode,
                                                                      self.log()))
            if time.monotonic() > deadline:
                raise AssertionError('dovecot not listening after %.0f s: %s'
                                     % (START_TIMEOUT, self.log()))
            for port in list(waiting):
                try:
                    socket.create_connection(('127.0.0.1', port), 0.5).close()
                    waiting.discard(port)
                except OSError:
                    pass
            if waiting:
                time.sleep(0.02)

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir and os.environ.get('POSTROOM_KEEP') != '1':
            shutil.rmtree(self.dir, True)
        return False

    def chown(self, top):
        """Give a tree to the mail owner (a no-op unless root)."""
        if os.geteuid() != 0:
            return
        os.chown(top, self.uid, self.gid)
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), self.uid, self.gid)

    def port(self, proto):
        return self._ports[proto]

    def maildir(self, user):
        local, domain = user.split('@')
        return os.path.join(self.dir, 'mail', domain, local, 'Maildir')

    def deliver(self, user, data, name, sub='new'):
        """Drop a message file into new/ (or cur/), owned like Dovecot's own files."""
        path = os.path.join(self.maildir(user), sub, name)
        with open(path, 'wb') as f:
            f.write(data)
        self.chown(path)
        return path

    def pin_uids(self, user, names):
        """UIDs 1..n in the order of names (files in cur/), before the first login."""
        path = os.path.join(self.maildir(user), 'dovecot-uidlist')
        with open(path, 'w') as f:
            f.write('3 V1 N%d\n' % (len(names) + 1))
            for uid, name in enumerate(names, 1):
                f.write('%d :%s\n' % (uid, name))
        self.chown(path)

    def log(self):
        try:
            with open(os.path.join(self.dir, 'dovecot.log'), errors='replace') as f:
                return f.read()[-3000:]
        except OSError:
            return '(no log)'
