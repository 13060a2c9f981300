/* config.ini: the options of both daemons (doc/config.md).
 * The system file /etc/mediaproxy/config.ini is read first, then the local
 * one (beside the executable, or --config-dir); an option in the local file
 * overrides the same option of the system file.
 */
#ifndef MP_CONFIG_H
#define MP_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include "config_types.h"

#ifndef MP_SYSTEM_CONFIG_DIR /* the Makefile's $(sysconfdir)/mediaproxy */
#define MP_SYSTEM_CONFIG_DIR "/etc/mediaproxy"
#endif
#define MP_CONFIG_FILE "config.ini"

/* Which program reads the file: each reads only its own sections. */
enum mp_program {
	MP_DISPATCHER = 1 << 0,
	MP_RELAY = 1 << 1,
};

struct mp_config {
	/* The local directory config.ini was read from ("" for none): other
	 * files named by a relative path are looked up there first, then in
	 * MP_SYSTEM_CONFIG_DIR (doc/config.md §1).
	 */
	char local_dir[PATH_MAX];
	struct {
		char socket_path[PATH_MAX];
		char socket_owner[64];   /* "": unchanged */
		char socket_group[64];
		unsigned socket_mode;
		struct mp_endpoint listen;
		struct mp_endpoint listen_management;
		bool management_use_tls;
		struct mp_passport passport;
		struct mp_passport management_passport;
		struct mp_endpoint listen_http; /* host "": none */
		enum mp_tls_mode http_use_tls;
		struct mp_passport http_passport;
		unsigned http_max_connections;
		int log_level;
		unsigned relay_timeout;
		unsigned accounting; /* enum mp_accounting bits */
		unsigned relay_recover_interval;
		unsigned cleanup_dead_relays_after;
		unsigned cleanup_expired_sessions_after;
	} dispatcher;
	struct {
		char certs_path[PATH_MAX];
		unsigned verify_interval;
	} tls;
	struct mp_database_config {
		char dburi[1024];
		char sessions_table[64];
		char callid_column[64];
		char fromtag_column[64];
		char totag_column[64];
		char info_column[64];
		char starttime_column[64];
	} database;
	struct {
		char config_file[PATH_MAX];
		char additional_dictionary[PATH_MAX];
	} radius;
	struct {
		char socket_path[PATH_MAX];
		char location_table[64];
	} opensips;
	struct {
		char socket_path[PATH_MAX]; /* jsonrpcs dgram_socket */
	} kamailio;
	struct {
		struct mp_endpoint_list dispatchers;
		struct mp_passport passport;
		struct in_addr relay_ip;      /* 0: the default route's interface address */
		struct in_addr advertised_ip; /* 0: not set */
		bool auto_detect_interfaces;
		struct mp_port_range port_range;
		int log_level;
		unsigned stream_timeout;
		unsigned on_hold_timeout;
		unsigned dns_check_interval;
		unsigned keepalive_interval;
		unsigned reconnect_delay;
		unsigned traffic_sampling_period;
		unsigned userspace_transmit_every;
		struct mp_cidr_list routable_private_ranges;
		enum mp_forwarding forwarding;
		unsigned stream_idle_timeout; /* established forwarding idle this long ends the stream */
		struct mp_endpoint listen_http; /* host "": none */
		unsigned http_max_connections;
		bool rtp_stats; /* per-leg RTP statistics (doc/fast-path.md §11) */
	} relay;
};

/* Fills `cfg` with the defaults, then the system file, then the local one.
 * `local_dir` may be NULL (no local directory).  On a bad file or value it
 * returns -1 with "file:line: ..." in `err`; warnings go to the log.
 */
int mp_config_load(struct mp_config *cfg, enum mp_program program, const char *system_dir,
		   const char *local_dir, char *err, size_t err_len);

/* The directory of the running executable, or "" when it is a system binary
 * directory (/usr/bin and the like), which has no local config.ini.
 */
void mp_config_local_dir(char *dir, size_t len);

/* [Relay] auto_detect_interfaces as it applies: advertised_ip, one address
 * for everything, turns it off.
 */
bool mp_config_auto_detect_interfaces(const struct mp_config *cfg);

#endif
