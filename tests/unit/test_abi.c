/**
 * \file
 * ABI guard: accepts the build it was made for, refuses every kind of
 * mismatch with a message naming both builds, never crashes on odd input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "dotpool/abi.h"
#include "dotpool/error.h"

/** Path of the fake executable of the current test. */
static char exe[64];

/** Write a fake executable: junk, then each string with its NUL. */
static void
make_exe(const char* const* strs, size_t n)
{
	FILE* f;
	size_t i;
	int fd;
	strcpy(exe, "/tmp/dotpool-abi-XXXXXX");
	fd = mkstemp(exe);
	UNIT_REQUIRE(fd >= 0, "abi: temp file can be made");
	f = fdopen(fd, "w");
	UNIT_REQUIRE(f != NULL, "abi: temp file opens");
	fputs("\177ELF junk unbound x unbound 9", f);
	fputc(0, f);
	for(i = 0; i < n; i++) {
		fputs(strs[i], f);
		fputc(0, f);
	}
	fclose(f);
}

/** Symbols the fake process "has". */
static const char* present[4];

/** Fake dlsym. */
static void*
fake_lookup(const char* sym)
{
	size_t i;
	for(i = 0; i < sizeof(present)/sizeof(present[0]); i++)
		if(present[i] && strcmp(present[i], sym) == 0)
			return (void*)present;
	return NULL;
}

static const char* confline = "--prefix=/usr --with-dynlibmodule";

static void
test_match(void)
{
	const char* s[] = { "unbound 1.17.1", "--prefix=/usr --with-dynlibmodule" };
	struct dotpool_abi_feature f[] = { { "dnstap", "dt_create", 1 },
		{ "cachedb", "cachedb_get_funcblock", 0 } };
	char err[512] = "";
	make_exe(s, 2);
	present[0] = "dt_create";
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, f, 2,
		fake_lookup, err, sizeof(err)) == 0,
		"abi: the matching build is accepted");
	unlink(exe);
}

static void
test_version_mismatch(void)
{
	const char* s[] = { "unbound 1.18.0", "--prefix=/usr --with-dynlibmodule" };
	char err[512] = "";
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, NULL, 0, NULL,
		err, sizeof(err)) == DOTPOOL_EINVAL,
		"abi: another version is refused");
	UNIT_CHECK(strstr(err, "1.17.1") && strstr(err, "1.18.0"),
		"abi: the message names both versions");
	unlink(exe);
}

static void
test_confline_mismatch(void)
{
	const char* s[] = { "unbound 1.17.1", "--prefix=/usr" };
	char err[512] = "";
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, NULL, 0, NULL,
		err, sizeof(err)) == DOTPOOL_EINVAL,
		"abi: another configure line is refused");
	UNIT_CHECK(strstr(err, confline) != NULL,
		"abi: the message names the expected configure line");
	unlink(exe);
}

static void
test_confline_prefix_only(void)
{
	/* the running line must match whole, not as a prefix of a longer one */
	const char* s[] = { "unbound 1.17.1",
		"--prefix=/usr --with-dynlibmodule --enable-cachedb" };
	char err[512] = "";
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, NULL, 0, NULL,
		err, sizeof(err)) == DOTPOOL_EINVAL,
		"abi: a longer configure line is a mismatch");
	unlink(exe);
}

static void
test_feature_mismatch(void)
{
	const char* s[] = { "unbound 1.17.1", "--prefix=/usr --with-dynlibmodule" };
	struct dotpool_abi_feature f[] = { { "dnstap", "dt_create", 1 } };
	char err[512] = "";
	make_exe(s, 2);
	present[0] = NULL;
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, f, 1,
		fake_lookup, err, sizeof(err)) == DOTPOOL_EINVAL,
		"abi: a missing feature is refused");
	UNIT_CHECK(strstr(err, "dnstap") != NULL,
		"abi: the message names the feature");
	unlink(exe);
}

static void
test_unreadable(void)
{
	char err[512] = "";
	UNIT_CHECK(dotpool_abi_check("/nonexistent/unbound", "1.17.1",
		confline, NULL, 0, NULL, err, sizeof(err)) == DOTPOOL_EIO,
		"abi: an unreadable executable is an I/O error");
	UNIT_CHECK(strstr(err, "/nonexistent/unbound") != NULL,
		"abi: the message names the file");
}

static void
test_self(void)
{
	/* the test binary is no Unbound: refused, and no crash on a real ELF.
	 * The version is built at run time: as a literal it would be in this
	 * very binary and match. */
	char err[512] = "", version[32];
	snprintf(version, sizeof(version), "%d.%d.%d", 1, 99, 7);
	UNIT_CHECK(dotpool_abi_check("/proc/self/exe", version, confline,
		NULL, 0, NULL, err, sizeof(err)) == DOTPOOL_EINVAL,
		"abi: a non-Unbound executable is refused");
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "matching build accepted", test_match },
		{ "version mismatch", test_version_mismatch },
		{ "configure line mismatch", test_confline_mismatch },
		{ "configure line must match whole", test_confline_prefix_only },
		{ "feature mismatch", test_feature_mismatch },
		{ "unreadable executable", test_unreadable },
		{ "real ELF", test_self },
		{ NULL, NULL }
	};
	return unit_run("abi", tests);
}
