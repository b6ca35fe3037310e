"""relayd end to end: mail relayed by smtpd leaves by MX lookup (a test DNS
server, tests/e2e/dnsd.py) to scripted SMTP servers on 127.0.0.x
(tests/e2e/smtpsink.py), is tried again after a 4yz, and comes back to its
sender as one RFC 3464 report after a 5yz, an unknown domain, a null MX or
the end of its lifetime; never to <>."""
import email
import os
import pwd
import re
import smtplib
import tempfile
import time
import unittest

from dnsd import Dnsd
from harness import Postroom, sanitized
from smtpsink import Sinks, free_port, make_pki

SINK_IPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']

ZONE = {
    # where the senders' bounces go
    'sender.test': [('MX', 10, 'mx.sender.test')],
    'mx.sender.test': [('A', '127.0.0.5')],
    # two MX, the better one first
    'relay.test': [('MX', 20, 'mx2.relay.test'), ('MX', 10, 'mx1.relay.test')],
    'mx1.relay.test': [('A', '127.0.0.2')],
    'mx2.relay.test': [('A', '127.0.0.3')],
    # the better MX refuses connections (nothing listens on 127.0.0.9)
    'half.test': [('MX', 10, 'dead.half.test'), ('MX', 20, 'mx2.relay.test')],
    'dead.half.test': [('A', '127.0.0.9')],
    # no MX: the domain's own address
    'plain.test': [('A', '127.0.0.4')],
    'nullmx.test': [('MX', 0, '')],
    'broken.test': 'SERVFAIL',
    # TLS: a certificate for its name, for another name, from another CA; no STARTTLS
    'good.test': [('MX', 10, 'mx.good.test')],
    'mx.good.test': [('A', '127.0.0.2')],
    'wrongname.test': [('MX', 10, 'mx.wrongname.test')],
    'mx.wrongname.test': [('A', '127.0.0.3')],
    'notls.test': [('MX', 10, 'mx.notls.test')],
    'mx.notls.test': [('A', '127.0.0.4')],
    'untrusted.test': [('MX', 10, 'mx.untrusted.test')],
    'mx.untrusted.test': [('A', '127.0.0.6')],
}

SENDER = 'carol@sender.test'


