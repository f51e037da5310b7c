/**
 * \file
 * The unbound.conf reader of dotpool-checkconf (see unbound_conf.h for why
 * there is one). It splits the text into words as Unbound's lexer does
 * (white space separates, "..." and '...' quote, a '#' that starts a word
 * starts a comment, so IP@port#name stays one word), takes a word
 * "name:" as a keyword and the words after it as its values, and keeps
 * only the keywords it needs.
 */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unbound_conf.h"

/** Deepest include nesting followed (Unbound has no limit; a loop has). */
#define MAX_DEPTH 16

/** Clause names of unbound.conf: a keyword with no value that starts one. */
static const char* const clauses[] = { "server", "stub-zone",
	"forward-zone", "auth-zone", "view", "remote-control", "dynlib",
	"python", "cachedb", "dnstap", "rpz", "dnscrypt", "ipset", NULL };

/** Reader state for one file. */
struct reader {
	/** the result */
	struct ubconf* uc;
	/** file name, as stored in uc->files */
	const char* file;
	/** the clause the words belong to ("" before any) */
	char clause[32];
	/** keyword whose values follow ("" when none) */
	char key[64];
	/** its line */
	int key_line;
	/** values seen for it */
	int nval;
	/** include depth */
	int depth;
	/** message buffer */
	char* err;
	/** its size */
	size_t errlen;
};

static int read_file(struct ubconf* uc, const char* path, int depth,
	const char* from, int from_line, char* err, size_t errlen);

