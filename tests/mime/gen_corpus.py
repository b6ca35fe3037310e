#!/usr/bin/env python3
"""Write the MIME test corpus: tests/mime/corpus/NNNN-kind.eml.

Messages of the kinds mail clients send (built with the stdlib email
package) plus hand-written malformed ones.  Deterministic: a fixed seed,
fixed dates, fixed boundaries and Message-IDs, so re-running produces the
same bytes.  Most files are LF (as stored in Maildir); some are CRLF.

    python3 tests/mime/gen_corpus.py [outdir]
"""

import base64
import datetime
import os
import random
import sys
from email import policy
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.audio import MIMEAudio
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

SEED = 20261128
HERE = os.path.dirname(os.path.abspath(__file__))

NAMES_ASCII = ["Alice Smith", "Bob O'Neil", "Carol \"CJ\" Jones", "Dave, Jr.",
               "Eve (Security)", "Frank Müller", "Zoë Ωmega", "", "Mallory"]
NAMES_CJK = ["张伟", "王芳", "李娜", "刘洋", "陈静", "山田太郎", "김민준",
             "欧阳娜娜", "司马相如"]
WORDS = ("the quick brown fox jumps over lazy dog meeting report budget "
         "quarterly invoice draft review please find attached thanks regards "
         "schedule project update notes").split()
SUBJECTS_CJK = ["会议通知", "关于项目进度的报告", "发票和合同", "周末聚餐安排",
                "第三季度财务报表（草稿）", "Re: 回复：技术方案讨论",
                "转发：客户反馈汇总", "请查收附件中的文件"]
FILES_CJK = ["报告.pdf", "财务报表2026.xlsx", "会议纪要（最终版）.docx",
             "照片 01.jpg", "非常非常长的文件名称用于测试参数续行功能的处理"
             "是否正确无误.pdf"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "例子.测试",
           "sub.domain.example"]


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.count = 0
        self.nboundary = 0
        self.base = datetime.datetime(2026, 1, 1, 8, 0, 0,
                                      tzinfo=datetime.timezone.utc)

    # ------------------------------------------------------------ helpers
    def words(self, lo, hi):
        return " ".join(self.rng.choice(WORDS)
                        for _ in range(self.rng.randint(lo, hi)))

    def text(self, lines):
        return "".join(self.words(3, 14) + "\n" for _ in range(lines))

    def addr(self, cjk=False, name=True):
        local = self.rng.choice(["alice", "bob", "carol.x", "d_ave", "e+tag",
                                 "frank", "zoe"])
        domain = self.rng.choice(DOMAINS[:3] + DOMAINS[4:])
        if not name:
            return "%s@%s" % (local, domain)
        if cjk:
            n = self.rng.choice(NAMES_CJK)
            cs = self.rng.choice(["utf-8", "gb2312", "gbk", "big5", "utf-8"])
            try:
                n.encode(cs)
            except UnicodeEncodeError:
                cs = "utf-8"
            return "%s <%s@%s>" % (Header(n, cs).encode(), local, domain)
        return formataddr((self.rng.choice(NAMES_ASCII), "%s@%s" % (local,
                                                                     domain)))

    def date(self):
        d = self.base + datetime.timedelta(minutes=self.rng.randint(0, 500000))
        return format_datetime(d)

    def msgid(self):
        self.count += 1
        return "<%08x.%d@postroom.test>" % (self.rng.getrandbits(32),
                                            self.count)

    def boundaries(self, msg):
        for part in msg.walk():
            if part.is_multipart():
                self.nboundary += 1
                part.set_boundary("=_pr%04d_%08x" % (
                    self.nboundary, self.rng.getrandbits(32)))

    def headers(self, msg, subject=None, cjk=False, to=2, cc=0):
        msg["Date"] = self.date()
        msg["From"] = self.addr(cjk)
        msg["To"] = ", ".join(self.addr(cjk and i % 2 == 0)
                              for i in range(to))
        if cc:
            msg["Cc"] = ", ".join(self.addr() for _ in range(cc))
        if subject is None:
            subject = self.words(2, 8).capitalize()
        msg["Subject"] = subject
        msg["Message-ID"] = self.msgid()
        return msg

    def blob(self, n):
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def serialize(self, msg, crlf=False):
        self.boundaries(msg)
        pol = policy.compat32.clone(linesep="\r\n" if crlf else "\n")
        return msg.as_bytes(policy=pol)


