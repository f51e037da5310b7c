/**
 * \file
 * The six entry points Unbound's dynlib module looks up, module set-up and
 * tear-down, and the per-worker state. Everything else in the library is
 * hidden (-fvisibility=hidden), so no name of ours can collide with
 * Unbound's in the RTLD_GLOBAL namespace.
 */
#include "module/glue/glue.h"
#include "module/glue/query.h"
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <string.h>
#include "util/log.h"
#include "util/locks.h"
#include "util/config_file.h"
#include "util/netevent.h"
#include "util/net_help.h"
#include "services/mesh.h"
#include "sldns/str2wire.h"
#include "dynlibmod/dynlibmod.h"
#include "dotpool/abi.h"
#include "dotpool/board.h"
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "dotpool/metrics.h"
#include "dotpool/stack.h"
#include "dotpool/tls.h"

#define DOTPOOL_EXPORT __attribute__((visibility("default")))

DOTPOOL_EXPORT int init(struct module_env* env, int id);
DOTPOOL_EXPORT void deinit(struct module_env* env, int id);
DOTPOOL_EXPORT void operate(struct module_qstate* qstate,
	enum module_ev event, int id, struct outbound_entry* outbound);
DOTPOOL_EXPORT void inform_super(struct module_qstate* qstate, int id,
	struct module_qstate* super);
DOTPOOL_EXPORT void clear(struct module_qstate* qstate, int id);
DOTPOOL_EXPORT size_t get_mem(struct module_env* env, int id);

/** Our state from the dynlib wrapper's slot. */
static struct dotpool_env*
env_of(struct module_env* env, int id)
{
	struct dynlibmod_env* dm = (struct dynlibmod_env*)env->modinfo[id];
	return dm ? (struct dotpool_env*)dm->dyn_env : NULL;
}

