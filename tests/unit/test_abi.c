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

/** Whether a refusal ends with what to do. */
static int
ends_with_advice(const char* err)
{
	static const char tail[] = "and load that build";
	size_t n = err ? strlen(err) : 0;
	return n >= sizeof(tail) - 1 && strcmp(err + n - (sizeof(tail) - 1),
		tail) == 0 && strstr(err, "rebuild dotpool against") != NULL;
}

static void
test_match(void)
{
	const char* s[] = { "unbound 1.17.1", "--prefix=/usr --with-dynlibmodule" };
	struct dotpool_abi_feature f[] = { { "dnstap", "dt_create", 1 },
		{ "cachedb", "cachedb_get_funcblock", 0 } };
	char* err = NULL;
	make_exe(s, 2);
	present[0] = "dt_create";
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, f, 2,
		fake_lookup, &err) == 0,
		"abi: the matching build is accepted");
	UNIT_CHECK(err == NULL, "abi: no message when the build matches");
	free(err);
	unlink(exe);
}

static void
test_version_mismatch(void)
{
	const char* s[] = { "unbound 1.18.0", "--prefix=/usr --with-dynlibmodule" };
	char* err = NULL;
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, NULL, 0, NULL,
		&err) == DOTPOOL_EINVAL,
		"abi: another version is refused");
	UNIT_REQUIRE(err != NULL, "abi: a refusal has a message");
	UNIT_CHECK(strstr(err, "1.17.1") && strstr(err, "1.18.0"),
		"abi: the message names both versions");
	UNIT_CHECK(ends_with_advice(err), "abi: the message says what to do");
	free(err);
	unlink(exe);
}

static void
test_confline_mismatch(void)
{
	const char* s[] = { "unbound 1.17.1", "--prefix=/usr" };
	char* err = NULL;
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, NULL, 0, NULL,
		&err) == DOTPOOL_EINVAL,
		"abi: another configure line is refused");
	UNIT_CHECK(strstr(err, confline) != NULL,
		"abi: the message names the expected configure line");
	free(err);
	unlink(exe);
}

static void
test_confline_prefix_only(void)
{
	/* the running line must match whole, not as a prefix of a longer one */
	const char* s[] = { "unbound 1.17.1",
		"--prefix=/usr --with-dynlibmodule --enable-cachedb" };
	char* err = NULL;
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, NULL, 0, NULL,
		&err) == DOTPOOL_EINVAL,
		"abi: a longer configure line is a mismatch");
	free(err);
	unlink(exe);
}

static void
test_confline_suffix_only(void)
{
	/* nor as the tail of a longer one: a daemon configured with one more
	 * option in front has other struct layouts */
	const char* s[] = { "unbound 1.17.1",
		"--enable-subnet --prefix=/usr --with-dynlibmodule" };
	char* err = NULL;
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, NULL, 0, NULL,
		&err) == DOTPOOL_EINVAL,
		"abi: a configure line with more options in front is a mismatch");
	free(err);
	unlink(exe);
}

static void
test_feature_mismatch(void)
{
	const char* s[] = { "unbound 1.17.1", "--prefix=/usr --with-dynlibmodule" };
	struct dotpool_abi_feature f[] = { { "dnstap", "dt_create", 1 } };
	char* err = NULL;
	make_exe(s, 2);
	present[0] = NULL;
	UNIT_CHECK(dotpool_abi_check(exe, "1.17.1", confline, f, 1,
		fake_lookup, &err) == DOTPOOL_EINVAL,
		"abi: a missing feature is refused");
	UNIT_CHECK(strstr(err, "dnstap") != NULL,
		"abi: the message names the feature");
	free(err);
	unlink(exe);
}

/** The subnet layouts, both ways: each build refuses the other. */
static void
test_subnet_both_ways(void)
{
	const char* s[] = { "unbound 1.26.0", "--prefix=/usr --with-dynlibmodule" };
	struct dotpool_abi_feature f[] = {
		{ "subnetcache", "subnetmod_get_funcblock", 1 },
		{ "cachedb", "cachedb_get_funcblock", 0 } };
	char* err = NULL;
	make_exe(s, 2);
	/* a subnet module, a daemon without subnet */
	present[0] = NULL;
	UNIT_CHECK(dotpool_abi_check(exe, "1.26.0", confline, f, 2,
		fake_lookup, &err) == DOTPOOL_EINVAL,
		"abi: a subnet build is refused by a daemon without subnet");
	UNIT_REQUIRE(err != NULL, "abi: message for the subnet refusal");
	UNIT_CHECK(strstr(err, "dotpool's build has subnetcache, the "
		"running one lacks it") != NULL,
		"abi: the message says which side has subnet");
	UNIT_CHECK(strstr(err, "(with subnetcache; without cachedb)") != NULL,
		"abi: the message names dotpool's build");
	UNIT_CHECK(strstr(err, "(without subnetcache, cachedb)") != NULL,
		"abi: the message names the running build");
	UNIT_CHECK(ends_with_advice(err), "abi: and says what to do");
	free(err);
	/* a non-subnet module, a subnet daemon */
	f[0].expected = 0;
	present[0] = "subnetmod_get_funcblock";
	UNIT_CHECK(dotpool_abi_check(exe, "1.26.0", confline, f, 2,
		fake_lookup, &err) == DOTPOOL_EINVAL,
		"abi: a build without subnet is refused by a subnet daemon");
	UNIT_CHECK(err && strstr(err, "dotpool's build lacks subnetcache, "
		"the running one has it") != NULL,
		"abi: the message says which side has subnet (reverse)");
	free(err);
	present[0] = NULL;
	unlink(exe);
}

