"""smtpd streams DATA/BDAT to disk (issue 19 item 4) and enforces a minimum data rate.

- A 30 MB message, sent slowly enough to sample smtpd's memory while it is in
  flight, through DATA (dot-stuffing, CRLF -> LF, a bare CR) and through BDAT
  (CRLF split across chunks): smtpd's VmRSS grows by a few MB at most, not by
  the message size, and the stored file is the converted message, byte-exact.
- The same for a message with a remote recipient too: the queue file holds it.
- A drip client (1 byte every 100 ms, data_timeout 2s, min_data_rate 100) is cut
  with 421 4.4.2 within data_timeout + bytes/rate (plus slack), while another
  session delivers; nothing stays in tmp/.  A slow client above the rate is not cut.
- Many at once (issue 18 item 3): concurrent sessions each sending a 20 MB message
  (every tenth by BDAT, 1 MB chunks, the rest by DATA), smtpd's VmRSS summed over its
  processes and sampled every 100 ms stays under 64 MiB, and every stored message
  is byte-exact (a hash of the file after the trace headers against the message as
  the store converts it).  40 sessions by default (800 MB through loopback and disk);
  200 (4 GB, the issue's size) under CI or with SMTPD_STREAM_SESSIONS=200.
"""

import hashlib
import os
import socket
import threading
import time
import unittest

from harness import (asan_reuse_freed, have_built, in_ci, needs, sanitized,
                     start_postroom)
from smtpclient_raw import RawSMTP, send_ok

ALICE = 'alice@example.test'
MB = 1024 * 1024


def tree_pids(pid):
    """pid and all its descendants (the supervisor's workers, if any)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir('/proc/%d/task' % p):
                with open('/proc/%d/task/%s/children' % (p, tid)) as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def status_kb(pid, field):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemSampler(threading.Thread):
    """Samples the summed VmRSS (and VmHWM) of smtpd's processes every 20 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_rss = 0
        self.samples = 0

    def rss(self):
        return sum(status_kb(p, 'VmRSS') for p in tree_pids(self.pid))

    def hwm(self):
        return sum(status_kb(p, 'VmHWM') for p in tree_pids(self.pid))

    def run(self, interval=0.02):
        while not self.stop.is_set():
            self.peak_rss = max(self.peak_rss, self.rss())
            self.samples += 1
            time.sleep(interval)


def make_message(size):
    """(wire bytes for DATA without the final dot, what the store must hold).

    Lines of varying length, some starting with '.', one with a bare CR."""
    wire, stored = [b'Subject: big\r\nFrom: <x@remote.test>\r\n\r\n'], [b'Subject: big\nFrom: <x@remote.test>\n\n']
    n, i = 0, 0
    while n < size:
        body = (b'line %08d ' % i) + b'abcdefghijklmnopqrstuvwxyz0123456789' * (1 + i % 5)
        if i % 7 == 0:
            body = b'.' + body          # stuffed on the wire: '..'
        if i % 1000 == 3:
            body += b'\rcr'             # a bare CR stays as it is
        wire.append((b'.' + body if body.startswith(b'.') else body) + b'\r\n')
        stored.append(body + b'\n')
        n += len(wire[-1])
        i += 1
    return b''.join(wire), b''.join(stored)


def send_slowly(sock, data, chunk, seconds):
    """Send data in chunks spread over about `seconds`."""
    pieces = (len(data) + chunk - 1) // chunk
    pause = seconds / pieces
    for off in range(0, len(data), chunk):
        sock.sendall(data[off:off + chunk])
        time.sleep(pause)


def tmp_files(pr, addrs=(ALICE,)):
    dirs = [os.path.join(pr.maildir(a), 'tmp') for a in addrs] + [os.path.join(pr.queue_dir, 'tmp')]
    return [os.path.join(d, n) for d in dirs if os.path.isdir(d) for n in os.listdir(d)]


