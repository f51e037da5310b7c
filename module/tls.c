/**
 * \file
 * dotpool's TLS client context and the per-connection authentication:
 * host name check, SPKI pins, client certificates, session resumption.
 * OpenSSL's error queue is per thread and shared with Unbound, so every
 * function here leaves it empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "dotpool/tls.h"
#include "dotpool/error.h"
#include "dotpool/log.h"

/** A client certificate loaded once for an upstream: section. */
struct dotpool_tls_client {
	/** next in list */
	struct dotpool_tls_client* next;
	/** the section it belongs to (borrowed from the config) */
	const struct dotpool_upstream_cfg* ucfg;
	/** leaf certificate */
	X509* cert;
	/** intermediates sent with it, may be NULL */
	STACK_OF(X509)* chain;
	/** its private key */
	EVP_PKEY* key;
};

/** The client context shared by all workers. */
struct dotpool_tls {
	/** OpenSSL context */
	SSL_CTX* ctx;
	/** whether CA certificates are loaded */
	int has_ca;
	/** send SNI */
	int use_sni;
	/** keep sessions for resumption */
	int resume;
	/** loaded client certificates */
	struct dotpool_tls_client* clients;
};

/** SSL ex_data slot that points at the upstream's dotpool_tls_auth. Made
 * once in dotpool_tls_create (init, single threaded) and reset on reload
 * because the library is re-opened. */
static int dotpool_tls_exidx = -1;

/** Put OpenSSL's first queued error (or what) into err; empties the queue. */
static void
tls_errmsg(char* err, size_t errlen, const char* what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	if(e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else {
		snprintf(err, errlen, "%s", what);
	}
	ERR_clear_error();
}

/** Store the session the server handed us in the upstream: resumption
 * must never offer it to another name, so no context-wide cache. */
static int
tls_new_session_cb(SSL* ssl, SSL_SESSION* sess)
{
	struct dotpool_tls_auth* a;
	if(dotpool_tls_exidx < 0)
		return 0;
	a = SSL_get_ex_data(ssl, dotpool_tls_exidx);
	if(!a)
		return 0;
	if(a->session)
		SSL_SESSION_free(a->session);
	a->session = sess;
	/* 1: we keep the reference */
	return 1;
}

/** Whether any upstream can authenticate without a CA store. */
static int
tls_cfg_needs_no_ca(const struct dotpool_config* cfg)
{
	const struct dotpool_upstream_cfg* u;
	const struct dotpool_zone_cfg* z;
	if(cfg->profile == DOTPOOL_PROFILE_OPPORTUNISTIC)
		return 1;
	for(z = cfg->zones; z; z = z->next)
		if(z->profile == DOTPOOL_PROFILE_OPPORTUNISTIC)
			return 1;
	for(u = cfg->upstreams; u; u = u->next)
		if(u->num_pins > 0 ||
			u->profile == (int)DOTPOOL_PROFILE_OPPORTUNISTIC)
			return 1;
	return 0;
}

/** Free one loaded client certificate. */
static void
tls_client_free(struct dotpool_tls_client* c)
{
	if(!c)
		return;
	X509_free(c->cert);
	sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->key);
	free(c);
}

/** Load the client certificate (and chain) and key of one section once,
 * so a bad file fails start-up instead of every connection. */