# ---------------------------------------------------------------- builders
def plain(g, i):
    cs = ["us-ascii", "utf-8", "iso-8859-1", None][i % 4]
    body = g.text(g.rng.randint(0, 30))
    if cs is None:
        msg = MIMEText(body)
        del msg["MIME-Version"]
        if i % 8 == 3:
            del msg["Content-Type"]
            del msg["Content-Transfer-Encoding"]
    else:
        if cs != "us-ascii":
            body += "Grüße aus Köln, ça va?\n"
        msg = MIMEText(body, "plain", cs)
    g.headers(msg, cc=i % 3)
    if i % 5 == 0:
        msg["In-Reply-To"] = g.msgid()
        msg["References"] = g.msgid() + " " + g.msgid()
    if i % 7 == 0:
        msg["Reply-To"] = g.addr()
        msg["Sender"] = g.addr(name=False)
    return msg


def html(g, i):
    body = "<html><body>\n<p>%s</p>\n<p>%s</p>\n</body></html>\n" % (
        g.words(5, 20), g.words(5, 20))
    msg = MIMEText(body, "html", ["utf-8", "us-ascii"][i % 2])
    return g.headers(msg)


def alternative(g, i):
    msg = MIMEMultipart("alternative")
    t = g.text(g.rng.randint(1, 10))
    msg.attach(MIMEText(t, "plain", "utf-8"))
    msg.attach(MIMEText("<div>%s</div>\n" % t.replace("\n", "<br>"), "html",
                        "utf-8"))
    if i % 4 == 0:
        msg.preamble = "This is a multi-part message in MIME format."
    if i % 4 == 1:
        msg.epilogue = "trailing epilogue text"
    return g.headers(msg, cc=i % 2)


ATTACH_TYPES = [("pdf", "report.pdf"), ("zip", "archive.zip"),
                ("vnd.openxmlformats-officedocument.wordprocessingml.document",
                 "letter.docx"), ("octet-stream", "data.bin"),
                ("msword", "old letter.doc")]


def attachment(g, i):
    msg = MIMEMultipart("mixed")
    alt = i % 3 == 0
    if alt:
        inner = MIMEMultipart("alternative")
        inner.attach(MIMEText(g.text(3), "plain"))
        inner.attach(MIMEText("<p>%s</p>\n" % g.words(4, 9), "html"))
        msg.attach(inner)
    else:
        msg.attach(MIMEText(g.text(g.rng.randint(1, 6)), "plain", "utf-8"))
    for k in range(1 + i % 3):
        sub, name = ATTACH_TYPES[(i + k) % len(ATTACH_TYPES)]
        part = MIMEApplication(g.blob(g.rng.randint(50, 1500)), sub)
        part.add_header("Content-Disposition", "attachment", filename=name)
        if k == 1:
            part.add_header("Content-Description", "Attached " + name)
        msg.attach(part)
    if i % 4 == 2:
        img = MIMEImage(b"\x89PNG\r\n\x1a\n" + g.blob(300), "png")
        img.add_header("Content-Disposition", "attachment",
                       filename="picture.png", size="308")
        msg.attach(img)
    if i % 5 == 4:
        snd = MIMEAudio(g.blob(200), "mpeg")
        snd.add_header("Content-Disposition", "inline")
        msg.attach(snd)
    return g.headers(msg, to=1 + i % 4)


def related(g, i):
    msg = MIMEMultipart("related", type="text/html") if i % 2 else \
        MIMEMultipart("related")
    cids = ["<img%d.%d@postroom.test>" % (i, k) for k in range(1 + i % 3)]
    html_body = "<html><body><p>%s</p>%s</body></html>\n" % (
        g.words(3, 10), "".join('<img src="cid:%s">' % c[1:-1] for c in cids))
    if i % 3 == 0:
        alt = MIMEMultipart("alternative")
        alt.attach(MIMEText(g.text(2), "plain"))
        alt.attach(MIMEText(html_body, "html"))
        msg.attach(alt)
    else:
        msg.attach(MIMEText(html_body, "html", "utf-8"))
    for k, cid in enumerate(cids):
        img = MIMEImage(b"GIF89a" + g.blob(120), "gif")
        img["Content-ID"] = cid
        img.add_header("Content-Disposition", "inline",
                       filename="image%d.gif" % k)
        if k == 0 and i % 4 == 1:
            img["Content-Location"] = "http://example.com/img%d.gif" % k
        msg.attach(img)
    if i % 5 == 0:
        outer = MIMEMultipart("mixed")
        outer.attach(msg)
        part = MIMEApplication(g.blob(100), "pdf")
        part.add_header("Content-Disposition", "attachment", filename="a.pdf")
        outer.attach(part)
        msg = outer
    return g.headers(msg)


