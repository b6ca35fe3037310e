"""What every part of `make bench` shares: the load tools, /proc readings,
and rounds of samples printed as median (min-max) side by side."""

import os
import re
import shutil
import statistics
import subprocess
import sys
import time


def progress(text):
    """A line on stderr while a long run goes on (the figures go to stdout)."""
    print('bench: %s %s' % (time.strftime('%H:%M:%S'), text), file=sys.stderr, flush=True)


def kv(line):
    """'a=1 b=2.5' -> {'a': 1.0, 'b': 2.5} (numbers only)."""
    return {k: float(v) for k, v in re.findall(r'(\w+)=([-\d.]+)', line)}


def run_tool(args, timeout=900):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError('%s failed (%d): %s %s' % (os.path.basename(args[0]), p.returncode,
                                                      p.stdout.strip(), p.stderr.strip()))
    return kv(p.stdout)


def descendants(pid):
    """pid and all its descendants, from /proc."""
    children = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def process_names(pids):
    """The command names (/proc/PID/comm) of those of pids still running."""
    names = []
    for p in pids:
        try:
            with open('/proc/%d/comm' % p) as f:
                names.append(f.read().strip())
        except OSError:
            pass        # exited meanwhile
    return names


def pss_kb(pids):
    """Proportional set size summed over pids (shared pages split between their users)."""
    return smaps_kb(pids, 'Pss')


def smaps_kb(pids, field):
    """A field of smaps_rollup ('Pss', 'Rss') summed over pids, in KB."""
    total, prefix = 0, field + ':'
    for p in pids:
        try:
            with open('/proc/%d/smaps_rollup' % p) as f:
                for line in f:
                    if line.startswith(prefix):
                        total += int(line.split()[1])
        except OSError:
            pass        # exited meanwhile
    return total


def drop_caches():
    try:
        subprocess.run(['sync'], check=True)
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
        return True
    except OSError:
        return False


def clear_dir(d):
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))


def copy_mail(src, dst, uid, gid):
    """Every file of src into dst, as delivered (mode, mtime) and owned by uid:gid."""
    for name in os.listdir(src):
        path = os.path.join(dst, name)
        shutil.copy2(os.path.join(src, name), path)
        os.chown(path, uid, gid)


def describe_fs(path):
    """'ext4 on /dev/vda (rw,relatime), no journal' for the file system holding path."""
    p = subprocess.run(['findmnt', '-n', '-o', 'FSTYPE,SOURCE,OPTIONS', '--target', path],
                       capture_output=True, text=True)
    fields = p.stdout.split()
    if len(fields) < 3:
        return 'unknown file system'
    fstype, source, options = fields[:3]
    text = '%s on %s (%s)' % (fstype, source, options)
    if fstype == 'ext4':
        dev = os.path.basename(source)
        journal = os.path.isdir('/proc/fs/jbd2/%s-8' % dev)
        text += ', journal' if journal else ', no journal'
        try:
            with open('/proc/fs/ext4/%s/options' % dev) as f:
                text += ''.join(', ' + o for o in f.read().split() if o.startswith('data='))
        except OSError:
            pass
    return text


class Samples:
    """Figures per key, one sample per round."""

    def __init__(self):
        self.values = {}

    def add(self, key, value):
        self.values.setdefault(key, []).append(value)

    def median(self, key):
        v = self.values.get(key)
        return statistics.median(v) if v else None

    def cell(self, key, fmt):
        """'median (min-max)', or the one value, or '-' when never measured."""
        v = self.values.get(key)
        if not v:
            return '-'
        if len(v) == 1:
            return fmt % v[0]
        return '%s (%s-%s)' % (fmt % statistics.median(v), fmt % min(v), fmt % max(v))

    def ratio(self, a, b):
        """Ratio of the medians of keys a and b."""
        x, y = self.median(a), self.median(b)
        return '%.2fx' % (x / y) if x is not None and y else '-'


def print_table(head, rows):
    """Rows of cells under head, each column as wide as its widest cell."""
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        print('  '.join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())