/** dlsym in the whole process, for the ABI guard's feature check. */
static void*
lookup_symbol(const char* name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/** Refuse to run inside an Unbound build we were not compiled for. */
static int
abi_guard(void)
{
	static const struct dotpool_abi_feature features[] = {
		{ "dnstap", "dt_create",
#ifdef USE_DNSTAP
			1
#else
			0
#endif
		},
		{ "subnetcache", "subnetmod_get_funcblock",
#ifdef CLIENT_SUBNET
			1
#else
			0
#endif
		},
		{ "python module", "pythonmod_get_funcblock",
#ifdef WITH_PYTHONMODULE
			1
#else
			0
#endif
		},
		{ "cachedb", "cachedb_get_funcblock",
#ifdef USE_CACHEDB
			1
#else
			0
#endif
		},
		{ "ipsecmod", "ipsecmod_get_funcblock",
#ifdef USE_IPSECMOD
			1
#else
			0
#endif
		},
		{ "ipset", "ipset_get_funcblock",
#ifdef USE_IPSET
			1
#else
			0
#endif
		},
		/* struct config_file has redis fields */
		{ "redis", "redis_backend",
#ifdef USE_REDIS
			1
#else
			0
#endif
		},
		/* lock checks change every lock, the forwarders' one too */
		{ "lock checks", "checklock_start",
#ifdef USE_THREAD_DEBUG
			1
#else
			0
#endif
		},
		{ "dynlib module", "dynlibmod_get_funcblock", 1 }
	};
	char* err = NULL;
	if(dotpool_abi_check_self(PACKAGE_VERSION, CONFCMDLINE, features,
		sizeof(features)/sizeof(features[0]), lookup_symbol, &err) != 0) {
		/* the whole message: it ends with what to do */
		log_err("dotpool: not loaded: %s", err ? err : "out of memory "
			"checking the Unbound build");
		free(err);
		return 0;
	}
	return 1;
}

/** Whether a forward zone of the config is served over TLS. */
static int
stub_is_tls(struct config_file* cfg, struct config_stub* s)
{
	return s->ssl_upstream || cfg->ssl_upstream;
}

/** What check_module_order needs to tell which dynlibs load dotpool. */
struct self_files {
	/** Unbound's dynlib-file list, in module-config order */
	struct config_strlist* files;
	/** our own file, resolved */
	char self[PATH_MAX];
};

/** Whether the n-th dynlib loads the same file as ours. */
static int
dynlib_is_self(int n, void* arg)
{
	struct self_files* sf = (struct self_files*)arg;
	struct config_strlist* f = sf->files;
	char real[PATH_MAX];

	while(f && n-- > 0)
		f = f->next;
	if(!f || !f->str || !realpath(f->str, real))
		return 0;
	return strcmp(real, sf->self) == 0;
}

/**
 * Check the module stack: dotpool directly before the iterator, loaded
 * once. A wrong stack may start and answer SERVFAIL to everything (the
 * validator after dynlib), so it stops Unbound with the line to write.
 * @param cfg: Unbound's configuration.
 * @param id: our place in the module stack.
 * @param fname: the file dynlib loaded us from.
 */
static int
check_module_order(struct config_file* cfg, int id, const char* fname)
{
	struct self_files sf;
	char err[512];

	sf.files = cfg->dynlib_file;
	if(!fname || !realpath(fname, sf.self))
		snprintf(sf.self, sizeof(sf.self), "%s", fname ? fname : "");
	if(dotpool_stack_check(cfg->module_conf, id, dynlib_is_self, &sf,
		err, sizeof(err)) != 0) {
		log_err("dotpool: %s", err);
		return 0;
	}
	return 1;
}

/** The transport's log sink (messages carry their "dotpool: " prefix). */
static void
log_sink(int level, const char* msg)
{
	switch(level) {
	case DOTPOOL_LOG_ERR: log_err("%s", msg); break;
	case DOTPOOL_LOG_WARN: log_warn("%s", msg); break;
	case DOTPOOL_LOG_OPS: verbose(VERB_OPS, "%s", msg); break;
	case DOTPOOL_LOG_DETAIL: verbose(VERB_DETAIL, "%s", msg);
		break;
	default: verbose(VERB_ALGO, "%s", msg); break;
	}
}

/**
 * Refuse a strict forward-addr with neither a #name nor a pin: the chain
 * alone is satisfied by any certificate the CA store trusts, issued for
 * any name, so "strict" would authenticate nothing in particular.
 * @return 1 when every forward-addr of the zone can be authenticated (or
 *	is opportunistic), 0 after logging the first one that cannot.
 */
static int
check_zone_auth(struct dotpool_config* dcfg, struct config_stub* s)
{
	const struct dotpool_zone_cfg* z = dotpool_config_zone(dcfg, s->name);
	enum dotpool_profile zprofile = z ? z->profile : dcfg->profile;
	struct config_strlist* a;
	for(a = s->addrs; a; a = a->next) {
		const struct dotpool_upstream_cfg* u;
		struct sockaddr_storage addr;
		socklen_t addrlen = 0;
		char* name = NULL, ip[INET6_ADDRSTRLEN];
		int port, profile;
		if(!authextstrtoaddr(a->str, &addr, &addrlen, &name))
			continue; /* Unbound reports it */
		if(name && name[0])
			continue;
		if(addr.ss_family == AF_INET6) {
			struct sockaddr_in6* s6 = (struct sockaddr_in6*)&addr;
			port = ntohs(s6->sin6_port);
			if(!inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)))
				continue;
		} else {
			struct sockaddr_in* s4 = (struct sockaddr_in*)&addr;
			port = ntohs(s4->sin_port);
			if(!inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)))
				continue;
		}
		u = dotpool_config_upstream(dcfg, ip, port, NULL);
		profile = (u && u->profile >= 0) ? u->profile : (int)zprofile;
		if(profile != (int)DOTPOOL_PROFILE_STRICT ||
			(u && u->num_pins > 0))
			continue;
		log_err("dotpool: forward zone %s: forward-addr %s has neither "
			"a #name nor a pin: strict authentication would accept "
			"any certificate the CA store trusts, for any name. Add "
			"the server's TLS name (forward-addr: %s#name), or a "
			"pin-sha256 in an upstream: section of the dotpool "
			"settings (or, knowing what it means, profile: "
			"opportunistic)", s->name, a->str, a->str);
		return 0;
	}
	return 1;
}

