"""FETCH BODY[section]<partial> and RFC822.* against a live Dovecot (issue 15).

Every message of tests/mime/corpus goes into a throw-away Dovecot
(tests/e2e/dovecot.py, via tests/mime/imap_fetch.py); the same file is
given to imapd/imap_fetch_body through tests/mime/fetch_body_dump.c (built
here against the build's libraries).  For each message: BODY[], HEADER,
TEXT, HEADER.FIELDS(.NOT), RFC822.*, partials at the edges, a part that does
not exist, and for each of its first parts BODY[s], [s.MIME], [s.HEADER],
[s.TEXT], [s.HEADER.FIELDS (...)], [s]<1.20>.  Each item's name, literal
size and bytes must be Dovecot's exactly; the differences that remain are
the KNOWN table below, each with its reason.  Skipped when Dovecot or the
build is missing.
"""

import os
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

MESSAGE_ITEMS = [
    "BODY.PEEK[]", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]", "RFC822.HEADER",
    "BODY.PEEK[HEADER.FIELDS (FROM To subject Content-Type)]",
    "BODY.PEEK[HEADER.FIELDS.NOT (Received DATE message-id)]",
    "BODY.PEEK[HEADER.FIELDS (X-NOT-THERE)]",
    "BODY.PEEK[]<0.10>", "BODY.PEEK[]<7.100>", "BODY.PEEK[TEXT]<3.7>",
    "BODY.PEEK[]<100000000.5>", "BODY.PEEK[1]<2.5>", "BODY.PEEK[1.1.1.1.9]",
    "BODY.PEEK[9]", "BODY.PEEK[1.MIME]",
]
PART_ITEMS = ["BODY.PEEK[%s]", "BODY.PEEK[%s.MIME]", "BODY.PEEK[%s.HEADER]",
              "BODY.PEEK[%s.TEXT]", "BODY.PEEK[%s.HEADER.FIELDS (CONTENT-TYPE SUBJECT)]",
              "BODY.PEEK[%s]<1.20>"]
MAX_PARTS = 12
# (corpus name, item): why we differ.
KNOWN = {
    ("0365-malformed", "BODY.PEEK[1]<2.5>"):
        "a bare CR in the part: Dovecot's partial skip (message_skip_virtual) "
        "counts it differently from its own BODY[1], whose bytes 2..6 are ours",
    ("0349-malformed", "BODY.PEEK[1.HEADER.FIELDS (CONTENT-TYPE SUBJECT)]"):
        "a message/rfc822 part cut by the boundary right after its header: "
        "Dovecot's parser gives the line end to the message inside as its empty "
        "line (mail/mime.c keeps it with the part), so its filter passes a CRLF",
    ("0351-malformed", "BODY.PEEK[3.HEADER.FIELDS (CONTENT-TYPE SUBJECT)]"):
        "the same for a digest part that is only its empty line",
}


def parse_items(raw):
    """{name: value} from "* n FETCH (UID u BODY[HEADER.FIELDS (A B)] {n}..."."""
    i = raw.index(b"(") + 1
    out = {}
    while i < len(raw) and raw[i:i + 1] != b")":
        if raw[i:i + 1] == b" ":
            i += 1
            continue
        j, depth = i, 0
        while depth > 0 or raw[j:j + 1] != b" ":
            depth += {b"[": 1, b"]": -1}.get(raw[j:j + 1], 0)
            j += 1
        end = imap_fetch._skip_value(raw, j + 1)
        out[raw[i:j]] = raw[i:end]
        i = end
    return out


def reply_name(item):
    """The name Dovecot answers an item with (BODY.PEEK -> BODY, partial origin only)."""
    name = item.replace("BODY.PEEK[", "BODY[")
    if "<" in name:
        name = name[:name.index("<")] + name[name.index("<"):name.index(".", name.index("<"))] + ">"
    return name