def forward(g, i):
    inner = plain(g, i) if i % 3 else alternative(g, i)
    if i % 4 == 3:
        inner2 = MIMEMultipart("mixed")
        inner2.attach(MIMEText("forwarded twice\n"))
        inner2.attach(MIMEMessage(inner))
        g.headers(inner2)
        inner = inner2
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("See the forwarded message below.\n" + g.text(2)))
    fwd = MIMEMessage(inner)
    if i % 2:
        fwd.add_header("Content-Disposition", "inline")
    if i % 5 == 1:
        fwd.add_header("Content-Description", "Forwarded message")
    msg.attach(fwd)
    if i % 6 == 5:
        return g.headers(MIMEMessage(inner))    # top level message/rfc822
    return g.headers(msg, subject="Fwd: " + str(inner["Subject"]))


def cjk(g, i):
    cs = ["utf-8", "gb2312", "gbk", "big5", "gb18030"][i % 5]
    subj = g.rng.choice(SUBJECTS_CJK)
    try:
        subj.encode(cs)
    except UnicodeEncodeError:
        cs = "utf-8"
    enc_subject = Header(subj, cs).encode()
    if i % 6 == 0:
        enc_subject = "Re: " + enc_subject
    body = "你好，\n\n" + subj + "\n谢谢！\n"
    try:
        text = MIMEText(body, "plain", cs)
    except UnicodeEncodeError:
        text = MIMEText(body, "plain", "utf-8")
    if i % 3 == 0:
        msg = text
    else:
        msg = MIMEMultipart("mixed")
        msg.attach(text)
        fname = g.rng.choice(FILES_CJK)
        part = MIMEApplication(g.blob(200))
        if i % 3 == 1:
            # RFC 2231 filename*=, and the 2047 name= Outlook adds
            part.add_header("Content-Disposition", "attachment",
                            filename=("utf-8", "", fname))
            part.set_param("name", Header(fname, "utf-8").encode())
        else:
            # RFC 2047 inside a quoted parameter (not standard, very common)
            part.add_header("Content-Disposition", "attachment",
                            filename=Header(fname, "utf-8").encode())
        msg.attach(part)
    g.headers(msg, subject=enc_subject, cjk=True)
    return msg


def cjk_2231_continued(g, i):
    """Long RFC 2231 filenames, split in continuations as modern mailers do."""
    fname = FILES_CJK[-1] + str(i) + ".pdf"
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("附件见下。\n", "plain", "utf-8"))
    part = MIMEApplication(g.blob(100))
    part.add_header("Content-Disposition", "attachment",
                    filename=("utf-8", "zh-cn", fname))
    msg.attach(part)
    g.headers(msg, subject=Header(g.rng.choice(SUBJECTS_CJK), "utf-8").encode(),
              cjk=True)
    raw = g.serialize(msg, crlf=i % 2 == 1)
    nl = b"\r\n" if i % 2 else b"\n"
    # re-fold the parameter as RFC 2231 continuations via the modern policy
    pol = policy.default.clone(linesep=nl.decode())
    p2 = MIMEApplication(g.blob(50))
    p2.add_header("Content-Disposition", "attachment", filename=fname)
    p2.set_param("name", fname)
    folded = p2.as_bytes(policy=pol)
    hdr_end = folded.index(nl + nl) + len(nl)
    hdrs = folded[:hdr_end]
    body = folded[hdr_end:]
    bnd = msg.get_boundary().encode()
    return raw.replace(b"--" + bnd + b"--", b"--" + bnd + nl + hdrs + nl
                       + body + nl + b"--" + bnd + b"--")


def addresses(g, i):
    cases = [
        "undisclosed-recipients:;",
        "Team: alice@example.com, \"Bob B\" <bob@example.org>;, carol@x.y",
        "\"Last, First\" <first.last@example.com>",
        "first.last@example.com (First Last)",
        "<@route1,@route2:user@example.com>",
        "user",
        "user@",
        "@example.com",
        "\"quoted local\"@example.com",
        "Joe Q. Public <john.q.public@example.com>",
        "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
        "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
        "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
        "\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
        "=?UTF-8?B?5byg5Lyf?= <zhang@example.cn>",
        "=?gb2312?B?1cW5+w==?= <zhang@example.cn>, =?utf-8?Q?Andr=C3=A9?= <a@b.c>",
        "",
        "   ",
        "<>",
        "a@b, , c@d",
        "Name <user@[192.168.0.1]>",
        "broken <user@example.com",
        "\"unterminated <a@b.c>",
        "name (comment (nested)) <a@b.c>",
        "Empty Group:;",
        "mailbox@domain.com.",
        "a.@b.c",
        "very.common@example.com, disposable.style.email.with+symbol@example.com",
        "x@example.com,y@example.com,z@example.com,w@example.com,v@example.com",
        "Outer: Inner: a@b;;",
    ]
    a = cases[i % len(cases)]
    msg = MIMEText("Address test %d\n" % i)
    msg["Date"] = g.date()
    field = ["From", "To", "Cc", "Reply-To", "Sender", "Bcc"][i % 6]
    if field != "From":
        msg["From"] = g.addr()
    msg[field] = a
    msg["Subject"] = "address case %d" % i
    msg["Message-ID"] = g.msgid()
    return msg


