/**
 * \file
 * The settings file parser.
 *
 * Table-driven: every key is one row naming its section, its value type
 * with bounds, and where the value goes. Adding a key is adding a row (and
 * the field, the default, the sample file entry). The parser knows nothing
 * about what the values mean beyond their bounds, except for the few
 * cross-key rules checked once the whole file is read.
 *
 * Messages follow "file:line: key: reason" so an operator can go straight
 * to the line; values are quoted back as written, because the operator's
 * text is what needs fixing.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "dotpool/config.h"
#include "dotpool/error.h"

/** Longest duration accepted for most timers: ten minutes. */
#define MS_10MIN 600000u
/** Longest duration for idle and backoff timers: one hour. */
#define MS_1H 3600000u

/** Sections of the file. */
enum cfg_section {
	/** before any section line */
	SEC_NONE = 0,
	/** dotpool: */
	SEC_GLOBAL,
	/** zone: */
	SEC_ZONE,
	/** upstream: */
	SEC_UPSTREAM
};

/** Value types. */
enum cfg_type {
	/** unsigned integer within [min, max] */
	T_UINT,
	/** duration in milliseconds within [min, max] */
	T_MS,
	/** yes or no, stored as int 1 / 0 */
	T_BOOL,
	/** free string, stored as malloced char* */
	T_STR,
	/** one of names[], stored as int index */
	T_ENUM,
	/** one of names[], stored as malloced char* */
	T_STRENUM,
	/** "IP@port", stored as malloced char* */
	T_LISTEN,
	/** zone name: starts a zone section */
	T_ZONENAME,
	/** upstream address: starts an upstream section */
	T_UPADDR,
	/** base64 SHA-256 pin, appended to the upstream's pins */
	T_PIN,
	/** path of a readable file, stored as malloced char* */
	T_FILE
};

/** Zone fields that were set in the zone section; the rest inherit the
 * global value once the whole file is read. */
enum {
	/** policy set */
	ZSET_POLICY = 1,
	/** hedge-delay set */
	ZSET_HEDGE = 2,
	/** profile set */
	ZSET_PROFILE = 4
};

/** One key of the file. */
struct cfg_key {
	/** key as written */
	const char* name;
	/** where it may appear */
	enum cfg_section sec;
	/** how its value is read */
	enum cfg_type type;
	/** field offset in the section's struct */
	size_t off;
	/** smallest value (T_UINT, T_MS) */
	unsigned min;
	/** largest value (T_UINT, T_MS) */
	unsigned max;
	/** allowed values (T_ENUM, T_STRENUM), NULL-terminated */
	const char* const* names;
	/** ZSET_* bit for zone keys */
	unsigned zset;
};

/** Policy names, indexed by enum dotpool_policy. */
static const char* const policy_names[] = { "ordered", "round-robin",
	"random", "weighted", "fastest", NULL };
/** Profile names, indexed by enum dotpool_profile. */
static const char* const profile_names[] = { "strict", "opportunistic",
	NULL };
/** TLS versions. */
static const char* const tls_versions[] = { "1.2", "1.3", NULL };

/** Row of a global key. */
#define G(n, t, f, lo, hi, nm) { n, SEC_GLOBAL, t, \
	offsetof(struct dotpool_config, f), lo, hi, nm, 0 }
/** Row of a zone key. */
#define Z(n, t, f, lo, hi, nm, z) { n, SEC_ZONE, t, \
	offsetof(struct dotpool_zone_cfg, f), lo, hi, nm, z }
/** Row of an upstream key. */
#define U(n, t, f, lo, hi, nm) { n, SEC_UPSTREAM, t, \
	offsetof(struct dotpool_upstream_cfg, f), lo, hi, nm, 0 }

