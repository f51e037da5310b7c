/**
 * \file
 * Unit tests of module/log.c: silent without a sink, the formatted text
 * and level handed to the sink, long messages cut rather than lost.
 */
#include <string.h>
#include "dotpool/log.h"
#include "unit.h"

/** What the test sink received. */
static struct {
	/** calls */
	int calls;
	/** level of the last call */
	int level;
	/** text of the last call */
	char msg[1024];
} got;

/** The sink of the tests: records the last message. */
static void
sink(int level, const char* msg)
{
	got.calls++;
	got.level = level;
	strncpy(got.msg, msg, sizeof(got.msg) - 1);
	got.msg[sizeof(got.msg) - 1] = 0;
}

/** Without a sink nothing is called and logging reports itself off. */
static void
test_silent(void)
{
	memset(&got, 0, sizeof(got));
	dotpool_log_set(NULL);
	UNIT_CHECK(!dotpool_log_enabled(), "log: no sink is disabled");
	dotpool_log(DOTPOOL_LOG_ERR, "x %d", 1);
	UNIT_CHECK(got.calls == 0, "log: nothing reaches a removed sink");
}

/** The sink gets the level and the text formatted, without newline. */
static void
test_format(void)
{
	memset(&got, 0, sizeof(got));
	dotpool_log_set(sink);
	UNIT_CHECK(dotpool_log_enabled(), "log: a sink enables logging");
	dotpool_log(DOTPOOL_LOG_OPS, "upstream %s: %d failures",
		"192.0.2.1@853", 3);
	UNIT_CHECK(got.calls == 1, "log: one call per message");
	UNIT_CHECK(got.level == DOTPOOL_LOG_OPS, "log: the level is passed on");
	UNIT_CHECKF(strcmp(got.msg, "upstream 192.0.2.1@853: 3 failures") == 0,
		"log: the text is formatted, got \"%.200s\"", got.msg);
	dotpool_log_set(NULL);
	dotpool_log(DOTPOOL_LOG_OPS, "after");
	UNIT_CHECK(got.calls == 1, "log: setting NULL silences again");
}

/** A message longer than the buffer arrives cut, NUL-terminated. */
static void
test_truncate(void)
{
	char longer[800];
	size_t n;
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	memset(&got, 0, sizeof(got));
	dotpool_log_set(sink);
	dotpool_log(DOTPOOL_LOG_WARN, "%s", longer);
	dotpool_log_set(NULL);
	UNIT_CHECK(got.calls == 1, "log: a long message is still logged");
	n = strlen(got.msg);
	UNIT_CHECKF(n >= 256 && n < strlen(longer) &&
		strncmp(got.msg, longer, n) == 0, "log: a long message arrives "
		"as its first part, got %zu bytes", n);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "silent without a sink", test_silent },
		{ "formatted text and level", test_format },
		{ "long messages are cut", test_truncate },
		{ NULL, NULL }
	};
	return unit_run("log", tests);
}