def header_edge(g, i):
    """Hand-written header oddities (folding, spacing, duplicates)."""
    nl = "\r\n" if i % 3 == 2 else "\n"
    hdrs = [
        "Subject: folded\n subject\n\tline",
        "Subject:   leading and trailing spaces   ",
        "Subject: tab\tinside and  double  space",
        "Subject: quote \" and backslash \\ inside",
        "Subject: \"\\\"\\\"\\\"\\\"\\\"",
        "Subject:",
        "Subject: ",
        "Subject: first\nSubject: second",
        "Subject: =?UTF-8?Q?caf=C3=A9?= =?UTF-8?Q?_au_lait?=",
        "Subject: =?ISO-8859-1?Q?Andr=E9?= Pirard",
        "Subject: =?utf-8?B?invalid!!?=",
        "Subject:\n continued only",
        "Subject : space before colon",
        "subject: lower case name",
        "SUBJECT: UPPER CASE NAME",
        "Date: Tue, 1 Jul 2003 10:52:37 +0200\nDate: Wed, 2 Jul 2003 10:52:37 +0200",
        "Date:   Tue,\n 1 Jul 2003\n 10:52:37 +0200",
        "Message-ID: <a@b>\nMessage-ID: <c@d>",
        "In-Reply-To: <x@y> (comment)",
        "Message-Id:<no-space@example.com>",
        "To: a@b.c\nTo: d@e.f",
        "From: first@a.b\nFrom: second@c.d",
        "Reply-To:",
        "X-Long: " + "x" * 2000,
        "Subject: " + ("long subject words " * 60).strip(),
        "Subject: " + "\n ".join(["folded many times"] * 30),
        "Content-Type: text/plain;\n charset=\"utf-8\";\n format=flowed;\n delsp=yes",
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII",
        "Content-Type: text/plain; charset=utf-8 (comment)",
        "Content-Type: text/plain; name=\"a;b.txt\"; charset=\"x\\\"y\"",
        "Content-Type: text/html\nContent-Type: text/plain",
        "Content-Type: text",
        "Content-Type: garbage",
        "Content-Type: /plain",
        "Content-Type: text/",
        "Content-Type: application/x-foo;;; name=bar",
        "Content-Type: application/x-foo; name",
        "Content-Type: application/x-foo; name=",
        "Content-Type: application/x-foo; =value; a=b",
        "Content-Type: text/plain; charset=\"\"",
        "Content-Type: image/png; name==?utf-8?B?5Zu+54mHLnBuZw==?=",
        "Content-Transfer-Encoding: BASE64",
        "Content-Transfer-Encoding: quoted-printable (comment)",
        "Content-Transfer-Encoding: x-uuencode",
        "Content-Transfer-Encoding:",
        "Content-Disposition: attachment; filename=\"plain.txt\"; size=123",
        "Content-Disposition: INLINE",
        "Content-Disposition: ; filename=x",
        "Content-Language: en",
        "Content-Language: en-US, de-DE (German), fr",
        "Content-Language: ,en",
        "Content-Location: http://example.com/doc.txt",
        "Content-Location:\n http://example.com/a\n /b",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
        "Content-Description: a \"quoted\" description",
        "Content-ID: <id1@example.com>\nContent-ID: <id2@example.com>",
        "Content-Type: text/plain; title*0*=us-ascii'en'This%20is; title*1*=%20even%20more; title*2=\" isn't it!\"",
        "Content-Type: text/plain; name*0=\"abc\"; name*1=\"def\"",
        "Content-Type: text/plain; name*1=\"def\"; name*0=\"abc\"",
        "Content-Type: text/plain; name*0=\"abc\"; name*2=\"ghi\"",
        "Content-Type: text/plain; name*=utf-8''%E4%B8%AD%E6%96%87.txt; name=\"fallback.txt\"",
        "Content-Type: text/plain; NAME*0*=utf-8''%E4%B8%AD; name*1*=%E6%96%87",
        "Content-Type: text/plain; a*0=x; a*0=y",
    ]
    h = hdrs[i % len(hdrs)]
    base = ["From: sender@example.com", "To: rcpt@example.org",
            "Date: Mon, 5 Jan 2026 10:00:00 +0000",
            "Message-ID: <hdr%d@postroom.test>" % i]
    if "subject" not in h.lower():
        base.append("Subject: header case %d" % i)
    if i % 4 != 1:
        base.append("MIME-Version: 1.0")
    lines = base + h.split("\n")
    body = "body line one\nbody line two\n"
    return (nl.join(lines) + nl + nl + body.replace("\n", nl)).encode("utf-8")


