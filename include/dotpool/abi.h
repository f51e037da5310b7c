/**
 * \file
 * ABI guard: Unbound's module structs change layout with its version, its
 * configure options and even distribution patches, and a module built for
 * one build must never run inside another. At load, the module checks that
 * the running executable carries the version and configure line of the
 * Unbound tree it was compiled against (each as a whole string), and that
 * the optional features that change the structs dotpool reads are present
 * or absent as they were in that tree.
 */
#ifndef DOTPOOL_ABI_H
#define DOTPOOL_ABI_H
#include <stddef.h>

/** One optional feature: a symbol that exists exactly when it is built. */
struct dotpool_abi_feature {
	/** feature name for messages, e.g. "dnstap" */
	const char* name;
	/** a symbol the executable exports when it has the feature */
	const char* symbol;
	/** whether the tree we were built against has it */
	int expected;
};

/**
 * Check an Unbound executable file against the build we were compiled for
 * (tests, and tools that inspect a daemon on disk).
 * @param exe: the executable to inspect.
 * @param version: the version we were built for, e.g. "1.17.1".
 * @param confline: the configure line we were built for.
 * @param features: array of features, may be NULL.
 * @param nfeatures: its length.
 * @param lookup: returns non-NULL when a symbol exists in the running
 *	process (dlsym); may be NULL to skip the feature check.
 * @param err: on failure, returns one line (allocated, whole, caller
 *	frees) naming both builds and ending with what to do; NULL on success
 *	and when memory ran out.
 * @return 0 when the build matches, DOTPOOL_EINVAL on mismatch,
 *	DOTPOOL_EIO when the executable cannot be read, DOTPOOL_ENOMEM.
 */
int dotpool_abi_check(const char* exe, const char* version,
	const char* confline, const struct dotpool_abi_feature* features,
	size_t nfeatures, void* (*lookup)(const char* symbol), char** err);

/**
 * Check the running Unbound, as it is loaded in this process (the main
 * program's readable segments: no /proc needed, so it works in a chroot and
 * on systems without procfs). Parameters and return as dotpool_abi_check;
 * DOTPOOL_EIO when the main program's segments cannot be found.
 */
int dotpool_abi_check_self(const char* version, const char* confline,
	const struct dotpool_abi_feature* features, size_t nfeatures,
	void* (*lookup)(const char* symbol), char** err);

#endif /* DOTPOOL_ABI_H */