/** A long configure line: the message carries it whole, then the advice. */
static void
test_long_message(void)
{
	char line[3000], other[3100];
	const char* s[2];
	char* err = NULL;
	size_t i;
	for(i = 0; i + 1 < sizeof(line); i++)
		line[i] = "--with-option-xyz "[i % 18];
	line[sizeof(line) - 1] = 0;
	snprintf(other, sizeof(other), "--with-dynlibmodule %s", line);
	s[0] = "unbound 1.26.0";
	s[1] = other;
	make_exe(s, 2);
	UNIT_CHECK(dotpool_abi_check(exe, "1.26.0", line, NULL, 0, NULL,
		&err) == DOTPOOL_EINVAL,
		"abi: another (long) configure line is refused");
	UNIT_REQUIRE(err != NULL, "abi: message for the long line");
	UNIT_CHECK(strstr(err, line) != NULL,
		"abi: the expected configure line is in the message whole");
	UNIT_CHECK(strstr(err, other) != NULL,
		"abi: the running configure line is in the message whole");
	UNIT_CHECK(ends_with_advice(err),
		"abi: the long message still ends with what to do");
	free(err);
	unlink(exe);
}

static void
test_unreadable(void)
{
	char* err = NULL;
	UNIT_CHECK(dotpool_abi_check("/nonexistent/unbound", "1.17.1",
		confline, NULL, 0, NULL, &err) == DOTPOOL_EIO,
		"abi: an unreadable executable is an I/O error");
	UNIT_CHECK(strstr(err, "/nonexistent/unbound") != NULL,
		"abi: the message names the file");
	free(err);
}

static void
test_self(void)
{
	/* the test binary is no Unbound: refused, and no crash on a real ELF.
	 * The version is built at run time: as a literal it would be in this
	 * very binary and match. */
	char* err = NULL;
	char version[32];
	snprintf(version, sizeof(version), "%d.%d.%d", 1, 99, 7);
	UNIT_CHECK(dotpool_abi_check("/proc/self/exe", version, confline,
		NULL, 0, NULL, &err) == DOTPOOL_EINVAL,
		"abi: a non-Unbound executable is refused");
	free(err);
}

/* What this test program "announces" as a daemon would: whole strings in
 * its read-only data, where dotpool_abi_check_self must find them in memory,
 * with no file and no /proc. `used` keeps them though nothing reads them. */
__attribute__((used)) static const char self_version[] = "unbound 3.141.59";
__attribute__((used)) static const char self_confline[] =
	"--prefix=/opt/self --with-dynlibmodule";

static void
test_loaded_self(void)
{
	/* the expected strings are built at run time, so that the only
	 * copies in this program's image are the two above */
	char version[32], line[64];
	char* err = NULL;
	snprintf(version, sizeof(version), "%d.%d.%d", 3, 141, 59);
	snprintf(line, sizeof(line), "--prefix=/opt/%s --with-dynlibmodule",
		"self");
	UNIT_CHECK(dotpool_abi_check_self(version, line, NULL, 0, NULL,
		&err) == 0, "abi: the running program's own strings match");
	UNIT_CHECK(err == NULL, "abi: no message for the running match");
	free(err);
	snprintf(version, sizeof(version), "%d.%d.%d", 3, 141, 58);
	UNIT_CHECK(dotpool_abi_check_self(version, line, NULL, 0, NULL,
		&err) == DOTPOOL_EINVAL,
		"abi: another version than the running one is refused");
	UNIT_REQUIRE(err != NULL, "abi: message for the running refusal");
	/* (which version it names as running depends on which "unbound
	 * X.Y.Z" string comes first: this program holds several) */
	UNIT_CHECK(strstr(err, "3.141.58") && strstr(err,
		"(differs in version)"), "abi: the message says the version "
		"differs");
	UNIT_CHECK(strstr(err, self_confline) != NULL,
		"abi: the message names the running configure line");
	free(err);
	err = NULL;
	snprintf(version, sizeof(version), "%d.%d.%d", 3, 141, 59);
	snprintf(line, sizeof(line), "--prefix=/opt/%s --with-dynlibmodule",
		"other");
	UNIT_CHECK(dotpool_abi_check_self(version, line, NULL, 0, NULL,
		&err) == DOTPOOL_EINVAL,
		"abi: another configure line than the running one is refused");
	free(err);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "matching build accepted", test_match },
		{ "version mismatch", test_version_mismatch },
		{ "configure line mismatch", test_confline_mismatch },
		{ "configure line must match whole", test_confline_prefix_only },
		{ "configure line must match whole (tail)",
			test_confline_suffix_only },
		{ "feature mismatch", test_feature_mismatch },
		{ "subnet both ways", test_subnet_both_ways },
		{ "long message never truncated", test_long_message },
		{ "unreadable executable", test_unreadable },
		{ "real ELF", test_self },
		{ "the loaded program, from memory", test_loaded_self },
		{ NULL, NULL }
	};
	return unit_run("abi", tests);
}
