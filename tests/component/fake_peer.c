/**
 * \file
 * The fake DoT server of the component tests (see fake_peer.h).
 */
#define _GNU_SOURCE 1 /* accept4 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "fake_peer.h"

char peer_certdir[256];
unsigned char peer_pin[32];


void
pconn_close(struct pconn* pc)
{
	int i;
	if(pc->fd == -1)
		return;
	event_del(&pc->ev);
	event_del(&pc->idle_ev);
	SSL_free(pc->ssl);
	pc->ssl = NULL;
	close(pc->fd);
	pc->fd = -1;
	for(i = 0; i < pc->nheld; i++)
		free(pc->held[i]);
	pc->nheld = 0;
}

/** Write all bytes, in records of `chunk` bytes (0: one record). */
static void
pconn_write(struct pconn* pc, const uint8_t* buf, size_t len, size_t chunk)
{
	size_t off = 0;
	int spins = 0;
	while(off < len) {
		size_t n = chunk ? chunk : len - off;
		int r;
		if(n > len - off)
			n = len - off;
		r = SSL_write(pc->ssl, buf + off, (int)n);
		if(r > 0) {
			off += (size_t)r;
			continue;
		}
		/* bounded: client and server share this thread, a full
		 * socket would otherwise hang the test instead of failing it */
		if(SSL_get_error(pc->ssl, r) == SSL_ERROR_WANT_WRITE &&
			++spins < 3000) {
			usleep(1000);
			continue;
		}
		ERR_clear_error();
		return;
	}
}

/** The connection was idle for idle_close_ms: close it. */
static void
pconn_idle_cb(evutil_socket_t fd, short what, void* arg)
{
	struct pconn* pc = arg;
	(void)fd; (void)what;
	if(pc->fd == -1)
		return;
	pc->peer->idle_closes++;
	pconn_close(pc);
}

/** Start (or restart) the idle clock of a connection. */
static void
pconn_idle_arm(struct pconn* pc)
{
	struct timeval tv;
	int ms = pc->peer->idle_close_ms;
	if(ms <= 0 || pc->fd == -1)
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(&pc->idle_ev, &tv);
}

/** Answer the held queries (in order or reversed), in one write. */
static void
pconn_answer_held(struct pconn* pc)
{
	static uint8_t out[4 * 65538];
	size_t olen = 0;
	int i, k;
	for(k = 0; k < pc->nheld; k++) {
		i = pc->peer->reverse ? pc->nheld - 1 - k : k;
		if(olen + 2 + pc->heldlen[i] > sizeof(out))
			break;
		out[olen] = (uint8_t)(pc->heldlen[i] >> 8);
		out[olen + 1] = (uint8_t)pc->heldlen[i];
		memcpy(out + olen + 2, pc->held[i], pc->heldlen[i]);
		/* QR, RA; NOERROR */
		out[olen + 2 + 2] |= 0x80;
		out[olen + 2 + 3] = 0x80;
		if(pc->peer->mangle) /* low octet of the qtype */
			out[olen + 2 + pc->heldlen[i] - 3] ^= 0x1c;
		if(pc->peer->keepalive >= 0 && olen + 2 + pc->heldlen[i] + 17
			<= sizeof(out)) {
			/* an OPT RR with only the keepalive option */
			static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xd0,
				0, 0, 0, 0, 0, 6 };
			uint8_t* a = out + olen + 2;
			size_t l = pc->heldlen[i];
			memcpy(a + l, opt, sizeof(opt));
			a[l + 11] = 0; a[l + 12] = 11; a[l + 13] = 0; a[l + 14] = 2;
			a[l + 15] = (uint8_t)(pc->peer->keepalive >> 8);
			a[l + 16] = (uint8_t)pc->peer->keepalive;
			a[11] = 1; /* arcount */
			out[olen] = (uint8_t)((l + 17) >> 8);
			out[olen + 1] = (uint8_t)(l + 17);
			olen += 2 + l + 17;
			continue;
		}
		if(pc->peer->garbage) {
			out[olen] = out[olen + 1] = 0;
			olen += 2;
			continue;
		}
		if(pc->peer->big && olen + 65537 <= sizeof(out)) {
			/* the largest frame: the answer padded with trailing
			 * bytes the transport must carry untouched */
			memset(out + olen + 2 + pc->heldlen[i], 0xab,
				65535 - pc->heldlen[i]);
			out[olen] = out[olen + 1] = 0xff;
			olen += 2 + 65535;
			continue;
		}
		olen += 2 + pc->heldlen[i];
		if(pc->peer->duplicate && olen * 2 <= sizeof(out)) {
			size_t l = 2 + pc->heldlen[i];
			memcpy(out + olen, out + olen - l, l);
			olen += l;
		}
	}
	if(!pc->peer->keep_held) {
		for(i = 0; i < pc->nheld; i++)
			free(pc->held[i]);
		pc->nheld = 0;
	}
	pconn_write(pc, out, olen, pc->peer->onebyte ? 1 : 0);
	pc->peer->answers++;
	if(pc->peer->close_after_answer)
		pconn_close(pc);
	else	pconn_idle_arm(pc);
}

