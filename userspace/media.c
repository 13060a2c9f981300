#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "clock.h"
#include "json_fields.h"
#include "log.h"
#include "media.h"
#include "netif.h"
#include "routable.h"
#include "rtp_stats.h"

#define RTP 0
#define RTCP 1
#define RECV_BATCH 32
#define MAX_DATAGRAM 65535
#define STUN_QUEUE_MAX 32                     /* the original's queue had no bound */
#define OBSOLETE_GRACE_NS (2ULL * 1000000000) /* doc/fast-path.md §10.3 */
#define IDLE_SCAN_INTERVAL 1                  /* seconds */
#define NS_PER_S 1000000000ULL

struct media_stream;

/* One relay port: RTP or RTCP of one side of a stream. */
struct relay_socket {
	struct media *m;
	int fd;
	struct event *readable;
	struct media_stream *ms; /* NULL until the pair is given to a stream */
	enum side side;
	int sub;                 /* RTP or RTCP */
	unsigned tx_count;       /* for userspace_transmit_every */
	unsigned stun_count;
	struct queued_stun {
		size_t len;
		unsigned char *data;
	} *stun;                 /* STUN waiting for an address to go to (doc/relay-sessions.md §9.6); allocated
				  * when needed, as most sockets never queue any */
};

/* Checked by the idle scan, once a second: the timeouts are whole seconds,
 * and an event per leg would cost a relay 600 bytes a stream.
 */
struct leg_timer {
	bool on_hold; /* which of the two timers of doc/relay-sessions.md §10.1 runs */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 when not running (kept for a restart) */
};

/* Saved as [deadline_ns, on_hold]. */
static const struct json_field timer_fields[] = {
	JSON_FIELD(struct leg_timer, deadline_ns, UINT),
	JSON_FIELD(struct leg_timer, on_hold, BOOL),
	JSON_FIELDS_END,
};

/* Our part of one leg: what one side sends on RTP or RTCP. */
struct media_leg {
	struct relay_socket *sock;
	struct leg_timer timer;
	struct leg_counters live;          /* its installed entry's counters */
	uint64_t base_packets, base_bytes; /* relayed here, or folded from removed entries */
	uint64_t dropped_src;              /* as last reported */
	struct mp_rtp_leg rtp;             /* RTP statistics of the packets relayed here (doc/fast-path.md §11) */
};

/* Our part of an stream (its owner field). */
struct media_stream {
	struct media *m;
	struct stream *stream;
	uint32_t id;
	struct media_leg legs[2][2]; /* [side][sub] */
	bool installed[2];           /* [sub]: in the forwarding tier */
	bool install_logged[2];
	bool idle[2];                /* [sub]: found idle by the scan */
	uint64_t relayed_ns[2];      /* [sub]: last packet relayed in userspace */
	uint64_t reset_ns[2];        /* [side]: the party's last reset */
	bool rtp_unseen;             /* the conntrack tier forwarded RTP: its statistics are not known */
	struct rtcp_side rtcp[2];    /* [side]: what its RTCP told (doc/fast-path.md §12) */
	struct media_stream *prev, *next;
};

/* A counter of each leg, [side][sub], under its media_leg name. */
#define LEG_COUNTERS(member)                                                                               \
	{ #member, JSON_FIELD_UINT, offsetof(struct media_stream, legs[0][0].member), .count = 2,           \
	  .stride = JSON_MEMBER_SIZE(struct media_stream, legs[0]),                                          \
	  .element = &(const struct json_field){ #member, JSON_FIELD_UINT, 0, sizeof(uint64_t), .count = 2,   \
						  .stride = sizeof(struct media_leg) } }

/* What a restart keeps of a stream; the timers go as one list, [side][sub]. */
static const struct json_field saved_fields[] = {
	JSON_FIELD(struct media_stream, id, UINT),
	JSON_ARRAY(struct media_stream, installed, BOOL),
	LEG_COUNTERS(base_packets),
	LEG_COUNTERS(base_bytes),
	JSON_ARRAY(struct media_stream, relayed_ns, UINT),
	JSON_ARRAY(struct media_stream, reset_ns, UINT),
	{ "timers", JSON_FIELD_TUPLE, offsetof(struct media_stream, legs[0][0].timer), .count = 4,
	  .stride = sizeof(struct media_leg), .fields = timer_fields },
	JSON_FIELDS_END,
};

/* The quality figures a restart keeps (doc/fast-path.md §8): the agent's
 * RTP statistics of each side, what each side's RTCP told, and whether the
 * conntrack tier forwarded RTP unseen.  Saved under "quality", which the
 * files of earlier relays lack: their streams start these anew.
 */
static const struct json_field rtp_leg_fields[] = {
	JSON_FIELD(struct mp_rtp_leg, clock_rate, UINT),
	JSON_FIELD(struct mp_rtp_leg, pt, UINT, .max = 127),
	JSON_FIELD(struct mp_rtp_leg, probation, UINT, .max = MP_RTP_MIN_SEQUENTIAL),
	JSON_FIELD(struct mp_rtp_leg, max_seq, UINT),
	JSON_FIELD(struct mp_rtp_leg, ssrc, UINT),
	JSON_FIELD(struct mp_rtp_leg, cycles, UINT),
	JSON_FIELD(struct mp_rtp_leg, base_seq, UINT),
	JSON_FIELD(struct mp_rtp_leg, bad_seq, UINT),
	JSON_FIELD(struct mp_rtp_leg, received, UINT),
	JSON_FIELD(struct mp_rtp_leg, lost_prior, UINT),
	JSON_FIELD(struct mp_rtp_leg, jitter, UINT),
	JSON_FIELD(struct mp_rtp_leg, last_ts, UINT),
	JSON_FIELD(struct mp_rtp_leg, last_arrival_ns, UINT),
	JSON_FIELD(struct mp_rtp_leg, seen, UINT),
	JSON_FIELD(struct mp_rtp_leg, out_of_order, UINT),
	JSON_FIELD(struct mp_rtp_leg, duplicates, UINT),
	JSON_FIELD(struct mp_rtp_leg, sources, UINT),
	JSON_FIELD(struct mp_rtp_leg, not_rtp, UINT),
	JSON_FIELDS_END,
};

