"""A journaled ext4 for `make bench`: mkfs.ext4 on a sparse file, loop-mounted
with the defaults real servers run with (data=ordered), removed afterwards.

    with loop_ext4() as mnt:      # raises LoopUnavailable(reason) when it cannot be made
        ...

The inode tables and the journal are written by mkfs itself (lazy init off):
otherwise ext4lazyinit writes them in the background during the first runs.
Unmounted and removed on every exit, also on an exception or Ctrl-C."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time

SIZE = 4 << 30      # sparse: only what is written takes disk space


class LoopUnavailable(Exception):
    pass


def _run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        raise LoopUnavailable('%s: %s' % (' '.join(args[:2]), (p.stderr or p.stdout).strip()))


def _unmount(mnt):
    """Servers just stopped may still be closing files: retry, then detach lazily."""
    for _ in range(50):
        if subprocess.run(['umount', mnt], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(['umount', '-l', mnt], capture_output=True)


@contextlib.contextmanager
def loop_ext4():
    if os.geteuid() != 0:
        raise LoopUnavailable('not root')
    if not os.path.exists('/dev/loop-control') or shutil.which('mkfs.ext4') is None:
        raise LoopUnavailable('no loop device or no mkfs.ext4')
    top = tempfile.mkdtemp(prefix='postroom-bench-loop-')
    image, mnt = os.path.join(top, 'ext4.img'), os.path.join(top, 'mnt')
    mounted = False
    try:
        os.chmod(top, 0o755)      # the servers' users walk through it
        os.mkdir(mnt)
        with open(image, 'wb') as f:
            f.truncate(SIZE)
        _run(['mkfs.ext4', '-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image])
        _run(['mount', '-o', 'loop', image, mnt])     # loop device freed at umount (autoclear)
        mounted = True
        os.chmod(mnt, 0o755)
        yield mnt
    finally:
        if mounted:
            _unmount(mnt)
        shutil.rmtree(top, True)
