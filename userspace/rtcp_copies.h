/* The RTCP copies the BPF programs send (doc/fast-path.md §12): read from
 * their perf buffers in the agent's event loop, and handed on one by one.
 */
#ifndef MP_RTCP_COPIES_H
#define MP_RTCP_COPIES_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "mp_fwd.h"

struct rtcp_copies;

/* `deliver` gets each copy's record and its UDP payload, whose length the
 * record says and the reader checked.
 */
typedef void (*rtcp_copies_deliver)(void *ctx, const struct mp_rtcp_copy *copy, const unsigned char *payload);

/* Opens a perf buffer on each CPU's slot of `map_fd` (mp_rtcp); NULL, logged, when it cannot. */
struct rtcp_copies *rtcp_copies_open(struct event_base *base, int map_fd, rtcp_copies_deliver deliver, void *ctx);
void rtcp_copies_close(struct rtcp_copies *rc);

/* Copies the programs could not place because the agent was behind, and
 * records whose lengths did not add up.
 */
uint64_t rtcp_copies_lost(const struct rtcp_copies *rc);

#endif
