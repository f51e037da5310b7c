/**
 * \file
 * The metrics endpoint's HTTP server: one thread that polls its listening
 * socket, a self-pipe that stop() writes to, and at most
 * DOTPOOL_METRICS_MAX_CLIENTS non-blocking connections, each with a
 * deadline, so that neither a slow nor a silent client can hold up a scrape
 * or the shutdown. Worker threads never wait for anything here: the collect
 * function reads what they publish. Requests are judged by module/httpreq.c,
 * bodies rendered by module/metrics.c.
 */
#ifndef _GNU_SOURCE
/* accept4() and pipe2() */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "dotpool/metrics.h"
/** One accepted connection. */
struct metrics_client {
	/** socket, -1 when the slot is free */
	int fd;
	/** monotonic ms when it was accepted */
	uint64_t accepted;
	/** monotonic ms after which the connection is dropped */
	uint64_t deadline;
	/** request bytes read so far */
	size_t reqlen;
	/** whether the response is being written */
	int writing;
	/** bytes of out already written */
	size_t outpos;
	/** the response */
	struct dotpool_metrics_buf out;
	/** the request, NUL-terminated */
	char req[DOTPOOL_METRICS_MAX_REQUEST + 1];
};

/** The server. */
struct dotpool_metrics {
	/** listening socket */
	int lfd;
	/** self-pipe: stop() writes to [1], the thread polls [0] */
	int wake[2];
	/** port listened on */
	int port;
	/** the server thread */
	pthread_t thread;
	/** whether the thread runs */
	int running;
	/** fills a snapshot */
	dotpool_metrics_collect_fn collect;
	/** for collect */
	void* arg;
	/** reused per scrape (metrics thread only) */
	struct dotpool_metrics_snapshot* snap;
	/** rendered body, reused per scrape (metrics thread only) */
	struct dotpool_metrics_buf body;
	/** connections */
	struct metrics_client clients[DOTPOOL_METRICS_MAX_CLIENTS];
	/** monotonic ms until which the listener is not polled (accept
	 * failed for lack of resources), 0 when it is */
	uint64_t accept_pause;
	/** whether the current run of failing accepts was logged */
	int accept_logged;
};

/** Monotonic time in ms. */
static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/** Close a connection and free its slot. */
static void
client_close(struct metrics_client* c)
{
	if(c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->reqlen = 0;
	c->writing = 0;
	c->outpos = 0;
	dotpool_metrics_buf_free(&c->out);
}

/**
 * Queue a response on a connection.
 * @param c: the connection.
 * @param status: "200 OK" etc.
 * @param ctype: content type.
 * @param body: body text.
 * @param blen: its length.
 * @param head_only: HEAD: headers only.
 */
static void
client_respond(struct metrics_client* c, const char* status,
	const char* ctype, const char* body, size_t blen, int head_only)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: "
		"%s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
		"Connection: close\r\n\r\n", status, ctype, blen);
	c->out.len = 0;
	if(n < 0 || (size_t)n >= sizeof(head) ||
		dotpool_metrics_buf_add(&c->out, head, (size_t)n) < 0 ||
		(!head_only &&
		dotpool_metrics_buf_add(&c->out, body, blen) < 0)) {
		/* out of memory: nothing sensible can be sent */
		client_close(c);
		return;
	}
	c->writing = 1;
	c->outpos = 0;
}

/** Respond with a short plain-text error. */
static void
client_error(struct metrics_client* c, const char* status, const char* text)
{
	client_respond(c, status, "text/plain; charset=utf-8", text,
		strlen(text), 0);
}