def malformed(g, i):
    """Hand-written broken structures."""
    b = "BOUNDARY%d" % i
    nl = "\r\n" if i % 4 == 3 else "\n"
    H = ("From: m@example.com\nTo: r@example.org\nSubject: malformed %d\n"
         "Date: Mon, 5 Jan 2026 10:00:00 +0000\nMIME-Version: 1.0\n" % i)
    mp = H + "Content-Type: multipart/mixed; boundary=\"%s\"\n\n" % b
    cases = [
        # missing closing boundary
        mp + "--%s\nContent-Type: text/plain\n\nno end\n" % b,
        # no boundary parameter
        H + "Content-Type: multipart/mixed\n\n--x\n\nhello\n--x--\n",
        # wrong boundary used in the body
        mp + "--WRONG\nContent-Type: text/plain\n\ntext\n--WRONG--\n",
        # boundary never appears, only preamble
        mp + "just a preamble\nand more\n",
        # empty multipart: only the closing boundary
        mp + "--%s--\n" % b,
        # boundary with trailing garbage and whitespace
        mp + "--%s  \nContent-Type: text/plain\n\none\n--%sXYZ\n\ntwo\n--%s--  trailing\n" % (b, b, b),
        # part without a blank line after its header
        mp + "--%s\nContent-Type: text/plain\n--%s\n\nsecond\n--%s--\n" % (b, b, b),
        # part with no header at all
        mp + "--%s\n\nheaderless part\n--%s--\n" % (b, b),
        # part whose first line is body text (no header, no blank line)
        mp + "--%s\nthis is not a header\n--%s--\n" % (b, b),
        # nested multiparts sharing a prefix of the boundary
        mp + "--%s\nContent-Type: multipart/alternative; boundary=\"%sa\"\n\n--%sa\n\ninner\n--%sa--\n--%s--\n" % (b, b, b, b, b),
        # inner multipart never closed, outer closes it
        mp + "--%s\nContent-Type: multipart/alternative; boundary=\"in\"\n\n--in\n\ninner one\n--%s\n\nouter two\n--%s--\n" % (b, b, b),
        # same boundary nested
        mp + "--%s\nContent-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n\nx\n--%s--\n--%s--\n" % (b, b, b, b, b),
        # bad base64
        H + "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n!!!not base64###\n====\n",
        # bad quoted-printable
        H + "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nbad =ZZ escape =\nsoft=\n=4\n",
        # 8-bit header values (raw UTF-8 and Latin-1)
        "From: Jürgen Müller <j@example.de>\nTo: 张伟 <zw@example.cn>\nSubject: Grüße – 你好\nDate: Mon, 5 Jan 2026 10:00:00 +0000\n\nbody\n",
        "From: \xe9l\xe8ve <e@example.fr>\nSubject: caf\xe9\n\nlatin1 headers\n",
        # empty body
        H + "Content-Type: text/plain\n\n",
        # header only, no blank line, no body
        H + "Content-Type: text/plain",
        # no header at all
        "\njust a body without any header\nsecond line\n",
        # totally empty file
        "",
        # only a blank line
        "\n",
        # body with no final newline
        H + "\nno final newline",
        # message/rfc822 with empty content
        H + "Content-Type: message/rfc822\n\n",
        # message/rfc822 whose inner message has no blank line
        H + "Content-Type: message/rfc822\n\nFrom: inner@example.com\nSubject: inner",
        # message/rfc822 part cut short by the boundary
        mp + "--%s\nContent-Type: message/rfc822\n--%s--\n" % (b, b),
        # message/rfc822 part with a multipart inside
        mp + "--%s\nContent-Type: message/rfc822\n\nFrom: a@b.c\nSubject: in\nContent-Type: multipart/alternative; boundary=q\n\n--q\n\nx\n--q--\n\n--%s--\n" % (b, b),
        # multipart/digest with default message/rfc822 parts
        H + "Content-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: one@a.b\nSubject: one\n\nfirst\n--d\nContent-Type: text/plain\n\nsecond is text\n--d\n\n--d--\n",
        # boundary line inside a header block
        mp + "--%s\nContent-Type: text/plain\nX-Header: a\n--%s\nContent-Type: text/html\n\n<p>\n--%s--\n" % (b, b, b),
        # content after the closing boundary that looks like a boundary
        mp + "--%s\n\none\n--%s--\n--%s\n\nafter close\n" % (b, b, b),
        # very long boundary (over 70 chars)
        H + "Content-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n\nlong boundary part\n--%s--\n" % ("L" * 90, "L" * 90, "L" * 90),
        # boundary parameter with RFC 2231 continuation
        H + "Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1=\"cd\"\n\n--abcd\n\npart\n--abcd--\n",
        # uppercase multipart type and boundary param name
        H + "Content-Type: MULTIPART/Mixed; BOUNDARY=\"UP\"\n\n--UP\nContent-Type: Text/Plain\n\nx\n--UP--\n",
        # MIME-Version missing but Content-Type multipart
        "From: a@b.c\nSubject: no mime-version\nContent-Type: multipart/mixed; boundary=nv\n\n--nv\n\nx\n--nv--\n",
        # Content-Disposition without Content-Type or MIME-Version
        "From: a@b.c\nSubject: no mime\nContent-Disposition: attachment; filename=x.txt\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n",
        # bare CR line ends
        H.replace("\n", "\r") + "\rbody with CR\r",
        # mixed CRLF and LF
        H.replace("\n", "\r\n", 2) + "Content-Type: text/plain\n\r\nmixed\r\nline\nends\n",
        # NUL bytes in body and header
        H + "X-Nul: a\x00b\nContent-Type: text/plain\n\nnul\x00here\n",
        # multipart with only a preamble and an epilogue boundary
        mp + "preamble\n--%s--\nepilogue\n" % b,
        # part header with continuation lines then boundary
        mp + "--%s\nContent-Type: text/plain;\n charset=utf-8\n\nbody\n\n\n--%s--\n" % (b, b),
        # blank lines before first boundary and between parts
        mp + "\n\n--%s\n\n\n\npart\n\n--%s\n\n--%s--\n\n\n" % (b, b, b),
        # a boundary line with CR only before it
        mp + "--%s\n\nx\r--%s--\n" % (b, b),
        # huge header line (100 KB) in a part
        mp + "--%s\nContent-Type: text/plain\nX-Huge: %s\n\nsmall\n--%s--\n" % (b, "h" * 100000, b),
        # huge subject
        "From: a@b.c\nSubject: %s\n\nbody\n" % ("word " * 20000),
        # many header fields
        "From: a@b.c\n" + "".join("X-H%d: v\n" % k for k in range(3000)) + "Subject: many headers\n\nbody\n",
        # many parts
        H + "Content-Type: multipart/mixed; boundary=m\n\n" + "".join("--m\n\np%d\n" % k for k in range(400)) + "--m--\n",
    ]
    s = cases[i % len(cases)]
    return s.replace("\n", nl).encode("latin-1" if "\xe9" in s else "utf-8")


