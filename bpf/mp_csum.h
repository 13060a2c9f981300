/* SPDX-License-Identifier: GPL-2.0 */
/* Incremental Internet checksum update (RFC 1624, eqn. 3):
 *	HC' = ~(~HC + ~m + m')
 * bpf_csum_diff() sums ~m + m' over 4-byte words, seeded with ~HC.
 */
#ifndef MP_CSUM_H
#define MP_CSUM_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The words a relay rewrite changes, laid out as they sit in the packet so
 * that each 16-bit half lines up with a 16-bit word of the header: the
 * addresses, then for IPv4 the TTL/protocol word and zero, for UDP the ports.
 */
struct mp_csum_words {
	__be32 saddr;
	__be32 daddr;
	__be16 w0;
	__be16 w1;
};

static __always_inline __u16 mp_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* `check` is the checksum field as stored; the result is stored as is. */
static __always_inline __u16 mp_csum_replace(__u16 check, struct mp_csum_words *from,
					     struct mp_csum_words *to)
{
	__s64 sum = bpf_csum_diff((__be32 *)from, sizeof(*from), (__be32 *)to, sizeof(*to),
				  (__u16)~check);

	return mp_csum_fold((__u32)sum);
}

/* UDP over IPv4: a zero checksum means "none" and stays zero; a computed
 * zero is sent as 0xffff (RFC 768).
 */
static __always_inline __u16 mp_udp_csum_replace(__u16 check, struct mp_csum_words *from,
						 struct mp_csum_words *to)
{
	if (!check)
		return 0;
	check = mp_csum_replace(check, from, to);
	return check ? check : 0xffff;
}

#endif
