"""imapd FETCH BODY[section]<partial>, BODY.PEEK and RFC822.* through the
daemon (issue 15): the imaplib scenario (headers with RFC 2047 Chinese
subjects, RFC822 equal to the delivered bytes in CRLF form), \\Seen set by a
non-PEEK fetch with FLAGS in the reply, a 30 MB message streamed to a slow
reader with imapd's memory bounded, and a message expunged (its file
removed) before or while its FETCH runs.
"""

import os
import re
import socket
import time
import unittest

from harness import children
from test_imapd import ALICE, SUBJECT, ImapCase, decode

BIG = 30 * 1024 * 1024


def crlf(data):
    return data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')


def rss_kb(pid):
    """VmRSS of pid and its workers, summed (kB)."""
    total = 0
    for p in [pid] + children(pid):
        try:
            with open('/proc/%d/status' % p) as f:
                total += int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total


def big_message():
    line = b'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!!\n'   # 65 bytes
    head = b'From: big@remote.test\nTo: alice@example.test\nSubject: big\n\n'
    return head + line * (BIG // len(line))


class FetchBody(ImapCase):
    def login(self):
        c = self.imap()
        c.login(*ALICE)
        return c

    def test_imaplib_scenario(self):
        self.deliver_samples()
        stored = self.pr.messages(ALICE[0])
        c = self.login()
        c.select('INBOX')
        typ, data = c.fetch('1:*', '(BODY.PEEK[HEADER])')
        self.assertEqual(typ, 'OK')
        import email
        heads = [email.message_from_bytes(d[1]) for d in data if isinstance(d, tuple)]
        self.assertEqual(decode(heads[0]['Subject'].encode()), SUBJECT)
        self.assertEqual(heads[1]['Subject'], 'plain')
        typ, data = c.fetch('1:*', '(FLAGS)')
        self.assertNotIn(b'\\Seen', b''.join(data), 'BODY.PEEK set \\Seen')
        typ, data = c.fetch('1:*', '(RFC822)')
        self.assertEqual(typ, 'OK')
        got = [d for d in data if isinstance(d, tuple)]
        self.assertEqual([g[1] for g in got], [crlf(m) for m in stored])
        # RFC 3501 6.4.5: the fetch set \Seen, and says so with FLAGS after the items asked
        for n, g in enumerate(got, 1):
            self.assertRegex(g[0], rb'^%d \(RFC822 \{\d+\}$' % n)
        self.assertEqual([d for d in data if not isinstance(d, tuple)],
                         [b' FLAGS (\\Seen \\Recent))'] * 2)
        typ, data = c.fetch('1', '(FLAGS BODY[TEXT])')
        self.assertTrue(data[0][0].startswith(b'1 (FLAGS (\\Seen \\Recent) BODY[TEXT] {'), data)
        self.assertEqual(data[1], b')')
        self.assertEqual(c.logout()[0], 'BYE')

    def test_sections_and_partials(self):
        msgs = self.deliver_samples()
        c = self.login()
        c.select('INBOX')
        wire = crlf(self.pr.messages(ALICE[0])[1])
        typ, data = c.uid('FETCH', '2', '(BODY.PEEK[]<0.10> BODY.PEEK[HEADER.FIELDS (subject)] '
                          'RFC822.HEADER BODY.PEEK[TEXT] RFC822.SIZE)')
        self.assertEqual(typ, 'OK')
        parts = [d for d in data if isinstance(d, tuple)]
        self.assertEqual(parts[0][0], b'2 (UID 2 BODY[]<0> {10}')
        self.assertEqual(parts[0][1], wire[:10])
        self.assertEqual(parts[1][0], b' BODY[HEADER.FIELDS (SUBJECT)] {18}')
        self.assertEqual(parts[1][1], b'Subject: plain\r\n\r\n')
        self.assertEqual(parts[2][1], wire[:wire.index(b'\r\n\r\n') + 4])
        self.assertEqual(parts[3][1], b'hi\r\n')
        self.assertEqual(data[-1], b' RFC822.SIZE %d)' % len(wire))
        typ, data = c.fetch('1', '(BODY.PEEK[2.MIME] BODY.PEEK[9])')
        self.assertIn(b'filename', data[0][1])
        self.assertEqual(data[1][1], b'')
        self.assertEqual(len(msgs), 2)

    def test_examine_does_not_set_seen(self):
        self.deliver_samples()
        c = self.login()
        c.select('INBOX', readonly=True)
        typ, data = c.fetch('2', '(BODY[])')
        self.assertEqual(data[1], b')')
        c.close()
        c.select('INBOX')
        typ, data = c.fetch('2', '(FLAGS)')
        self.assertNotIn(b'\\Seen', data[0])

    def put_big(self):
        """The 30 MB message, put straight into the Maildir (smtpd would take long)."""
        self.deliver_samples()
        path = os.path.join(self.pr.maildir(ALICE[0]), 'new', '%d.big.test' % time.time())
        data = big_message()
        with open(path + '.tmp', 'wb') as f:
            f.write(data)
        os.rename(path + '.tmp', path)
        return path, crlf(data)

    def raw_select(self):
        s, f = self.raw()
        s.sendall(b'a LOGIN %s %s\r\nb SELECT INBOX\r\n' % tuple(a.encode() for a in ALICE))
        self.until_tagged(f, b'a')
        self.assertTrue(self.until_tagged(f, b'b')[-1].startswith(b'b OK'))
        return s, f

    def test_big_message_to_a_slow_reader(self):
        path, wire = self.put_big()
        s, f = self.raw_select()
        pid = self.pr.pid('imapd')
        base = rss_kb(pid)
        s.sendall(b'c FETCH 3 (BODY.PEEK[])\r\n')
        head = f.readline()
        self.assertEqual(head, b'* 3 FETCH (BODY[] {%d}\r\n' % len(wire))
        got, peak, t0 = bytearray(), base, time.time()
        while len(got) < len(wire):
            got += f.read(min(256 * 1024, len(wire) - len(got)))
            peak = max(peak, rss_kb(pid))
            time.sleep(0.01)        # ~25 MB/s at most: the output fills and waits
        self.assertTrue(bytes(got) == wire, 'the literal is not the message')
        self.assertEqual(f.readline(), b')\r\n')
        self.assertTrue(f.readline().startswith(b'c OK'))
        print('\n30 MB BODY[] to a slow reader: %.1f s, imapd RSS %d kB -> peak %d kB'
              % (time.time() - t0, base, peak))
        self.assertLess(peak - base, 16 * 1024, 'imapd held the message in memory')

    def test_expunged_while_fetching(self):
        path, wire = self.put_big()
        s, f = self.raw_select()
        s.sendall(b'c FETCH 3 (BODY.PEEK[])\r\n')
        self.assertEqual(f.readline(), b'* 3 FETCH (BODY[] {%d}\r\n' % len(wire))
        first = f.read(1024 * 1024)
        md, name = self.pr.maildir(ALICE[0]), os.path.basename(path)
        os.unlink(next(os.path.join(md, sub, n) for sub in ('new', 'cur')
                       for n in os.listdir(os.path.join(md, sub)) if n.startswith(name)))
        # gone (another client expunged it): the open file still reads
        rest = f.read(len(wire) - len(first))
        self.assertTrue(first + rest == wire)
        self.assertEqual(f.readline(), b')\r\n')
        self.assertTrue(f.readline().startswith(b'c OK'))

    def test_expunged_before_fetch(self):
        self.deliver_samples()
        s, f = self.raw_select()
        md = self.pr.maildir(ALICE[0])
        files = [os.path.join(md, sub, n) for sub in ('new', 'cur')
                 for n in os.listdir(os.path.join(md, sub))]
        os.unlink(min(files, key=os.path.basename))     # message 1, as pr.messages() orders
        s.sendall(b'c FETCH 1:2 (UID BODY.PEEK[TEXT])\r\n')
        lines = self.until_tagged(f, b'c')
        self.assertTrue(lines[-1].startswith(b'c NO [EXPUNGEISSUED]'), lines)
        self.assertTrue(lines[0].startswith(b'* 2 FETCH (UID 2 BODY[TEXT] {4}'), lines)
        self.assertEqual(lines[1], b'hi\r\n')


if __name__ == '__main__':
    unittest.main()
