"""A throw-away Dovecot for differential tests and `make bench`.

    from dovecot import Dovecot
    with Dovecot(users={'alice@example.test': 'alice-pw'}) as dc:
        dc.maildir('alice@example.test')      # .../mail/example.test/alice/Maildir
        poplib.POP3('127.0.0.1', dc.port('pop3'))
        imaplib.IMAP4('127.0.0.1', dc.port('imap'))

Its own config file, base_dir and state in a temp dir, plaintext listeners
on free 127.0.0.1 ports, the same Maildir layout as Postroom
(<root>/<domain>/<local>/Maildir), mail owned by `nobody` (or the current
user when not root).  Never touches the packaged instance.  Dovecot.available()
says whether the Debian packages are installed (tests skip if not).
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


CONF = """\
base_dir = {d}/run
state_dir = {d}/state
instance_name = postroom-test-{port_pop3}
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {d}/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{d}/mail/%d/%n/Maildir
first_valid_uid = 0
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
    port = {port_imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port_pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


class Dovecot:
    def __init__(self, users=None, extra_conf=''):
        self.users = users or {'alice@example.test': 'alice-pw'}
        self.extra_conf = extra_conf
        self.dir = None
        self._ports = {}

    @staticmethod
    def available():
        return shutil.which('dovecot') is not None and \
            os.path.exists('/usr/lib/dovecot/pop3') and os.path.exists('/usr/lib/dovecot/imap')

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix='postroom-dovecot-')
        os.chmod(self.dir, 0o755)
        owner = pwd.getpwnam('nobody') if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        self.uid, self.gid = owner.pw_uid, owner.pw_gid
        used = set()
        for proto in ('imap', 'pop3'):
            self._ports[proto] = Postroom._free_port(used)
            used.add(self._ports[proto])
        for sub in ('run', 'state', 'mail'):
            os.makedirs(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, 'passwd'), 'w') as f:
            for user, pw in self.users.items():
                f.write('%s:{PLAIN}%s\n' % (user, pw))
                for sub in ('new', 'cur', 'tmp'):
                    os.makedirs(os.path.join(self.maildir(user), sub), exist_ok=True)
        self._chown(os.path.join(self.dir, 'mail'))
        self.conf = os.path.join(self.dir, 'dovecot.conf')
        with open(self.conf, 'w') as f:
            f.write(CONF.format(d=self.dir, uid=self.uid, gid=self.gid,
                                port_imap=self._ports['imap'], port_pop3=self._ports['pop3']))
            f.write(self.extra_conf)
        subprocess.run(['dovecot', '-c', self.conf], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self._ports['pop3']), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('dovecot did not start: ' + self.log())

    def __exit__(self, *exc):
        subprocess.run(['doveadm', '-c', self.conf, 'stop'], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        pidfile = os.path.join(self.dir, 'run', 'master.pid')
        deadline = time.monotonic() + 5
        while os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(pidfile):
            try:
                os.kill(int(open(pidfile).read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        if not os.environ.get('POSTROOM_KEEP'):
            shutil.rmtree(self.dir, True)

    def _chown(self, top):
        if os.geteuid() != 0:
            return
        for root, dirs, files in os.walk(top):
            os.chown(root, self.uid, self.gid)
            for name in files:
                os.chown(os.path.join(root, name), self.uid, self.gid)

    def port(self, proto):
        return self._ports[proto]

    def maildir(self, user):
        local, domain = user.split('@')
        return os.path.join(self.dir, 'mail', domain, local, 'Maildir')

    def deliver(self, user, data, name):
        """Drop a message file into new/ (owned like Dovecot's own files)."""
        path = os.path.join(self.maildir(user), 'new', name)
        with open(path, 'wb') as f:
            f.write(data)
        self._chown(path)
        return path

    def log(self):
        try:
            with open(os.path.join(self.dir, 'dovecot.log'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''