/** One query arrived. */
static void
pconn_query(struct pconn* pc, const uint8_t* q, size_t len)
{
	struct peer* pe = pc->peer;
	pe->queries++;
	pc->nrecv++;
	if(pe->close_after && pc->nrecv >= pe->close_after &&
		(pe->close_conns == 0 || pc->index <= pe->close_conns)) {
		pconn_close(pc);
		return;
	}
	if(pc->nheld >= PEER_HELD_MAX)
		return;
	if(pe->hold_first && pc->nheld == 1) {
		/* answer this one alone; the first stays held */
		uint8_t* first = pc->held[0];
		size_t flen = pc->heldlen[0];
		int keep = pe->keep_held;
		pc->held[0] = malloc(len);
		memcpy(pc->held[0], q, len);
		pc->heldlen[0] = len;
		pe->keep_held = 0;
		pconn_answer_held(pc);
		pe->keep_held = keep;
		pc->held[0] = first;
		pc->heldlen[0] = flen;
		pc->nheld = 1;
		return;
	}
	(void)event_del(&pc->idle_ev);
	pc->held[pc->nheld] = malloc(len);
	memcpy(pc->held[pc->nheld], q, len);
	pc->heldlen[pc->nheld++] = len;
	if(pc->nheld > pe->max_held)
		pe->max_held = pc->nheld;
	if(pe->hold >= 0 && pc->nheld >= pe->hold) {
		pconn_answer_held(pc);
		if(pe->hold_once)
			pe->hold = 0;
	}
}

