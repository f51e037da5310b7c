/**
 * \file
 * dotpool's own settings file: what unbound.conf has no option for. Same
 * style as unbound.conf: `section:` lines, then `key: value` lines, `#`
 * comments (at the start of a line or after white space, never inside
 * double quotes, so IP@port#name needs no quotes), values optionally in
 * double quotes. Sections:
 *
 *   dotpool:            global settings (may appear once)
 *   zone:               per forward zone; `name:` first
 *   upstream:           per upstream; `addr:` first, spelled as the
 *                       forward-addr it refines (IP[@port][#name])
 *
 * Durations are in milliseconds. An unknown key, a key in the wrong section,
 * or a bad value fails the load with "file:line: key: reason".
 * No Unbound types here.
 */
#ifndef DOTPOOL_CONFIG_H
#define DOTPOOL_CONFIG_H
#include <stddef.h>

/** Default settings file, when DOTPOOL_CONF is not set in the environment. */
#ifndef DOTPOOL_DEFAULT_CONF
#define DOTPOOL_DEFAULT_CONF "/etc/unbound/dotpool.conf"
#endif
/** Environment variable that names another settings file. */
#define DOTPOOL_CONF_ENV "DOTPOOL_CONF"

/** How a zone picks among its upstreams. */
enum dotpool_policy {
	/** the first healthy upstream in forward-addr order (default) */
	DOTPOOL_POLICY_ORDERED = 0,
	/** each query to the next healthy upstream */
	DOTPOOL_POLICY_ROUND_ROBIN,
	/** a healthy upstream at random */
	DOTPOOL_POLICY_RANDOM,
	/** at random, in proportion to `weight` */
	DOTPOOL_POLICY_WEIGHTED,
	/** lowest smoothed latency, exploring the others now and then */
	DOTPOOL_POLICY_FASTEST
};

/** Name of a policy, as written in the settings file. */
const char* dotpool_policy_str(enum dotpool_policy p);

/** How an upstream is authenticated (RFC 8310). */
enum dotpool_profile {
	/** name and/or pins must verify, or nothing is sent (default) */
	DOTPOOL_PROFILE_STRICT = 0,
	/** encrypt, but send even if authentication fails */
	DOTPOOL_PROFILE_OPPORTUNISTIC
};

/** Name of a profile, as written in the settings file. */
const char* dotpool_profile_str(enum dotpool_profile p);

/** Most SPKI pins per upstream. */
#define DOTPOOL_MAX_PINS 8

/** Settings of one upstream (`upstream:` section). */
struct dotpool_upstream_cfg {
	/** next in list */
	struct dotpool_upstream_cfg* next;
	/** the forward-addr this refines: "IP", "IP@port", "IP@port#name" */
	char* addr;
	/** SHA-256 of the SubjectPublicKeyInfo, decoded from base64 */
	unsigned char pins[DOTPOOL_MAX_PINS][32];
	/** number of pins */
	int num_pins;
	/** weight for the weighted policy, 1..1000, default 1 */
	unsigned weight;
	/** authentication profile; -1 means "as the zone" */
	int profile;
	/** PEM client certificate for mTLS, or NULL */
	char* client_cert;
	/** PEM client key for mTLS, or NULL */
	char* client_key;
	/** file line where the section starts, for messages */
	int line;
};

/** hedge-delay: auto: hedge at the attempt's soft deadline. */
#define DOTPOOL_HEDGE_AUTO 0xffffffffu

/** Settings of one zone (`zone:` section). */
struct dotpool_zone_cfg {
	/** next in list */
	struct dotpool_zone_cfg* next;
	/** zone name in presentation format, with trailing dot */
	char* name;
	/** upstream selection policy */
	enum dotpool_policy policy;
	/** ms without an answer before also asking a second upstream;
	 * 0 = no hedging, DOTPOOL_HEDGE_AUTO = at the attempt's soft
	 * deadline (default: the global hedge-delay) */
	unsigned hedge_delay;
	/** authentication profile for the zone's upstreams */
	enum dotpool_profile profile;
	/** file line where the section starts, for messages */
	int line;
};

/** All settings. Defaults are documented in dotpool.conf.sample. */
struct dotpool_config {
	/** the file read, or NULL when defaults only */
	char* path;

	/* ---- query handling ---- */
	/** ms one attempt waits for its answer before failing over (700) */
	unsigned attempt_timeout;
	/** ms a query may take in all, attempts and retries (1800) */
	unsigned query_timeout;
	/** attempts per query, across upstreams (3) */
	unsigned max_attempts;
	/** default upstream policy for zones without a zone: section */
	enum dotpool_policy policy;
	/** default hedge delay in ms, 0 = off, DOTPOOL_HEDGE_AUTO = at the
	 * soft deadline the upstream's round-trip estimate gives (auto) */
	unsigned hedge_delay;
	/** lower bound of the soft deadline in ms (50) */
	unsigned soft_deadline_min;
	/** upper bound of the soft deadline in ms, and the deadline of an
	 * upstream with no round trip measured yet (400) */
	unsigned soft_deadline_max;
	/** hedges per 100 queries a worker may send, in the long run (2) */
	unsigned hedge_percent;
	/** hedges a worker may send at once beyond that share (20) */
	unsigned hedge_burst;

	/* ---- connections ---- */
	/** ms to set up TCP and TLS (2000) */
	unsigned connect_timeout;
	/** ms an idle connection is kept open by us (20000) */
	unsigned idle_timeout;
	/** queries in flight on one connection (128) */
	unsigned max_inflight;
	/** connections per upstream per thread (2) */
	unsigned max_connections;
	/** queries waiting for a connection, per upstream per thread (1024) */
	unsigned max_queue;
	/** open a connection to each upstream at start and after an idle
	 * close, so the first query does not wait for a handshake (no) */
	int prewarm;
	/** ms after an upstream's last query during which a connection the
	 * server closed for idleness (or ours, closed just before the
	 * server would) is opened again at once; 0 = never (60000) */
	unsigned rewarm_window;
	/** honour the server's edns-tcp-keepalive timeout (yes) */
	int keepalive;

