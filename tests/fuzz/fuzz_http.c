/**
 * \file
 * Fuzz target: the metrics endpoint's HTTP request parser
 * (dotpool_metrics_parse_request in module/httpreq.c), which judges the
 * bytes any local client sends.
 *
 * The server calls the parser after each read with everything received so
 * far; the target does the same at fuzzer-chosen read boundaries on an
 * exact-size heap copy of each prefix, and checks: no verdict before the
 * end of the headers or the size limit (other than 400 for a NUL byte),
 * once a verdict is given the server stops reading, so it is not revisited;
 * a prefix larger than the limit is never passed. The verdict on the whole
 * request is checked against an independent reading of the request line
 * (strtok-style on a NUL-terminated copy, as the server did before the
 * parser was a function of its own).
 *
 * Input: byte 0 is the read size (0 = all at once), the rest the bytes the
 * client sends.
 */
#include "dotpool/metrics.h"
#include "fuzz.h"

/** The reference: the verdict on a complete buffer, from a copy. */
static enum dotpool_metrics_req
ref_verdict(const uint8_t* data, size_t len)
{
	char buf[DOTPOOL_METRICS_MAX_REQUEST + 1];
	char* method, *target, *version, *end;
	int head;

	memcpy(buf, data, len);
	buf[len] = 0;
	if(!strstr(buf, "\r\n\r\n") && !strstr(buf, "\n\n")) {
		if(memchr(buf, 0, len))
			return DOTPOOL_METRICS_REQ_BAD;
		if(len == DOTPOOL_METRICS_MAX_REQUEST)
			return DOTPOOL_METRICS_REQ_TOO_LARGE;
		return DOTPOOL_METRICS_REQ_INCOMPLETE;
	}
	method = buf;
	end = strpbrk(buf, "\r\n");
	if(end)
		*end = 0;
	target = strchr(method, ' ');
	if(!target)
		return DOTPOOL_METRICS_REQ_BAD;
	*target++ = 0;
	version = strchr(target, ' ');
	if(!version || strncmp(version + 1, "HTTP/1.", 7) != 0)
		return DOTPOOL_METRICS_REQ_BAD;
	*version = 0;
	head = strcmp(method, "HEAD") == 0;
	if(!head && strcmp(method, "GET") != 0)
		return DOTPOOL_METRICS_REQ_METHOD;
	target[strcspn(target, "?#")] = 0;
	if(strcmp(target, "/metrics") != 0)
		return DOTPOOL_METRICS_REQ_NOT_FOUND;
	return head ? DOTPOOL_METRICS_REQ_HEAD : DOTPOOL_METRICS_REQ_GET;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t step = fuzz_u8(&in), have = 0;
	enum dotpool_metrics_req r = DOTPOOL_METRICS_REQ_INCOMPLETE;

	if(step == 0)
		step = DOTPOOL_METRICS_MAX_REQUEST;
	/* the server reads at most the limit, in pieces */
	while(have < in.left && have < DOTPOOL_METRICS_MAX_REQUEST &&
		r == DOTPOOL_METRICS_REQ_INCOMPLETE) {
		uint8_t* copy;
		have += step;
		if(have > in.left)
			have = in.left;
		if(have > DOTPOOL_METRICS_MAX_REQUEST)
			have = DOTPOOL_METRICS_MAX_REQUEST;
		copy = fuzz_exact(in.p, have);
		r = dotpool_metrics_parse_request((const char*)copy, have);
		free(copy);
		FUZZ_CHECK(r == ref_verdict(in.p, have),
			"http: verdict as the reference");
		FUZZ_CHECK(r != DOTPOOL_METRICS_REQ_TOO_LARGE ||
			have == DOTPOOL_METRICS_MAX_REQUEST,
			"http: too large only at the limit");
		FUZZ_CHECK(strcmp(dotpool_metrics_req_str(r), "unknown") != 0,
			"http: verdict has a name");
	}
	if(have == DOTPOOL_METRICS_MAX_REQUEST)
		FUZZ_CHECK(r != DOTPOOL_METRICS_REQ_INCOMPLETE,
			"http: a full buffer always gets a verdict");
	if(r == DOTPOOL_METRICS_REQ_GET || r == DOTPOOL_METRICS_REQ_HEAD)
		FUZZ_CHECK(memcmp(in.p, r == DOTPOOL_METRICS_REQ_GET ?
			"GET /metrics" : "HEAD /metrics",
			r == DOTPOOL_METRICS_REQ_GET ? 12 : 13) == 0,
			"http: 200 only for GET or HEAD of /metrics");
	return 0;
}
