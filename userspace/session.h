/* Sessions and streams of the relay agent: what an `update` or `remove`
 * does to them (doc/relay-sessions.md §1-§8, §10.3-§10.6).
 *
 * Pure logic: no sockets, timers or BPF.  The owner (the agent) learns what
 * to attach or detach through struct session_events, binds sockets through
 * the port pool's binder, and fills the legs' addresses and counters itself.
 *
 * Every call that changes state either succeeds or leaves the state as it
 * was: it checks the request and reserves memory and ports first, then
 * applies.
 */
#ifndef MP_SESSION_H
#define MP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "callid_table.h"
#include "clock.h"
#include "port_pool.h"
#include "rtp_stats.h"
#include "request.h"

enum side {
	SIDE_CALLER, /* the From party of the message that created the session */
	SIDE_CALLEE,
};

/* doc/relay-sessions.md §10.4; the first two are the alive states. */
enum stream_status {
	STREAM_ACTIVE,
	STREAM_ON_HOLD,
	STREAM_CLOSED,
	STREAM_REJECTED,
	STREAM_NO_TRAFFIC_TIMEOUT,
	STREAM_ON_HOLD_TIMEOUT,
	STREAM_CONNTRACK_TIMEOUT,
	STREAM_UNSELECTED_ICE,
	STREAM_STATUSES
};

const char *stream_status_name(enum stream_status status);

/* Packets arriving on one side's RTP or RTCP port.  The agent latches and
 * counts; the session code only reports.
 */
struct leg {
	bool has_remote;         /* remote_* hold the latched (or obsolete) address */
	bool in_use;             /* latched and current; false after a reset */
	bool got_media;          /* a non-STUN packet came from the latched address */
	struct in_addr remote_ip;
	uint16_t remote_port;
	uint64_t packets, bytes; /* received here and relayed; IPv4 packet length */
	struct rtp_quality quality; /* RTP legs: what the owner measured of the packets received */
};

/* One side of a stream: its relay ports and what its SDP said. */
struct party {
	struct in_addr local_ip; /* where its sockets bind */
	unsigned rtp_port;       /* RTCP is rtp_port + 1; 0 if never allocated; kept after release */
	bool has_ports;          /* the pair is still taken from the pool */
	bool has_sdp;
	char sdp_ip[64];         /* its latest SDP address, as written */
	unsigned short sdp_port;
	bool on_hold;
	bool ice;
	char codec[16];          /* "" until its first RTP packet (party_note_codec) */
	struct leg rtp, rtcp;
};

/* One m-line, possibly shared by several offer generations. */
struct stream {
	struct session *session;
	char media_type[32];
	enum stream_status status;
	bool alive;               /* status is active or on hold */
	unsigned timeout_wait;
	struct party party[2]; /* indexed by enum side */
	/* UNIX seconds, 0 until it happens (doc/relay-sessions.md §12.3) */
	double created_at, answered_at, first_media_at, ended_at;
	unsigned long answer_order; /* ties between streams answered at once */
	bool in_kernel;           /* the agent's: its RTP is forwarded by a kernel tier */
	void *owner;              /* free for the agent */
};

/* The streams of one offer, in m-line order, under the CSeq pair that made it. */
struct generation {
	unsigned cseq[2];
	unsigned count;
	struct stream *streams[REQUEST_MAX_STREAMS];
};

/* Its texts are heap copies, never NULL: most are far shorter than the
 * request's limits, and a relay holds tens of thousands of sessions.
 */
struct session {
	char *call_id;
	char *from_tag;             /* the caller's tag: the key */
	char *to_tag;               /* "" until known */
	char *from_uri;
	char *to_uri;
	char *caller_ua;            /* "" until known */
	char *callee_ua;
	bool has_username;
	char *username;
	struct in_addr caller_address;      /* from signaling_ip, 0.0.0.0 if not given */
	struct in_addr destination_address;
	bool has_cseq;
	unsigned cseq[2];           /* indexed by enum side */
	double start_time;          /* first answer, UNIX seconds; 0 = never answered */
	double end_time;            /* 0 while live */
	struct generation **generations; /* oldest first; the last is the current one */
	unsigned generation_count, generation_cap;
	struct stream **streams; /* every stream ever created, in creation order */
	unsigned stream_count, stream_cap;
	unsigned long next_answer_order;
	void *owner;                /* free for the agent: the dispatcher it came from */
	struct callid_entry by_call_id;     /* the table's index */
	struct session *prev, *next;     /* the table's creation order */
};

/* What the agent is told, all optional.  Events for a stream come in this
 * order: ports_allocated (both sides, status already set), then any number
 * of hold_changed / party_reset, then stream_closed, then ports_released.
 */