	/* ---- health ---- */
	/** consecutive failures that mark an upstream down (3) */
	unsigned fail_threshold;
	/** first backoff in ms after an upstream goes down (500) */
	unsigned backoff_initial;
	/** backoff cap in ms (10000) */
	unsigned backoff_max;
	/** ms between active probes of a down upstream; 0 = passive only
	 * (1000) */
	unsigned probe_interval;

	/* ---- TLS ---- */
	/** minimum TLS version: "1.2" or "1.3" ("1.2") */
	char* tls_min_version;
	/** OpenSSL cipher list for TLS 1.2, NULL = OpenSSL default */
	char* tls_ciphers;
	/** TLS 1.3 cipher suites, NULL = OpenSSL default */
	char* tls_ciphersuites;
	/** resume TLS sessions (yes) */
	int session_resumption;
	/** default authentication profile (strict) */
	enum dotpool_profile profile;

	/* ---- observability ---- */
	/** "IP@port" for the Prometheus endpoint, NULL = off */
	char* metrics_listen;
	/** line of metrics-listen in the file, for a bind error (0 = none) */
	int metrics_listen_line;

	/** zone sections */
	struct dotpool_zone_cfg* zones;
	/** upstream sections */
	struct dotpool_upstream_cfg* upstreams;
};

/**
 * Allocate settings with every default set.
 * @return settings or NULL (out of memory).
 */
struct dotpool_config* dotpool_config_new(void);

/** Free settings; cfg may be NULL. */
void dotpool_config_free(struct dotpool_config* cfg);

/**
 * Read a settings file into cfg (which holds defaults).
 * @param cfg: settings to fill.
 * @param path: the file.
 * @param missing_ok: if set, a file that does not exist is not an error
 *	(defaults stay).
 * @param err: returns a message "file:line: key: reason" on failure.
 * @param errlen: size of err.
 * @return 0 or DOTPOOL_ECONFIG (message in err) or DOTPOOL_ENOMEM. On
 *	failure cfg may hold part of the file: free it, do not use it.
 */
int dotpool_config_read(struct dotpool_config* cfg, const char* path,
	int missing_ok, char* err, size_t errlen);

/**
 * Read a settings file's bytes, unparsed: what a reload keeps as the last
 * good text once it parsed.
 * @param path: the file.
 * @param missing_ok: as for dotpool_config_read; then *text is NULL.
 * @param text: returns the malloced bytes, NUL-terminated (caller frees).
 * @param len: returns their length.
 * @param err: message on failure.
 * @param errlen: size of err.
 * @return 0, DOTPOOL_ECONFIG or DOTPOOL_ENOMEM.
 */
int dotpool_config_file_text(const char* path, int missing_ok, char** text,
	size_t* len, char* err, size_t errlen);

/**
 * Parse settings text as if read from the file `path` (messages name it,
 * cfg->path is set to it). dotpool_config_read is this on the file's bytes.
 * @param cfg: settings to fill (holds defaults).
 * @param path: the file the text is, or was, the contents of.
 * @param text: the bytes (borrowed; need not be NUL-terminated).
 * @param len: their length; a NUL byte inside is an error.
 * @return as dotpool_config_read.
 */
int dotpool_config_read_text(struct dotpool_config* cfg, const char* path,
	const char* text, size_t len, char* err, size_t errlen);

/**
 * Read settings from a string (for tests); messages name `name` as file.
 * @return as dotpool_config_read.
 */
int dotpool_config_read_string(struct dotpool_config* cfg, const char* name,
	const char* text, char* err, size_t errlen);

/**
 * The zone section for a zone name (case-insensitive, trailing dot
 * optional), or NULL.
 */
const struct dotpool_zone_cfg* dotpool_config_zone(
	const struct dotpool_config* cfg, const char* name);

/**
 * The upstream section that refines a forward-addr, or NULL. Matches when
 * the section's addr equals the forward-addr, or names the same IP (and the
 * same port and name where the section gives them).
 * @param cfg: settings.
 * @param ip: the address in presentation form.
 * @param port: the port.
 * @param name: TLS authentication name or NULL.
 */
const struct dotpool_upstream_cfg* dotpool_config_upstream(
	const struct dotpool_config* cfg, const char* ip, int port,
	const char* name);

/** A forward zone of unbound.conf served over TLS, for the cross-checks. */
struct dotpool_tls_forward {
	/** the zone name as written */
	const char* name;
	/** its forward-addr values as written, NULL-terminated */
	const char* const* addrs;
};

/**
 * Report one problem of the cross-checks.
 * @param msg: "file:line: key: reason".
 * @param arg: the caller's.
 */
typedef void (*dotpool_config_report_t)(const char* msg, void* arg);

/**
 * Check the settings against the forward zones they refine: every zone:
 * must name a TLS forward zone, every upstream: must be what some
 * forward-addr of a TLS forward zone selects. A section that matches
 * nothing is a typo whose settings (pins among them) would silently not
 * apply.
 * @param cfg: the settings.
 * @param fwds: the TLS forward zones.
 * @param n: how many.
 * @param report: called once per problem.
 * @param arg: for report.
 * @return the number of problems, or DOTPOOL_ENOMEM.
 */
int dotpool_config_check_forwards(const struct dotpool_config* cfg,
	const struct dotpool_tls_forward* fwds, size_t n,
	dotpool_config_report_t report, void* arg);

#endif /* DOTPOOL_CONFIG_H */
