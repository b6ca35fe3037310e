"""smtpd creates a message's local temp file at the first local RCPT (issue 18).

As Postfix creates its queue file when the first recipient is accepted: the
file exists in the first recipient's tmp/ before the client sends DATA, so
the 354 needs no trip through the workq.  Checked here on the real daemon:
- after RCPT (and its 250), one file appears in tmp/ without DATA;
- RSET, QUIT, a dropped connection and the idle timeout after RCPT each leave
  tmp/ empty;
- recipients accepted after the first (another user, a remote one) get the
  message too, and a pipelined MAIL/RCPT/DATA group still works; BDAT too.
"""

import os
import socket
import unittest

from harness import have_built, needs, start_postroom
from smtpclient_raw import RawSMTP

ALICE = 'alice@example.test'
BOB = 'bob@example.test'


def tmp_files(pr, addrs=(ALICE, BOB)):
    dirs = [os.path.join(pr.maildir(a), 'tmp') for a in addrs] + [os.path.join(pr.queue_dir, 'tmp')]
    return [os.path.join(d, n) for d in dirs if os.path.isdir(d) for n in os.listdir(d)]


@needs(have_built('smtpd', 'mailctl'), 'smtpd not built')
class RcptOpen(unittest.TestCase):

    def setUp(self):
        self.pr = start_postroom(self, daemons=('smtpd',), config={
            'smtpd.relay_networks': '127.0.0.0/8',
            'smtpd.idle_timeout': '2s'})
        self.port = self.pr.port('smtpd.mx_listen')

    def client(self):
        c = RawSMTP(self.port, timeout=10)
        self.addCleanup(c.close)
        self.assertTrue(c.cmd(b'EHLO client.test').raw.startswith(b'250'))
        return c

    def begin(self, c, rcpt=ALICE):
        self.assertTrue(c.cmd(b'MAIL FROM:<x@remote.test>').raw.startswith(b'250'))
        self.assertTrue(c.cmd(b'RCPT TO:<%s>' % rcpt.encode()).raw.startswith(b'250'))

    def test_file_made_at_rcpt_and_removed_without_data(self):
        c = self.client()
        self.begin(c)
        # No DATA yet: the file is in alice's tmp/ already.
        self.assertTrue(self.pr.wait_for(lambda: len(tmp_files(self.pr)) == 1, timeout=5))
        self.assertTrue(c.cmd(b'RSET').raw.startswith(b'250'))
        # Removed on the workq, not before the 250: soon after it.
        self.assertTrue(self.pr.wait_for(lambda: tmp_files(self.pr) == [], timeout=5))
        self.begin(c)
        self.assertTrue(self.pr.wait_for(lambda: len(tmp_files(self.pr)) == 1, timeout=5))
        self.assertTrue(c.cmd(b'QUIT').raw.startswith(b'221'))
        self.assertTrue(self.pr.wait_for(lambda: tmp_files(self.pr) == [], timeout=5))
        c = self.client()
        self.begin(c)
        self.assertTrue(self.pr.wait_for(lambda: len(tmp_files(self.pr)) == 1, timeout=5))
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        self.assertTrue(self.pr.wait_for(lambda: tmp_files(self.pr) == [], timeout=5))
        c = self.client()
        self.begin(c)
        self.assertTrue(c.reply(timeout=6).raw.startswith(b'421 4.4.2'))
        self.assertTrue(self.pr.wait_for(lambda: tmp_files(self.pr) == [], timeout=5))
        self.assertEqual(self.pr.messages(ALICE), [])

    def test_later_recipients_pipelining_bdat(self):
        c = self.client()
        self.begin(c)
        self.assertTrue(c.cmd(b'RCPT TO:<%s>' % BOB.encode()).raw.startswith(b'250'))
        self.assertTrue(c.cmd(b'RCPT TO:<someone@far.test>').raw.startswith(b'250'))
        self.assertTrue(c.cmd(b'DATA').raw.startswith(b'354'))
        self.assertTrue(c.cmd(b'Subject: three\r\n\r\nbody\r\n.').raw.startswith(b'250'))
        for who in (ALICE, BOB):
            msgs = self.pr.messages(who)
            self.assertEqual(len(msgs), 1, who)
            self.assertTrue(msgs[0].endswith(b'\nSubject: three\n\nbody\n'), msgs[0][-100:])
        # Pipelined: the whole group in one write, the 354 after the RCPT's file.
        c.sock.sendall(b'MAIL FROM:<x@remote.test>\r\nRCPT TO:<%s>\r\nDATA\r\n' % BOB.encode())
        self.assertEqual([r.code for r in c.replies(3)], [250, 250, 354])
        self.assertTrue(c.cmd(b'Subject: piped\r\n\r\nx\r\n.').raw.startswith(b'250'))
        self.assertTrue(self.pr.messages(BOB)[-1].endswith(b'\nSubject: piped\n\nx\n'))
        self.begin(c, BOB)
        c.sock.sendall(b'BDAT 0\r\nBDAT 4 LAST\r\nab\r\n')
        self.assertEqual([r.code for r in c.replies(2)], [250, 250])
        self.assertEqual(len(self.pr.messages(BOB)), 3)
        self.assertTrue(self.pr.messages(BOB)[-1].endswith(b'\nab\n'))
        self.assertEqual(tmp_files(self.pr), [])


if __name__ == '__main__':
    unittest.main()
