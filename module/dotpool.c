/**
 * \file
 * The six entry points Unbound's dynlib module looks up, module set-up and
 * tear-down, and the per-worker state. Everything else in the library is
 * hidden (-fvisibility=hidden), so no name of ours can collide with
 * Unbound's in the RTLD_GLOBAL namespace.
 */
#include "module/glue.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "util/log.h"
#include "util/locks.h"
#include "util/config_file.h"
#include "util/netevent.h"
#include "daemon/worker.h"
#include "services/mesh.h"
#include "services/modstack.h"
#include "util/ub_event.h"
#include "sldns/str2wire.h"
#include "dynlibmod/dynlibmod.h"
#include "dotpool/abi.h"
#include "dotpool/board.h"
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "dotpool/metrics.h"
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
	if(dotpool_abi_check("/proc/self/exe", PACKAGE_VERSION, CONFCMDLINE,
		features, sizeof(features)/sizeof(features[0]), lookup_symbol,
		&err) != 0) {
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

/**
 * Check the module stack: dotpool must run before the iterator, which it
 * needs for scrubbing, and must not run twice.
 */
static int
check_module_order(struct config_file* cfg)
{
	const char* mc = cfg->module_conf ? cfg->module_conf :
		"validator iterator";
	const char* d = strstr(mc, "dynlib");
	const char* it = strstr(mc, "iterator");
	if(!d || !it || it < d) {
		log_err("dotpool: module-config must list dynlib before "
			"iterator (e.g. \"validator dynlib iterator\"), got "
			"\"%s\"", mc);
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

/** Load dotpool's settings file. */
static struct dotpool_config*
load_settings(void)
{
	char err[512];
	const char* path = getenv(DOTPOOL_CONF_ENV);
	int missing_ok = 0;
	struct dotpool_config* cfg = dotpool_config_new();
	if(!cfg) {
		log_err("dotpool: out of memory");
		return NULL;
	}
	if(!path || !*path) {
		path = DOTPOOL_DEFAULT_CONF;
		missing_ok = 1;
	}
	if(dotpool_config_read(cfg, path, missing_ok, err, sizeof(err))
		!= 0) {
		log_err("dotpool: %s", err);
		dotpool_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/** One upstream into the metrics snapshot. */
static void
collect_upstream(struct dotpool_upstream* up, void* arg)
{
	struct dotpool_metrics_snapshot* snap =
		(struct dotpool_metrics_snapshot*)arg;
	const char* zone = dotpool_upstream_zone(up);
	(void)dotpool_metrics_snapshot_add(snap, dotpool_upstream_name(up),
		zone ? zone : "", dotpool_upstream_stats(up));
}

/**
 * Metrics thread: read every worker's upstreams. Workers publish their
 * slot and their upstreams with release stores and never free them while
 * the module is loaded (the endpoint stops first in deinit); counters are
 * read as they are, a scrape may see a value a moment old.
 */
/** Bytes the module holds: Unbound's get_mem and dotpool_memory_bytes.
 * Safe from any thread (worker slots are read with acquire loads). */
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
			sz += sizeof(*w) + dotpool_pool_mem(w->pool);
	}
	return sz;
}

static int
collect_metrics(struct dotpool_metrics_snapshot* snap, void* arg)
{
	struct dotpool_env* de = (struct dotpool_env*)arg;
	int i;
	for(i = 0; i < de->num_workers; i++) {
		struct dotpool_worker* w = __atomic_load_n(&de->workers[i],
			__ATOMIC_ACQUIRE);
		if(w)
			dotpool_pool_foreach(w->pool, collect_upstream, snap);
	}
	dotpool_metrics_snapshot_module(snap, DOTPOOL_VERSION,
		PACKAGE_VERSION, (uint64_t)module_mem(de));
	return 0;
}

int
init(struct module_env* env, int id)
{
	struct dynlibmod_env* dm = (struct dynlibmod_env*)env->modinfo[id];
	struct dotpool_env* de = NULL;
	struct config_stub* s;
	struct dotpool_tls_trust trust;
	char err[512];
	int ntls = 0;

	if(!abi_guard() || !check_module_order(env->cfg))
		return 0;
	dotpool_log_set(log_sink);
	de = calloc(1, sizeof(*de));
	if(!de) {
		log_err("dotpool: out of memory");
		return 0;
	}
	if(!(de->cfg = load_settings()) || !index_zones(de))
		goto fail;
	for(s = env->cfg->forwards; s; s = s->next) {
		if(!stub_is_tls(env->cfg, s))
			continue;
		ntls++;
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
			log_err("dotpool: metrics-listen %s: %s",
				de->cfg->metrics_listen, err);
			goto fail;
		}
		verbose(VERB_OPS, "dotpool: metrics endpoint on %s, path /metrics",
			de->cfg->metrics_listen);
	}
	dm->dyn_env = de;
	verbose(VERB_OPS, "dotpool: loaded, %d TLS forward zone(s), "
		"settings from %s", ntls,
		de->cfg->path ? de->cfg->path : "defaults");
	return 1;
fail:
	if(de) {
		free_zones(de);
		dotpool_tls_free(de->tls);
		dotpool_config_free(de->cfg);
		free(de->workers);
		dotpool_board_free(de->board);
		free(de);
	}
	return 0;
}

void
deinit(struct module_env* env, int id)
{
	struct dynlibmod_env* dm = (struct dynlibmod_env*)env->modinfo[id];
	struct dotpool_env* de = env_of(env, id);
	int i;
	if(!de)
		return;
	/* first the thread that reads the pools */
	dotpool_metrics_stop(de->metrics);
	/* Unbound has freed the workers' event bases already: free memory,
	 * close sockets, but touch no event. */
	for(i = 0; i < de->num_workers; i++) {
		if(!de->workers[i])
			continue;
		dotpool_pool_free(de->workers[i]->pool, 0);
		free(de->workers[i]);
	}
	free(de->workers);
	dotpool_board_free(de->board);
	free_zones(de);
	dotpool_tls_free(de->tls);
	dotpool_config_free(de->cfg);
	free(de);
	dm->dyn_env = NULL;
}

/** Refresh Unbound's clock at the top of each of our event callbacks. */
static void
worker_wake(void* arg)
{
	ub_comm_base_now((struct comm_base*)arg);
}

struct dotpool_worker*
dotpool_worker_get(struct dotpool_env* de, struct module_env* env)
{
	struct worker* wk = (struct worker*)env->worker;
	struct dotpool_worker* w;
	int n;
	if(!wk)
		return NULL;
	n = wk->thread_num;
	if(n < 0 || n >= de->num_workers)
		return NULL;
	if(de->workers[n])
		return de->workers[n];
	if(!de->tls)
		return NULL;
	w = calloc(1, sizeof(*w));
	if(!w)
		return NULL;
	w->de = de;
	w->env = env;
	w->thread_num = n;
	w->iter_id = modstack_find(&env->mesh->mods, "iterator");
	/* with libevent, Unbound's ub_event_base is the event_base */
	w->pool = dotpool_pool_create(
		(struct event_base*)comm_base_internal(env->worker_base),
		de->cfg, de->tls, worker_wake, env->worker_base);
	dotpool_pool_set_board(w->pool, de->board);
	if(!w->pool || w->iter_id < 0) {
		dotpool_pool_free(w->pool, 1);
		free(w);
		return NULL;
	}
	/* the metrics thread reads the slot */
	__atomic_store_n(&de->workers[n], w, __ATOMIC_RELEASE);
	return w;
}

void
operate(struct module_qstate* qstate, enum module_ev event, int id,
	struct outbound_entry* outbound)
{
	struct dotpool_env* de = env_of(qstate->env, id);
	struct dotpool_q* dq = (struct dotpool_q*)qstate->minfo[id];
	(void)outbound;

	switch(event) {
	case module_event_new:
	case module_event_pass:
		if(dq && dq->waiting)
			return; /* already on the wire; the answer wakes us */
		if(!de || !(dq = dotpool_query_claim(de, qstate, id))) {
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
		if(dq && !dq->waiting) {
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
