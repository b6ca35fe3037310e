r"""imapd against a throw-away Dovecot, command by command (issue 15).

The same mail (tests/mime/corpus in INBOX, with flags and internal dates,
as test_imapd_search.py loads it) goes into Postroom and into Dovecot
(tests/e2e/dovecot.py, configured with the special-use folders Postroom
makes for every user).  Each scenario of SCENARIOS is one session, the
same on both: its commands are sent as written (synchronising literals
wait for the continuation) and every reply is compared after
normalising only what must differ: the tags (the same on both), the free
text after a status and its response code, UIDVALIDITY values (in
SELECT, STATUS, APPENDUID and COPYUID), HIGHESTMODSEQ (imapd says it
in every SELECT, as RFC 7162 3.1.2.1 asks of a server whose MODSEQs
persist; Dovecot only in a mailbox where CONDSTORE was once used, and
none of these scenarios uses it; test_imapd_condstore.py compares it),
the CAPABILITY lists (test_imapd.py checks ours) and ID's values, and
\Recent: imapd's is the store's flag, which none of the messages APPEND,
COPY and MOVE make carry, where Dovecot gives them \Recent in the first
session that sees them (RFC 9051 drops \Recent), so
RECENT lines, RECENT counts and the \Recent flag are left out.  Forms
that say the same thing are made one: a literal that could be a quoted
string, LIST attributes in any order, LIST replies in any order, and a
run of EXPUNGEs (the messages it removes, whichever order it names them
in).  Response codes and untagged data are otherwise compared exactly,
in order.  FETCH replies are
compared message by message: an ENVELOPE/BODY/BODYSTRUCTURE difference
of a message listed in tests/unit/test_mime.c's allowed_diffs is that
table's (one list).  Every other difference is the KNOWN table's, with
its reason.  The scenarios run in order on one user, so each keeps to
its own folders; the read-only ones come first.  5 to 30 s (a Dovecot
and an imapd over 449 messages, 406 commands each; 28 s at load 8).
"""

import os
import re
import socket
import sys
import unittest

from harness import Postroom, have_built, require
from test_imapd import ALICE
from test_imapd_search import BASE_DATE, DAY, flags_of
from test_mime_dovecot import allowed_diffs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'mime'))
import imap_fetch  # noqa: E402  (tests/mime/imap_fetch.py)

SPECIAL = ('Sent', 'Drafts', 'Trash', 'Junk')
# Dovecot names the same folders special-use, as Postroom does by name.
DOVECOT_NAMESPACE = """\
namespace inbox {
  inbox = yes
  separator = .
  prefix =
%s}
""" % ''.join('  mailbox %s {\n    special_use = \\%s\n%s  }\n'
              % (n, n, '    auto = subscribe\n' if n in SPECIAL else '')
              for n in SPECIAL + ('Archive',))

MSG = ('From: a@example.test\r\nTo: b@example.test\r\nSubject: m%d\r\n'
       'Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <m%d@example.test>\r\n\r\nbody %d\r\n')


def append(folder, i, flags='', date='"01-Jan-2024 10:00:00 +0000"', sync=False):
    """APPEND of message i with a literal ({n+} unless sync)."""
    data = MSG % (i, i, i)
    return 'APPEND %s (%s) %s {%d%s}\r\n%s' % (folder, flags, date, len(data),
                                               '' if sync else '+', data)