static const struct json_field rtcp_block_fields[] = {
	JSON_FIELD(struct rtcp_block, ssrc, UINT),
	JSON_FIELD(struct rtcp_block, fraction_lost, UINT),
	JSON_FIELD(struct rtcp_block, cumulative_lost, UINT), /* its 32 bits, as unsigned */
	JSON_FIELD(struct rtcp_block, highest_seq, UINT),
	JSON_FIELD(struct rtcp_block, jitter, UINT),
	JSON_FIELD(struct rtcp_block, lsr, UINT),
	JSON_FIELD(struct rtcp_block, dlsr, UINT),
	JSON_FIELDS_END,
};

/* A sender report, saved as [ntp_middle, passed_ns]. */
static const struct json_field rtcp_sr_fields[] = {
	JSON_FIELD(struct rtcp_sr_passed, ntp_middle, UINT),
	JSON_FIELD(struct rtcp_sr_passed, passed_ns, UINT),
	JSON_FIELDS_END,
};

static const struct json_field rtcp_side_fields[] = {
	{ "sr", JSON_FIELD_TUPLE, offsetof(struct rtcp_side, sr), .count = RTCP_SR_HISTORY,
	  .stride = JSON_MEMBER_SIZE(struct rtcp_side, sr[0]), .fields = rtcp_sr_fields },
	JSON_FIELD(struct rtcp_side, sr_next, UINT, .max = RTCP_SR_HISTORY - 1),
	JSON_FIELD(struct rtcp_side, reports, UINT),
	JSON_FIELD(struct rtcp_side, malformed, UINT),
	JSON_FIELD(struct rtcp_side, has_block, BOOL),
	JSON_FIELD(struct rtcp_side, block, OBJECT, .fields = rtcp_block_fields),
	JSON_FIELD(struct rtcp_side, rtt_count, UINT),
	JSON_FIELD(struct rtcp_side, rtt_sum_ms, REAL),
	JSON_FIELDS_END,
};

static const struct json_field quality_fields[] = {
	{ "rtp", JSON_FIELD_OBJECT, offsetof(struct media_stream, legs[0][RTP].rtp), .count = 2,
	  .stride = JSON_MEMBER_SIZE(struct media_stream, legs[0]), .fields = rtp_leg_fields },
	JSON_ARRAY(struct media_stream, rtcp, OBJECT, .fields = rtcp_side_fields),
	JSON_FIELD(struct media_stream, rtp_unseen, BOOL),
	JSON_FIELDS_END,
};

struct media {
	struct event_base *base;
	struct media_config cfg;
	struct forwarder *fwd;
	struct sessions *sessions;
	struct media_owner owner;
	bool keep_forwarding; /* stopping for a restart: closed streams stay installed */
	struct relay_socket **by_port; /* indexed by port number */
	struct media_stream *streams;
	uint32_t next_id;
	struct event *idle_scan;
	unsigned char (*rx_buf)[MAX_DATAGRAM];
	struct media_counters counters;
};

static struct leg *leg_of(struct stream *stream, enum side side, int sub)
{
	return sub == RTCP ? &stream->party[side].rtcp : &stream->party[side].rtp;
}

static const char *side_name(enum side side)
{
	return side == SIDE_CALLER ? "caller" : "callee";
}

/* RFC 5389 framing: first two bits zero, the magic cookie, a length that fits (doc/relay-sessions.md §11.1). */
static bool is_stun(const unsigned char *data, size_t len)
{
	static const unsigned char cookie[4] = { 0x21, 0x12, 0xa4, 0x42 };

	return len >= 20 && data[0] < 0x40 && !memcmp(data + 4, cookie, 4) &&
	       (size_t)((data[2] << 8 | data[3]) + 20) <= len;
}

/* ---- counters ------------------------------------------------------------- */

const double media_mos_bounds[MEDIA_MOS_BUCKETS] = { 2.58, 3.10, 3.60, 4.03, 4.34 };

/* A stream's end: the MOS of each direction that has one, into the histogram. */
static void count_mos(struct media *m, const struct stream *stream)
{
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		const struct rtp_quality *q = &stream->party[side].rtp.quality;
		unsigned bucket = 0;

		if (!q->enabled || !q->measured || !q->has_mos)
			continue;
		while (bucket < MEDIA_MOS_BUCKETS && q->mos > media_mos_bounds[bucket])
			bucket++;
		m->counters.mos[bucket]++;
		m->counters.mos_sum += q->mos;
	}
}

/* A side's RTP statistics: its live entry's while installed in the BPF tier, else ours. */
static const struct mp_rtp_leg *rtp_of(const struct media_stream *ms, enum side side)
{
	const struct media_leg *ml = &ms->legs[side][RTP];

	return ml->live.has_rtp ? &ml->live.rtp : &ml->rtp;
}

