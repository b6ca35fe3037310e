#!/usr/bin/python3
"""Run a program under a systemd service unit's sandbox, without systemd.

    unshare -m --propagation private /usr/bin/python3 unit_sandbox.py \\
        UNIT.service RWDIR[:RWDIR...] -- PROGRAM ARGS...

For machines where systemd is not PID 1 (no systemctl, no systemd-run): it
reads the unit's own lines and applies those it can, as systemd would:

- ProtectSystem=strict: every mount read-only but /proc, /sys, /dev;
  ReadWritePaths= becomes RWDIR (the test's data directory stands in for
  /var/lib/postroom, /var/spool/postroom, /var/mail/postroom);
- PrivateTmp=: fresh /tmp and /var/tmp (RWDIR, and the program's directory
  read-only, are bound back if under them);
- ProtectHome=yes: empty read-only /home, /root, /run/user;
- SystemCallFilter= (groups expanded by `systemd-analyze syscall-filter`),
  SystemCallErrorNumber=, MemoryDenyWriteExecute=, RestrictAddressFamilies=,
  LockPersonality=: one seccomp filter (python3-seccomp);
- CapabilityBoundingSet=, NoNewPrivileges=: setpriv.

Not applied (systemd alone does them): PrivateDevices, ProtectKernel*,
ProtectControlGroups, ProtectClock, ProtectHostname, ProtectProc,
RestrictNamespaces, RestrictRealtime, RestrictSUIDSGID, UMask, LimitNOFILE.
Must run as root in its own mount namespace (the unshare above).
"""

import errno
import os
import subprocess
import sys

PROT_WRITE, PROT_EXEC = 0x2, 0x4
FAMILIES = {'AF_UNIX': 1, 'AF_INET': 2, 'AF_INET6': 10, 'AF_NETLINK': 16, 'AF_PACKET': 17}


def unit_keys(path):
    """key -> [values] of a unit file (sections merged; ours repeat no key across them)."""
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and line[0] not in '#;[' and '=' in line:
                k, v = line.split('=', 1)
                keys.setdefault(k, []).append(v)
    return keys


def syscall_groups():
    """@group -> its members (calls and @groups), from systemd itself."""
    out = subprocess.run(['systemd-analyze', 'syscall-filter', '--no-pager'],
                         capture_output=True, text=True, check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith('@'):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.startswith('    ') and not line.strip().startswith('#'):
            cur.append(line.split()[0])
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith('@'):
            if n not in seen:
                seen.add(n)
                out |= expand(groups[n], groups, seen)
        else:
            out.add(n)
    return out


def mount(*args):
    subprocess.run(['mount'] + list(args), check=True)


def mountpoints():
    with open('/proc/self/mountinfo') as f:
        return [line.split()[4].replace('\\040', ' ') for line in f]


def under(path, top):
    return path == top or path.startswith(top.rstrip('/') + '/')


def file_system(keys, rw, program):
    # The program's directory stays visible (read-only below) when a private
    # /tmp would hide it: installed, it lives in /usr/sbin, but a build or a
    # CI checkout may be under /tmp.
    rw_keep = rw + [os.path.dirname(program)]
    held = [os.open(d, os.O_PATH | os.O_DIRECTORY) for d in rw_keep]
    private = []
    if keys.get('PrivateTmp') == ['yes']:
        for t in ('/tmp', '/var/tmp'):
            mount('-t', 'tmpfs', '-o', 'mode=1777', 'tmpfs', t)
            private.append(t)
    if keys.get('ProtectHome') == ['yes']:
        for h in ('/home', '/root', '/run/user'):
            if os.path.isdir(h):
                mount('-t', 'tmpfs', '-o', 'ro,mode=755', 'tmpfs', h)
                private.append(h)
    for d, fd in zip(rw_keep, held):
        os.makedirs(d, exist_ok=True)
        # -c: the link itself, not its name resolved again under the new /tmp.
        mount('-c', '--bind', '/proc/%d/fd/%d' % (os.getpid(), fd), d)
        os.close(fd)
    if keys.get('ProtectSystem') == ['strict']:
        api = ('/proc', '/sys', '/dev')
        for mp in mountpoints():
            if any(under(mp, t) for t in api) or mp in rw or mp in private:
                continue
            mount('-o', 'remount,bind,ro', mp)


def syscall_filter(keys):
    import seccomp      # here: test_systemd imports unit_keys without python3-seccomp
    groups = syscall_groups()
    errno_name = (keys.get('SystemCallErrorNumber') or ['EPERM'])[0]
    deny = seccomp.ERRNO(getattr(errno, errno_name))
    allowed = set()
    for line in keys.get('SystemCallFilter', []):
        allowed |= expand(line.split(), groups)
    f = seccomp.SyscallFilter(defaction=deny if allowed else seccomp.ALLOW)
    guarded = set()
    if keys.get('MemoryDenyWriteExecute') == ['yes']:
        guarded |= {'mmap', 'mprotect', 'pkey_mprotect'}
        wx = PROT_WRITE | PROT_EXEC
        for ok in (0, PROT_WRITE, PROT_EXEC):
            f.add_rule(seccomp.ALLOW, 'mmap', seccomp.Arg(2, seccomp.MASKED_EQ, wx, ok))
        for call in ('mprotect', 'pkey_mprotect'):
            f.add_rule(seccomp.ALLOW, call, seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
    if 'RestrictAddressFamilies' in keys:
        guarded.add('socket')
        for fam in keys['RestrictAddressFamilies'][0].split():
            f.add_rule(seccomp.ALLOW, 'socket', seccomp.Arg(0, seccomp.EQ, FAMILIES[fam]))
    if keys.get('LockPersonality') == ['yes']:
        guarded.add('personality')
        for p in (0, 0xffffffff):       # PER_LINUX, and the query
            f.add_rule(seccomp.ALLOW, 'personality', seccomp.Arg(0, seccomp.EQ, p))
    for call in sorted(allowed - guarded):
        try:
            f.add_rule(seccomp.ALLOW, call)
        except (RuntimeError, ValueError, OSError):
            pass            # a call this kernel or libseccomp does not know
    f.load()


def main():
    unit, rw = sys.argv[1], [d for d in sys.argv[2].split(':') if d]
    argv = sys.argv[sys.argv.index('--') + 1:]
    argv[0] = os.path.realpath(argv[0])     # a link under /tmp would vanish with it
    keys = unit_keys(unit)
    file_system(keys, rw, argv[0])
    caps = ['-all'] + ['+' + c[4:].lower()
                       for c in (keys.get('CapabilityBoundingSet') or [''])[0].split()]
    setpriv = ['setpriv', '--bounding-set=' + ','.join(caps), '--inh-caps=-all']
    if keys.get('NoNewPrivileges') == ['yes']:
        setpriv.append('--no-new-privs')
    syscall_filter(keys)
    os.execvp('setpriv', setpriv + ['--'] + argv)


if __name__ == '__main__':
    main()
