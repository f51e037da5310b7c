/**
 * \file
 * ABI guard. The version and configure line are string constants compiled
 * into every Unbound daemon (it prints them for `unbound -V`), so finding
 * both, each as a whole string, in the running executable identifies the
 * build far better than the version alone: the same version built with
 * other options has other struct layouts. The optional features are then
 * probed by symbol, which catches a daemon whose configure line matches
 * but whose build came out otherwise (a feature autodetected, a patched
 * build).
 */
#define _GNU_SOURCE 1 /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dotpool/abi.h"
/* glibc and FreeBSD define ElfW; OpenBSD and others name the native types
 * Elf_Phdr and so on */
#ifndef ElfW
#define ElfW(type) Elf_##type
#endif
#include "dotpool/error.h"

/** What every refusal tells the operator to do; ends every message. */
#define ABI_ADVICE "rebuild dotpool against the configured source tree " \
	"of the running Unbound (the same version and configure line as " \
	"`unbound -V` prints, plus --with-dynlibmodule) and load that build"

/** A readable piece of the executable's image. */
struct region {
	/** start */
	const unsigned char* p;
	/** length */
	size_t len;
};

/** At most this many loaded segments are searched (an ELF has a handful). */
#define ABI_MAX_REGIONS 16

/**
 * Whether the string s occurs in the map as a whole string: NUL (or the
 * start of the map) before it and its NUL after it. A match inside a longer
 * string is another build: "--a --b" is not "--b".
 */
static int
map_has_cstring(const unsigned char* map, size_t len, const char* s)
{
	size_t n = strlen(s) + 1;
	const unsigned char* p = map;
	while(p < map + len) {
		const unsigned char* hit = memmem(p, (size_t)(map + len - p),
			s, n);
		if(!hit)
			return 0;
		if(hit == map || hit[-1] == 0)
			return 1;
		p = hit + 1;
	}
	return 0;
}

/**
 * Find the version the executable announces: Unbound compiles in
 * PACKAGE_STRING, "unbound X.Y.Z". Copies what follows "unbound " into out
 * and returns 1; 0 when there is none.
 */
static int
find_version(const unsigned char* map, size_t len, char* out, size_t outlen)
{
	static const char pfx[] = "unbound ";
	const unsigned char* p = map;
	size_t left = len;
	while(left > sizeof(pfx)) {
		const unsigned char* hit = memmem(p, left, pfx, sizeof(pfx)-1);
		size_t i, n;
		if(!hit)
			return 0;
		/* PACKAGE_STRING is a whole string: NUL before, digits after */
		n = (size_t)(hit - map);
		if((n == 0 || map[n-1] == 0) && n + sizeof(pfx) < len &&
			hit[sizeof(pfx)-1] >= '0' && hit[sizeof(pfx)-1] <= '9') {
			const unsigned char* v = hit + sizeof(pfx) - 1;
			for(i = 0; i+1 < outlen && v+i < map+len && v[i] &&
				v[i] != ' '; i++)
				out[i] = (char)v[i];
			if(v+i < map+len && v[i] == 0) {
				out[i] = 0;
				return 1;
			}
		}
		left -= (size_t)(hit - p) + 1;
		p = hit + 1;
	}
	return 0;
}

/**
 * Find the running daemon's configure line, for the message: the whole
 * string that starts with "--" and holds --with-dynlibmodule (a daemon that
 * loads dotpool has it). Returns a pointer into the map and its length, or
 * NULL.
 */
static const char*
find_confline(const unsigned char* map, size_t len, size_t* outlen)
{
	static const char key[] = "--with-dynlibmodule";
	const unsigned char* p = map;
	while(p < map + len) {
		const unsigned char* hit = memmem(p, (size_t)(map + len - p),
			key, sizeof(key) - 1);
		const unsigned char* s, *e;
		if(!hit)
			return NULL;
		for(s = hit; s > map && s[-1] != 0 && hit - s < 8192; s--)
			;
		e = memchr(hit, 0, (size_t)(map + len - hit));
		if(e && e - s >= 2 && s[0] == '-' && s[1] == '-' &&
			(s == map || s[-1] == 0)) {
			*outlen = (size_t)(e - s);
			return (const char*)s;
		}
		p = hit + 1;
	}
	return NULL;
}