# (name, login first?, commands).  The read-only scenarios come first.
SCENARIOS = [
    ('not authenticated', False, ['NOOP', 'CAPABILITY', 'FOO', 'SELECT INBOX']),
    ('not authenticated 2', False, ['LIST "" *', 'STATUS INBOX (MESSAGES)', 'NOOP']),
    ('not authenticated 3', False, ['FETCH 1 FLAGS', 'UID FETCH 1 FLAGS', 'NOOP']),
    ('not authenticated 4', False, ['ENABLE UTF8=ACCEPT', 'NAMESPACE', 'ID NIL']),
    ('not authenticated 5', False, ['LOGIN', 'LOGIN alice', 'NOOP']),
    ('not authenticated 6', False, ['CHECK', 'CLOSE', 'NOOP']),
    ('not authenticated 7', False, ['UNSELECT', 'IDLE', 'NOOP']),
    ('not authenticated 8', False, ['FOO', 'BAR', 'BAZ', 'QUX', 'NOOP']),
    ('authenticated', True, [
        'NOOP', 'CHECK', 'CLOSE', 'UNSELECT', 'EXPUNGE', 'FETCH 1 FLAGS', 'STORE 1 FLAGS ()',
        'SEARCH ALL', 'COPY 1 Trash', 'MOVE 1 Trash', 'UID FETCH 1 FLAGS', 'UID EXPUNGE 1',
        'NAMESPACE', 'ENABLE FOO', 'ENABLE', 'FOO', 'FOO BAR', 'LOGIN a b', 'SELECT',
        'SELECT nosuch', 'EXAMINE nosuch', 'SELECT "INBOX',
        'SELECT INBOX extra', 'UNSELECT', 'STATUS nosuch (MESSAGES)', 'STATUS INBOX ()', 'STATUS INBOX (FOO)', 'STATUS INBOX',
        'STATUS INBOX MESSAGES', 'STATUS INBOX (MESSAGES UNSEEN UIDNEXT RECENT)',
        'STATUS inbox (MESSAGES SIZE)', 'STATUS Trash (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE)',
        'STATUS {5}\r\nINBOX (MESSAGES)', 'STATUS {5+}\r\nINBOX (UNSEEN)',
        'STATUS "INBOX" (MESSAGES)', 'STATUS {5}\r\nINBOX', 'SUBSCRIBE nosuch', 'UNSUBSCRIBE nosuch',
    ]),
    ('list', True, [
        'LIST "" ""', 'LIST "" *', 'LIST "" %', 'LIST "" INBOX', 'LIST "" inbox', 'LIST "" In%',
        'LIST "" Tr*', 'LIST "" nosuch', 'LIST "" "*"', 'LIST INBOX *', 'LIST "" .',
        'LIST "" "%.%"', 'LSUB "" *', 'LSUB "" %', 'LIST (SUBSCRIBED) "" *',
        'LIST (SPECIAL-USE) "" *', 'LIST "" * RETURN (SPECIAL-USE)', 'LIST "" * RETURN (CHILDREN)',
        'LIST "" * RETURN (SUBSCRIBED)', 'LIST "" ("INBOX" "Trash")', 'LIST "" * RETURN ()',
        'LIST "" % RETURN (STATUS (MESSAGES UNSEEN))',
        'LIST "" INBOX RETURN (STATUS (MESSAGES UIDNEXT SIZE))', 'LIST (FOO) "" *',
        'LIST "" * RETURN (FOO)', 'LIST (RECURSIVEMATCH) "" *', 'LIST', 'LIST ""', 'LSUB',
        'LIST "" {1}\r\n*', 'LIST {0}\r\n {1+}\r\n%',
    ]),
    ('examine', True, [
        'EXAMINE INBOX', 'NOOP', 'CHECK', 'FETCH 1 (FLAGS)', 'STORE 1 +FLAGS (\\Seen)',
        'EXPUNGE', 'UID EXPUNGE 1', 'COPY 1 nosuch', 'CLOSE', 'FETCH 1 FLAGS', 'EXAMINE INBOX',
        'UNSELECT', 'UNSELECT', 'EXAMINE Trash', 'EXAMINE nosuch', 'FETCH 1 FLAGS',
        'EXAMINE INBOX', 'EXAMINE Trash', 'SELECT Trash', 'UNSELECT',
    ]),
    ('fetch items', True, [
        'EXAMINE INBOX', 'FETCH 1:* (FLAGS)', 'FETCH 1:* (UID RFC822.SIZE INTERNALDATE)',
        'FETCH 1:* ENVELOPE', 'FETCH 1:* BODY', 'FETCH 1:* BODYSTRUCTURE', 'FETCH 1:* ALL',
        'FETCH 1:* FAST', 'FETCH 1:* FULL', 'UID FETCH 1:* FLAGS', 'UID FETCH 440:* (UID)',
        'FETCH 5 (UID FLAGS UID)', 'FETCH 5 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)',
        'FETCH 5 FLAGS', 'FETCH 5 (FOO)', 'FETCH 5 (FLAGS', 'FETCH 5', 'FETCH 5 ()',
        'FETCH 5 (ALL)', 'FETCH 5 (BODY[]<0.5> UID)', 'FETCH 5 BODY[HEADER.FIELDS (Subject)]',
        'FETCH 5 RFC822.SIZE RFC822.SIZE', 'FETCH 5 BINARY.SIZE[]', 'UID FETCH 5 (UID)',
    ]),
    ('sequence sets', True, [
        'EXAMINE INBOX', 'FETCH * (UID)', 'FETCH 449 (UID)', 'FETCH 450 (UID)',
        'FETCH 448:* (UID)', 'FETCH 500:* (UID)', 'FETCH *:448 (UID)', 'FETCH 3:1 (UID)',
        'FETCH 0 (UID)', 'FETCH 0:3 (UID)', 'FETCH 1,1,2:3,2 (UID)', 'FETCH 3,1,2 (UID)',
        'FETCH 1:2,448:* (UID)', 'FETCH 1: (UID)', 'FETCH :1 (UID)', 'FETCH 1,,2 (UID)',
        'FETCH a (UID)', 'FETCH 4294967295 (UID)', 'FETCH 4294967296 (UID)', 'FETCH -1 (UID)',
        'FETCH $ (UID)', 'UID FETCH * (FLAGS)', 'UID FETCH 500:* (FLAGS)',
        'UID FETCH 1000:2000 (FLAGS)', 'UID FETCH 3:1 (FLAGS)', 'UID FETCH 0 (FLAGS)',
        'UID FETCH 0:2 (FLAGS)', 'UID FETCH 4294967295 (FLAGS)', 'UID FETCH 2,1,1 (FLAGS)',
        'SEARCH 500:*', 'SEARCH *:1', 'UID SEARCH UID *', 'STORE 500:* +FLAGS (x)',
        'EXAMINE Junk', 'FETCH * (UID)', 'FETCH 1 (UID)', 'FETCH 1:* (UID)', 'UID FETCH * (UID)',
        'UID FETCH 1:* (UID)', 'SEARCH ALL', 'SEARCH *', 'UID SEARCH 1:*', 'STATUS Junk (MESSAGES)',
    ]),
    ('create delete rename', True, [
        'CREATE c1', 'CREATE c1', 'CREATE C1', 'CREATE INBOX', 'CREATE inbox', 'CREATE c1.sub',
        'CREATE c2.x.y', 'LIST "" c*', 'LIST "" c%', 'LIST "" c2%', 'LIST "" c2.%',
        'LIST "" c* RETURN (CHILDREN)', 'SELECT c2', 'SELECT c2.x.y', 'UNSELECT', 'CREATE c3.',
        'LIST "" c3*', 'CREATE ""', 'CREATE', 'CREATE "a b"', 'LIST "" "a b"',
        'CREATE &Jjo-', 'CREATE &Jjo', 'CREATE "c.."', 'CREATE .c', 'CREATE "a\\\\b"',
        'DELETE nosuch', 'DELETE INBOX', 'DELETE inbox', 'DELETE c2', 'LIST "" c2*',
        'DELETE c2.x.y', 'LIST "" c2*', 'DELETE c2.x', 'LIST "" c2*', 'DELETE c1', 'LIST "" c1*',
        'DELETE c1.sub', 'DELETE c1', 'LIST "" c1*', 'RENAME c3 c4', 'LIST "" c*',
        'RENAME nosuch c5', 'RENAME c4 c4', 'RENAME c4 Trash', 'CREATE r1.a', 'CREATE r1.a.b',
        'RENAME r1 r2', 'LIST "" r*', 'RENAME r2.a r3', 'LIST "" r*', 'RENAME r3 r2.a.b.c',
        'LIST "" r*', 'RENAME INBOX', 'RENAME', 'RENAME Trash INBOX',
        'DELETE "a b"', 'SUBSCRIBE c4', 'SUBSCRIBE c4', 'LSUB "" c*', 'LIST (SUBSCRIBED) "" c*',
        'DELETE c4', 'LSUB "" c*', 'LIST (SUBSCRIBED) "" c*', 'LIST "" c* RETURN (SUBSCRIBED)',
        'UNSUBSCRIBE c4', 'UNSUBSCRIBE c4', 'LSUB "" c*', 'CREATE s1', 'SUBSCRIBE s1',
        'RENAME s1 s2', 'LSUB "" s*', 'LIST "" s* RETURN (SUBSCRIBED)', 'SUBSCRIBE "s1.x"',
        'LSUB "" s%', 'LSUB "" s1', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" s%',
    ]),
    ('append', True, [
        'CREATE ap', 'STATUS ap (MESSAGES UIDNEXT UNSEEN RECENT)', append('ap', 1),
        append('ap', 2, '\\Seen \\Flagged', sync=True), append('ap', 3, '$Junk kw1'),
        append('ap', 4, '\\Recent', sync=True),
        append('ap', 5, '\\Foo', sync=True), append('nosuch', 6, sync=True), append('nosuch', 6),
        append('ap', 7, '', '"31-Feb-2024 10:00:00 +0000"', sync=True),
        'APPEND ap {0}\r\n', 'APPEND ap', 'STATUS ap (MESSAGES UIDNEXT UNSEEN RECENT SIZE)',
        'EXAMINE ap', 'FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)',
        append('ap', 9), 'NOOP', 'UNSELECT',
    ]),
    ('store', True, [
        'CREATE st', append('st', 1), append('st', 2), append('st', 3, '\\Seen'), append('st', 4),
        'SELECT st', 'STORE 1 FLAGS (\\Seen)', 'STORE 1 +FLAGS (\\Flagged \\Answered)',
        'STORE 1 -FLAGS (\\Seen)', 'STORE 1 +FLAGS.SILENT (\\Draft)', 'FETCH 1 FLAGS',
        'STORE 1 -FLAGS.SILENT (\\Draft \\Flagged)', 'STORE 1:* FLAGS.SILENT ()',
        'FETCH 1:* FLAGS', 'STORE 2 +FLAGS (kw1 $Forwarded)', 'STORE 3 +FLAGS (kw2)',
        'STORE 2:3 -FLAGS (kw1)', 'STORE 1 FLAGS \\Seen', 'STORE 1 FLAGS (\\Recent)',
        'STORE 1 +FLAGS (\\Foo)', 'STORE 1 +FLAGS (a b', 'STORE 1 FOO (\\Seen)',
        'STORE 1 +FLAGS', 'STORE 9 +FLAGS (\\Seen)', 'UID STORE 2 +FLAGS (\\Seen)',
        'UID STORE 2:* -FLAGS (\\Seen)', 'UID STORE 9 +FLAGS (\\Seen)',
        'STORE 1 +FLAGS (\\Deleted)', 'FETCH 1:* (FLAGS UID)', 'UID SEARCH KEYWORD kw2',
        'STORE 2,4 +FLAGS ($Junk)', 'FETCH 1:* FLAGS', 'CLOSE', 'SELECT st', 'FETCH 1:* FLAGS',
        'EXAMINE st', 'FETCH 1:* FLAGS',
    ]),
    ('copy move expunge', True, [
        'CREATE cm', 'CREATE cm2', append('cm', 1), append('cm', 2), append('cm', 3),
        append('cm', 4), append('cm', 5), append('cm', 6), 'SELECT cm', 'COPY 1 cm2',
        'COPY 2:3 cm2', 'COPY 3,1 cm2', 'COPY 1 nosuch', 'COPY 9 cm2', 'COPY 1:* cm',
        'UID COPY 2 cm2', 'UID COPY 9 cm2', 'UID COPY 1:* cm2', 'MOVE 1 cm2', 'FETCH 1:* UID',
        'UID MOVE 3 cm2', 'UID MOVE 999 cm2', 'MOVE 9 cm2', 'MOVE 1 nosuch', 'MOVE 1 cm',
        'FETCH 1:* UID', 'STORE 2,3 +FLAGS.SILENT (\\Deleted)', 'UID EXPUNGE 100',
        'UID EXPUNGE 1:*', 'FETCH 1:* (UID FLAGS)', 'STORE 1:* +FLAGS.SILENT (\\Deleted)',
        'UID EXPUNGE 2', 'EXPUNGE', 'FETCH 1:* UID', 'SEARCH ALL', 'STATUS cm2 (MESSAGES UIDNEXT)',
        'SELECT cm2', 'FETCH 1:* (UID FLAGS)', 'COPY 1:* cm2', 'MOVE 2:4 cm', 'FETCH 1:* UID',
        'CLOSE', 'STATUS cm (MESSAGES UIDNEXT)', 'EXAMINE cm', 'MOVE 1 cm2', 'COPY 1 cm2',
        'UNSELECT', 'DELETE cm2', 'LIST "" cm*',
    ]),
    ('literals and syntax', True, [
        'EXAMINE {5}\r\nINBOX', 'FETCH 1 (BODY.PEEK[HEADER.FIELDS ({7}\r\nSubject)])',
        'FETCH 1 (BODY.PEEK[HEADER.FIELDS ({7+}\r\nSubject)])', 'SEARCH SUBJECT {4}\r\ntest',
        'SEARCH SUBJECT {4+}\r\ntest', 'SEARCH SUBJECT "te\\"st"', 'SEARCH SUBJECT "te\\st"',
        'SEARCH SUBJECT {x}', 'SEARCH SUBJECT {4', 'NOOP extra', 'CHECK extra', 'fetch 1 uid',
        'Fetch 1 (Uid)', 'uid fetch 1 flags', 'UID', 'UID FOO 1', 'UID NOOP', 'SEARCH "ALL"',
        'LIST "" "\x01"', ' NOOP', 'NOOP ', 'FETCH  1 UID',
    ]),
    ('ids and logout', True, [
        'ID NIL', 'ID ("name" "test" "version" "1")', 'ID ()', 'ID (name)', 'ID', 'ID ("a" "b" "c")',
        'NAMESPACE', 'NAMESPACE extra', 'ENABLE FOO BAR', 'LOGOUT',
    ]),
    ('rename inbox', True, [
        'RENAME INBOX ib', 'LIST "" ib', 'STATUS ib (MESSAGES UIDNEXT)',
        'STATUS INBOX (MESSAGES UIDNEXT)', 'RENAME INBOX ib', 'RENAME ib INBOX',
        'RENAME INBOX nosuch.x', 'LIST "" nosuch*', 'EXAMINE ib', 'FETCH 1:3 (UID FLAGS)',
    ]),
]