/** Answer a request that dotpool_metrics_parse_request judged complete. */
static void
client_handle(struct dotpool_metrics* m, struct metrics_client* c,
	enum dotpool_metrics_req r)
{
	switch(r) {
	case DOTPOOL_METRICS_REQ_GET:
	case DOTPOOL_METRICS_REQ_HEAD:
		break;
	case DOTPOOL_METRICS_REQ_METHOD:
		client_error(c, "405 Method Not Allowed",
			"only GET and HEAD\n");
		return;
	case DOTPOOL_METRICS_REQ_NOT_FOUND:
		client_error(c, "404 Not Found", "not found; try /metrics\n");
		return;
	case DOTPOOL_METRICS_REQ_TOO_LARGE:
		client_error(c, "431 Request Header Fields Too Large",
			"request too large\n");
		return;
	case DOTPOOL_METRICS_REQ_INCOMPLETE:
	case DOTPOOL_METRICS_REQ_BAD:
	default:
		client_error(c, "400 Bad Request", "bad request\n");
		return;
	}
	dotpool_metrics_snapshot_clear(m->snap);
	if(m->collect(m->snap, m->arg) < 0 ||
		dotpool_metrics_render(m->snap, &m->body) < 0) {
		client_error(c, "500 Internal Server Error",
			"could not collect the metrics\n");
		return;
	}
	client_respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
		m->body.data, m->body.len, r == DOTPOOL_METRICS_REQ_HEAD);
}

/** Read what a connection sent; answer when the request is complete. */
static void
client_read(struct dotpool_metrics* m, struct metrics_client* c)
{
	ssize_t n;
	size_t room = DOTPOOL_METRICS_MAX_REQUEST - c->reqlen;
	enum dotpool_metrics_req r;
	n = recv(c->fd, c->req + c->reqlen, room, 0);
	if(n == 0) {
		client_close(c);
		return;
	}
	if(n < 0) {
		if(errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c);
		return;
	}
	c->reqlen += (size_t)n;
	c->req[c->reqlen] = 0;
	r = dotpool_metrics_parse_request(c->req, c->reqlen);
	if(r != DOTPOOL_METRICS_REQ_INCOMPLETE)
		client_handle(m, c, r);
}

/** Write more of the response; close when all is written. */
static void
client_write(struct metrics_client* c)
{
	ssize_t n = send(c->fd, c->out.data + c->outpos,
		c->out.len - c->outpos, MSG_NOSIGNAL);
	if(n < 0) {
		if(errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c);
		return;
	}
	c->outpos += (size_t)n;
	if(c->outpos == c->out.len) {
		shutdown(c->fd, SHUT_WR);
		client_close(c);
	}
}

/**
 * A slot for a new connection: a free one, else the oldest connection that
 * has had its grace time and has not sent a whole request (it is dropped).
 * A connection being answered is never dropped.
 * @return the slot, or NULL when none can be had now.
 */
static struct metrics_client*
server_slot(struct dotpool_metrics* m, uint64_t now)
{
	struct metrics_client* victim = NULL;
	int i;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++) {
		struct metrics_client* c = &m->clients[i];
		if(c->fd == -1)
			return c;
		if(c->writing || now < c->accepted + DOTPOOL_METRICS_GRACE_MS)
			continue;
		if(!victim || c->accepted < victim->accepted)
			victim = c;
	}
	if(victim)
		client_close(victim);
	return victim;
}

/**
 * When a slot for a new connection can be had: now (0) or the monotonic ms
 * when the first connection's grace time ends.
 */
static uint64_t
server_slot_at(const struct dotpool_metrics* m)
{
	uint64_t at = 0;
	int i;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++) {
		const struct metrics_client* c = &m->clients[i];
		uint64_t t;
		if(c->fd == -1)
			return 0;
		if(c->writing)
			continue;
		t = c->accepted + DOTPOOL_METRICS_GRACE_MS;
		if(at == 0 || t < at)
			at = t;
	}
	/* every connection is being answered: one finishes by its deadline */
	if(at == 0)
		for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++)
			if(at == 0 || m->clients[i].deadline < at)
				at = m->clients[i].deadline;
	return at;
}

