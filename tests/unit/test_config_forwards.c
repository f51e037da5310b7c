/**
 * \file
 * Unit tests of module/config_forwards.c: zone: and upstream: sections
 * checked against Unbound's TLS forward zones, with the exact messages.
 */
#include <stdio.h>
#include <string.h>
#include "dotpool/config.h"
#include "dotpool/error.h"
#include "unit.h"

/** Messages of the cross-checks, collected. */
struct reports {
	/** how many */
	int n;
	/** the first two */
	char msg[2][600];
};

/** Collect one cross-check message. */
static void
collect(const char* msg, void* arg)
{
	struct reports* r = (struct reports*)arg;

	if(r->n < 2)
		snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
	r->n++;
}

/** zone: and upstream: sections must match a TLS forward zone. */
static void
test_check_forwards(void)
{
	static const char* const a1[] = { "192.0.2.1@853#dns.example.net",
		"192.0.2.2#dns.example.net", "192.0.2.3", NULL };
	static const char* const a2[] = { "2001:db8::1@8853", NULL };
	static const struct dotpool_tls_forward fw[] = {
		{ "example.com.", a1 }, { "Example.ORG", a2 } };
	/* each forward-addr spelling selects its section: IP#name is port
	 * 853, a bare IP port 53 */
	static const char good[] =
		"zone:\n\tname: example.com\n"
		"zone:\n\tname: example.org.\n"
		"upstream:\n\taddr: 192.0.2.1\n"
		"upstream:\n\taddr: 192.0.2.2@853\n"
		"upstream:\n\taddr: 192.0.2.3@53\n"
		"upstream:\n\taddr: 2001:db8::1@8853\n";
	static const char bad[] =
		"zone:\n\tname: exmaple.com\n"
		"upstream:\n\taddr: 192.0.2.1@53\n"
		"upstream:\n\taddr: 192.0.2.9\n";
	struct dotpool_config* cfg;
	struct reports r;
	char err[256];
	int ret;

	cfg = dotpool_config_new();
	UNIT_REQUIRE(cfg != NULL, "config: new settings allocated");
	ret = dotpool_config_read_text(cfg, "d.conf", good, strlen(good),
		err, sizeof(err));
	UNIT_CHECKF(ret == 0, "config: cross-check file parses, got \"%s\"",
		err);
	memset(&r, 0, sizeof(r));
	ret = dotpool_config_check_forwards(cfg, fw, 2, collect, &r);
	UNIT_CHECKF(ret == 0 && r.n == 0, "config: every section matches "
		"(%d problems, first \"%.200s\")", ret, r.msg[0]);
	dotpool_config_free(cfg);

	cfg = dotpool_config_new();
	UNIT_REQUIRE(cfg != NULL, "config: new settings allocated");
	ret = dotpool_config_read_text(cfg, "d.conf", bad, strlen(bad), err,
		sizeof(err));
	UNIT_CHECKF(ret == 0, "config: second file parses, got \"%s\"", err);
	memset(&r, 0, sizeof(r));
	ret = dotpool_config_check_forwards(cfg, fw, 2, collect, &r);
	UNIT_CHECKF(ret == 3 && r.n == 3, "config: three sections match "
		"nothing, got %d", ret);
	UNIT_CHECKF(strcmp(r.msg[0], "d.conf:1: zone: \"exmaple.com.\" "
		"names no forward-zone with forward-tls-upstream in "
		"unbound.conf") == 0, "config: zone message, got \"%.200s\"",
		r.msg[0]);
	UNIT_CHECKF(strcmp(r.msg[1], "d.conf:3: upstream: \"192.0.2.1@53\" "
		"matches no forward-addr of a forward-zone with "
		"forward-tls-upstream in unbound.conf") == 0,
		"config: upstream message (a port 853 forward-addr is not "
		"@53), got \"%.200s\"", r.msg[1]);
	dotpool_config_free(cfg);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "sections against forward zones", test_check_forwards },
		{ NULL, NULL }
	};
	return unit_run("config_forwards", tests);
}