/** Every key. */
static const struct cfg_key cfg_keys[] = {
	G("attempt-timeout", T_MS, attempt_timeout, 1, MS_10MIN, NULL),
	G("query-timeout", T_MS, query_timeout, 1, MS_10MIN, NULL),
	G("max-attempts", T_UINT, max_attempts, 1, 16, NULL),
	G("policy", T_ENUM, policy, 0, 0, policy_names),
	G("hedge-delay", T_MS, hedge_delay, 0, MS_10MIN, NULL),
	G("connect-timeout", T_MS, connect_timeout, 1, MS_10MIN, NULL),
	G("idle-timeout", T_MS, idle_timeout, 1, MS_1H, NULL),
	G("max-inflight", T_UINT, max_inflight, 1, 65535, NULL),
	G("max-connections", T_UINT, max_connections, 1, 1024, NULL),
	G("max-queue", T_UINT, max_queue, 1, 1000000, NULL),
	G("prewarm", T_BOOL, prewarm, 0, 0, NULL),
	G("rewarm-window", T_MS, rewarm_window, 0, MS_1H, NULL),
	G("keepalive", T_BOOL, keepalive, 0, 0, NULL),
	G("fail-threshold", T_UINT, fail_threshold, 1, 1000, NULL),
	G("backoff-initial", T_MS, backoff_initial, 1, MS_1H, NULL),
	G("backoff-max", T_MS, backoff_max, 1, MS_1H, NULL),
	G("probe-interval", T_MS, probe_interval, 0, MS_1H, NULL),
	G("tls-min-version", T_STRENUM, tls_min_version, 0, 0, tls_versions),
	G("tls-ciphers", T_STR, tls_ciphers, 0, 0, NULL),
	G("tls-ciphersuites", T_STR, tls_ciphersuites, 0, 0, NULL),
	G("session-resumption", T_BOOL, session_resumption, 0, 0, NULL),
	G("profile", T_ENUM, profile, 0, 0, profile_names),
	G("metrics-listen", T_LISTEN, metrics_listen, 0, 0, NULL),

	Z("name", T_ZONENAME, name, 0, 0, NULL, 0),
	Z("policy", T_ENUM, policy, 0, 0, policy_names, ZSET_POLICY),
	Z("hedge-delay", T_MS, hedge_delay, 0, MS_10MIN, NULL, ZSET_HEDGE),
	Z("profile", T_ENUM, profile, 0, 0, profile_names, ZSET_PROFILE),

	U("addr", T_UPADDR, addr, 0, 0, NULL),
	U("pin-sha256", T_PIN, pins, 0, 0, NULL),
	U("weight", T_UINT, weight, 1, 1000, NULL),
	U("profile", T_ENUM, profile, 0, 0, profile_names),
	U("client-cert", T_FILE, client_cert, 0, 0, NULL),
	U("client-key", T_FILE, client_key, 0, 0, NULL),
};

/** Number of keys. */
#define NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/** A zone with what the parser needs to finish it; public part first so
 * the list of public structs can be freed through it. */
struct zone_priv {
	/** what callers see */
	struct dotpool_zone_cfg pub;
	/** ZSET_* of fields given in the file */
	unsigned set;
};

/** An upstream with its address parsed, for lookups. */
struct upstream_priv {
	/** what callers see */
	struct dotpool_upstream_cfg pub;
	/** AF_INET or AF_INET6 */
	int family;
	/** address in network order */
	unsigned char ip[16];
	/** port, or 0 when the addr gives none */
	int port;
	/** TLS name (points into a copy of addr), or NULL */
	char* name;
	/** malloced buffer name points into */
	char* namebuf;
	/** lines of client-cert and client-key, 0 if absent */
	int cert_line, key_line;
};

/** Parser state. */
struct parser {
	/** settings being filled */
	struct dotpool_config* cfg;
	/** file name for messages */
	const char* file;
	/** current line */
	int line;
	/** message buffer */
	char* err;
	/** its size */
	size_t errlen;
	/** section the lines belong to */
	enum cfg_section sec;
	/** line of the current section header */
	int sec_line;
	/** a dotpool: section was seen */
	int seen_global;
	/** current zone, NULL until its name: */
	struct zone_priv* zone;
	/** current upstream, NULL until its addr: */
	struct upstream_priv* up;
	/** line where each global key was last set, 0 if not */
	int key_line[NKEYS];
};

const char*
dotpool_policy_str(enum dotpool_policy p)
{
	if((unsigned)p < sizeof(policy_names) / sizeof(policy_names[0]) - 1)
		return policy_names[p];
	return "unknown";
}