@needs(have_built('smtpd', 'mailctl'), 'smtpd not built')
class Streamed(unittest.TestCase):
    SIZE = 30 * MB
    LIMIT_KB = 8 * 1024     # RSS growth allowed while a 30 MB message is in flight

    def setUp(self):
        asan_reuse_freed(self)
        self.pr = start_postroom(self, daemons=('smtpd',), config={
            'smtpd.max_message_size': '40M',
            'smtpd.relay_networks': '127.0.0.0/8'})
        self.port = self.pr.port('smtpd.mx_listen')

    def measure(self, send):
        """Run send(client) while sampling; returns (growth KB, reply)."""
        c = RawSMTP(self.port, timeout=30)
        self.addCleanup(c.close)
        c.cmd(b'EHLO client.test')
        sampler = MemSampler(self.pr.pid('smtpd'))
        base = sampler.rss()
        sampler.start()
        try:
            reply = send(c)
        finally:
            sampler.stop.set()
            sampler.join()
        growth = sampler.peak_rss - base
        print('\n  %s: smtpd VmRSS %d KB before, peak %d KB (+%d KB) over %d samples' % (
            self.id().rsplit('.', 1)[-1], base, sampler.peak_rss, growth, sampler.samples))
        return growth, reply

    def check_stored(self, expected, n=1):
        msgs = self.pr.messages(ALICE)
        self.assertEqual(len(msgs), n)
        m = msgs[-1]
        self.assertTrue(m.startswith(b'Return-Path: <x@remote.test>\nReceived: from client.test'), m[:200])
        head, sep, rest = m.partition(b'\nSubject: big\n')
        self.assertTrue(sep, 'message start not found')
        self.assertEqual(b'Subject: big\n' + rest, expected)
        self.assertEqual(tmp_files(self.pr), [])

    def test_data_30mb_streamed(self):
        wire, stored = make_message(self.SIZE)

        def send(c):
            self.assertTrue(c.cmd(b'MAIL FROM:<x@remote.test>').raw.startswith(b'250'))
            self.assertTrue(c.cmd(b'RCPT TO:<%s>' % ALICE.encode()).raw.startswith(b'250'))
            self.assertTrue(c.cmd(b'DATA').raw.startswith(b'354'))
            send_slowly(c.sock, wire, 256 * 1024, 3.0)
            c.sock.sendall(b'.\r\n')
            return c.reply().raw

        growth, reply = self.measure(send)
        self.assertTrue(reply.startswith(b'250 '), reply)
        self.assertLess(growth, self.LIMIT_KB)
        self.check_stored(stored)

    def test_bdat_30mb_streamed(self):
        wire, _ = make_message(self.SIZE)
        # BDAT is binary-exact: no dot-unstuffing; only CRLF -> LF.
        stored = wire.replace(b'\r\n', b'\n')
        chunk = 1000 * 1000 + 1     # odd size: some chunks end between CR and LF

        def send(c):
            self.assertTrue(c.cmd(b'MAIL FROM:<x@remote.test>').raw.startswith(b'250'))
            self.assertTrue(c.cmd(b'RCPT TO:<%s>' % ALICE.encode()).raw.startswith(b'250'))
            pause = 3.0 / (len(wire) // chunk + 1)
            for off in range(0, len(wire), chunk):
                piece = wire[off:off + chunk]
                last = off + chunk >= len(wire)
                c.sock.sendall(b'BDAT %d%s\r\n' % (len(piece), b' LAST' if last else b'') + piece)
                r = c.reply().raw
                self.assertTrue(r.startswith(b'250'), r)
                time.sleep(pause)
            return r

        growth, reply = self.measure(send)
        self.assertIn(b'queued as', reply)
        self.assertLess(growth, self.LIMIT_KB)
        self.check_stored(stored)

    def test_local_and_remote_streamed(self):
        """One local and one remote recipient: the Maildir file and the queue file."""
        wire, stored = make_message(5 * MB)
        c = RawSMTP(self.port, timeout=30)
        self.addCleanup(c.close)
        c.cmd(b'EHLO client.test')
        self.assertTrue(c.cmd(b'MAIL FROM:<x@remote.test>').raw.startswith(b'250'))
        self.assertTrue(c.cmd(b'RCPT TO:<%s>' % ALICE.encode()).raw.startswith(b'250'))
        self.assertTrue(c.cmd(b'RCPT TO:<someone@far.test>').raw.startswith(b'250'))
        self.assertTrue(c.cmd(b'DATA').raw.startswith(b'354'))
        c.sock.sendall(wire + b'.\r\n')
        self.assertTrue(c.reply().raw.startswith(b'250 '))
        self.check_stored(stored)
        active = os.path.join(self.pr.queue_dir, 'active')
        names = os.listdir(active)
        self.assertEqual(len(names), 1)
        with open(os.path.join(active, names[0]), 'rb') as f:
            q = f.read()
        # Records: [type][len 4 BE][payload]; 'M' is Received: + the message, 'X' last.
        off, recs = 0, {}
        while off < len(q):
            t, n = q[off:off + 1], int.from_bytes(q[off + 1:off + 5], 'big')
            recs[t] = (off, q[off + 5:off + 5 + n])
            off += 5 + n
        self.assertEqual(off, len(q))
        self.assertEqual(recs[b'X'][1], str(recs[b'X'][0]).encode())
        self.assertTrue(recs[b'M'][1].startswith(b'Received: from client.test'))
        self.assertTrue(recs[b'M'][1].endswith(b'\n' + stored))
        self.assertIn(b'someone@far.test', recs[b'R'][1])

    def test_oversize_and_rset_leave_nothing(self):
        """552 (streamed past the limit), RSET mid-BDAT, a dropped connection: no tmp/ files."""
        self.pr.stop('smtpd')
        self.pr.config['smtpd.max_message_size'] = '1M'
        self.pr._write_config_file()
        self.pr.start('smtpd')
        self.port = self.pr.port('smtpd.mx_listen')
        c = RawSMTP(self.port, timeout=30)
        self.addCleanup(c.close)
        c.cmd(b'EHLO client.test')
        c.cmd(b'MAIL FROM:<x@remote.test>')
        c.cmd(b'RCPT TO:<%s>' % ALICE.encode())
        c.cmd(b'DATA')
        c.sock.sendall((b'x' * 998 + b'\r\n') * 2000)
        # The file is removed as soon as the limit is passed, before the end.
        self.assertTrue(self.pr.wait_for(lambda: tmp_files(self.pr) == [], timeout=5))
        self.assertTrue(c.cmd(b'.').raw.startswith(b'552'))
        c.cmd(b'MAIL FROM:<x@remote.test>')
        c.cmd(b'RCPT TO:<%s>' % ALICE.encode())
        c.sock.sendall(b'BDAT 5\r\nhello')
        self.assertTrue(c.reply().raw.startswith(b'250'))
        self.assertEqual(len(tmp_files(self.pr)), 1)
        self.assertTrue(c.cmd(b'RSET').raw.startswith(b'250'))
        self.assertEqual(tmp_files(self.pr), [])
        c.cmd(b'MAIL FROM:<x@remote.test>')
        c.cmd(b'RCPT TO:<%s>' % ALICE.encode())
        c.cmd(b'DATA')
        c.sock.sendall(b'Subject: half\r\n\r\nhalf a message')
        self.assertTrue(self.pr.wait_for(lambda: len(tmp_files(self.pr)) == 1, timeout=5))
        c.close()
        self.assertTrue(self.pr.wait_for(lambda: tmp_files(self.pr) == [], timeout=5))
        self.assertEqual(self.pr.messages(ALICE), [])


def asan_unquarantined(testcase):
    """ASan keeps freed blocks in quarantine (256 MB): RSS would count every
    buffer ever freed, not what is live.  Reuse them at once."""
    if not sanitized():
        return
    old = os.environ.get('ASAN_OPTIONS')
    os.environ['ASAN_OPTIONS'] = (old + ':' if old else '') + 'quarantine_size_mb=0'
    testcase.addCleanup(lambda: os.environ.__setitem__('ASAN_OPTIONS', old)
                        if old is not None else os.environ.pop('ASAN_OPTIONS', None))


def stored_after_trace(path, hasher):
    """Hash of a stored message after Return-Path: and Received: (LF line ends)."""
    with open(path, 'rb') as f:
        head = f.read(64 * 1024)
        body = head.find(b'\nX-Stream: ')
        if body < 0:
            return None
        h = hasher()
        h.update(head[body + 1:])
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


@needs(have_built('smtpd', 'mailctl'), 'smtpd not built')
class ManyStreams(unittest.TestCase):
    SIZE = 20 * MB
    RSS_LIMIT_KB = 64 * 1024
    SESSIONS = int(os.environ.get('SMTPD_STREAM_SESSIONS') or (200 if in_ci() else 40))

    def setUp(self):
        asan_unquarantined(self)
        self.pr = start_postroom(self, daemons=('smtpd',), config={
            'smtpd.max_message_size': '40M', 'workers': '1',
            'max_connections_per_ip': str(self.SESSIONS + 10)})
        self.port = self.pr.port('smtpd.mx_listen')

    def session(self, i, wire, errors):
        """One client: DATA (or BDAT for every tenth), then the reply."""
        tail = b'X-End: %05d\r\n' % i
        try:
            c = RawSMTP(self.port, timeout=120)
            try:
                c.cmd(b'EHLO client%d.test' % i)
                if not c.cmd(b'MAIL FROM:<x@remote.test>').raw.startswith(b'250'):
                    raise AssertionError('MAIL refused')
                if not c.cmd(b'RCPT TO:<%s>' % ALICE.encode()).raw.startswith(b'250'):
                    raise AssertionError('RCPT refused')
                if i % 10 == 0:
                    msg = self.bdat_wire + tail
                    chunk = MB
                    for off in range(0, len(msg), chunk):
                        piece = msg[off:off + chunk]
                        last = off + chunk >= len(msg)
                        c.sock.sendall(b'BDAT %d%s\r\n' % (len(piece), b' LAST' if last else b''))
                        c.sock.sendall(piece)
                        r = c.reply().raw
                        if not r.startswith(b'250'):
                            raise AssertionError('BDAT: %r' % r)
                else:
                    r = c.cmd(b'DATA').raw
                    if not r.startswith(b'354'):
                        raise AssertionError('DATA: %r' % r)
                    c.sock.sendall(wire)
                    c.sock.sendall(tail + b'.\r\n')
                    r = c.reply().raw
                if not r.startswith(b'250 '):
                    raise AssertionError('end of data: %r' % r)
                c.cmd(b'QUIT')
            finally:
                c.close()
        except Exception as e:          # reported on the main thread
            errors.append((i, e))

    def test_concurrent_20mb(self):
        wire, stored = make_message(self.SIZE)
        # Every message starts with its own X-Stream: line (found after the trace headers).
        wire, stored = b'X-Stream: 1\r\n' + wire, b'X-Stream: 1\n' + stored
        self.bdat_wire = wire.replace(b'\r\n..', b'\r\n.')     # BDAT: no dot-stuffing
        base_data, base_bdat = hashlib.sha1(stored), hashlib.sha1(self.bdat_wire.replace(b'\r\n', b'\n'))
        expected = {}
        for i in range(self.SESSIONS):
            h = (base_bdat if i % 10 == 0 else base_data).copy()
            h.update(b'X-End: %05d\n' % i)
            expected[h.hexdigest()] = expected.get(h.hexdigest(), 0) + 1
        sampler = MemSampler(self.pr.pid('smtpd'))
        base = sampler.rss()
        sampler_thread = threading.Thread(target=sampler.run, args=(0.1,), daemon=True)
        sampler_thread.start()
        errors, threads = [], []
        start = time.monotonic()
        try:
            for i in range(self.SESSIONS):
                t = threading.Thread(target=self.session, args=(i, wire, errors))
                t.start()
                threads.append(t)
            for t in threads:
                t.join(timeout=300)
        finally:
            sampler.stop.set()
            sampler_thread.join()
        took = time.monotonic() - start
        print('\n  %d x %d MB: %.1f s, smtpd VmRSS %d KB before, peak %d KB over %d samples'
              % (self.SESSIONS, self.SIZE // MB, took, base, sampler.peak_rss, sampler.samples))
        self.assertEqual(errors, [])
        # ASan's shadow and allocator metadata add tens of MB whatever the load (67 MB
        # seen at 200 sessions): the bound there only proves nothing is held whole.
        limit = self.RSS_LIMIT_KB * (3 if sanitized() else 1)
        self.assertLess(sampler.peak_rss, limit)
        new = os.path.join(self.pr.maildir(ALICE), 'new')
        cur = os.path.join(self.pr.maildir(ALICE), 'cur')
        got = {}
        for d in (new, cur):
            for name in os.listdir(d) if os.path.isdir(d) else ():
                h = stored_after_trace(os.path.join(d, name), hashlib.sha1)
                got[h] = got.get(h, 0) + 1
        self.assertEqual(got, expected)
        self.assertEqual(tmp_files(self.pr), [])


@needs(have_built('smtpd', 'mailctl'), 'smtpd not built')
class MinDataRate(unittest.TestCase):
    TIMEOUT = 2.0
    RATE = 100

    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd',), config={
            'smtpd.data_timeout': '2s', 'smtpd.min_data_rate': str(self.RATE)})
        self.port = self.pr.port('smtpd.mx_listen')

    def start_data(self):
        c = RawSMTP(self.port, timeout=30)
        self.addCleanup(c.close)
        c.cmd(b'EHLO drip.test')
        c.cmd(b'MAIL FROM:<x@remote.test>')
        c.cmd(b'RCPT TO:<%s>' % ALICE.encode())
        return c

    def drip(self, c, first):
        """One byte every 100 ms until the server answers; (reply, seconds, bytes sent)."""
        start, sent = time.monotonic(), len(first)
        c.sock.sendall(first)
        c.sock.settimeout(0.1)
        while time.monotonic() - start < 15:
            try:
                d = c.sock.recv(4096)
                if d:
                    return d, time.monotonic() - start, sent
                break
            except socket.timeout:
                pass
            try:
                c.sock.sendall(b'x')
                sent += 1
            except OSError:
                break
        return b'', time.monotonic() - start, sent

    def check_cut(self, reply, took, sent):
        bound = self.TIMEOUT + sent / self.RATE
        print('\n  drip: 421 after %.2f s, %d bytes sent; bound %.2f s' % (took, sent, bound))
        self.assertTrue(reply.startswith(b'421 4.4.2 '), reply)
        self.assertIn(b'timeout exceeded', reply)
        self.assertLess(took, bound + 1.0)
        self.assertGreater(took, self.TIMEOUT - 0.3)

    def test_drip_data_cut(self):
        c = self.start_data()
        self.assertTrue(c.cmd(b'DATA').raw.startswith(b'354'))
        # Meanwhile another session delivers normally.
        errors = []

        def parallel():
            time.sleep(0.5)
            try:
                send_ok(self, self.port)
            except Exception as e:      # reported on the main thread
                errors.append(e)

        other = threading.Thread(target=parallel)
        other.start()
        reply, took, sent = self.drip(c, b'Subject: drip\r\n\r\n')
        other.join()
        self.assertEqual(errors, [])
        self.check_cut(reply, took, sent)
        msgs = self.pr.messages(ALICE)
        self.assertEqual(len(msgs), 1)          # the other session's only
        self.assertNotIn(b'Subject: drip', msgs[0])
        self.assertEqual(tmp_files(self.pr), [])
        self.assertIn('min_data_rate', self.pr.log('smtpd'))

    def test_drip_bdat_cut(self):
        c = self.start_data()
        reply, took, sent = self.drip(c, b'BDAT 100000 LAST\r\n')
        self.check_cut(reply, took, sent - len(b'BDAT 100000 LAST\r\n'))
        self.assertEqual(tmp_files(self.pr), [])

    def test_slow_but_fast_enough(self):
        """200 bytes/s for 4 s (over data_timeout, above the rate): delivered."""
        c = self.start_data()
        self.assertTrue(c.cmd(b'DATA').raw.startswith(b'354'))
        c.sock.sendall(b'Subject: slow\r\n\r\n')
        for _ in range(16):
            c.sock.sendall(b'y' * 48 + b'\r\n')
            time.sleep(0.25)
        self.assertTrue(c.cmd(b'.').raw.startswith(b'250'))
        self.assertEqual(len(self.pr.messages(ALICE)), 1)


if __name__ == '__main__':
    unittest.main()
