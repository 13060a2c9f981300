/* media-dispatcher: stands between a SIP proxy's mediaproxy module and the
 * media relays.  For now it starts, holds its runtime directory and pid file
 * and waits for a stop signal.
 */
#include "daemon.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct mp_daemon dispatcher = { .name = "media-dispatcher", .program = MP_DISPATCHER };
	int status;

	if (!mp_daemon_init(&dispatcher, argc, argv, &status))
		return status;
	if (mp_daemon_start(&dispatcher) < 0) {
		mp_daemon_cleanup(&dispatcher);
		return 1;
	}
	mp_daemon_run(&dispatcher);
	mp_daemon_cleanup(&dispatcher);
	return 0;
}
