/* SPDX-License-Identifier: GPL-2.0 */
/* Incremental Internet checksum update (RFC 1624, eqn. 3):
 *	HC' = ~(~HC + ~m + m')
 * A relay rewrite changes the same words of every packet of a leg in the
 * same way, so ~m + m' is summed once, when the leg's next hop is cached
 * (bpf_csum_diff() over the words before and after), and each packet only
 * adds that sum to its checksum.
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

static __always_inline __u16 mp_csum_fold16(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)((sum & 0xffff) + (sum >> 16));
}

/* ~m + m' over `len` bytes (a multiple of 4), folded to 16 bits. */
static __always_inline __u16 mp_csum_sum(void *from, __u32 from_len, void *to, __u32 to_len)
{
	return mp_csum_fold16((__u32)bpf_csum_diff(from, from_len, to, to_len, 0));
}

/* `check` is the checksum field as stored; so is the result. */
static __always_inline __u16 mp_csum_add(__u16 check, __u16 sum)
{
	return (__u16)~mp_csum_fold16((__u32)(__u16)~check + sum);
}

/* UDP over IPv4: a zero checksum means "none" and stays zero; a computed
 * zero is sent as 0xffff (RFC 768).
 */
static __always_inline __u16 mp_udp_csum_add(__u16 check, __u16 sum)
{
	if (!check)
		return 0;
	check = mp_csum_add(check, sum);
	return check ? check : 0xffff;
}

#endif
