/* media-dispatcher: stands between a SIP proxy's mediaproxy module and the
 * media relays.  It listens for relays (TLS), for the proxy (UNIX socket)
 * and for management clients, until a stop signal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "accounting.h"
#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "management.h"
#include "proxy_control.h"
#include "proxy_socket.h"
#include "tls.h"
#include "web.h"

/* The dispatcher's credentials, from [TLS] certs_path. */
static struct mp_tls *open_tls(const struct mp_daemon *d)
{
	const char *dirs[] = { d->config_dir, MP_SYSTEM_CONFIG_DIR };
	struct mp_tls_files files;
	struct mp_tls *tls = NULL;
	char err[PATH_MAX + 256];

	if (mp_tls_find_files(d->config.tls.certs_path, dirs, 2, MP_TLS_ROLE_DISPATCHER, &files, err, sizeof(err)) ||
	    !(tls = mp_tls_new(&files, MP_TLS_SERVER, err, sizeof(err))))
		log_err("TLS: %s", err);
	return tls;
}

int main(int argc, char **argv)
{
	struct mp_daemon dispatcher = { .name = "media-dispatcher", .program = MP_DISPATCHER };
	const struct mp_config *cfg = &dispatcher.config;
	struct proxy_socket *proxy = NULL;
	struct management *management = NULL;
	struct dispatch *d = NULL;
	struct mp_tls *tls = NULL;
	struct accounting *accounting = NULL;
	struct proxy_control *control = NULL;
	struct web *web = NULL;
	struct metrics_sources sources;
	bool accounting_failed = false, web_failed = false;
	char socket_path[PATH_MAX * 2];
	int status = 1;

	if (!mp_daemon_init(&dispatcher, argc, argv, &status))
		return status;
	status = 1;
	if (mp_daemon_start(&dispatcher) < 0 || !(tls = open_tls(&dispatcher)))
		goto out;
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	/* a relative socket_path lives in the runtime directory */
	snprintf(socket_path, sizeof(socket_path), "%s%s%s", cfg->dispatcher.socket_path[0] == '/' ? "" :
			 dispatcher.runtime_dir, cfg->dispatcher.socket_path[0] == '/' ? "" : "/",
		 cfg->dispatcher.socket_path);
	accounting = accounting_open(cfg, dispatcher.runtime_dir, &accounting_failed);
	if (accounting_failed ||
	    !(control = proxy_control_open(dispatcher.base, cfg, dispatcher.runtime_dir)) ||
	    !(d = dispatch_new(dispatcher.base, cfg, tls, accounting, control)) ||
	    !(proxy = proxy_socket_open(dispatcher.base, socket_path, cfg, d)) ||
	    !(management = management_open(dispatcher.base, cfg, cfg->dispatcher.management_use_tls ? tls : NULL,
					   dispatch_relays(d))))
		goto out;
	sources = (struct metrics_sources){ .dispatch = d, .management = management, .accounting = accounting,
					    .proxy_control = control, .started = time(NULL) };
	web = web_open(dispatcher.base, cfg, tls, &sources, &web_failed);
	if (web_failed)
		goto out;
	mp_daemon_run(&dispatcher);
	status = 0;
out:
	web_close(web);
	management_close(management);
	proxy_socket_close(proxy);
	dispatch_free(d);
	accounting_close(accounting);
	proxy_control_close(control);
	mp_tls_free(tls);
	mp_daemon_cleanup(&dispatcher);
	return status;
}
