/**
 * \file
 * dotpool-checkconf: check dotpool.conf, and check it against the
 * unbound.conf it will serve, before Unbound (re)loads it.
 *
 *   dotpool-checkconf [-c unbound.conf] [dotpool.conf]
 *
 * Exits 0 when the module would load these settings, 1 with one line
 * "file:line: key: reason" per problem otherwise, 2 on a usage error. It
 * parses dotpool.conf with the module's own parser (libdotpool_core) and
 * uses the module's own order check, so it cannot disagree with the module
 * on those; the cross-checks (zone:, upstream:, trust) are those the module
 * makes at load, on the forward-zone clauses read from unbound.conf.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dotpool/config.h"
#include "dotpool/error.h"
#include "dotpool/stack.h"
#include "unbound_conf.h"

#ifndef DOTPOOL_DEFAULT_UNBOUND_CONF
/** unbound.conf when -c is not given. */
#define DOTPOOL_DEFAULT_UNBOUND_CONF "/etc/unbound/unbound.conf"
#endif

/** Problems found so far. */
static int problems;

/** Print one problem. */
static void
problem(const char* msg, void* arg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
	problems++;
}

/** Whether a dynlib-file is dotpool's module (by its file name). */
static int
is_dotpool_file(const char* path)
{
	const char* b = strrchr(path, '/');

	return strncmp(b ? b + 1 : path, "dotpool", 7) == 0;
}

/** Stack check callback: the n-th dynlib loads dotpool. */
static int
nth_is_dotpool(int n, void* arg)
{
	const struct ubconf* uc = (const struct ubconf*)arg;

	return n >= 0 && (size_t)n < uc->dynlib_files.n &&
		is_dotpool_file(uc->dynlib_files.v[n].str);
}

/** Check module-config; @return whether unbound.conf loads dotpool. */
static int
check_stack(const struct ubconf* uc, const char* ubpath)
{
	char err[600], msg[700];
	size_t i;
	int loaded = 0;

	for(i = 0; i < uc->dynlib_files.n; i++)
		if(is_dotpool_file(uc->dynlib_files.v[i].str))
			loaded = 1;
	if(!loaded)
		return 0;
	if(dotpool_stack_check(uc->module_conf.str, -1, nth_is_dotpool,
		(void*)uc, err, sizeof(err)) != 0) {
		if(uc->module_conf.str)
			snprintf(msg, sizeof(msg), "%s:%d: %s",
				uc->module_conf.file, uc->module_conf.line, err);
		else
			snprintf(msg, sizeof(msg), "%s: %s (no module-config "
				"given: Unbound's default)", ubpath, err);
		problem(msg, NULL);
	}
	return 1;
}

/** Whether a forward zone is served over TLS. */
static int
fwd_is_tls(const struct ubconf* uc, const struct ubconf_forward* f)
{
	return f->tls || uc->tls_upstream;
}

/** Split IP[@port][#name] as the module's cross-check does. */
static void
split_addr(const char* a, char* ip, size_t iplen, int* port,
	const char** name)
{
	const char* at = strchr(a, '@'), *hash = strchr(a, '#');
	size_t len = at ? (size_t)(at - a) : hash ? (size_t)(hash - a) :
		strlen(a);

	*name = hash && hash[1] ? hash + 1 : NULL;
	*port = at ? atoi(at + 1) : hash ? 853 : 53;
	if(len >= iplen)
		len = iplen - 1;
	memcpy(ip, a, len);
	ip[len] = 0;
}

/**
 * Trust: each strict upstream of a TLS forward zone must be authenticable:
 * by the CA store with its #name, or by SPKI pins.
 */
static void
check_trust(const struct ubconf* uc, const struct dotpool_config* cfg)
{
	int ca = uc->system_cert || (uc->cert_bundle.str &&
		*uc->cert_bundle.str);
	char msg[900];
	size_t i, j;

	if(uc->cert_bundle.str && *uc->cert_bundle.str) {
		int fd = open(uc->cert_bundle.str, O_RDONLY);
		if(fd < 0) {
			snprintf(msg, sizeof(msg), "%s:%d: tls-cert-bundle: "
				"cannot read \"%s\": %s", uc->cert_bundle.file,
				uc->cert_bundle.line, uc->cert_bundle.str,
				strerror(errno));
			problem(msg, NULL);
		} else
			close(fd);
	}
	for(i = 0; i < uc->nfwds; i++) {
		const struct ubconf_forward* f = &uc->fwds[i];
		const struct dotpool_zone_cfg* z;
		if(!fwd_is_tls(uc, f) || !f->name.str)
			continue;
		z = dotpool_config_zone(cfg, f->name.str);
		for(j = 0; j < f->addrs.n; j++) {
			const struct ubconf_val* a = &f->addrs.v[j];
			const struct dotpool_upstream_cfg* u;
			const char* name;
			char ip[64];
			int port, profile;
			split_addr(a->str, ip, sizeof(ip), &port, &name);
			u = dotpool_config_upstream(cfg, ip, port, name);
			profile = u && u->profile >= 0 ? u->profile :
				z ? (int)z->profile : (int)cfg->profile;
			if(profile != DOTPOOL_PROFILE_STRICT ||
				(u && u->num_pins > 0))
				continue;
			if(!ca)
				snprintf(msg, sizeof(msg), "%s:%d: forward-addr: "
					"\"%s\": no way to authenticate it: no "
					"tls-cert-bundle or tls-system-cert in "
					"unbound.conf, no pin-sha256 for it in "
					"dotpool.conf", a->file, a->line, a->str);
			else if(!name)
				snprintf(msg, sizeof(msg), "%s:%d: forward-addr: "
					"\"%s\": no #name and no pin-sha256: a "
					"CA-signed certificate for any name would "
					"do; write IP@port#name", a->file, a->line,
					a->str);
			else
				continue;
			problem(msg, NULL);
		}
	}
}

