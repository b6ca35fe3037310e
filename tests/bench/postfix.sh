#!/bin/sh
# A throw-away Postfix for `make bench`: virtual(8) Maildir delivery for
# alice@example.test on a loopback port, built only from the templates below.
# Nothing is read from the system instance: not /etc/postfix (main.cf,
# master.cf, dynamicmaps.cf, postfix-files, postfix-script), which is why
# master(8) is started directly and the queue directories made here
# (`postfix start` runs /etc/postfix/postfix-script and its integrity checks).
# With TRANSPORT (a transport(5) table: `domain smtp:[127.0.0.2]:PORT` lines),
# mail for those domains is relayed by smtp(8) to the addresses given, no DNS
# asked (the relay benchmark; the system resolver is never involved).  Its
# smtpd does not wait for the queue manager's flow-control tokens
# (in_flow_delay): the benchmark queues mail while qmgr is stopped.
# `qmgr DIR off` takes the queue manager out of master.cf (mail stays queued in
# incoming/), `qmgr DIR on` puts it back; master(8) rereads master.cf on SIGHUP.
#   tests/bench/postfix.sh start DIR PORT [TRANSPORT]   |   tests/bench/postfix.sh stop DIR
#   tests/bench/postfix.sh qmgr DIR on|off
set -eu
cmd=$1 dir=$2

# The packaged master.cf's services (Postfix 3.7), chroot off: nothing copied into one.
master_cf() {
	cat <<CF
127.0.0.1:$1 inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
}

main_cf() {
	cat <<CF
compatibility_level = 3.6
config_directory = $dir/etc
meta_directory = $dir/etc
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.example.test
mydomain = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = example.test
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = texthash:$dir/etc/vmailbox
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
virtual_minimum_uid = 1
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_connection_count_limit = 1000
default_process_limit = 200
message_size_limit = 52428800
virtual_mailbox_limit = 0
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
CF
	[ -z "${transport:-}" ] || printf '%s\n' "transport_maps = texthash:$dir/etc/transport" \
		"in_flow_delay = 0s"
}

# What post-install would create from postfix-files: owners and modes as packaged.
queue_dirs() {
	q=$dir/queue
	mkdir -p "$q/pid"
	for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
		mkdir -p "$q/$d" && chown postfix "$q/$d" && chmod 700 "$q/$d"
	done
	mkdir -p "$q/maildrop" "$q/public"
	chown postfix:postdrop "$q/maildrop" "$q/public"
	chmod 730 "$q/maildrop"
	chmod 710 "$q/public"
	chown postfix "$dir/data"
	chmod 700 "$dir/data"
}

case "$cmd" in
start)
	rm -rf "$dir"; mkdir -p "$dir/etc" "$dir/data" "$dir/mail"
	transport=${4:-}
	[ -z "$transport" ] || cp "$transport" "$dir/etc/transport"
	main_cf > "$dir/etc/main.cf"
	master_cf "$3" > "$dir/etc/master.cf"
	: > "$dir/etc/dynamicmaps.cf"
	echo "alice@example.test example.test/alice/Maildir/" > "$dir/etc/vmailbox"
	queue_dirs
	m=$dir/mail/example.test/alice/Maildir
	mkdir -p "$m/new" "$m/cur" "$m/tmp"
	chown -R postfix:postfix "$dir/mail"
	"$(postconf -c "$dir/etc" -h daemon_directory)/master" -c "$dir/etc" -w
	;;
qmgr)
	if [ "$3" = on ]; then
		sed -i 's/^#qmgr /qmgr /' "$dir/etc/master.cf"
	else
		sed -i 's/^qmgr /#qmgr /' "$dir/etc/master.cf"
	fi
	kill -HUP "$(tr -d " \n" < "$dir/queue/pid/master.pid")"
	;;
stop)
	pid=$(tr -d " \n" < "$dir/queue/pid/master.pid" 2>/dev/null) || exit 0
	kill "$pid" 2>/dev/null || exit 0
	# master(8) takes its children down on SIGTERM: wait for it to go.
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	;;
esac