class FetchBodyAgainstDovecot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(imap_fetch.Dovecot.available(), imap_fetch.Dovecot.missing())
        libs = [os.path.join(build_dir(), l)
                for l in ("libimapd.a", "libmail.a", "libpostroom.a")]
        require(all(os.path.exists(l) for l in libs),
                "no %s: build first" % " ".join(libs))
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        require(cc is not None, "no C compiler to build fetch_body_dump")
        cls.tmp = tempfile.mkdtemp(prefix="postroom-fetchbody-")
        cls.dump = os.path.join(cls.tmp, "fetch_body_dump")
        with open(libs[1], "rb") as f:
            san = ["-fsanitize=address,undefined"] if b"__asan_" in f.read() else []
        subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-I", ROOT, "-o", cls.dump,
                        os.path.join(MIME, "fetch_body_dump.c")] + san + libs
                       + ["-pthread", "-lssl", "-lcrypto", "-ldb", "-lcares", "-lcrypt"],
                       check=True)
        d = os.path.join(MIME, "corpus")
        cls.names = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".eml"))
        cls.paths = [os.path.join(d, n + ".eml") for n in cls.names]
        cls.items = []
        for sections in cls.ours([(path, ["SECTIONS"]) for path in cls.paths]):
            secs = sections[0].decode().split()[:MAX_PARTS]
            cls.items.append(MESSAGE_ITEMS + [p % s for s in secs for p in PART_ITEMS])
        messages = []
        for path in cls.paths:
            with open(path, "rb") as f:
                messages.append(f.read())
        cls.live = []
        with imap_fetch.Dovecot(users=imap_fetch.USERS) as dc:
            imap_fetch.load(dc, messages)
            imap = imap_fetch.session(dc)
            try:
                for uid, items in enumerate(cls.items, 1):
                    got = {}
                    for i in range(0, len(items), 16):
                        typ, data = imap.uid("FETCH", str(uid), "(%s)" % " ".join(items[i:i + 16]))
                        if typ != "OK":
                            raise RuntimeError("FETCH %d: %r" % (uid, data))
                        got.update(parse_items(imap_fetch.raw_response(data)))
                    cls.live.append(got)
            finally:
                imap.logout()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def ours(cls, requests):
        """[(path, items)] -> for each, the values of its items: one fetch_body_dump."""
        lines = "".join("\t".join([path] + items) + "\n" for path, items in requests)
        out = subprocess.run([cls.dump, "-"], input=lines.encode(), check=True,
                             stdout=subprocess.PIPE).stdout
        vals, i = [], 0
        while i < len(out):
            nl = out.index(b"\n", i)
            n = int(out[i:nl])
            vals.append(out[nl + 1:nl + 1 + n])
            i = nl + 1 + n
        answers, at = [], 0
        for _, items in requests:
            answers.append(vals[at:at + len(items)])
            at += len(items)
        return answers

    def test_items_match_dovecot(self):
        compared, unlisted, stale = 0, [], []
        answers = self.ours(list(zip(self.paths, self.items)))
        for name, items, live, ours in zip(self.names, self.items, self.live, answers):
            self.assertEqual(len(ours), len(items), name)
            for item, value in zip(items, ours):
                key = reply_name(item).upper().encode()
                want = live.get(key)
                compared += 1
                same = want == value
                if not same and (name, item) not in KNOWN:
                    unlisted.append("%s %s\n  dovecot: %r\n  ours:    %r" % (
                        name, item, (want or b"")[:200], value[:200]))
                elif same and (name, item) in KNOWN:
                    stale.append("%s %s" % (name, item))
        print("\nfetch body: %d messages, %d items compared, %d known differences"
              % (len(self.names), compared, len(KNOWN)))
        self.assertGreater(compared, 5000)
        self.assertEqual(unlisted, [], "differences from Dovecot not in KNOWN:\n"
                         + "\n".join(unlisted[:30]) + "\n(%d in all)" % len(unlisted))
        self.assertEqual(stale, [], "KNOWN entries that now match")


if __name__ == "__main__":
    unittest.main()
