"""pop3d and imapd on one mailbox (issue 18): a POP3 login indexes new mail
where it lies in new/ (its UIDs in postroom-new-uids); imapd must then see
it as \\Recent, with the UIDs POP3's UIDL gave, and the other way round.

UIDL is "<uidvalidity %08x><uid %08x>" (store_uidl), so UIDs compare directly.
"""

import imaplib
import os
import poplib
import re
import smtplib
import unittest

from harness import Postroom, have_built, require
from test_daemon import descendants

ALICE = ('alice@example.test', 'alice-pw')


def quietly_shut(c):
    try:
        c.shutdown()
    except OSError:
        pass


class Pop3ImapNew(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(have_built('smtpd', 'pop3d', 'imapd'), 'smtpd, pop3d and imapd not built')

    def setUp(self):
        self.pr = Postroom(daemons=('smtpd', 'pop3d', 'imapd'))
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)
        self.sent = 0

    def deliver(self, n):
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            for _ in range(n):
                self.sent += 1
                s.sendmail('sender@remote.test', [ALICE[0]],
                           b'Subject: m%d\r\n\r\nbody %d\r\n' % (self.sent, self.sent))
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == self.sent)

    def count(self, sub):
        return len([n for n in os.listdir(os.path.join(self.pr.maildir(ALICE[0]), sub))
                    if not n.startswith('.')])

    def pop3_uids(self, retr=False):
        """(uidvalidity, [uid...]) from UIDL; with retr, each message RETRieved
        (QUIT then sets \\Seen, which moves a file out of new/)."""
        p = poplib.POP3('127.0.0.1', self.pr.port('pop3d.listen'), timeout=10)
        try:
            p.user(ALICE[0])
            p.pass_(ALICE[1])
            _, lines, _ = p.uidl()
            ids = [line.split()[1].decode() for line in lines]
            for i in range(len(ids) if retr else 0):
                _, text, _ = p.retr(i + 1)
                self.assertTrue(any(t.startswith(b'Subject: m') for t in text), text)
            p.quit()
        finally:
            p.close()
        self.assertTrue(all(len(x) == 16 for x in ids), ids)
        self.assertLessEqual(len({x[:8] for x in ids}), 1)
        return (ids[0][:8] if ids else None), [int(x[8:], 16) for x in ids]

    def imap(self):
        c = imaplib.IMAP4('127.0.0.1', self.pr.port('imapd.listen'), timeout=10)
        self.addCleanup(quietly_shut, c)
        self.assertEqual(c.login(*ALICE)[0], 'OK')
        return c

    def select(self, c):
        """(uidvalidity hex, exists, recent, [(uid, recent?, subject)...])."""
        typ, data = c.select('INBOX')
        self.assertEqual(typ, 'OK')
        exists = int(data[0])
        recent = int(c.untagged_responses.get('RECENT', [b'0'])[-1])
        validity = '%08x' % int(c.untagged_responses['UIDVALIDITY'][-1])
        return validity, exists, recent, self.messages(c)

    def messages(self, c):
        typ, data = c.fetch('1:*', '(UID FLAGS ENVELOPE)')
        self.assertEqual(typ, 'OK')
        out = []
        for d in data:
            uid = int(re.search(rb'UID (\d+)', d).group(1))
            flags = re.search(rb'FLAGS \(([^)]*)\)', d).group(1)
            subject = re.search(rb'ENVELOPE \((?:NIL|"[^"]*") "([^"]*)"', d).group(1).decode()
            out.append((uid, b'\\Recent' in flags, subject))
        return out

    def test_pop3_first_then_imap(self):
        self.deliver(3)
        validity, uids = self.pop3_uids()
        self.assertEqual(len(uids), 3)
        self.assertEqual((self.count('new'), self.count('cur')), (3, 0))
        self.assertEqual(self.pop3_uids(), (validity, uids))   # a second login agrees

        c = self.imap()
        v, exists, recent, msgs = self.select(c)
        self.assertEqual((v, exists, recent), (validity, 3, 3))
        self.assertEqual([m[0] for m in msgs], uids)
        self.assertTrue(all(m[1] for m in msgs), msgs)     # \Recent to the first IMAP session
        self.assertEqual([m[2] for m in msgs], ['m1', 'm2', 'm3'])
        self.assertEqual((self.count('new'), self.count('cur')), (0, 3))
        c.close()
        c.logout()

        self.assertEqual(self.pop3_uids(retr=True), (validity, uids))    # now from cur/
        c = self.imap()
        v, exists, recent, msgs = self.select(c)
        self.assertEqual((v, exists, recent), (validity, 3, 0))
        self.assertEqual([m[0] for m in msgs], uids)
        typ, data = c.fetch('1:*', '(FLAGS)')
        self.assertTrue(all(b'\\Seen' in d for d in data), data)
        c.logout()

    def test_imap_first_then_pop3(self):
        self.deliver(2)
        c = self.imap()
        validity, exists, recent, msgs = self.select(c)
        self.assertEqual((exists, recent), (2, 2))
        first = [m[0] for m in msgs]
        c.close()
        c.logout()
        self.assertEqual(self.pop3_uids(), (validity, first))

        self.deliver(2)     # POP3 indexes these two in new/
        v, uids = self.pop3_uids()
        self.assertEqual(self.pop3_uids(), (v, uids))
        self.assertEqual(v, validity)
        self.assertEqual(uids[:2], first)
        self.assertTrue(uids[2] > first[1] and uids[3] > uids[2], uids)
        self.assertEqual((self.count('new'), self.count('cur')), (2, 2))

        c = self.imap()
        v, exists, recent, msgs = self.select(c)
        self.assertEqual((v, exists, recent), (validity, 4, 2))
        self.assertEqual([m[0] for m in msgs], uids)
        self.assertEqual([m[1] for m in msgs], [False, False, True, True])
        c.logout()

    def test_pop3_while_imap_selected(self):
        """A POP3 login leaves new mail in new/; the selected IMAP session's NOOP
        sees it with POP3's UIDs, \\Recent to that session."""
        self.deliver(1)
        c = self.imap()
        validity, exists, _, _ = self.select(c)
        self.assertEqual(exists, 1)
        self.deliver(2)
        v, uids = self.pop3_uids()
        self.assertEqual((v, len(uids)), (validity, 3))
        self.assertEqual((self.count('new'), self.count('cur')), (2, 1))
        self.assertEqual(c.noop()[0], 'OK')
        self.assertIn(b'3', c.untagged_responses.get('EXISTS', []))
        msgs = self.messages(c)
        self.assertEqual([m[0] for m in msgs], uids)
        self.assertEqual([m[1] for m in msgs], [True, True, True])
        for i, uid in enumerate(uids):      # the bodies, from where the NOOP moved them
            typ, data = c.uid('FETCH', str(uid), '(BODY.PEEK[])')
            self.assertEqual(typ, 'OK')
            self.assertTrue(data[0][1].endswith(b'body %d\r\n' % (i + 1)), data)
        c.logout()
        self.assertEqual(self.pop3_uids(), (validity, uids))

    def index_mapped(self, name):
        """Whether a process of daemon name maps a region of alice's index."""
        want = os.path.join(self.pr.maildir(ALICE[0]), 'postroom-index', '__db.')
        for pid in descendants(self.pr.pid(name)):
            try:
                with open('/proc/%d/maps' % pid) as f:
                    if want in f.read():
                        return True
            except OSError:
                pass
        return False

    def test_imap_renames_under_pop3(self):
        """A POP3 session works from its snapshot with the index let go; an IMAP
        flag change renames a file under it: RETR still finds it, the index is
        let go again, and QUIT's \\Seen joins the IMAP session's \\Flagged."""
        self.deliver(3)
        p = poplib.POP3('127.0.0.1', self.pr.port('pop3d.listen'), timeout=10)
        self.addCleanup(p.close)
        p.user(ALICE[0])
        p.pass_(ALICE[1])
        self.assertEqual(p.stat()[0], 3)
        self.assertFalse(self.index_mapped('pop3d'))
        c = self.imap()
        self.select(c)
        for seq in ('2', '3'):      # one renamed, one moved out of new/
            typ, _ = c.store(seq, '+FLAGS', '(\\Flagged)')
            self.assertEqual(typ, 'OK')
        for i in (1, 2, 3):
            _, text, _ = p.retr(i)
            self.assertEqual(text[-1], b'body %d' % i)
        self.assertFalse(self.index_mapped('pop3d'))
        self.assertTrue(p.quit().startswith(b'+OK'))
        self.assertEqual(c.noop()[0], 'OK')
        c.untagged_responses.pop('FETCH', None)     # the NOOP's flag news
        typ, data = c.fetch('1:*', '(FLAGS)')
        flags = [set(re.search(rb'FLAGS \(([^)]*)\)', d).group(1).split()) - {b'\\Recent'}
                 for d in data]
        self.assertEqual(flags, [{b'\\Seen'}, {b'\\Seen', b'\\Flagged'},
                                 {b'\\Seen', b'\\Flagged'}])
        c.logout()


if __name__ == '__main__':
    unittest.main()
