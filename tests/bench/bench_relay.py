"""Relay figures: mail for other domains through Postroom (smtpd, relayd) and
through Postfix (smtpd, qmgr, smtp(8)) to Postfix's smtp-sink on 127.0.0.x,
one address per destination domain, 1 and 10 domains.

The outbound side alone, the same way for both: smtpload queues the messages
(4 KB, one recipient each, 10 sessions) while the relay is stopped (relayd not
running; Postfix's qmgr out of master.cf), then the relay is started and timed
until the sinks have taken every message (smtp-sink's running counters, -c);
the start-up and the first scan of the queue are in the figure.  Routes: relayd asks
tests/e2e/dnsd.py for MX then A (relayd.dns_servers); Postfix has a
transport(5) table of smtp:[127.0.0.x]:port (no DNS: its resolver is the
system's, which the bench does not touch).  Both run with their shipped
concurrency limits."""

import os
import re
import subprocess
import threading
import time

from benchlib import Samples, print_table, progress, run_tool
from dnsd import Dnsd
from peers import Postfix, PostroomRelay
from smtpsink import free_port

SINK_IPS = ['127.0.0.%d' % i for i in range(2, 12)]
SESSIONS = 10
# Generous, so that a slow relay still gets its figure (relayd took 125 s for
# 2,000 messages to one domain when this was written).
DRAIN_TIMEOUT = 900


def domain(i):
    return 'd%d.relay.test' % i


def zone():
    z = {}
    for i, ip in enumerate(SINK_IPS):
        z[domain(i)] = [('MX', 10, 'mx.' + domain(i))]
        z['mx.' + domain(i)] = [('A', ip)]
    return z


