/**
 * \file
 * A fake DoT server for the component tests: OpenSSL on a loopback socket,
 * driven by the event base it is given (the test's own, or a server
 * thread's), with a test CA, server and client certificate made at
 * start-up. What it does (hold, reorder, close, mangle, keepalive, ...) is
 * set in struct peer; what it saw is counted there.
 */
#ifndef DOTPOOL_TEST_FAKE_PEER_H
#define DOTPOOL_TEST_FAKE_PEER_H
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

/** Where the test certificates are (ca.pem, srv.pem/.key, cli.pem/.key). */
extern char peer_certdir[256];
/** SHA-256 of the server's SubjectPublicKeyInfo. */
extern unsigned char peer_pin[32];

struct peer;

/** Most queries one server connection holds back. */
#define PEER_HELD_MAX 2048

/** One accepted connection of the fake server. */
struct pconn {
	/** next in the server's list */
	struct pconn* next;
	/** the server */
	struct peer* peer;
	/** socket, -1 when closed */
	int fd;
	/** TLS */
	SSL* ssl;
	/** readable */
	struct event ev;
	/** handshake done */
	int hs;
	/** connection number, from 1 */
	int index;
	/** bytes received not yet framed */
	uint8_t in[4096];
	/** how many */
	size_t inlen;
	/** queries held back, not answered yet */
	uint8_t* held[PEER_HELD_MAX];
	/** their lengths */
	size_t heldlen[PEER_HELD_MAX];
	/** how many held */
	int nheld;
	/** queries received on this connection */
	int nrecv;
	/** closes the connection when idle for peer->idle_close_ms */
	struct event idle_ev;
};

/** The fake server and what it does. */
struct peer {
	/** event base */
	struct event_base* base;
	/** server context */
	SSL_CTX* ctx;
	/** listening socket */
	int lfd;
	/** its port */
	int port;
	/** accept event */
	struct event ev;
	/** connections */
	struct pconn* conns;
	/** answer when this many are held; 0 at once; -1 never */
	int hold;
	/** after the first batch, answer at once */
	int hold_once;
	/** answer a batch last-first */
	int reverse;
	/** write answers one byte per TLS record */
	int onebyte;
	/** close a connection after this many queries, unanswered (0 off) */
	int close_after;
	/** ... only on connections up to this number (0 all) */
	int close_conns;
	/** close the connection after writing answers */
	int close_after_answer;
	/** answer with another question (qtype changed) */
	int mangle;
	/** answer with a zero-length frame */
	int garbage;
	/** client certificates verified by the test CA */
	int client_certs;
	/** add edns-tcp-keepalive with this timeout to answers (-1 off) */
	int keepalive;
	/** do not read from connections (their queries pile up) */
	int paused;
	/** answers of the maximal frame size */
	int big;
	/** every answer twice */
	int duplicate;
	/** close a connection idle this many ms after its handshake or its
	 * last answer (0 off) */
	int idle_close_ms;
	/** answering keeps the held queries (they can be answered again) */
	int keep_held;
	/** hold only the first query of a connection (with hold -1: for
	 * good); answer every later one at once, alone */
	int hold_first;
	/** free closed connections when the next one is accepted (a long
	 * churn would otherwise keep them all; peer_conn cannot find them) */
	int reap_closed;
	/* counters */
	/** connections accepted */
	int accepted;
	/** handshakes that worked */
	int hs_ok;
	/** handshakes that failed */
	int hs_fail;
	/** queries received */
	int queries;
	/** answer writes (each of one or more held queries) */
	int answers;
	/** application bytes received */
	int app_bytes;
	/** most queries held at once on one connection */
	int max_held;
	/** connections closed by idle_close_ms */
	int idle_closes;
};

/** Make the CA, server (dot.test, 127.0.0.1) and client certificates with
 * the openssl tool. @return 1, or 0 on failure. */
int peer_certs_make(void);

/** Remove the certificate directory. */
void peer_certs_remove(void);

/** Start a fake server on 127.0.0.1 (or ::1), a free port.
 * @return NULL when that family cannot be used here. */
struct peer* peer_new_af(struct event_base* base, int af,
	int need_client_cert);

/** Start a fake server on 127.0.0.1 (exits the test when it cannot). */
struct peer* peer_new(struct event_base* base);

/** Stop the fake server. */
void peer_free(struct peer* pe);

/** Stop or resume reading on every server connection. */
void peer_pause(struct peer* pe, int paused);

/** Answer everything held on every open server connection. */
void peer_answer_all(struct peer* pe);

/** The server connection with this number (from 1), or NULL. */
struct pconn* peer_conn(struct peer* pe, int index);

/** Close one server connection (it stays listed until peer_free). */
void pconn_close(struct pconn* pc);

#endif /* DOTPOOL_TEST_FAKE_PEER_H */
