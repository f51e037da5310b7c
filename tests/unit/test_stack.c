/**
 * \file
 * Unit tests of module/stack.c: which module-config lines dotpool accepts,
 * and the exact line it prints for each wrong one (what is wrong and the
 * module-config to write instead).
 */
#include <string.h>
#include "dotpool/error.h"
#include "dotpool/stack.h"
#include "unit.h"

/** is_self for the tests: a bit per dynlib ordinal that loads dotpool. */
static int
self_bits(int n, void* arg)
{
	return (*(unsigned*)arg >> n) & 1;
}

/** The module-config is accepted with dotpool at index self (NULL is_self:
 * every dynlib is dotpool). */
static void
expect_ok(const char* mc, int self)
{
	char err[512];
	int ret;

	ret = dotpool_stack_check(mc, self, NULL, NULL, err, sizeof(err));
	UNIT_CHECKF(ret == 0, "stack: \"%s\" is accepted, got \"%s\"",
		mc ? mc : "(default)", err);
}

/** The module-config is refused with exactly the message want. */
static void
expect_err(const char* mc, int self, unsigned bits, const char* want)
{
	char err[512];
	int ret = dotpool_stack_check(mc, self, self_bits, &bits, err,
		sizeof(err));

	UNIT_CHECKF(ret == DOTPOOL_ECONFIG, "stack: \"%s\" is refused",
		mc ? mc : "(default)");
	UNIT_CHECKF(strcmp(err, want) == 0, "stack: message for \"%s\" is "
		"\"%s\", got \"%s\"", mc ? mc : "(default)", want, err);
}

/** Orders where dotpool works: directly before the iterator, once, with
 * the modules that act on every query before it. */
static void
test_good_orders(void)
{
	expect_ok("dynlib iterator", 0);
	expect_ok("validator dynlib iterator", 1);
	expect_ok("respip validator dynlib iterator", 2);
	expect_ok("subnetcache validator dynlib iterator", 2);
	expect_ok("dns64 validator dynlib iterator", 2);
	expect_ok("ipsecmod validator dynlib iterator", 2);
	expect_ok("validator cachedb dynlib iterator", 2);
	expect_ok("python validator dynlib iterator", 2);
	expect_ok("validator python dynlib iterator", 2);
	expect_ok("  validator\tdynlib   iterator ", 1);
}

/** Another plugin in a dynlib of its own may stand before dotpool. */
static void
test_other_dynlib(void)
{
	char err[512];
	unsigned bits = 2;

	UNIT_CHECKF(dotpool_stack_check("dynlib validator dynlib iterator",
		2, self_bits, &bits, err, sizeof(err)) == 0, "stack: another "
		"dynlib before the validator is accepted, got \"%s\"", err);
	UNIT_CHECKF(dotpool_stack_check("dynlib validator dynlib iterator",
		-1, self_bits, &bits, err, sizeof(err)) == 0, "stack: the "
		"checker finds dotpool as the second dynlib, got \"%s\"", err);
}

/** Every wrong order names the problem and the line to write. */
static void
test_wrong_orders(void)
{
	expect_err("dynlib validator iterator", 0, 1,
		"module-config \"dynlib validator iterator\": the validator "
		"after dynlib (dotpool) never sees the answers dotpool gives, "
		"so they fail validation (SERVFAIL); write module-config: "
		"\"validator dynlib iterator\"");
	expect_err("validator iterator dynlib", 2, 1,
		"module-config \"validator iterator dynlib\": dynlib "
		"(dotpool) after the iterator gets no queries: the iterator "
		"passes none on; write module-config: \"validator dynlib "
		"iterator\"");
	expect_err("validator dynlib", 1, 1,
		"module-config \"validator dynlib\": no iterator: dotpool "
		"needs it directly after dynlib, for the queries it passes on "
		"and to scrub answers; write module-config: \"validator "
		"dynlib iterator\"");
	expect_err("dynlib dynlib iterator", 1, 3,
		"module-config \"dynlib dynlib iterator\": dotpool is loaded "
		"twice (dynlib 2 and 1 of the list); write module-config: "
		"\"dynlib iterator\"");
	expect_err("validator dynlib cachedb iterator", 1, 1,
		"module-config \"validator dynlib cachedb iterator\": cachedb "
		"between dynlib (dotpool) and the iterator never sees the "
		"queries dotpool answers; write module-config: \"validator "
		"cachedb dynlib iterator\"");
	expect_err("validator dynlib python iterator", 1, 1,
		"module-config \"validator dynlib python iterator\": python "
		"between dynlib (dotpool) and the iterator never sees the "
		"queries dotpool answers; write module-config: \"validator "
		"python dynlib iterator\"");
	expect_err("dynlib iterator validator", 0, 1,
		"module-config \"dynlib iterator validator\": validator after "
		"the iterator never gets a query; write module-config: "
		"\"validator dynlib iterator\"");
	expect_err(NULL, -1, 1,
		"module-config \"validator iterator\": no dynlib loads "
		"dotpool; write module-config: \"validator dynlib iterator\"");
	/* the checker: dotpool is the second dynlib, and it stands wrong */
	expect_err("dynlib dynlib validator iterator", -1, 2,
		"module-config \"dynlib dynlib validator iterator\": the "
		"validator after dynlib (dotpool) never sees the answers "
		"dotpool gives, so they fail validation (SERVFAIL); write "
		"module-config: \"dynlib validator dynlib iterator\"");
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "good orders", test_good_orders },
		{ "another dynlib", test_other_dynlib },
		{ "wrong orders", test_wrong_orders },
		{ NULL, NULL }
	};
	return unit_run("stack", tests);
}
