/* smtpd: wiring only.  The protocol lives in smtp_session.c and friends. */
#include "lib/daemon.h"
#include "mail/address.h"
#include "smtpd/smtp_daemon.h"
#include "smtpd/smtp_session.h"

#include <stddef.h>

int
main(int argc, char *argv[])
{
	static const struct daemon_listener listeners[] = {
		{ "smtpd.mx_listen",		"mx",		false, "smtpd.mx_max_connections" },
		{ "smtpd.submission_listen",	"submission",	false },
		{ "smtpd.submissions_listen",	"submissions",	true },
		{ NULL, NULL, false },
	};
	static const struct daemon_spec spec = {
		.name		= "smtpd",
		.listeners	= listeners,
		.ops		= &smtp_session_ops,
		.stress_timeout_key = "smtpd.stress_timeout",
		.directory_syntax = &address_user_syntax,
		.init		= smtpd_init,
		.reload		= smtpd_reload,
		.fini		= smtpd_fini,
	};

	return daemon_run(&spec, argc, argv);
}
