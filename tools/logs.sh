#!/bin/sh
# The log vocabulary (docs/ARCHITECTURE.md, "Logs"): every log_*() and
# fatal*() format starts "event=" or "session=%s event=".  The exception is
# a problem in a file an admin edits (lib/config.c, lib/directory.c), said
# as "file:line: problem", the form editors jump to.  Every event name
# must also be listed in docs/LOGS.md.  Prints each violation and fails
# the build.
set -u
cd "$(dirname "$0")/.." || exit 1

violations=$(
	for f in lib/*.c mail/*.c store/*.c queue/*.c smtpd/*.c pop3d/*.c imapd/*.c \
	    relayd/*.c deliver/*.c mailctl/*.c; do
		[ -e "$f" ] || continue
		case "$f" in lib/log.c|lib/config.c|lib/directory.c) continue ;; esac
		awk -v f="$f" '
		pending {
			sub(/^[ \t]+/, "")
			check($0, pending)
			pending = 0
			next
		}
		match($0, /(log_(debug|info|warn|warnx)|fatalx?)\(/) {
			rest = substr($0, RSTART + RLENGTH)
			if (rest == "")
				pending = FNR
			else
				check(rest, FNR)
		}
		function check(s, line) {
			if (s !~ /^"(session=%s )?event=([a-z_]+|%s)/)
				printf "%s:%d: log format does not start with event=\n", f, line
		}' "$f"
	done
)
# Every event name in the source has its row in docs/LOGS.md ("| `name`"
# or ", `name`" in the first column), so the documented list stays true.
undocumented=$(
	grep -ohE 'event=[a-z_]+' lib/*.c mail/*.c store/*.c queue/*.c smtpd/*.c pop3d/*.c \
	    imapd/*.c relayd/*.c deliver/*.c mailctl/*.c 2>/dev/null | sort -u |
	while IFS= read -r ev; do
		name=${ev#event=}
		grep -qE "^\| (\`[a-z_]+\`, )*\`$name\`" docs/LOGS.md ||
			echo "docs/LOGS.md: event=$name is used in the source but not listed"
	done
)
violations=$(printf '%s\n%s' "$violations" "$undocumented" | sed '/^$/d')
[ -z "$violations" ] && exit 0
echo "$violations" | sed 's/^/logs: /'
exit 1