/** Index the zone: sections by wire-format name. */
static int
index_zones(struct dotpool_env* de)
{
	const struct dotpool_zone_cfg* z;
	int n = 0;
	for(z = de->cfg->zones; z; z = z->next)
		n++;
	if(n == 0)
		return 1;
	de->zones = calloc((size_t)n, sizeof(*de->zones));
	if(!de->zones)
		return 0;
	for(z = de->cfg->zones; z; z = z->next) {
		size_t len = 0;
		uint8_t* wire = sldns_str2wire_dname(z->name, &len);
		if(!wire) {
			log_err("dotpool: %s:%d: zone %s: not a domain name",
				de->cfg->path, z->line, z->name);
			return 0;
		}
		de->zones[de->num_zones].name = wire;
		de->zones[de->num_zones].cfg = z;
		de->num_zones++;
	}
	return 1;
}

/** Free the zone index. */
static void
free_zones(struct dotpool_env* de)
{
	int i;
	for(i = 0; i < de->num_zones; i++)
		free(de->zones[i].name);
	free(de->zones);
	de->zones = NULL;
	de->num_zones = 0;
}

/** Free the list of zones falling back, and its mutex. */
static void
free_fallbacks(struct dotpool_env* de)
{
	struct dotpool_fallback* f, *next;
	for(f = de->fallbacks; f; f = next) {
		next = f->next;
		free(f);
	}
	de->fallbacks = NULL;
	de->num_fallbacks = 0;
	if(de->fallback_lock_ok)
		pthread_mutex_destroy(&de->fallback_lock);
	de->fallback_lock_ok = 0;
}

/*
 * A reload must not take DNS down over a typo in dotpool.conf. Unbound
 * dlcloses and re-opens the module on reload, so no static of ours
 * survives it, and init failing makes Unbound exit. What does survive is
 * the process: its environment. So on every good load the settings text
 * (and the file it came from) is kept in two variables of ours; a reload
 * whose file does not load logs why and parses that text again. At the
 * first start the variables do not exist and a bad file still refuses to
 * start. setenv runs in init only, when Unbound runs no other thread of
 * its own (before the workers start, after they were joined on reload).
 * The text is no secret (key files are named, not included); a child
 * process Unbound starts would inherit it.
 */
/** The last good settings text (empty for "no file: defaults"). */
#define LAST_GOOD_TEXT_ENV "DOTPOOL_LAST_GOOD_TEXT"
/** The file it was read from (empty for defaults). */
#define LAST_GOOD_FILE_ENV "DOTPOOL_LAST_GOOD_FILE"

/** Settings, with where they came from. */
struct settings_src {
	/** the file named or defaulted to */
	const char* path;
	/** its text, malloced; NULL when the file is missing (defaults) */
	char* text;
	/** its length */
	size_t len;
};

/**
 * Read dotpool's settings file.
 * @param src: returns the path and the text read (caller frees text).
 * @param reloading: set when a last good text exists: the message then
 *	says the previous settings stay.
 * @return the settings, or NULL with the error logged.
 */