/** Format an error. @return -1. */
static int
rerr(char* err, size_t errlen, const char* file, int line,
	const char* fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errlen, "%s:%d: ", file, line);
	if(n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/** Append a value to a list. @return 0 or -1 (out of memory). */
static int
list_add(struct ubconf_list* l, const char* s, const char* file, int line)
{
	struct ubconf_val* nv = realloc(l->v, (l->n + 1) * sizeof(*l->v));

	if(!nv)
		return -1;
	l->v = nv;
	if(!(l->v[l->n].str = strdup(s)))
		return -1;
	l->v[l->n].file = file;
	l->v[l->n].line = line;
	l->n++;
	return 0;
}

/** Free a list. */
static void
list_free(struct ubconf_list* l)
{
	size_t i;

	for(i = 0; i < l->n; i++)
		free(l->v[i].str);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/** Set a single value (the last one written wins, as in Unbound). */
static int
val_set(struct ubconf_val* v, const char* s, const char* file, int line)
{
	char* c = strdup(s);

	if(!c)
		return -1;
	free(v->str);
	v->str = c;
	v->file = file;
	v->line = line;
	return 0;
}

/** The word is "name:" with a keyword's spelling. */
static int
is_keyword(const char* w, size_t len)
{
	size_t i;

	if(len < 2 || w[len - 1] != ':' || !(w[0] >= 'a' && w[0] <= 'z'))
		return 0;
	for(i = 0; i < len - 1; i++)
		if(!((w[i] >= 'a' && w[i] <= 'z') || (w[i] >= '0' &&
			w[i] <= '9') || w[i] == '-'))
			return 0;
	return 1;
}

/** Whether a keyword names a clause. */
static int
is_clause(const char* k)
{
	int i;

	for(i = 0; clauses[i]; i++)
		if(strcmp(clauses[i], k) == 0)
			return 1;
	return 0;
}

/** Follow include: or include-toplevel:, with a glob as Unbound does. */
static int
do_include(struct reader* r, const char* pattern, int line)
{
	glob_t g;
	size_t i;
	int ret;

	if(r->depth >= MAX_DEPTH)
		return rerr(r->err, r->errlen, r->file, line, "include: "
			"nested more than %d deep (a loop?)", MAX_DEPTH);
	if(!strpbrk(pattern, "*?[")) {
		/* a plain name that does not exist is an error, as in
		 * Unbound */
		return read_file(r->uc, pattern, r->depth + 1, r->file, line,
			r->err, r->errlen);
	}
	memset(&g, 0, sizeof(g));
	ret = glob(pattern, 0, NULL, &g);
	if(ret == GLOB_NOMATCH) {
		globfree(&g);
		return 0;
	}
	if(ret != 0) {
		globfree(&g);
		return rerr(r->err, r->errlen, r->file, line, "include: "
			"\"%s\": cannot expand", pattern);
	}
	for(i = 0; i < g.gl_pathc; i++) {
		if(read_file(r->uc, g.gl_pathv[i], r->depth + 1, r->file, line,
			r->err, r->errlen) != 0) {
			globfree(&g);
			return -1;
		}
	}
	globfree(&g);
	return 0;
}

/** Whether a value says yes. */
static int
yes(const char* v)
{
	return strcmp(v, "yes") == 0;
}

/** The current forward-zone clause. */
static struct ubconf_forward*
cur_fwd(struct reader* r)
{
	return r->uc->nfwds ? &r->uc->fwds[r->uc->nfwds - 1] : NULL;
}

/** One value of the current keyword. */
static int
value(struct reader* r, const char* v, int line)
{
	struct ubconf* uc = r->uc;
	struct ubconf_forward* f = cur_fwd(r);
	const char* k = r->key;
	int first = r->nval++ == 0, ret = 0;

	if(!first || !*k)
		return 0; /* only the first value of a keyword matters here */
	if(strcmp(k, "include") == 0)
		return do_include(r, v, line);
	if(strcmp(k, "include-toplevel") == 0) {
		ret = do_include(r, v, line);
		/* what follows must open a clause again */
		r->clause[0] = 0;
		return ret;
	}
	if(strcmp(r->clause, "server") == 0) {
		if(strcmp(k, "module-config") == 0)
			ret = val_set(&uc->module_conf, v, r->file, line);
		else if(strcmp(k, "tls-cert-bundle") == 0 ||
			strcmp(k, "ssl-cert-bundle") == 0)
			ret = val_set(&uc->cert_bundle, v, r->file, line);
		else if(strcmp(k, "tls-system-cert") == 0 ||
			strcmp(k, "tls-win-cert") == 0)
			uc->system_cert = yes(v);
		else if(strcmp(k, "tls-upstream") == 0 ||
			strcmp(k, "ssl-upstream") == 0)
			uc->tls_upstream = yes(v);
	} else if(strcmp(r->clause, "dynlib") == 0) {
		if(strcmp(k, "dynlib-file") == 0)
			ret = list_add(&uc->dynlib_files, v, r->file, line);
	} else if(strcmp(r->clause, "forward-zone") == 0 && f) {
		if(strcmp(k, "name") == 0)
			ret = val_set(&f->name, v, r->file, line);
		else if(strcmp(k, "forward-addr") == 0)
			ret = list_add(&f->addrs, v, r->file, line);
		else if(strcmp(k, "forward-host") == 0)
			ret = list_add(&f->hosts, v, r->file, line);
		else if(strcmp(k, "forward-tls-upstream") == 0 ||
			strcmp(k, "forward-ssl-upstream") == 0)
			f->tls = yes(v);
	}
	if(ret != 0 && !*r->err)
		return rerr(r->err, r->errlen, r->file, line, "out of memory");
	return ret;
}

/** A keyword: a clause starts, or values follow. */
static int
keyword(struct reader* r, const char* k, int line)
{
	if(is_clause(k)) {
		snprintf(r->clause, sizeof(r->clause), "%s", k);
		r->key[0] = 0;
		if(strcmp(k, "forward-zone") == 0) {
			struct ubconf* uc = r->uc;
			struct ubconf_forward* nf = realloc(uc->fwds,
				(uc->nfwds + 1) * sizeof(*uc->fwds));
			if(!nf)
				return rerr(r->err, r->errlen, r->file, line,
					"out of memory");
			uc->fwds = nf;
			memset(&uc->fwds[uc->nfwds], 0, sizeof(*uc->fwds));
			uc->fwds[uc->nfwds].file = r->file;
			uc->fwds[uc->nfwds].line = line;
			uc->nfwds++;
		}
		return 0;
	}
	snprintf(r->key, sizeof(r->key), "%s", k);
	r->key_line = line;
	r->nval = 0;
	return 0;
}

/** Split the text into words and hand them on. */
static int
parse(struct reader* r, char* text)
{
	char* p = text;
	int line = 1;

	while(*p) {
		char* w, q;
		int wline;
		if(*p == '\n') {
			line++;
			p++;
			continue;
		}
		if(*p == ' ' || *p == '\t' || *p == '\r') {
			p++;
			continue;
		}
		if(*p == '#') {
			while(*p && *p != '\n')
				p++;
			continue;
		}
		wline = line;
		if(*p == '"' || *p == '\'') {
			q = *p++;
			w = p;
			while(*p && *p != q && *p != '\n')
				p++;
			if(*p != q)
				return rerr(r->err, r->errlen, r->file, wline,
					"unterminated quote");
			*p++ = 0;
			if(value(r, w, wline) != 0)
				return -1;
			continue;
		}
		w = p;
		while(*p && *p != ' ' && *p != '\t' && *p != '\r' &&
			*p != '\n')
			p++;
		q = *p;
		*p = 0;
		if(is_keyword(w, strlen(w))) {
			w[strlen(w) - 1] = 0;
			if(keyword(r, w, wline) != 0)
				return -1;
		} else if(value(r, w, wline) != 0)
			return -1;
		*p = q;
	}
	return 0;
}

/** Read one file into uc. */
static int
read_file(struct ubconf* uc, const char* path, int depth, const char* from,
	int from_line, char* err, size_t errlen)
{
	struct reader r;
	FILE* f;
	char* text = NULL;
	size_t len = 0, cap = 0, n;
	int ret;

	if(!(f = fopen(path, "r"))) {
		if(from)
			return rerr(err, errlen, from, from_line, "include: "
				"cannot open \"%s\": %s", path,
				strerror(errno));
		snprintf(err, errlen, "%s: cannot open: %s", path,
			strerror(errno));
		return -1;
	}
	for(;;) {
		if(cap - len < 4096) {
			char* nt = realloc(text, cap = cap * 2 + 8192);
			if(!nt) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return -1;
			}
			text = nt;
		}
		n = fread(text + len, 1, cap - len - 1, f);
		len += n;
		if(n == 0)
			break;
	}
	fclose(f);
	text[len] = 0;
	if(list_add(&uc->files, path, NULL, 0) != 0) {
		free(text);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.uc = uc;
	r.file = uc->files.v[uc->files.n - 1].str;
	r.depth = depth;
	r.err = err;
	r.errlen = errlen;
	err[0] = 0;
	ret = parse(&r, text);
	free(text);
	return ret;
}

int
ubconf_read(struct ubconf* uc, const char* path, char* err, size_t errlen)
{
	memset(uc, 0, sizeof(*uc));
	return read_file(uc, path, 0, NULL, 0, err, errlen);
}

void
ubconf_free(struct ubconf* uc)
{
	size_t i;

	free(uc->module_conf.str);
	free(uc->cert_bundle.str);
	list_free(&uc->dynlib_files);
	for(i = 0; i < uc->nfwds; i++) {
		free(uc->fwds[i].name.str);
		list_free(&uc->fwds[i].addrs);
		list_free(&uc->fwds[i].hosts);
	}
	free(uc->fwds);
	list_free(&uc->files);
	memset(uc, 0, sizeof(*uc));
}
