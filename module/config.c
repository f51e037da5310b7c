/**
 * \file
 * The settings: their defaults, freeing them, and the lookups the module
 * makes (a zone by name, the upstream section a forward-addr selects).
 * Reading the file is config_read.c's, the keys config_keys.c's, the checks
 * against Unbound's forward zones config_forwards.c's.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "dotpool/config.h"
#include "config_int.h"

struct dotpool_config*
dotpool_config_new(void)
{
	struct dotpool_config* cfg = calloc(1, sizeof(*cfg));

	if(!cfg)
		return NULL;
	cfg->attempt_timeout = 700;
	cfg->query_timeout = 1800;
	cfg->max_attempts = 3;
	cfg->policy = DOTPOOL_POLICY_ORDERED;
	cfg->hedge_delay = DOTPOOL_HEDGE_AUTO;
	cfg->soft_deadline_min = 50;
	cfg->soft_deadline_max = 400;
	cfg->hedge_percent = 2;
	cfg->hedge_burst = 20;
	cfg->connect_timeout = 2000;
	cfg->idle_timeout = 20000;
	cfg->max_inflight = 128;
	cfg->max_connections = 2;
	cfg->max_queue = 1024;
	cfg->prewarm = 0;
	cfg->rewarm_window = 60000;
	cfg->keepalive = 1;
	cfg->fail_threshold = 3;
	cfg->backoff_initial = 500;
	cfg->backoff_max = 10000;
	cfg->probe_interval = 1000;
	cfg->session_resumption = 1;
	cfg->profile = DOTPOOL_PROFILE_STRICT;
	cfg->tls_min_version = strdup("1.2");
	if(!cfg->tls_min_version) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

/** Free one upstream and its private part. */
void
dotpool_cfg_upstream_free(struct dotpool_upstream_cfg* u)
{
	struct upstream_priv* up = (struct upstream_priv*)u;

	if(!u)
		return;
	free(u->addr);
	free(u->client_cert);
	free(u->client_key);
	free(up->namebuf);
	free(up);
}

void
dotpool_config_free(struct dotpool_config* cfg)
{
	struct dotpool_zone_cfg* z, *zn;
	struct dotpool_upstream_cfg* u, *un;

	if(!cfg)
		return;
	for(z = cfg->zones; z; z = zn) {
		zn = z->next;
		free(z->name);
		free(z);
	}
	for(u = cfg->upstreams; u; u = un) {
		un = u->next;
		dotpool_cfg_upstream_free(u);
	}
	free(cfg->path);
	free(cfg->tls_min_version);
	free(cfg->tls_ciphers);
	free(cfg->tls_ciphersuites);
	free(cfg->metrics_listen);
	free(cfg);
}

/** Parse an unsigned decimal; 0 or -1 when not a number or too large. */
int
dotpool_cfg_parse_uint(const char* s, unsigned long* v)
{
	char* end;

	if(!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if(errno || *end)
		return -1;
	return 0;
}

/** Parse "IP" into family and bytes; 0 or -1. */
int
dotpool_cfg_parse_ip(const char* s, int* family, unsigned char* ip)
{
	if(inet_pton(AF_INET, s, ip) == 1) {
		*family = AF_INET;
		return 0;
	}
	if(inet_pton(AF_INET6, s, ip) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/** Compare domain names case-insensitively, a trailing dot optional. */
int
dotpool_cfg_name_eq(const char* a, const char* b)
{
	size_t la = strlen(a), lb = strlen(b);

	if(la > 0 && a[la - 1] == '.')
		la--;
	if(lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

const struct dotpool_zone_cfg*
dotpool_config_zone(const struct dotpool_config* cfg, const char* name)
{
	const struct dotpool_zone_cfg* z;

	if(!cfg || !name)
		return NULL;
	for(z = cfg->zones; z; z = z->next)
		if(dotpool_cfg_name_eq(z->name, name))
			return z;
	return NULL;
}

const struct dotpool_upstream_cfg*
dotpool_config_upstream(const struct dotpool_config* cfg, const char* ip,
	int port, const char* name)
{
	const struct dotpool_upstream_cfg* u, *best = NULL;
	unsigned char bin[16];
	int fam, best_score = -1;

	if(!cfg || !ip || dotpool_cfg_parse_ip(ip, &fam, bin) != 0)
		return NULL;
	for(u = cfg->upstreams; u; u = u->next) {
		const struct upstream_priv* up =
			(const struct upstream_priv*)u;
		int score = 0;
		if(up->family != fam || memcmp(up->ip, bin,
			fam == AF_INET ? 4 : 16) != 0)
			continue;
		if(up->port) {
			if(up->port != port)
				continue;
			score++;
		}
		if(up->name) {
			if(!name || !dotpool_cfg_name_eq(up->name, name))
				continue;
			score++;
		}
		/* The most specific section wins, so a section for one
		 * name on a shared IP beats a catch-all for the IP. */
		if(score > best_score) {
			best = u;
			best_score = score;
		}
	}
	return best;
}
