/* TLS credentials, contexts, passport and re-verification (tls.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "log.h"
#include "tls.h"

struct mp_tls {
	SSL_CTX *ctx;
	enum mp_tls_side side;
	struct mp_tls_files files;
	STACK_OF(X509) *cas; /* ca.pem, kept to rebuild the store on a CRL reload */
	struct stat crl_stat; /* crl.pem when it was last read */
	time_t crl_stale_warned_at; /* when the CRL's "past nextUpdate" warning was last logged */
};

/* ex_data slots: the mp_tls of an X509_STORE, the verification failure of an SSL */
static int store_tls_idx = -1, ssl_reason_idx = -1;

static void free_reason(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static int init_indexes(void)
{
	if (store_tls_idx < 0)
		store_tls_idx = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ssl_reason_idx < 0)
		ssl_reason_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_reason);
	return store_tls_idx >= 0 && ssl_reason_idx >= 0 ? 0 : -1;
}

/* OpenSSL's reason for the last failure, and an empty error queue. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()))
		last = e;
	if (!last)
		snprintf(buf, len, "unknown OpenSSL error");
	else if (ERR_reason_error_string(last))
		snprintf(buf, len, "%s", ERR_reason_error_string(last));
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

static char *name_string(const X509_NAME *name, char *buf, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int n;

	snprintf(buf, len, "(unreadable subject)");
	if (!bio)
		return buf;
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB));
	n = BIO_read(bio, buf, (int)len - 1);
	if (n >= 0)
		buf[n] = '\0';
	BIO_free(bio);
	return buf;
}

/* ---- files ---- */

