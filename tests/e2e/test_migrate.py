"""Moving users and mail from Dovecot to Postroom and back (issue 17, "Migration round trip").

Dovecot to Postroom: a mailbox built in a throw-away Dovecot (tests/e2e/dovecot.py) over
IMAP (APPEND with flags and keywords, folders with a child, a subscription, a STORE and an
EXPUNGE that leaves a gap in the UIDs), its passwd-file with SHA512-CRYPT and BLF-CRYPT
hashes made by `doveadm pw`, the Maildir copied into mail_root, then `mailctl
import-dovecot`: Postroom's IMAP must show the same logins, folders, subscriptions,
UIDVALIDITYs, UIDNEXTs, UIDs, flags, keywords and bytes.  A passwd-file with a hash crypt(3)
cannot check is refused whole.  Postroom to Dovecot: the same built in Postroom, its
Maildir copied into Dovecot's tree, `mailctl export-dovecot` on the copy, and Dovecot must
show the same, with Postroom's passwd line as it is in Dovecot's passwd-file.  About 5 s.
"""

import imaplib
import os
import re
import shutil
import subprocess
import unittest

from dovecot import Dovecot
from harness import Postroom, have_built, require

NAMESPACE = """\
namespace inbox {
  inbox = yes
  separator = .
  prefix =
}
"""

CAROL = ('carol@example.test', 'carol pw 1')
DAVE = ('dave@example.test', 'dave-pw-2')
ALICE = ('alice@example.test', 'alice-pw')

MESSAGES = (    # folder, flags at APPEND
    ('INBOX', r'(\Seen)'),
    ('INBOX', r'(\Flagged \Answered $Label1)'),
    ('INBOX', r'()'),
    ('INBOX', r'($Forwarded Junk \Draft)'),
    ('INBOX', r'(\Seen $Label1)'),
    ('Work.Projects', r'(\Seen \Flagged)'),
    ('Work.Projects', r'(project-x)'),
    ('Work', r'()'),
)

FETCH_RE = re.compile(rb'UID (\d+)|FLAGS \(([^)]*)\)')


def body(i):
    return ('From: sender@example.org\r\nTo: carol@example.test\r\nSubject: message %d\r\n'
            'Message-ID: <m%d@example.org>\r\nDate: Tue, 2 Jan 2024 10:%02d:00 +0000\r\n\r\n'
            'Body of message %d.\r\n' % (i, i, i, i)).encode()


def fill(imap):
    """The mailbox both directions start from, built over IMAP."""
    for name in ('Work', 'Work.Projects', 'Empty'):
        ok(imap.create(name))
    ok(imap.subscribe('Work.Projects'))
    ok(imap.subscribe('Empty'))
    for i, (folder, flags) in enumerate(MESSAGES):
        ok(imap.append(folder, flags, imaplib.Time2Internaldate(1704189600 + i), body(i)))
    ok(imap.select('INBOX'))
    ok(imap.uid('STORE', '3', '+FLAGS', r'(\Deleted)'))
    ok(imap.expunge())
    ok(imap.uid('STORE', '1', '+FLAGS', r'(\Answered $Label2)'))
    ok(imap.close())


def ok(reply):
    typ, data = reply
    if typ != 'OK':
        raise AssertionError('%s %r' % (typ, data))
    return data


def names(lines):
    """Folder names of LIST/LSUB lines (quoted or atoms)."""
    out = set()
    for line in lines:
        if line is None:
            continue
        m = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', line)
        name = m.group(2).decode()
        out.add(name[1:-1] if name.startswith('"') else name)
    return out


def snapshot(port, user, password):
    """What a client sees: folders, subscriptions, and per folder UIDVALIDITY, UIDNEXT and
    (UID, flags, bytes) of each message.  \\Recent is left out (a session's own)."""
    imap = imaplib.IMAP4('127.0.0.1', port)
    try:
        ok(imap.login(user, password))
        folders = names(ok(imap.list('""', '*')))
        snap = {'folders': folders, 'subscribed': names(ok(imap.lsub('""', '*')))}
        for folder in sorted(folders):
            ok(imap.select(folder, readonly=True))
            status = ok(imap.status(folder, '(UIDVALIDITY UIDNEXT)'))[0]
            msgs = []
            data = ok(imap.uid('FETCH', '1:*', '(UID FLAGS BODY.PEEK[])'))
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = flags = None
                for m in FETCH_RE.finditer(item[0]):
                    if m.group(1):
                        uid = int(m.group(1))
                    else:
                        flags = sorted(f for f in m.group(2).decode().split()
                                       if f != '\\Recent')
                msgs.append((uid, flags, item[1]))
            snap[folder] = (re.sub(rb'^.*\(', b'(', status), sorted(msgs))
            ok(imap.close())
        return snap
    finally:
        imap.logout()


def doveadm_hash(scheme, password):
    p = subprocess.run(['doveadm', 'pw', '-s', scheme, '-p', password], capture_output=True,
                       text=True, check=True)
    return p.stdout.strip()


