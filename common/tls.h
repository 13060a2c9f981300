/* TLS of the dispatcher <-> relay link and of the management port
 * (doc/relay-protocol.md §3, doc/config.md §4), with OpenSSL.
 *
 * Start-up:
 *	const char *dirs[] = { local_dir, MP_SYSTEM_CONFIG_DIR };
 *	struct mp_tls_files files;
 *	struct mp_tls *tls;
 *	if (mp_tls_find_files(cfg->tls.certs_path, dirs, 2, MP_TLS_ROLE_RELAY, &files, err, sizeof(err)) ||
 *	    !(tls = mp_tls_new(&files, MP_TLS_CLIENT, err, sizeof(err))))
 *		-> log_err("%s", err), do not start
 *
 * Each connection (libevent 2.1 with libevent_openssl):
 *	SSL *ssl = mp_tls_new_ssl(tls);
 *	bev = bufferevent_openssl_socket_new(base, fd, ssl,
 *		server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
 *		BEV_OPT_CLOSE_ON_FREE);
 *   BEV_EVENT_CONNECTED: mp_tls_check_passport(ssl, &passport, why, ...) and on
 *	failure log "refused due to wrong passport: <why>", mp_tls_close_notify(ssl),
 *	bufferevent_free(bev).
 *   BEV_EVENT_ERROR: mp_tls_error_reason(ssl, bufferevent_get_openssl_error(bev), ...)
 *	says why (certificate verify failed: certificate revoked, no certificate, ...).
 *	With TLS 1.3 a client whose certificate the server refuses completes its
 *	handshake and only sees the server's alert (or a reset) on its first read;
 *	the server knows why.
 *   Every cfg->tls.verify_interval seconds: mp_tls_reload_crl(tls) once, then
 *	mp_tls_reverify(tls, ssl, ...) for each established connection; close those
 *	that fail.  mp_tls_reload_crl also suits a SIGHUP handler.
 *
 * Verification (both directions): chain to ca.pem, CRL of crl.pem for the
 * peer's certificate, validity periods, TLS 1.2 minimum.  No host-name check
 * and no SNI.  An extended key usage or Netscape cert type that does not allow
 * the use, and a CRL past its nextUpdate, only log a warning.
 * Everything is single-threaded (the daemons' event loop).
 */
#ifndef MP_TLS_H
#define MP_TLS_H

#include <limits.h>
#include <stddef.h>
#include <openssl/ssl.h>
#include "config_types.h"

#define MP_TLS_ROLE_RELAY "relay"
#define MP_TLS_ROLE_DISPATCHER "dispatcher" /* also the management port's */

/* The credential files of one role. */
struct mp_tls_files {
	char dir[PATH_MAX];  /* the certs_path directory that was found */
	char ca[PATH_MAX];   /* dir/ca.pem */
	char crl[PATH_MAX];  /* dir/crl.pem */
	char cert[PATH_MAX]; /* dir/<role>.crt */
	char key[PATH_MAX];  /* dir/<role>.key */
};

/* Where the credentials of `role` ("relay", "dispatcher", or another name
 * such as "management") are.  An absolute `certs_path` is taken as it is; a
 * relative one is looked up under each of `dirs` in order (normally the
 * program's local configuration directory, then /etc/mediaproxy; NULL or
 * empty entries are skipped) and the first existing directory is used.
 * Does not check the files themselves (mp_tls_new does).  Returns 0, or -1
 * with the places searched in `err`.
 */
int mp_tls_find_files(const char *certs_path, const char *const *dirs, size_t ndirs, const char *role,
		      struct mp_tls_files *files, char *err, size_t err_len);

enum mp_tls_side {
	MP_TLS_SERVER, /* accepts; requests and requires the peer's certificate (dispatcher) */
	MP_TLS_CLIENT, /* connects; verifies the server's certificate (relay, management client) */
};

struct mp_tls; /* an SSL_CTX with its CA and CRL */

/* Reads ca.pem, crl.pem (mandatory), the certificate and its key, and makes
 * the context.  Returns NULL with "<file>: <reason>" in `err` when a file is
 * missing, unreadable or wrong (the key does not match the certificate, the
 * CRL is not signed by the CA, ...).  Warnings (own certificate expired,
 * CRL past its nextUpdate) go to the log.
 */
struct mp_tls *mp_tls_new(const struct mp_tls_files *files, enum mp_tls_side side, char *err, size_t err_len);
void mp_tls_free(struct mp_tls *tls);