class RelaydCase(unittest.TestCase):
    def setUp(self):
        self.port = free_port(SINK_IPS)
        self.dns = Dnsd(ZONE).__enter__()
        self.addCleanup(self.dns.__exit__)
        self.sinks = None

    def start(self, modes, sink_options=None, files=None, **config):
        """Sinks with modes ({ip: mode}, the bounce sink always accepting) and
        sink_options (Sinks' keywords), files ({name: text}) written into the
        config directory (mode 0600), then smtpd and relayd with fast retries."""
        modes.setdefault('127.0.0.5', 'accept')
        self.sinks = Sinks(self.port, modes, **(sink_options or {})).__enter__()
        self.addCleanup(self.sinks.__exit__)
        conf = {
            'relayd.dns_servers': self.dns.servers,
            'relayd.port': self.port,
            'relayd.min_backoff': '1s',
            'relayd.max_backoff': '2s',
            'relayd.connect_timeout': '1s',
            'relayd.reply_timeout': '3s',
            'relayd.scan_interval': '1s',
            'relayd.tls': 'none',
            'smtpd.relay_networks': '127.0.0.1/32',
        }
        conf.update(config)
        self.pr = Postroom(daemons=(), config=conf).__enter__()
        self.addCleanup(self.pr.__exit__, None, None, None)
        for name, text in (files or {}).items():
            self.write_conf(name, text)
        self.pr.start('smtpd')
        self.pr.start('relayd')

    def write_conf(self, name, text):
        """A file of the config directory, mode 0600, the daemons' own."""
        path = os.path.join(self.pr.conf_dir, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o600)
        if self.pr.as_root:
            pw = pwd.getpwnam(self.pr.user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def send(self, rcpts, sender=SENDER, subject='hello', **kw):
        body = ('From: <%s>\r\nSubject: %s\r\n\r\nbody of %s\r\n.dot line\r\n'
                % (sender or 'nobody@sender.test', subject, subject)).encode()
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen')) as s:
            s.sendmail(sender, rcpts, body, **kw)
        return body

    def wait_queue_empty(self, timeout=15):
        active = os.path.join(self.pr.queue_dir, 'active')
        state = os.path.join(self.pr.queue_dir, 'state')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not os.listdir(active) and not os.listdir(state):
                return
            time.sleep(0.05)
        self.fail('queue not empty: %s %s\n%s' % (os.listdir(active), os.listdir(state),
                                                 self.pr.log('relayd')[-3000:]))

    def bounces(self):
        return [m for m in self.sinks.messages if m[1] == '']


class Relayd(RelaydCase):
    def test_lowest_preference_mx_gets_it(self):
        self.start({'127.0.0.2': 'accept', '127.0.0.3': 'accept'})
        self.send(['bob@relay.test', 'eve@relay.test'])
        (ip, mail_from, rcpts, data), = self.sinks.wait(1)
        self.assertEqual(ip, '127.0.0.2')
        self.assertEqual(mail_from, SENDER)
        self.assertEqual(sorted(rcpts), ['bob@relay.test', 'eve@relay.test'])
        self.assertIn(b'\r\n.dot line\r\n', data)        # unstuffed by the sink
        self.assertIn(b'Received: ', data)
        self.wait_queue_empty()

    def test_next_mx_when_the_first_refuses_and_a_without_mx(self):
        self.start({'127.0.0.3': 'accept', '127.0.0.4': 'accept'})
        self.send(['bob@half.test'])
        self.send(['bob@plain.test'])
        got = sorted((m[0], m[2][0]) for m in self.sinks.wait(2))
        self.assertEqual(got, [('127.0.0.3', 'bob@half.test'), ('127.0.0.4', 'bob@plain.test')])
        self.wait_queue_empty()

    def test_refused_recipient_bounces_once_with_the_remote_reply(self):
        self.start({'127.0.0.2': 'reject'})
        self.send(['bob@relay.test'], rcpt_options=['NOTIFY=FAILURE', 'ORCPT=rfc822;bob@relay.test'],
                  mail_options=['ENVID=QQ+2B1'])
        (ip, mail_from, rcpts, data), = self.sinks.wait(1)
        self.assertEqual((ip, mail_from, rcpts), ('127.0.0.5', '', [SENDER]))
        report = email.message_from_bytes(data)
        self.assertEqual(report.get_content_type(), 'multipart/report')
        self.assertEqual(report['Subject'], 'Undelivered Mail Returned to Sender')
        text = data.decode()
        self.assertIn('Final-Recipient: rfc822; bob@relay.test', text)
        self.assertIn('Original-Envelope-Id: QQ+1', text)
        self.assertIn('Action: failed', text)
        self.assertIn('Status: 5.1.1', text)
        self.assertIn('Remote-MTA: dns; mx1.relay.test', text)
        self.assertIn('Diagnostic-Code: smtp; 550 5.1.1 <bob@relay.test>: no such user here',
                      text)
        self.assertIn('body of hello', text)             # the message returned whole
        self.wait_queue_empty()
        time.sleep(1.5)                                  # a rescan later: still one
        self.assertEqual(len(self.sinks.messages), 1)

    def test_unknown_domain_and_null_mx_bounce(self):
        self.start({})
        self.send(['bob@nowhere.test', 'bob@nullmx.test'])
        (ip, mail_from, rcpts, data), = self.sinks.wait(1)
        text = data.decode()
        self.assertIn('Final-Recipient: rfc822; bob@nowhere.test', text)
        self.assertIn('nowhere.test does not exist', text)
        self.assertIn('Final-Recipient: rfc822; bob@nullmx.test', text)
        self.assertIn('accepts no mail (null MX)', text)
        self.assertIn('Status: 5.1.2', text)
        self.wait_queue_empty()

    def test_deferred_then_delivered_after_the_back_off(self):
        self.start({'127.0.0.2': 'defer:1'})
        t0 = time.monotonic()
        self.send(['bob@relay.test'])
        (ip, _, rcpts, _), = self.sinks.wait(1)
        self.assertGreaterEqual(time.monotonic() - t0, 0.8)  # 1 s, less 20 % jitter
        self.assertEqual((ip, rcpts), ('127.0.0.2', ['bob@relay.test']))
        self.assertIn('status=deferred', self.pr.log('relayd'))
        self.wait_queue_empty()
        self.assertEqual(self.bounces(), [])

    def test_servfail_is_tried_again(self):
        self.dns.zone['later.test'] = 'SERVFAIL'
        self.start({'127.0.0.2': 'accept'})
        self.send(['bob@later.test'])
        self.pr.wait_for(lambda: 'status=deferred' in self.pr.log('relayd'))
        self.dns.zone['later.test'] = [('MX', 5, 'mx1.relay.test')]
        (ip, _, rcpts, _), = self.sinks.wait(1)
        self.assertEqual(rcpts, ['bob@later.test'])
        self.wait_queue_empty()

    def test_expired_message_bounces(self):
        self.start({'127.0.0.2': 'defer'}, **{'relayd.max_lifetime': '2s'})
        self.send(['bob@relay.test'])
        (ip, mail_from, rcpts, data), = self.sinks.wait(1, timeout=20)
        text = data.decode()
        self.assertEqual((ip, mail_from), ('127.0.0.5', ''))
        self.assertIn('Status: 4.4.7', text)
        self.assertIn('Action: failed', text)
        self.assertIn('451 4.7.1 try again later', text)
        self.wait_queue_empty()

    def test_delay_warning_once(self):
        self.start({'127.0.0.2': 'defer:3'}, **{'relayd.delay_warning': '1s'})
        self.send(['bob@relay.test'])
        msgs = self.sinks.wait(2, timeout=20)
        warnings = [m for m in msgs if m[1] == '']
        self.assertEqual(len(warnings), 1)
        text = warnings[0][3].decode()
        self.assertIn('Subject: Delayed Mail (still being retried)', text)
        self.assertIn('Action: delayed', text)
        self.assertIn('Will-Retry-Until: ', text)
        delivered = [m for m in msgs if m[1] == SENDER]
        self.assertEqual(delivered[0][2], ['bob@relay.test'])
        self.wait_queue_empty()

    def test_bounce_to_a_local_sender_lands_in_her_mailbox(self):
        self.start({'127.0.0.2': 'reject'})
        body = b'From: <alice@example.test>\r\nSubject: to bob\r\n\r\nhi\r\n'
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.submission_listen')) as s:
            s.login('alice@example.test', 'alice-pw')
            s.sendmail('alice@example.test', ['bob@relay.test'], body)
        got = self.pr.wait_for(lambda: self.pr.messages('alice@example.test'), timeout=15)
        self.assertEqual(len(got), 1)
        text = got[0].decode() if isinstance(got[0], bytes) else got[0]
        self.assertIn('Return-Path: <>', text)
        self.assertIn('Subject: Undelivered Mail Returned to Sender', text)
        self.assertIn('550 5.1.1 <bob@relay.test>: no such user here', text)
        self.wait_queue_empty()
        self.assertEqual(self.sinks.messages, [])

    def test_no_bounce_to_the_null_sender(self):
        self.start({'127.0.0.2': 'reject'})
        self.send(['bob@relay.test'], sender='')
        self.pr.wait_for(lambda: 'status=failed' in self.pr.log('relayd'))
        self.wait_queue_empty()
        time.sleep(1.5)
        self.assertEqual(self.sinks.messages, [])

    def test_deferred_mail_survives_a_restart(self):
        self.start({'127.0.0.2': 'defer'}, **{'relayd.min_backoff': '2s'})
        self.send(['bob@relay.test'])
        self.pr.wait_for(lambda: 'status=deferred' in self.pr.log('relayd'))
        self.pr.kill('relayd')
        self.sinks.modes['127.0.0.2'] = 'accept'
        self.pr.start('relayd')
        (ip, _, rcpts, _), = self.sinks.wait(1)
        self.assertEqual(rcpts, ['bob@relay.test'])
        self.wait_queue_empty()


class Crash(RelaydCase):
    def test_kill_9_mid_delivery_loses_nothing(self):
        """Killed while the remote side holds the final reply: the message is
        sent again at the next start (the one duplicate RFC 5321 4.1.1.4
        allows), nothing is lost, nothing bounces."""
        self.start({'127.0.0.2': 'slowdot'})
        self.send(['bob@relay.test', 'eve@relay.test'])
        self.sinks.wait(1)
        self.pr.kill('relayd')
        self.sinks.modes['127.0.0.2'] = 'accept'
        self.pr.start('relayd')
        msgs = self.sinks.wait(2)
        self.assertEqual(len(msgs), 2)
        for m in msgs:
            self.assertEqual(sorted(m[2]), ['bob@relay.test', 'eve@relay.test'])
        self.wait_queue_empty()
        self.assertEqual(self.bounces(), [])


class Load(RelaydCase):
    def test_thousand_messages_to_twenty_domains(self):
        """1,000 messages to 20 domains (each its own MX address, some
        deferring once, some refusing): every one delivered or bounced once,
        and the connection limits never exceeded.  200 under the sanitizers
        (the same paths, a fifth of the CI time).  relayd starts with all of
        them queued: one that keeps up with the intake never needs a second
        connection to a destination (on a disk with slow fsyncs it did not),
        and the limits must be reached to be tested."""
        total = 200 if sanitized() else 1000
        ips = ['127.0.1.%d' % d for d in range(1, 21)]
        modes = {ip: ('defer:1' if d % 5 == 1 else 'reject' if d % 5 == 2 else 'accept')
                 for d, ip in enumerate(ips)}
        for d, ip in enumerate(ips):
            self.dns.zone['d%d.test' % d] = [('MX', 10, 'mx.d%d.test' % d)]
            self.dns.zone['mx.d%d.test' % d] = [('A', ip)]
        self.port = free_port(ips + ['127.0.0.5'])
        self.start(modes, **{'relayd.max_connections': 10, 'relayd.max_per_destination': 2})
        self.pr.stop('relayd')
        sent = {}
        with smtplib.SMTP('127.0.0.1', self.pr.port('smtpd.mx_listen')) as s:
            for i in range(total):
                d = i % 20
                s.sendmail(SENDER, ['u%d@d%d.test' % (i, d)],
                           b'Subject: m%d\r\n\r\nbody %d\r\n' % (i, i))
                sent[i] = d
        refused = sum(1 for d in sent.values() if d % 5 == 2)
        self.pr.start('relayd')
        self.sinks.wait(total, timeout=120)
        self.wait_queue_empty(timeout=60)
        delivered = [m for m in self.sinks.messages if m[1] == SENDER]
        bounces = self.bounces()
        self.assertEqual(len(delivered), total - refused)
        self.assertEqual(len(bounces), refused)
        self.assertEqual(len(set(m[2][0] for m in delivered)), total - refused)
        self.assertLessEqual(max(self.sinks.max_open.get(ip, 0) for ip in ips), 2)
        self.assertLessEqual(self.sinks.max_total, 10 + 1)  # + the bounce sink's
        self.assertGreaterEqual(max(self.sinks.max_open.values()), 2)  # limits reached


class Queue(RelaydCase):
    """mailctl queue against the running relayd, through its control socket."""

    def queued_id(self):
        out = self.pr.wait_for(lambda: re.search(r'^(\w+) age=', self.pr.mailctl('queue', 'list')
                                                 .stdout, re.M))
        return out.group(1)

    def test_list_show_retry(self):
        self.start({'127.0.0.2': 'defer:1'}, **{'relayd.min_backoff': '1h',
                                                 'relayd.max_backoff': '2h'})
        self.send(['bob@relay.test'], mail_options=['ENVID=E1'])
        self.pr.wait_for(lambda: 'status=deferred' in self.pr.log('relayd'))
        qid = self.queued_id()
        listing = self.pr.mailctl('queue', 'list').stdout
        self.assertRegex(listing, r'%s age=\d+s from=<%s> rcpts=1\n' % (qid, SENDER))
        self.assertRegex(listing, r'  <bob@relay.test> deferred attempts=1 next=\+\d+s '
                                  r'last=451 4.7.1 try again later')
        show = self.pr.mailctl('queue', 'show', qid).stdout
        self.assertIn('envid=E1', show)
        self.assertIn('Subject: hello', show)
        self.assertNotIn('body of hello', show)          # the header only
        self.assertEqual(self.sinks.messages, [])        # an hour's back-off...
        self.pr.mailctl('queue', 'retry', qid)           # ...cut short
        self.assertEqual(self.sinks.wait(1)[0][2], ['bob@relay.test'])
        self.wait_queue_empty()
        self.assertEqual(self.pr.mailctl('queue', 'list').stdout, '')

    def test_hold_release_delete_flush(self):
        self.start({'127.0.0.2': 'defer:1'}, **{'relayd.min_backoff': '1h',
                                                 'relayd.max_backoff': '2h'})
        self.send(['bob@relay.test'], subject='one')
        self.pr.wait_for(lambda: 'status=deferred' in self.pr.log('relayd'))
        qid = self.queued_id()
        self.pr.mailctl('queue', 'hold', qid)
        self.assertIn(' held', self.pr.mailctl('queue', 'list').stdout)
        self.pr.mailctl('queue', 'flush')
        time.sleep(1)
        self.assertEqual(self.sinks.messages, [])        # held: flush passes it by
        self.pr.mailctl('queue', 'release', qid)
        self.pr.mailctl('queue', 'flush')
        self.assertEqual(len(self.sinks.wait(1)), 1)
        self.wait_queue_empty()
        # delete: gone, and no bounce
        self.sinks.modes['127.0.0.2'] = 'defer'
        self.send(['bob@relay.test'], subject='two')
        self.pr.wait_for(lambda: self.pr.log('relayd').count('status=deferred') >= 2)
        qid = self.queued_id()
        self.pr.mailctl('queue', 'delete', qid)
        self.wait_queue_empty()
        time.sleep(1)
        self.assertEqual(len(self.sinks.messages), 1)

    def test_bad_ids_and_no_relayd(self):
        self.start({})
        for verb in ('show', 'retry', 'hold', 'release', 'delete'):
            r = self.pr.mailctl('queue', verb, '0123456789abcdef', check=False)
            self.assertEqual(r.returncode, 1, verb)
            self.assertIn('no such message in the queue', r.stderr)
        r = self.pr.mailctl('queue', 'show', check=False)
        self.assertEqual(r.returncode, 2)
        r = self.pr.mailctl('queue', 'bogus', check=False)
        self.assertEqual(r.returncode, 2)
        self.pr.stop('relayd')
        r = self.pr.mailctl('queue', 'list', check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('relayd is not running', r.stderr)


class Smarthost(RelaydCase):
    """relayd.smarthost: all mail to one relay, STARTTLS, then AUTH PLAIN or
    LOGIN; a refused password defers (as Postfix's smtp_sasl_auth_soft_bounce);
    no password over plaintext."""

    AUTH = {'relay-user': 's3cret pass'}

    def setUp(self):
        super().setUp()
        self.pki = tempfile.mkdtemp(prefix='postroom-pki-')
        self.addCleanup(lambda: __import__('shutil').rmtree(self.pki, True))
        make_pki(self.pki, {'smart': 'smart.relay.test'})
        self.cert = (os.path.join(self.pki, 'smart.pem'), os.path.join(self.pki, 'smart.key'))

    def start_smart(self, password='s3cret pass', tls=True, mechs=('PLAIN', 'LOGIN'), **config):
        # encrypt: the test CA is not relayd's (verify, the default, has its own test)
        conf = {'relayd.smarthost': '[127.0.0.3]:%d' % self.port,
                'relayd.smarthost_auth': 'smarthost_auth', 'relayd.smarthost_tls': 'encrypt'}
        conf.update(config)
        conf = {k: v for k, v in conf.items() if v is not None}    # None: the default
        self.start({'127.0.0.3': 'accept'},
                   sink_options={'tls': {'127.0.0.3': self.cert} if tls else {},
                                 'auth': self.AUTH, 'auth_mechs': mechs},
                   files={'smarthost_auth': 'relay-user %s\n' % password}, **conf)

    def auths(self):
        return [e[2:] for e in self.sinks.events if e[0] == 'auth']

    def test_all_mail_to_the_smarthost_with_auth_plain_over_starttls(self):
        self.start_smart()
        # relay.test's MX (127.0.0.2) is not listening, nowhere.test has no DNS: no matter
        self.send(['bob@relay.test', 'ann@nowhere.test'])
        (ip, mail_from, rcpts, data), = self.sinks.wait(1)
        self.assertEqual((ip, mail_from), ('127.0.0.3', SENDER))
        self.assertEqual(sorted(rcpts), ['ann@nowhere.test', 'bob@relay.test'])
        self.assertEqual(self.auths(), [('PLAIN', 'relay-user', True, True)])
        self.wait_queue_empty()
        self.assertNotIn('s3cret', self.pr.log('relayd'))

    def test_auth_login_when_the_only_one_offered(self):
        self.start_smart(mechs=('LOGIN',))
        self.send(['bob@relay.test'])
        self.sinks.wait(1)
        self.assertEqual(self.auths(), [('LOGIN', 'relay-user', True, True)])

    def test_wrong_password_defers_then_the_fixed_file_is_read_on_sighup(self):
        self.start_smart(password='wrong')
        self.send(['bob@relay.test'])
        log = self.pr.wait_for(lambda: 'status=deferred' in self.pr.log('relayd') and
                               self.pr.log('relayd'))
        self.assertRegex(log, r'status=deferred .*reply="454 4.7.0 AUTH failed, '
                              r'the server said: 535 5.7.8 bad credentials"')
        self.assertNotIn('wrong', log)
        self.assertEqual(self.sinks.messages, [])        # no bounce either
        self.write_conf('smarthost_auth', 'relay-user s3cret pass\n')
        self.pr.reload()
        self.assertEqual(self.sinks.wait(1)[0][2], ['bob@relay.test'])
        self.assertEqual(self.auths()[-1], ('PLAIN', 'relay-user', True, True))
        self.wait_queue_empty()

    def test_no_password_over_plaintext(self):
        self.start_smart(tls=False)          # AUTH offered, STARTTLS not
        self.send(['bob@relay.test'])
        self.pr.wait_for(lambda: 'status=deferred' in self.pr.log('relayd'))
        self.assertIn('TLS required, the server does not offer STARTTLS', self.pr.log('relayd'))
        self.assertEqual(self.auths(), [])

    def test_by_default_no_password_to_a_certificate_that_does_not_verify(self):
        self.start_smart(**{'relayd.smarthost_tls': None})     # verify; the test CA unknown
        self.send(['bob@relay.test'])
        self.pr.wait_for(lambda: 'status=deferred' in self.pr.log('relayd'))
        self.assertIn('certificate not verified', self.pr.log('relayd'))
        self.assertEqual(self.auths(), [])
        self.assertEqual(self.sinks.messages, [])

    def test_plaintext_auth_only_when_said_and_mx_lookup_of_a_bare_host(self):
        self.start_smart(tls=False, **{'relayd.smarthost': 'smart.test:%d' % self.port,
                                       'relayd.smarthost_tls': 'none'})
        self.dns.zone['smart.test'] = [('MX', 10, 'mx2.relay.test')]     # 127.0.0.3
        self.send(['bob@plain.test'])
        self.assertEqual(self.sinks.wait(1)[0][0], '127.0.0.3')
        self.assertEqual(self.auths(), [('PLAIN', 'relay-user', True, False)])

    def test_a_readable_credentials_file_stops_the_start(self):
        self.start_smart()
        os.chmod(os.path.join(self.pr.conf_dir, 'smarthost_auth'), 0o644)
        self.pr.stop('relayd')
        try:
            self.pr.start('relayd')     # (its control socket may answer before init)
        except AssertionError:
            pass
        self.pr.wait_for(lambda: not self.pr.running('relayd'))
        self.assertIn('readable by others (mode 644, 0600 wanted)', self.pr.log('relayd'))


class TlsVerify(RelaydCase):
    """relayd.tls = verify (the certificate checked against relayd.tls_ca_file
    and the MX host name), and per-domain levels from relayd.tls_policy."""

    def setUp(self):
        super().setUp()
        pki = tempfile.mkdtemp(prefix='postroom-pki-')
        self.addCleanup(lambda: __import__('shutil').rmtree(pki, True))
        other = os.path.join(pki, 'other')
        os.mkdir(other)
        with open(make_pki(pki, {'good': 'mx.good.test', 'wrong': 'mx.elsewhere.test'})) as f:
            self.ca = f.read()
        make_pki(other, {'untrusted': 'mx.untrusted.test'})
        pair = lambda d, stem: (os.path.join(d, stem + '.pem'), os.path.join(d, stem + '.key'))
        self.tls = {'127.0.0.2': pair(pki, 'good'), '127.0.0.3': pair(pki, 'wrong'),
                    '127.0.0.6': pair(other, 'untrusted')}

    def start_tls(self, policy=None, **config):
        files = {'ca.pem': self.ca}
        if policy is not None:
            files['tls_policy'] = policy
            config['relayd.tls_policy'] = 'tls_policy'
        config.setdefault('relayd.tls', 'verify')
        self.start({ip: 'accept' for ip in ('127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.6')},
                   sink_options={'tls': self.tls}, files=files,
                   **{'relayd.tls_ca_file': 'ca.pem'}, **config)

    def deferred(self, rcpt):
        """The reply of rcpt's first deferral, from the log."""
        m = self.pr.wait_for(lambda: re.search(r'rcpt=<%s> status=deferred .*reply="([^"]*)"'
                                               % re.escape(rcpt), self.pr.log('relayd')))
        return m.group(1)

    def test_verify_delivers_to_the_right_name_and_defers_the_rest(self):
        self.start_tls()
        for rcpt in ('bob@good.test', 'bob@wrongname.test', 'bob@untrusted.test',
                     'bob@notls.test'):
            self.send([rcpt])
        (ip, _, rcpts, _), = self.sinks.wait(1)
        self.assertEqual((ip, rcpts), ('127.0.0.2', ['bob@good.test']))
        self.assertIn(('starttls', '127.0.0.2'), self.sinks.events)
        self.assertIn('certificate not verified: hostname mismatch',
                      self.deferred('bob@wrongname.test'))
        self.assertIn('certificate not verified: unable to get local issuer certificate',
                      self.deferred('bob@untrusted.test'))
        self.assertIn('TLS required, the server does not offer STARTTLS',
                      self.deferred('bob@notls.test'))
        time.sleep(1)
        self.assertEqual(len(self.sinks.messages), 1)     # nothing else, no bounce

    def test_policy_file_per_domain_and_reread_on_sighup(self):
        self.start_tls(policy='# partners\ngood.test verify\nnotls.test encrypt\n',
                       **{'relayd.tls': 'may'})
        self.send(['bob@good.test'])
        self.send(['bob@wrongname.test'])        # not listed: may, so any certificate
        self.send(['bob@notls.test'])
        got = sorted((m[0], m[2][0]) for m in self.sinks.wait(2))
        self.assertEqual(got, [('127.0.0.2', 'bob@good.test'), ('127.0.0.3', 'bob@wrongname.test')])
        self.assertIn(('starttls', '127.0.0.3'), self.sinks.events)
        self.assertIn('TLS required', self.deferred('bob@notls.test'))
        self.write_conf('tls_policy', 'good.test verify\nnotls.test none\n')
        self.pr.reload()
        self.assertEqual(self.sinks.wait(3)[2][:3:2], ('127.0.0.4', ['bob@notls.test']))
        self.wait_queue_empty()
        # a bad file on SIGHUP: logged, the one in use kept
        self.write_conf('tls_policy', 'good.test sometimes\n')
        self.pr.reload()
        self.pr.wait_for(lambda: 'line 1: level not one of' in self.pr.log('relayd'))
        self.assertTrue(self.pr.running('relayd'))


if __name__ == '__main__':
    unittest.main()
