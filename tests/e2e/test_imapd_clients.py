"""imapd with real clients, driven as their users drive them: mbsync (isync)
syncing a 1,000-message account both ways, mutt reading and moving over
imaps, curl imap:// and imaps:// (LIST, SEARCH, FETCH, APPEND) and fetchmail
fetching with keep and without.

The 1,000 messages are written into the Maildir (a fraction of a second);
mail "from outside" comes through smtpd.  Under CI a missing client fails
(tools/deps.sh installs isync, mutt, curl and fetchmail).  Each test prints
how long it took.
"""

import datetime
import fcntl
import glob
import os
import re
import select
import shutil
import smtplib
import struct
import subprocess
import termios
import time

from harness import have_tool, require
from test_imapd import ALICE, ImapCase, sample_messages

CLIENT_TIMEOUT = 120        # seconds for one client run; each finishes in a few

# mbsync's Maildir flag letters and the IMAP flags they stand for.
MAILDIR_FLAGS = {'D': '\\Draft', 'F': '\\Flagged', 'R': '\\Answered', 'S': '\\Seen',
                 'T': '\\Deleted'}


def message(i, sender='remote.test'):
    return (b'From: a%d@%s\nTo: alice@example.test\nSubject: message %d\n'
            b'Message-ID: <m%d@%s>\nDate: Sat, 05 Dec 2026 12:00:00 +0000\n\nbody %d\n'
            % (i, sender.encode(), i, i, sender.encode(), i))


# Made in the local Maildir and uploaded by mbsync: plain, without a final
# newline, already CRLF, with an empty body.
LOCAL_MESSAGES = (
    message(1, 'example.test'),
    b'From: me@example.test\nSubject: no final newline\nMessage-ID: <nonl@example.test>\n\nx',
    b'From: me@example.test\r\nSubject: crlf\r\nMessage-ID: <crlf@example.test>\r\n\r\nx\r\n',
    b'From: me@example.test\nSubject: empty body\nMessage-ID: <empty@example.test>\n\n',
)


def message_id(data):
    m = re.search(rb'^Message-ID: *(<[^>\r\n]*>)', data, re.I | re.M)
    return m.group(1).decode() if m else None


