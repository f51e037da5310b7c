/**
 * \file
 * The logging hook: formats into a stack buffer and hands the text to the
 * sink the glue installed, so the core never writes to stdio itself.
 */
#include <stdarg.h>
#include <stdio.h>
#include "dotpool/log.h"

/** The sink; written once at init before worker threads start. */
static dotpool_log_fn dotpool_log_sink = NULL;

void
dotpool_log_set(dotpool_log_fn fn)
{
	dotpool_log_sink = fn;
}

int
dotpool_log_enabled(void)
{
	return dotpool_log_sink != NULL;
}

void
dotpool_log(int level, const char* fmt, ...)
{
	char buf[512];
	va_list ap;
	if(!dotpool_log_sink)
		return;
	va_start(ap, fmt);
	/* truncation is acceptable: a cut log line beats none */
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dotpool_log_sink(level, buf);
}
