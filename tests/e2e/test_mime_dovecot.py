"""MIME correctness against a live Dovecot (issue 4, acceptance).

Every message of tests/mime/corpus goes into the Maildir of a throw-away
Dovecot (Debian's dovecot-imapd, own config, random loopback port), and
`FETCH n (ENVELOPE BODY BODYSTRUCTURE)` read with imaplib is compared byte
for byte with what mail/mime.c's mime_parse() prints for the same file
(through tests/mime/mime_dump.c, built here against the build's
libmail.a).  Differences must be listed, with a reason, in the
allowed_diffs table of tests/unit/test_mime.c; anything else fails.  A
second test checks that tests/mime/expected/ (what the unit test compares
with) is still what this Dovecot prints; a third that the part offsets
give the same bytes as Dovecot's BODY[s.MIME], BODY[s], BODY[s.HEADER] and
BODY[s.TEXT] for every section (Dovecot sends LF files with CRLF).  Until imapd exists the parser is
compared directly.  Skipped when Dovecot or the build is missing (a failure
under CI).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MIME = os.path.join(ROOT, "tests", "mime")
sys.path.insert(0, MIME)
import imap_fetch  # noqa: E402  (tests/mime/imap_fetch.py)
from harness import build_dir, require  # noqa: E402


def allowed_diffs():
    """{name: reason} from tests/unit/test_mime.c, the one list."""
    with open(os.path.join(ROOT, "tests", "unit", "test_mime.c")) as f:
        src = f.read()
    table = src[src.index("allowed_diffs[] = {"):]
    table = table[:table.index("};")]
    return dict(re.findall(r'\{\s*"([^"]+)",\s*"((?:[^"\\]|\\.)*)"', table))


def corpus():
    d = os.path.join(MIME, "corpus")
    names = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".eml"))
    return d, names


class MimeAgainstDovecot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(imap_fetch.Dovecot.available(), imap_fetch.Dovecot.missing())
        libs = [os.path.join(build_dir(), l)
                for l in ("libmail.a", "libpostroom.a")]
        require(all(os.path.exists(l) for l in libs),
                "no %s: build first" % " ".join(libs))
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        require(cc is not None, "no C compiler to build mime_dump")
        cls.tmp = tempfile.mkdtemp(prefix="postroom-mime-")
        cls.dump = os.path.join(cls.tmp, "mime_dump")
        # A sanitizer build's libraries need the sanitizer runtimes at link time.
        with open(libs[0], "rb") as f:
            san = ["-fsanitize=address,undefined"] if b"__asan_" in f.read() else []
        subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-I", ROOT, "-o",
                        cls.dump, os.path.join(MIME, "mime_dump.c")] + san + libs
                       + ["-pthread", "-lssl", "-lcrypto", "-ldb", "-lcares",
                          "-lcrypt"], check=True)
        cdir, cls.names = corpus()
        cls.messages = []
        for n in cls.names:
            with open(os.path.join(cdir, n + ".eml"), "rb") as f:
                cls.messages.append(f.read())
        ours = os.path.join(cls.tmp, "ours")
        os.mkdir(ours)
        subprocess.run([cls.dump, ours] + [os.path.join(cdir, n + ".eml")
                                           for n in cls.names], check=True)
        cls.ours, cls.parts = [], []
        for n in cls.names:
            with open(os.path.join(ours, n + ".txt"), "rb") as f:
                cls.ours.append(f.read())
            with open(os.path.join(ours, n + ".parts")) as f:
                cls.parts.append([l.split() for l in f])
        with imap_fetch.Dovecot(users=imap_fetch.USERS) as d:
            imap_fetch.load(d, cls.messages)
            cls.live = [imap_fetch.expected_text(v)
                        for v in imap_fetch.fetch(d, len(cls.messages))]
            cls.sections = cls._fetch_sections(d)

    @classmethod
    def _fetch_sections(cls, d):
        """{(uid, item): bytes} for every section mime_dump listed."""
        out = {}
        imap = imap_fetch.session(d)
        try:
            for uid, lines in enumerate(cls.parts, 1):
                items = []
                for kind, sec, *_ in lines[:40]:
                    items += (["BODY.PEEK[%s.MIME]" % sec, "BODY.PEEK[%s]" % sec]
                              if kind == "P" else
                              ["BODY.PEEK[%s.HEADER]" % sec,
                               "BODY.PEEK[%s.TEXT]" % sec])
                for i in range(0, len(items), 20):
                    vals = imap_fetch.fetch_raw(imap, uid, " ".join(items[i:i + 20]))
                    for k, v in vals.items():
                        out[(uid, k.decode())] = imap_fetch.string_value(v)
        finally:
            imap.logout()
        return out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_parser_matches_live_dovecot(self):
        allowed = allowed_diffs()
        same, unlisted, stale = 0, [], []
        for name, live, ours in zip(self.names, self.live, self.ours):
            if live == ours:
                same += 1
                if name in allowed:
                    stale.append(name)
            elif name not in allowed:
                unlisted.append(name)
        print("\nmime: %d corpus messages, %d identical to Dovecot, %d "
              "listed differences" % (len(self.names), same, len(allowed)))
        self.assertGreaterEqual(len(self.names), 300)
        self.assertEqual(unlisted, [], "differences not in allowed_diffs")
        self.assertEqual(stale, [], "allowed_diffs entries that now match")

    def test_expected_files_are_current(self):
        stale = []
        for name, live in zip(self.names, self.live):
            path = os.path.join(MIME, "expected", name + ".txt")
            with open(path, "rb") as f:
                if f.read() != live:
                    stale.append(name)
        self.assertEqual(stale, [], "tests/mime/expected differs from this "
                         "Dovecot: run tests/mime/refresh_expected.py")

    def test_part_offsets_match_dovecot_sections(self):
        def crlf(b):
            return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

        checked, bad = 0, []
        for uid, (name, msg, parts) in enumerate(
                zip(self.names, self.messages, self.parts), 1):
            if b"\0" in msg or b"\r\r" in msg or re.search(rb"\r[^\n]", msg):
                continue            # Dovecot rewrites NULs and bare CRs
            for kind, sec, ho, hs, bo, bs in parts[:40]:
                ho, hs, bo, bs = int(ho), int(hs), int(bo), int(bs)
                hdr, body = ("MIME", "") if kind == "P" else ("HEADER", "TEXT")
                head_item = "BODY[%s.%s]" % (sec, hdr)
                body_item = "BODY[%s%s]" % (sec, "." + body if body else "")
                want_head = crlf(msg[ho:ho + hs])
                if want_head == b"\r\n" and bs == 0:
                    # only a blank line and no body: Dovecot sends ""
                    want_head = b""
                for item, want in ((head_item, want_head),
                                   (body_item, crlf(msg[bo:bo + bs]))):
                    checked += 1
                    if self.sections.get((uid, item)) != want:
                        bad.append("%s %s" % (name, item))
        print("\nmime: %d section fetches compared" % checked)
        self.assertGreater(checked, 500)
        self.assertEqual(bad, [], "part offsets that differ from Dovecot")


if __name__ == "__main__":
    unittest.main()
