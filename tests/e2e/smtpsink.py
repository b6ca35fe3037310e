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
"""
import socket
import socketserver
import threading
import time


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Sinks:
    def __init__(self, port, modes):
        self.port = port
        self.modes = dict(modes)
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

            def handle(self):
                ip = self.server.server_address[0]
                self.reply('220 sink.%s ESMTP' % ip)
                if self.mode() == 'stall':
                    time.sleep(30)
                    return
                mail_from, rcpts = None, []
                for raw in self.rfile:
                    line = raw.decode('utf-8', 'replace').rstrip('\r\n')
                    verb = line[:4].upper()
                    if verb in ('EHLO', 'HELO'):
                        self.reply('250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n'
                                   '250-DSN\r\n250 SIZE 10000000')
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
                        for raw in self.rfile:
                            if raw == b'.\r\n':
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
