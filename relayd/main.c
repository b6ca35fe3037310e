/* relayd: wiring only.  The queue runner lives in relay_runner.c and friends. */
#include "lib/daemon.h"
#include "mail/address.h"
#include "relayd/relay_control.h"
#include "relayd/relay_daemon.h"

#include <stddef.h>

int
main(int argc, char *argv[])
{
	static const struct daemon_listener listeners[] = {
		{ "control",	SETTINGS_FIELD(const char *, relayd.control_listen), false },
		{ NULL, 0, false },
	};
	static const struct daemon_spec spec = {
		.name		= "relayd",
		.listeners	= listeners,
		.ops		= &relay_control_ops,
		.directory_syntax = &address_user_syntax,
		.init		= relayd_init,
		.reload		= relayd_reload,
		.stop		= relayd_stop,
		.fini		= relayd_fini,
		.single_worker	= true,
	};

	return daemon_run(&spec, argc, argv);
}
