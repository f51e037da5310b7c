/**
 * \file
 * The settings file's keys: one table row per key, naming its section, its
 * value type with bounds, and where the value goes. Adding a key is adding
 * a row (and the field, the default, the sample file entry). Values are
 * checked against their bounds only; the few cross-key rules are the
 * reader's, once the whole file is read.
 *
 * Messages follow "file:line: key: reason" and quote the value as written,
 * because the operator's text is what needs fixing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dotpool/config.h"
#include "dotpool/error.h"
#include "config_int.h"

/** Longest duration accepted for most timers: ten minutes. */
#define MS_10MIN 600000u
/** Longest duration for idle and backoff timers: one hour. */
#define MS_1H 3600000u

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

const struct cfg_key dotpool_cfg_keys[] = {
	G("attempt-timeout", T_MS, attempt_timeout, 1, MS_10MIN, NULL),
	G("query-timeout", T_MS, query_timeout, 1, MS_10MIN, NULL),
	G("max-attempts", T_UINT, max_attempts, 1, 16, NULL),
	G("policy", T_ENUM, policy, 0, 0, policy_names),
	G("hedge-delay", T_MS_AUTO, hedge_delay, 0, MS_10MIN, NULL),
	G("soft-deadline-min", T_MS, soft_deadline_min, 1, MS_10MIN, NULL),
	G("soft-deadline-max", T_MS, soft_deadline_max, 1, MS_10MIN, NULL),
	G("hedge-max-percent", T_UINT, hedge_percent, 0, 100, NULL),
	G("hedge-burst", T_UINT, hedge_burst, 1, 100000, NULL),
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
	Z("hedge-delay", T_MS_AUTO, hedge_delay, 0, MS_10MIN, NULL, ZSET_HEDGE),
	Z("profile", T_ENUM, profile, 0, 0, profile_names, ZSET_PROFILE),

	U("addr", T_UPADDR, addr, 0, 0, NULL),
	U("pin-sha256", T_PIN, pins, 0, 0, NULL),
	U("weight", T_UINT, weight, 1, 1000, NULL),
	U("profile", T_ENUM, profile, 0, 0, profile_names),
	U("client-cert", T_FILE, client_cert, 0, 0, NULL),
	U("client-key", T_FILE, client_key, 0, 0, NULL),
};

const size_t dotpool_cfg_nkeys =
	sizeof(dotpool_cfg_keys) / sizeof(dotpool_cfg_keys[0]);

/* the reader keeps a line per key in a fixed array */
_Static_assert(sizeof(dotpool_cfg_keys) / sizeof(dotpool_cfg_keys[0]) <=
	DOTPOOL_CFG_MAX_KEYS, "DOTPOOL_CFG_MAX_KEYS is below the key count");

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

