/**
 * \file
 * Where dotpool may stand in Unbound's module-config. Shared by the module
 * (checked at start) and dotpool-checkconf, so both say the same thing.
 * No Unbound types here.
 */
#ifndef DOTPOOL_STACK_H
#define DOTPOOL_STACK_H
#include <stddef.h>

/** Unbound's module-config when unbound.conf sets none. */
#define DOTPOOL_STACK_DEFAULT "validator iterator"

/**
 * Whether the n-th dynlib of the module-config (0 = the first) loads
 * dotpool. Unbound gives the n-th dynlib the n-th dynlib-file.
 * @param n: the dynlib's ordinal among the dynlibs.
 * @param arg: the caller's.
 * @return nonzero if that dynlib is dotpool.
 */
typedef int (*dotpool_stack_is_self_t)(int n, void* arg);

/**
 * Check a module-config for dotpool. dotpool must stand directly before
 * the iterator: it forwards the TLS zones' queries itself, so a module
 * between it and the iterator (the validator, cachedb, python, ...) never
 * sees them, and it needs the iterator's scrubber. It must be loaded once.
 * Modules that act on every query (respip, subnetcache, dns64, ipsecmod,
 * ipset, cachedb, python, the validator, another dynlib) go before it.
 * @param module_conf: the module-config, NULL for Unbound's default.
 * @param self: index in the list of the module that is dotpool, or -1 for
 *	the first dynlib is_self says is dotpool (the only dynlib when is_self
 *	is NULL).
 * @param is_self: tells which other dynlibs load dotpool too, or NULL.
 * @param arg: for is_self.
 * @param err: returns one line: what is wrong and the module-config to
 *	write instead.
 * @param errlen: size of err.
 * @return 0 when the order is right, DOTPOOL_ECONFIG otherwise.
 */
int dotpool_stack_check(const char* module_conf, int self,
	dotpool_stack_is_self_t is_self, void* arg, char* err, size_t errlen);

#endif /* DOTPOOL_STACK_H */
