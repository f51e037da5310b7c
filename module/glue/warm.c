/**
 * \file
 * Warm-up at start: have every Unbound worker build its upstreams before
 * the first client query.
 *
 * Unbound's module interface has no per-worker start hook: init runs once,
 * before the workers exist, and a worker runs module code (operate) only
 * for a query it received itself. Each worker owns its pool and its event
 * base; no other thread may create either. So a short-lived thread,
 * started here by init, asks Unbound itself: it sends queries for a name
 * reserved to dotpool (class CH, "<nonce>._warm-up.dotpool.") to Unbound's
 * own listening address, from loopback, until every worker has made its
 * pool. dotpool's operate answers that name on the spot (NXDOMAIN) after
 * building the worker's upstreams; it is never forwarded anywhere. Class
 * CH passes Unbound's default local zones (they are class IN) and
 * answer_chaos (only id.server, version.bind and the like); a fresh nonce
 * per query misses the message cache; CD=1 keeps the validator out.
 *
 * How queries reach the workers: with so-reuseport (Unbound's default on
 * Linux) each worker has its own socket and the kernel picks one by a hash
 * of the addresses and ports, so a fresh source port per query lands on a
 * worker at random; without it all workers wait on one socket and the one
 * that wakes first takes the query. Either way every worker gets one after
 * a few queries; the thread stops as soon as all have their pool, or after
 * DOTPOOL_WARM_LIMIT_MS, and logs which did not.
 *
 * This thread touches no pool, no event base and no Unbound structure: it
 * uses its own sockets, reads the worker slots with acquire loads, and
 * logs through Unbound's log functions, which take a lock.
 */
#include "module/glue/glue.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/rand.h>
#include "util/log.h"
#include "util/config_file.h"
#include "util/net_help.h"
#include "sldns/rrdef.h"
#include "sldns/sbuffer.h"
#include "sldns/pkthdr.h"
#include "dotpool/timer.h"

/** Longest the warm-up keeps trying. */
#define DOTPOOL_WARM_LIMIT_MS 30000
/** Wait for one answer, at first; doubled up to DOTPOOL_WARM_WAIT_MAX_MS
 * while queries go unanswered (a slow start, valgrind). */
#define DOTPOOL_WARM_WAIT_MS 100
/** Longest wait for one answer. */
#define DOTPOOL_WARM_WAIT_MAX_MS 1000
/** Most listening addresses tried. */
#define DOTPOOL_WARM_MAX_DEST 8

/** The reserved name's fixed labels, after the nonce label. */
static const uint8_t warm_suffix[] = "\010_warm-up\007dotpool";

/** The warm-up thread's state: its own, but for the worker slots. */
struct dotpool_warm {
	/** the module state, for the worker slots (acquire loads only) */
	struct dotpool_env* de;
	/** the thread */
	pthread_t thr;
	/** set (atomic) by dotpool_warm_stop */
	int stop;
	/** where Unbound listens (copies: cfg may be freed by fast_reload) */
	struct sockaddr_storage dest[DOTPOOL_WARM_MAX_DEST];
	/** their lengths */
	socklen_t destlen[DOTPOOL_WARM_MAX_DEST];
	/** number of dest */
	int ndest;
	/** ask over TCP (do-udp: no) */
	int tcp;
	/** random part of every nonce, per start */
	uint64_t seed;
};

int
dotpool_warm_is_query(const struct query_info* q)
{
	size_t lab;
	if(q->qclass != LDNS_RR_CLASS_CH || !q->qname || q->qname_len < 1)
		return 0;
	lab = q->qname[0];
	/* one label, then exactly the suffix and the root */
	if(lab == 0 || lab > 63 || q->qname_len != 1 + lab +
		sizeof(warm_suffix))
		return 0;
	return strncasecmp((const char*)q->qname + 1 + lab,
		(const char*)warm_suffix, sizeof(warm_suffix)) == 0;
}