/* A leg's totals: relayed here and folded from removed entries, plus live. */
static void update_leg_totals(struct media_stream *ms, enum side side, int sub)
{
	struct leg *leg = leg_of(ms->stream, side, sub);
	const struct media_leg *ml = &ms->legs[side][sub];

	leg->packets = ml->base_packets + ml->live.packets;
	leg->bytes = ml->base_bytes + ml->live.bytes;
	if (sub == RTCP)
		return;
	if (!ms->m->cfg.rtp_stats)
		leg->quality = (struct rtp_quality){ .enabled = false };
	else if (ms->rtp_unseen)
		leg->quality = (struct rtp_quality){ .enabled = true, .measured = false };
	else
		leg->quality = rtp_stats_quality(rtp_of(ms, side), &ms->rtcp[side], &ms->rtcp[!side]);
}

/* What the kernel forwarded since `before` was read: an entry's counters
 * only grow, and a new one starts from 0.
 */
static void count_kernel(struct media *m, const struct leg_counters *before, const struct leg_counters *now)
{
	bool same_entry = now->packets >= before->packets && now->bytes >= before->bytes;

	m->counters.kernel_packets += now->packets - (same_entry ? before->packets : 0);
	m->counters.kernel_bytes += now->bytes - (same_entry ? before->bytes : 0);
}

/* The counters the forwarding tier read for both legs of a substream. */
static void set_live_counters(struct media_stream *ms, int sub, const struct leg_counters live[2])
{
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		count_kernel(ms->m, &ms->legs[side][sub].live, &live[side]);
		ms->legs[side][sub].live = live[side];
		update_leg_totals(ms, side, sub);
	}
}

static struct substream substream_of(const struct media_stream *ms, int sub)
{
	struct substream s = { .rtcp = sub == RTCP, .stream_id = ms->id };

	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		const struct party *party = &ms->stream->party[side];
		const struct leg *leg = sub == RTCP ? &party->rtcp : &party->rtp;

		s.local_ip[side] = party->local_ip;
		s.local_port[side] = (uint16_t)(party->rtp_port + (unsigned)sub);
		s.remote_ip[side] = leg->remote_ip;
		s.remote_port[side] = leg->remote_port;
		s.rtp[side] = ms->legs[side][sub].rtp;
	}
	return s;
}

/* Takes a substream out of the forwarding tier, its counters into the
 * totals: an entry the kernel already expired counts what it held when last
 * read (doc/relay-sessions.md §15.4).
 */
static void uninstall(struct media_stream *ms, int sub)
{
	struct substream s = substream_of(ms, sub);
	struct leg_counters final[2] = { ms->legs[SIDE_CALLER][sub].live, ms->legs[SIDE_CALLEE][sub].live };

	if (!ms->installed[sub])
		return;
	forwarder_remove(ms->m->fwd, &s, final);
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		struct media_leg *ml = &ms->legs[side][sub];

		count_kernel(ms->m, &ml->live, &final[side]);
		if (final[side].has_rtp)
			ml->rtp = final[side].rtp; /* the entry continued ours */
		ml->base_packets += final[side].packets;
		ml->base_bytes += final[side].bytes;
		ml->live = (struct leg_counters){ 0 };
		update_leg_totals(ms, side, sub);
	}
	ms->installed[sub] = false;
	ms->install_logged[sub] = false;
	if (sub == RTP)
		ms->stream->in_kernel = false;
}

/* Both legs latched and sending media: hand the substream to the kernel.
 * A failure is retried on the next media packet (doc/fast-path.md §4).
 */
static void try_install(struct media_stream *ms, int sub)
{
	struct leg *caller = leg_of(ms->stream, SIDE_CALLER, sub), *callee = leg_of(ms->stream, SIDE_CALLEE, sub);
	struct substream s;

	if (ms->installed[sub] || !caller->in_use || !caller->got_media || !callee->in_use || !callee->got_media)
		return;
	s = substream_of(ms, sub);
	if (forwarder_install(ms->m->fwd, &s, clock_now().mono_ns)) {
		ms->m->counters.install_failures++;
		if (!ms->install_logged[sub])
			log_warn("stream %u: %s stays in userspace until an installation succeeds", ms->id,
				 sub == RTCP ? "RTCP" : "RTP");
		ms->install_logged[sub] = true;
		return;
	}
	ms->installed[sub] = true;
	ms->rtp_unseen |= sub == RTP && ms->m->fwd->tier == FORWARDER_CONNTRACK;
	if (ms->m->fwd->tier != FORWARDER_USERSPACE) {
		ms->m->counters.installs++;
		if (sub == RTP)
			ms->stream->in_kernel = true;
	}
	ms->m->owner.changed(ms->m->owner.ctx);
	log_debug("stream %u: %s forwarded by the %s tier", ms->id, sub == RTCP ? "RTCP" : "RTP",
		  forwarder_tier_name(ms->m->fwd->tier));
}

void media_sync_counters(struct media *m, struct session *session)
{
	for (unsigned i = 0; i < session->stream_count; i++) {
		struct media_stream *ms = session->streams[i]->owner;

		for (int sub = RTP; ms && sub <= RTCP; sub++) {
			struct substream s = substream_of(ms, sub);
			struct leg_counters live[2];

			if (!ms->installed[sub] || forwarder_read(m->fwd, &s, live))
				continue; /* an expired conntrack entry keeps its last reading */
			set_live_counters(ms, sub, live);
		}
	}
}

/* ---- timers (doc/relay-sessions.md §10.1) -------------------------------------------------------- */