/** A growing message; on allocation failure it stays NULL. */
struct msg {
	/** the text or NULL */
	char* s;
	/** its length */
	size_t len;
	/** an allocation failed */
	int oom;
};

/** Append printf-style to the message. */
static void
msg_add(struct msg* m, const char* fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
msg_add(struct msg* m, const char* fmt, ...)
{
	va_list ap;
	int n;
	char* ns;
	if(m->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if(n < 0 || !(ns = realloc(m->s, m->len + (size_t)n + 1))) {
		m->oom = 1;
		return;
	}
	m->s = ns;
	va_start(ap, fmt);
	vsnprintf(m->s + m->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	m->len += (size_t)n;
}

/** List the features a build has: " (with a, b; without c)". */
static void
msg_features(struct msg* m, const struct dotpool_abi_feature* features,
	size_t nfeatures, const int* have)
{
	const char* sep = " (";
	size_t i;
	int pass, any;
	if(nfeatures == 0)
		return;
	for(pass = 1; pass >= 0; pass--) {
		any = 0;
		for(i = 0; i < nfeatures; i++) {
			int h = have ? have[i] : features[i].expected;
			if(h != pass)
				continue;
			msg_add(m, "%s%s%s", any ? ", " : sep, any ? "" :
				(pass ? "with " : "without "),
				features[i].name);
			any = 1;
			sep = "; ";
		}
	}
	msg_add(m, ")");
}

/** Hand the message to the caller (NULL when memory ran out). */
static void
msg_done(struct msg* m, char** err)
{
	if(m->oom) {
		free(m->s);
		m->s = NULL;
	}
	*err = m->s;
}

/** Whether any region holds s as a whole string. */
static int
regions_have_cstring(const struct region* r, size_t n, const char* s)
{
	size_t i;
	for(i = 0; i < n; i++)
		if(map_has_cstring(r[i].p, r[i].len, s))
			return 1;
	return 0;
}

/**
 * The check itself, on the regions of an image; what names the image in
 * messages. Same contract as dotpool_abi_check.
 */
static int
check_regions(const struct region* r, size_t nr, const char* version,
	const char* confline, const struct dotpool_abi_feature* features,
	size_t nfeatures, void* (*lookup)(const char* symbol), char** err)
{
	int ret = DOTPOOL_ENOMEM;
	char running[64];
	char* want = NULL;
	int* have = NULL;
	struct msg m = { NULL, 0, 0 };
	const char* rline = NULL;
	size_t i, rlen = 0;
	int bad_version, bad_line, bad_feature = 0;

	*err = NULL;
	if(!(want = malloc(strlen(version) + sizeof("unbound "))) ||
		(nfeatures && !(have = calloc(nfeatures, sizeof(*have)))))
		goto done;
	sprintf(want, "unbound %s", version);
	for(i = 0; i < nr; i++)
		if(find_version(r[i].p, r[i].len, running, sizeof(running)))
			break;
	if(i == nr) /* (a failed search may leave part of a candidate) */
		snprintf(running, sizeof(running), "unknown");
	bad_version = !regions_have_cstring(r, nr, want);
	bad_line = !regions_have_cstring(r, nr, confline);
	for(i = 0; i < nfeatures; i++) {
		have[i] = lookup ? lookup(features[i].symbol) != NULL :
			features[i].expected;
		if(have[i] != features[i].expected)
			bad_feature = 1;
	}
	ret = 0;
	if(!bad_version && !bad_line && !bad_feature)
		goto done;
	ret = DOTPOOL_EINVAL;
	/* one line: both builds, what differs, what to do */
	msg_add(&m, "dotpool was built for Unbound %s", version);
	msg_features(&m, features, nfeatures, NULL);
	msg_add(&m, " configured as '%s', but the running Unbound is %s",
		confline, running);
	if(lookup)
		msg_features(&m, features, nfeatures, have);
	for(i = 0; i < nr && !rline; i++)
		rline = find_confline(r[i].p, r[i].len, &rlen);
	if(rline)
		msg_add(&m, " configured as '%.*s'", (int)rlen, rline);
	msg_add(&m, " (differs in %s%s%s%s%s)", bad_version ? "version" : "",
		bad_version && (bad_line || bad_feature) ? ", " : "",
		bad_line ? "configure line" : "",
		bad_line && bad_feature ? ", " : "",
		bad_feature ? "optional features" : "");
	for(i = 0; i < nfeatures; i++)
		if(have[i] != features[i].expected)
			msg_add(&m, "; dotpool's build %s %s, the running one "
				"%s", features[i].expected ? "has" : "lacks",
				features[i].name, have[i] ? "has it" :
				"lacks it");
	msg_add(&m, ": " ABI_ADVICE);
done:
	if(ret == 0) {
		free(m.s);
		m.s = NULL;
	} else if(ret == DOTPOOL_ENOMEM)
		m.oom = 1;
	msg_done(&m, err);
	free(want);
	free(have);
	return ret;
}

/** An I/O refusal: "cannot VERB WHAT to check the Unbound build: why". */
static int
refuse_io(char** err, const char* verb, const char* what, int e)
{
	struct msg m = { NULL, 0, 0 };
	msg_add(&m, "cannot %s %s to check the Unbound build: %s", verb, what,
		strerror(e));
	msg_done(&m, err);
	return DOTPOOL_EIO;
}

int
dotpool_abi_check(const char* exe, const char* version,
	const char* confline, const struct dotpool_abi_feature* features,
	size_t nfeatures, void* (*lookup)(const char* symbol), char** err)
{
	int fd, ret;
	struct stat st;
	struct region r;
	void* map;

	*err = NULL;
	fd = open(exe, O_RDONLY | O_CLOEXEC);
	if(fd == -1 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		int e = errno;
		if(fd != -1)
			close(fd);
		return refuse_io(err, "read", exe, e);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if(map == MAP_FAILED) {
		int e = errno;
		close(fd);
		return refuse_io(err, "map", exe, e);
	}
	r.p = map;
	r.len = (size_t)st.st_size;
	ret = check_regions(&r, 1, version, confline, features, nfeatures,
		lookup, err);
	munmap(map, (size_t)st.st_size);
	close(fd);
	return ret;
}

/** What dl_iterate_phdr found of the main program. */
struct self_image {
	/** its readable loaded segments */
	struct region r[ABI_MAX_REGIONS];
	/** how many */
	size_t n;
};

/**
 * dl_iterate_phdr visits the main program first (on glibc, musl and the
 * BSDs alike): keep its readable PT_LOAD segments, which hold its string
 * constants, and stop.
 */
static int
self_segments(struct dl_phdr_info* info, size_t size, void* arg)
{
	struct self_image* img = arg;
	int i;
	(void)size;
	for(i = 0; i < (int)info->dlpi_phnum && img->n < ABI_MAX_REGIONS; i++) {
		const ElfW(Phdr)* ph = &info->dlpi_phdr[i];
		if(ph->p_type != PT_LOAD || !(ph->p_flags & PF_R) ||
			ph->p_filesz == 0)
			continue;
		/* p_filesz, not p_memsz: the rest is .bss, zeroes */
		img->r[img->n].p = (const unsigned char*)(info->dlpi_addr +
			ph->p_vaddr);
		img->r[img->n].len = (size_t)ph->p_filesz;
		img->n++;
	}
	return 1;
}

int
dotpool_abi_check_self(const char* version, const char* confline,
	const struct dotpool_abi_feature* features, size_t nfeatures,
	void* (*lookup)(const char* symbol), char** err)
{
	struct self_image img;
	img.n = 0;
	*err = NULL;
	(void)dl_iterate_phdr(self_segments, &img);
	if(img.n == 0)
		return refuse_io(err, "find the loaded segments of",
			"the running program", ENOENT);
	return check_regions(img.r, img.n, version, confline, features,
		nfeatures, lookup, err);
}
