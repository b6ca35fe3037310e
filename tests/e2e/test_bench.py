"""The parts of `make bench` its figures rest on: the reference Postfix built
from our templates alone (it must run with /etc/postfix hidden), the journaled
ext4 mounted and always removed, and the median (min-max) cells."""

import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

from harness import ROOT, Postroom

sys.path.insert(0, os.path.join(ROOT, 'tests', 'bench'))

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


if __name__ == '__main__':
    unittest.main()
