#!/bin/sh
# A throw-away Postfix for `make bench`: own config directory, loopback port,
# virtual(8) Maildir delivery for alice@example.test.  Never touches the
# system instance (/etc/postfix) and never listens off loopback.
#   tests/bench/postfix.sh start DIR PORT   |   tests/bench/postfix.sh stop DIR
set -eu
cmd=$1 dir=$2
case "$cmd" in
start)
	port=$3
	rm -rf "$dir"; mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/mail"
	uid=$(id -u postfix) gid=$(id -g postfix)
	cat > "$dir/etc/main.cf" <<CF
compatibility_level = 3.6
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
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = 1
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_connection_count_limit = 1000
default_process_limit = 200
message_size_limit = 52428800
virtual_mailbox_limit = 0
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
CF
	echo "alice@example.test example.test/alice/Maildir/" > "$dir/etc/vmailbox"
	# The packaged master.cf, with our port and no chroot (nothing copied into it).
	sed -e "s/^smtp\([[:space:]]\+inet\)/127.0.0.1:$port\1/" \
	    -e 's/^\([^#[:space:]][^[:space:]]*[[:space:]]\+[^[:space:]]\+[[:space:]]\+[^[:space:]]\+[[:space:]]\+[^[:space:]]\+[[:space:]]\+\)[yn-]\([[:space:]]\)/\1n\2/' \
	    /etc/postfix/master.cf > "$dir/etc/master.cf"
	grep -q '^postlog' "$dir/etc/master.cf" || \
	    printf 'postlog   unix-dgram n  -       n       -       1       postlogd\n' >> "$dir/etc/master.cf"
	mkdir -p "$dir/mail/example.test/alice/Maildir/new" "$dir/mail/example.test/alice/Maildir/cur" \
	    "$dir/mail/example.test/alice/Maildir/tmp"
	chown -R postfix:postfix "$dir/mail"
	postfix -c "$dir/etc" set-permissions >/dev/null 2>&1 || true
	postfix -c "$dir/etc" start
	;;
stop)
	postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
	;;
esac
