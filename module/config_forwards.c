/**
 * \file
 * The settings against Unbound's TLS forward zones: every zone: section
 * must name one and every upstream: section must match one of their
 * forward-addr lines, so that a typo is reported rather than silently
 * ignored. Takes the forward zones as plain strings (no Unbound types).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dotpool/config.h"
#include "dotpool/error.h"
#include "config_int.h"

/**
 * Split a forward-addr as Unbound reads it (authextstrtoaddr): IP@port
 * with an optional #name; IP#name is port 853; a bare IP is port 53.
 * @return 0, or -1 when it is not an address (Unbound rejects it itself).
 */
static int
forward_addr_split(const char* fa, char* ip, size_t iplen, int* port,
	const char** name)
{
	const char* at = strchr(fa, '@'), *hash = strchr(fa, '#');
	size_t len;
	unsigned long u;

	*name = hash ? hash + 1 : NULL;
	*port = at ? 0 : hash ? 853 : 53;
	len = at ? (size_t)(at - fa) : hash ? (size_t)(hash - fa) :
		strlen(fa);
	if(len >= iplen)
		return -1;
	memcpy(ip, fa, len);
	ip[len] = 0;
	if(at) {
		char num[8];
		size_t pl = hash && hash > at ? (size_t)(hash - at - 1) :
			strlen(at + 1);
		if(pl == 0 || pl >= sizeof(num))
			return -1;
		memcpy(num, at + 1, pl);
		num[pl] = 0;
		if(dotpool_cfg_parse_uint(num, &u) != 0 || u > 65535)
			return -1;
		*port = (int)u;
	}
	return 0;
}

int
dotpool_config_check_forwards(const struct dotpool_config* cfg,
	const struct dotpool_tls_forward* fwds, size_t n,
	dotpool_config_report_t report, void* arg)
{
	const char* file = cfg->path ? cfg->path : "dotpool.conf";
	const struct dotpool_zone_cfg* z;
	const struct dotpool_upstream_cfg* u, **used = NULL;
	size_t i, j, nused = 0, cap = 0;
	char msg[600];
	int problems = 0;

	for(z = cfg->zones; z; z = z->next) {
		for(i = 0; i < n; i++)
			if(dotpool_cfg_name_eq(z->name, fwds[i].name))
				break;
		if(i < n)
			continue;
		snprintf(msg, sizeof(msg), "%s:%d: zone: \"%s\" names no "
			"forward-zone with forward-tls-upstream in unbound.conf",
			file, z->line, z->name);
		report(msg, arg);
		problems++;
	}
	for(i = 0; i < n; i++) {
		for(j = 0; fwds[i].addrs[j]; j++) {
			char ip[64];
			const char* name;
			int port;
			if(forward_addr_split(fwds[i].addrs[j], ip, sizeof(ip),
				&port, &name) != 0 ||
				!(u = dotpool_config_upstream(cfg, ip, port,
				name)))
				continue;
			if(nused == cap) {
				const struct dotpool_upstream_cfg** nu;
				cap = cap ? cap * 2 : 16;
				nu = realloc(used, cap * sizeof(*used));
				if(!nu) {
					free(used);
					return DOTPOOL_ENOMEM;
				}
				used = nu;
			}
			used[nused++] = u;
		}
	}
	for(u = cfg->upstreams; u; u = u->next) {
		for(i = 0; i < nused; i++)
			if(used[i] == u)
				break;
		if(i < nused)
			continue;
		snprintf(msg, sizeof(msg), "%s:%d: upstream: \"%s\" matches "
			"no forward-addr of a forward-zone with "
			"forward-tls-upstream in unbound.conf", file, u->line,
			u->addr);
		report(msg, arg);
		problems++;
	}
	free(used);
	return problems;
}
