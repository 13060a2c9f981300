#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>
#include "forwarder.h"
#include "log.h"
#include "mp_fwd.h"

const char *forwarder_tier_name(enum forwarder_tier tier)
{
	static const char *const names[] = { "bpf", "conntrack", "userspace" };

	return names[tier];
}

static struct mp_fwd_key leg_key(const struct substream *sub, int leg)
{
	return (struct mp_fwd_key){ .local_ip = sub->local_ip[leg].s_addr, .local_port = htons(sub->local_port[leg]) };
}

/* Leg `leg` receives from its remote and sends from the other leg's port
 * to the other leg's remote (doc/fast-path.md §2).
 */
static struct mp_fwd_entry leg_entry(const struct substream *sub, int leg, uint64_t now_ns)
{
	int other = !leg;

	return (struct mp_fwd_entry){
		.expect_ip = sub->remote_ip[leg].s_addr,
		.expect_port = htons(sub->remote_port[leg]),
		.out_saddr = sub->local_ip[other].s_addr,
		.out_sport = htons(sub->local_port[other]),
		.out_daddr = sub->remote_ip[other].s_addr,
		.out_dport = htons(sub->remote_port[other]),
		.flags = MP_FWD_DROP_OTHERS | (sub->rtcp ? MP_FWD_IS_RTCP : 0),
		.stream_id = sub->stream_id,
		.leg = (uint32_t)leg,
		.last_seen_ns = now_ns,
		.rtp = sub->rtp[leg],
	};
}

static struct ct_flow ct_flow_of(const struct substream *sub)
{
	return (struct ct_flow){
		.caller_ip = sub->remote_ip[0], .caller_port = htons(sub->remote_port[0]),
		.relay_caller_ip = sub->local_ip[0], .relay_caller_port = htons(sub->local_port[0]),
		.relay_callee_ip = sub->local_ip[1], .relay_callee_port = htons(sub->local_port[1]),
		.callee_ip = sub->remote_ip[1], .callee_port = htons(sub->remote_port[1]),
	};
}

static void from_ct(const struct ct_counters *c, struct leg_counters out[2])
{
	memset(out, 0, 2 * sizeof(*out));
	out[0].packets = c->caller_packets;
	out[0].bytes = c->caller_bytes;
	out[1].packets = c->callee_packets;
	out[1].bytes = c->callee_bytes;
}

static void from_entry(const struct mp_fwd_entry *e, struct leg_counters *out)
{
	out->packets = e->packets;
	out->bytes = e->bytes;
	out->last_seen_ns = e->last_seen_ns;
	out->dropped_src = e->dropped_src;
	out->has_rtp = true;
	out->rtp = e->rtp;
}

int forwarder_install(struct forwarder *fwd, const struct substream *sub, uint64_t now_ns)
{
	struct mp_fwd_key key[2] = { leg_key(sub, 0), leg_key(sub, 1) };
	struct mp_fwd_entry entry[2] = { leg_entry(sub, 0, now_ns), leg_entry(sub, 1, now_ns) };
	struct ct_flow flow;

	switch (fwd->tier) {
	case FORWARDER_USERSPACE:
		return 0;
	case FORWARDER_CONNTRACK:
		flow = ct_flow_of(sub);
		return conntrack_nat_install(&fwd->ct, &flow, fwd->idle_timeout);
	case FORWARDER_BPF:
		break;
	}
	if (bpf_map_update_elem(fwd->fwd_map, &key[0], &entry[0], BPF_NOEXIST))
		goto fail;
	if (bpf_map_update_elem(fwd->fwd_map, &key[1], &entry[1], BPF_NOEXIST)) {
		int err = errno;

		bpf_map_delete_elem(fwd->fwd_map, &key[0]);
		errno = err;
		goto fail;
	}
	return 0;
fail:
	log_warn("stream %u: cannot install the %s forwarding entries: %s", sub->stream_id, sub->rtcp ? "RTCP" : "RTP",
		 strerror(errno));
	return -1;
}

int forwarder_read(struct forwarder *fwd, const struct substream *sub, struct leg_counters out[2])
{
	struct mp_fwd_entry entry;
	struct ct_counters c;
	struct ct_flow flow;

	memset(out, 0, 2 * sizeof(*out));
	switch (fwd->tier) {
	case FORWARDER_USERSPACE:
		return 0;
	case FORWARDER_CONNTRACK:
		flow = ct_flow_of(sub);
		if (conntrack_nat_read(&fwd->ct, &flow, &c))
			return -1;
		from_ct(&c, out);
		return 0;
	case FORWARDER_BPF:
		break;
	}
	for (int leg = 0; leg < 2; leg++) {
		struct mp_fwd_key key = leg_key(sub, leg);

		if (bpf_map_lookup_elem(fwd->fwd_map, &key, &entry))
			return -1;
		from_entry(&entry, &out[leg]);
	}
	return 0;
}

/* Atomic where the kernel can (hash maps, Linux 5.14): no packet counted
 * between the read and the delete is lost.
 */
static int take_entry(struct forwarder *fwd, const struct mp_fwd_key *key, struct mp_fwd_entry *entry)
{
	if (!fwd->no_lookup_and_delete) {
		if (!bpf_map_lookup_and_delete_elem(fwd->fwd_map, key, entry))
			return 0;
		/* 524 is the kernel's own ENOTSUPP, which 5.10-5.13 return here */
		if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP && errno != 524)
			return -1;
		fwd->no_lookup_and_delete = true;
		log_info("fast path: this kernel cannot look up and delete in one step; using two");
	}
	if (bpf_map_lookup_elem(fwd->fwd_map, key, entry))
		return -1;
	return bpf_map_delete_elem(fwd->fwd_map, key);
}

void forwarder_remove(struct forwarder *fwd, const struct substream *sub, struct leg_counters out[2])
{
	struct mp_fwd_entry entry;
	struct ct_counters c;
	struct ct_flow flow;

	switch (fwd->tier) {
	case FORWARDER_USERSPACE:
		return;
	case FORWARDER_CONNTRACK:
		flow = ct_flow_of(sub);
		if (!conntrack_nat_remove(&fwd->ct, &flow, &c))
			from_ct(&c, out);
		return;
	case FORWARDER_BPF:
		break;
	}
	for (int leg = 0; leg < 2; leg++) {
		struct mp_fwd_key key = leg_key(sub, leg);

		if (!take_entry(fwd, &key, &entry))
			from_entry(&entry, &out[leg]);
	}
}

bool forwarder_expires_idle(const struct forwarder *fwd)
{
	return fwd->tier == FORWARDER_CONNTRACK;
}

unsigned forwarder_prune(struct forwarder *fwd, bool (*keep)(void *ctx, struct in_addr local_ip, uint16_t port),
			 void *ctx)
{
	struct mp_fwd_key key, next, *prev = NULL;
	unsigned deleted = 0;

	if (fwd->tier != FORWARDER_BPF)
		return 0;
	while (!bpf_map_get_next_key(fwd->fwd_map, prev, &next)) {
		struct in_addr ip = { .s_addr = next.local_ip };

		/* a deleted key cannot lead to the next one: step from the last one kept */
		if (!keep(ctx, ip, ntohs(next.local_port)) && !bpf_map_delete_elem(fwd->fwd_map, &next)) {
			deleted++;
			continue;
		}
		key = next;
		prev = &key;
	}
	return deleted;
}
