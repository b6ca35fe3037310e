#!/bin/sh
# `make run`: run every daemon that is built, in the foreground, on loopback
# ports that do not clash with an installed MTA, with a self-contained data
# directory ./run/ (created on first start, kept afterwards).  Ctrl-C stops all.
#
#   tools/run.sh BUILD        (BUILD: the build directory, e.g. build)
set -eu

build=${1:?usage: tools/run.sh BUILD}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
data=${POSTROOM_RUN_DIR:-$root/run}
conf=$data/conf
mailctl=$build/mailctl

# daemon, listener key, port, what it is
listeners="smtpd smtpd.mx_listen 2525 SMTP-MX(no-auth,local-mail)
smtpd smtpd.submission_listen 2587 SMTP-submission(STARTTLS+AUTH)
smtpd smtpd.submissions_listen 2465 SMTP-submissions(implicit-TLS)
pop3d pop3d.listen 2110 POP3(STLS)
pop3d pop3d.tls_listen 2995 POP3S(implicit-TLS)
imapd imapd.listen 2143 IMAP(STARTTLS)
imapd imapd.tls_listen 2993 IMAPS(implicit-TLS)"

die() { echo "run: $*" >&2; exit 1; }
has() { case " $daemons " in *" $1 "*) return 0 ;; esac; return 1; }

[ -x "$mailctl" ] && [ -f "$mailctl" ] || die "$mailctl not built (make all)"
daemons=""
for d in smtpd pop3d imapd relayd; do
	[ -f "$build/$d" ] && [ -x "$build/$d" ] && daemons="$daemons $d"
done
[ -n "$daemons" ] || die "no daemon built in $build"

if [ "$(id -u)" = 0 ]; then
	user=postroom
	if ! id "$user" >/dev/null 2>&1; then
		echo "run: creating system user $user"
		useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
	fi
else
	user=$(id -un)
fi

# The listener keys of a daemon built after the data directory was made.
add_listeners() {
	echo "$listeners" | while read -r d key port what; do
		has "$d" || continue
		grep -q "^$key *=" "$conf/postroom.conf" ||
			echo "$key = 127.0.0.1:$port" >>"$conf/postroom.conf"
	done
	# relayd's control socket (mailctl queue) lives in the data directory too.
	if has relayd && ! grep -q "^relayd.control_listen *=" "$conf/postroom.conf"; then
		echo "relayd.control_listen = $data/relayd.sock" >>"$conf/postroom.conf"
	fi
}

first_start() {
	echo "run: first start, creating $data"
	umask 027
	mkdir -p "$conf" "$data/mail" "$data/queue" "$data/tls" "$data/state"
	cat >"$conf/postroom.conf" <<-EOF
	# Written by tools/run.sh for \`make run\`: loopback only, high ports.
	# Delete $data to start again from scratch.
	mail_root = $data/mail
	queue_dir = $data/queue
	state_dir = $data/state
	tls_cert = $data/tls/cert.pem
	tls_key = $data/tls/key.pem
	user = $user
	hostname = localhost
	log_level = info
	EOF
	add_listeners
	: >"$conf/domains"; : >"$conf/passwd"; : >"$conf/groups"; : >"$conf/aliases"
	openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost \
	    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	    -keyout "$data/tls/key.pem" -out "$data/tls/cert.pem" 2>/dev/null ||
		die "openssl could not make a certificate"
	if [ "$(id -u)" = 0 ]; then
		# Config and key readable by the daemons after they drop to $user
		# (they reload on SIGHUP); mail and queue theirs.
		chown -R "root:$user" "$conf" "$data/tls"
		chmod 750 "$conf" "$data/tls"
		chmod 640 "$data/tls/key.pem"
		chown -R "$user:$user" "$data/mail" "$data/queue"
	fi
	chmod 755 "$data"
	"$mailctl" --config "$conf" adddomain example.test
	password=$(openssl rand -base64 12 | tr -d '/+=')
	printf '%s\n' "$password" | "$mailctl" --config "$conf" adduser demo@example.test \
	    --password-stdin
	(umask 077; printf '%s\n' "$password" >"$data/demo-password")
}