/** Accept waiting connections while slots can be had. */
static void
server_accept(struct dotpool_metrics* m, uint64_t now)
{
	int n, fd;
	for(n = 0; n < DOTPOOL_METRICS_MAX_CLIENTS; n++) {
		struct metrics_client* slot;
		if(server_slot_at(m) > now)
			return; /* the rest wait in the kernel's queue */
		fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if(fd == -1) {
			if(errno == EAGAIN || errno == EWOULDBLOCK ||
				errno == EINTR)
				return;
			if(errno == ECONNABORTED || errno == EPROTO)
				continue; /* that one is gone; others may wait */
			/* out of descriptors or memory: the connection stays
			 * queued and the listener readable; rest instead of
			 * spinning on it */
			m->accept_pause = now + DOTPOOL_METRICS_ACCEPT_PAUSE_MS;
			if(!m->accept_logged) {
				dotpool_log(DOTPOOL_LOG_WARN, "dotpool: metrics "
					"endpoint: accept failed: %s; retrying "
					"every %d ms", strerror(errno),
					DOTPOOL_METRICS_ACCEPT_PAUSE_MS);
				m->accept_logged = 1;
			}
			return;
		}
		if(m->accept_logged) {
			dotpool_log(DOTPOOL_LOG_OPS, "dotpool: metrics endpoint: "
				"accepting again");
			m->accept_logged = 0;
		}
		slot = server_slot(m, now);
		if(!slot) {
			/* server_slot_at said one was there */
			close(fd);
			return;
		}
		slot->fd = fd;
		slot->accepted = now;
		slot->deadline = now + DOTPOOL_METRICS_TIMEOUT_MS;
	}
}

/** The server thread: poll until stop() writes to the self-pipe. */
static void*
server_run(void* arg)
{
	struct dotpool_metrics* m = arg;
	struct pollfd pfd[DOTPOOL_METRICS_MAX_CLIENTS + 2];
	int idx[DOTPOOL_METRICS_MAX_CLIENTS + 2];
	for(;;) {
		int n = 0, i, timeout = -1;
		uint64_t now = now_ms(), listen_at;
		memset(pfd, 0, sizeof(pfd));
		pfd[n].fd = m->wake[0];
		pfd[n++].events = POLLIN;
		/* the listener rests while accept lacks resources or no slot
		 * can be had; poll ignores a negative fd */
		listen_at = server_slot_at(m);
		if(m->accept_pause > listen_at)
			listen_at = m->accept_pause;
		if(listen_at > now) {
			pfd[n].fd = -1;
			timeout = (int)(listen_at - now);
		} else
			pfd[n].fd = m->lfd;
		pfd[n++].events = POLLIN;
		for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++) {
			struct metrics_client* c = &m->clients[i];
			int left;
			if(c->fd == -1)
				continue;
			left = c->deadline > now ? (int)(c->deadline - now) : 0;
			if(timeout == -1 || left < timeout)
				timeout = left;
			idx[n] = i;
			pfd[n].fd = c->fd;
			pfd[n++].events = c->writing ? POLLOUT : POLLIN;
		}
		if(poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		if(pfd[0].revents)
			break;
		now = now_ms();
		for(i = 2; i < n; i++) {
			struct metrics_client* c = &m->clients[idx[i]];
			if(pfd[i].revents & (POLLIN | POLLOUT | POLLHUP |
				POLLERR)) {
				if(c->writing)
					client_write(c);
				else
					client_read(m, c);
				/* a request just answered: try to write now */
				if(c->fd != -1 && c->writing && c->outpos == 0)
					client_write(c);
			}
			if(c->fd != -1 && now >= c->deadline)
				client_close(c);
		}
		if(pfd[1].revents & POLLIN)
			server_accept(m, now);
	}
	return NULL;
}

/**
 * Parse "IP@port" (IPv6 optionally in brackets) into ss.
 * @return 0 or DOTPOOL_EINVAL.
 */
static int
parse_listen(const char* addr, struct sockaddr_storage* ss,
	socklen_t* sslen)
{
	char ip[INET6_ADDRSTRLEN + 2];
	const char* at = strrchr(addr, '@');
	char* end;
	long port;
	size_t iplen;
	if(!at || at == addr)
		return DOTPOOL_EINVAL;
	iplen = (size_t)(at - addr);
	if(iplen >= sizeof(ip))
		return DOTPOOL_EINVAL;
	memcpy(ip, addr, iplen);
	ip[iplen] = 0;
	if(ip[0] == '[' && iplen > 2 && ip[iplen - 1] == ']') {
		memmove(ip, ip + 1, iplen - 2);
		ip[iplen - 2] = 0;
	}
	errno = 0;
	port = strtol(at + 1, &end, 10);
	if(at[1] == 0 || *end != 0 || errno || port < 0 || port > 65535)
		return DOTPOOL_EINVAL;
	memset(ss, 0, sizeof(*ss));
	if(inet_pton(AF_INET, ip, &((struct sockaddr_in*)ss)->sin_addr) == 1) {
		struct sockaddr_in* sin = (struct sockaddr_in*)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
		return 0;
	}
	if(inet_pton(AF_INET6, ip,
		&((struct sockaddr_in6*)ss)->sin6_addr) == 1) {
		struct sockaddr_in6* sin6 = (struct sockaddr_in6*)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
		return 0;
	}
	return DOTPOOL_EINVAL;
}

