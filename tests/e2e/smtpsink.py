"""Scripted SMTP servers for the relay's tests (stdlib only).

    with Sinks(port, {'127.0.0.2': 'accept', '127.0.0.3': 'reject'}) as sinks:
        ...
        sinks.wait(1)            # messages taken, [(ip, mail_from, rcpts, data)]

One server per loopback address, all on the same port (relayd.port).  What
each does to a transaction (sinks.modes[ip], may change while running):
  accept      250 to everything
  defer       451 4.7.1 to every RCPT
  reject      550 5.1.1 to every RCPT
  defer:N     451 to the first N transactions' RCPTs, then accept
  drop        close the connection in the middle of DATA
  stall       greet, then say nothing
  slowdot     take the data, then wait 3 s before the final 250
It records what it took and the most connections it had open at once.

    Sinks(port, modes, tls={ip: (cert, key)}, auth={'user': 'password'},
          auth_mechs=('PLAIN', 'LOGIN'))

tls: those servers offer STARTTLS with that certificate; auth: every server
offers AUTH (over plaintext too: the client must not use it there), checks
the password and answers 535 to a wrong one; sinks.events records
('starttls', ip) and ('auth', ip, mech, user, ok, over_tls).
make_pki() makes a test CA and certificates signed by it.
"""
import base64
import os
import socket
import socketserver
import ssl
import subprocess
import threading
import time


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Sinks:
    def __init__(self, port, modes, tls=None, auth=None, auth_mechs=('PLAIN', 'LOGIN')):
        self.port = port
        self.modes = dict(modes)
        self.tls = {}
        for ip, (cert, key) in (tls or {}).items():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.tls[ip] = ctx
        self.auth = auth
        self.auth_mechs = auth_mechs
        self.events = []
        self.messages = []
        self.transactions = {}
        self.open = {}
        self.max_open = {}
        self.max_total = 0
        self.lock = threading.Lock()
        self._servers = []

    def _handler(self):
        sinks = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, text):
                self.wfile.write(text.encode() + b'\r\n')

            def setup(self):
                super().setup()
                ip = self.server.server_address[0]
                with sinks.lock:
                    sinks.open[ip] = sinks.open.get(ip, 0) + 1
                    sinks.max_open[ip] = max(sinks.max_open.get(ip, 0), sinks.open[ip])
                    sinks.max_total = max(sinks.max_total, sum(sinks.open.values()))

            def finish(self):
                ip = self.server.server_address[0]
                with sinks.lock:
                    sinks.open[ip] -= 1
                try:
                    super().finish()
                except OSError:
                    pass

            def mode(self):
                ip = self.server.server_address[0]
                mode = sinks.modes.get(ip, 'accept')
                if mode.startswith('defer:'):
                    with sinks.lock:
                        n = sinks.transactions.get(ip, 0)
                    return 'defer' if n < int(mode[6:]) else 'accept'
                return mode

            def starttls(self, ip):
                self.reply('220 2.0.0 go ahead')
                try:
                    self.request = sinks.tls[ip].wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError):
                    return False        # the client gave up: a failed verification
                self.rfile = self.request.makefile('rb')
                self.wfile = socketserver._SocketWriter(self.request)
                with sinks.lock:
                    sinks.events.append(('starttls', ip))
                return True

            def authenticate(self, ip, line):
                words = line.split()
                mech = words[1].upper() if len(words) > 1 else ''
                if mech not in sinks.auth_mechs:
                    return self.reply('504 5.5.4 unknown mechanism')
                try:
                    if mech == 'PLAIN':
                        if len(words) < 3:
                            self.reply('334 ')
                            words.append(self.rfile.readline().strip().decode())
                        _, user, pw = base64.b64decode(words[2]).decode().split('\0')
                    else:
                        self.reply('334 VXNlcm5hbWU6')
                        user = base64.b64decode(self.rfile.readline().strip()).decode()
                        self.reply('334 UGFzc3dvcmQ6')
                        pw = base64.b64decode(self.rfile.readline().strip()).decode()
                except ValueError:
                    return self.reply('501 5.5.2 bad encoding')
                ok = sinks.auth.get(user) == pw
                with sinks.lock:
                    sinks.events.append(('auth', ip, mech, user, ok,
                                         isinstance(self.request, ssl.SSLSocket)))
                self.reply('235 2.7.0 ok' if ok else '535 5.7.8 bad credentials')

            def handle(self):
                ip = self.server.server_address[0]
                self.reply('220 sink.%s ESMTP' % ip)
                if self.mode() == 'stall':
                    time.sleep(30)
                    return
                mail_from, rcpts = None, []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode('utf-8', 'replace').rstrip('\r\n')
                    verb = line[:4].upper()
                    if verb in ('EHLO', 'HELO'):
                        tls = isinstance(self.request, ssl.SSLSocket)
                        self.reply('250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n'
                                   + ('250-STARTTLS\r\n' if ip in sinks.tls and not tls else '')
                                   + ('250-AUTH %s\r\n' % ' '.join(sinks.auth_mechs)
                                      if sinks.auth is not None else '')
                                   + '250-DSN\r\n250 SIZE 10000000')
                    elif line.upper() == 'STARTTLS' and ip in sinks.tls:
                        if not self.starttls(ip):
                            return
                    elif verb == 'AUTH' and sinks.auth is not None:
                        self.authenticate(ip, line)
                    elif verb == 'MAIL':
                        mail_from, rcpts = line[10:].split('>')[0].lstrip('<'), []
                        self.reply('250 2.1.0 ok')
                    elif verb == 'RCPT':
                        mode = self.mode()
                        if mode == 'defer':
                            self.reply('451 4.7.1 try again later')
                        elif mode == 'reject':
                            self.reply('550 5.1.1 <%s>: no such user here'
                                       % line[8:].split('>')[0].lstrip('<'))
                        else:
                            rcpts.append(line[8:].split('>')[0].lstrip('<'))
                            self.reply('250 2.1.5 ok')
                    elif verb == 'DATA':
                        with sinks.lock:
                            sinks.transactions[ip] = sinks.transactions.get(ip, 0) + 1
                        if not rcpts:
                            self.reply('554 5.5.1 no valid recipients')
                            continue
                        self.reply('354 go ahead')
                        data = b''
                        while True:
                            raw = self.rfile.readline()
                            if raw in (b'.\r\n', b''):
                                break
                            if self.mode() == 'drop' and len(data) > 50:
                                return
                            data += raw[1:] if raw.startswith(b'..') else raw
                        with sinks.lock:
                            sinks.messages.append((ip, mail_from, rcpts, data))
                        if self.mode() == 'slowdot':
                            time.sleep(3)
                        self.reply('250 2.0.0 queued')
                    elif verb == 'RSET':
                        with sinks.lock:
                            sinks.transactions[ip] = sinks.transactions.get(ip, 0) + 1
                        mail_from, rcpts = None, []
                        self.reply('250 2.0.0 ok')
                    elif verb == 'QUIT':
                        self.reply('221 2.0.0 bye')
                        return
                    else:
                        self.reply('502 5.5.2 what?')

        return Handler

    def __enter__(self):
        for ip in self.modes:
            server = _Server((ip, self.port), self._handler())
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        return self

    def __exit__(self, *exc):
        for server in self._servers:
            server.shutdown()
            server.server_close()
        return False

    def wait(self, n, timeout=15):
        """The messages taken, once there are n of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError('%d messages expected at the sinks, got %r' % (n, self.messages))


def free_port(ips):
    """A port free on every one of ips."""
    while True:
        with socket.socket() as s:
            s.bind((ips[0], 0))
            port = s.getsockname()[1]
        ok = True
        for ip in ips[1:]:
            with socket.socket() as t:
                try:
                    t.bind((ip, port))
                except OSError:
                    ok = False
        if ok:
            return port


def make_pki(directory, names):
    """A CA and, for each of names ({file stem: DNS name}), a certificate
    signed by it (EC keys: fast).  Returns the CA's certificate file; the
    others are <stem>.pem and <stem>.key in directory."""
    def openssl(*args):
        subprocess.run(('openssl',) + args, check=True, cwd=directory,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes')
    openssl('req', '-x509', *ec, '-days', '2', '-subj', '/CN=Postroom test CA',
            '-keyout', 'ca.key', '-out', 'ca.pem')
    for stem, name in names.items():
        openssl('req', *ec, '-subj', '/CN=' + name, '-keyout', stem + '.key',
                '-out', stem + '.csr')
        with open(os.path.join(directory, stem + '.ext'), 'w') as f:
            f.write('subjectAltName=DNS:%s\n' % name)
        openssl('x509', '-req', '-in', stem + '.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
                '-CAcreateserial', '-days', '2', '-extfile', stem + '.ext',
                '-out', stem + '.pem')
    return os.path.join(directory, 'ca.pem')
