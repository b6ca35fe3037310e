#!/usr/bin/env python3
"""Run the end-to-end tests (tests/e2e/test_*.py, unittest) against a build.

    python3 tests/e2e/run.py --build build [-k PATTERN]...

The last line is always "e2e: N passed, N failed, N skipped" (tools/check.sh
reads it); the exit status is 1 if any test failed or errored.
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--build', default='build', help='build directory (default: build)')
    ap.add_argument('-k', action='append', dest='patterns', metavar='PATTERN',
                    help='only tests whose name matches (substring or fnmatch glob)')
    args = ap.parse_args()

    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    os.environ['POSTROOM_BUILD'] = build
    sys.path.insert(0, HERE)

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if '*' in p else '*%s*' % p for p in args.patterns]
    suite = loader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)

    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    sys.stdout.flush()
    print('e2e: %d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