def deep(g, depth, kind):
    """depth nested multiparts (or message/rfc822s), innermost text."""
    if kind == "multipart":
        # boundaries d1, d10, d100 share prefixes: the longest match wins
        s = "Content-Type: text/plain\n\ninner text\n"
        for d in range(depth, 0, -1):
            s = ("Content-Type: multipart/mixed; boundary=\"d%d\"\n\n--d%d\n"
                 "%s--d%d--\n" % (d, d, s, d))
        return ("From: deep@example.com\nSubject: depth %d\n"
                "MIME-Version: 1.0\n" % depth + s).encode()
    s = "From: n%d@example.com\nSubject: level %d\n\ninnermost\n" % (depth,
                                                                    depth)
    for d in range(depth - 1, -1, -1):
        s = ("From: n%d@example.com\nSubject: level %d\nMIME-Version: 1.0\n"
             "Content-Type: message/rfc822\n\n" % (d, d)) + s
    return s.encode()


def deep_mixed(g, depth):
    s = "Content-Type: text/plain\n\nleaf\n"
    for d in range(depth, 0, -1):
        if d % 2:
            s = ("Content-Type: multipart/mixed; boundary=\"x%d\"\n\n--x%d\n%s"
                 "--x%d--\n" % (d, d, s, d))
        else:
            s = "Content-Type: message/rfc822\n\nSubject: lvl %d\n%s" % (d, s)
    return ("From: dm@example.com\nMIME-Version: 1.0\n" + s).encode()


