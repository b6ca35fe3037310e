"""imapd folder commands end to end with imaplib: LIST/LSUB (LIST-EXTENDED,
LIST-STATUS), STATUS, CREATE/DELETE/RENAME, SUBSCRIBE/UNSUBSCRIBE, and
hostile mailbox names refused with NO [CANNOT] on a connection that stays
usable.
"""

import re

from harness import have_built, require
from test_imapd import ALICE, ImapCase

SPECIAL = {'Sent', 'Drafts', 'Trash', 'Junk'}


def names(data):
    """The mailbox names of LIST/LSUB replies, with their attributes."""
    out = {}
    for line in data:
        m = re.match(rb'\(([^)]*)\) (?:"."|NIL) (.*)$', line)
        assert m, line
        out[m.group(2).strip(b'"').decode()] = set(m.group(1).decode().split())
    return out


class Folders(ImapCase):
    def login(self):
        c = self.imap()
        c.starttls(ssl_context=self.pr.ssl_context())
        c.login(*ALICE)
        return c

    def test_capabilities(self):
        c = self.login()
        caps = c.capability()[1][0].split()
        for cap in (b'CHILDREN', b'SPECIAL-USE', b'LIST-EXTENDED', b'LIST-STATUS',
                    b'STATUS=SIZE'):
            self.assertIn(cap, caps)

    def test_create_list_rename_delete(self):
        self.deliver_samples()
        c = self.login()
        # The store makes Sent, Drafts, Trash and Junk (subscribed) with the Maildir.
        for box in ('Archive.2024', 'Work'):
            self.assertEqual(c.create(box)[0], 'OK', box)
        typ, data = c.create('Work')
        self.assertEqual(typ, 'NO')
        self.assertIn(b'[ALREADYEXISTS]', data[0])
        typ, data = c.list()
        self.assertEqual(typ, 'OK')
        got = names(data)
        self.assertEqual(set(got), {'INBOX', 'Archive', 'Archive.2024', 'Work'} | SPECIAL)
        self.assertIn('\\HasChildren', got['Archive'])
        self.assertIn('\\HasNoChildren', got['Work'])
        self.assertIn('\\Sent', got['Sent'])
        self.assertIn('\\Trash', got['Trash'])
        self.assertIn('\\Drafts', got['Drafts'])
        self.assertIn('\\Junk', got['Junk'])
        self.assertNotIn('\\Sent', got['Work'])
        typ, data = c.list('""', '%')
        self.assertNotIn('Archive.2024', names(data))
        typ, data = c.list('Archive.', '*')
        self.assertEqual(set(names(data)), {'Archive.2024'})

        self.assertEqual(c.rename('Archive', 'Old')[0], 'OK')
        self.assertEqual(set(names(c.list('""', 'Old*')[1])), {'Old', 'Old.2024'})
        typ, data = c.status('INBOX', '(MESSAGES UIDNEXT UNSEEN SIZE)')
        self.assertEqual(typ, 'OK')
        self.assertRegex(data[0], rb'^"?INBOX"? \(MESSAGES 2 UIDNEXT 3 UNSEEN 2 SIZE \d+\)$')
        # RENAME INBOX: its messages move, INBOX stays (empty).
        self.assertEqual(c.rename('inbox', 'Moved')[0], 'OK')
        self.assertRegex(c.status('Moved', '(MESSAGES)')[1][0], rb'MESSAGES 2\)')
        self.assertRegex(c.status('INBOX', '(MESSAGES)')[1][0], rb'MESSAGES 0\)')

        typ, data = c.delete('INBOX')
        self.assertEqual(typ, 'NO')
        self.assertEqual(c.delete('Work')[0], 'OK')
        typ, data = c.status('Work', '(MESSAGES)')
        self.assertEqual(typ, 'NO')
        self.assertIn(b'[NONEXISTENT]', data[0])
        # DELETE of the selected folder: left first, then removed.
        self.assertEqual(c.select('Moved')[0], 'OK')
        self.assertEqual(c.delete('Moved')[0], 'OK')
        self.assertNotIn('Moved', names(c.list()[1]))
        self.assertEqual(c.noop()[0], 'OK')

    def test_subscribe_lsub_extended_status(self):
        self.deliver_samples()
        c = self.login()
        for box in ('A', 'A.B', 'C'):
            c.create(box)
        self.assertEqual(c.subscribe('A.B')[0], 'OK')
        self.assertEqual(c.subscribe('Gone')[0], 'OK')     # RFC 3501 6.3.6: any name
        typ, data = c.lsub()
        self.assertEqual(set(names(data)), {'A.B', 'Gone'} | SPECIAL)
        self.assertEqual(c.unsubscribe('Gone')[0], 'OK')
        self.assertEqual(set(names(c.lsub()[1])), {'A.B'} | SPECIAL)
        typ, data = c._simple_command('LIST', '(SUBSCRIBED)', '""', '*')
        got = names(c.untagged_responses.pop('LIST', []))
        self.assertEqual(typ, 'OK')
        self.assertEqual(set(got), {'A.B'} | SPECIAL)
        self.assertIn('\\Subscribed', got['A.B'])
        typ, _ = c._simple_command('LIST', '""', '*', 'RETURN', '(STATUS (MESSAGES UNSEEN))')
        self.assertEqual(typ, 'OK')
        self.assertTrue(any(re.match(rb'"?INBOX"? \(MESSAGES 2 UNSEEN 2\)', d)
                            for d in c.untagged_responses.pop('STATUS', [])))
        c.untagged_responses.pop('LIST', None)
        with self.assertRaisesRegex(c.error, 'CONDSTORE'):     # not enabled
            c.status('INBOX', '(HIGHESTMODSEQ)')
        self.assertEqual(c.noop()[0], 'OK')

    def test_hostile_names_refused(self):
        c = self.login()
        hostile = ['..', 'a..b', 'x/y', '../etc', '~root', '.hidden', 'bad&x',
                   'bad&Jjo', '&AGEAYgBj-', 'x' * 300, 'tmp', 'new', 'cur',
                   'INBOX.child']
        for name in hostile:
            for cmd in ('CREATE', 'SELECT', 'STATUS', 'DELETE'):
                args = (f'"{name}"',) + (('(MESSAGES)',) if cmd == 'STATUS' else ())
                typ, data = c._simple_command(cmd, *args)
                self.assertIn(typ, ('NO', 'BAD'), (cmd, name))
                self.assertNotEqual(typ, 'OK', (cmd, name))
                self.assertEqual(c.noop()[0], 'OK')     # resets the failed-command count
        # A control character in a literal.
        typ, data = c._simple_command('CREATE', '"a\x01b"')
        self.assertIn(typ, ('NO', 'BAD'))
        self.assertEqual(c.noop()[0], 'OK')
        self.assertEqual(set(names(c.list()[1])), {'INBOX'} | SPECIAL)
        self.assertEqual(c.create('Fine')[0], 'OK')


if __name__ == '__main__':
    import unittest
    unittest.main()