/** Milliseconds of the monotonic clock (the timers' own). */
static uint64_t
warm_now_ms(void)
{
	return dotpool_timers_monotonic_ms(NULL);
}

/** Whether dotpool_warm_stop was called. */
static int
warm_stopping(struct dotpool_warm* w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE);
}

/** Workers that have their pool. */
static int
warm_ready(struct dotpool_warm* w)
{
	int i, n = 0;
	for(i = 0; i < w->de->num_workers; i++)
		if(__atomic_load_n(&w->de->workers[i], __ATOMIC_ACQUIRE))
			n++;
	return n;
}

/** Add a listening address, loopback in place of a wildcard. */
static void
warm_add_dest(struct dotpool_warm* w, const char* ip, int port)
{
	struct sockaddr_storage a;
	socklen_t len = 0;
	if(w->ndest >= DOTPOOL_WARM_MAX_DEST || !ipstrtoaddr(ip, port, &a,
		&len))
		return;
	if(a.ss_family == AF_INET) {
		struct sockaddr_in* s = (struct sockaddr_in*)&a;
		if(s->sin_addr.s_addr == htonl(INADDR_ANY))
			s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if(a.ss_family == AF_INET6) {
		struct sockaddr_in6* s = (struct sockaddr_in6*)&a;
		if(IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr))
			s->sin6_addr = in6addr_loopback;
	}
	memcpy(&w->dest[w->ndest], &a, len);
	w->destlen[w->ndest++] = len;
}

/** Whether a port of an interface line serves something else than plain
 * DNS (DoT, DoH): a plain query there is no use. */
static int
warm_port_not_plain(struct config_file* cfg, int port)
{
	struct config_strlist* p;
	char buf[16];
	if(port == cfg->ssl_port || port == cfg->https_port)
		return 1;
	snprintf(buf, sizeof(buf), "%d", port);
	for(p = cfg->tls_additional_port; p; p = p->next)
		if(p->str && strcmp(p->str, buf) == 0)
			return 1;
	return 0;
}

/** Read Unbound's listening addresses into w. */
static void
warm_dests(struct dotpool_warm* w, struct config_file* cfg)
{
	int i;
	if(cfg->num_ifs == 0) {
		/* Unbound's default: localhost only */
		if(cfg->do_ip4)
			warm_add_dest(w, "127.0.0.1", cfg->port);
		if(cfg->do_ip6)
			warm_add_dest(w, "::1", cfg->port);
		return;
	}
	for(i = 0; i < cfg->num_ifs; i++) {
		char ip[128];
		const char* at = strchr(cfg->ifs[i], '@');
		size_t n = at ? (size_t)(at - cfg->ifs[i]) :
			strlen(cfg->ifs[i]);
		int port = at ? atoi(at + 1) : cfg->port;
		if(n >= sizeof(ip) || port <= 0 || port > 65535 ||
			warm_port_not_plain(cfg, port))
			continue;
		memcpy(ip, cfg->ifs[i], n);
		ip[n] = 0;
		/* an interface name (eth0) does not parse: skipped */
		warm_add_dest(w, ip, port);
	}
}

/**
 * Encode the warm-up query with a fresh nonce.
 * @return its length.
 */
static size_t
warm_encode(struct dotpool_warm* w, uint64_t n, uint8_t* buf, uint16_t* id)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t v = w->seed ^ (n * 0x9E3779B97F4A7C15ULL);
	size_t len = 0;
	int i;
	*id = (uint16_t)(v >> 48);
	buf[len++] = (uint8_t)(*id >> 8);
	buf[len++] = (uint8_t)*id;
	buf[len++] = BIT_RD >> 8; /* RD: non-recursive queries are refused */
	buf[len++] = BIT_CD; /* CD: nothing to validate */
	memcpy(buf + len, "\0\1\0\0\0\0\0\0", 8);
	len += 8;
	buf[len++] = 16;
	for(i = 0; i < 16; i++)
		buf[len++] = (uint8_t)hex[(v >> (i * 4)) & 0xf];
	memcpy(buf + len, warm_suffix, sizeof(warm_suffix));
	len += sizeof(warm_suffix);
	buf[len++] = 0; buf[len++] = LDNS_RR_TYPE_TXT;
	buf[len++] = 0; buf[len++] = LDNS_RR_CLASS_CH;
	return len;
}