static int
tls_client_load(struct dotpool_tls* t, const struct dotpool_upstream_cfg* u,
	char* err, size_t errlen)
{
	struct dotpool_tls_client* c = calloc(1, sizeof(*c));
	FILE* f = NULL;
	X509* x;
	if(!c) {
		snprintf(err, errlen, "out of memory");
		return DOTPOOL_ENOMEM;
	}
	c->ucfg = u;
	if(!u->client_key) {
		snprintf(err, errlen, "upstream %s: client-cert without "
			"client-key", u->addr);
		goto fail;
	}
	if(!(f = fopen(u->client_cert, "r"))) {
		snprintf(err, errlen, "upstream %s: cannot open %s", u->addr,
			u->client_cert);
		goto fail;
	}
	if(!(c->cert = PEM_read_X509(f, NULL, NULL, NULL))) {
		tls_errmsg(err, errlen, "cannot read client certificate");
		goto fail;
	}
	while((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if(!c->chain && !(c->chain = sk_X509_new_null())) {
			X509_free(x);
			goto fail;
		}
		if(!sk_X509_push(c->chain, x)) {
			X509_free(x);
			goto fail;
		}
	}
	/* the loop ends on end of file, which OpenSSL queues as an error */
	ERR_clear_error();
	fclose(f);
	if(!(f = fopen(u->client_key, "r"))) {
		snprintf(err, errlen, "upstream %s: cannot open %s", u->addr,
			u->client_key);
		goto fail;
	}
	if(!(c->key = PEM_read_PrivateKey(f, NULL, NULL, NULL))) {
		tls_errmsg(err, errlen, "cannot read client key");
		goto fail;
	}
	fclose(f);
	f = NULL;
	if(!X509_check_private_key(c->cert, c->key)) {
		tls_errmsg(err, errlen, "client key does not match certificate");
		goto fail;
	}
	c->next = t->clients;
	t->clients = c;
	return 0;
fail:
	if(f)
		fclose(f);
	tls_client_free(c);
	ERR_clear_error();
	return DOTPOOL_ECONFIG;
}

struct dotpool_tls*
dotpool_tls_create(const struct dotpool_tls_trust* trust,
	const struct dotpool_config* cfg, char* err, size_t errlen)
{
	struct dotpool_tls* t = calloc(1, sizeof(*t));
	const struct dotpool_upstream_cfg* u;
	int minv = TLS1_2_VERSION;
	if(!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	if(cfg->tls_min_version && strcmp(cfg->tls_min_version, "1.3") == 0)
		minv = TLS1_3_VERSION;
	else if(cfg->tls_min_version &&
		strcmp(cfg->tls_min_version, "1.2") != 0) {
		snprintf(err, errlen, "tls-min-version %s: use 1.2 or 1.3",
			cfg->tls_min_version);
		goto fail;
	}
	if(dotpool_tls_exidx < 0) {
		dotpool_tls_exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
			NULL);
		if(dotpool_tls_exidx < 0) {
			tls_errmsg(err, errlen, "SSL_get_ex_new_index");
			goto fail;
		}
	}
	if(!(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		tls_errmsg(err, errlen, "SSL_CTX_new");
		goto fail;
	}
	if(!SSL_CTX_set_min_proto_version(t->ctx, minv)) {
		tls_errmsg(err, errlen, "cannot set the minimum TLS version");
		goto fail;
	}
	if(cfg->tls_ciphers && !SSL_CTX_set_cipher_list(t->ctx,
		cfg->tls_ciphers)) {
		tls_errmsg(err, errlen, "tls-ciphers");
		goto fail;
	}
	if(cfg->tls_ciphersuites && !SSL_CTX_set_ciphersuites(t->ctx,
		cfg->tls_ciphersuites)) {
		tls_errmsg(err, errlen, "tls-ciphersuites");
		goto fail;
	}
	/* partial writes let one slow socket not hold a whole queue;
	 * moving buffer because our write buffer may grow between retries */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION);
	/* one read() takes every record the socket holds; without it
	 * OpenSSL reads a 5-byte header, then the body: two system calls
	 * per answer */
	SSL_CTX_set_read_ahead(t->ctx, 1);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* many DoT servers close idle connections without close_notify;
	 * DNS framing already detects a truncated answer */
	SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if(trust && trust->cert_bundle && trust->cert_bundle[0]) {
		if(!SSL_CTX_load_verify_locations(t->ctx, trust->cert_bundle,
			NULL)) {
			char what[300];
			snprintf(what, sizeof(what), "cannot load tls-cert-bundle "
				"%s", trust->cert_bundle);
			tls_errmsg(err, errlen, what);
			goto fail;
		}
		t->has_ca = 1;
	}
	if(trust && trust->system_store) {
		if(!SSL_CTX_set_default_verify_paths(t->ctx)) {
			tls_errmsg(err, errlen, "cannot load the system CA store");
			goto fail;
		}
		t->has_ca = 1;
	}
	if(!t->has_ca && !tls_cfg_needs_no_ca(cfg)) {
		snprintf(err, errlen, "no CA certificates to authenticate "
			"upstreams: set tls-cert-bundle or tls-system-cert in "
			"unbound.conf, or give pins or the opportunistic profile "
			"in the dotpool settings");
		goto fail;
	}
	t->use_sni = trust ? trust->use_sni : 1;
	t->resume = cfg->session_resumption;
	/* no context-wide store: sessions are kept per upstream only */
	SSL_CTX_set_session_cache_mode(t->ctx, t->resume ?
		(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE) :
		SSL_SESS_CACHE_OFF);
	if(t->resume)
		SSL_CTX_sess_set_new_cb(t->ctx, tls_new_session_cb);
	for(u = cfg->upstreams; u; u = u->next) {
		if(u->client_cert && tls_client_load(t, u, err, errlen) != 0)
			goto fail;
	}
	return t;
fail:
	ERR_clear_error();
	dotpool_tls_free(t);
	return NULL;
}

void
dotpool_tls_free(struct dotpool_tls* t)
{
	struct dotpool_tls_client* c, *n;
	if(!t)
		return;
	for(c = t->clients; c; c = n) {
		n = c->next;
		tls_client_free(c);
	}
	SSL_CTX_free(t->ctx);
	free(t);
}

int
dotpool_tls_has_ca(const struct dotpool_tls* t)
{
	return t && t->has_ca;
}

int
dotpool_tls_use_sni(const struct dotpool_tls* t)
{
	return t && t->use_sni;
}

/** Whether a name is an IP literal rather than a host name. */
static int
tls_is_ip(const char* name)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, name, buf) == 1 ||
		inet_pton(AF_INET6, name, buf) == 1;
}