def edge(g, i):
    """More corner cases, each checked against Dovecot like the rest."""
    H = ("From: e@example.com\nSubject: edge %d\n"
         "Date: Mon, 5 Jan 2026 10:00:00 +0000\nMIME-Version: 1.0\n" % i)
    cases = [
        "From: e@example.com\n leading continuation\nSubject: x\n\nbody\n",
        "Subject: x\n: empty name\nno colon line\nFrom: a@b.c\n\nbody\n",
        H + "Content-Type: text/html\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nx\n--q--\n",
        "From: a@b.c\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/mixed; boundary=w\n\n--w\n\ny\n--w--\n",
        H + "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: m1\n\nbody1\n--d\nContent-Type: text/plain\n\nplain\n--d--\n--o--\n",
        H + "Content-Type: message/RFC822\n\nSubject: upper\n\nbody\n",
        H + "Content-Type: multipart/mixed; boundary=s\n\n--s\nContent-Type: message/rfc822\n\nSubject: same boundary\nContent-Type: multipart/mixed; boundary=s\n\n--s\n\ninner\n--s--\n\n--s--\n",
        H + "Content-Type: application/octet-stream; name=\"caf\xc3\xa9.pdf\"\n\nx\n",
        H + "Content-Type: application/x; name=\"a\\\\b\\\\c\\\\d\\\\e\\\\f\"\n\nx\n",
        "From: \"=?utf-8?B?5byg5Lyf?=\" <z@example.cn>\nSubject: quoted encoded word\n\nx\n",
        "From: J\xc3\xbcrgen \"Der Gr\xc3\xb6\xc3\x9fte\" M\xc3\xbcller <j@example.de>\n\nx\n",
        "To: \"quoted local part\"@example.com, \"a\\\"b\"@c.d\n\nx\n",
        "To: user@[IPv6:2001:db8::1], x@[1.2.3.4]\n\nx\n",
        H + "Content-Type: text (c1) / (c2) plain ; (c3) charset = (c4) \"utf-8\" (c5)\n\nx\n",
        H + "Content-Type: text/plain\nContent-Transfer-Encoding: \"base64\"\n\nx\n",
        H + "Content-Type: text/plain\n\n" + "y" * 5000,
        H + "Content-Type: multipart/mixed; boundary=\"=_?weird b=\"\n\n--=_?weird b=\n\nx\n--=_?weird b=--\n",
        H + "Content-Type: multipart/mixed; boundary=\"  spaced  \"\n\n--  spaced  \n\nx\n--  spaced  --\n",
        H + "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n-- \n\ny\n----\n",
        H + "Content-Type: multipart/mixed; boundary=b\n\n-- not a boundary\n---b\n--b\n\n--bb is a boundary\n--b--\n",
        H + "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n\nleading blank\n--b--\n",
        H + "Content-Disposition: ; filename=\"only params.txt\"\n\nx\n",
        H + "Content-Language: en (English), (x) de\n\nx\n",
        "From MAILER-DAEMON Mon Jan  5 10:00:00 2026\nFrom: a@b.c\nSubject: mbox line\n\nx\n",
        "From: a@b.c\nX-Nul: a\x00b\nSubject: nul\x00in subject\n\nx\n",
        "To: " + ", ".join("u%d@example.com" % k for k in range(300)) + "\n\nx\n",
        "Subject: \xc3\xa9t\xc3\xa9\tavec  tab\n\nx\n",
        H + "Content-Type: text/plain; charset=utf-8; charset=iso-8859-1\n\nx\n",
        H + "Content-Type:text/plain;charset=utf-8\n\nx\n",
        H.replace("\n", "\r") + "Content-Type: multipart/mixed; boundary=cr\r\r--cr\r\rx\r--cr--\r",
        "Subject: a\r\n \r\n b\r\n\t\r\n\r\nx\r\n",
        H + "Content-ID:\n <folded@id>\nContent-Type: text/plain\n\nx\n",
        H + "Content-Type: multipart/digest; boundary=d\n\n--d\nContent-Type: text/plain\n\nexplicit text\n--d\n\nSubject: implicit\n\nmsg\n--d--\n",
        H + "Content-Type: application/x; na\xc3\xafme=v\n\nx\n",
        "To: Gr\xc3\xbcppe: a@b.c, =?utf-8?q?X?= <x@y.z>;\n\nx\n",
        "Date: Mon, 5 Jan 2026 10:00:00 +0000 (M\xc3\xa9z)\n\nx\n",
        "In-Reply-To: <a@b>\n <c@d>\n\t<e@f>\n\nx\n",
        "Subject: x\r\r\nFrom: a@b.c\r\n\r\nbody\r\n",
        H + "Content-Type: text/plain; name=\"a\\\nb\"\n\nx\n",
        H + "Content-Type: text/plain; Name*0=\"Ab\"; name*1=\"Cd\"\n\nx\n",
        H + "Content-Type : text/html\n\nx\n",
        "MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n",
        H + "Content-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/plain\n\nplain\n--alt\nContent-Type: text/html\n\n<b>html</b>\n--alt--",
        H + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n\n--b--\n",
        H + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nFrom: x@y\n--b--\n",
        "Subject: " + "\xe4\xb8\xad" * 3000 + "\n\nx\n",
        "From: " + "(" * 500 + "deep comment" + ")" * 500 + " a@b.c\n\nx\n",
        "Sender: <>\nReply-To: ,\nFrom: ;\n\nx\n",
        H + "Content-Type: text/plain; format=flowed; delsp=yes; charset=\"UTF-8\"; reply-type=original\n\nx\n",
        H + "Content-Type: application/pdf; name=\"=?UTF-8?B?5oql5ZGK?=.pdf\"\nContent-Disposition: attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf; filename=\"=?UTF-8?B?5oql5ZGK?=.pdf\"\n\nx\n",
        H + "Content-Type: multipart/related; type=\"text/html\"; start=\"<a@b>\"; boundary=r\n\n--r\nContent-Type: text/html\nContent-ID: <a@b>\n\n<img src=cid:c@d>\n--r\nContent-Type: image/png\nContent-ID: <c@d>\nContent-Location: c.png\nContent-Disposition: inline\n\nPNG\n--r--\n",
        H + "Content-Type: text/plain\nContent-MD5: abc\nContent-Language: en\nContent-Location: x\nContent-Description: d\nContent-ID: <i>\n\nx\n",
        # lone CRs and CR CR LF line ends
        "Subject: a\rb\r\nMessage-ID: <a\r>\r\n\r\nx",
        "Subject: x\r\r\r\nFrom: a@b.c\r\n\r\nx",
        "Subject: x\r \r\nX: y\r\n\r\n",
        "Subject: x\r\n\r\r\nbody\r\n",
        "Subject: x\n\r\nbody\n",
        H + "Content-Type: text/plain; name=\"a\x00b\"\nContent-Description: d\x00e\n\nx",
        # RFC 2231: a bare "name*" takes the index of the piece before it
        H + "Content-Type: text/plain; a*0=x; a*1=y; b*=utf-8''z\n\nx\n",
        # 3000 To: fields are joined into one list
        "".join("To: u%d@example.com\n" % k for k in range(3000)) + "\nx\n",
        "To:\nTo: a@b.c\nCc: x@y\nCc:\n\nx\n",
        # more header fields than MIME_MAX_HEADERS, the From after them
        "Subject: many\n" + "X: y\n" * 10001 + "From: late@example.com\n\nx\n",
    ]
    s = cases[i % len(cases)]
    return s.encode("latin-1") if "\xe9t" in s or "\xe4\xb8" in s else s.encode("utf-8", "surrogateescape")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    random.seed(SEED)               # email's own random boundaries, unused
    g = Gen(SEED)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".eml"):
            os.unlink(os.path.join(out, f))
    plan = ([("plain", plain)] * 40 + [("html", html)] * 12 +
            [("alternative", alternative)] * 30 +
            [("attachment", attachment)] * 40 + [("related", related)] * 25 +
            [("forward", forward)] * 30 + [("cjk", cjk)] * 40 +
            [("addresses", addresses)] * 36)
    n = 0

    def write(kind, data):
        nonlocal n
        n += 1
        with open(os.path.join(out, "%04d-%s.eml" % (n, kind)), "wb") as f:
            f.write(data)

    counters = {}
    for kind, fn in plan:
        k = counters.get(kind, 0)
        counters[kind] = k + 1
        write(kind, g.serialize(fn(g, k), crlf=(k % 5 == 4)))
    for k in range(8):
        write("cjk2231", cjk_2231_continued(g, k))
    for k in range(63):
        write("header", header_edge(g, k))
    for k in range(45):
        write("malformed", malformed(g, k))
    for depth in (3, 50, 98, 99, 100, 101, 120):
        write("deep-multipart", deep(g, depth, "multipart"))
    for depth in (3, 50, 98, 99, 100, 101, 120):
        write("deep-rfc822", deep(g, depth, "rfc822"))
    for depth in (10, 99, 100, 130):
        write("deep-mixed", deep_mixed(g, depth))
    for k in range(62):
        write("edge", edge(g, k))
    print("wrote %d messages to %s" % (n, out))


if __name__ == "__main__":
    main()
