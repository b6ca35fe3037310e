"""imapd's commands that change a mailbox, with Python's imaplib: STORE
(+FLAGS, -FLAGS, FLAGS, .SILENT, keywords), EXPUNGE, UID EXPUNGE, CLOSE's
silent expunge, COPY and MOVE with COPYUID and TRYCREATE, and what another
session sees of them (RFC 3501 7.4.1: no EXPUNGE during STORE, EXPUNGE on
NOOP).  The issue's two ways of moving to Trash run unmodified."""

import imaplib
import re

from test_imapd import ALICE, ImapCase


class StoreCommands(ImapCase):
    def session(self, folder='INBOX', readonly=False):
        c = self.imaps()
        self.assertEqual(c.login(*ALICE)[0], 'OK')
        self.assertEqual(c.select(folder, readonly=readonly)[0], 'OK')
        return c

    def flags(self, c, seq):
        typ, data = c.fetch(seq, '(FLAGS)')
        self.assertEqual(typ, 'OK')
        return re.search(rb'FLAGS \(([^)]*)\)', data[0]).group(1).split()

    def test_capabilities(self):
        c = self.imaps()
        c.login(*ALICE)
        typ, data = c.capability()
        self.assertIn(b'UIDPLUS', data[0].split())
        self.assertIn(b'MOVE', data[0].split())
        self.assertNotIn(b'CONDSTORE', data[0].split())

    def test_store_flags(self):
        self.deliver_samples()
        c = self.session()
        typ, data = c.store('1', '+FLAGS', '(\\Seen \\Flagged)')
        self.assertEqual(typ, 'OK')
        self.assertEqual(data, [b'1 (FLAGS (\\Flagged \\Seen \\Recent))'])
        typ, data = c.store('1', '-FLAGS', '(\\Flagged)')
        self.assertEqual(data, [b'1 (FLAGS (\\Seen \\Recent))'])
        typ, data = c.store('1:2', 'FLAGS', '(\\Answered)')
        self.assertEqual(data, [b'1 (FLAGS (\\Answered \\Recent))',
                                b'2 (FLAGS (\\Answered \\Recent))'])
        typ, data = c.store('2', '+FLAGS.SILENT', '(\\Draft)')
        self.assertEqual((typ, data), ('OK', [None]))
        self.assertEqual(self.flags(c, '2'), [b'\\Answered', b'\\Draft', b'\\Recent'])
        typ, data = c.uid('STORE', '2', '-FLAGS', '(\\Draft)')
        self.assertEqual(data, [b'2 (FLAGS (\\Answered \\Recent) UID 2)'])
        # The flags are on disk: a new session reads them.
        d = self.session()
        self.assertEqual(self.flags(d, '1'), [b'\\Answered'])

    def test_store_keywords(self):
        self.deliver_samples()
        c = self.session()
        typ, data = c.store('1', '+FLAGS', '($Label1 Work)')
        self.assertEqual(typ, 'OK')
        flags = c.untagged_responses.get('FLAGS', [b''])[-1]
        self.assertIn(b'$Label1', flags)
        self.assertIn(b'Work', flags)
        self.assertIn(b'$Label1', data[0])
        self.assertIn(b'Work', data[0])
        typ, data = c.store('1', '-FLAGS', '(Work)')
        self.assertNotIn(b'Work', data[0])
        self.assertIn(b'$Label1', data[0])

    def test_store_refusals(self):
        self.deliver_samples()
        c = self.session()
        with self.assertRaisesRegex(imaplib.IMAP4.error, 'BAD'):
            c.store('1', '+FLAGS', '(\\Recent)')
        with self.assertRaisesRegex(imaplib.IMAP4.error, 'BAD'):
            c.store('3', '+FLAGS', '(\\Seen)')      # no message 3
        self.assertEqual(c.uid('STORE', '99', '+FLAGS', '(\\Seen)'), ('OK', [None]))
        e = self.session(readonly=True)
        typ, data = e.store('1', '+FLAGS', '(\\Seen)')
        self.assertEqual(typ, 'NO')
        self.assertIn(b'READ-ONLY', data[0])
        self.assertEqual(e.expunge()[0], 'NO')
        self.assertEqual(self.flags(c, '1'), [b'\\Recent'])

    def test_move_to_trash_with_copy_deleted_expunge(self):
        """The issue's imaplib scenario, the old way."""
        self.deliver_samples()
        c = self.session()
        typ, data = c.copy('1', 'Trash')
        self.assertEqual(typ, 'OK')
        self.assertRegex(data[0], rb'^\[COPYUID \d+ 1 1\] ')
        self.assertEqual(c.store('1', '+FLAGS', '\\Deleted')[0], 'OK')
        self.assertEqual(c.expunge(), ('OK', [b'1']))
        self.assertEqual(c.fetch('1', '(UID)'), ('OK', [b'1 (UID 2)']))
        t = self.session('Trash')
        self.assertEqual(t.fetch('1:*', '(UID)'), ('OK', [b'1 (UID 1)']))

    def test_move_to_trash_with_move(self):
        """The issue's imaplib scenario with MOVE (RFC 6851)."""
        self.deliver_samples()
        c = self.session()
        typ, data = c.uid('MOVE', '2', 'Trash')
        self.assertEqual(typ, 'OK')
        self.assertRegex(c.untagged_responses['OK'][-1], rb'^\[COPYUID \d+ 2 1\] ')
        self.assertEqual(c.untagged_responses['EXPUNGE'], [b'2'])
        typ, data = c._simple_command('MOVE', '1', 'Trash')
        self.assertEqual(typ, 'OK')
        self.assertEqual(c.untagged_responses['EXPUNGE'][-1], b'1')
        self.assertEqual(c.noop(), ('OK', [b'NOOP completed.']))
        t = self.session('Trash')
        self.assertEqual(t.fetch('1:*', '(UID)'), ('OK', [b'1 (UID 1)', b'2 (UID 2)']))
        self.assertEqual(len(self.pr.messages(ALICE[0])), 0)

    def test_copy_trycreate(self):
        self.deliver_samples()
        c = self.session()
        typ, data = c.copy('1:2', 'NoSuchFolder')
        self.assertEqual(typ, 'NO')
        self.assertIn(b'[TRYCREATE]', data[0])
        typ, data = c._simple_command('MOVE', '1', 'NoSuchFolder')
        self.assertEqual(typ, 'NO')
        self.assertEqual(c.fetch('1:*', '(UID)'), ('OK', [b'1 (UID 1)', b'2 (UID 2)']))

    def test_uid_expunge_only_the_set(self):
        self.deliver_samples()
        c = self.session()
        c.store('1:2', '+FLAGS.SILENT', '(\\Deleted)')
        typ, data = c.uid('EXPUNGE', '2')
        self.assertEqual((typ, c.untagged_responses.get('EXPUNGE')), ('OK', [b'2']))
        self.assertEqual(c.fetch('1:*', '(UID)'), ('OK', [b'1 (UID 1)']))

    def test_close_expunges_silently(self):
        self.deliver_samples()
        c = self.session()
        c.store('2', '+FLAGS.SILENT', '(\\Deleted)')
        typ, data = c.close()
        self.assertEqual(typ, 'OK')
        self.assertNotIn('EXPUNGE', c.untagged_responses)
        self.assertEqual(len(self.pr.messages(ALICE[0])), 1)

    def test_other_session_sees_move_and_flags_on_noop(self):
        self.deliver_samples()
        a, b = self.session(), self.session()
        self.assertEqual(b.store('2', '+FLAGS.SILENT', '(\\Flagged)')[0], 'OK')
        self.assertEqual(a.noop()[0], 'OK')
        self.assertEqual(a.response('FETCH'), ('FETCH', [b'2 (FLAGS (\\Flagged \\Recent))']))
        self.assertEqual(b._simple_command('MOVE', '1', 'Trash')[0], 'OK')
        self.assertEqual(a.noop()[0], 'OK')
        self.assertEqual(a.untagged_responses.get('EXPUNGE'), [b'1'])
        self.assertEqual(a.fetch('1', '(UID)'), ('OK', [b'1 (UID 2)']))

    def test_no_expunge_during_store(self):
        """RFC 3501 7.4.1: a STORE after another session's expunge keeps the numbers."""
        self.deliver_samples()
        a, b = self.session(), self.session()
        b.store('1', '+FLAGS.SILENT', '(\\Deleted)')
        self.assertEqual(b.expunge(), ('OK', [b'1']))
        typ, data = a.store('2', '+FLAGS', '(\\Seen)')
        self.assertEqual(typ, 'OK')
        self.assertNotIn('EXPUNGE', a.untagged_responses)
        self.assertIn(b'2 (FLAGS (\\Seen \\Recent))', data)
        self.assertEqual(a.fetch('2', '(UID FLAGS)')[0], 'OK')
        self.assertEqual(a.noop()[0], 'OK')
        self.assertEqual(a.untagged_responses.get('EXPUNGE'), [b'1'])
        self.assertEqual(a.fetch('1:*', '(UID)'), ('OK', [b'1 (UID 2)']))