if [ ! -f "$conf/postroom.conf" ]; then
	# A first start that fails half-way leaves nothing behind to trip the next.
	[ -e "$data" ] || trap 'rm -rf "$data"' EXIT
	first_start
	trap - EXIT
else
	add_listeners
	# Data directories made before the shared login-failure table existed.
	if ! grep -q '^state_dir *=' "$conf/postroom.conf"; then
		mkdir -p "$data/state"
		echo "state_dir = $data/state" >>"$conf/postroom.conf"
	fi
fi
password=$(cat "$data/demo-password")

if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null &&
    ! runuser -u "$user" -- test -r "$conf/postroom.conf"; then
	echo "run: warning: user $user cannot reach $conf (is a parent directory" \
	    "of $data not searchable by others?); the daemons will fail to reload" >&2
fi

pids=""
stop() {
	trap - INT TERM
	echo
	echo "run: stopping"
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	exit 0
}
trap stop INT TERM

for d in $daemons; do
	"$build/$d" -c "$conf/postroom.conf" &
	pids="$pids $!"
done
sleep 1

cat <<EOF

Postroom is running from $build (Ctrl-C stops it).  Data: $data
EOF
echo "$listeners" | while read -r d key port what; do
	if has "$d"; then printf '  %-6s 127.0.0.1:%s  %s\n' "$d" "$port" "$what"; fi
done
if has relayd; then
	printf '  %-6s %-15s  %s\n' relayd "(no listener)" "sends mail for other domains by MX, bounces"
fi
cat <<EOF
  user   demo@example.test   password $password   (kept in $data/demo-password)
  add users: $mailctl --config $conf adduser NAME@example.test
  the queue: $mailctl --config $conf queue list

Try:
EOF
if has smtpd; then
	printf '  %s\n' "swaks --server 127.0.0.1:2587 --tls --auth-user demo@example.test --auth-password '$password' --from demo@example.test --to demo@example.test"
fi
if has smtpd && has pop3d; then
	printf '  %s\n' "python3 -c \"import smtplib,poplib,ssl; c=ssl._create_unverified_context(); s=smtplib.SMTP_SSL('127.0.0.1',2465,context=c); s.login('demo@example.test','$password'); s.sendmail('demo@example.test',['demo@example.test'],'Subject: hi\\r\\n\\r\\nhello\\r\\n'); s.quit(); p=poplib.POP3_SSL('127.0.0.1',2995,context=c); p.user('demo@example.test'); p.pass_('$password'); print(p.stat()); p.quit()\""
fi
if has imapd; then
	printf '  %s\n' "python3 -c \"import imaplib,ssl; c=ssl._create_unverified_context(); m=imaplib.IMAP4('127.0.0.1',2143); m.starttls(ssl_context=c); m.login('demo@example.test','$password'); print(m.select('INBOX')); print(m.fetch('1:*','(FLAGS RFC822.SIZE ENVELOPE)')); m.logout()\""
	printf '  %s\n' "python3 -c \"import imaplib,ssl; m=imaplib.IMAP4_SSL('127.0.0.1',2993,ssl_context=ssl._create_unverified_context()); m.login('demo@example.test','$password'); print(m.select('INBOX')); m.logout()\""
fi
echo

# Until Ctrl-C, or until a daemon exits on its own (then stop the others).
while :; do
	for p in $pids; do
		if ! kill -0 "$p" 2>/dev/null; then
			status=0
			wait "$p" || status=$?
			# Only a stop ends a daemon well: Ctrl-C reached it before our trap ran.
			if [ "$status" = 0 ]; then stop; fi
			echo "run: a daemon (pid $p) exited, status $status; stopping the others" >&2
			for q in $pids; do kill -TERM "$q" 2>/dev/null || true; done
			for q in $pids; do wait "$q" 2>/dev/null || true; done
			exit 1
		fi
	done
	sleep 1
done