/** Close the sockets and free the server; the thread must not run. */
static void
server_free(struct dotpool_metrics* m)
{
	int i;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++)
		client_close(&m->clients[i]);
	if(m->lfd != -1)
		close(m->lfd);
	if(m->wake[0] != -1)
		close(m->wake[0]);
	if(m->wake[1] != -1)
		close(m->wake[1]);
	dotpool_metrics_snapshot_free(m->snap);
	dotpool_metrics_buf_free(&m->body);
	free(m);
}

struct dotpool_metrics*
dotpool_metrics_start(const char* addr, dotpool_metrics_collect_fn collect,
	void* arg, char* err, size_t errlen)
{
	struct dotpool_metrics* m = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	sigset_t all, old;
	int i, on = 1, rc;

	if(!addr || !collect || parse_listen(addr, &ss, &sslen) < 0) {
		snprintf(err, errlen, "metrics-listen %s: expected IP@port",
			addr ? addr : "(null)");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if(!m) {
		snprintf(err, errlen, "metrics-listen %s: out of memory",
			addr);
		return NULL;
	}
	m->lfd = m->wake[0] = m->wake[1] = -1;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++)
		m->clients[i].fd = -1;
	m->collect = collect;
	m->arg = arg;
	m->snap = dotpool_metrics_snapshot_new();
	if(!m->snap) {
		snprintf(err, errlen, "metrics-listen %s: out of memory",
			addr);
		goto fail;
	}
	if(pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		snprintf(err, errlen, "metrics-listen %s: pipe: %s", addr,
			strerror(errno));
		goto fail;
	}
	m->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		SOCK_CLOEXEC, 0);
	if(m->lfd == -1) {
		snprintf(err, errlen, "metrics-listen %s: socket: %s", addr,
			strerror(errno));
		goto fail;
	}
	(void)setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if(ss.ss_family == AF_INET6)
		(void)setsockopt(m->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			sizeof(on));
	if(bind(m->lfd, (struct sockaddr*)&ss, sslen) == -1 ||
		listen(m->lfd, DOTPOOL_METRICS_MAX_CLIENTS) == -1) {
		snprintf(err, errlen, "metrics-listen %s: %s", addr,
			strerror(errno));
		goto fail;
	}
	sslen = sizeof(ss);
	if(getsockname(m->lfd, (struct sockaddr*)&ss, &sslen) == -1) {
		snprintf(err, errlen, "metrics-listen %s: getsockname: %s",
			addr, strerror(errno));
		goto fail;
	}
	m->port = ntohs(ss.ss_family == AF_INET6 ?
		((struct sockaddr_in6*)&ss)->sin6_port :
		((struct sockaddr_in*)&ss)->sin_port);
	/* the host's signals belong to its own threads, not this one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&m->thread, NULL, server_run, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if(rc != 0) {
		snprintf(err, errlen, "metrics-listen %s: thread: %s", addr,
			strerror(rc));
		goto fail;
	}
	m->running = 1;
	return m;
fail:
	server_free(m);
	return NULL;
}

int
dotpool_metrics_port(const struct dotpool_metrics* m)
{
	return m->port;
}

void
dotpool_metrics_stop(struct dotpool_metrics* m)
{
	if(!m)
		return;
	if(m->running) {
		ssize_t n;
		do {
			n = write(m->wake[1], "x", 1);
		} while(n == -1 && errno == EINTR);
		pthread_join(m->thread, NULL);
		m->running = 0;
	}
	server_free(m);
}