static struct dotpool_config*
load_settings(struct settings_src* src, int reloading)
{
	char err[512];
	const char* path = getenv(DOTPOOL_CONF_ENV);
	int missing_ok = 0, ret;
	struct dotpool_config* cfg = dotpool_config_new();

	memset(src, 0, sizeof(*src));
	if(!cfg) {
		log_err("dotpool: out of memory");
		return NULL;
	}
	if(!path || !*path)
		path = DOTPOOL_DEFAULT_CONF;
	/* The default file may be missing however it is named (the systemd
	 * drop-in names it): then the defaults apply. */
	missing_ok = strcmp(path, DOTPOOL_DEFAULT_CONF) == 0;
	src->path = path;
	ret = dotpool_config_file_text(path, missing_ok, &src->text,
		&src->len, err, sizeof(err));
	if(ret == 0 && src->text)
		ret = dotpool_config_read_text(cfg, path, src->text, src->len,
			err, sizeof(err));
	if(ret != 0) {
		log_err("dotpool: %s%s", err, reloading ? "; reload: the "
			"previous settings stay in force" : "");
		dotpool_config_free(cfg);
		free(src->text);
		src->text = NULL;
		return NULL;
	}
	return cfg;
}

/**
 * The settings of the last good load, parsed again.
 * @return the settings, or NULL with the error logged.
 */
