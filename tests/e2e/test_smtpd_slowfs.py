"""A slow file system stalls one message, not every session (issue 18 item 2).

smtpd runs under an LD_PRELOAD shim, compiled here, that makes every file
creation (openat with O_CREAT) in a directory whose path ends in
SLOWFS_MATCH sleep SLOWFS_SECONDS first: bob's Maildir tmp/, so creating
the temp file of a message for bob takes 1.5 s, as an ext4 inode allocation
can on a busy disk.  While one session's DATA for bob waits for that, a
second session on the same process (workers = 1) delivers a whole message
to alice.  Where the temp file is created on the event-loop thread the
second session cannot even get its greeting until the sleep ends.
"""

import os
import subprocess
import tempfile
import threading
import time
import unittest

from harness import have_built, have_tool, needs, start_postroom
from smtpclient_raw import RawSMTP, send_ok

SLOW = 1.5

SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
maybe_sleep(int dirfd, int flags)
{
	const char	*match = getenv("SLOWFS_MATCH"), *secs = getenv("SLOWFS_SECONDS");
	char		 link[64], path[4096];
	ssize_t		 n;
	size_t		 m;
	double		 t;
	struct timespec	 ts;

	if (!(flags & O_CREAT) || match == NULL || secs == NULL || dirfd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return;
	path[n] = '\0';
	m = strlen(match);
	if ((size_t)n < m || strcmp(path + n - m, match) != 0)
		return;
	t = atof(secs);
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

#define OPENAT(name)							\
int name(int dirfd, const char *p, int flags, ...)			\
{									\
	static int (*real)(int, const char *, int, ...);		\
	mode_t	 mode = 0;						\
	va_list	 ap;							\
									\
	if (flags & (O_CREAT | O_TMPFILE)) {				\
		va_start(ap, flags);					\
		mode = va_arg(ap, mode_t);				\
		va_end(ap);						\
	}								\
	if (real == NULL)						\
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, #name); \
	maybe_sleep(dirfd, flags);					\
	return real(dirfd, p, flags, mode);				\
}
OPENAT(openat)
OPENAT(openat64)
'''


def build_shim(testcase):
    d = tempfile.mkdtemp(prefix='slowfs-')
    testcase.addCleanup(subprocess.call, ['rm', '-rf', d])
    src, lib = os.path.join(d, 'slowfs.c'), os.path.join(d, 'slowfs.so')
    with open(src, 'w') as f:
        f.write(SHIM)
    subprocess.check_call(['cc', '-shared', '-fPIC', '-O2', '-o', lib, src, '-ldl'])
    return lib


def set_env(testcase, key, value):
    old = os.environ.get(key)
    os.environ[key] = value
    testcase.addCleanup(lambda: os.environ.__setitem__(key, old) if old is not None
                        else os.environ.pop(key, None))


@needs(have_built('smtpd', 'mailctl') and have_tool('cc'), 'smtpd or cc missing')
class SlowCreate(unittest.TestCase):

    def setUp(self):
        shim = build_shim(self)
        set_env(self, 'LD_PRELOAD', shim)
        set_env(self, 'SLOWFS_MATCH', '/example.test/bob/Maildir/tmp')
        set_env(self, 'SLOWFS_SECONDS', str(SLOW))
        # A sanitized smtpd wants its runtime first; the shim only wraps openat.
        old = os.environ.get('ASAN_OPTIONS')
        set_env(self, 'ASAN_OPTIONS', (old + ':' if old else '') + 'verify_asan_link_order=0')
        self.pr = start_postroom(self, daemons=('smtpd',), config={
            'workers': '1', 'io_threads': '4'})
        # Only smtpd runs under the shim: mailctl and the checks here do not.
        os.environ.pop('LD_PRELOAD')
        self.port = self.pr.port('smtpd.mx_listen')

    def test_slow_create_stalls_one_session(self):
        slow = RawSMTP(self.port, timeout=30)
        self.addCleanup(slow.close)
        slow.cmd(b'EHLO slow.test')
        self.assertTrue(slow.cmd(b'MAIL FROM:<x@remote.test>').raw.startswith(b'250'))
        self.assertTrue(slow.cmd(b'RCPT TO:<bob@example.test>').raw.startswith(b'250'))
        got = {}

        def wait_354():
            start = time.monotonic()
            slow.sock.sendall(b'DATA\r\n')
            got['reply'] = slow.reply().raw
            got['at'] = time.monotonic()
            got['took'] = got['at'] - start

        t = threading.Thread(target=wait_354)
        t.start()
        time.sleep(0.2)                 # bob's temp file is being created now
        start = time.monotonic()
        send_ok(self, self.port, timeout=10)
        fast_done = time.monotonic()
        t.join()
        print('\n  slow DATA: 354 after %.2f s; the other session: whole message in %.3f s'
              % (got['took'], fast_done - start))
        self.assertTrue(got['reply'].startswith(b'354'), got['reply'])
        self.assertGreater(got['took'], SLOW - 0.2)      # the shim did slow it
        self.assertLess(fast_done, got['at'])             # done while bob's waited
        self.assertLess(fast_done - start, SLOW - 0.5)
        slow.sock.sendall(b'Subject: slow\r\n\r\nbody\r\n.\r\n')
        self.assertTrue(slow.reply().raw.startswith(b'250'))
        self.assertEqual(len(self.pr.messages('alice@example.test')), 1)
        self.assertEqual(len(self.pr.messages('bob@example.test')), 1)


if __name__ == '__main__':
    unittest.main()