/** Out of memory while reading a key. */
static int
pnomem(struct parser* p, const char* key)
{
	(void)dotpool_cfg_perr(p, p->line, key, "out of memory");
	return DOTPOOL_ENOMEM;
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

/** name: starts a zone. */
static int
set_zone_name(struct parser* p, const struct cfg_key* k, const char* v)
{
	struct dotpool_zone_cfg** tail;
	struct zone_priv* z;
	const char* why;
	char* name;

	if(p->zone)
		return dotpool_cfg_perr(p, p->line, k->name,
			"given twice in one zone:");
	name = zone_name_norm(v, &why);
	if(!name) {
		if(!why)
			return pnomem(p, k->name);
		return dotpool_cfg_perr(p, p->line, k->name,
			"%s, got \"%s\"", why, v);
	}
	for(tail = &p->cfg->zones; *tail; tail = &(*tail)->next) {
		if(dotpool_cfg_name_eq((*tail)->name, name)) {
			free(name);
			return dotpool_cfg_perr(p, p->line, k->name,
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
		return dotpool_cfg_perr(p, p->line, k->name,
			"given twice in one upstream:");
	for(tail = &p->cfg->upstreams; *tail; tail = &(*tail)->next) {
		if(strcmp((*tail)->addr, v) == 0)
			return dotpool_cfg_perr(p, p->line, k->name,
				"duplicate upstream "
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
			ret = dotpool_cfg_perr(p, p->line, k->name,
				"bad TLS name after '#', got \"%s\"", v);
			goto fail;
		}
	}
	if((at = strchr(buf, '@')) != NULL) {
		unsigned long port;
		*at = 0;
		if(dotpool_cfg_parse_uint(at + 1, &port) != 0 || port < 1 ||
			port > 65535) {
			ret = dotpool_cfg_perr(p, p->line, k->name,
				"port must be 1..65535, got \"%s\"", v);
			goto fail;
		}
		up->port = (int)port;
	}
	if(dotpool_cfg_parse_ip(buf, &up->family, up->ip) != 0) {
		ret = dotpool_cfg_perr(p, p->line, k->name,
			"must be IP[@port][#name], "
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
		dotpool_cfg_upstream_free(&up->pub);
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
	return dotpool_cfg_perr(p, p->line, k->name,
		"must be %s, got \"%s\"", list, v);
}

/** Store one value. */
int
dotpool_cfg_set_value(struct parser* p, const struct cfg_key* k, const char* v)
{
	char* base;
	unsigned long u;
	int i, fd;

	if(k->type == T_ZONENAME)
		return set_zone_name(p, k, v);
	if(k->type == T_UPADDR)
		return set_up_addr(p, k, v);
	if(k->sec == SEC_ZONE && !p->zone)
		return dotpool_cfg_perr(p, p->line, k->name,
			"zone: section must start with name:");
	if(k->sec == SEC_UPSTREAM && !p->up)
		return dotpool_cfg_perr(p, p->line, k->name,
			"upstream: section must start with addr:");
	base = field_base(p, k);
	if(*v == 0)
		return dotpool_cfg_perr(p, p->line, k->name, "needs a value");

	switch(k->type) {
	case T_MS_AUTO:
		if(strcmp(v, "auto") == 0) {
			*(unsigned*)(base + k->off) = DOTPOOL_HEDGE_AUTO;
			break;
		}
		/* fall through - a fixed delay */
	case T_UINT:
	case T_MS:
		if(dotpool_cfg_parse_uint(v, &u) != 0 || u < k->min ||
			u > k->max)
			return dotpool_cfg_perr(p, p->line, k->name,
				"must be %s%u..%u%s, got \"%s\"",
				k->type == T_MS_AUTO ? "auto or " : "", k->min,
				k->max, k->type == T_UINT ? "" : " ms", v);
		*(unsigned*)(base + k->off) = (unsigned)u;
		break;
	case T_BOOL:
		if(strcmp(v, "yes") == 0)
			*(int*)(base + k->off) = 1;
		else if(strcmp(v, "no") == 0)
			*(int*)(base + k->off) = 0;
		else
			return dotpool_cfg_perr(p, p->line, k->name,
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
			return dotpool_cfg_perr(p, p->line, k->name,
				"must be IP@port, got \"%s\"", v);
		memcpy(ip, v, (size_t)(at - v));
		ip[at - v] = 0;
		if(dotpool_cfg_parse_ip(ip, &fam, bin) != 0)
			return dotpool_cfg_perr(p, p->line, k->name,
				"must be IP@port, "
				"\"%s\" is not an IP address", ip);
		if(dotpool_cfg_parse_uint(at + 1, &u) != 0 || u < 1 ||
			u > 65535)
			return dotpool_cfg_perr(p, p->line, k->name,
				"port must be 1..65535, got \"%s\"", v);
		return set_str(p, k, (char**)(base + k->off), v);
	}
	case T_PIN: {
		unsigned char pin[33];
		if(p->up->pub.num_pins >= DOTPOOL_MAX_PINS)
			return dotpool_cfg_perr(p, p->line, k->name,
				"at most %d pins per "
				"upstream", DOTPOOL_MAX_PINS);
		if(b64_decode(v, pin, sizeof(pin)) != 32)
			return dotpool_cfg_perr(p, p->line, k->name,
				"must be the base64 "
				"of 32 bytes (SHA-256), got \"%s\"", v);
		memcpy(p->up->pub.pins[p->up->pub.num_pins++], pin, 32);
		break;
	}
	case T_FILE:
		/* Checked at load, so that a typo fails the start rather
		 * than every handshake later. */
		if((fd = open(v, O_RDONLY)) < 0)
			return dotpool_cfg_perr(p, p->line, k->name,
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
const struct cfg_key*
dotpool_cfg_find_key(struct parser* p, const char* key, int* ret)
{
	static const char* const sec_names[] = { "", "dotpool:", "zone:",
		"upstream:" };
	const struct cfg_key* other = NULL;
	size_t i;

	for(i = 0; i < dotpool_cfg_nkeys; i++) {
		if(strcmp(dotpool_cfg_keys[i].name, key) != 0)
			continue;
		if(dotpool_cfg_keys[i].sec == p->sec)
			return &dotpool_cfg_keys[i];
		if(!other)
			other = &dotpool_cfg_keys[i];
	}
	if(!other)
		*ret = dotpool_cfg_perr(p, p->line, key, "unknown key");
	else if(p->sec == SEC_NONE)
		*ret = dotpool_cfg_perr(p, p->line, key,
			"outside any section (belongs in "
			"%s)", sec_names[other->sec]);
	else
		*ret = dotpool_cfg_perr(p, p->line, key,
			"not allowed in %s (belongs in "
			"%s)", sec_names[p->sec], sec_names[other->sec]);
	return NULL;
}

/** Whether any section has a key of this name. */
int
dotpool_cfg_known_key(const char* key)
{
	size_t i;

	for(i = 0; i < dotpool_cfg_nkeys; i++)
		if(strcmp(dotpool_cfg_keys[i].name, key) == 0)
			return 1;
	return 0;
}
