"""The parts of `make bench` its figures rest on: the reference Postfix built
from our templates alone (it must run with /etc/postfix hidden), the journaled
ext4 mounted and always removed, and the median (min-max) cells."""

import argparse
import contextlib
import io
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

from dovecot import Dovecot
from harness import ROOT, Postroom, build_dir, sanitized

sys.path.insert(0, os.path.join(ROOT, 'tests', 'bench'))

import bench_imap  # noqa: E402
import bench_relay  # noqa: E402
from benchlib import Samples, describe_fs  # noqa: E402
from loopfs import loop_ext4  # noqa: E402

POSTFIX_SH = os.path.join(ROOT, 'tests', 'bench', 'postfix.sh')


def mounted(path):
    with open('/proc/mounts') as f:
        return any(line.split()[1] == path for line in f)


class SamplesTest(unittest.TestCase):
    def test_median_spread_and_ratio_of_medians(self):
        s = Samples()
        for v in (30, 10, 20):
            s.add('a', v)
        for v in (5, 100):
            s.add('b', v)
        self.assertEqual(s.cell('a', '%.0f'), '20 (10-30)')
        self.assertEqual(s.cell('b', '%.1f'), '52.5 (5.0-100.0)')
        self.assertEqual(s.cell('never', '%.0f'), '-')
        self.assertEqual(s.ratio('a', 'b'), '%.2fx' % (20 / 52.5))


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('unshare') and shutil.which('postconf'),
                     'needs root, unshare and the postfix package')
class PostfixTemplateTest(unittest.TestCase):
    def test_delivers_with_etc_postfix_hidden(self):
        empty = tempfile.mkdtemp(prefix='postroom-empty-')
        pfdir = tempfile.mkdtemp(prefix='postroom-bench-postfix-')
        port = Postroom._free_port(set())
        hide = 'mount --bind %s /etc/postfix && ' % empty if os.path.isdir('/etc/postfix') else ''
        try:
            p = subprocess.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                                '%sexec sh %s start %s %d' % (hide, POSTFIX_SH, pfdir, port)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            Postroom.wait_for(lambda: os.path.exists(os.path.join(pfdir, 'queue', 'pid',
                                                                  'master.pid')), 10)
            with smtplib.SMTP('127.0.0.1', port, timeout=10) as s:
                s.sendmail('x@client.test', ['alice@example.test'],
                           b'Subject: hi\r\n\r\nline 1\r\nline 2\r\n')
            new = os.path.join(pfdir, 'mail', 'example.test', 'alice', 'Maildir', 'new')
            names = Postroom.wait_for(lambda: os.listdir(new), 20)
            with open(os.path.join(new, names[0]), 'rb') as f:
                data = f.read()
            self.assertTrue(data.endswith(b'\nline 1\nline 2\n'), data)    # LF on disk
        finally:
            subprocess.run(['sh', POSTFIX_SH, 'stop', pfdir], capture_output=True, timeout=60)
            shutil.rmtree(pfdir, True)
            os.rmdir(empty)


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists('/dev/loop-control') and
                     shutil.which('mkfs.ext4'), 'needs root, a loop device and mkfs.ext4')
class LoopExt4Test(unittest.TestCase):
    def test_journaled_ordered_and_removed_after_an_error(self):
        with self.assertRaises(RuntimeError):
            with loop_ext4() as mnt:
                self.assertTrue(mounted(mnt))
                self.assertIn('journal, data=ordered', describe_fs(mnt))
                with open(os.path.join(mnt, 'f'), 'w') as f:
                    f.write('x')
                raise RuntimeError('a run that fails half way')
        self.assertFalse(mounted(mnt))
        self.assertFalse(os.path.exists(os.path.dirname(mnt)))


@unittest.skipUnless(Dovecot.available() and shutil.which('cc') and
                     os.path.exists(os.path.join(build_dir(), 'imapd')),
                     'needs Dovecot, a C compiler and imapd built')
class ImapBenchTest(unittest.TestCase):
    """The IMAP part of `make bench` run end to end on tiny mailboxes: every
    figure measured for both servers, so the bench cannot rot unseen."""

    def test_message_is_exactly_its_size(self):
        for i in (0, 1, 99, 100, 12345):
            for size in (1024, 4096):
                m = bench_imap.message(i, size)
                self.assertEqual(len(m), size)
                self.assertEqual(b'needle' in m, i % 100 == 0)
                self.assertEqual(b'about quebec' in m, i % 26 == 16)

    def test_every_figure_for_both_servers(self):
        if sanitized():
            self.skipTest('a measurement: its imapd paths run under the sanitizers in the '
                          'imapd tests; here it would only cost the CI budget')
        tools = tempfile.mkdtemp(prefix='postroom-bench-tools-')
        self.addCleanup(shutil.rmtree, tools, True)
        subprocess.run(['cc', '-O2', '-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror',
                        '-pthread', '-o', os.path.join(tools, 'imapload'),
                        os.path.join(ROOT, 'tests', 'bench', 'imapload.c')], check=True)
        plan = bench_imap.Plan(quick=True)
        plan.boxes = [(bench_imap.BOX4K, 120, 4096), (bench_imap.BOX1K, 200, 1024)]
        plan.levels, plan.mixed_seconds, plan.idle_users = [20], 1, ['idle0@example.test']
        args = argparse.Namespace(build=build_dir(), quick=True, rounds=1)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            bench_imap.bench_imap(args, tools, plan)
        text = out.getvalue()
        self.assertNotIn('failed', text)
        rows = [line for line in text.splitlines() if ' x 4 KB: ' in line or ' x 1 KB: ' in line
                or line.startswith(('mixed', '20 IDLE'))]
        self.assertEqual(len(rows), 2 * (len(bench_imap.BOX_FIGURES) - 2 * (os.geteuid() != 0))
                         + 3 + 4, text)      # mixed: 3 rows; IDLE: PSS, RSS, per, EXISTS
        for line in rows:
            cells = line.split()
            self.assertNotIn('-', cells, line)      # a figure missing on one side
        body = [line for line in rows if 'BODY.PEEK' in line]
        self.assertEqual(len(body), 2, text)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('smtp-sink') and shutil.which('cc') and
                     os.path.exists(os.path.join(build_dir(), 'relayd')),
                     'needs root, smtp-sink (postfix), a C compiler and relayd built')
class RelayBenchTest(unittest.TestCase):
    """The relay part of `make bench` on 20 messages: both servers hold the
    mail while their relay is stopped, then each sink gets its share."""

    def test_every_figure_for_both_servers(self):
        if sanitized():
            self.skipTest('a measurement: relayd runs under the sanitizers in test_relayd')
        tools = tempfile.mkdtemp(prefix='postroom-bench-tools-')
        self.addCleanup(shutil.rmtree, tools, True)
        subprocess.run(['cc', '-O2', '-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror',
                        '-pthread', '-o', os.path.join(tools, 'smtpload'),
                        os.path.join(ROOT, 'tests', 'bench', 'smtpload.c')], check=True)
        args = argparse.Namespace(build=build_dir(), quick=True, rounds=1)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            bench_relay.bench_relay(args, tools, count=20)
        text = out.getvalue()
        rows = [line for line in text.splitlines() if line.startswith(('1 domain', '10 domains'))]
        self.assertEqual(len(rows), 6, text)
        for line in rows:
            self.assertNotIn('-', line.split(), line)    # a figure missing on one side
        self.assertEqual(text.count('goal (issue 16)'), 2, text)


if __name__ == '__main__':
    unittest.main()
