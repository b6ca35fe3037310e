"""imapd SEARCH, ESEARCH, SORT and THREAD end to end (issue 15).

- the imaplib scenario: search(None, 'ALL') and 'UNSEEN', SEARCH CHARSET
  UTF-8 SUBJECT with a Chinese word matching an RFC 2047 subject, a charset
  we do not know refused with [BADCHARSET];
- a long body search does not stall another session of the process;
- a differential against a throw-away Dovecot (tests/e2e/dovecot.py) over
  the same messages (tests/mime/corpus, with flags and internal dates):
  each command of COMMANDS is sent to both, the untagged replies and the
  tagged status (and response code) compared; the differences that remain
  are the KNOWN table, each with its reason.
"""

import imaplib
import os
import socket
import sys
import threading
import time
import unittest

from harness import Postroom, have_built, require
from test_imapd import ALICE, SUBJECT, sample_messages

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'mime'))
import imap_fetch  # noqa: E402  (tests/mime/imap_fetch.py)

DAY = 86400
BASE_DATE = 1704067200          # 2024-01-01 00:00 UTC


def quietly_shut(c):
    try:
        c.shutdown()
    except OSError:
        pass


class Raw:
    """A line-level IMAP client: the replies of a command exactly as sent."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=30)
        self.f = self.sock.makefile('rb')
        self.n = 0
        self.f.readline()

    def command(self, text):
        """text may hold {n+} literals (LITERAL+): (untagged lines, tagged line)."""
        self.n += 1
        tag = b'S%d' % self.n
        self.sock.sendall(tag + b' ' + text + b'\r\n')
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError('closed after %r' % text)
            if line.startswith(tag + b' '):
                return lines, line[len(tag) + 1:].rstrip(b'\r\n')
            lines.append(line.rstrip(b'\r\n'))

    def close(self):
        self.sock.close()


def literal(s):
    b = s.encode()
    return b'{%d+}\r\n%s' % (len(b), b)


class ImapSearchCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(have_built('smtpd', 'imapd'), 'smtpd and imapd not built')

    def start(self, config=None):
        self.pr = Postroom(daemons=('smtpd', 'imapd'), config=config)
        self.pr.__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)

    def imap(self):
        c = imaplib.IMAP4('127.0.0.1', self.pr.port('imapd.listen'), timeout=30)
        self.addCleanup(quietly_shut, c)
        c.login(*ALICE)
        return c

    def drop(self, messages, flags=lambda i: ''):
        """messages into alice's cur/ directly, named in order, mtime BASE_DATE + i days."""
        md = self.pr.maildir(ALICE[0])
        for sub in ('cur', 'new', 'tmp'):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        for i, data in enumerate(messages):
            path = os.path.join(md, 'cur', '%d.M%dP1.postroom-test:2,%s'
                                % (1000000000 + i, i, flags(i)))
            with open(path, 'wb') as f:
                f.write(data)
            os.utime(path, (BASE_DATE + i * DAY, BASE_DATE + i * DAY))
        if self.pr.as_root:
            self.pr._chown_tree(md)


