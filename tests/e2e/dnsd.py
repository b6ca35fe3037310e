"""A small authoritative DNS server for the relay's tests (stdlib only).

    with Dnsd({'relay.test': [('MX', 10, 'mx1.relay.test')],
               'mx1.relay.test': [('A', '127.0.0.2')],
               'gone.test': 'NXDOMAIN', 'broken.test': 'SERVFAIL'}) as dns:
        config['relayd.dns_servers'] = dns.servers

Answers A, AAAA and MX from the zone over UDP and TCP on 127.0.0.1 (an
ephemeral port); a name it does not hold is NXDOMAIN; a name held with
records of other types only is NODATA; ('MX', 0, '') is a null MX (RFC
7505).  The zone may be changed while it runs (dns.zone[...] = ...).
"""
import socket
import socketserver
import struct
import threading

TYPES = {'A': 1, 'MX': 15, 'AAAA': 28}
RCODES = {'NXDOMAIN': 3, 'SERVFAIL': 2}


def _name(labels):
    out = b''
    for label in labels.split('.') if labels else []:
        out += bytes([len(label)]) + label.encode()
    return out + b'\0'


def _question(packet):
    off, labels = 12, []
    while packet[off]:
        n = packet[off]
        labels.append(packet[off + 1:off + 1 + n].decode('ascii', 'replace'))
        off += 1 + n
    qtype, = struct.unpack('!H', packet[off + 1:off + 3])
    return '.'.join(labels).lower(), qtype, off + 5


def _rdata(rec):
    kind = rec[0]
    if kind == 'A':
        return socket.inet_pton(socket.AF_INET, rec[1])
    if kind == 'AAAA':
        return socket.inet_pton(socket.AF_INET6, rec[1])
    return struct.pack('!H', rec[1]) + _name(rec[2])


class Dnsd:
    def __init__(self, zone):
        self.zone = dict(zone)
        self.queries = []
        self._servers = []

    def answer(self, packet):
        name, qtype, end = _question(packet)
        self.queries.append((name, qtype))
        entry = self.zone.get(name)
        flags = 0x8400 | (struct.unpack('!H', packet[2:4])[0] & 0x0100)
        records = []
        if entry is None:
            flags |= RCODES['NXDOMAIN']
        elif isinstance(entry, str):
            flags |= RCODES[entry]
        else:
            records = [r for r in entry if TYPES[r[0]] == qtype]
        out = packet[:2] + struct.pack('!HHHHH', flags | 0x80, 1, len(records), 0, 0)
        out += packet[12:end]
        for rec in records:
            data = _rdata(rec)
            out += struct.pack('!HHHIH', 0xc00c, TYPES[rec[0]], 1, 60, len(data)) + data
        return out

    def __enter__(self):
        dns = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                sock.sendto(dns.answer(data), self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self):
                head = self.request.recv(2)
                if len(head) == 2:
                    want, = struct.unpack('!H', head)
                    data = b''
                    while len(data) < want:
                        more = self.request.recv(want - len(data))
                        if not more:
                            return
                        data += more
                    reply = dns.answer(data)
                    self.request.sendall(struct.pack('!H', len(reply)) + reply)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        for attempt in range(20):
            # The UDP port the kernel picks may be taken in TCP (other tests' listeners).
            udp = socketserver.ThreadingUDPServer(('127.0.0.1', 0), Udp)
            port = udp.server_address[1]
            try:
                tcp = socketserver.ThreadingTCPServer(('127.0.0.1', port), Tcp)
                break
            except OSError:
                udp.server_close()
                if attempt == 19:
                    raise
        for server in (udp, tcp):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        self.servers = '127.0.0.1:%d' % port
        return self

    def __exit__(self, *exc):
        for server in self._servers:
            server.shutdown()
            server.server_close()
        return False
