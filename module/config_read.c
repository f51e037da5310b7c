/**
 * \file
 * The settings file reader: lines, quoting and comments, sections, and the
 * checks and inheritance that need the whole file. The entry points take a
 * path, a string, or a file's bytes read earlier (a reload re-reads its
 * last good text through the same path).
 *
 * Messages follow "file:line: key: reason" so an operator can go straight
 * to the line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dotpool/config.h"
#include "dotpool/error.h"
#include "config_int.h"

int
dotpool_cfg_perr(struct parser* p, int line, const char* key,
	const char* fmt, ...)
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

/** Finish the current section: checks that need all its keys. */
static int
section_end(struct parser* p)
{
	if(p->sec == SEC_ZONE && !p->zone)
		return dotpool_cfg_perr(p, p->sec_line,
			"zone", "section has no name:");
	if(p->sec == SEC_UPSTREAM && !p->up)
		return dotpool_cfg_perr(p, p->sec_line,
			"upstream", "section has no addr:");
	if(p->sec == SEC_UPSTREAM) {
		struct upstream_priv* up = p->up;
		if(up->cert_line && !up->key_line)
			return dotpool_cfg_perr(p, up->cert_line, "client-cert",
				"needs client-key in the same section");
		if(up->key_line && !up->cert_line)
			return dotpool_cfg_perr(p, up->key_line, "client-key",
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
			return dotpool_cfg_perr(p, p->line, name,
				"section may appear only once");
		p->seen_global = 1;
	}
	p->sec = sec;
	p->sec_line = p->line;
	return 0;
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
			return dotpool_cfg_perr(p, p->line, s,
				"expected \"key: value\"");
		}
	}
	if(c == s)
		return dotpool_cfg_perr(p, p->line,
			"(empty)", "expected \"key: value\"");
	if(*c != ':') {
		if(c - s > 64)
			s[64] = 0;
		return dotpool_cfg_perr(p, p->line, s,
			"expected \"key: value\"");
	}
	*c++ = 0;
	while(*c == ' ' || *c == '\t')
		c++;
	if(*c == '"') {
		char* q = strchr(c + 1, '"');
		if(!q)
			return dotpool_cfg_perr(p, p->line, *key,
				"unterminated quote");
		*q = 0;
		*val = c + 1;
		for(q++; *q == ' ' || *q == '\t'; q++)
			;
		if(*q && *q != '#')
			return dotpool_cfg_perr(p, p->line, *key,
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
			return dotpool_cfg_perr(p, p->line, key,
				"a section line takes no "
				"value, got \"%s\"", val);
		return section_start(p, key, sections[i].sec);
	}
	/* A line at the margin with no value is written as a section line:
	 * say so, rather than "unknown key", and name the three there are
	 * (server: or forward-zone: belong in unbound.conf). */
	if(*val == 0 && line[0] != ' ' && line[0] != '\t' &&
		!dotpool_cfg_known_key(key))
		return dotpool_cfg_perr(p, p->line, key,
			"unknown section (the sections "
			"are dotpool:, zone: and upstream:; Unbound's own go "
			"in unbound.conf)");
	if(!(k = dotpool_cfg_find_key(p, key, &ret)))
		return ret;
	if((ret = dotpool_cfg_set_value(p, k, val)) != 0)
		return ret;
	if(k->sec == SEC_GLOBAL)
		p->key_line[k - dotpool_cfg_keys] = p->line;
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

	for(i = 0; i < dotpool_cfg_nkeys; i++)
		if(dotpool_cfg_keys[i].sec == SEC_GLOBAL &&
			strcmp(dotpool_cfg_keys[i].name, name) == 0)
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
		return dotpool_cfg_perr(p, lhi, hi_name,
			"must be at least %s (%u), got "
			"\"%u\"", lo_name, lo, hi);
	return dotpool_cfg_perr(p, llo, lo_name,
		"must be at most %s (%u), got \"%u\"",
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
	if((ret = check_order(p, "soft-deadline-min",
		p->cfg->soft_deadline_min, "soft-deadline-max",
		p->cfg->soft_deadline_max)) != 0)
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
			return dotpool_cfg_perr(&p, p.line, "(line)",
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
