/* imapd: wiring only.  The protocol lives in imap_session.c and friends. */
#include "imapd/imap_session.h"
#include "lib/daemon.h"
#include "mail/address.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

static struct imap_env	env;

static void
imapd_configure(struct daemon *d)
{
	imap_env_configure(&env, daemon_settings(d));
	env.directory = daemon_directory(d);
	env.authfail = daemon_authfail(d);
	env.conntab = daemon_conntab(d);
	env.authq = daemon_authq(d);
	env.passcache = daemon_passcache(d);
	env.tls_available = daemon_tls_available(d);
}

static int
imapd_init(struct daemon *d, const char **error_r)
{
	struct store_options	 opts = { 0 };

	imapd_configure(d);
	opts.fsync_enabled = daemon_settings(d)->store.fsync;
	opts.vanished_max = daemon_settings(d)->store.vanished_max;
	if ((env.store = store_open(env.mail_root, &opts, error_r)) == NULL)
		return -1;
	daemon_set_arg(d, &env);
	return 0;
}

static void
imapd_fini(struct daemon *d)
{
	store_close(&env.store);
	imap_env_release(&env);
}

int
main(int argc, char *argv[])
{
	static const struct daemon_listener listeners[] = {
		{ "imap",	SETTINGS_FIELD(const char *, imapd.listen),	false },
		{ "imaps",	SETTINGS_FIELD(const char *, imapd.tls_listen),	true },
		{ NULL, 0, false },
	};
	static const struct daemon_spec spec = {
		.name		= "imapd",
		.listeners	= listeners,
		.ops		= &imap_session_ops,
		.stress_timeout	= SETTINGS_FIELD(uint64_t, imapd.stress_timeout_ms),
		.directory_syntax = &address_user_syntax,
		.init		= imapd_init,
		.reload		= imapd_configure,
		.fini		= imapd_fini,
	};

	return daemon_run(&spec, argc, argv);
}
