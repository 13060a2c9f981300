/* The attributes of one RADIUS accounting record (doc/accounting.md §4.2), made
 * from the session's statistics JSON without radcli or a server, so that
 * they can be checked on their own.
 */
#ifndef MP_ACCT_RADIUS_H
#define MP_ACCT_RADIUS_H

#include <stddef.h>
#include <stdint.h>

#define RADIUS_STRING_MAX 253 /* the longest value a RADIUS attribute holds */
#define RADIUS_RECORD_MAX 16  /* attributes in one record, at most */

/* Attribute numbers: the standard ones, then MediaProxy's dictionary. */
enum radius_attr_id {
	RADIUS_USER_NAME = 1,
	RADIUS_NAS_IP_ADDRESS = 4,
	RADIUS_ACCT_STATUS_TYPE = 40,
	RADIUS_ACCT_DELAY_TIME = 41,
	RADIUS_ACCT_INPUT_OCTETS = 42,
	RADIUS_ACCT_OUTPUT_OCTETS = 43,
	RADIUS_ACCT_SESSION_ID = 44,
	RADIUS_ACCT_SESSION_TIME = 46,
	RADIUS_ACCT_INPUT_GIGAWORDS = 52,
	RADIUS_ACCT_OUTPUT_GIGAWORDS = 53,
	RADIUS_SIP_TO_TAG = 104,
	RADIUS_SIP_FROM_TAG = 105,
	RADIUS_MEDIA_CODECS = 233,
	RADIUS_MEDIA_INFO = 234,
	RADIUS_SIP_USER_AGENTS = 235,
	RADIUS_SIP_APPLICATIONS = 236,
};

#define RADIUS_STATUS_UPDATE 3 /* Acct-Status-Type Update (RFC 2866 Interim-Update) */

enum radius_type { RADIUS_STRING, RADIUS_INTEGER, RADIUS_IPADDR };

struct radius_attr {
	enum radius_attr_id id;
	enum radius_type type;
	uint32_t number;                    /* INTEGER; IPADDR in host byte order */
	char string[RADIUS_STRING_MAX + 1]; /* STRING */
};

/* Fills `attrs` with the record of the statistics JSON `info`, in the order
 * of doc/accounting.md §4.2, and returns how many; -1 with the reason in `why` when no record
 * can be made of it (not JSON, no streams).  Byte sums over 2^32 - 1 go
 * into Acct-Input/Output-Gigawords besides the octets (RFC 2869), where the
 * original failed.
 */
int radius_record(const char *info, struct radius_attr attrs[RADIUS_RECORD_MAX], char *why, size_t why_len);

#endif
