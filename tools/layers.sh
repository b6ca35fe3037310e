#!/bin/sh
# The layers and who may include whom (docs/ARCHITECTURE.md, "Layers"):
# a directory includes its own headers and those of the layers below it,
# and <db.h> is store/'s alone.  Prints each violation and fails the build.
set -u
cd "$(dirname "$0")/.." || exit 1

below() {
	case "$1" in
	lib)	echo "lib" ;;
	mail)	echo "mail lib" ;;
	store)	echo "store mail lib" ;;
	queue)	echo "queue mail lib" ;;
	*)	echo "$1 queue store mail lib" ;;
	esac
}

violations=$(
	for dir in lib mail store queue smtpd pop3d imapd relayd deliver mailctl; do
		ok=" $(below "$dir") "
		for f in "$dir"/*.[ch]; do
			[ -e "$f" ] || continue
			grep -n '^#include "' "$f" | while IFS= read -r line; do
				inc=${line#*\"}
				case "$ok" in *" ${inc%%/*} "*) ;; *)
					echo "$f:${line%%:*}: $dir/ may not include ${inc%\"*}" ;;
				esac
			done
			[ "$dir" = store ] || grep -n '^#include <db.h>' "$f" |
			    sed "s|^\([0-9]*\):.*|$f:\1: <db.h> belongs to store/|"
		done
	done
)
[ -z "$violations" ] && exit 0
echo "$violations" | sed 's/^/layers: /'
exit 1
