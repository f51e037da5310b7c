/**
 * \file
 * Shared scaffolding of the CUnit suites: checks whose failure message says
 * which unit broke and what was expected, and a main() body that runs one
 * suite and turns any failure into a non-zero exit for `make check`.
 */
#ifndef DOTPOOL_UNIT_H
#define DOTPOOL_UNIT_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <CUnit/CUnit.h>
#include <CUnit/Basic.h>

/**
 * Check a condition; on failure CUnit reports msg (which should read
 * "unit: expectation") instead of the bare expression.
 */
#define UNIT_CHECK(cond, msg) \
	CU_assertImplementation(!!(cond), __LINE__, (msg), __FILE__, "", \
		CU_FALSE)

/** As UNIT_CHECK, but ends the test on failure (later steps depend on it). */
#define UNIT_REQUIRE(cond, msg) \
	CU_assertImplementation(!!(cond), __LINE__, (msg), __FILE__, "", \
		CU_TRUE)

/**
 * As UNIT_CHECK with a printf-style message, for checks inside loops where
 * the message must say which iteration failed. CUnit copies the message.
 */
#define UNIT_CHECKF(cond, ...) do { \
		char unit_msg_[512]; \
		int unit_ok_ = !!(cond); \
		if(!unit_ok_) \
			snprintf(unit_msg_, sizeof(unit_msg_), __VA_ARGS__); \
		else \
			unit_msg_[0] = 0; \
		CU_assertImplementation(unit_ok_, __LINE__, unit_msg_, \
			__FILE__, "", CU_FALSE); \
	} while(0)

/** One test of a suite. */
struct unit_test {
	/** name shown by CUnit */
	const char* name;
	/** the test */
	CU_TestFunc fn;
};

/**
 * Run one suite with CUnit's basic (verbose) runner and print its summary.
 * @param suite: suite name.
 * @param tests: the tests, ended by an entry with a NULL name.
 * @return exit status: 0 when every assertion held, 1 on any failure,
 *	99 (automake's hard error) when CUnit itself could not run.
 */
static inline int
unit_run(const char* suite, const struct unit_test* tests)
{
	CU_pSuite s;
	unsigned failures;

	if(CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite(suite, NULL, NULL);
	if(!s)
		goto hard;
	for(; tests->name; tests++) {
		if(!CU_add_test(s, tests->name, tests->fn))
			goto hard;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if(CU_basic_run_tests() != CUE_SUCCESS)
		goto hard;
	failures = CU_get_number_of_failures();
	if(CU_get_number_of_tests_failed() > failures)
		failures = CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
hard:
	fprintf(stderr, "%s: CUnit error: %s\n", suite, CU_get_error_msg());
	CU_cleanup_registry();
	return 99;
}

/** Open file descriptors of this process (the suites check that nothing
 * is left open), or -1 when /proc cannot be read. */
static inline int
unit_count_fds(void)
{
	DIR* d = opendir("/proc/self/fd");
	struct dirent* e;
	int n = 0;
	if(!d)
		return -1;
	while((e = readdir(d)) != NULL)
		if(e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

#endif /* DOTPOOL_UNIT_H */