static int join(char *out, size_t len, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(out, len, "%s/%s%s", dir, name, ext);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int mp_tls_find_files(const char *certs_path, const char *const *dirs, size_t ndirs, const char *role,
		      struct mp_tls_files *files, char *err, size_t err_len)
{
	char tried[1024] = "", candidate[PATH_MAX];
	bool found = false;

	memset(files, 0, sizeof(*files));
	if (!role || !*role || strchr(role, '/'))
		return snprintf(err, err_len, "bad TLS role name '%s'", role ? role : ""), -1;
	if (!certs_path || !*certs_path)
		return snprintf(err, err_len, "[TLS] certs_path is empty"), -1;
	if (certs_path[0] == '/') {
		if (!is_dir(certs_path))
			return snprintf(err, err_len, "[TLS] certs_path %s: not a directory", certs_path), -1;
		found = snprintf(candidate, sizeof(candidate), "%s", certs_path) < (int)sizeof(candidate);
	} else {
		for (size_t i = 0; i < ndirs && !found; i++) {
			size_t used = strlen(tried);

			if (!dirs[i] || !*dirs[i])
				continue;
			if (join(candidate, sizeof(candidate), dirs[i], certs_path, ""))
				continue;
			found = is_dir(candidate);
			if (snprintf(tried + used, sizeof(tried) - used, "%s%s", used ? ", " : "", candidate) < 0)
				tried[used] = '\0';
		}
		if (!found)
			return snprintf(err, err_len, "[TLS] certs_path %s: no such directory (looked for %s)", certs_path,
					*tried ? tried : "nothing: no directory to search"),
			       -1;
	}
	if (!found || snprintf(files->dir, sizeof(files->dir), "%s", candidate) >= (int)sizeof(files->dir) ||
	    join(files->ca, sizeof(files->ca), candidate, "ca", ".pem") ||
	    join(files->crl, sizeof(files->crl), candidate, "crl", ".pem") ||
	    join(files->cert, sizeof(files->cert), candidate, role, ".crt") ||
	    join(files->key, sizeof(files->key), candidate, role, ".key"))
		return snprintf(err, err_len, "[TLS] certs_path %s: path too long", certs_path), -1;
	return 0;
}

/* Opens a PEM file as a BIO; NULL with "<path>: <strerror>" in err. */
static BIO *open_pem(const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	BIO *bio;

	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	bio = BIO_new_fp(f, BIO_CLOSE);
	if (!bio) {
		fclose(f);
		snprintf(err, err_len, "%s: out of memory", path);
	}
	return bio;
}

static STACK_OF(X509) *read_cas(const char *path, char *err, size_t err_len)
{
	STACK_OF(X509) *cas;
	BIO *bio = open_pem(path, err, err_len);
	X509 *x;
	unsigned long last;
	char reason[256], subject[512];

	if (!bio)
		return NULL;
	cas = sk_X509_new_null();
	while (cas && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(cas, x))
			X509_free(x);
	BIO_free(bio);
	/* the loop ends with "no start line" at the end of the file, or on a bad certificate */
	last = ERR_peek_last_error();
	if (cas && ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		if (!sk_X509_num(cas))
			snprintf(err, err_len, "%s: no PEM certificate in the file", path);
	} else {
		snprintf(err, err_len, "%s: %s", path, ssl_reason(reason, sizeof(reason)));
		sk_X509_pop_free(cas, X509_free);
		return NULL;
	}
	if (!sk_X509_num(cas)) {
		sk_X509_free(cas);
		return NULL;
	}
	for (int i = 0; i < sk_X509_num(cas); i++) {
		x = sk_X509_value(cas, i);
		if (!X509_check_ca(x)) {
			snprintf(err, err_len, "%s: %s is not a CA certificate", path,
				 name_string(X509_get_subject_name(x), subject, sizeof(subject)));
			sk_X509_pop_free(cas, X509_free);
			return NULL;
		}
	}
	return cas;
}

/* Warns when the CRL is past its nextUpdate (or before its lastUpdate): at
 * load, then at most once an hour while it is used.
 */
static void warn_stale_crl(struct mp_tls *tls, const X509_CRL *crl)
{
	const ASN1_TIME *next, *last;
	time_t now = time(NULL);

	if (!crl || (tls->crl_stale_warned_at && now - tls->crl_stale_warned_at < 3600))
		return;
	next = X509_CRL_get0_nextUpdate(crl);
	last = X509_CRL_get0_lastUpdate(crl);
	if (next && X509_cmp_time(next, &now) < 0) {
		log_warn("*** %s is EXPIRED (its nextUpdate has passed); it is still used, but update it from the CA now ***",
			 tls->files.crl);
		tls->crl_stale_warned_at = now;
	} else if (last && X509_cmp_time(last, &now) > 0) {
		log_warn("*** %s is not valid yet (lastUpdate in the future: is the clock right?); it is used anyway ***",
			 tls->files.crl);
		tls->crl_stale_warned_at = now;
	}
}

/* Reads crl.pem and checks that one of the CAs signed it. */
static X509_CRL *read_crl(const struct mp_tls *tls, char *err, size_t err_len)
{
	const char *path = tls->files.crl;
	BIO *bio = open_pem(path, err, err_len);
	X509_CRL *crl;
	char reason[256];

	if (!bio) {
		size_t n = strlen(err);

		if (errno == ENOENT)
			snprintf(err + n, err_len - n, " (crl.pem is mandatory; an empty CRL signed by the CA will do)");
		return NULL;
	}
	crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!crl) {
		snprintf(err, err_len, "%s: not a PEM CRL: %s", path, ssl_reason(reason, sizeof(reason)));
		return NULL;
	}
	for (int i = 0; i < sk_X509_num(tls->cas); i++) {
		X509 *ca = sk_X509_value(tls->cas, i);

		if (!X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			return crl;
	}
	ERR_clear_error();
	snprintf(err, err_len, "%s: not signed by the CA of %s", path, tls->files.ca);
	X509_CRL_free(crl);
	return NULL;
}

/* ---- verification ---- */

/* The verification callback of handshakes and re-verifications: an expired
 * CRL and an unsuitable key usage purpose are accepted with a warning; any
 * other failure is recorded on the SSL for mp_tls_error_reason.
 */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
	struct mp_tls *tls = X509_STORE_get_ex_data(X509_STORE_CTX_get0_store(sctx), store_tls_idx);
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	X509 *cert = X509_STORE_CTX_get_current_cert(sctx);
	int error = X509_STORE_CTX_get_error(sctx);
	char subject[512] = "(no certificate)", *reason;

	if (ok)
		return 1;
	if (cert)
		name_string(X509_get_subject_name(cert), subject, sizeof(subject));
	switch (error) {
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
		/* doc/relay-protocol.md §3.2 Ambiguity: a stale CRL must not cut every peer at once */
		if (tls)
			warn_stale_crl(tls, X509_STORE_CTX_get0_current_crl(sctx));
		X509_STORE_CTX_set_error(sctx, X509_V_OK); /* not left as the SSL's verify result */
		return 1;
	case X509_V_ERR_INVALID_PURPOSE:
		/* doc/relay-protocol.md §3.2: no extended key usage or Netscape cert type is required */
		if (ssl)
			log_warn("certificate %s does not allow TLS %s use (extended key usage or Netscape cert type); "
				 "accepted anyway",
				 subject, SSL_is_server(ssl) ? "client" : "server");
		X509_STORE_CTX_set_error(sctx, X509_V_OK);
		return 1;
	}
	if (ssl && asprintf(&reason, "%s (certificate %s)", X509_verify_cert_error_string(error), subject) >= 0) {
		if (!SSL_set_ex_data(ssl, ssl_reason_idx, reason))
			free(reason);
	}
	return 0;
}