/* The context, e.g. for SSL_new or for options of one's own. */
SSL_CTX *mp_tls_ctx(struct mp_tls *tls);

/* A new SSL for one connection, for bufferevent_openssl_socket_new (which
 * sets it to connect or accept); NULL if out of memory.  No SNI is sent.
 */
SSL *mp_tls_new_ssl(struct mp_tls *tls);

/* Re-reads crl.pem if its modification time (or size, or inode) changed
 * since it was loaded.  Returns 1 when a new CRL is in use, 0 when the file
 * did not change, -1 when the new file is missing or bad: the error is
 * logged and the CRL in use is kept.  New handshakes and mp_tls_reverify use
 * the new CRL; established connections are unaffected until re-verified.
 */
int mp_tls_reload_crl(struct mp_tls *tls);

/* Re-checks an established connection's peer certificate: its chain to the
 * CA, its validity period now, and its serial against the CRL in use.
 * Returns 0 while it passes, or -1 with why not ("certificate has expired",
 * "certificate revoked", ...) in `why`.
 */
int mp_tls_reverify(struct mp_tls *tls, SSL *ssl, char *why, size_t why_len);

/* The passport check (doc/relay-protocol.md §3.4) of the peer's certificate subject after the
 * handshake.  A passport with count 0 (None) accepts any peer.  Returns 0 on
 * a match, or -1 with the first mismatch in `why`, e.g.
 * "CN 'relay-7' does not match 'dispatcher*'" or "subject has no OU".
 */
int mp_tls_check_passport(SSL *ssl, const struct mp_passport *passport, char *why, size_t why_len);

/* The same check on a subject name (X509_get_subject_name). */
int mp_tls_passport_check_name(const X509_NAME *subject, const struct mp_passport *passport, char *why,
			       size_t why_len);

/* One passport value against a certificate's attribute value: "*rest" means
 * ends with rest, "rest*" starts with rest, anything else equal (all
 * case-sensitive).  Returns 1 on a match.
 */
int mp_tls_passport_value_matches(const char *pattern, const char *value);

/* The peer certificate's subject as one line ("O=MediaProxy, CN=relay"), or
 * "(no certificate)", for the logs.  Returns `buf`.
 */
char *mp_tls_peer_subject(SSL *ssl, char *buf, size_t len);

/* Why a handshake or a TLS read/write failed, for the logs: the
 * certificate verification result if that failed, else the OpenSSL reason of
 * `ssl_err` (bufferevent_get_openssl_error; 0 to take the thread's error
 * queue), else "connection closed".  Returns `buf`.
 */
char *mp_tls_error_reason(SSL *ssl, unsigned long ssl_err, char *buf, size_t len);

/* Why a handshake was refused, for the counters of each TLS port.  The
 * passport and the deadline are the listener's checks; the others come
 * from the handshake itself.
 */
#define MP_TLS_REFUSAL_LIST(X)                                                                            \
	X(NO_CERTIFICATE, "no_certificate") /* the peer showed none */                                 \
	X(UNTRUSTED, "untrusted")           /* not signed by our CA, or a broken chain or signature */ \
	X(EXPIRED, "expired")               /* expired or not valid yet */                             \
	X(REVOKED, "revoked")               /* in crl.pem */                                           \
	X(PASSPORT, "passport")             /* the subject does not match the passport */              \
	X(TIMEOUT, "timeout")               /* no handshake within MP_HANDSHAKE_TIMEOUT_MS */           \
	X(PROTOCOL, "protocol")             /* anything else: not TLS, no common version or cipher */

enum mp_tls_refusal {
#define MP_TLS_REFUSAL_ENUM(id, name) MP_TLS_REFUSED_##id,
	MP_TLS_REFUSAL_LIST(MP_TLS_REFUSAL_ENUM)
#undef MP_TLS_REFUSAL_ENUM
	MP_TLS_REFUSAL_MAX
};

extern const char *const mp_tls_refusal_names[MP_TLS_REFUSAL_MAX];

/* Why the handshake of `ssl` failed with `ssl_err` (as for
 * mp_tls_error_reason); MP_TLS_REFUSAL_MAX when nothing was refused: the
 * peer left before or during it.
 */
enum mp_tls_refusal mp_tls_refusal(SSL *ssl, unsigned long ssl_err);

/* Sends a TLS close_notify (before freeing the bufferevent); never blocks. */
void mp_tls_close_notify(SSL *ssl);

#endif
