/* The media of the relay's streams (doc/relay-sessions.md §9-§10): the relay
 * ports' sockets, latching of each leg's remote, userspace relaying until
 * (and where) the kernel does not forward, installation of established
 * substreams in the forwarding tier, the per-leg timers and the idle scan.
 *
 * The session table (session.h) decides which streams exist; it tells us
 * through the events media_session_events() returns, and binds ports
 * through media_port_binder().
 */
#ifndef MP_MEDIA_H
#define MP_MEDIA_H

#include <event2/event.h>
#include <jansson.h>
#include "config_types.h"
#include "forwarder.h"
#include "json_fields.h"
#include "port_pool.h"
#include "session.h"

struct media_config {
	unsigned stream_timeout;   /* no media yet: no-traffic timeout */
	unsigned on_hold_timeout;
	unsigned idle_timeout;     /* an established substream without packets */
	unsigned transmit_every;   /* userspace_transmit_every */
	struct mp_cidr_list routable_private_ranges;
	/* auto_detect_interfaces (doc/relay-sessions.md §14): each side binds on the
	 * address that routes to its party; relay_ip when none does.
	 */
	bool auto_detect_interfaces;
	struct in_addr relay_ip;
	bool rtp_stats; /* per-leg RTP statistics (doc/fast-path.md §11) */
};

struct media_owner {
	void *ctx;
	/* An expiry closed a whole session, now out of the table: the owner
	 * reports it and frees it with session_free().
	 */
	void (*expired)(void *ctx, struct session *session);
	/* Media state changed (a latch, an installation, an expiry...): the
	 * saved state is out of date.
	 */
	void (*changed)(void *ctx);
};

struct media;

/* What the media plane did since the start (the relay's summary and /metrics). */
struct media_counters {
	uint64_t latches;          /* a leg latched onto a source (or again onto its moved party) */
	uint64_t installs;         /* substreams handed to a kernel tier (BPF, conntrack) */
	uint64_t install_failures; /* installations the tier refused (each is tried again on the next packet) */
	uint64_t relayed_packets;  /* sent on by the agent's own sockets */
	uint64_t relayed_bytes;    /* IPv4 packet length, as the kernel counts */
	uint64_t wrong_source;     /* packets from a source other than the latched one, not relayed */
	uint64_t kernel_packets;   /* forwarded by the kernel tier, as its entries count them (read once */
	uint64_t kernel_bytes;     /* a second, and when an entry goes) */
};

struct media *media_new(struct event_base *base, const struct media_config *cfg, struct forwarder *fwd,
			const struct media_owner *owner);
void media_free(struct media *m);

/* The table whose streams expire through us; set once, after sessions_new(). */
void media_set_sessions(struct media *m, struct sessions *sessions);
struct port_binder media_port_binder(struct media *m);
struct session_events media_session_events(struct media *m);

/* Adds the live forwarding counters of the session's streams to their legs'
 * packets and bytes, before statistics are read.
 */
void media_sync_counters(struct media *m, struct session *session);

const struct media_counters *media_counters(const struct media *m);

/* Stopping for a restart: streams closed from now on leave their entries in
 * the forwarding tier, for the next run to take over.
 */
void media_keep_forwarding(struct media *m);

/* A restart (state.h): our part of one stream, to save, to check, and to
 * restore once its ports are claimed again.  Checking: 0, or -1 with `err`
 * saying which field is wrong.  Restoring (only what passed the check)
 * re-arms the timers where they stood and takes over the stream's
 * forwarding entries; -1 without memory.
 */
json_t *media_stream_save(const struct stream *stream);
int media_stream_check(const json_t *saved, struct json_fields_error *err);
int media_stream_restore(struct media *m, struct stream *stream, const json_t *saved);

/* After every stream is restored: deletes forwarding entries nobody took. */
void media_prune(struct media *m);

#endif
