/**
 * \file
 * ABI guard. The version and configure line are string constants compiled
 * into every Unbound daemon (it prints them for `unbound -V`), so finding
 * both, byte for byte, in the running executable identifies the build far
 * better than the version alone: the same version built with other options
 * has other struct layouts.
 */
#define _GNU_SOURCE 1 /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dotpool/abi.h"
#include "dotpool/error.h"

/** Whether the NUL-terminated string s (with its NUL) occurs in the map. */
static int
map_has_cstring(const unsigned char* map, size_t len, const char* s)
{
	return memmem(map, len, s, strlen(s) + 1) != NULL;
}

/**
 * Find the version the executable announces: Unbound compiles in
 * PACKAGE_STRING, "unbound X.Y.Z". Copies what follows "unbound " into out.
 */
static void
find_version(const unsigned char* map, size_t len, char* out, size_t outlen)
{
	static const char pfx[] = "unbound ";
	const unsigned char* p = map;
	size_t left = len;
	snprintf(out, outlen, "unknown");
	while(left > sizeof(pfx)) {
		const unsigned char* hit = memmem(p, left, pfx, sizeof(pfx)-1);
		size_t i, n;
		if(!hit)
			return;
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
				return;
			}
		}
		left -= (size_t)(hit - p) + 1;
		p = hit + 1;
	}
	snprintf(out, outlen, "unknown");
}

int
dotpool_abi_check(const char* exe, const char* version,
	const char* confline, const struct dotpool_abi_feature* features,
	size_t nfeatures, void* (*lookup)(const char* symbol),
	char* err, size_t errlen)
{
	int fd = -1, ret = DOTPOOL_EIO;
	struct stat st;
	unsigned char* map = MAP_FAILED;
	char want[256], running[64];
	size_t i;

	snprintf(want, sizeof(want), "unbound %s", version);
	fd = open(exe, O_RDONLY | O_CLOEXEC);
	if(fd == -1 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		snprintf(err, errlen, "cannot read %s to check the Unbound "
			"build: %s", exe, strerror(errno));
		goto done;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if(map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s to check the Unbound "
			"build: %s", exe, strerror(errno));
		goto done;
	}
	ret = DOTPOOL_EINVAL;
	find_version(map, (size_t)st.st_size, running, sizeof(running));
	if(!map_has_cstring(map, (size_t)st.st_size, want)) {
		snprintf(err, errlen, "dotpool was built for Unbound %s but "
			"the running Unbound is %s: rebuild dotpool against "
			"the configured source tree of the running Unbound",
			version, running);
		goto done;
	}
	if(!map_has_cstring(map, (size_t)st.st_size, confline)) {
		snprintf(err, errlen, "dotpool was built for Unbound %s "
			"configured as '%s', but the running Unbound %s was "
			"configured differently (see unbound -V): rebuild "
			"dotpool against its configured source tree",
			version, confline, running);
		goto done;
	}
	for(i = 0; lookup && i < nfeatures; i++) {
		int have = lookup(features[i].symbol) != NULL;
		if(have != features[i].expected) {
			snprintf(err, errlen, "dotpool was built for Unbound "
				"%s %s %s, but the running Unbound %s %s it: "
				"rebuild dotpool against its source tree",
				version, features[i].expected?"with":"without",
				features[i].name, running,
				have?"has":"lacks");
			goto done;
		}
	}
	ret = 0;
done:
	if(map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if(fd != -1)
		close(fd);
	return ret;
}