struct ssl_st*
dotpool_tls_conn_new(struct dotpool_tls* t, struct dotpool_tls_auth* a,
	int fd, char* err, size_t errlen)
{
	SSL* ssl;
	struct dotpool_tls_client* c;
	int npins = a->ucfg ? a->ucfg->num_pins : 0;
	int mode;
	ERR_clear_error();
	if(!(ssl = SSL_new(t->ctx))) {
		tls_errmsg(err, errlen, "SSL_new");
		return NULL;
	}
	if(!SSL_set_ex_data(ssl, dotpool_tls_exidx, a)) {
		tls_errmsg(err, errlen, "SSL_set_ex_data");
		goto fail;
	}
	if(a->name && a->name[0]) {
		if(tls_is_ip(a->name)) {
			if(!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
				a->name)) {
				tls_errmsg(err, errlen, "bad IP auth name");
				goto fail;
			}
		} else {
			/* SNI only for host names: RFC 6066 forbids literals */
			if(t->use_sni && !SSL_set_tlsext_host_name(ssl,
				a->name)) {
				tls_errmsg(err, errlen, "cannot set SNI");
				goto fail;
			}
			SSL_set_hostflags(ssl,
				X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if(!SSL_set1_host(ssl, a->name)) {
				tls_errmsg(err, errlen, "cannot set auth name");
				goto fail;
			}
		}
	}
	/* strict: the chain (and name) must verify during the handshake,
	 * unless pins without a name are the whole authentication (a
	 * self-signed pinned server is fine then); opportunistic: never
	 * abort, judge after the handshake */
	if(a->profile == DOTPOOL_PROFILE_STRICT &&
		((a->name && a->name[0]) || npins == 0))
		mode = SSL_VERIFY_PEER;
	else	mode = SSL_VERIFY_NONE;
	SSL_set_verify(ssl, mode, NULL);
	for(c = t->clients; c; c = c->next) {
		if(c->ucfg != a->ucfg)
			continue;
		if(!SSL_use_cert_and_key(ssl, c->cert, c->key, c->chain, 1)) {
			tls_errmsg(err, errlen, "cannot use client certificate");
			goto fail;
		}
		break;
	}
	if(t->resume && a->session && SSL_SESSION_is_resumable(a->session)) {
		if(!SSL_set_session(ssl, a->session))
			ERR_clear_error(); /* resumption is only an optimisation */
	}
	if(!SSL_set_fd(ssl, fd)) {
		tls_errmsg(err, errlen, "SSL_set_fd");
		goto fail;
	}
	SSL_set_connect_state(ssl);
	return ssl;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

int
dotpool_tls_handshake_error(struct ssl_st* ssl, char* err, size_t errlen)
{
	long v = SSL_get_verify_result(ssl);
	if((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) && v != X509_V_OK) {
		snprintf(err, errlen, "certificate verify failed: %s",
			X509_verify_cert_error_string(v));
		ERR_clear_error();
		return DOTPOOL_EVERIFY;
	}
	tls_errmsg(err, errlen, "TLS handshake failed");
	return DOTPOOL_ETLS;
}

/** SHA-256 of the DER SubjectPublicKeyInfo of a certificate. */
static int
tls_spki_sha256(X509* cert, unsigned char* md)
{
	unsigned char* der = NULL;
	unsigned int mdlen = 0;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int ok;
	if(len <= 0)
		return 0;
	ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok && mdlen == 32;
}

int
dotpool_tls_conn_verify(struct ssl_st* ssl, struct dotpool_tls_auth* a,
	char* err, size_t errlen)
{
	X509* cert = SSL_get0_peer_certificate(ssl);
	int npins = a->ucfg ? a->ucfg->num_pins : 0;
	unsigned char md[32];
	int i;
	if(!cert) {
		snprintf(err, errlen, "server sent no certificate");
		goto fail;
	}
	if(a->profile == DOTPOOL_PROFILE_STRICT && !(a->name && a->name[0]) &&
		npins == 0) {
		/* a chain alone proves nothing: any certificate the CA store
		 * trusts, for any name, would do (refused at load too; this
		 * covers forward zones added at run time) */
		snprintf(err, errlen, "strict profile without a #name or a "
			"pin-sha256: nothing to authenticate the server with");
		goto fail;
	}
	if((a->name && a->name[0]) || npins == 0) {
		long v = SSL_get_verify_result(ssl);
		if(v != X509_V_OK) {
			snprintf(err, errlen, "certificate verify failed: %s",
				X509_verify_cert_error_string(v));
			goto fail;
		}
	}
	if(npins > 0) {
		if(!tls_spki_sha256(cert, md)) {
			snprintf(err, errlen, "cannot hash the server key");
			goto fail;
		}
		for(i = 0; i < npins; i++)
			if(CRYPTO_memcmp(md, a->ucfg->pins[i], 32) == 0)
				break;
		if(i == npins) {
			snprintf(err, errlen, "no pin matches the server key");
			goto fail;
		}
	}
	ERR_clear_error();
	return 0;
fail:
	ERR_clear_error();
	/* an unauthenticated session must not shortcut the next check */
	dotpool_tls_auth_clear(a);
	return DOTPOOL_EVERIFY;
}

void
dotpool_tls_auth_clear(struct dotpool_tls_auth* a)
{
	if(!a || !a->session)
		return;
	SSL_SESSION_free(a->session);
	a->session = NULL;
}
