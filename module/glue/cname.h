/**
 * \file
 * The records a CNAME/DNAME chase collects for the final answer (glue:
 * Unbound's types). All memory is the query's region.
 */
#ifndef DOTPOOL_CNAME_H
#define DOTPOOL_CNAME_H
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include "iterator/iterator.h"

struct regional;
struct dns_msg;

/** What to put in front of the final answer (zeroed at the start). */
struct dotpool_prepend {
	/** CNAME/DNAME rrsets for the answer section */
	struct iter_prep_list* an_first;
	/** last of an_first */
	struct iter_prep_list* an_last;
	/** NSEC/NSEC3 rrsets for the authority section */
	struct iter_prep_list* ns_first;
	/** last of ns_first */
	struct iter_prep_list* ns_last;
};

/**
 * Follow the CNAME/DNAME chain in msg from a name: remember what to
 * prepend and move the name to the chain's target. As the iterator does,
 * NSEC/NSEC3 of the authority section are kept for the validator.
 * @param pp: the lists.
 * @param region: the query's region.
 * @param msg: the answer.
 * @param qname: the name chased (in and out; points into msg after).
 * @param qname_len: its length (in and out).
 * @return 1, or 0 out of memory or without a target.
 */
int dotpool_cname_follow(struct dotpool_prepend* pp, struct regional* region,
	struct dns_msg* msg, uint8_t** qname, size_t* qname_len);

/** Whether anything was collected. */
int dotpool_cname_pending(const struct dotpool_prepend* pp);

/**
 * Put the collected records in front of the answer and authority sections
 * of the final answer (no duplicates), and lower its TTLs to theirs.
 * @return 1, or 0 out of memory.
 */
int dotpool_cname_apply(const struct dotpool_prepend* pp,
	struct regional* region, struct dns_msg* msg);

#endif /* DOTPOOL_CNAME_H */
