"""The README's first command: tools/run.sh (what `make run` runs after
the dependencies) starts every built daemon on its loopback ports with a
fresh data directory, they stay up, what it prints works (a login, the
queue), and Ctrl-C stops them all."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import ROOT, build_dir

PORTS = (2525, 2587, 2465, 2110, 2995, 2143, 2993)


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
            return True
        except OSError:
            return False


class MakeRun(unittest.TestCase):
    def test_everything_starts_stays_up_and_stops(self):
        busy = [p for p in PORTS if not port_free(p)]
        if busy:
            self.skipTest('ports in use here: %s' % busy)
        data = tempfile.mkdtemp(prefix='postroom-run-')
        os.chmod(data, 0o755)
        self.addCleanup(shutil.rmtree, data, True)
        env = dict(os.environ, POSTROOM_RUN_DIR=os.path.join(data, 'run'))
        p = subprocess.Popen(['sh', os.path.join(ROOT, 'tools', 'run.sh'), build_dir()],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.addCleanup(lambda: p.poll() is None and os.killpg(p.pid, signal.SIGKILL))
        out = b''
        deadline = time.monotonic() + 30
        while b'\nTry:' not in out and time.monotonic() < deadline and p.poll() is None:
            out += os.read(p.stdout.fileno(), 65536)
        text = out.decode(errors='replace')
        self.assertIn('Postroom is running', text)
        time.sleep(2)           # a daemon that dies at once would be gone by now
        self.assertIsNone(p.poll(), 'run.sh stopped:\n' + text)
        for port in PORTS:
            with socket.create_connection(('127.0.0.1', port), timeout=5):
                pass
        conf = os.path.join(data, 'run', 'conf')
        q = subprocess.run([os.path.join(build_dir(), 'mailctl'), '--config', conf, 'queue',
                            'list'], capture_output=True, text=True)
        self.assertEqual(q.returncode, 0, q.stderr)
        os.killpg(p.pid, signal.SIGINT)
        rest, _ = p.communicate(timeout=20)
        self.assertIn(b'run: stopping', rest)
        self.assertEqual([port for port in PORTS if not port_free(port)], [])


if __name__ == '__main__':
    unittest.main()