class ClientCase(ImapCase):
    tool = None

    def setUp(self):
        require(have_tool(self.tool), '%s not installed (tools/deps.sh)' % self.tool)
        super().setUp()
        self.started = time.monotonic()
        self.addCleanup(lambda: print('\n  %s: %.1f s' % (self.id().rsplit('.', 1)[-1],
                                                        time.monotonic() - self.started)))
        self.home = os.path.join(self.pr.dir, 'client')
        os.mkdir(self.home)

    def drop(self, count, flags=lambda i: ''):
        """count messages into alice's cur/ directly, named in order."""
        md = self.pr.maildir(ALICE[0])
        for i in range(count):
            name = '%d.M%dP1.clients:2,%s' % (1000000000 + i, i, flags(i))
            with open(os.path.join(md, 'cur', name), 'wb') as f:
                f.write(message(i))
        if self.pr.as_root:
            self.pr._chown_tree(md)

    def deliver(self, *messages):
        before = len(self.pr.messages(ALICE[0]))
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            for m in messages:
                s.sendmail('sender@remote.test', [ALICE[0]], m)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == before + len(messages))

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.home, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def run_client(self, argv, **kwargs):
        return subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT,
                              env=dict(os.environ, HOME=self.home), **kwargs)

    def server_state(self, folder='INBOX'):
        """{Message-ID: set of flags} of a folder, as imapd tells it."""
        c = self.imap()
        c.login(*ALICE)
        typ, data = c.select(folder, readonly=True)
        self.assertEqual(typ, 'OK', data)
        state = {}
        if data != [b'0']:
            typ, data = c.fetch('1:*', '(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
            self.assertEqual(typ, 'OK', data)
            for item in data:
                if isinstance(item, tuple):
                    flags = re.search(rb'FLAGS \(([^)]*)\)', item[0]).group(1).decode()
                    state[message_id(item[1])] = set(flags.split()) - {'\\Recent'}
        c.logout()
        return state


class Mbsync(ClientCase):
    """mbsync syncs 1,000 messages both ways, twice, nothing changing the
    second time: told by its own protocol trace (-Dn)."""
    tool = 'mbsync'

    def setUp(self):
        super().setUp()
        self.local = os.path.join(self.home, 'Mail')
        os.mkdir(self.local)
        self.rc = self.write('mbsyncrc', '\n'.join([
            'IMAPAccount pr', 'Host localhost', 'Port %d' % self.pr.port('imapd.tls_listen'),
            'User %s' % ALICE[0], 'Pass %s' % ALICE[1], 'SSLType IMAPS',
            'CertificateFile %s' % self.pr.cert, 'AuthMechs LOGIN', '',
            'IMAPStore far', 'Account pr', '',
            'MaildirStore near', 'Path %s/' % self.local, 'Inbox %s/INBOX' % self.local,
            'SubFolders Verbatim', '',
            'Channel pr', 'Far :far:', 'Near :near:', 'Patterns *', 'Create Both',
            'Expunge Both', 'SyncState *', '']))

    def sync(self):
        """One mbsync run: the commands it sent (tags and continuations gone)."""
        start = time.monotonic()
        p = self.run_client(['mbsync', '-Dn', '-c', self.rc, 'pr'])
        out = p.stdout.decode(errors='replace') + p.stderr.decode(errors='replace')
        self.assertEqual(p.returncode, 0, out[-3000:])
        self.assertNotIn('Error', out)
        commands = re.findall(r'^(?:\(\d+ in progress\) )?>>> \S+ (.*)$', out, re.M)
        print('\n  mbsync: %d commands in %.1f s' % (len(commands), time.monotonic() - start),
              end='')
        return commands

    def near_state(self):
        state = {}
        for path in glob.glob(os.path.join(self.local, 'INBOX', '*', '*')):
            if os.path.basename(os.path.dirname(path)) == 'tmp':
                continue
            with open(path, 'rb') as f:
                mid = message_id(f.read())
            letters = path.rsplit(':2,', 1)[1] if ':2,' in path else ''
            state[mid] = set(MAILDIR_FLAGS[c] for c in letters if c in MAILDIR_FLAGS)
        return state

    def near_file(self, mid):
        """The path of the local copy of the message with Message-ID mid."""
        for path in glob.glob(os.path.join(self.local, 'INBOX', '*', '*')):
            with open(path, 'rb') as f:
                if message_id(f.read()) == mid:
                    return path
        self.fail('no local copy of %s' % mid)

    def near_files(self):
        return sorted(os.path.relpath(p, self.local)
                      for p in glob.glob(os.path.join(self.local, '*', '*', '*')))

    def assert_uploaded(self):
        """imapd serves each local message as it was, in CRLF form, with
        the X-TUID header mbsync adds to find it again."""
        c = self.imap()
        c.login(*ALICE)
        c.select('INBOX', readonly=True)
        for data in LOCAL_MESSAGES:
            typ, found = c.search(None, 'HEADER', 'Message-ID', message_id(data))
            self.assertEqual((typ, len(found[0].split())), ('OK', 1), found)
            typ, got = c.fetch(found[0], '(BODY.PEEK[])')
            self.assertEqual(typ, 'OK', got)
            got = re.sub(rb'X-TUID: \S+\r\n', b'', got[0][1], count=1)
            self.assertEqual(got, data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n'))
        c.logout()

    def assert_quiet(self, commands):
        """A sync that found nothing to do: only reads."""
        writes = [c for c in commands
                  if re.match(r'(UID )?(APPEND|STORE|EXPUNGE|COPY|MOVE)|CREATE|DELETE', c)
                  or 'BODY' in c]
        self.assertEqual(writes, [])

    def test_both_ways_twice(self):
        flags = {0: 'S', 1: '', 2: 'FS', 3: 'RS', 4: '', 5: 'DS', 6: ''}
        self.drop(1000, lambda i: flags[i % 7])
        server = self.server_state()
        self.assertEqual(len(server), 1000)

        first = self.sync()
        self.assertEqual(sum(1 for c in first if 'BODY.PEEK[]' in c), 1000)
        self.assertEqual(self.near_state(), server)
        files = self.near_files()
        self.assert_quiet(self.sync())
        self.assertEqual(self.near_files(), files)

        # Both ways: local messages, a local flag change and a deletion;
        # a delivery, a flag change both ways and a deletion on the server.
        inbox = os.path.join(self.local, 'INBOX')
        for i, data in enumerate(LOCAL_MESSAGES):
            with open(os.path.join(inbox, 'new', '179660000%d.local.test' % i), 'wb') as f:
                f.write(data)
        seen = self.near_file('<m7@remote.test>')
        self.assertTrue(seen.endswith(':2,S'), seen)
        os.rename(seen, seen[:-1] + 'FS')
        os.unlink(self.near_file('<m8@remote.test>'))
        plain = sample_messages()[1]
        self.deliver(plain.replace(b'Subject:', b'Message-ID: <smtp@r>\r\nSubject:'))
        c = self.imap()
        c.login(*ALICE)
        c.select('INBOX')
        self.assertEqual(c.uid('STORE', '499', '+FLAGS', r'(\Seen \Flagged)')[0], 'OK')
        self.assertEqual(c.uid('STORE', '501', '-FLAGS', r'(\Seen)')[0], 'OK')
        self.assertEqual(c.uid('STORE', '600', '+FLAGS', r'(\Deleted)')[0], 'OK')
        self.assertEqual(c.expunge()[0], 'OK')
        c.logout()

        changes = self.sync()
        self.assertEqual(sum(1 for c in changes if c.startswith('APPEND')), len(LOCAL_MESSAGES))
        self.assertEqual(sum(1 for c in changes if 'BODY.PEEK[]' in c), 1)
        server = self.server_state()
        self.assertEqual(len(server), 1000 - 2 + 1 + len(LOCAL_MESSAGES))
        self.assertEqual(server['<m1@example.test>'], set())
        self.assert_uploaded()
        self.assertEqual(server['<m7@remote.test>'], {'\\Seen', '\\Flagged'})
        self.assertNotIn('<m8@remote.test>', server)
        self.assertNotIn('<m599@remote.test>', server)
        self.assertEqual(server['<m498@remote.test>'], {'\\Seen', '\\Flagged'})
        self.assertEqual(server['<m500@remote.test>'], {'\\Answered'})
        self.assertEqual(self.near_state(), server)

        files = self.near_files()
        self.assert_quiet(self.sync())
        self.assertEqual(self.near_files(), files)
        self.assertEqual(self.near_state(), self.server_state())

        # UIDs and UIDVALIDITY survive a restart with the index deleted:
        # mbsync, which keys everything on them, still has nothing to do.
        self.pr.stop('imapd')
        shutil.rmtree(os.path.join(self.pr.maildir(ALICE[0]), 'postroom-index'))
        self.pr.start('imapd')
        self.assert_quiet(self.sync())
        self.assertEqual(self.near_files(), files)
        self.assertEqual(self.near_state(), self.server_state())


class Mutt(ClientCase):
    """mutt reads a message over imaps (the certificate given in its
    config: no prompt) and moves it to a folder, its keys pushed by its
    config; it needs a terminal, so it gets a pseudo-terminal of its own."""
    tool = 'mutt'

    def run_on_terminal(self, argv, timeout=30):
        """argv's exit status on an 80x24 pseudo-terminal; a prompt (a
        certificate it doubts, a question) leaves it waiting: a failure."""
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
        p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                             start_new_session=True,
                             env=dict(os.environ, HOME=self.home, TERM='vt100', TZ='UTC'))
        os.close(slave)
        screen = b''
        deadline = time.monotonic() + timeout
        try:
            while p.poll() is None or select.select([master], [], [], 0)[0]:
                if time.monotonic() > deadline:
                    p.kill()
                    p.wait()
                    self.fail('%s still running after %d s; screen ends with %r'
                              % (argv[0], timeout, screen[-600:]))
                if select.select([master], [], [], 0.1)[0]:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:         # EIO: the terminal's other side closed
                        chunk = b''
                    if not chunk and p.poll() is not None:
                        break
                    screen += chunk
        finally:
            os.close(master)
        return p.wait(), screen

    def test_read_and_move_over_imaps(self):
        self.deliver(*sample_messages())
        before = self.pr.messages(ALICE[0])
        out = os.path.join(self.home, 'piped')
        rc = self.write('muttrc', '\n'.join([
            'set folder="imaps://localhost:%d/"' % self.pr.port('imapd.tls_listen'),
            'set imap_user="%s"' % ALICE[0], 'set imap_pass="%s"' % ALICE[1],
            'set spoolfile="+INBOX"', 'set certificate_file="%s"' % self.pr.cert,
            'set header_cache="" message_cachedir="" record="" postponed=""',
            'set confirmcreate=no confirmappend=no delete=yes quit=yes wait_key=no',
            'set move=no sort=mailbox-order pipe_decode=no timeout=5',
            'push "<first-entry><display-message><exit><pipe-message>cat > %s<enter>'
            '<save-message>=Archive<enter><sync-mailbox><quit>"' % out, '']))
        status, screen = self.run_on_terminal(['mutt', '-n', '-F', rc])
        self.assertEqual(status, 0, screen[-600:])
        with open(out, 'rb') as f:
            piped = f.read()
        self.assertIn(piped, before)
        self.assertEqual(self.pr.messages(ALICE[0], 'Archive'), [piped])
        self.assertEqual(self.pr.messages(ALICE[0]), [m for m in before if m != piped])
        self.assertEqual(list(self.server_state('Archive').values()), [{'\\Seen'}])


    def test_copy_from_local_mbox_over_starttls(self):
        """mutt APPENDs a local mbox's message to an IMAP folder (STARTTLS
        forced), with the date of its From_ line (local time: mutt runs in UTC)."""
        mbox = self.write('in.mbox', 'From me@example.test Sat Dec  5 12:00:00 2026\n'
                          'From: me@example.test\nSubject: from mbox\n'
                          'Message-ID: <mbox@example.test>\n\nmbox body\n\n')
        rc = self.write('muttrc', '\n'.join([
            'set folder="imap://localhost:%d/"' % self.pr.port('imapd.listen'),
            'set imap_user="%s"' % ALICE[0], 'set imap_pass="%s"' % ALICE[1],
            'set ssl_force_tls=yes ssl_starttls=yes certificate_file="%s"' % self.pr.cert,
            'set header_cache="" message_cachedir="" record="" postponed=""',
            'set confirmcreate=no confirmappend=no quit=yes wait_key=no mbox_type=mbox',
            'push "<tag-pattern>.<enter><tag-prefix><copy-message>=Sent<enter><quit>"', '']))
        status, screen = self.run_on_terminal(['mutt', '-n', '-F', rc, '-f', mbox])
        self.assertEqual(status, 0, screen[-600:])
        c = self.imap()
        c.login(*ALICE)
        self.assertEqual(c.select('Sent', readonly=True), ('OK', [b'1']))
        typ, data = c.fetch('1', '(INTERNALDATE BODY.PEEK[])')
        self.assertEqual(typ, 'OK', data)
        date = re.search(rb'INTERNALDATE "([^"]+)"', data[0][0]).group(1).decode()
        self.assertEqual(datetime.datetime.strptime(date, '%d-%b-%Y %H:%M:%S %z'),
                         datetime.datetime(2026, 12, 5, 12, tzinfo=datetime.timezone.utc))
        self.assertRegex(data[0][1], rb'^From: me@example.test\r\nSubject: from mbox\r\n'
                                     rb'Message-ID: <mbox@example.test>\r\n(.*\r\n)*'
                                     rb'\r\nmbox body\r\n$')

class Curl(ClientCase):
    """curl imap://, imap:// with STARTTLS and imaps://: LIST, SEARCH,
    FETCH (whole and a section) and APPEND (--upload-file)."""
    tool = 'curl'

    def curl(self, url, *args, tls=False):
        port = self.pr.port('imapd.tls_listen' if url.startswith('imaps') else 'imapd.listen')
        argv = ['curl', '-sS', '--max-time', '30', '-u', '%s:%s' % ALICE,
                '--cacert', self.pr.cert] + (['--ssl-reqd'] if tls else []) + list(args)
        p = self.run_client(argv + [url % port])
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_list_search_fetch_append(self):
        self.drop(30)
        for url, tls in (('imap://localhost:%d/', False), ('imap://localhost:%d/', True),
                         ('imaps://localhost:%d/', False)):
            listed = self.curl(url, tls=tls)
            self.assertEqual(re.findall(rb'^\* LIST \([^)]*\) "\." (\S+)\r$', listed, re.M),
                             [b'INBOX', b'Drafts', b'Junk', b'Sent', b'Trash'])
            self.assertEqual(self.curl(url + 'INBOX?SUBJECT%%20%%22message%%202%%22', tls=tls),
                             b'* SEARCH 3 21 22 23 24 25 26 27 28 29 30\r\n')
            self.assertEqual(self.curl(url + 'INBOX;UID=8', tls=tls),
                             message(7).replace(b'\n', b'\r\n'))
            self.assertEqual(self.curl(url + 'INBOX;UID=9;SECTION=HEADER', tls=tls),
                             message(8).split(b'\n\n')[0].replace(b'\n', b'\r\n') + b'\r\n\r\n')
        upload = os.path.join(self.home, 'upload.eml')
        for i, (url, tls) in enumerate((('imap://localhost:%d/', True),
                                        ('imaps://localhost:%d/', False))):
            with open(upload, 'wb') as f:
                f.write(message(100 + i, 'example.test').replace(b'\n', b'\r\n'))
            self.assertEqual(self.curl(url + 'Sent', '--upload-file', upload, tls=tls), b'')
        self.assertEqual(self.pr.messages(ALICE[0], 'Sent'),
                         [message(100, 'example.test'), message(101, 'example.test')])
        self.assertEqual(self.curl('imap://localhost:%d/Sent;UID=2', tls=True),
                         message(101, 'example.test').replace(b'\n', b'\r\n'))


class Fetchmail(ClientCase):
    """fetchmail over IMAP with STARTTLS and over imaps, handing each
    message to an MDA: keeps them, fetches nothing new the second time,
    then fetches all and deletes them."""
    tool = 'fetchmail'

    def argv(self, options, tls):
        mda = self.write('mda', '#!/bin/sh\n{ cat; echo ----- ; } >> %s/fetched\n'
                         % self.home, 0o700)
        port = self.pr.port('imapd.tls_listen' if tls == 'ssl' else 'imapd.listen')
        rc = self.write('fetchmailrc', '\n'.join([
            'set no syslog',
            'poll localhost protocol IMAP port %d' % port,
            '  user "%s" password "%s" is "x" here' % ALICE,
            '  %s sslcertck sslcertfile "%s"' % ('ssl' if tls == 'ssl' else 'sslproto tls1.2+',
                                               self.pr.cert),
            '  mda "%s"' % mda, '']))
        return ['fetchmail', '-f', rc, '-v', '--nodetach', '--nosyslog',
                '--pidfile', os.path.join(self.home, 'pid'),
                '-i', os.path.join(self.home, 'ids')] + list(options)

    def fetchmail(self, *options, tls='starttls'):
        p = self.run_client(self.argv(options, tls))
        log = p.stdout.decode(errors='replace') + p.stderr.decode(errors='replace')
        self.assertIn(p.returncode, (0, 1), log[-3000:])     # 1: no mail
        if tls != 'ssl':
            self.assertIn('STARTTLS', log)
        return log

    def idle_log(self):
        with open(os.path.join(self.home, 'idle.log'), errors='replace') as f:
            return f.read()

    def fetched(self):
        try:
            with open(os.path.join(self.home, 'fetched'), 'rb') as f:
                return f.read().split(b'-----\n')[:-1]
        except FileNotFoundError:
            return []

    def test_keep_then_fetch_all_and_delete(self):
        self.drop(3)
        self.fetchmail('--keep')
        got = self.fetched()
        self.assertEqual([message_id(m) for m in got],
                         ['<m%d@remote.test>' % i for i in range(3)])
        for i, m in enumerate(got):
            self.assertTrue(m.startswith(b'Received: from localhost'), m)
            self.assertTrue(m.endswith(message(i).split(b'\n', 1)[1]), m)
        self.assertEqual(list(self.server_state().values()), [{'\\Seen'}] * 3)

        self.fetchmail('--keep')                        # only unseen mail: none
        self.assertEqual(len(self.fetched()), 3)
        self.deliver(sample_messages()[1])              # a fourth, unseen
        self.fetchmail('--keep', tls='ssl')
        self.assertEqual(len(self.fetched()), 4)

        self.fetchmail('--all', '--nokeep', tls='ssl')
        self.assertEqual(len(self.fetched()), 8)
        self.assertEqual(self.server_state(), {})
        self.assertEqual(self.pr.messages(ALICE[0]), [])

    def test_idle_fetches_a_delivery(self):
        """fetchmail --idle: a delivery made while it waits in IDLE is fetched."""
        with open(os.path.join(self.home, 'idle.log'), 'wb') as log:
            p = subprocess.Popen(self.argv(['--keep', '--idle'], 'ssl'), stdout=log,
                                 stderr=subprocess.STDOUT, env=dict(os.environ, HOME=self.home))
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        # Delivered once imapd said "+ idling", so the notification is what
        # tells it (not the sync at the start of IDLE).
        self.pr.wait_for(lambda: 'IMAP< + idling' in self.idle_log(), timeout=30)
        start = time.monotonic()
        self.deliver(sample_messages()[1])
        try:
            self.pr.wait_for(lambda: len(self.fetched()) == 1, timeout=30)
        except AssertionError:
            self.fail('not fetched; fetchmail:\n%s\nimapd:\n%s'
                      % (self.idle_log()[-2000:], self.pr.log('imapd')[-3000:]))
        print('\n  delivery -> fetched by an idle fetchmail: %.2f s (SMTP included)'
              % (time.monotonic() - start), end='')
        self.assertRegex(self.idle_log(), r'IMAP< \* 1 EXISTS')
        self.assertTrue(self.fetched()[0].endswith(b'\nhi\n'), self.fetched())
