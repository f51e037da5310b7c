/**
 * \file
 * Logging hook of the transport. The core has no Unbound headers, so it
 * cannot call verbose() or log_err(); the glue installs a function that
 * does. Messages name upstreams ("addr@port#name"), never query names.
 */
#ifndef DOTPOOL_LOG_H
#define DOTPOOL_LOG_H

/** Importance of a message; the glue maps these to Unbound's levels. */
enum dotpool_log_level {
	/** something failed that an operator should see (log_err) */
	DOTPOOL_LOG_ERR = 0,
	/** a recoverable problem (log_warn) */
	DOTPOOL_LOG_WARN,
	/** operational events: connections, health changes (VERB_OPS) */
	DOTPOOL_LOG_OPS,
	/** per connection detail (VERB_DETAIL) */
	DOTPOOL_LOG_DETAIL,
	/** state transitions, per request detail (VERB_ALGO) */
	DOTPOOL_LOG_ALGO
};

/** A log sink: level and a formatted message without newline. */
typedef void (*dotpool_log_fn)(int level, const char* msg);

/**
 * Install the log sink for the whole library (all threads; set it once in
 * init, before any worker runs). NULL silences the library (the default).
 * @param fn: the sink, or NULL.
 */
void dotpool_log_set(dotpool_log_fn fn);

/** Whether a sink is installed (lets callers skip formatting work). */
int dotpool_log_enabled(void);

/**
 * Format and log a message.
 * @param level: enum dotpool_log_level.
 * @param fmt: printf format.
 */
void dotpool_log(int level, const char* fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* DOTPOOL_LOG_H */