/* A store with the CAs and the CRL; takes the CRL. */
static X509_STORE *make_store(struct mp_tls *tls, X509_CRL *crl)
{
	X509_STORE *store = X509_STORE_new();
	bool good = store && X509_STORE_add_crl(store, crl);

	for (int i = 0; good && i < sk_X509_num(tls->cas); i++)
		good = X509_STORE_add_cert(store, sk_X509_value(tls->cas, i));
	good = good && X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK) &&
	       X509_STORE_set_ex_data(store, store_tls_idx, tls);
	X509_CRL_free(crl); /* the store holds its own reference */
	if (!good) {
		X509_STORE_free(store);
		return NULL;
	}
	X509_STORE_set_verify_cb(store, verify_cb);
	return store;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0; /* keys are unencrypted; never prompt on the terminal */
}

static int load_credentials(struct mp_tls *tls, char *err, size_t err_len)
{
	const struct mp_tls_files *f = &tls->files;
	char reason[256];
	BIO *bio;

	/* open first, for a plain "No such file or directory" */
	if (!(bio = open_pem(f->cert, err, err_len)))
		return -1;
	BIO_free(bio);
	if (SSL_CTX_use_certificate_chain_file(tls->ctx, f->cert) != 1)
		return snprintf(err, err_len, "%s: %s", f->cert, ssl_reason(reason, sizeof(reason))), -1;
	if (!(bio = open_pem(f->key, err, err_len)))
		return -1;
	BIO_free(bio);
	SSL_CTX_set_default_passwd_cb(tls->ctx, no_passphrase);
	if (SSL_CTX_use_PrivateKey_file(tls->ctx, f->key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			return snprintf(err, err_len, "%s: not the key of %s: %s", f->key, f->cert,
					ssl_reason(reason, sizeof(reason))),
			       -1;
		return snprintf(err, err_len, "%s: %s (an unencrypted PEM private key is needed)", f->key,
				ssl_reason(reason, sizeof(reason))),
		       -1;
	}
	if (SSL_CTX_check_private_key(tls->ctx) != 1)
		return snprintf(err, err_len, "%s: not the key of %s: %s", f->key, f->cert,
				ssl_reason(reason, sizeof(reason))),
		       -1;
	return 0;
}

/* Warns about an own certificate that the peers will refuse. */
static void check_own_certificate(struct mp_tls *tls)
{
	X509 *own = SSL_CTX_get0_certificate(tls->ctx);
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = NULL;

	if (!own || !sctx)
		goto out;
	SSL_CTX_get0_chain_certs(tls->ctx, &chain);
	if (X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(tls->ctx), own, chain) == 1 &&
	    X509_verify_cert(sctx) != 1)
		log_warn("%s does not verify against %s and %s: %s; peers will refuse it", tls->files.cert,
			 tls->files.ca, tls->files.crl, X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
	else if (X509_cmp_time(X509_get0_notAfter(own), &(time_t){ time(NULL) + 30 * 86400 }) < 0)
		log_warn("%s expires within 30 days", tls->files.cert);
out:
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
}

struct mp_tls *mp_tls_new(const struct mp_tls_files *files, enum mp_tls_side side, char *err, size_t err_len)
{
	struct mp_tls *tls = calloc(1, sizeof(*tls));
	X509_STORE *store;
	X509_CRL *crl;
	char reason[256];
	static const unsigned char sid_ctx[] = "mediaproxy";

	if (!tls || init_indexes()) {
		snprintf(err, err_len, "out of memory");
		free(tls);
		return NULL;
	}
	tls->side = side;
	tls->files = *files;
	tls->ctx = SSL_CTX_new(side == MP_TLS_SERVER ? TLS_server_method() : TLS_client_method());
	if (!tls->ctx) {
		snprintf(err, err_len, "cannot make a TLS context: %s", ssl_reason(reason, sizeof(reason)));
		goto fail;
	}
	if (!(tls->cas = read_cas(files->ca, err, err_len)))
		goto fail;
	if (stat(files->crl, &tls->crl_stat))
		memset(&tls->crl_stat, 0, sizeof(tls->crl_stat));
	if (!(crl = read_crl(tls, err, err_len)))
		goto fail;
	warn_stale_crl(tls, crl);
	if (!(store = make_store(tls, crl))) {
		snprintf(err, err_len, "cannot make the certificate store: %s", ssl_reason(reason, sizeof(reason)));
		goto fail;
	}
	SSL_CTX_set_cert_store(tls->ctx, store);
	if (load_credentials(tls, err, err_len))
		goto fail;
	check_own_certificate(tls);

	SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(tls->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER | (side == MP_TLS_SERVER ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
			   verify_cb);
	/* No resumption: every connection runs the full verification with the current CRL. */
	SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(tls->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(tls->ctx, 0);
	SSL_CTX_set_session_id_context(tls->ctx, sid_ctx, sizeof(sid_ctx) - 1);
	return tls;
fail:
	mp_tls_free(tls);
	ERR_clear_error();
	return NULL;
}

void mp_tls_free(struct mp_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	sk_X509_pop_free(tls->cas, X509_free);
	free(tls);
}

SSL_CTX *mp_tls_ctx(struct mp_tls *tls)
{
	return tls->ctx;
}

SSL *mp_tls_new_ssl(struct mp_tls *tls)
{
	SSL *ssl = SSL_new(tls->ctx);

	if (!ssl)
		ERR_clear_error();
	return ssl;
}

int mp_tls_reload_crl(struct mp_tls *tls)
{
	struct stat st;
	X509_STORE *store;
	X509_CRL *crl;
	STACK_OF(X509_REVOKED) *revoked;
	char err[PATH_MAX + 256];
	int nrevoked;

	if (stat(tls->files.crl, &st)) {
		log_err("%s: %s; keeping the CRL loaded before", tls->files.crl, strerror(errno));
		return -1;
	}
	if (st.st_mtim.tv_sec == tls->crl_stat.st_mtim.tv_sec && st.st_mtim.tv_nsec == tls->crl_stat.st_mtim.tv_nsec &&
	    st.st_size == tls->crl_stat.st_size && st.st_ino == tls->crl_stat.st_ino)
		return 0;
	tls->crl_stat = st; /* a bad file is reported once per change */
	if (!(crl = read_crl(tls, err, sizeof(err)))) {
		log_err("%s; keeping the CRL loaded before", err);
		return -1;
	}
	revoked = X509_CRL_get_REVOKED(crl);
	nrevoked = revoked ? sk_X509_REVOKED_num(revoked) : 0;
	if (!(store = make_store(tls, crl))) {
		log_err("%s: cannot make the certificate store: %s; keeping the CRL loaded before", tls->files.crl,
			ssl_reason(err, sizeof(err)));
		return -1;
	}
	SSL_CTX_set_cert_store(tls->ctx, store); /* frees the previous store */
	tls->crl_stale_warned_at = 0;
	log_info("reloaded %s: %d revoked certificate%s", tls->files.crl, nrevoked, nrevoked == 1 ? "" : "s");
	warn_stale_crl(tls, crl); /* the store holds it */
	return 1;
}

int mp_tls_reverify(struct mp_tls *tls, SSL *ssl, char *why, size_t why_len)
{
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *sctx;
	int rc = -1;

	if (!leaf)
		return snprintf(why, why_len, "the peer has no certificate"), -1;
	if (!(sctx = X509_STORE_CTX_new()))
		return snprintf(why, why_len, "out of memory"), -1;
	if (X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(tls->ctx), leaf, SSL_get_peer_cert_chain(ssl)) != 1)
		snprintf(why, why_len, "out of memory");
	else if (X509_verify_cert(sctx) == 1)
		rc = 0;
	else
		snprintf(why, why_len, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
	return rc;
}

/* ---- passport ---- */

int mp_tls_passport_value_matches(const char *pattern, const char *value)
{
	size_t plen = strlen(pattern), vlen = strlen(value);

	if (plen && pattern[0] == '*') /* "*rest": ends with rest */
		return vlen >= plen - 1 && !strcmp(value + vlen - (plen - 1), pattern + 1);
	if (plen && pattern[plen - 1] == '*') /* "rest*": starts with rest */
		return !strncmp(value, pattern, plen - 1);
	return !strcmp(pattern, value);
}

static int attr_nid(const char *attr)
{
	static const struct {
		const char *attr;
		int nid;
	} map[] = {
		{ "O", NID_organizationName },	{ "OU", NID_organizationalUnitName },
		{ "CN", NID_commonName },	{ "C", NID_countryName },
		{ "L", NID_localityName },	{ "ST", NID_stateOrProvinceName },
		{ "EMAIL", NID_pkcs9_emailAddress },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(attr, map[i].attr))
			return map[i].nid;
	return NID_undef;
}

int mp_tls_passport_check_name(const X509_NAME *subject, const struct mp_passport *passport, char *why,
			       size_t why_len)
{
	for (unsigned i = 0; passport && i < passport->count; i++) {
		const char *attr = passport->item[i].attr, *pattern = passport->item[i].value;
		int nid = attr_nid(attr), idx, len, match;
		unsigned char *value = NULL;

		if (nid == NID_undef)
			return snprintf(why, why_len, "unknown passport attribute %s", attr), -1;
		/* the first such attribute of the subject, as the original did */
		idx = subject ? X509_NAME_get_index_by_NID(subject, nid, -1) : -1;
		if (idx < 0)
			return snprintf(why, why_len, "subject has no %s (passport wants '%s')", attr, pattern), -1;
		len = ASN1_STRING_to_UTF8(&value, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
		if (len < 0 || strlen((char *)value) != (size_t)len) {
			OPENSSL_free(value);
			ERR_clear_error();
			return snprintf(why, why_len, "subject's %s is not a readable string", attr), -1;
		}
		match = mp_tls_passport_value_matches(pattern, (char *)value);
		if (!match)
			snprintf(why, why_len, "%s '%s' does not match '%s'", attr, (char *)value, pattern);
		OPENSSL_free(value);
		if (!match)
			return -1;
	}
	return 0;
}

int mp_tls_check_passport(SSL *ssl, const struct mp_passport *passport, char *why, size_t why_len)
{
	X509 *peer;

	if (!passport || !passport->count)
		return 0;
	if (!(peer = SSL_get0_peer_certificate(ssl)))
		return snprintf(why, why_len, "the peer has no certificate"), -1;
	return mp_tls_passport_check_name(X509_get_subject_name(peer), passport, why, why_len);
}

/* ---- logging helpers ---- */

char *mp_tls_peer_subject(SSL *ssl, char *buf, size_t len)
{
	X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;

	if (!peer)
		snprintf(buf, len, "(no certificate)");
	else
		name_string(X509_get_subject_name(peer), buf, len);
	return buf;
}

char *mp_tls_error_reason(SSL *ssl, unsigned long ssl_err, char *buf, size_t len)
{
	const char *recorded = ssl && ssl_reason_idx >= 0 ? SSL_get_ex_data(ssl, ssl_reason_idx) : NULL;
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char reason[256];

	if (recorded)
		snprintf(buf, len, "certificate verify failed: %s", recorded);
	else if (verify != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
	else if (ssl_err == SSL_ERROR_SYSCALL) /* libevent passes SSL_get_error's codes too */
		snprintf(buf, len, "connection reset or closed during TLS");
	else if (ssl_err == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, len, "closed by the peer");
	else if (ssl_err) {
		if (ERR_reason_error_string(ssl_err))
			snprintf(buf, len, "%s", ERR_reason_error_string(ssl_err));
		else
			ERR_error_string_n(ssl_err, buf, len);
	} else if (ERR_peek_error())
		snprintf(buf, len, "%s", ssl_reason(reason, sizeof(reason)));
	else
		snprintf(buf, len, "connection closed");
	return buf;
}

const char *const mp_tls_refusal_names[MP_TLS_REFUSAL_MAX] = {
#define MP_TLS_REFUSAL_NAME(id, name) name,
	MP_TLS_REFUSAL_LIST(MP_TLS_REFUSAL_NAME)
#undef MP_TLS_REFUSAL_NAME
};

enum mp_tls_refusal mp_tls_refusal(SSL *ssl, unsigned long ssl_err)
{
	switch (ssl ? SSL_get_verify_result(ssl) : X509_V_OK) {
	case X509_V_OK:
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return MP_TLS_REFUSED_EXPIRED;
	case X509_V_ERR_CERT_REVOKED:
		return MP_TLS_REFUSED_REVOKED;
	default:
		return MP_TLS_REFUSED_UNTRUSTED;
	}
	/* libevent passes SSL_get_error's codes too: the peer closed or reset */
	if (!ssl_err || ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN)
		return MP_TLS_REFUSAL_MAX;
	if (ERR_GET_LIB(ssl_err) == ERR_LIB_SSL && ERR_GET_REASON(ssl_err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return MP_TLS_REFUSAL_MAX;
	if (ERR_GET_LIB(ssl_err) == ERR_LIB_SSL && ERR_GET_REASON(ssl_err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		return MP_TLS_REFUSED_NO_CERTIFICATE;
	return MP_TLS_REFUSED_PROTOCOL;
}

void mp_tls_close_notify(SSL *ssl)
{
	if (ssl && SSL_is_init_finished(ssl))
		SSL_shutdown(ssl);
	ERR_clear_error();
}