struct session_events {
	void *ctx;
	/* A new stream's party got its pair (party->local_ip, party->rtp_port). */
	void (*ports_allocated)(void *ctx, struct stream *stream, enum side side);
	/* The pair goes back to the pool right after this call. */
	void (*ports_released)(void *ctx, struct stream *stream, enum side side);
	/* stream->status changed between active and on hold (doc/relay-sessions.md §8: swap timers). */
	void (*hold_changed)(void *ctx, struct stream *stream);
	/* An answer changed the party's SDP address (doc/relay-sessions.md §9.5: forget the latch, re-arm timers). */
	void (*party_reset)(void *ctx, struct stream *stream, enum side side);
	/* The stream ended with stream->status (doc/relay-sessions.md §10.3: drop fast-path entries, fold counters). */
	void (*stream_closed)(void *ctx, struct stream *stream);
	/* The address a new stream binds on for `side` (auto_detect_interfaces, doc/relay-sessions.md §14);
	 * NULL: relay_ip.  Must not fail: return relay_ip when no route exists.
	 */
	struct in_addr (*local_address)(void *ctx, const struct session *session, enum side side);
};

struct sessions_config {
	struct in_addr relay_ip;
	struct in_addr advertised_ip; /* 0.0.0.0: not set */
};

struct sessions;

/* The session table.  `pool` stays the caller's; `events` may be NULL and is copied. */
struct sessions *sessions_new(const struct sessions_config *config, struct port_pool *pool,
				    const struct session_events *events);
/* Closes every session (events fire, ports go back) and frees the table. */
void sessions_free(struct sessions *sessions, const struct clock_reading *now);

enum update_result {
	UPDATE_PORTS,   /* reply is "<ip> <port>..." */
	UPDATE_ERROR,   /* reply is "error", nothing changed */
	UPDATE_HALTING, /* reply is "halting", nothing changed */
};

/* Room for the longest reply: an address and REQUEST_MAX_STREAMS ports. */
#define UPDATE_REPLY_LEN (16 + 6 * REQUEST_MAX_STREAMS)

/* Executes an `update` (doc/relay-protocol.md §6.1); `reply` gets the payload
 * and must hold UPDATE_REPLY_LEN bytes.  `*updated` is the session the
 * update created or changed with UPDATE_PORTS, else NULL.
 */
enum update_result sessions_update(struct sessions *sessions, const struct request *req,
					 const struct clock_reading *now, char *reply, size_t reply_len,
					 struct session **updated);

/* Executes a `remove`: the session, closed and out of the table, for the
 * caller to report and session_free(); NULL when none matches (`error`).
 */
struct session *sessions_remove(struct sessions *sessions, const struct request *req,
				      const struct clock_reading *now);

/* A timer or the idle check ended the stream's RTP (`status` is one of the
 * three timeouts).  Applies the ICE rule (doc/relay-sessions.md §10.3), closes the stream and,
 * when no stream of the current or previous generation is alive any more,
 * closes the session (doc/relay-sessions.md §10.5) and returns it, out of the table, for the
 * caller to report `expired` and session_free().  NULL otherwise.
 */
struct session *sessions_stream_expired(struct sessions *sessions, struct stream *stream,
					      enum stream_status status, unsigned timeout_wait,
					      const struct clock_reading *now);

/* Closes a session (alive streams become `closed`) and takes it out of the
 * table; the caller reports it and calls session_free().
 */
void sessions_close(struct sessions *sessions, struct session *session, const struct clock_reading *now);
void session_free(struct session *session);

/* Puts a session rebuilt from saved state (state.h) into the table; its
 * ports are already claimed from the pool.
 */
void sessions_adopt(struct sessions *sessions, struct session *session);

/* Key (call_id, tag): from_tag first, then to_tag (the callee's messages
 * carry the tags swapped).  `to_tag` may be "".
 */
struct session *sessions_find(const struct sessions *sessions, const char *call_id,
				    const char *from_tag, const char *to_tag);

/* Iteration in creation order: for (s = sessions_first(t); s; s = s->next). */
struct session *sessions_first(const struct sessions *sessions);
unsigned sessions_count(const struct sessions *sessions);

/* During shutdown messages that would create a session get `halting`. */
void sessions_set_halting(struct sessions *sessions, bool halting);
bool sessions_halting(const struct sessions *sessions);

/* The session's generations by age: 0 is the current one; NULL if none. */
struct generation *session_generation(const struct session *session, unsigned age);

/* Small recorders for the agent (doc/relay-sessions.md §12.2, §12.3). */
void stream_note_first_media(struct stream *stream, double now);
/* The codec from the party's first RTP packet; later calls change nothing. */
void party_note_codec(struct party *party, unsigned char payload_type);

#endif
