/* The parts of a mysql:// URI (doc/accounting.md §3), apart so that the unit
 * tests reach the parser.
 */
#ifndef MP_ACCT_MYSQL_H
#define MP_ACCT_MYSQL_H

#include <limits.h>
#include <stddef.h>

struct mysql_uri {
	char user[128];
	char password[128];
	char host[256];     /* empty: the local server's default socket */
	unsigned port;      /* 0: the default, 3306 */
	char database[128];
	char unix_socket[PATH_MAX]; /* from ?unix_socket=PATH, else empty */
};

/* mysql://user[:password]@host[:port]/database[?unix_socket=PATH]; user,
 * password, database and the socket path percent-decoded, host may be
 * [IPv6].  0, or -1 with the reason in `why`.
 */
int mysql_uri_parse(const char *uri, struct mysql_uri *u, char *why, size_t why_len);

#endif
