#!/usr/bin/env python3
"""Run the end-to-end tests (tests/e2e/test_*.py, unittest) against a build.

    python3 tests/e2e/run.py --build build [-k PATTERN]... [--durations N]

--durations N lists the N slowest tests and classes (class set-up included)
before the summary.  The last line is always "e2e: N passed, N failed, N
skipped" (tools/check.sh reads it); the exit status is 1 if any test failed
or errored.
"""

import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class TimedResult(unittest.TextTestResult):
    """Wall time per test, and per class from the end of the test before
    its first one to its last test's end (so its setUpClass counts)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.times = {}
        self.classes = {}
        self._started = None
        self._last_stop = time.monotonic()

    def startTest(self, test):
        self._started = time.monotonic()
        cls = type(test).__module__ + '.' + type(test).__qualname__
        if cls not in self.classes:     # its setUpClass ran since the last test ended
            self.classes[cls] = (self._last_stop, None)
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        now = self._last_stop = time.monotonic()
        self.times[test.id()] = now - self._started
        cls = type(test).__module__ + '.' + type(test).__qualname__
        self.classes[cls] = (self.classes[cls][0], now)

    def report(self, stream, n):
        rows = sorted(self.times.items(), key=lambda kv: -kv[1])[:n]
        stream.write('\nslowest tests:\n')
        for name, secs in rows:
            stream.write('%8.2f s  %s\n' % (secs, name))
        spans = {c: end - start for c, (start, end) in self.classes.items()}
        stream.write('slowest classes (set-up included):\n')
        for name, secs in sorted(spans.items(), key=lambda kv: -kv[1])[:n]:
            stream.write('%8.2f s  %s\n' % (secs, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--build', default='build', help='build directory (default: build)')
    ap.add_argument('-k', action='append', dest='patterns', metavar='PATTERN',
                    help='only tests whose name matches (substring or fnmatch glob)')
    ap.add_argument('--durations', type=int, default=0, metavar='N',
                    help='list the N slowest tests and classes')
    args = ap.parse_args()

    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    os.environ['POSTROOM_BUILD'] = build
    sys.path.insert(0, HERE)

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if '*' in p else '*%s*' % p for p in args.patterns]
    suite = loader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=TimedResult)
    result = runner.run(suite)
    if args.durations > 0:
        result.report(sys.stdout, args.durations)

    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    sys.stdout.flush()
    print('e2e: %d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
