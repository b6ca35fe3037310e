#!/bin/sh
# `make install` and `make uninstall`: the Makefile passes the directories.
#
#   tools/install.sh install|uninstall BUILD
#   environment: DESTDIR sbindir sysconfdir mandir systemdunitdir
#
# install never replaces a file of $sysconfdir/postroom: an edited one is
# kept and the shipped version written next to it as NAME.dist.  The state,
# queue and mail directories are the settings table's defaults (as mailctl
# config prints them).  Without DESTDIR, as root, `mailctl setup` then
# creates the system user and gives it those directories.
# uninstall removes programs, man pages and units: never configuration or mail.
set -eu

action=${1:?usage: tools/install.sh install|uninstall BUILD}
build=${2:?usage: tools/install.sh install|uninstall BUILD}
DESTDIR=${DESTDIR:-}
root=$(cd "$(dirname "$0")/.." && pwd)
progs="smtpd relayd pop3d imapd deliver mailctl"
conf_files="postroom.conf domains passwd groups aliases senders"
confdir=$sysconfdir/postroom

units() { for u in "$root"/etc/systemd/*; do if [ -f "$u" ]; then echo "${u##*/}"; fi; done; }
mans() { for m in "$root"/man/*.[58]; do echo "${m##*/}"; done; }

# The shipped file, unless one is there: then NAME.dist if they differ.
install_conf() {
	src=$root/etc/$1 dst=$DESTDIR$confdir/$1
	if [ ! -e "$dst" ]; then
		install -m 640 "$src" "$dst"
	elif ! cmp -s "$src" "$dst"; then
		install -m 640 "$src" "$dst.dist"
		echo "install: kept $confdir/$1; the shipped one is $confdir/$1.dist"
	fi
}

do_install() {
	install -d "$DESTDIR$sbindir" "$DESTDIR$confdir" "$DESTDIR$mandir/man5" \
	    "$DESTDIR$mandir/man8"
	for p in $progs; do
		install -m 755 "$build/$p" "$DESTDIR$sbindir/$p"
	done
	for f in $conf_files; do
		install_conf "$f"
	done
	for d in $("$build/mailctl" --config "$root/etc" config state_dir queue_dir mail_root |
	    sed -n 's/^[^=]* = //p'); do
		install -d -m 750 "$DESTDIR$d"
	done
	for m in $(mans); do
		install -m 644 "$root/man/$m" "$DESTDIR$mandir/man${m##*.}/$m"
	done
	if [ -n "$(units)" ]; then
		install -d "$DESTDIR$systemdunitdir"
		for u in $(units); do
			sed -e "s|@sbindir@|$sbindir|g" -e "s|@sysconfdir@|$sysconfdir|g" \
			    "$root/etc/systemd/$u" >"$DESTDIR$systemdunitdir/$u"
			chmod 644 "$DESTDIR$systemdunitdir/$u"
		done
	fi
	if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
		"$sbindir/mailctl" --config "$confdir" setup
	fi
}

do_uninstall() {
	for p in $progs; do
		rm -f "$DESTDIR$sbindir/$p"
	done
	for m in $(mans); do
		rm -f "$DESTDIR$mandir/man${m##*.}/$m"
	done
	for u in $(units); do
		rm -f "$DESTDIR$systemdunitdir/$u"
	done
}

case $action in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: tools/install.sh install|uninstall BUILD" >&2; exit 2 ;;
esac