/** Server socket readable: handshake, then frames. */
static void
pconn_cb(evutil_socket_t fd, short what, void* arg)
{
	struct pconn* pc = arg;
	int r;
	(void)fd; (void)what;
	if(!pc->hs) {
		r = SSL_accept(pc->ssl);
		if(r == 1) {
			X509* cc = SSL_get0_peer_certificate(pc->ssl);
			pc->hs = 1;
			pc->peer->hs_ok++;
			pconn_idle_arm(pc);
			if(cc && SSL_get_verify_result(pc->ssl) == X509_V_OK)
				pc->peer->client_certs++;
		} else {
			int e = SSL_get_error(pc->ssl, r);
			if(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			ERR_clear_error();
			pc->peer->hs_fail++;
			pconn_close(pc);
			return;
		}
	}
	for(;;) {
		r = SSL_read(pc->ssl, pc->in + pc->inlen,
			(int)(sizeof(pc->in) - pc->inlen));
		if(r <= 0) {
			int e = SSL_get_error(pc->ssl, r);
			ERR_clear_error();
			if(e != SSL_ERROR_WANT_READ)
				pconn_close(pc);
			return;
		}
		pc->inlen += (size_t)r;
		pc->peer->app_bytes += r;
		while(pc->fd != -1 && pc->inlen >= 2) {
			size_t l = ((size_t)pc->in[0] << 8) | pc->in[1];
			if(pc->inlen < 2 + l)
				break;
			pconn_query(pc, pc->in + 2, l);
			memmove(pc->in, pc->in + 2 + l, pc->inlen - 2 - l);
			pc->inlen -= 2 + l;
		}
		if(pc->fd == -1)
			return;
	}
}

/** New connection on the server. */
static void
peer_accept_cb(evutil_socket_t fd, short what, void* arg)
{
	struct peer* pe = arg;
	struct pconn* pc;
	int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	(void)what;
	if(s == -1)
		return;
	if(pe->reap_closed) {
		struct pconn** pp = &pe->conns;
		while(*pp) {
			if((*pp)->fd == -1) {
				struct pconn* dead = *pp;
				*pp = dead->next;
				free(dead);
			} else	pp = &(*pp)->next;
		}
	}
	pc = calloc(1, sizeof(*pc));
	pc->peer = pe;
	pc->fd = s;
	pc->index = ++pe->accepted;
	pc->ssl = SSL_new(pe->ctx);
	SSL_set_fd(pc->ssl, s);
	SSL_set_accept_state(pc->ssl);
	event_assign(&pc->ev, pe->base, s, EV_READ | EV_PERSIST, pconn_cb, pc);
	evtimer_assign(&pc->idle_ev, pe->base, pconn_idle_cb, pc);
	pc->next = pe->conns;
	pe->conns = pc;
	if(!pe->paused)
		event_add(&pc->ev, NULL);
}

/** Start a fake server on 127.0.0.1 (or ::1), a free port.
 * @return NULL when that family cannot be used here. */
struct peer*
peer_new_af(struct event_base* base, int af, int need_client_cert)
{
	struct peer* pe = calloc(1, sizeof(*pe));
	struct sockaddr_storage ss;
	struct sockaddr_in* sin = (struct sockaddr_in*)&ss;
	struct sockaddr_in6* sin6 = (struct sockaddr_in6*)&ss;
	socklen_t slen;
	char path[300], kpath[300];
	int one = 1;
	pe->base = base;
	pe->ctx = SSL_CTX_new(TLS_server_method());
	snprintf(path, sizeof(path), "%s/srv.pem", peer_certdir);
	snprintf(kpath, sizeof(kpath), "%s/srv.key", peer_certdir);
	if(!SSL_CTX_use_certificate_chain_file(pe->ctx, path) ||
		!SSL_CTX_use_PrivateKey_file(pe->ctx, kpath, SSL_FILETYPE_PEM)) {
		fprintf(stderr, "fake_peer: cannot load server cert\n");
		exit(99);
	}
	if(need_client_cert) {
		snprintf(path, sizeof(path), "%s/ca.pem", peer_certdir);
		SSL_CTX_load_verify_locations(pe->ctx, path, NULL);
		SSL_CTX_set_verify(pe->ctx, SSL_VERIFY_PEER |
			SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	pe->lfd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(pe->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&ss, 0, sizeof(ss));
	if(af == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		slen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		slen = sizeof(*sin6);
	}
	if(pe->lfd == -1 || bind(pe->lfd, (struct sockaddr*)&ss, slen) != 0 ||
		listen(pe->lfd, 128) != 0 ||
		getsockname(pe->lfd, (struct sockaddr*)&ss, &slen) != 0) {
		if(pe->lfd != -1)
			close(pe->lfd);
		SSL_CTX_free(pe->ctx);
		free(pe);
		return NULL;
	}
	pe->port = ntohs(af == AF_INET ? sin->sin_port : sin6->sin6_port);
	pe->keepalive = -1;
	event_assign(&pe->ev, base, pe->lfd, EV_READ | EV_PERSIST,
		peer_accept_cb, pe);
	event_add(&pe->ev, NULL);
	return pe;
}

/** Start a fake server on 127.0.0.1. */
struct peer*
peer_new(struct event_base* base)
{
	struct peer* pe = peer_new_af(base, AF_INET, 0);
	if(!pe) {
		fprintf(stderr, "fake_peer: cannot listen on 127.0.0.1\n");
		exit(99);
	}
	return pe;
}

/** Stop the fake server. */
void
peer_free(struct peer* pe)
{
	struct pconn* pc, *n;
	if(!pe)
		return;
	for(pc = pe->conns; pc; pc = n) {
		n = pc->next;
		pconn_close(pc);
		free(pc);
	}
	event_del(&pe->ev);
	close(pe->lfd);
	SSL_CTX_free(pe->ctx);
	free(pe);
}

/** Stop or resume reading on every server connection. */
void
peer_pause(struct peer* pe, int paused)
{
	struct pconn* pc;
	pe->paused = paused;
	for(pc = pe->conns; pc; pc = pc->next) {
		if(pc->fd == -1)
			continue;
		if(paused)
			event_del(&pc->ev);
		else	event_add(&pc->ev, NULL);
	}
}

/** Answer everything held on every open server connection. */
void
peer_answer_all(struct peer* pe)
{
	struct pconn* pc;
	for(pc = pe->conns; pc; pc = pc->next)
		if(pc->fd != -1 && pc->nheld)
			pconn_answer_held(pc);
}


/** The server connection with this number (from 1), or NULL. */
struct pconn*
peer_conn(struct peer* pe, int index)
{
	struct pconn* pc;
	for(pc = pe->conns; pc; pc = pc->next)
		if(pc->index == index)
			return pc;
	return NULL;
}


/** Make the CA and server certificate with the openssl tool. */
int
peer_certs_make(void)
{
	char cmd[2048], path[300];
	FILE* f;
	X509* x;
	unsigned char* der = NULL;
	unsigned int mdlen;
	int len;
	snprintf(peer_certdir, sizeof(peer_certdir), "/tmp/dotpool-test-XXXXXX");
	if(!mkdtemp(peer_certdir))
		return 0;
	snprintf(cmd, sizeof(cmd), "(cd %s && "
		"printf 'subjectAltName=DNS:dot.test,IP:127.0.0.1\\n"
		"basicConstraints=CA:FALSE\\n' > ext.cnf && "
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		"-nodes -keyout ca.key -out ca.pem -days 2 "
		"-subj /CN=dotpool-test-ca && "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		"-nodes -keyout srv.key -out srv.csr -subj /CN=dot.test && "
		"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
		"-CAcreateserial -out srv.pem -days 2 -extfile ext.cnf && "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		"-nodes -keyout cli.key -out cli.csr -subj /CN=client && "
		"openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key "
		"-CAcreateserial -out cli.pem -days 2"
		") >/dev/null 2>&1",
		peer_certdir);
	if(system(cmd) != 0)
		return 0;
	snprintf(path, sizeof(path), "%s/srv.pem", peer_certdir);
	if(!(f = fopen(path, "r")))
		return 0;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if(!x)
		return 0;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	EVP_Digest(der, (size_t)len, peer_pin, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	X509_free(x);
	return 1;
}

/** Remove the certificate directory. */
void
peer_certs_remove(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", peer_certdir);
	if(system(cmd) != 0)
		fprintf(stderr, "fake_peer: cannot remove %s\n", peer_certdir);
}