static void arm_timer(struct media_stream *ms, enum side side, int sub, bool on_hold)
{
	struct leg_timer *t = &ms->legs[side][sub].timer;
	unsigned timeout = on_hold ? ms->m->cfg.on_hold_timeout : ms->m->cfg.stream_timeout;

	t->on_hold = on_hold;
	t->deadline_ns = clock_now().mono_ns + (uint64_t)timeout * NS_PER_S;
}

static void cancel_timer(struct media_stream *ms, enum side side, int sub)
{
	ms->legs[side][sub].timer.deadline_ns = 0;
}

/* Ends the stream; the session may end with it and is then the owner's.
 * `ms` is freed on return.
 */
static void expire_stream(struct media_stream *ms, enum stream_status status, unsigned timeout_wait)
{
	struct media *m = ms->m;
	struct clock_reading now = clock_now();
	struct session *ended;

	log_info("stream %u (%s) of session %s: %s after %u s", ms->id, ms->stream->media_type,
		 ms->stream->session->call_id, stream_status_name(status), timeout_wait);
	ended = sessions_stream_expired(m->sessions, ms->stream, status, timeout_wait, &now);
	if (ended)
		m->owner.expired(m->owner.ctx, ended);
	m->owner.changed(m->owner.ctx);
}

/* doc/relay-sessions.md §9.7: RTCP starts again from scratch; its timers are not re-armed. */
static void forget_rtcp(struct media_stream *ms)
{
	uninstall(ms, RTCP);
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		struct leg *leg = leg_of(ms->stream, side, RTCP);

		leg->has_remote = leg->in_use = leg->got_media = false;
		ms->legs[side][RTCP].sock->tx_count = 0;
		cancel_timer(ms, side, RTCP);
	}
	log_debug("stream %u: RTCP forgotten", ms->id);
	ms->m->owner.changed(ms->m->owner.ctx);
}

/* Acts on the first of the stream's timers that is due, if any: true when
 * it did (`ms` may then be freed).
 */
static bool fire_due_timer(struct media_stream *ms, uint64_t now_ns)
{
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++)
		for (int sub = RTP; sub <= RTCP; sub++) {
			struct leg_timer *t = &ms->legs[side][sub].timer;

			if (!t->deadline_ns || t->deadline_ns > now_ns)
				continue;
			t->deadline_ns = 0;
			if (sub == RTCP)
				forget_rtcp(ms);
			else if (t->on_hold)
				expire_stream(ms, STREAM_ON_HOLD_TIMEOUT, ms->m->cfg.on_hold_timeout);
			else
				expire_stream(ms, STREAM_NO_TRAFFIC_TIMEOUT, ms->m->cfg.stream_timeout);
			return true;
		}
	return false;
}

/* ---- userspace relaying (doc/relay-sessions.md §9.3) -------------------------------------------- */

static void stun_enqueue(struct relay_socket *sock, const unsigned char *data, size_t len)
{
	unsigned char *copy;

	if (!sock->stun && !(sock->stun = calloc(STUN_QUEUE_MAX, sizeof(*sock->stun))))
		return;
	if (!(copy = malloc(len)))
		return;
	memcpy(copy, data, len);
	if (sock->stun_count == STUN_QUEUE_MAX) { /* drop the oldest */
		free(sock->stun[0].data);
		memmove(sock->stun, sock->stun + 1, sizeof(sock->stun[0]) * (STUN_QUEUE_MAX - 1));
		sock->stun_count--;
	}
	sock->stun[sock->stun_count].data = copy;
	sock->stun[sock->stun_count++].len = len;
}

static void stun_flush(struct relay_socket *sock, const struct sockaddr_in *to)
{
	for (unsigned i = 0; i < sock->stun_count; i++) {
		if (to)
			sendto(sock->fd, sock->stun[i].data, sock->stun[i].len, 0, (const struct sockaddr *)to,
			       sizeof(*to));
		free(sock->stun[i].data);
	}
	free(sock->stun);
	sock->stun = NULL;
	sock->stun_count = 0;
}

/* Where packets for `side` go: its latched address; after a reset its new
 * SDP address when routable, else the obsolete one; before any packet, on
 * RTP only, its routable SDP address.
 */
static bool destination(struct media *m, struct stream *stream, enum side side, int sub,
			struct sockaddr_in *to)
{
	const struct party *party = &stream->party[side];
	const struct leg *leg = leg_of(stream, side, sub);
	struct in_addr sdp_ip;

	*to = (struct sockaddr_in){ .sin_family = AF_INET };
	if (leg->has_remote && leg->in_use)
		goto latched;
	if (sub == RTP && party->has_sdp && party->sdp_port &&
	    routable_address(party->sdp_ip, &m->cfg.routable_private_ranges, &sdp_ip)) {
		to->sin_addr = sdp_ip;
		to->sin_port = htons(party->sdp_port);
		return true;
	}
	if (!leg->has_remote)
		return false;
latched:
	to->sin_addr = leg->remote_ip;
	to->sin_port = htons(leg->remote_port);
	return true;
}

static void relay_packet(struct media_stream *ms, enum side from, int sub, const unsigned char *data, size_t len,
			 bool stun, uint64_t now_ns)
{
	struct media *m = ms->m;
	struct relay_socket *out = ms->legs[!from][sub].sock;
	struct sockaddr_in to;

	if (!destination(m, ms->stream, !from, sub, &to)) {
		if (stun)
			stun_enqueue(out, data, len);
		return;
	}
	if (!stun && ++out->tx_count % m->cfg.transmit_every)
		return;
	stun_flush(out, &to);
	if (sendto(out->fd, data, len, 0, (const struct sockaddr *)&to, sizeof(to)) < 0)
		return;
	/* counted like the kernel counts: the IPv4 packet length (doc/fast-path.md §10.1) */
	ms->legs[from][sub].base_packets++;
	ms->legs[from][sub].base_bytes += len + 28;
	m->counters.relayed_packets++;
	m->counters.relayed_bytes += len + 28;
	update_leg_totals(ms, from, sub);
	ms->relayed_ns[sub] = now_ns;
}

