/* A request block from a dispatcher, parsed (doc/relay-protocol.md §5-§6;
 * the media grammar and signaling_ip in doc/proxy-protocol.md §5 and §6).
 * The parser (request_parse.c) fills it; the session code (session.c) acts on it.
 */
#ifndef MP_REQUEST_H
#define MP_REQUEST_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define REQUEST_MAX_STREAMS 32 /* the proxy module's limit */
#define REQUEST_ID_LEN 256     /* call_id, tags */
#define REQUEST_TEXT_LEN 512   /* URIs, user agent, username */

enum command {
	COMMAND_UPDATE,
	COMMAND_REMOVE,
	COMMAND_SUMMARY,
	COMMAND_SESSIONS,
};

enum message_type {
	MESSAGE_REQUEST,
	MESSAGE_REPLY,
};

enum media_direction {
	DIRECTION_SENDRECV,
	DIRECTION_SENDONLY,
	DIRECTION_RECVONLY,
	DIRECTION_INACTIVE,
};

/* One entry of the `media` header: one SDP m-line. */
struct request_media {
	char type[32];          /* "audio", "video", ... as written */
	char ip[64];            /* the c= address as written; "0.0.0.0" is old-style hold */
	unsigned short port;    /* 0: stream disabled or rejected */
	enum media_direction direction;
	bool ice;               /* ice=yes */
};

struct request {
	enum command command;
	char seq[64];           /* opaque token, copied into the reply */

	/* update and remove; a header that was absent or empty is "" / false */
	char call_id[REQUEST_ID_LEN];
	char from_tag[REQUEST_ID_LEN];
	char to_tag[REQUEST_ID_LEN];
	char from_uri[REQUEST_TEXT_LEN];
	char to_uri[REQUEST_TEXT_LEN];
	char user_agent[REQUEST_TEXT_LEN];
	bool has_cseq;
	unsigned cseq;
	bool has_type;
	enum message_type type;

	/* signaling_ip: JSON object, "src_dst" or a plain address */
	bool has_signaling_ip;
	struct in_addr signaling_source;      /* 0.0.0.0 when not given */
	struct in_addr signaling_destination; /* 0.0.0.0 when not given */
	bool has_username;
	char username[REQUEST_TEXT_LEN];

	bool has_media;         /* absent: a SIP message without SDP */
	unsigned stream_count;
	struct request_media streams[REQUEST_MAX_STREAMS];
};

#endif