class ImaplibScenario(ImapSearchCase):
    def test_search_all_unseen_and_chinese_subject(self):
        self.start()
        import smtplib
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen'), timeout=10) as s:
            for m in sample_messages():
                s.sendmail('sender@remote.test', [ALICE[0]], m)
        self.pr.wait_for(lambda: len(self.pr.messages(ALICE[0])) == 2)
        c = self.imap()
        for cap in ('ESEARCH', 'SORT', 'THREAD=REFERENCES', 'THREAD=ORDEREDSUBJECT'):
            self.assertIn(cap, c.capabilities)
        c.select('INBOX')
        self.assertEqual(c.search(None, 'ALL'), ('OK', [b'1 2']))
        self.assertEqual(c.search(None, 'UNSEEN'), ('OK', [b'1 2']))
        c.literal = '中文'.encode()
        self.assertEqual(c.search('UTF-8', 'SUBJECT'), ('OK', [b'1']))
        c.literal = '测试邮件'.encode()
        self.assertEqual(c.uid('SEARCH', 'CHARSET', 'UTF-8', 'SUBJECT'), ('OK', [b'1']))
        self.assertEqual(c.search('US-ASCII', 'SUBJECT', 'plain'), ('OK', [b'2']))
        self.assertEqual(c.search(None, 'NOT', 'SUBJECT', 'plain'), ('OK', [b'1']))
        c.literal = '你好'.encode()
        self.assertEqual(c.search('UTF-8', 'BODY'), ('OK', [b'1']))
        typ, data = c.search('KOI8-R', 'SUBJECT', 'x')
        self.assertEqual(typ, 'NO')
        self.assertTrue(data[0].startswith(b'[BADCHARSET (UTF-8 US-ASCII)]'), data)
        typ, data = c.sort('(SUBJECT)', 'UTF-8', 'ALL')
        self.assertEqual((typ, data), ('OK', [b'2 1']))
        self.assertEqual(c.thread('REFERENCES', 'UTF-8', 'ALL'), ('OK', [b'(1)(2)']))
        # MODSEQ turns CONDSTORE on; ESEARCH's RETURN answers with its own reply
        typ, data = c.search(None, 'MODSEQ', '1')
        self.assertEqual(typ, 'OK')
        self.assertRegex(data[0], rb'^1 2 \(MODSEQ [1-9]\d*\)$')
        typ, data = c._simple_command('SEARCH', 'RETURN', '(MIN MAX COUNT)', 'ALL')
        self.assertEqual(typ, 'OK')
        tag = c.tagpre + str(c.tagnum - 1).encode()
        self.assertEqual(c.untagged_responses.pop('ESEARCH'),
                         [b'(TAG "' + tag + b'") MIN 1 MAX 2 COUNT 2'])
        c.close()
        c.logout()


class NoStall(ImapSearchCase):
    """A body search over many messages takes turns: another session's NOOP is answered."""

    NMSG = 3000

    def test_noop_answered_during_body_search(self):
        self.start()
        body = b''.join(b'line %d of a longish message body to search through\r\n' % i
                        for i in range(400))
        msg = (b'From: a@remote.test\r\nTo: alice@example.test\r\nSubject: m %d\r\n\r\n')
        self.drop([msg % i + body for i in range(self.NMSG)])
        a, b = self.imap(), self.imap()
        self.assertEqual(a.select('INBOX')[0], 'OK')
        self.assertEqual(b.select('INBOX')[0], 'OK')
        result, noops = {}, []

        def search():
            t0 = time.monotonic()
            result['r'] = a.search(None, 'BODY', 'needle-not-there')
            result['t'] = time.monotonic() - t0
        th = threading.Thread(target=search)
        th.start()
        time.sleep(0.05)
        while th.is_alive() and len(noops) < 50:
            t0 = time.monotonic()
            self.assertEqual(b.noop()[0], 'OK')
            noops.append(time.monotonic() - t0)
        th.join(60)
        self.assertEqual(result['r'], ('OK', [b'']))
        print('\nbody search of %d x %d B: %.2f s; %d NOOPs meanwhile, slowest %.3f s'
              % (self.NMSG, len(body), result['t'], len(noops), max(noops or [0])))
        if result['t'] > 0.5:       # long enough to have overlapped
            self.assertGreater(len(noops), 1)
        self.assertLess(max(noops or [0]), 2.0)