/* doc/relay-sessions.md §9.1: the first source wins; after that only that exact address. */
static bool accept_source(struct media_stream *ms, enum side side, int sub, const struct sockaddr_in *src,
			  uint64_t now_ns)
{
	struct leg *leg = leg_of(ms->stream, side, sub);
	bool same = leg->has_remote && leg->remote_ip.s_addr == src->sin_addr.s_addr &&
		    leg->remote_port == ntohs(src->sin_port);
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &src->sin_addr, ip, sizeof(ip));
	if (same && leg->in_use)
		return true;
	if (same) {
		/* the obsolete address of a reset party: it may not really have moved */
		if (now_ns - ms->reset_ns[side] < OBSOLETE_GRACE_NS)
			return false;
		log_info("stream %u: %s %s re-accepted from %s:%u, the only sender since its address changed",
			 ms->id, side_name(side), sub == RTCP ? "RTCP" : "RTP", ip, leg->remote_port);
		leg->in_use = true;
		ms->m->counters.latches++;
		ms->m->owner.changed(ms->m->owner.ctx);
		return true;
	}
	if (leg->has_remote && leg->in_use)
		return false; /* latched to someone else */
	leg->has_remote = leg->in_use = true;
	leg->remote_ip = src->sin_addr;
	leg->remote_port = ntohs(src->sin_port);
	ms->m->counters.latches++;
	ms->m->owner.changed(ms->m->owner.ctx);
	log_info("stream %u: discovered %s %s peer %s:%u", ms->id, side_name(side), sub == RTCP ? "RTCP" : "RTP", ip,
		 leg->remote_port);
	return true;
}

/* A datagram of `side`'s RTCP, passed at `arrival_ns`: the reports in it
 * change what both sides' RTP legs report.
 */
static void rtcp_arrived(struct media_stream *ms, enum side side, const unsigned char *data, size_t len,
			 uint64_t arrival_ns, bool copied)
{
	if (rtcp_side_packet(&ms->rtcp[side], &ms->rtcp[!side], rtp_of(ms, !side)->ssrc, data, len, arrival_ns))
		ms->m->counters.rtcp_malformed[copied]++;
	else
		ms->m->counters.rtcp_reports[copied]++;
	update_leg_totals(ms, SIDE_CALLER, RTP);
	update_leg_totals(ms, SIDE_CALLEE, RTP);
}

void media_rtcp_copied(struct media *m, uint32_t stream_id, uint16_t local_port, const unsigned char *data,
		       size_t len, uint64_t arrival_ns)
{
	const struct relay_socket *sock = m->by_port[local_port];

	/* a copy queued before its stream ended, and its port was given to another;
	 * STUN (ICE consent checks) is no RTCP, as on the sockets
	 */
	if (!sock || !sock->ms || sock->sub != RTCP || sock->ms->id != stream_id || is_stun(data, len))
		return;
	rtcp_arrived(sock->ms, sock->side, data, len, arrival_ns, true);
}

/* doc/relay-sessions.md §9.2, for one datagram that arrived on a relay socket;
 * arrival_ns is when the kernel received it (CLOCK_MONOTONIC), for the jitter.
 */
static void packet_arrived(struct relay_socket *sock, const struct sockaddr_in *src, const unsigned char *data,
			   size_t len, uint64_t now_ns, uint64_t arrival_ns)
{
	struct media_stream *ms = sock->ms;
	struct leg *leg;
	bool stun;

	if (!ms)
		return;
	if (!accept_source(ms, sock->side, sock->sub, src, now_ns)) {
		ms->m->counters.wrong_source++;
		return;
	}
	leg = leg_of(ms->stream, sock->side, sock->sub);
	stun = is_stun(data, len);
	/* installed in a kernel tier, the programs counted it already (or conntrack took the rest) */
	if (ms->m->cfg.rtp_stats && (!ms->installed[sock->sub] || ms->m->fwd->tier == FORWARDER_USERSPACE)) {
		if (sock->sub == RTP)
			rtp_stats_packet(&ms->legs[sock->side][RTP].rtp, data, len, arrival_ns);
		else if (!stun)
			rtcp_arrived(ms, sock->side, data, len, arrival_ns, false);
	}
	relay_packet(ms, sock->side, sock->sub, data, len, stun, now_ns);
	if (stun)
		return; /* latches, but is not media */
	if (!leg->got_media) {
		leg->got_media = true;
		cancel_timer(ms, sock->side, sock->sub);
		if (sock->sub == RTP && len >= 2)
			party_note_codec(&ms->stream->party[sock->side], data[1]);
		stream_note_first_media(ms->stream, clock_now().wall);
	}
	try_install(ms, sock->sub);
}

/* The kernel's receive time of a datagram (SO_TIMESTAMPNS, CLOCK_REALTIME)
 * on CLOCK_MONOTONIC, which the BPF programs time with: the time of reading
 * would add the agent's scheduling delay, which under load skews the jitter.
 * `now` (the monotonic time of reading) when the message carries none, and
 * at most `now` should the wall clock have been stepped back meanwhile.
 */
