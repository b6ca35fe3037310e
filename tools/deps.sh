#!/bin/sh
# Install the Debian packages Postroom builds and tests with; a no-op when
# all are present.  Reference platform: Debian 12, run as root.
set -eu

PKGS="gcc make pkg-config libc6-dev libssl-dev libdb-dev libc-ares-dev libcmocka-dev
libcrypt-dev python3 openssl swaks libnet-ssleay-perl curl fetchmail dovecot-pop3d dovecot-imapd
dovecot-core postfix libasan8 libubsan1 isync mutt groff-base man-db systemd
python3-seccomp strace e2fsprogs"
# The e2e differential tests run Dovecot and Postfix with their own config on
# loopback (tests/e2e/dovecot.py, test_smtp_postfix_diff.py); under CI a missing
# one fails its test instead of skipping it.  isync (mbsync), mutt, curl and
# fetchmail are the real IMAP clients of tests/e2e/test_imapd_clients.py.
# groff-base and man-db check the man pages (tests/e2e/test_install.py).
# systemd: systemd-analyze and systemd-socket-activate for tests/e2e/test_systemd.py;
# python3-seccomp: tests/e2e/unit_sandbox.py applies a unit's syscall filter without systemd.
# strace and e2fsprogs (mkfs.ext4): tests/e2e/test_commit_journal.py counts a delivery's syncs
# on loop-mounted ext4 with and without a journal (and make bench's syscall counts).
# For make fuzz.
[ "${POSTROOM_DEPS_FUZZ:-0}" = 1 ] && PKGS="$PKGS clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "deps: installing$missing"
# Packages such as fetchmail ship services: never let Debian start them here.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure the system instance: it must not have one.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
[ "$own_policy" = 1 ] && rm -f "$policy"
exit 0