# Reasons shared by several entries below.
STRICT = ('a syntax error (RFC 3501 9 grammar): BAD here; Dovecot lets it pass')
NO_CODE = ('the same NO with an RFC 5530 response code ([NONEXISTENT], [CANNOT], '
           '[ALREADYEXISTS]); Dovecot sends none here')
LIST_ATTRS = ('CHILDREN and SPECIAL-USE attributes in every LIST reply, asked for or not '
              '(RFC 5258 4: the server MAY send child info unasked; RFC 6154 2 lets the '
              'attributes come without the return option); Dovecot sends them only when asked')
SUPERIORS = ('CREATE and RENAME make the missing superiors (RFC 3501 6.3.3 and 6.3.5 SHOULD), '
             'so "c2" of "c2.x.y" is a folder; Dovecot leaves them \\Noselect '
             '(\\NonExistent): this and the DELETE/LIST replies after it')
SUBSCRIPTION = ('SUBSCRIBE takes any valid name (RFC 3501 6.3.6: the server MAY check it '
                'exists); Dovecot refuses a name with no mailbox')
READ_ONLY = ('STORE/EXPUNGE/MOVE on an EXAMINEd mailbox is NO [READ-ONLY]; Dovecot answers '
             'OK having done nothing (or, for MOVE, moves)')