const char*
dotpool_profile_str(enum dotpool_profile p)
{
	if((unsigned)p < sizeof(profile_names) / sizeof(profile_names[0]) - 1)
		return profile_names[p];
	return "unknown";
}

/** Format "file:line: key: reason" into the error buffer. */
static int
perr(struct parser* p, int line, const char* key, const char* fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
perr(struct parser* p, int line, const char* key, const char* fmt, ...)
{
	va_list ap;
	int n;

	if(!p->err || p->errlen == 0)
		return DOTPOOL_ECONFIG;
	n = snprintf(p->err, p->errlen, "%s:%d: %s: ", p->file, line, key);
	if(n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return DOTPOOL_ECONFIG;
}

/** Out of memory while reading a key. */
static int
pnomem(struct parser* p, const char* key)
{
	(void)perr(p, p->line, key, "out of memory");
	return DOTPOOL_ENOMEM;
}

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
	cfg->hedge_delay = 0;
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
static void
upstream_free(struct dotpool_upstream_cfg* u)
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
		upstream_free(u);
	}
	free(cfg->path);
	free(cfg->tls_min_version);
	free(cfg->tls_ciphers);
	free(cfg->tls_ciphersuites);
	free(cfg->metrics_listen);
	free(cfg);
}

/** Parse an unsigned decimal; 0 or -1 when not a number or too large. */
static int
parse_uint(const char* s, unsigned long* v)
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
static int
parse_ip(const char* s, int* family, unsigned char* ip)
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

/** Value of one base64 character, or -1. */
static int
b64_val(int c)
{
	if(c >= 'A' && c <= 'Z') return c - 'A';
	if(c >= 'a' && c <= 'z') return c - 'a' + 26;
	if(c >= '0' && c <= '9') return c - '0' + 52;
	if(c == '+') return 62;
	if(c == '/') return 63;
	return -1;
}

/**
 * Decode padded standard base64.
 * @return bytes written, or -1 if malformed or longer than max.
 */