static uint64_t arrival_of(struct msghdr *msg, int64_t realtime_minus_mono, uint64_t now)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		struct timespec ts;
		int64_t arrival;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		arrival = (int64_t)ts.tv_sec * (int64_t)NS_PER_S + ts.tv_nsec - realtime_minus_mono;
		return arrival < (int64_t)now ? (uint64_t)arrival : now;
	}
	return now;
}

static void socket_readable(evutil_socket_t fd, short what, void *arg)
{
	struct relay_socket *sock = arg;
	struct media *m = sock->m;
	struct mmsghdr msgs[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	struct sockaddr_in src[RECV_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} control[RECV_BATCH];
	uint64_t now_ns = clock_now().mono_ns;
	struct timespec real;
	int64_t offset;
	int n;

	clock_gettime(CLOCK_REALTIME, &real);
	offset = (int64_t)real.tv_sec * (int64_t)NS_PER_S + real.tv_nsec - (int64_t)now_ns;
	for (int i = 0; i < RECV_BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = m->rx_buf[i], .iov_len = MAX_DATAGRAM };
		msgs[i].msg_hdr = (struct msghdr){ .msg_name = &src[i], .msg_namelen = sizeof(src[i]),
						   .msg_iov = &iov[i], .msg_iovlen = 1,
						   .msg_control = control[i].buf, .msg_controllen = sizeof(control[i].buf) };
	}
	n = recvmmsg(fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++)
		packet_arrived(sock, &src[i], m->rx_buf[i], msgs[i].msg_len, now_ns,
			       arrival_of(&msgs[i].msg_hdr, offset, now_ns));
}

/* ---- the port pool's binder ---------------------------------------------- */

static struct relay_socket *open_socket(struct media *m, struct in_addr ip, unsigned port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr = ip, .sin_port = htons((uint16_t)port) };
	struct relay_socket *sock = calloc(1, sizeof(*sock));
	int err;

	if (!sock)
		return NULL;
	sock->m = m;
	sock->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sock->fd < 0 || bind(sock->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto fail;
	/* arrival times for the jitter (doc/fast-path.md §11); without them, the time of reading */
	if (m->cfg.rtp_stats && setsockopt(sock->fd, SOL_SOCKET, SO_TIMESTAMPNS, &(int){ 1 }, sizeof(int)))
		log_debug("port %u: no receive timestamps: %s", port, strerror(errno));
	sock->readable = event_new(m->base, sock->fd, EV_READ | EV_PERSIST, socket_readable, sock);
	if (!sock->readable || event_add(sock->readable, NULL))
		goto fail;
	m->by_port[port] = sock;
	return sock;
fail:
	err = errno; /* the port pool tells a port in use from a lack of descriptors */
	if (sock->fd >= 0)
		close(sock->fd);
	if (sock->readable)
		event_free(sock->readable);
	free(sock);
	errno = err;
	return NULL;
}

static void close_socket(struct media *m, unsigned port)
{
	struct relay_socket *sock = m->by_port[port];

	if (!sock)
		return;
	stun_flush(sock, NULL);
	event_free(sock->readable);
	close(sock->fd);
	free(sock);
	m->by_port[port] = NULL;
}

static int bind_pair(void *ctx, struct in_addr ip, unsigned rtp_port)
{
	struct media *m = ctx;

	if (!open_socket(m, ip, rtp_port))
		return -1;
	if (!open_socket(m, ip, rtp_port + 1)) {
		int err = errno;

		close_socket(m, rtp_port);
		errno = err;
		return -1;
	}
	return 0;
}

static void unbind_pair(void *ctx, struct in_addr ip, unsigned rtp_port)
{
	close_socket(ctx, rtp_port);
	close_socket(ctx, rtp_port + 1);
}

struct port_binder media_port_binder(struct media *m)
{
	return (struct port_binder){ .bind = bind_pair, .unbind = unbind_pair, .ctx = m };
}

/* ---- session events -------------------------------------------------------- */

static struct media_stream *stream_new(struct media *m, struct stream *stream)
{
	struct media_stream *ms = calloc(1, sizeof(*ms));

	if (!ms)
		return NULL;
	ms->m = m;
	ms->stream = stream;
	ms->id = ++m->next_id;
	ms->next = m->streams;
	if (m->streams)
		m->streams->prev = ms;
	m->streams = ms;
	stream->owner = ms;
	return ms;
}

static void on_ports_allocated(void *ctx, struct stream *stream, enum side side)
{
	struct media *m = ctx;
	struct media_stream *ms = stream->owner ? stream->owner : stream_new(m, stream);
	const struct party *party = &stream->party[side];

	if (!ms) {
		log_err("stream of session %s: out of memory", stream->session->call_id);
		return;
	}
	for (int sub = RTP; sub <= RTCP; sub++) {
		struct relay_socket *sock = m->by_port[party->rtp_port + (unsigned)sub];

		ms->legs[side][sub].sock = sock;
		sock->ms = ms;
		sock->side = side;
		sock->sub = sub;
		sock->tx_count = 0;
		arm_timer(ms, side, sub, stream->status == STREAM_ON_HOLD);
	}
}

static void on_stream_closed(void *ctx, struct stream *stream)
{
	struct media *m = ctx;
	struct media_stream *ms = stream->owner;

	if (!ms)
		return;
	if (!m->keep_forwarding) {
		uninstall(ms, RTP);
		uninstall(ms, RTCP);
		count_mos(m, stream);
	}
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++)
		for (int sub = RTP; sub <= RTCP; sub++)
			if (ms->legs[side][sub].sock)
				ms->legs[side][sub].sock->ms = NULL;
	if (ms->prev)
		ms->prev->next = ms->next;
	else
		m->streams = ms->next;
	if (ms->next)
		ms->next->prev = ms->prev;
	stream->owner = NULL;
	free(ms);
}