static struct dotpool_config*
last_good_settings(void)
{
	const char* text = getenv(LAST_GOOD_TEXT_ENV);
	const char* path = getenv(LAST_GOOD_FILE_ENV);
	struct dotpool_config* cfg = dotpool_config_new();
	char err[512];

	if(!cfg || !text || !path) {
		log_err("dotpool: out of memory");
		dotpool_config_free(cfg);
		return NULL;
	}
	/* "" is "there was no file": the defaults */
	if(*path && dotpool_config_read_text(cfg, path, text, strlen(text),
		err, sizeof(err)) != 0) {
		/* e.g. a client-cert file removed since: nothing to fall
		 * back on */
		log_err("dotpool: the previous settings no longer load: %s",
			err);
		dotpool_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/** Remember a good load for the next reload. */
static void
remember_settings(const struct settings_src* src)
{
	/* A file with a NUL byte never parses, so text is the whole file. */
	if(setenv(LAST_GOOD_TEXT_ENV, src->text ? src->text : "", 1) != 0 ||
		setenv(LAST_GOOD_FILE_ENV, src->text ? src->path : "", 1) != 0)
		log_warn("dotpool: cannot keep the settings for a reload "
			"(setenv: %s): a bad file at the next reload stops "
			"Unbound", strerror(errno));
}

/** Bytes the module holds: Unbound's get_mem and dotpool_memory_bytes.
 * Any thread: get_mem runs on whichever worker serves `unbound-control
 * stats` (and on every shm interval), the metrics figure on the metrics
 * thread. Worker slots are read with acquire loads; each pool's figure is
 * the one its owner publishes, never a walk of its connections. */
static size_t
module_mem(struct dotpool_env* de)
{
	size_t sz = sizeof(*de) + (size_t)de->num_workers *
		sizeof(*de->workers) + dotpool_board_mem(de->board);
	int i;
	for(i = 0; i < de->num_workers; i++) {
		struct dotpool_worker* w = __atomic_load_n(&de->workers[i],
			__ATOMIC_ACQUIRE);
		if(w)
			sz += dotpool_worker_mem(w);
	}
	return sz;
}

/**
 * Metrics thread: every worker's upstreams with the counters they
 * published. Workers publish their slot and their upstreams with release
 * stores and never free them while the module is loaded (the endpoint
 * stops first in deinit); a scrape may see a value a moment old.
 */
static int
collect_metrics(struct dotpool_metrics_snapshot* snap, void* arg)
{
	struct dotpool_env* de = (struct dotpool_env*)arg;
	int i, rc = 0;
	for(i = 0; i < de->num_workers; i++) {
		struct dotpool_worker* w = __atomic_load_n(&de->workers[i],
			__ATOMIC_ACQUIRE);
		if(w && dotpool_metrics_add_pool(snap, w->pool) < 0)
			rc = DOTPOOL_ENOMEM;
	}
	dotpool_metrics_snapshot_module(snap, DOTPOOL_VERSION,
		PACKAGE_VERSION, (uint64_t)module_mem(de));
	return rc;
}

/** Log one cross-check problem (a section that matches nothing). */
static void
report_section(const char* msg, void* arg)
{
	if(*(int*)arg)
		log_err("dotpool: %s", msg);
	else
		log_warn("dotpool: %s", msg);
}

/**
 * Refuse zone: and upstream: sections that refine nothing in unbound.conf:
 * their settings, pins among them, would silently not apply.
 * @param ucfg: Unbound's configuration.
 * @param cfg: the settings.
 * @param strict: refuse (else only warn).
 * @return 1 when every section matches (or !strict), 0 with the problems
 *	logged.
 */
static int
check_sections(struct config_file* ucfg, const struct dotpool_config* cfg,
	int strict)
{
	struct dotpool_tls_forward* fwds = NULL;
	const char** addrs = NULL;
	struct config_stub* s;
	struct config_strlist* a;
	size_t nf = 0, na = 0, f = 0, k = 0;
	int ret;

	if(!cfg->zones && !cfg->upstreams)
		return 1;
	for(s = ucfg->forwards; s; s = s->next) {
		if(!stub_is_tls(ucfg, s))
			continue;
		nf++;
		for(a = s->addrs; a; a = a->next)
			na++;
	}
	fwds = calloc(nf + 1, sizeof(*fwds));
	addrs = calloc(na + nf + 1, sizeof(*addrs));
	if(!fwds || !addrs) {
		free(fwds);
		free(addrs);
		log_err("dotpool: out of memory");
		return 0;
	}
	for(s = ucfg->forwards; s; s = s->next) {
		if(!stub_is_tls(ucfg, s))
			continue;
		fwds[f].name = s->name;
		fwds[f].addrs = &addrs[k];
		for(a = s->addrs; a; a = a->next)
			addrs[k++] = a->str;
		addrs[k++] = NULL;
		f++;
	}
	ret = dotpool_config_check_forwards(cfg, fwds, nf, report_section,
		&strict);
	if(ret == DOTPOOL_ENOMEM)
		log_err("dotpool: out of memory");
	free(fwds);
	free(addrs);
	return ret == 0 || (!strict && ret > 0);
}

/** Free what env_create built; de may be NULL. */
static void
env_free(struct dotpool_env* de)
{
	if(!de)
		return;
	dotpool_metrics_stop(de->metrics);
	free_fallbacks(de);
	free_zones(de);
	dotpool_tls_free(de->tls);
	dotpool_config_free(de->cfg);
	free(de->workers);
	dotpool_board_free(de->board);
	free(de);
}

/**
 * Build the module's state from Unbound's configuration and dotpool's
 * settings.
 * @param env: Unbound's.
 * @param cfg: the settings (taken over, freed on failure).
 * @param strict: refuse sections that match nothing (else warn).
 * @return the state, or NULL with the reason logged.
 */
static struct dotpool_env*
env_create(struct module_env* env, struct dotpool_config* cfg, int strict)
{
	struct dotpool_env* de = NULL;
	struct config_stub* s;
	struct dotpool_tls_trust trust;
	char err[512];
	int ntls = 0;

	de = calloc(1, sizeof(*de));
	if(!de) {
		log_err("dotpool: out of memory");
		dotpool_config_free(cfg);
		return NULL;
	}
	de->cfg = cfg;
	if(pthread_mutex_init(&de->fallback_lock, NULL) != 0) {
		log_err("dotpool: cannot create a mutex");
		goto fail;
	}
	de->fallback_lock_ok = 1;
	if(!index_zones(de) || !check_sections(env->cfg, cfg, strict))
		goto fail;
	for(s = env->cfg->forwards; s; s = s->next) {
		if(!stub_is_tls(env->cfg, s))
			continue;
		ntls++;
		if(!check_zone_auth(de->cfg, s))
			goto fail;
		if(s->hosts)
			log_warn("dotpool: forward zone %s: forward-host "
				"names are resolved by Unbound's iterator; "
				"dotpool serves only forward-addr upstreams",
				s->name);
	}
	memset(&trust, 0, sizeof(trust));
	trust.cert_bundle = env->cfg->tls_cert_bundle;
	trust.system_store = env->cfg->tls_win_cert;
	trust.use_sni = env->cfg->tls_use_sni;
	de->tls = dotpool_tls_create(&trust, de->cfg, err, sizeof(err));
	if(!de->tls && ntls > 0) {
		/* Never a forward zone that authenticates nothing: Unbound
		 * itself would send such queries over unverified TLS. */
		log_err("dotpool: %d forward zone(s) with forward-tls-upstream "
			"but no way to authenticate the upstreams: %s", ntls,
			err);
		goto fail;
	}
	de->num_workers = env->cfg->num_threads > 0 ?
		env->cfg->num_threads : 1;
	de->workers = calloc((size_t)de->num_workers, sizeof(*de->workers));
	de->board = dotpool_board_create();
	if(!de->workers || !de->board) {
		log_err("dotpool: out of memory");
		goto fail;
	}
	if(de->cfg->metrics_listen) {
		de->metrics = dotpool_metrics_start(de->cfg->metrics_listen,
			collect_metrics, de, err, sizeof(err));
		if(!de->metrics) {
			/* err starts with "metrics-listen ADDR:" itself */
			log_err("dotpool: %s:%d: %s", de->cfg->path ?
				de->cfg->path : "settings",
				de->cfg->metrics_listen_line, err);
			goto fail;
		}
		verbose(VERB_OPS, "dotpool: metrics endpoint on %s, path /metrics",
			de->cfg->metrics_listen);
	}
	de->cfg_mark = env->cfg->module_conf;
	verbose(VERB_OPS, "dotpool: loaded, %d TLS forward zone(s), "
		"settings from %s", ntls,
		de->cfg->path ? de->cfg->path : "defaults");
	return de;
fail:
	env_free(de);
	return NULL;
}

int
init(struct module_env* env, int id)
{
	struct dynlibmod_env* dm = (struct dynlibmod_env*)env->modinfo[id];
	struct dotpool_env* de = NULL;
	struct dotpool_config* cfg;
	struct settings_src src;
	int reloading;

	if(!abi_guard() || !check_module_order(env->cfg, id, dm->fname))
		return 0;
	dotpool_log_set(log_sink);
	reloading = getenv(LAST_GOOD_TEXT_ENV) && getenv(LAST_GOOD_FILE_ENV);
	if((cfg = load_settings(&src, reloading)) != NULL &&
		(de = env_create(env, cfg, 1)) != NULL)
		remember_settings(&src);
	else if(reloading) {
		int parsed = cfg != NULL;
		/* The previous settings were checked against the previous
		 * unbound.conf: a section that no longer matches is only
		 * warned about, so that this fallback cannot stop Unbound. */
		if((cfg = last_good_settings()) != NULL)
			de = env_create(env, cfg, 0);
		/* A file that parsed but was refused after (a zone: that
		 * names no forward zone, a port in use) was logged without
		 * the reload note. */
		if(de && parsed)
			log_err("dotpool: %s: not loaded (see above); reload: "
				"the previous settings stay in force",
				src.path);
	}
	free(src.text);
	if(!de)
		return 0;
	dm->dyn_env = de;
	de->warm = dotpool_warm_start(de, env->cfg);
	return 1;
}

void
deinit(struct module_env* env, int id)
{
	struct dynlibmod_env* dm = (struct dynlibmod_env*)env->modinfo[id];
	struct dotpool_env* de = env_of(env, id);
	int i;
	if(!de)
		return;
	/* first the threads that read the worker slots and the pools */
	dotpool_warm_stop(de->warm);
	dotpool_metrics_stop(de->metrics);
	/* Unbound has freed the workers' event bases already: free memory,
	 * close sockets, but touch no event. */
	for(i = 0; i < de->num_workers; i++) {
		if(!de->workers[i])
			continue;
		dotpool_worker_free(de->workers[i], 0);
	}
	free(de->workers);
	dotpool_board_free(de->board);
	free_fallbacks(de);
	free_zones(de);
	dotpool_tls_free(de->tls);
	dotpool_config_free(de->cfg);
	free(de);
	dm->dyn_env = NULL;
}

/**
 * Say once that a fast_reload happened and what of dotpool it left as it
 * was: the forward zones are Unbound's and are read per query, but the
 * settings file and the TLS trust were loaded at init, which a fast_reload
 * does not call.
 */
static void
note_fast_reload(struct dotpool_env* de, struct module_env* env)
{
	if(env->cfg->module_conf == de->cfg_mark ||
		__atomic_exchange_n(&de->fast_reload_noted, 1, __ATOMIC_RELAXED))
		return;
	log_warn("dotpool: fast_reload: the forward zones apply from the "
		"next query; %s and the TLS trust (tls-cert-bundle, "
		"tls-system-cert, tls-use-sni) dotpool loaded at start are "
		"not re-read by fast_reload: use unbound-control reload for "
		"changes there", de->cfg->path ? de->cfg->path : "dotpool.conf");
}

/**
 * The warm-up query: the worker builds its pool and upstreams (the point
 * of the query), and the name is answered here, never forwarded: NXDOMAIN,
 * which is how the warm-up thread knows dotpool, not Unbound, answered.
 */
static void
warm_answer(struct dotpool_env* de, struct module_qstate* qstate, int id)
{
	(void)dotpool_worker_get(de, qstate->env);
	qstate->no_cache_store = 1;
	qstate->return_rcode = LDNS_RCODE_NXDOMAIN;
	qstate->return_msg = NULL;
	qstate->ext_state[id] = module_finished;
}

void
operate(struct module_qstate* qstate, enum module_ev event, int id,
	struct outbound_entry* outbound)
{
	struct dotpool_env* de = env_of(qstate->env, id);
	struct dotpool_q* dq = (struct dotpool_q*)qstate->minfo[id];
	struct dotpool_worker* w;
	(void)outbound;

	switch(event) {
	case module_event_new:
	case module_event_pass:
		if(de && !dq && dotpool_warm_is_query(&qstate->qinfo)) {
			warm_answer(de, qstate, id);
			return;
		}
		if(de)
			note_fast_reload(de, qstate->env);
		if(dq && dotpool_query_waiting(dq))
			return; /* already on the wire; the answer wakes us */
		/* no worker: no trust configured or out of memory; Unbound's
		 * own forwarding applies its own rules */
		if(!de || !(w = dotpool_worker_get(de, qstate->env)) ||
			!(dq = dotpool_query_claim(w, qstate, id))) {
			qstate->ext_state[id] = module_wait_module;
			return;
		}
		qstate->minfo[id] = dq;
		dotpool_query_start(dq);
		return;
	case module_event_moddone:
		/* the iterator answered a query we passed on */
		qstate->ext_state[id] = module_finished;
		return;
	case module_event_reply:
	case module_event_noreply:
	case module_event_error:
	case module_event_capsfail:
		if(dq && !dotpool_query_waiting(dq)) {
			dotpool_query_result(dq);
			return;
		}
		break;
	}
	verbose(VERB_QUERY, "dotpool: unexpected event %s",
		strmodulevent(event));
	qstate->return_rcode = LDNS_RCODE_SERVFAIL;
	qstate->return_msg = NULL;
	qstate->ext_state[id] = module_finished;
}

void
inform_super(struct module_qstate* qstate, int id,
	struct module_qstate* super)
{
	/* dotpool starts no sub-queries */
	(void)qstate; (void)id; (void)super;
}

void
clear(struct module_qstate* qstate, int id)
{
	struct dotpool_q* dq;
	if(!qstate)
		return;
	dq = (struct dotpool_q*)qstate->minfo[id];
	if(dq)
		dotpool_query_clear(dq);
	qstate->minfo[id] = NULL;
}

size_t
get_mem(struct module_env* env, int id)
{
	struct dotpool_env* de = env_of(env, id);
	return de ? module_mem(de) : 0;
}
