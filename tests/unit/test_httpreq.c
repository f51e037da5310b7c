/**
 * \file
 * Unit tests of module/httpreq.c, the metrics endpoint's request parser:
 * the verdict on the bytes a client sent so far, without a server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dotpool/metrics.h"
#include "unit.h"

/** One request and the verdict it must get. */
struct req_case {
	/** the bytes (NUL-terminated here; len says how many count) */
	const char* req;
	/** bytes given to the parser, or 0 for strlen(req) */
	size_t len;
	/** expected verdict */
	enum dotpool_metrics_req want;
};

/** Check a table of cases; the message names the request. */
static void
check_cases(const struct req_case* cases, size_t n)
{
	size_t i;
	for(i = 0; i < n; i++) {
		size_t len = cases[i].len ? cases[i].len :
			strlen(cases[i].req);
		enum dotpool_metrics_req got =
			dotpool_metrics_parse_request(cases[i].req, len);
		UNIT_CHECKF(got == cases[i].want, "httpreq: case %zu is "
			"\"%s\", got \"%s\"", i,
			dotpool_metrics_req_str(cases[i].want),
			dotpool_metrics_req_str(got));
	}
}

/** GET and HEAD of /metrics, whatever the headers, query or fragment. */
static void
test_accepted(void)
{
	static const struct req_case cases[] = {
		{ "GET /metrics HTTP/1.1\r\n\r\n", 0, DOTPOOL_METRICS_REQ_GET },
		{ "GET /metrics HTTP/1.0\r\nHost: x\r\nAccept: */*\r\n\r\n",
			0, DOTPOOL_METRICS_REQ_GET },
		{ "GET /metrics?x=1 HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_GET },
		{ "GET /metrics#top HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_GET },
		{ "GET /metrics HTTP/1.1\n\n", 0, DOTPOOL_METRICS_REQ_GET },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_HEAD },
		/* bytes after the end of the headers are not looked at */
		{ "GET /metrics HTTP/1.1\r\n\r\nPOST / x", 0,
			DOTPOOL_METRICS_REQ_GET },
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/** Until the empty line arrives the request is incomplete. */
static void
test_incomplete(void)
{
	static const char full[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t len;

	UNIT_CHECK(dotpool_metrics_parse_request(NULL, 0) ==
		DOTPOOL_METRICS_REQ_INCOMPLETE,
		"httpreq: no bytes is incomplete");
	UNIT_CHECK(dotpool_metrics_parse_request(full, 0) ==
		DOTPOOL_METRICS_REQ_INCOMPLETE,
		"httpreq: an empty request is incomplete");
	/* every proper prefix waits for more, the whole is a GET */
	for(len = 1; len < sizeof(full) - 1; len++)
		UNIT_CHECKF(dotpool_metrics_parse_request(full, len) ==
			DOTPOOL_METRICS_REQ_INCOMPLETE, "httpreq: a prefix of "
			"%zu bytes is incomplete", len);
	UNIT_CHECK(dotpool_metrics_parse_request(full, sizeof(full) - 1) ==
		DOTPOOL_METRICS_REQ_GET, "httpreq: the whole request is a GET");
}

/** Other methods, other paths, malformed request lines. */
static void
test_refused(void)
{
	static const struct req_case cases[] = {
		{ "POST /metrics HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_METHOD },
		{ "get /metrics HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_METHOD },
		{ "GETS /metrics HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_METHOD },
		{ "GET / HTTP/1.1\r\n\r\n", 0, DOTPOOL_METRICS_REQ_NOT_FOUND },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_NOT_FOUND },
		{ "GET /metric HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_NOT_FOUND },
		{ "GET /metrics/ HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_NOT_FOUND },
		{ "GET /metrics\r\n\r\n", 0, DOTPOOL_METRICS_REQ_BAD },
		{ "GET /metrics HTTP/2\r\n\r\n", 0, DOTPOOL_METRICS_REQ_BAD },
		{ "GET\r\n\r\n", 0, DOTPOOL_METRICS_REQ_BAD },
		{ "\r\n\r\n", 0, DOTPOOL_METRICS_REQ_BAD },
		/* the request line ends at its line end, not at a later
		 * line's space */
		{ "GET\r\nHost: a b HTTP/1.1\r\n\r\n", 0,
			DOTPOOL_METRICS_REQ_BAD },
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/** A NUL byte ends the text: what follows never completes a request. */
static void
test_nul(void)
{
	static const char nul_line[] = "GET /metrics\0 HTTP/1.1\r\n\r\n";
	static const char nul_after[] = "GET /metrics HTTP/1.1\r\n\r\n\0x";

	UNIT_CHECK(dotpool_metrics_parse_request(nul_line,
		sizeof(nul_line) - 1) == DOTPOOL_METRICS_REQ_BAD,
		"httpreq: a NUL before the end of the headers is a bad "
		"request");
	UNIT_CHECK(dotpool_metrics_parse_request(nul_after,
		sizeof(nul_after) - 1) == DOTPOOL_METRICS_REQ_GET,
		"httpreq: a NUL after the end of the headers is not looked at");
}

/** The size limit: the headers must end within the bound. */
static void
test_too_large(void)
{
	size_t max = DOTPOOL_METRICS_MAX_REQUEST;
	char* req = malloc(max + 1);
	static const char line[] = "GET /metrics HTTP/1.1\r\nX: ";

	UNIT_REQUIRE(req != NULL, "httpreq test: malloc");
	memset(req, 'a', max);
	memcpy(req, line, sizeof(line) - 1);
	req[max] = 0;
	UNIT_CHECK(dotpool_metrics_parse_request(req, max) ==
		DOTPOOL_METRICS_REQ_TOO_LARGE, "httpreq: the limit without "
		"the end of the headers is too large");
	UNIT_CHECK(dotpool_metrics_parse_request(req, max - 1) ==
		DOTPOOL_METRICS_REQ_INCOMPLETE, "httpreq: one byte under the "
		"limit still waits");
	memcpy(req + max - 4, "\r\n\r\n", 4);
	UNIT_CHECK(dotpool_metrics_parse_request(req, max) ==
		DOTPOOL_METRICS_REQ_GET, "httpreq: headers that end exactly "
		"at the limit are read");
	free(req);
}

/** Every verdict has its own name. */
static void
test_names(void)
{
	int i, j;
	for(i = DOTPOOL_METRICS_REQ_INCOMPLETE;
		i <= DOTPOOL_METRICS_REQ_TOO_LARGE; i++) {
		const char* a = dotpool_metrics_req_str(
			(enum dotpool_metrics_req)i);
		UNIT_CHECKF(strcmp(a, "unknown") != 0, "httpreq: verdict %d "
			"has a name", i);
		for(j = DOTPOOL_METRICS_REQ_INCOMPLETE; j < i; j++)
			UNIT_CHECKF(strcmp(a, dotpool_metrics_req_str(
				(enum dotpool_metrics_req)j)) != 0,
				"httpreq: verdicts %d and %d differ in name",
				j, i);
	}
	UNIT_CHECK(strcmp(dotpool_metrics_req_str(
		(enum dotpool_metrics_req)99), "unknown") == 0,
		"httpreq: an out-of-range verdict is unknown");
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "accepted requests", test_accepted },
		{ "incomplete requests", test_incomplete },
		{ "refused requests", test_refused },
		{ "NUL bytes", test_nul },
		{ "size limit", test_too_large },
		{ "verdict names", test_names },
		{ NULL, NULL }
	};
	return unit_run("httpreq", tests);
}