RENAME_INBOX = ('RENAME INBOX moves its messages to the new folder, INBOX stays (RFC 3501 '
                '6.3.5); Dovecot\'s Maildir cannot (NO [CANNOT]): this and what follows')
RENAME_SUBS = ('Dovecot renamed s1 to s2 before its SUBSCRIBE "s1.x" was refused (see '
               'SUBSCRIPTION): s1.x is subscribed only here, s1 a \\Noselect parent in LSUB '
               '(RFC 3501 6.3.9) or a \\NonExistent one with CHILDINFO (RFC 5258 3.5)')

# (scenario, command): why Postroom's reply differs from Dovecot's.
KNOWN = {
    ('not authenticated 4', 'ENABLE UTF8=ACCEPT'):
        'ENABLE is valid only once authenticated (RFC 5161 3.1); Dovecot takes it before',
    ('not authenticated 8', 'BAZ'):
        'Dovecot closes the connection at the third unknown command before login; imapd '
        'counts imapd.max_bad_commands (tests/e2e/test_imapd.py) and answers BAD',
    ('authenticated', 'ENABLE FOO'):
        'an empty ENABLED is sent (RFC 5161 3.2 grammar allows it); Dovecot sends none',
    ('ids and logout', 'ENABLE FOO BAR'): 'the same',
    ('authenticated', 'ENABLE'): STRICT + ' (ENABLE needs a capability)',
    ('authenticated', 'SELECT nosuch'): NO_CODE,
    ('authenticated', 'EXAMINE nosuch'): NO_CODE,
    ('authenticated', 'STATUS nosuch (MESSAGES)'): NO_CODE,
    ('create delete rename', 'CREATE &Jjo'): NO_CODE,
    ('create delete rename', 'DELETE INBOX'): NO_CODE,
    ('create delete rename', 'DELETE inbox'): NO_CODE,
    ('authenticated', 'SELECT INBOX extra'):
        STRICT + ' (Dovecot reads the extra word as a select parameter list)',
    ('authenticated', 'UNSELECT'): 'follows SELECT INBOX extra: nothing is selected here',
    ('authenticated', 'STATUS inbox (MESSAGES SIZE)'):
        'STATUS names INBOX as INBOX whatever case the client wrote (RFC 3501 5.1: it is '
        'case-insensitive); Dovecot echoes the client\'s "inbox"',
    ('authenticated', 'SUBSCRIBE nosuch'): SUBSCRIPTION,
    ('create delete rename', 'SUBSCRIBE "s1.x"'): SUBSCRIPTION,
    ('list', 'LSUB "" *'):
        'LSUB attributes are the subscription\'s (\\Noselect, RFC 3501 6.3.9); Dovecot adds '
        'the special-use ones',
    ('list', 'LSUB "" %'): 'the same',
    ('list', 'LIST (SUBSCRIBED) "" *'): LIST_ATTRS,
    ('list', 'LIST (SPECIAL-USE) "" *'): LIST_ATTRS,
    ('list', 'LIST "" * RETURN (SPECIAL-USE)'): LIST_ATTRS,
    ('list', 'LIST "" * RETURN (CHILDREN)'): LIST_ATTRS,
    ('list', 'LIST "" * RETURN (SUBSCRIBED)'): LIST_ATTRS,
    ('list', 'LIST "" ("INBOX" "Trash")'): LIST_ATTRS,
    ('list', 'LIST "" * RETURN ()'): LIST_ATTRS,
    ('list', 'LIST "" % RETURN (STATUS (MESSAGES UNSEEN))'): LIST_ATTRS,
    ('list', 'LIST "" INBOX RETURN (STATUS (MESSAGES UIDNEXT SIZE))'): LIST_ATTRS,
    ('create delete rename', 'LIST (SUBSCRIBED) "" c*'): LIST_ATTRS,
    ('create delete rename', 'LSUB "" c*'):
        'a subscribed name with no mailbox is \\Noselect in LSUB (RFC 3501 6.3.9); '
        'Dovecot gives it no attribute',
    ('create delete rename', 'LIST "" s* RETURN (SUBSCRIBED)'): LIST_ATTRS,
    ('examine', 'STORE 1 +FLAGS (\\Seen)'): READ_ONLY,
    ('examine', 'EXPUNGE'): READ_ONLY,
    ('examine', 'UID EXPUNGE 1'): READ_ONLY,
    ('copy move expunge', 'MOVE 1 cm2'): READ_ONLY,
    ('copy move expunge', 'COPY 1 cm2'):
        'follows MOVE 1 cm2: message 1 is another one in Dovecot, which moved the first',
    ('sequence sets', 'STORE 500:* +FLAGS (x)'):
        READ_ONLY + '; Dovecot checks the set first (BAD): 500:* is 449:500, valid',
    ('examine', 'EXAMINE nosuch'): NO_CODE,
    ('fetch items', 'FETCH 1:* FULL'):
        'Dovecot\'s FULL lowercases the BODY of 0289-header (Content-Type: TEXT/PLAIN; '
        'CHARSET=US-ASCII), its own FETCH BODY of the same message does not: imapd sends '
        'both as written, as its FETCH BODY compared above',
    ('fetch items', 'FETCH 5 BINARY.SIZE[]'): 'BINARY (RFC 3516) is not implemented nor advertised',
    ('sequence sets', 'FETCH $ (UID)'): 'SEARCHRES (RFC 5182) is not implemented nor advertised',
    ('sequence sets', 'SEARCH 500:*'):
        '500:* is 449:500 (RFC 9051 6.4.8: "*" is the largest number in use, the order of '
        'a range does not matter), which holds message 449; Dovecot matches none',
    ('sequence sets', 'STATUS Junk (MESSAGES)'):
        'STATUS of the selected mailbox: Dovecot adds [CLIENTBUG] (RFC 9051 6.3.11 SHOULD '
        'NOT); imapd answers it plainly',
    ('create delete rename', 'LIST "" c*'): SUPERIORS,
    ('create delete rename', 'LIST "" c%'): SUPERIORS,
    ('create delete rename', 'LIST "" c2%'): SUPERIORS,
    ('create delete rename', 'LIST "" c2.%'): SUPERIORS,
    ('create delete rename', 'LIST "" c* RETURN (CHILDREN)'): SUPERIORS,
    ('create delete rename', 'SELECT c2'): SUPERIORS,
    ('create delete rename', 'SELECT c2.x.y'):
        SUPERIORS + ' (c2 was selected here, so this SELECT closes it: [CLOSED], RFC 7162 '
        '3.2.11)',
    ('create delete rename', 'DELETE c2'): SUPERIORS,
    ('create delete rename', 'LIST "" c2*'): SUPERIORS,
    ('create delete rename', 'DELETE c2.x'): SUPERIORS,
    ('create delete rename', 'LIST "" r*'): SUPERIORS,
    ('create delete rename', 'LIST "" c1*'):
        'DELETE of a folder with children leaves it \\Noselect (RFC 3501 6.3.4); Dovecot\'s '
        'Maildir++ empties it and keeps it selectable',
    ('create delete rename', 'LSUB "" s*'): RENAME_SUBS,
    ('create delete rename', 'LSUB "" s%'): RENAME_SUBS,
    ('create delete rename', 'LSUB "" s1'): RENAME_SUBS,
    ('create delete rename', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" s%'): RENAME_SUBS,
    ('append', 'FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)'):
        'APPEND ... "31-Feb-2024 ...": imapd reads an impossible day as 2-Mar-2024 (mktime, '
        'as SEARCH does, test_imapd_search.py); Dovecot stores the current time',
    ('store', 'STORE 1 +FLAGS'): STRICT + ' (a flag list or flags must follow)',
    ('store', 'STORE 2:3 -FLAGS (kw1)'):
        'STORE answers FETCH FLAGS for every message it names, changed or not (RFC 3501 '
        '6.4.6); Dovecot only for those that changed',
    ('store', 'UID STORE 2 +FLAGS (\\Seen)'):
        'UID STORE\'s FETCH says FLAGS then UID; Dovecot UID first (the order is free, RFC '
        '3501 7.4.2)',
    ('store', 'UID STORE 2:* -FLAGS (\\Seen)'): 'the two reasons above',
    ('literals and syntax', 'FETCH 1 (BODY.PEEK[HEADER.FIELDS ({7}\r\nSubject)])'):
        'the field name is echoed as an atom; Dovecot quotes one that came as a literal '
        '(an astring either way, RFC 3501 9)',
    ('literals and syntax', 'FETCH 1 (BODY.PEEK[HEADER.FIELDS ({7+}\r\nSubject)])'): 'the same',
    ('literals and syntax', 'SEARCH SUBJECT "te\\st"'):
        STRICT + ' ("\\s" is no quoted-special)',
    ('literals and syntax', 'NOOP extra'): STRICT,
    ('literals and syntax', 'CHECK extra'): STRICT,
    ('literals and syntax', 'NOOP '): STRICT,
    ('literals and syntax', 'FETCH  1 UID'): STRICT,
    ('ids and logout', 'ID (name)'): STRICT + ' (RFC 2971 3.3: field and value pairs)',
    ('ids and logout', 'ID'): STRICT + ' (RFC 2971 3.3: ID needs its list or NIL)',
    ('ids and logout', 'ID ("a" "b" "c")'): STRICT + ' (RFC 2971 3.3: field and value pairs)',
    ('ids and logout', 'NAMESPACE extra'): STRICT,
    ('rename inbox', 'RENAME INBOX ib'): RENAME_INBOX,
    ('rename inbox', 'LIST "" ib'): RENAME_INBOX,
    ('rename inbox', 'STATUS ib (MESSAGES UIDNEXT)'): RENAME_INBOX,
    ('rename inbox', 'STATUS INBOX (MESSAGES UIDNEXT)'): RENAME_INBOX,
    ('rename inbox', 'RENAME ib INBOX'): RENAME_INBOX,
    ('rename inbox', 'RENAME INBOX nosuch.x'): RENAME_INBOX,
    ('rename inbox', 'LIST "" nosuch*'): RENAME_INBOX,
    ('rename inbox', 'EXAMINE ib'): RENAME_INBOX,
    ('rename inbox', 'FETCH 1:3 (UID FLAGS)'): RENAME_INBOX,
}

UNTAGGED_STATUS = re.compile(rb'^\* (OK|NO|BAD|BYE|PREAUTH)( \[[^\]]*\])?')
TAGGED_STATUS = re.compile(rb'^(OK|NO|BAD)( \[[^\]]*\])?')


SIMPLE_LITERAL = re.compile(rb'\{(\d+)\}\r\n')


def quoted_literals(line):
    """A literal that could be a quoted string written as one: the same string."""
    out, i = b'', 0
    for m in SIMPLE_LITERAL.finditer(line):
        if m.start() < i:
            continue
        text = line[m.end():m.end() + int(m.group(1))]
        if re.fullmatch(rb'[ !#-\[\]-~]*', text):
            out += line[i:m.start()] + b'"' + text + b'"'
        else:
            out += line[i:m.end() + len(text)]
        i = m.end() + len(text)
    return out + line[i:]


LIST_ATTRIBUTES = re.compile(rb'^\* (LIST|LSUB) \(([^)]*)\)')


def normal(line):
    """One reply line with only what must differ taken out."""
    line = quoted_literals(line)
    if line.startswith(b'+'):
        return b'+'
    if line.startswith((b'* CAPABILITY ', b'* ID (')):
        return line[:line.index(b' ', 2)]
    m = UNTAGGED_STATUS.match(line) if line.startswith(b'* ') else TAGGED_STATUS.match(line)
    if m:
        line = m.group(0)
        if b'[CAPABILITY ' in line:
            line = line[:line.index(b'[CAPABILITY ')] + b'[CAPABILITY]'
    line = re.sub(rb'(UIDVALIDITY|APPENDUID|COPYUID) \d+', rb'\1 V', line)
    line = re.sub(rb' RECENT \d+', b' RECENT r', line)
    line = re.sub(rb'\\Recent ?| \\Recent(?=\))|\\(Un)?Marked ?| \\(Un)?Marked(?=\))',
                  b'', line)
    m = LIST_ATTRIBUTES.match(line)
    if m:       # a set: its order is free
        line = line[:m.start(2)] + b' '.join(sorted(m.group(2).split())) + line[m.end(2):]
    return line


def compared(line):
    """Not compared: HIGHESTMODSEQ (CONDSTORE's) and RECENT (see the top)."""
    return b'[HIGHESTMODSEQ ' not in line and not re.match(rb'\* \d+ RECENT$', line)


def expunges(lines):
    """A run of EXPUNGEs as the message numbers before it: '* EXPUNGE 2 3'.

    Dovecot announces them from the last down, imapd from the first up
    (each numbered as the client counts after the ones before it): both
    right (RFC 3501 7.4.1)."""
    out, run = [], []
    for line in lines + [b'']:
        m = re.match(rb'\* (\d+) EXPUNGE$', line)
        if m:
            run.append(int(m.group(1)))
            continue
        if run:
            alive, gone = list(range(1, max(run) + len(run) + 1)), []
            for n in run:
                gone.append(alive.pop(n - 1))
            out.append(b'* EXPUNGE ' + b' '.join(b'%d' % n for n in sorted(gone)))
            run = []
        out.append(line)
    return out[:-1]


def list_order(text, lines):
    """LIST/LSUB replies sorted by name (each with the STATUS after it): their
    order is free."""
    if not re.match(r'(UID )?(LIST|LSUB)\b', text):
        return lines
    groups, rest = [], []
    for line in lines:
        if line.startswith((b'* LIST ', b'* LSUB ')):
            groups.append([line])
        elif line.startswith(b'* STATUS ') and groups:
            groups[-1].append(line)
        else:
            rest.append(line)
    groups.sort(key=lambda g: g[0].rsplit(b'"', 1)[-1])
    return [l for g in groups for l in g] + rest


class Session:
    """A raw IMAP session: whole replies (literals inline), synchronising literals sent."""

    LITERAL = re.compile(rb'\{(\d+)\+?\}\r\n$')

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.f = self.sock.makefile('rb')
        self.f.readline()

    def line(self):
        out = b''
        while True:
            part = self.f.readline()
            if not part:
                raise ConnectionError('connection closed')
            out += part
            m = self.LITERAL.search(part)
            if not m:
                return out.rstrip(b'\r\n')
            out += self.f.read(int(m.group(1)))

    def command(self, tag, text):
        """[reply lines] of one command, a continuation as a '+' line."""
        pieces = re.split(rb'(\{\d+\}\r\n)', tag + b' ' + text.encode() + b'\r\n')
        replies = []
        for i in range(0, len(pieces), 2):
            self.sock.sendall(pieces[i] + (pieces[i + 1] if i + 1 < len(pieces) else b''))
            if i + 1 < len(pieces):
                replies.append(self.line())
                if not replies[-1].startswith(b'+'):
                    break       # refused: the rest is not sent
        while not replies or not replies[-1].startswith(tag + b' '):
            replies.append(self.line())
        return replies

    def close(self):
        self.sock.close()


def run(port, user, password):
    """{(scenario, index): [normalised lines]} for every command of SCENARIOS.

    A connection closed is a '(closed)' line; the scenario goes on in a new one."""
    out = {}
    for name, login, commands in SCENARIOS:
        s = None
        for i, text in enumerate(commands):
            if s is None:
                s = Session(port)
                if login:
                    assert s.command(b'L0', 'LOGIN "%s" "%s"' % (user, password))[-1] \
                        .startswith(b'L0 OK')
            tag = b'T%d' % i
            lines = []
            try:
                replies = s.command(tag, text)
            except (ConnectionError, socket.timeout) as e:
                replies = [b'(closed: %s)' % type(e).__name__.encode()]
                s.close()
                s = None
            for line in replies:
                if line.startswith(tag + b' '):
                    line = line[len(tag) + 1:]
                if compared(line):
                    lines.append(normal(line))
            out[(name, i)] = list_order(text, expunges(lines))
        if s is not None:
            s.close()
    return out


def corpus():
    d = os.path.join(ROOT, 'tests', 'mime', 'corpus')
    names = sorted(f[:-4] for f in os.listdir(d) if f.endswith('.eml'))
    out = []
    for n in names:
        with open(os.path.join(d, n + '.eml'), 'rb') as f:
            out.append(f.read())
    return names, out


FETCH_SEQ = re.compile(rb'^\* (\d+) FETCH ')


def first_difference(t, o):
    """Where two lines part: a few bytes of each around it."""
    i = next((i for i in range(min(len(t), len(o))) if t[i] != o[i]), min(len(t), len(o)))
    return '  at byte %d\n  dovecot: %r\n  ours:    %r' % (i, t[max(0, i - 60):i + 80],
                                                           o[max(0, i - 60):i + 80])


def differences(name, text, theirs, ours, corpus_names, mime_known):
    """[description] of how two normalised replies differ, less what is accounted for."""
    if theirs == ours:
        return []
    shown = text.replace('\r\n', ' ')[:100]
    if len(theirs) == len(ours):
        out = []
        for t, o in zip(theirs, ours):
            if t == o:
                continue
            m = FETCH_SEQ.match(t)
            if m and name == 'fetch items' and corpus_names[int(m.group(1)) - 1] in mime_known \
                    and re.search(r'ENVELOPE|BODY\b|BODYSTRUCTURE|\bALL\b|FULL', text):
                continue
            out.append(first_difference(t, o))
        if not out:
            return []
        return ['%s: %s (%d lines differ)\n%s' % (name, shown, len(out), '\n'.join(out[:2]))]
    return ['%s: %s\n  dovecot: %r\n  ours:    %r' % (name, shown,
                                                      [t[:160] for t in theirs[:8]],
                                                      [o[:160] for o in ours[:8]])]


class AgainstDovecot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(have_built('imapd'), 'imapd not built')
        require(imap_fetch.Dovecot.available(), imap_fetch.Dovecot.missing())

    def test_scenarios_match_dovecot(self):
        names, messages = corpus()
        with imap_fetch.Dovecot(users=imap_fetch.USERS, sections=DOVECOT_NAMESPACE) as dc:
            for folder in SPECIAL:
                for sub in ('cur', 'new', 'tmp'):
                    os.makedirs(os.path.join(dc.maildir(imap_fetch.USER), '.' + folder, sub))
            files = []
            for i, data in enumerate(messages):
                name = '%d.M%dP1.postroom-test:2,%s' % (1000000000 + i, i, flags_of(i))
                path = dc.deliver(imap_fetch.USER, data, name, sub='cur')
                os.utime(path, (BASE_DATE + i * DAY, BASE_DATE + i * DAY))
                files.append(name)
            dc.pin_uids(imap_fetch.USER, files)
            dc.chown(dc.maildir(imap_fetch.USER))
            theirs = run(dc.port('imap'), imap_fetch.USER, imap_fetch.PASSWORD)
        with Postroom(daemons=('imapd',)) as pr:
            md = pr.maildir(ALICE[0])
            os.makedirs(os.path.join(md, 'cur'), exist_ok=True)
            for i, data in enumerate(messages):
                path = os.path.join(md, 'cur', '%d.M%dP1.postroom-test:2,%s'
                                    % (1000000000 + i, i, flags_of(i)))
                with open(path, 'wb') as f:
                    f.write(data)
                os.utime(path, (BASE_DATE + i * DAY, BASE_DATE + i * DAY))
            if pr.as_root:
                pr._chown_tree(md)
            ours = run(pr.port('imapd.listen'), *ALICE)
        mime_known = allowed_diffs()
        unlisted, differed, compared = [], set(), 0
        for name, _, commands in SCENARIOS:
            for i, text in enumerate(commands):
                compared += 1
                diff = differences(name, text, theirs[(name, i)], ours[(name, i)],
                                   names, mime_known)
                if diff:
                    differed.add((name, text))
                if diff and (name, text) not in KNOWN:
                    unlisted += diff
        stale = ['%s: %s' % k for k in KNOWN if k not in differed]
        print('\nimapd vs dovecot: %d scenarios, %d commands compared, %d known differences'
              % (len(SCENARIOS), compared, len(KNOWN)))
        self.assertEqual(unlisted, [], 'differences from Dovecot not in KNOWN:\n'
                         + '\n'.join(unlisted) + '\n(%d in all)' % len(unlisted))
        self.assertEqual(stale, [], 'KNOWN entries that now match')


if __name__ == '__main__':
    unittest.main()