/* doc/relay-sessions.md §8, §10.1: hold swaps the no-traffic timers for on-hold ones, and back. */
static void on_hold_changed(void *ctx, struct stream *stream)
{
	struct media_stream *ms = stream->owner;
	bool hold = stream->status == STREAM_ON_HOLD;

	for (enum side side = SIDE_CALLER; ms && side <= SIDE_CALLEE; side++)
		for (int sub = RTP; sub <= RTCP; sub++) {
			cancel_timer(ms, side, sub);
			if (hold)
				arm_timer(ms, side, sub, true);
			else if (!leg_of(stream, side, sub)->in_use)
				arm_timer(ms, side, sub, false);
		}
}

/* doc/relay-sessions.md §9.5: the party moved; its latched addresses become obsolete. */
static void on_party_reset(void *ctx, struct stream *stream, enum side side)
{
	struct media_stream *ms = stream->owner;

	if (!ms)
		return;
	uninstall(ms, RTP);
	uninstall(ms, RTCP);
	for (int sub = RTP; sub <= RTCP; sub++) {
		struct leg *leg = leg_of(stream, side, sub);

		leg->in_use = leg->got_media = false;
		ms->legs[side][sub].sock->tx_count = 0;
		cancel_timer(ms, side, sub);
		arm_timer(ms, side, sub, false);
	}
	ms->reset_ns[side] = clock_now().mono_ns;
	log_info("stream %u: the %s moved to %s:%u", ms->id, side_name(side), stream->party[side].sdp_ip,
		 stream->party[side].sdp_port);
}

/* doc/relay-sessions.md §14: the caller side towards the caller's signaling address, the callee
 * side towards the destination when signaling_ip gave one.
 */
static struct in_addr local_address(void *ctx, const struct session *s, enum side side)
{
	struct media *m = ctx;
	struct in_addr peer = side == SIDE_CALLEE && s->destination_address.s_addr ? s->destination_address
										  : s->caller_address;
	struct in_addr src;

	if (!peer.s_addr || netif_source_address(peer, &src))
		return m->cfg.relay_ip;
	return src;
}

struct session_events media_session_events(struct media *m)
{
	return (struct session_events){
		.ctx = m,
		.ports_allocated = on_ports_allocated,
		.stream_closed = on_stream_closed,
		.hold_changed = on_hold_changed,
		.party_reset = on_party_reset,
		.local_address = m->cfg.auto_detect_interfaces ? local_address : NULL,
	};
}

/* ---- idle scan and timers (doc/fast-path.md §5) --------------------------------- */

static void report_dropped(struct media_stream *ms, int sub)
{
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		struct media_leg *ml = &ms->legs[side][sub];

		if (ml->live.dropped_src > ml->dropped_src)
			log_warn("stream %u: %llu packets from unexpected sources on the %s %s port dropped", ms->id,
				 (unsigned long long)(ml->live.dropped_src - ml->dropped_src), side_name(side),
				 sub == RTCP ? "RTCP" : "RTP");
		ml->dropped_src = ml->live.dropped_src;
	}
}

/* Reads the installed substream's counters; true when it went idle. */
static bool substream_idle(struct media_stream *ms, int sub, uint64_t now_ns)
{
	struct media *m = ms->m;
	struct substream s = substream_of(ms, sub);
	struct leg_counters live[2];
	unsigned timeout = ms->stream->status == STREAM_ON_HOLD ? m->cfg.on_hold_timeout : m->cfg.idle_timeout;
	uint64_t last;

	if (forwarder_read(m->fwd, &s, live))
		return true; /* the kernel's own idle timeout removed the entry */
	set_live_counters(ms, sub, live);
	report_dropped(ms, sub);
	/* our own relaying stopped at the installation: only the kernel knows */
	if (forwarder_expires_idle(m->fwd))
		return false;
	last = ms->relayed_ns[sub];
	for (int i = 0; i < 2; i++)
		if (live[i].last_seen_ns > last)
			last = live[i].last_seen_ns;
	return last && now_ns > last && now_ns - last >= timeout * NS_PER_S;
}

/* Once a second: the leg timers that are due (doc/relay-sessions.md §10.1), then the installed
 * substreams that went idle (doc/relay-sessions.md §10.2).
 */
static void idle_scan(evutil_socket_t fd, short what, void *arg)
{
	struct media *m = arg;
	uint64_t now_ns = clock_now().mono_ns;
	struct media_stream *ms;

	for (ms = m->streams; ms; ms = ms->next)
		for (int sub = RTP; sub <= RTCP; sub++)
			ms->idle[sub] = ms->installed[sub] && substream_idle(ms, sub, now_ns);
	/* Acting may end whole sessions and free streams further down the
	 * list, so start again from the top after each one.
	 */
	for (ms = m->streams; ms;) {
		if (fire_due_timer(ms, now_ns)) {
			ms = m->streams;
		} else if (ms->idle[RTP]) {
			unsigned timeout = ms->stream->status == STREAM_ON_HOLD ? m->cfg.on_hold_timeout
										   : m->cfg.idle_timeout;

			expire_stream(ms, STREAM_CONNTRACK_TIMEOUT, timeout);
			ms = m->streams;
		} else if (ms->idle[RTCP]) {
			ms->idle[RTCP] = false;
			forget_rtcp(ms);
		} else {
			ms = ms->next;
		}
	}
}

/* ---- restart ------------------------------------------------------------------ */

const struct media_counters *media_counters(const struct media *m)
{
	return &m->counters;
}