# Each command is sent as written, to both servers, in one session each.
COMMANDS = [
    'SEARCH ALL', 'SEARCH UNSEEN', 'SEARCH SEEN', 'SEARCH FLAGGED', 'SEARCH UNFLAGGED',
    'SEARCH ANSWERED', 'SEARCH UNANSWERED', 'SEARCH DELETED', 'SEARCH UNDELETED',
    'SEARCH DRAFT', 'SEARCH UNDRAFT', 'SEARCH OLD', 'SEARCH NEW', 'SEARCH RECENT',
    'SEARCH KEYWORD $Junk', 'SEARCH UNKEYWORD $Junk',
    'SEARCH SUBJECT test', 'SEARCH SUBJECT "re:"', 'SEARCH FROM example', 'SEARCH FROM "@"',
    'SEARCH FROM CJ', 'SEARCH FROM Jones',    # From: "Carol \"CJ\" Jones": escaped quotes
    'SEARCH TO example', 'SEARCH CC a', 'SEARCH BCC b',
    'SEARCH HEADER Content-Type multipart', 'SEARCH HEADER Message-ID ""',
    'SEARCH HEADER X-Not-There ""', 'SEARCH HEADER subject ""',
    'SEARCH BODY the', 'SEARCH BODY attachment', 'SEARCH TEXT hello', 'SEARCH TEXT boundary',
    'SEARCH BEFORE 1-Feb-2024', 'SEARCH SINCE 1-Mar-2024', 'SEARCH ON 5-Jan-2024',
    'SEARCH SENTBEFORE 1-Jan-2005', 'SEARCH SENTSINCE 1-Jan-2010', 'SEARCH SENTON 1-Jan-2024',
    'SEARCH LARGER 5000', 'SEARCH SMALLER 1000', 'SEARCH 1:10', 'SEARCH 5,3,400:*',
    'SEARCH *', 'SEARCH UID 3:7', 'SEARCH UID 440:*', 'SEARCH NOT SEEN',
    'SEARCH OR SEEN FLAGGED', 'SEARCH (SEEN FLAGGED)', 'SEARCH NOT (SEEN OR FLAGGED ANSWERED)',
    'SEARCH OR SUBJECT test BODY test', 'SEARCH CHARSET UTF-8 ALL',
    'SEARCH CHARSET US-ASCII SUBJECT test', 'SEARCH CHARSET KOI8-R ALL',
    'SEARCH CHARSET UTF-8 SUBJECT ' + '中文', 'SEARCH CHARSET UTF-8 TEXT ' + 'über',
    'UID SEARCH ALL', 'UID SEARCH SEEN 1:20', 'UID SEARCH UID 10:20 LARGER 2000',
    'SEARCH RETURN () ALL', 'SEARCH RETURN (MIN MAX COUNT) SEEN',
    'SEARCH RETURN (ALL) FLAGGED', 'SEARCH RETURN (COUNT) DELETED',
    'SEARCH RETURN (MIN) SUBJECT zzz-not-there', 'UID SEARCH RETURN (ALL MIN) UNSEEN',
    'SEARCH 0', 'SEARCH 1:99999', 'SEARCH FOO', 'SEARCH', 'SEARCH BEFORE 31-Feb-2024',
    'SORT (ARRIVAL) UTF-8 ALL', 'SORT (REVERSE ARRIVAL) UTF-8 ALL', 'SORT (SIZE) UTF-8 ALL',
    'SORT (SUBJECT) UTF-8 ALL', 'SORT (REVERSE SUBJECT) UTF-8 ALL', 'SORT (DATE) UTF-8 ALL',
    'SORT (FROM) UTF-8 ALL', 'SORT (TO) UTF-8 ALL', 'SORT (CC) UTF-8 ALL',
    'SORT (SUBJECT DATE) UTF-8 SEEN', 'UID SORT (REVERSE SIZE) UTF-8 1:50',
    'SORT (ARRIVAL) KOI8-R ALL', 'SORT () UTF-8 ALL', 'SORT (FOO) UTF-8 ALL',
    'THREAD REFERENCES UTF-8 ALL', 'THREAD ORDEREDSUBJECT UTF-8 ALL',
    'UID THREAD REFERENCES UTF-8 ALL', 'THREAD REFERENCES US-ASCII UNSEEN',
    'THREAD REFS UTF-8 ALL', 'THREAD REFERENCES KOI8-R ALL',
]