/** The cross-check of zone: and upstream: sections, as the module does. */
static void
check_sections(const struct ubconf* uc, const struct dotpool_config* cfg)
{
	struct dotpool_tls_forward* fw = calloc(uc->nfwds + 1, sizeof(*fw));
	const char*** addrs = calloc(uc->nfwds + 1, sizeof(*addrs));
	size_t i, j, n = 0;

	if(!fw || !addrs) {
		problem("dotpool-checkconf: out of memory", NULL);
		goto done;
	}
	for(i = 0; i < uc->nfwds; i++) {
		const struct ubconf_forward* f = &uc->fwds[i];
		if(!fwd_is_tls(uc, f) || !f->name.str)
			continue;
		addrs[n] = calloc(f->addrs.n + 1, sizeof(char*));
		if(!addrs[n]) {
			problem("dotpool-checkconf: out of memory", NULL);
			goto done;
		}
		for(j = 0; j < f->addrs.n; j++)
			addrs[n][j] = f->addrs.v[j].str;
		fw[n].name = f->name.str;
		fw[n].addrs = addrs[n];
		n++;
	}
	if(dotpool_config_check_forwards(cfg, fw, n, problem, NULL) ==
		DOTPOOL_ENOMEM)
		problem("dotpool-checkconf: out of memory", NULL);
done:
	for(i = 0; addrs && i < uc->nfwds; i++)
		free(addrs[i]);
	free(addrs);
	free(fw);
}

/** Print the usage. */
static void
usage(FILE* out)
{
	fprintf(out, "usage: dotpool-checkconf [-c unbound.conf] "
		"[dotpool.conf]\n"
		"  Checks dotpool's settings file (default $%s, else %s)\n"
		"  against the unbound.conf it serves (default %s).\n"
		"  Exit 0: no errors; 1: errors, one file:line: key: reason "
		"each.\n", DOTPOOL_CONF_ENV, DOTPOOL_DEFAULT_CONF,
		DOTPOOL_DEFAULT_UNBOUND_CONF);
}

int
main(int argc, char** argv)
{
	const char* ubpath = DOTPOOL_DEFAULT_UNBOUND_CONF, *path;
	struct dotpool_config* cfg;
	struct ubconf uc;
	char err[1024];
	int c, missing_ok = 0;

	while((c = getopt(argc, argv, "c:h")) != -1) {
		switch(c) {
		case 'c': ubpath = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if(argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	if(argc - optind == 1)
		path = argv[optind];
	else if((path = getenv(DOTPOOL_CONF_ENV)) == NULL || !*path)
		path = DOTPOOL_DEFAULT_CONF;
	/* as the module: a missing default file means the defaults */
	missing_ok = strcmp(path, DOTPOOL_DEFAULT_CONF) == 0;
	if(!(cfg = dotpool_config_new())) {
		fprintf(stderr, "dotpool-checkconf: out of memory\n");
		return 1;
	}
	if(dotpool_config_read(cfg, path, missing_ok, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		dotpool_config_free(cfg);
		return 1;
	}
	if(ubconf_read(&uc, ubpath, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		ubconf_free(&uc);
		dotpool_config_free(cfg);
		return 1;
	}
	if(check_stack(&uc, ubpath)) {
		check_sections(&uc, cfg);
		check_trust(&uc, cfg);
	} else
		printf("dotpool-checkconf: %s loads no dynlib-file named "
			"dotpool*: checked %s alone\n", ubpath, path);
	if(!problems)
		printf("dotpool-checkconf: no errors in %s (with %s)\n",
			cfg->path ? cfg->path : "defaults", ubpath);
	ubconf_free(&uc);
	dotpool_config_free(cfg);
	return problems ? 1 : 0;
}