void media_keep_forwarding(struct media *m)
{
	m->keep_forwarding = true;
}

/* Whether a stream has quality figures to keep: a packet counted on an RTP
 * leg, an RTCP datagram read, or RTP the conntrack tier forwarded unseen.
 */
static bool quality_measured(const struct media_stream *ms)
{
	bool measured = ms->rtp_unseen;

	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		const struct mp_rtp_leg *rtp = &ms->legs[side][RTP].rtp;

		measured |= rtp->sources || rtp->not_rtp || ms->rtcp[side].reports || ms->rtcp[side].malformed;
	}
	return measured;
}

json_t *media_stream_save(const struct stream *stream)
{
	json_t *saved;

	if (!stream->owner)
		return json_null();
	saved = json_fields_write(saved_fields, stream->owner);
	/* none for a stream without figures: the state file of a relay with
	 * many calls not yet flowing stays as small as it was
	 */
	if (saved && quality_measured(stream->owner) &&
	    json_object_set_new(saved, "quality", json_fields_write(quality_fields, stream->owner))) {
		json_decref(saved);
		return NULL;
	}
	return saved;
}

/* A saved stream's "quality", into `ms`: 0 when absent (an earlier relay's file). */
static int quality_read(const json_t *saved, struct media_stream *ms, struct json_fields_error *err)
{
	const json_t *quality = json_object_get(saved, "quality");

	if (!quality || !json_fields_read(quality_fields, quality, ms, err))
		return 0;
	json_fields_error_within(err, "quality");
	return -1;
}

int media_stream_check(const json_t *saved, struct json_fields_error *err)
{
	struct media_stream scratch = { 0 };

	return json_fields_read(saved_fields, saved, &scratch, err) || quality_read(saved, &scratch, err) ? -1 : 0;
}

int media_stream_restore(struct media *m, struct stream *stream, const json_t *saved)
{
	struct json_fields_error err;
	struct media_stream *ms = stream_new(m, stream);

	if (!ms)
		return -1;
	/* media_stream_check() passed: neither can fail */
	json_fields_read(saved_fields, saved, ms, &err);
	quality_read(saved, ms, &err);
	if (ms->id > m->next_id)
		m->next_id = ms->id;
	for (enum side side = SIDE_CALLER; side <= SIDE_CALLEE; side++) {
		const struct party *party = &stream->party[side];

		for (int sub = RTP; sub <= RTCP; sub++) {
			struct relay_socket *sock = party->has_ports ? m->by_port[party->rtp_port + (unsigned)sub] : NULL;

			if (sock) {
				ms->legs[side][sub].sock = sock;
				*sock = (struct relay_socket){ .m = m, .fd = sock->fd, .readable = sock->readable,
							       .ms = ms, .side = side, .sub = sub };
			}
		}
	}
	for (int sub = RTP; sub <= RTCP; sub++) {
		struct substream s = substream_of(ms, sub);
		struct leg_counters live[2] = { 0 };

		/* a read that fails may still have found one leg's counters: they count */
		ms->installed[sub] = ms->installed[sub] && !forwarder_read(m->fwd, &s, live);
		/* forwarded by the previous run: not this one's to count */
		ms->legs[SIDE_CALLER][sub].live = live[SIDE_CALLER];
		ms->legs[SIDE_CALLEE][sub].live = live[SIDE_CALLEE];
		set_live_counters(ms, sub, live);
	}
	stream->in_kernel = ms->installed[RTP] && m->fwd->tier != FORWARDER_USERSPACE;
	return 0;
}

static bool entry_claimed(void *ctx, struct in_addr local_ip, uint16_t port)
{
	struct media *m = ctx;
	const struct relay_socket *sock = m->by_port[port];

	return sock && sock->ms && sock->ms->installed[sock->sub] &&
	       sock->ms->stream->party[sock->side].local_ip.s_addr == local_ip.s_addr;
}

void media_prune(struct media *m)
{
	unsigned deleted = forwarder_prune(m->fwd, entry_claimed, m);

	if (deleted)
		log_info("restart: %u forwarding entries belonged to no saved stream and were deleted", deleted);
}

/* ---- life cycle -------------------------------------------------------------- */

struct media *media_new(struct event_base *base, const struct media_config *cfg, struct forwarder *fwd,
			const struct media_owner *owner)
{
	struct media *m = calloc(1, sizeof(*m));
	struct timeval every = { .tv_sec = IDLE_SCAN_INTERVAL };

	if (!m)
		return NULL;
	*m = (struct media){ .base = base, .cfg = *cfg, .fwd = fwd, .owner = *owner };
	if (!m->cfg.transmit_every)
		m->cfg.transmit_every = 1;
	m->by_port = calloc(65536, sizeof(*m->by_port));
	m->rx_buf = malloc(RECV_BATCH * sizeof(*m->rx_buf));
	m->idle_scan = event_new(base, -1, EV_PERSIST, idle_scan, m);
	if (!m->by_port || !m->rx_buf || !m->idle_scan || event_add(m->idle_scan, &every)) {
		media_free(m);
		return NULL;
	}
	return m;
}

void media_set_sessions(struct media *m, struct sessions *sessions)
{
	m->sessions = sessions;
}

/* Sessions go first (sessions_free closes their streams and ports). */
void media_free(struct media *m)
{
	if (!m)
		return;
	if (m->idle_scan)
		event_free(m->idle_scan);
	if (m->by_port)
		for (unsigned port = 0; port < 65536; port++)
			close_socket(m, port);
	free(m->by_port);
	free(m->rx_buf);
	free(m);
}