# (command): why Postroom's reply differs from Dovecot's.
KNOWN = {
    'SEARCH CHARSET KOI8-R ALL': 'only UTF-8 and US-ASCII are taken (NO [BADCHARSET]); '
        'Dovecot converts any charset iconv knows',
    'SORT (ARRIVAL) KOI8-R ALL': 'the same',
    'THREAD REFERENCES KOI8-R ALL': 'the same',
    'THREAD REFS UTF-8 ALL': 'THREAD=REFS is Dovecot\'s own algorithm; not advertised here',
    'SEARCH FROM example': '0449-edge has its From: after 10,000 other fields: '
        'mail/mime looks at MIME_MAX_HEADERS fields, Dovecot at all of them',
    'SEARCH FROM "@"': 'the same',
    'SEARCH TEXT hello': '0358-malformed has Content-Transfer-Encoding: base64 without '
        'MIME-Version: (RFC 2045 4) we search it as written, Dovecot decodes it',
    'SEARCH SENTBEFORE 1-Jan-2005': 'messages with no readable Date: are dated by their '
        'internal date, as SORT (DATE) is (RFC 5256 2.2); Dovecot takes 1970.  0277-header '
        'has two Date: fields: we take the last, Dovecot the first',
    'SEARCH SENTSINCE 1-Jan-2010': 'the same',
    'SEARCH OR SUBJECT test BODY test': 'the forwarded messages (0148-0177) carry a '
        'message/rfc822 part whose header says "postroom.test": BODY searches the body as '
        'the client sees it (RFC 3501 6.4.4), Dovecot only the text of the parts',
    'SEARCH BEFORE 31-Feb-2024': 'an impossible day: taken as 2-Mar-2024 (mktime); '
        'Dovecot reads it differently',
    'SORT (SUBJECT) UTF-8 ALL': 'RFC 2047 subjects in charsets named big5_tw and '
        'eucgb2312_cn (0179-0216) and invalid base64 (0272): our base subjects differ from '
        'Dovecot\'s, so they sort elsewhere',
    'SORT (REVERSE SUBJECT) UTF-8 ALL': 'the same',
    'SORT (SUBJECT DATE) UTF-8 SEEN': 'the same',
    'SORT (FROM) UTF-8 ALL': 'From: a group ("undisclosed-recipients:;", 0218...) has no '
        'addr-mailbox: sorted as ""; Dovecot sorts by the group name',
    'SORT (TO) UTF-8 ALL': 'the same for To: groups and the invalid "@example.com" (0225)',
    'THREAD REFERENCES UTF-8 ALL': '0440-edge\'s Subject: "a<CR>b" (bare CR): Dovecot reads '
        'the CR as a space, so its base subject is 0418\'s "a b" and they share a thread',
    'UID THREAD REFERENCES UTF-8 ALL': 'the same',
    'THREAD ORDEREDSUBJECT UTF-8 ALL': 'the same',
}


def flags_of(i):
    """Flags of corpus message i, in the Maildir info's order."""
    f = ''
    if i % 7 == 0:
        f += 'D'
    if i % 5 == 0:
        f += 'F'
    if i % 11 == 0:
        f += 'R'
    if i % 3 == 0:
        f += 'S'
    if i % 13 == 0:
        f += 'T'
    return f


def normal(untagged, tagged):
    """Untagged replies and the status with its response code; free text dropped."""
    words = tagged.split(b' ', 2)
    status = words[0]
    if len(words) > 1 and words[1].startswith(b'['):
        status += b' ' + tagged[len(status) + 1:tagged.index(b']') + 1]
    # Mailbox-state updates are not the reply (Dovecot announces a keyword
    # searched for with FLAGS and PERMANENTFLAGS)
    keep = [u for u in untagged if not u.endswith((b' EXISTS', b' RECENT'))
            and b' FETCH ' not in u and not u.startswith((b'* FLAGS ', b'* OK [PERMANENTFLAGS'))]
    return keep, status