/** Wait until fd is ready for ev or the time is up. @return 1 ready. */
static int
warm_wait(struct dotpool_warm* w, int fd, short ev, uint64_t until)
{
	for(;;) {
		struct pollfd p;
		uint64_t now = warm_now_ms();
		int r;
		if(now >= until || warm_stopping(w))
			return 0;
		p.fd = fd;
		p.events = ev;
		/* slices, so that a stop is seen quickly */
		r = poll(&p, 1, (int)(until - now > 50 ? 50 : until - now));
		if(r > 0)
			return 1;
		if(r < 0 && errno != EINTR)
			return 0;
	}
}

/** Read exactly len bytes from a stream socket before until. */
static int
warm_read_all(struct dotpool_warm* w, int fd, uint8_t* buf, size_t len,
	uint64_t until)
{
	size_t got = 0;
	while(got < len) {
		ssize_t r;
		if(!warm_wait(w, fd, POLLIN, until))
			return 0;
		r = recv(fd, buf + got, len - got, 0);
		if(r <= 0) {
			if(r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			return 0;
		}
		got += (size_t)r;
	}
	return 1;
}

/**
 * Send one query from a fresh socket on loopback (a fresh source port,
 * and an address the default access-control allows) and wait for its
 * answer.
 * @return the answer's rcode, or -1 when none came in time.
 */
static int
warm_ask(struct dotpool_warm* w, int d, uint64_t n, unsigned wait_ms)
{
	const struct sockaddr* to = (const struct sockaddr*)&w->dest[d];
	struct sockaddr_storage src;
	uint8_t q[64], a[512];
	uint16_t id;
	size_t qlen = warm_encode(w, n, q + 2, &id);
	uint64_t until = warm_now_ms() + wait_ms;
	int fd, rc = -1;

	memset(&src, 0, sizeof(src));
	src.ss_family = to->sa_family;
	if(to->sa_family == AF_INET)
		((struct sockaddr_in*)&src)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
	else	((struct sockaddr_in6*)&src)->sin6_addr = in6addr_loopback;
	fd = socket(to->sa_family, (w->tcp ? SOCK_STREAM : SOCK_DGRAM) |
		SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if(fd < 0)
		return -1;
	if(bind(fd, (struct sockaddr*)&src, to->sa_family == AF_INET ?
		sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) != 0)
		goto done;
	if(connect(fd, to, w->destlen[d]) != 0 && errno != EINPROGRESS)
		goto done;
	if(w->tcp) {
		q[0] = (uint8_t)(qlen >> 8);
		q[1] = (uint8_t)qlen;
		if(!warm_wait(w, fd, POLLOUT, until) ||
			send(fd, q, qlen + 2, MSG_NOSIGNAL) != (ssize_t)qlen + 2 ||
			!warm_read_all(w, fd, a, 2, until))
			goto done;
		qlen = ((size_t)a[0] << 8) | a[1];
		if(qlen < LDNS_HEADER_SIZE || qlen > sizeof(a) ||
			!warm_read_all(w, fd, a, qlen, until))
			goto done;
	} else {
		ssize_t r;
		if(send(fd, q + 2, qlen, 0) != (ssize_t)qlen)
			goto done;
		for(;;) {
			if(!warm_wait(w, fd, POLLIN, until))
				goto done;
			r = recv(fd, a, sizeof(a), 0);
			if(r >= LDNS_HEADER_SIZE)
				break;
			if(r < 0 && errno != EINTR && errno != EAGAIN)
				goto done; /* ICMP port unreachable */
		}
	}
	if(LDNS_ID_WIRE(a) == id && LDNS_QR_WIRE(a))
		rc = LDNS_RCODE_WIRE(a);
done:
	close(fd);
	return rc;
}

/** The thread: ask until every worker has its pool. */
static void*
warm_main(void* arg)
{
	struct dotpool_warm* w = (struct dotpool_warm*)arg;
	uint64_t start = warm_now_ms(), n = 0;
	unsigned wait_ms = DOTPOOL_WARM_WAIT_MS, answered = 0, refused = 0,
		other = 0;
	int ready = 0;

	while(!warm_stopping(w) && (ready = warm_ready(w)) <
		w->de->num_workers &&
		warm_now_ms() - start < DOTPOOL_WARM_LIMIT_MS) {
		int rc = warm_ask(w, (int)(n % (uint64_t)w->ndest), n,
			wait_ms);
		n++;
		if(rc == LDNS_RCODE_NXDOMAIN) {
			answered++;
			wait_ms = DOTPOOL_WARM_WAIT_MS;
		} else if(rc == LDNS_RCODE_REFUSED) {
			/* access-control or interface-action: asking
			 * again is no use */
			refused++;
			if(refused >= 3 && answered == 0)
				break;
		} else if(rc >= 0) {
			other++;
		} else if(wait_ms < DOTPOOL_WARM_WAIT_MAX_MS) {
			wait_ms *= 2;
		}
	}
	if(warm_stopping(w))
		return NULL;
	ready = warm_ready(w);
	if(ready >= w->de->num_workers) {
		verbose(VERB_OPS, "dotpool: warm-up: all %d thread(s) have "
			"their upstreams, after %llu warm-up queries in %llu ms",
			ready, (unsigned long long)n,
			(unsigned long long)(warm_now_ms() - start));
		return NULL;
	}
	log_warn("dotpool: warm-up: %d of %d thread(s) have their upstreams "
		"after %llu warm-up queries in %llu ms (%u answered by "
		"dotpool, %u REFUSED, %u other, %llu unanswered)%s; the others "
		"create theirs at their first client query", ready,
		w->de->num_workers, (unsigned long long)n,
		(unsigned long long)(warm_now_ms() - start), answered, refused,
		other, (unsigned long long)(n - answered - refused - other),
		refused ? ": access-control (or interface-action) must allow "
		"queries from 127.0.0.1 or ::1 to Unbound's own address" : "");
	return NULL;
}

struct dotpool_warm*
dotpool_warm_start(struct dotpool_env* de, struct config_file* cfg)
{
	struct dotpool_warm* w;
	sigset_t all, old;
	int r;

	if(!de->tls || de->num_workers < 1)
		return NULL; /* no pool is ever made */
	if(!(cfg->do_udp || cfg->do_tcp)) {
		log_warn("dotpool: warm-up: Unbound listens neither on UDP nor "
			"on TCP: upstreams are created at the first query");
		return NULL;
	}
	if(!(w = calloc(1, sizeof(*w)))) {
		log_err("dotpool: warm-up: out of memory");
		return NULL;
	}
	w->de = de;
	w->tcp = !cfg->do_udp;
	warm_dests(w, cfg);
	if(w->ndest == 0) {
		log_warn("dotpool: warm-up: no listening address of Unbound "
			"that dotpool can ask (interface names, TLS or HTTPS "
			"ports only): upstreams are created at the first query");
		free(w);
		return NULL;
	}
	if(RAND_bytes((unsigned char*)&w->seed, sizeof(w->seed)) != 1)
		w->seed = warm_now_ms() * 0x2545F4914F6CDD1DULL ^
			(uint64_t)getpid();
	/* Signals are for Unbound's main thread: the new thread starts with
	 * all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->thr, NULL, warm_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if(r != 0) {
		log_warn("dotpool: warm-up: cannot start a thread (%s): "
			"upstreams are created at the first query",
			strerror(r));
		free(w);
		return NULL;
	}
	return w;
}

void
dotpool_warm_stop(struct dotpool_warm* w)
{
	if(!w)
		return;
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	/* it polls in 50 ms slices */
	pthread_join(w->thr, NULL);
	free(w);
}
