/**
 * \file
 * Private to the settings units (config.c, config_keys.c, config_read.c,
 * config_forwards.c): the key table's types, the parser's state, and the
 * private tails of the zone and upstream structs the lookups need. Callers
 * outside use include/dotpool/config.h only. No Unbound types here.
 */
#ifndef DOTPOOL_CONFIG_INT_H
#define DOTPOOL_CONFIG_INT_H
#include <stddef.h>
#include "dotpool/config.h"

/** Most keys the table may hold (the parser's per-key lines array). */
#define DOTPOOL_CFG_MAX_KEYS 64

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
	/** as T_MS, or "auto" stored as DOTPOOL_HEDGE_AUTO */
	T_MS_AUTO,
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
	/** smallest value (T_UINT, T_MS, T_MS_AUTO) */
	unsigned min;
	/** largest value (T_UINT, T_MS, T_MS_AUTO) */
	unsigned max;
	/** allowed values (T_ENUM, T_STRENUM), NULL-terminated */
	const char* const* names;
	/** ZSET_* bit for zone keys */
	unsigned zset;
};/** A zone with what the parser needs to finish it; public part first so
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
	int key_line[DOTPOOL_CFG_MAX_KEYS];
};

/* ---- config_keys.c: the key table and how each value is stored -------- */

/** Every key of every section. */
extern const struct cfg_key dotpool_cfg_keys[];
/** Number of rows in dotpool_cfg_keys. */
extern const size_t dotpool_cfg_nkeys;

/**
 * Find the row for a key in the parser's current section.
 * @param p: the parser.
 * @param key: the key as written.
 * @param ret: set to the error code when there is no such row (the message
 *	is in the parser's buffer: unknown, or which section it belongs in).
 * @return the row or NULL.
 */
const struct cfg_key* dotpool_cfg_find_key(struct parser* p,
	const char* key, int* ret);

/** Whether any section has a key of this name. */
int dotpool_cfg_known_key(const char* key);

/**
 * Check a value against its row and store it in the current section (a
 * zone's name: and an upstream's addr: start their section's struct).
 * @return 0, DOTPOOL_ECONFIG or DOTPOOL_ENOMEM (message written).
 */
int dotpool_cfg_set_value(struct parser* p, const struct cfg_key* k,
	const char* v);

/* ---- config_read.c: the reader ----------------------------------------- */

/**
 * Format "file:line: key: reason" into the parser's message buffer.
 * @return DOTPOOL_ECONFIG, for `return dotpool_cfg_perr(...)`.
 */
int dotpool_cfg_perr(struct parser* p, int line, const char* key,
	const char* fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- config.c: helpers the others share ------------------------------- */

/** Parse an unsigned decimal; 0, or -1 when not a number or too large. */
int dotpool_cfg_parse_uint(const char* s, unsigned long* v);

/** Parse "IP" into family (AF_INET, AF_INET6) and bytes; 0 or -1. */
int dotpool_cfg_parse_ip(const char* s, int* family, unsigned char* ip);

/** Compare domain names case-insensitively, a trailing dot optional. */
int dotpool_cfg_name_eq(const char* a, const char* b);

/** Free one upstream and its private part; u may be NULL. */
void dotpool_cfg_upstream_free(struct dotpool_upstream_cfg* u);

#endif /* DOTPOOL_CONFIG_INT_H */