class SmtpSinks:
    """One smtp-sink per address, all on one port, for the whole run.  A thread
    per sink reads its counters and notes when the total reached the target."""

    def __init__(self, ips):
        self.ips = ips
        self.port = free_port(ips)
        self.counts = {}
        self.cond = threading.Condition()
        self.target = None
        self.first = self.reached = None
        self.procs = []

    def __enter__(self):
        try:
            for ip in self.ips:
                p = subprocess.Popen(['smtp-sink', '-c', '-u', 'nobody', '%s:%d' % (ip, self.port),
                                      '1024'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                self.procs.append(p)
                self.counts[ip] = 0
                threading.Thread(target=self._read, args=(ip, p.stdout.fileno()),
                                 daemon=True).start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
            p.wait(10)
            p.stdout.close()

    def _read(self, ip, fd):
        """'sess=N quit=N mesg=N' records ended by CR, one per update."""
        pending = b''
        while True:
            data = os.read(fd, 4096)
            if not data:
                return
            t = time.monotonic()
            pending += data
            *records, pending = pending.split(b'\r')
            counts = [int(m) for m in re.findall(rb'mesg=(\d+)', b' '.join(records))]
            if not counts:
                continue
            with self.cond:
                self.counts[ip] = counts[-1]
                if self.first is None:
                    self.first = t
                if self.target is not None and self.reached is None and \
                        sum(self.counts.values()) >= self.target:
                    self.reached = t
                    self.cond.notify_all()

    def expect(self, more):
        """Start waiting for `more` messages beyond those already taken."""
        with self.cond:
            self.target = sum(self.counts.values()) + more
            self.first = self.reached = None

    def wait(self, timeout):
        """When the sinks took the first message and the last, or None after timeout."""
        with self.cond:
            self.cond.wait_for(lambda: self.reached is not None, timeout)
            return self.first, self.reached

    def listening(self):
        for _ in range(100):
            ss = subprocess.run(['ss', '-ltnH'], capture_output=True, text=True).stdout
            if all('%s:%d ' % (ip, self.port) in ss for ip in self.ips):
                return
            time.sleep(0.05)
        raise RuntimeError('smtp-sink did not listen on %s port %d' % (self.ips, self.port))


def wait_drained(server, timeout=60):
    """Nothing left in the server's queue (a message retried later would be
    counted in the next run)."""
    deadline = time.monotonic() + timeout
    while server.queued():
        if time.monotonic() > deadline:
            raise RuntimeError('%s: %d files left in its queue' % (server.name, server.queued()))
        time.sleep(0.05)


def relay_run(tools, server, sinks, ndomains, count):
    """Queue count messages for ndomains domains with the relay stopped, then
    start it: msg/s until the sinks have them all, ms until the first is
    there, and msg/s queued."""
    rcpts = ','.join('bench@' + domain(i) for i in range(ndomains))
    before = dict(sinks.counts)
    res = run_tool([os.path.join(tools, 'smtpload'), '-p', str(server.port), '-c', str(SESSIONS),
                    '-n', str(count), '-s', '4096', '-r', rcpts, '-t', '300'])
    if sinks.counts != before:
        raise RuntimeError('%s: mail left while its relay was stopped' % server.name)
    sinks.expect(count)
    start = time.monotonic()
    server.relay(True)
    first, end = sinks.wait(DRAIN_TIMEOUT)
    if end is None:
        raise RuntimeError('%s: the sinks took %d of %d messages in %d s' % (
            server.name, count - (sinks.target - sum(sinks.counts.values())), count,
            DRAIN_TIMEOUT))
    got = [sinks.counts[ip] - before[ip] for ip in SINK_IPS]
    want = [len(range(i, count, ndomains)) for i in range(ndomains)]
    if got != want + [0] * (len(SINK_IPS) - ndomains):
        raise RuntimeError('%s: the sinks took %s, not %s' % (server.name, got, want))
    wait_drained(server)
    server.relay(False)
    return count / (end - start), (first - start) * 1e3, res['msgs_per_s']


def bench_relay(args, tools, count=None):
    count = count or (100 if args.quick else 2000)
    cases = [('1 domain', 1), ('10 domains', 10)]
    s = Samples()
    print('\n== Relay to smtp-sink: Postroom smtpd+relayd vs Postfix smtpd+qmgr+smtp(8), '
          '%d rounds' % args.rounds)
    with Dnsd(zone()) as dns, SmtpSinks(SINK_IPS) as sinks:
        transport = {domain(i): 'smtp:[%s]:%d' % (ip, sinks.port) for i, ip in enumerate(SINK_IPS)}
        sinks.listening()
        print('%d x 4 KB messages, one recipient each, queued by %d smtpload sessions with the '
              'relay stopped (relayd; Postfix qmgr), then timed from its start until smtp-sink on '
              '%s-%s port %d has them all' % (
                  count, SESSIONS, SINK_IPS[0], SINK_IPS[-1].split('.')[-1], sinks.port))
        print('routes: relayd asks MX, then A, of tests/e2e/dnsd.py at %s; Postfix has '
              'transport_maps smtp:[127.0.0.x]:%d (no DNS)' % (dns.servers, sinks.port))
        with PostroomRelay(args.build, dns.servers, sinks.port) as pr, \
                Postfix(transport) as pf:
            servers = (pr, pf)
            pf.relay(False)
            for r in range(args.rounds):
                progress('relay round %d/%d' % (r + 1, args.rounds))
                for label, n in cases:
                    k = r % len(servers)
                    for srv in servers[k:] + servers[:k]:
                        drain, first, queued = relay_run(tools, srv, sinks, n, count)
                        s.add((srv.name, label, 'drain'), drain)
                        s.add((srv.name, label, 'first'), first)
                        s.add((srv.name, label, 'queued'), queued)
    rows = []
    for what, name in (('drain', 'msg/s drained'), ('first', 'ms to the first'),
                       ('queued', 'msg/s queued')):
        for label, n in cases:
            pr, pf = ('Postroom', label, what), ('Postfix', label, what)
            rows.append(['%s %s (%d)' % (label, name, count), s.cell(pr, '%.0f'),
                         s.cell(pf, '%.0f'), s.ratio(pr, pf)])
    print_table(['case (messages)', 'Postroom', 'Postfix', 'PR/PF'], rows)
    for label, n in cases:
        pr, pf = s.median(('Postroom', label, 'drain')), s.median(('Postfix', label, 'drain'))
        print('goal (issue 16) %s: Postroom drains >= 2x Postfix: %s' % (
            label, 'met' if pr >= 2 * pf else 'not met'))