class Migrate(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require(have_built('imapd', 'mailctl'), 'imapd or mailctl not built')
        require(Dovecot.available(), Dovecot.missing())

    def test_dovecot_to_postroom(self):
        stored = {CAROL[0]: doveadm_hash('SHA512-CRYPT', CAROL[1]),
                  DAVE[0]: doveadm_hash('BLF-CRYPT', DAVE[1]) +    # a typical line
                  ':5000:5000::/var/vmail/example.test/dave::userdb_quota_rule=*:storage=1G'}
        with Dovecot(users=dict((CAROL, DAVE)), stored=stored, sections=NAMESPACE) as dc:
            imap = imaplib.IMAP4('127.0.0.1', dc.port('imap'))
            ok(imap.login(*CAROL))
            fill(imap)
            imap.logout()
            before = snapshot(dc.port('imap'), *CAROL)
            with Postroom(daemons=('imapd',)) as pr:
                # Refused whole: a hash crypt(3) cannot check, nothing changed.
                bad = os.path.join(pr.dir, 'bad-passwd')
                with open(bad, 'w') as f:
                    f.write('%s:%s\nerin@example.test:{PLAIN}x\n' % (DAVE[0], stored[DAVE[0]]))
                passwd = open(os.path.join(pr.conf_dir, 'passwd')).read()
                p = pr.mailctl('import-dovecot', bad, check=False)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn('erin@example.test: a {PLAIN} hash', p.stderr)
                self.assertEqual(open(os.path.join(pr.conf_dir, 'passwd')).read(), passwd)

                # The admin's copy, then the import.
                os.makedirs(os.path.dirname(pr.maildir(CAROL[0])))
                shutil.copytree(dc.maildir(CAROL[0]), pr.maildir(CAROL[0]), symlinks=True)
                if pr.as_root:
                    pr._chown_tree(os.path.join(pr.mail_root, 'example.test'))
                p = pr.mailctl('import-dovecot', os.path.join(dc.dir, 'passwd'))
                self.assertIn('carol@example.test: 7 UIDs kept', p.stdout)
                self.assertIn('dave@example.test: no Maildir', p.stdout)
                pr.restart('imapd')
                after = snapshot(pr.port('imapd.listen'), *CAROL)
                self.assertEqual(after, before)
                # dave logs in with his bcrypt password and has the usual folders.
                imap = imaplib.IMAP4('127.0.0.1', pr.port('imapd.listen'))
                ok(imap.login(*DAVE))
                self.assertIn('Sent', names(ok(imap.list('""', '*'))))
                imap.logout()
                # Mail delivered after the import does not reuse a UID.
                imap = imaplib.IMAP4('127.0.0.1', pr.port('imapd.listen'))
                ok(imap.login(*CAROL))
                ok(imap.append('INBOX', '()', None, body(99)))
                ok(imap.select('INBOX'))
                uids = ok(imap.uid('SEARCH', 'ALL'))[0].split()
                self.assertEqual(int(uids[-1]), int(re.search(
                    rb'UIDNEXT (\d+)', before['INBOX'][0]).group(1)))
                imap.logout()

    def test_postroom_to_dovecot(self):
        with Postroom(daemons=('imapd',)) as pr:
            imap = imaplib.IMAP4('127.0.0.1', pr.port('imapd.listen'))
            ok(imap.login(*ALICE))
            fill(imap)
            imap.logout()
            before = snapshot(pr.port('imapd.listen'), *ALICE)
            line = [l for l in open(os.path.join(pr.conf_dir, 'passwd'))
                    if l.startswith(ALICE[0] + ':')][0]
            pr.stop('imapd')
            # Postroom's passwd line as it is, fields after the hash included.
            with Dovecot(users=dict((ALICE,)), stored={ALICE[0]: line.split(':', 1)[1].strip()},
                         sections=NAMESPACE) as dc:
                shutil.rmtree(dc.maildir(ALICE[0]))
                shutil.copytree(pr.maildir(ALICE[0]), dc.maildir(ALICE[0]), symlinks=True)
                p = pr.mailctl('export-dovecot', dc.maildir(ALICE[0]))
                self.assertIn('7 UIDs written', p.stdout)
                dc.chown(dc.maildir(ALICE[0]))
                after = snapshot(dc.port('imap'), *ALICE)
                # UIDNEXT is our reserved high-water mark (never below the real one):
                # UIDs expunged above the last message must not come back.
                for folder in before['folders']:
                    old, new = (int(re.search(rb'UIDNEXT (\d+)', s[folder][0]).group(1))
                                for s in (before, after))
                    self.assertGreaterEqual(new, old, folder)
                    before[folder] = (re.sub(rb'UIDNEXT \d+', b'', before[folder][0]),
                                      before[folder][1])
                    after[folder] = (re.sub(rb'UIDNEXT \d+', b'', after[folder][0]),
                                     after[folder][1])
                self.assertEqual(after, before, dc.log())


if __name__ == '__main__':
    unittest.main()
