/* pop3d: wiring only.  The protocol lives in pop3_session.c and friends. */
#include "lib/daemon.h"
#include "mail/address.h"
#include "pop3d/pop3_session.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

static struct pop3_env	env;

static void
pop3d_configure(struct daemon *d)
{
	pop3_env_configure(&env, daemon_settings(d));
	env.directory = daemon_directory(d);
	env.authfail = daemon_authfail(d);
	env.conntab = daemon_conntab(d);
	env.authq = daemon_authq(d);
	env.openq = daemon_openq(d);
	env.passcache = daemon_passcache(d);
	env.tls_available = daemon_tls_available(d);
}

static int
pop3d_init(struct daemon *d, const char **error_r)
{
	struct store_options	 opts = { 0 };

	pop3d_configure(d);
	opts.fsync_enabled = daemon_settings(d)->store.fsync;
	opts.vanished_max = daemon_settings(d)->store.vanished_max;
	if ((env.store = store_open(env.mail_root, &opts, error_r)) == NULL)
		return -1;
	daemon_set_arg(d, &env);
	return 0;
}

static void
pop3d_fini(struct daemon *d)
{
	store_close(&env.store);
	pop3_env_release(&env);
}

int
main(int argc, char *argv[])
{
	static const struct daemon_listener listeners[] = {
		{ "pop3",	SETTINGS_FIELD(const char *, pop3d.listen),	false },
		{ "pop3s",	SETTINGS_FIELD(const char *, pop3d.tls_listen),	true },
		{ NULL, 0, false },
	};
	static const struct daemon_spec spec = {
		.name		= "pop3d",
		.listeners	= listeners,
		.ops		= &pop3_session_ops,
		.stress_timeout	= SETTINGS_FIELD(uint64_t, pop3d.stress_timeout_ms),
		.directory_syntax = &address_user_syntax,
		.init		= pop3d_init,
		.reload		= pop3d_configure,
		.fini		= pop3d_fini,
	};

	return daemon_run(&spec, argc, argv);
}
