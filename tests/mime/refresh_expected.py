#!/usr/bin/env python3
"""Regenerate tests/mime/expected/*.txt from a throw-away Dovecot.

Every tests/mime/corpus/NAME.eml is put into a fresh Maildir, Dovecot
(Debian's dovecot-imapd) is started on a random loopback port with its own
config, and `FETCH n (ENVELOPE BODY BODYSTRUCTURE)` is saved as
expected/NAME.txt:

    ENVELOPE <value>\\n BODY <value>\\n BODYSTRUCTURE <value>\\n

with each value exactly as Dovecot wrote it (IMAP literals included).
tests/unit/test_mime.c compares mime_parse() with these files.

    python3 tests/mime/refresh_expected.py
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import imap_fetch  # noqa: E402


def corpus_files(corpus):
    return sorted(f for f in os.listdir(corpus) if f.endswith(".eml"))


def main():
    corpus = os.path.join(HERE, "corpus")
    expected = os.path.join(HERE, "expected")
    if imap_fetch.Dovecot.missing():
        sys.exit("refresh_expected: " + imap_fetch.Dovecot.missing())
    names = corpus_files(corpus)
    messages = []
    for name in names:
        with open(os.path.join(corpus, name), "rb") as f:
            messages.append(f.read())
    with imap_fetch.Dovecot(users=imap_fetch.USERS) as dc:
        imap_fetch.load(dc, messages)
        results = imap_fetch.fetch(dc, len(messages))
    os.makedirs(expected, exist_ok=True)
    for f in os.listdir(expected):
        if f.endswith(".txt"):
            os.unlink(os.path.join(expected, f))
    for name, values in zip(names, results):
        with open(os.path.join(expected, name[:-4] + ".txt"), "wb") as f:
            f.write(imap_fetch.expected_text(values))
    print("wrote %d expected files to %s" % (len(names), expected))


if __name__ == "__main__":
    main()
