/* smtpd: wiring only.  The protocol lives in smtp_session.c and friends. */
#include "lib/daemon.h"
#include "mail/address.h"
#include "smtpd/smtp_daemon.h"
#include "smtpd/smtp_session.h"

#include <stddef.h>
#include <stdint.h>

int
main(int argc, char *argv[])
{
	static const struct daemon_listener listeners[] = {
		{ "mx",		SETTINGS_FIELD(const char *, smtpd.mx_listen), false,
		  SETTINGS_FIELD(unsigned, smtpd.mx_max_connections) },
		{ "submission",	SETTINGS_FIELD(const char *, smtpd.submission_listen), false },
		{ "submissions", SETTINGS_FIELD(const char *, smtpd.submissions_listen), true },
		{ NULL, 0, false },
	};
	static const struct daemon_spec spec = {
		.name		= "smtpd",
		.listeners	= listeners,
		.ops		= &smtp_session_ops,
		.stress_timeout	= SETTINGS_FIELD(uint64_t, smtpd.stress_timeout_ms),
		.directory_syntax = &address_user_syntax,
		.init		= smtpd_init,
		.reload		= smtpd_reload,
		.fini		= smtpd_fini,
	};

	return daemon_run(&spec, argc, argv);
}