static int
b64_decode(const char* s, unsigned char* out, size_t max)
{
	size_t len = strlen(s), i, n = 0;

	if(len == 0 || len % 4 != 0)
		return -1;
	for(i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		unsigned long q;
		for(k = 0; k < 4; k++) {
			if(s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if(pad || (v[k] = b64_val((unsigned char)s[i + k])) < 0)
				return -1;
		}
		q = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
			((unsigned long)v[2] << 6) | (unsigned long)v[3];
		if(n + 3 - (size_t)pad > max)
			return -1;
		out[n++] = (unsigned char)(q >> 16);
		if(pad < 2)
			out[n++] = (unsigned char)(q >> 8);
		if(pad < 1)
			out[n++] = (unsigned char)q;
	}
	return (int)n;
}

/**
 * Check a domain name in presentation form and return it with exactly one
 * trailing dot (malloced), or NULL with *why set.
 */
static char*
zone_name_norm(const char* s, const char** why)
{
	size_t len = strlen(s), i, lab = 0;
	char* r;

	*why = NULL;
	if(strcmp(s, ".") == 0)
		return strdup(".");
	if(len > 0 && s[len - 1] == '.')
		len--;
	if(len == 0 || len > 253) {
		*why = "not a domain name";
		return NULL;
	}
	for(i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if(c == '.') {
			if(lab == 0) {
				*why = "empty label";
				return NULL;
			}
			lab = 0;
			continue;
		}
		if(c <= ' ' || c >= 0x7f || c == '"') {
			*why = "not a domain name";
			return NULL;
		}
		if(++lab > 63) {
			*why = "label longer than 63";
			return NULL;
		}
	}
	if(lab == 0) {
		*why = "empty label";
		return NULL;
	}
	r = malloc(len + 2);
	if(!r)
		return NULL;
	memcpy(r, s, len);
	r[len] = '.';
	r[len + 1] = 0;
	return r;
}

/** Compare domain names case-insensitively, a trailing dot optional. */
static int
name_eq(const char* a, const char* b)
{
	size_t la = strlen(a), lb = strlen(b);

	if(la > 0 && a[la - 1] == '.')
		la--;
	if(lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/** Finish the current section: checks that need all its keys. */
static int
section_end(struct parser* p)
{
	if(p->sec == SEC_ZONE && !p->zone)
		return perr(p, p->sec_line, "zone", "section has no name:");
	if(p->sec == SEC_UPSTREAM && !p->up)
		return perr(p, p->sec_line, "upstream", "section has no addr:");
	if(p->sec == SEC_UPSTREAM) {
		struct upstream_priv* up = p->up;
		if(up->cert_line && !up->key_line)
			return perr(p, up->cert_line, "client-cert",
				"needs client-key in the same section");
		if(up->key_line && !up->cert_line)
			return perr(p, up->key_line, "client-key",
				"needs client-cert in the same section");
	}
	p->zone = NULL;
	p->up = NULL;
	return 0;
}

/** Start a section from its header line. */
static int
section_start(struct parser* p, const char* name, enum cfg_section sec)
{
	int ret;

	if((ret = section_end(p)) != 0)
		return ret;
	if(sec == SEC_GLOBAL) {
		if(p->seen_global)
			return perr(p, p->line, name,
				"section may appear only once");
		p->seen_global = 1;
	}
	p->sec = sec;
	p->sec_line = p->line;
	return 0;
}

/** name: starts a zone. */
static int
set_zone_name(struct parser* p, const struct cfg_key* k, const char* v)
{
	struct dotpool_zone_cfg** tail;
	struct zone_priv* z;
	const char* why;
	char* name;

	if(p->zone)
		return perr(p, p->line, k->name, "given twice in one zone:");
	name = zone_name_norm(v, &why);
	if(!name) {
		if(!why)
			return pnomem(p, k->name);
		return perr(p, p->line, k->name, "%s, got \"%s\"", why, v);
	}
	for(tail = &p->cfg->zones; *tail; tail = &(*tail)->next) {
		if(name_eq((*tail)->name, name)) {
			free(name);
			return perr(p, p->line, k->name,
				"duplicate zone \"%s\" (first at line %d)", v,
				(*tail)->line);
		}
	}
	z = calloc(1, sizeof(*z));
	if(!z) {
		free(name);
		return pnomem(p, k->name);
	}
	z->pub.name = name;
	z->pub.line = p->sec_line;
	*tail = &z->pub;
	p->zone = z;
	return 0;
}

/** addr: starts an upstream: IP[@port][#name]. */
static int
set_up_addr(struct parser* p, const struct cfg_key* k, const char* v)
{
	struct dotpool_upstream_cfg** tail;
	struct upstream_priv* up = NULL;
	char* buf = NULL, *hash, *at;
	int ret;

	if(p->up)
		return perr(p, p->line, k->name,
			"given twice in one upstream:");
	for(tail = &p->cfg->upstreams; *tail; tail = &(*tail)->next) {
		if(strcmp((*tail)->addr, v) == 0)
			return perr(p, p->line, k->name, "duplicate upstream "
				"\"%s\" (first at line %d)", v, (*tail)->line);
	}
	up = calloc(1, sizeof(*up));
	buf = strdup(v);
	if(!up || !buf || !(up->pub.addr = strdup(v))) {
		ret = pnomem(p, k->name);
		goto fail;
	}
	up->namebuf = buf;
	if((hash = strchr(buf, '#')) != NULL) {
		*hash = 0;
		up->name = hash + 1;
		if(!*up->name || strlen(up->name) > 254) {
			ret = perr(p, p->line, k->name, "bad TLS name after "
				"'#', got \"%s\"", v);
			goto fail;
		}
	}
	if((at = strchr(buf, '@')) != NULL) {
		unsigned long port;
		*at = 0;
		if(parse_uint(at + 1, &port) != 0 || port < 1 ||
			port > 65535) {
			ret = perr(p, p->line, k->name, "port must be "
				"1..65535, got \"%s\"", v);
			goto fail;
		}
		up->port = (int)port;
	}
	if(parse_ip(buf, &up->family, up->ip) != 0) {
		ret = perr(p, p->line, k->name, "must be IP[@port][#name], "
			"\"%s\" is not an IP address", buf);
		goto fail;
	}
	up->pub.weight = 1;
	up->pub.profile = -1;
	up->pub.line = p->sec_line;
	*tail = &up->pub;
	p->up = up;
	return 0;
fail:
	if(up) {
		up->namebuf = NULL;
		upstream_free(&up->pub);
	}
	free(buf);
	return ret;
}

/** The struct a key's field lives in, for the current section. */
static char*
field_base(struct parser* p, const struct cfg_key* k)
{
	switch(k->sec) {
	case SEC_GLOBAL: return (char*)p->cfg;
	case SEC_ZONE: return (char*)&p->zone->pub;
	case SEC_UPSTREAM: return (char*)&p->up->pub;
	case SEC_NONE: break;
	}
	return NULL;
}

/** Replace a malloced string field. */
static int
set_str(struct parser* p, const struct cfg_key* k, char** field,
	const char* v)
{
	char* s = strdup(v);

	if(!s)
		return pnomem(p, k->name);
	free(*field);
	*field = s;
	return 0;
}

/** Index of v in a NULL-terminated list, or -1. */
static int
name_index(const char* const* names, const char* v)
{
	int i;

	for(i = 0; names[i]; i++)
		if(strcmp(names[i], v) == 0)
			return i;
	return -1;
}

/** Message listing the allowed names of an enum key. */
static int
enum_err(struct parser* p, const struct cfg_key* k, const char* v)
{
	char list[128];
	size_t n = 0;
	int i;

	list[0] = 0;
	for(i = 0; k->names[i]; i++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s",
			i ? (k->names[i + 1] ? ", " : " or ") : "",
			k->names[i]);
		if(w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
	}
	return perr(p, p->line, k->name, "must be %s, got \"%s\"", list, v);
}

/** Store one value. */
static int
set_value(struct parser* p, const struct cfg_key* k, const char* v)
{
	char* base;
	unsigned long u;
	int i, fd;

	if(k->type == T_ZONENAME)
		return set_zone_name(p, k, v);
	if(k->type == T_UPADDR)
		return set_up_addr(p, k, v);
	if(k->sec == SEC_ZONE && !p->zone)
		return perr(p, p->line, k->name,
			"zone: section must start with name:");
	if(k->sec == SEC_UPSTREAM && !p->up)
		return perr(p, p->line, k->name,
			"upstream: section must start with addr:");
	base = field_base(p, k);
	if(*v == 0)
		return perr(p, p->line, k->name, "needs a value");

	switch(k->type) {
	case T_UINT:
	case T_MS:
		if(parse_uint(v, &u) != 0 || u < k->min || u > k->max)
			return perr(p, p->line, k->name, "must be %u..%u%s, "
				"got \"%s\"", k->min, k->max,
				k->type == T_MS ? " ms" : "", v);
		*(unsigned*)(base + k->off) = (unsigned)u;
		break;
	case T_BOOL:
		if(strcmp(v, "yes") == 0)
			*(int*)(base + k->off) = 1;
		else if(strcmp(v, "no") == 0)
			*(int*)(base + k->off) = 0;
		else
			return perr(p, p->line, k->name,
				"must be yes or no, got \"%s\"", v);
		break;
	case T_ENUM:
		if((i = name_index(k->names, v)) < 0)
			return enum_err(p, k, v);
		/* The enum fields are int-sized; the upstream profile is an
		 * int (-1 = as the zone). */
		*(int*)(base + k->off) = i;
		break;
	case T_STRENUM:
		if(name_index(k->names, v) < 0)
			return enum_err(p, k, v);
		return set_str(p, k, (char**)(base + k->off), v);
	case T_STR:
		return set_str(p, k, (char**)(base + k->off), v);
	case T_LISTEN: {
		char ip[64];
		const char* at = strrchr(v, '@');
		unsigned char bin[16];
		int fam;
		if(!at || (size_t)(at - v) >= sizeof(ip))
			return perr(p, p->line, k->name,
				"must be IP@port, got \"%s\"", v);
		memcpy(ip, v, (size_t)(at - v));
		ip[at - v] = 0;
		if(parse_ip(ip, &fam, bin) != 0)
			return perr(p, p->line, k->name, "must be IP@port, "
				"\"%s\" is not an IP address", ip);
		if(parse_uint(at + 1, &u) != 0 || u < 1 || u > 65535)
			return perr(p, p->line, k->name, "port must be "
				"1..65535, got \"%s\"", v);
		return set_str(p, k, (char**)(base + k->off), v);
	}
	case T_PIN: {
		unsigned char pin[33];
		if(p->up->pub.num_pins >= DOTPOOL_MAX_PINS)
			return perr(p, p->line, k->name, "at most %d pins per "
				"upstream", DOTPOOL_MAX_PINS);
		if(b64_decode(v, pin, sizeof(pin)) != 32)
			return perr(p, p->line, k->name, "must be the base64 "
				"of 32 bytes (SHA-256), got \"%s\"", v);
		memcpy(p->up->pub.pins[p->up->pub.num_pins++], pin, 32);
		break;
	}
	case T_FILE:
		/* Checked at load, so that a typo fails the start rather
		 * than every handshake later. */
		if((fd = open(v, O_RDONLY)) < 0)
			return perr(p, p->line, k->name,
				"cannot read \"%s\": %s", v, strerror(errno));
		close(fd);
		if(strcmp(k->name, "client-cert") == 0)
			p->up->cert_line = p->line;
		else
			p->up->key_line = p->line;
		return set_str(p, k, (char**)(base + k->off), v);
	case T_ZONENAME:
	case T_UPADDR:
		break;
	}
	return 0;
}

/** Find the row for a key in the current section, with a message if none.
 */
static const struct cfg_key*
find_key(struct parser* p, const char* key, int* ret)
{
	static const char* const sec_names[] = { "", "dotpool:", "zone:",
		"upstream:" };
	const struct cfg_key* other = NULL;
	size_t i;

	for(i = 0; i < NKEYS; i++) {
		if(strcmp(cfg_keys[i].name, key) != 0)
			continue;
		if(cfg_keys[i].sec == p->sec)
			return &cfg_keys[i];
		if(!other)
			other = &cfg_keys[i];
	}
	if(!other)
		*ret = perr(p, p->line, key, "unknown key");
	else if(p->sec == SEC_NONE)
		*ret = perr(p, p->line, key, "outside any section (belongs in "
			"%s)", sec_names[other->sec]);
	else
		*ret = perr(p, p->line, key, "not allowed in %s (belongs in "
			"%s)", sec_names[p->sec], sec_names[other->sec]);
	return NULL;
}

/**
 * Split one line (modified in place) into key and value.
 * @return 1 with key/value set, 0 for a blank or comment line, or an
 *	error code with the message written.
 */
static int
split_line(struct parser* p, char* s, char** key, char** val)
{
	char* c, *end;

	while(*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	if(end > s && end[-1] == '\r')
		*--end = 0;
	if(*s == 0 || *s == '#')
		return 0;
	*key = s;
	for(c = s; *c && *c != ':'; c++) {
		if(!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
			/* Stop the key at the odd character, so the message
			 * names what was written without the rest. */
			*c = 0;
			return perr(p, p->line, s, "expected \"key: value\"");
		}
	}
	if(c == s)
		return perr(p, p->line, "(empty)", "expected \"key: value\"");
	if(*c != ':') {
		if(c - s > 64)
			s[64] = 0;
		return perr(p, p->line, s, "expected \"key: value\"");
	}
	*c++ = 0;
	while(*c == ' ' || *c == '\t')
		c++;
	if(*c == '"') {
		char* q = strchr(c + 1, '"');
		if(!q)
			return perr(p, p->line, *key, "unterminated quote");
		*q = 0;
		*val = c + 1;
		for(q++; *q == ' ' || *q == '\t'; q++)
			;
		if(*q && *q != '#')
			return perr(p, p->line, *key,
				"text after the closing quote");
		return 1;
	}
	*val = c;
	/* An unquoted value ends at a comment, which starts at a '#' after
	 * white space: a '#' inside a word is part of it, as in the
	 * IP@port#name of an upstream (unbound.conf reads it the same way). */
	for(; *c; c++) {
		if(*c == '#' && (c == *val || c[-1] == ' ' || c[-1] == '\t')) {
			*c = 0;
			break;
		}
	}
	end = *val + strlen(*val);
	while(end > *val && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = 0;
	return 1;
}

/** Whether any section has a key of this name. */
static int
known_key(const char* key)
{
	size_t i;

	for(i = 0; i < NKEYS; i++)
		if(strcmp(cfg_keys[i].name, key) == 0)
			return 1;
	return 0;
}

/** Handle one line. */
static int
parse_line(struct parser* p, char* line)
{
	static const struct {
		const char* name;
		enum cfg_section sec;
	} sections[] = { { "dotpool", SEC_GLOBAL }, { "zone", SEC_ZONE },
		{ "upstream", SEC_UPSTREAM } };
	const struct cfg_key* k;
	char* key = NULL, *val = NULL;
	size_t i;
	int ret;

	if((ret = split_line(p, line, &key, &val)) <= 0)
		return ret;
	for(i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if(strcmp(key, sections[i].name) != 0)
			continue;
		if(*val)
			return perr(p, p->line, key, "a section line takes no "
				"value, got \"%s\"", val);
		return section_start(p, key, sections[i].sec);
	}
	/* A line at the margin with no value is written as a section line:
	 * say so, rather than "unknown key", and name the three there are
	 * (server: or forward-zone: belong in unbound.conf). */
	if(*val == 0 && line[0] != ' ' && line[0] != '\t' &&
		!known_key(key))
		return perr(p, p->line, key, "unknown section (the sections "
			"are dotpool:, zone: and upstream:; Unbound's own go "
			"in unbound.conf)");
	if(!(k = find_key(p, key, &ret)))
		return ret;
	if((ret = set_value(p, k, val)) != 0)
		return ret;
	if(k->sec == SEC_GLOBAL)
		p->key_line[k - cfg_keys] = p->line;
	if(k->type == T_LISTEN)
		p->cfg->metrics_listen_line = p->line;
	if(k->sec == SEC_ZONE)
		p->zone->set |= k->zset;
	return 0;
}

/** Line where a global key was set (0 if not). */
static int
global_line(const struct parser* p, const char* name)
{
	size_t i;

	for(i = 0; i < NKEYS; i++)
		if(cfg_keys[i].sec == SEC_GLOBAL &&
			strcmp(cfg_keys[i].name, name) == 0)
			return p->key_line[i];
	return 0;
}

/**
 * Check a pair of globals that must satisfy lo <= hi. The message names
 * the key that was set last in the file, or the one set at all, since the
 * other may be a default the operator never wrote.
 */
static int
check_order(struct parser* p, const char* lo_name, unsigned lo,
	const char* hi_name, unsigned hi)
{
	int llo = global_line(p, lo_name), lhi = global_line(p, hi_name);

	if(lo <= hi)
		return 0;
	if(lhi >= llo)
		return perr(p, lhi, hi_name, "must be at least %s (%u), got "
			"\"%u\"", lo_name, lo, hi);
	return perr(p, llo, lo_name, "must be at most %s (%u), got \"%u\"",
		hi_name, hi, lo);
}

/** Checks and inheritance once every line was read. */
static int
finish(struct parser* p)
{
	struct dotpool_zone_cfg* z;
	int ret;

	if((ret = section_end(p)) != 0)
		return ret;
	if((ret = check_order(p, "attempt-timeout", p->cfg->attempt_timeout,
		"query-timeout", p->cfg->query_timeout)) != 0)
		return ret;
	if((ret = check_order(p, "backoff-initial", p->cfg->backoff_initial,
		"backoff-max", p->cfg->backoff_max)) != 0)
		return ret;
	for(z = p->cfg->zones; z; z = z->next) {
		struct zone_priv* zp = (struct zone_priv*)z;
		if(!(zp->set & ZSET_POLICY))
			z->policy = p->cfg->policy;
		if(!(zp->set & ZSET_HEDGE))
			z->hedge_delay = p->cfg->hedge_delay;
		if(!(zp->set & ZSET_PROFILE))
			z->profile = p->cfg->profile;
	}
	return 0;
}

/** Parse a whole text (modified in place). */
static int
parse_text(struct dotpool_config* cfg, const char* name, char* text,
	size_t len, char* err, size_t errlen)
{
	struct parser p;
	char* line = text, *nl;
	int ret;

	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.file = name;
	p.err = err;
	p.errlen = errlen;
	if(err && errlen)
		err[0] = 0;
	/* Zones read earlier keep what they had: only this text's zones
	 * inherit from this text's globals. */
	for(struct dotpool_zone_cfg* z = cfg->zones; z; z = z->next)
		((struct zone_priv*)z)->set = ZSET_POLICY | ZSET_HEDGE |
			ZSET_PROFILE;
	while(line < text + len) {
		p.line++;
		nl = memchr(line, '\n', (size_t)(text + len - line));
		if(nl)
			*nl = 0;
		if(strlen(line) != (size_t)((nl ? nl : text + len) - line))
			return perr(&p, p.line, "(line)",
				"contains a NUL byte");
		if((ret = parse_line(&p, line)) != 0)
			return ret;
		if(!nl)
			break;
		line = nl + 1;
	}
	p.line++;
	return finish(&p);
}

int
dotpool_config_read_string(struct dotpool_config* cfg, const char* name,
	const char* text, char* err, size_t errlen)
{
	size_t len = strlen(text);
	char* copy = malloc(len + 1);
	int ret;

	if(!copy) {
		if(err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return DOTPOOL_ENOMEM;
	}
	memcpy(copy, text, len + 1);
	ret = parse_text(cfg, name, copy, len, err, errlen);
	free(copy);
	return ret;
}

int
dotpool_config_read_text(struct dotpool_config* cfg, const char* path,
	const char* text, size_t len, char* err, size_t errlen)
{
	char* copy;
	int ret;

	if(err && errlen)
		err[0] = 0;
	free(cfg->path);
	cfg->path = NULL;
	copy = malloc(len + 1);
	if(!copy || !(cfg->path = strdup(path))) {
		free(copy);
		if(err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		return DOTPOOL_ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = 0;
	ret = parse_text(cfg, path, copy, len, err, errlen);
	free(copy);
	return ret;
}

int
dotpool_config_file_text(const char* path, int missing_ok, char** text,
	size_t* textlen, char* err, size_t errlen)
{
	FILE* f = fopen(path, "r");
	char* buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	int ret = 0;

	*text = NULL;
	*textlen = 0;
	if(err && errlen)
		err[0] = 0;
	if(!f) {
		if(missing_ok && errno == ENOENT)
			return 0;
		if(err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path,
				strerror(errno));
		return DOTPOOL_ECONFIG;
	}
	for(;;) {
		if(cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if(!(nb = realloc(buf, cap + 1))) {
				ret = DOTPOOL_ENOMEM;
				if(err && errlen)
					snprintf(err, errlen, "%s: out of "
						"memory", path);
				goto done;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if(n == 0)
			break;
	}
	if(ferror(f)) {
		if(err && errlen)
			snprintf(err, errlen, "%s: read error", path);
		ret = DOTPOOL_ECONFIG;
		goto done;
	}
	buf[len] = 0;
	*text = buf;
	*textlen = len;
	buf = NULL;
done:
	free(buf);
	fclose(f);
	return ret;
}

int
dotpool_config_read(struct dotpool_config* cfg, const char* path,
	int missing_ok, char* err, size_t errlen)
{
	char* text;
	size_t len;
	int ret;

	/* One path for files and memory: the file's bytes go through the
	 * same entry point a reload uses for its last good text. */
	if((ret = dotpool_config_file_text(path, missing_ok, &text, &len,
		err, errlen)) != 0 || !text)
		return ret;
	ret = dotpool_config_read_text(cfg, path, text, len, err, errlen);
	free(text);
	return ret;
}

const struct dotpool_zone_cfg*
dotpool_config_zone(const struct dotpool_config* cfg, const char* name)
{
	const struct dotpool_zone_cfg* z;

	if(!cfg || !name)
		return NULL;
	for(z = cfg->zones; z; z = z->next)
		if(name_eq(z->name, name))
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

	if(!cfg || !ip || parse_ip(ip, &fam, bin) != 0)
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
			if(!name || !name_eq(up->name, name))
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
		if(parse_uint(num, &u) != 0 || u > 65535)
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
			if(name_eq(z->name, fwds[i].name))
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