def encode_command(text):
    """Non-ASCII arguments (the last word) as a LITERAL+ literal."""
    if text.isascii():
        return text.encode()
    head, last = text.rsplit(' ', 1)
    return head.encode() + b' ' + literal(last)


def explain(theirs, ours):
    """A short account of how two normalised replies differ."""
    if theirs[1] != ours[1] or len(theirs[0]) != len(ours[0]):
        return 'dovecot: %r %r\n  ours:    %r %r' % (
            theirs[1], [u[:80] for u in theirs[0]], ours[1], [u[:80] for u in ours[0]])
    for t, o in zip(theirs[0], ours[0]):
        if t == o:
            continue
        tw, ow = t.split(b' '), o.split(b' ')
        if t.startswith(b'* SEARCH'):
            return 'only dovecot: %s; only ours: %s' % (
                sorted(set(tw) - set(ow), key=len), sorted(set(ow) - set(tw), key=len))
        i = next(i for i in range(min(len(t), len(o))) if t[i] != o[i]) \
            if t[:min(len(t), len(o))] != o[:min(len(t), len(o))] else min(len(t), len(o))
        return 'from byte %d: dovecot %r, ours %r' % (i, t[max(0, i - 30):i + 60],
                                                       o[max(0, i - 30):i + 60])
    return 'same'


class AgainstDovecot(ImapSearchCase):
    def corpus(self):
        d = os.path.join(ROOT, 'tests', 'mime', 'corpus')
        out = []
        for n in sorted(f for f in os.listdir(d) if f.endswith('.eml')):
            with open(os.path.join(d, n), 'rb') as f:
                out.append(f.read())
        return out

    def run_all(self, port, user, password):
        c = Raw(port)
        try:
            _, st = c.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
            assert st.startswith(b'OK'), st
            _, st = c.command(b'EXAMINE INBOX')
            assert st.startswith(b'OK'), st
            out = []
            for i, text in enumerate(COMMANDS):
                c.n = 1000 + i      # the same tags on both (ESEARCH quotes them)
                out.append(normal(*c.command(encode_command(text))))
            return out
        finally:
            c.close()

    def test_commands_match_dovecot(self):
        require(imap_fetch.Dovecot.available(), imap_fetch.Dovecot.missing())
        messages = self.corpus()
        with imap_fetch.Dovecot(users=imap_fetch.USERS) as dc:
            names = []
            for i, data in enumerate(messages):
                name = '%d.M%dP1.postroom-test:2,%s' % (1000000000 + i, i, flags_of(i))
                path = dc.deliver(imap_fetch.USER, data, name, sub='cur')
                os.utime(path, (BASE_DATE + i * DAY, BASE_DATE + i * DAY))
                names.append(name)
            dc.pin_uids(imap_fetch.USER, names)
            theirs = self.run_all(dc.port('imap'), imap_fetch.USER, imap_fetch.PASSWORD)
        self.start()
        self.drop(messages, flags_of)
        ours = self.run_all(self.pr.port('imapd.listen'), *ALICE)
        unlisted, stale = [], []
        for text, o, t in zip(COMMANDS, ours, theirs):
            if o != t and text not in KNOWN:
                unlisted.append('%s\n  %s' % (text, explain(t, o)))
            elif o == t and text in KNOWN:
                stale.append(text)
        print('\nsearch: %d messages, %d commands compared, %d known differences'
              % (len(messages), len(COMMANDS), len(KNOWN)))
        self.assertEqual(unlisted, [], 'differences from Dovecot not in KNOWN:\n'
                         + '\n'.join(unlisted) + '\n(%d in all)' % len(unlisted))
        self.assertEqual(stale, [], 'KNOWN entries that now match')


if __name__ == '__main__':
    unittest.main()
