/**
 * \file
 * The metrics endpoint's HTTP request parser: what a client sent, judged
 * without the server around it, so that it can be fuzzed and unit-tested
 * alone (module/httpd.c serves the verdicts).
 */
#define _GNU_SOURCE 1 /* memmem */
#include <string.h>
#include "dotpool/metrics.h"

const char*
dotpool_metrics_req_str(enum dotpool_metrics_req r)
{
	switch(r) {
	case DOTPOOL_METRICS_REQ_INCOMPLETE: return "incomplete";
	case DOTPOOL_METRICS_REQ_GET: return "get";
	case DOTPOOL_METRICS_REQ_HEAD: return "head";
	case DOTPOOL_METRICS_REQ_BAD: return "bad request";
	case DOTPOOL_METRICS_REQ_METHOD: return "method not allowed";
	case DOTPOOL_METRICS_REQ_NOT_FOUND: return "not found";
	case DOTPOOL_METRICS_REQ_TOO_LARGE: return "too large";
	}
	return "unknown";
}

/** Whether [p, end) starts with the NUL-terminated string s. */
static int
req_starts(const char* p, const char* end, const char* s)
{
	size_t n = strlen(s);
	return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

enum dotpool_metrics_req
dotpool_metrics_parse_request(const char* req, size_t len)
{
	const char* text_end;
	const char* end, *method_end, *target, *target_end, *q;
	size_t tlen;
	int complete;

	/* nothing yet (also tells gcc's -Wnonnull, with the sanitizers on,
	 * that req is not NULL below) */
	if(!req || len == 0)
		return DOTPOOL_METRICS_REQ_INCOMPLETE;
	text_end = memchr(req, 0, len);
	/* Bytes after a NUL never count: the request is text. */
	if(!text_end)
		text_end = req + len;
	tlen = (size_t)(text_end - req);
	complete = memmem(req, tlen, "\r\n\r\n", 4) != NULL ||
		memmem(req, tlen, "\n\n", 2) != NULL;
	if(!complete) {
		if(text_end < req + len)
			return DOTPOOL_METRICS_REQ_BAD;
		if(len >= DOTPOOL_METRICS_MAX_REQUEST)
			return DOTPOOL_METRICS_REQ_TOO_LARGE;
		return DOTPOOL_METRICS_REQ_INCOMPLETE;
	}
	/* The request line: METHOD SP target SP HTTP/1.x */
	for(end = req; end < text_end && *end != '\r' && *end != '\n'; end++)
		;
	method_end = memchr(req, ' ', (size_t)(end - req));
	if(!method_end)
		return DOTPOOL_METRICS_REQ_BAD;
	target = method_end + 1;
	target_end = memchr(target, ' ', (size_t)(end - target));
	if(!target_end || !req_starts(target_end + 1, end, "HTTP/1."))
		return DOTPOOL_METRICS_REQ_BAD;
	for(q = target; q < target_end && *q != '?' && *q != '#'; q++)
		;
	if(!((method_end - req == 3 && memcmp(req, "GET", 3) == 0) ||
		(method_end - req == 4 && memcmp(req, "HEAD", 4) == 0)))
		return DOTPOOL_METRICS_REQ_METHOD;
	if(q - target != 8 || memcmp(target, "/metrics", 8) != 0)
		return DOTPOOL_METRICS_REQ_NOT_FOUND;
	return req[0] == 'H' ? DOTPOOL_METRICS_REQ_HEAD :
		DOTPOOL_METRICS_REQ_GET;
}
