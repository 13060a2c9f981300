/* A request block from a dispatcher, parsed (../shared/spec/relay-protocol.md
 * §5-§6, media grammar in signaling.md §5, signaling_ip in signaling.md §6).
 * The parser (request_parse.c) fills it; the session code (session.c) acts on it.
 */
#ifndef MP_REQUEST_H
#define MP_REQUEST_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define MP_MAX_STREAMS 32 /* the proxy module's limit */
#define MP_ID_LEN 256     /* call_id, tags */
#define MP_TEXT_LEN 512   /* URIs, user agent, username */

enum mp_command {
	MP_CMD_UPDATE,
	MP_CMD_REMOVE,
	MP_CMD_SUMMARY,
	MP_CMD_SESSIONS,
};

enum mp_message_type {
	MP_MSG_REQUEST,
	MP_MSG_REPLY,
};

enum mp_direction {
	MP_SENDRECV,
	MP_SENDONLY,
	MP_RECVONLY,
	MP_INACTIVE,
};

/* One entry of the `media` header: one SDP m-line. */
struct mp_media {
	char type[32];          /* "audio", "video", ... as written */
	char ip[64];            /* the c= address as written; "0.0.0.0" is old-style hold */
	unsigned short port;    /* 0: stream disabled or rejected */
	enum mp_direction direction;
	bool ice;               /* ice=yes */
};

struct mp_request {
	enum mp_command command;
	char seq[64];           /* opaque token, copied into the reply */

	/* update and remove; a header that was absent or empty is "" / false */
	char call_id[MP_ID_LEN];
	char from_tag[MP_ID_LEN];
	char to_tag[MP_ID_LEN];
	char from_uri[MP_TEXT_LEN];
	char to_uri[MP_TEXT_LEN];
	char user_agent[MP_TEXT_LEN];
	bool has_cseq;
	unsigned cseq;
	bool has_type;
	enum mp_message_type type;

	/* signaling_ip: JSON object, "src_dst" or a plain address */
	bool has_signaling_ip;
	struct in_addr signaling_source;      /* 0.0.0.0 when not given */
	struct in_addr signaling_destination; /* 0.0.0.0 when not given */
	bool has_username;
	char username[MP_TEXT_LEN];

	bool has_media;         /* absent: a SIP message without SDP */
	unsigned stream_count;
	struct mp_media streams[MP_MAX_STREAMS];
};

#endif
