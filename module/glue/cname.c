/**
 * \file
 * CNAME and DNAME chains: Unbound's scrubber keeps only the first CNAME of
 * a chain, so the query chases each hop as the iterator does, and the
 * records met on the way (CNAME/DNAME, and the NSEC/NSEC3 the validator
 * needs) are put in front of the final answer. Glue: Unbound's types.
 */
#include "module/glue/cname.h"
#include <string.h>
#include <arpa/inet.h>
#include "util/regional.h"
#include "util/data/dname.h"
#include "util/data/msgreply.h"
#include "util/data/packed_rrset.h"
#include "services/cache/dns.h"
#include "sldns/rrdef.h"

/** Append an rrset to a prepend list (region memory). */
static int
prepend_add(struct regional* region, struct iter_prep_list** first,
	struct iter_prep_list** last, struct ub_packed_rrset_key* rrset)
{
	struct iter_prep_list* p = regional_alloc(region, sizeof(*p));
	if(!p)
		return 0;
	p->rrset = rrset;
	p->next = NULL;
	if(*last)
		(*last)->next = p;
	else	*first = p;
	*last = p;
	return 1;
}

/** Whether an rrset already is in the answer prepend list. */
static int
prepend_has(const struct dotpool_prepend* pp,
	struct ub_packed_rrset_key* rrset)
{
	struct iter_prep_list* p;
	for(p = pp->an_first; p; p = p->next) {
		if(ub_rrset_compare(p->rrset, rrset) == 0 &&
			rrsetdata_equal((struct packed_rrset_data*)p->rrset->
			entry.data, (struct packed_rrset_data*)rrset->
			entry.data))
			return 1;
	}
	return 0;
}

int
dotpool_cname_follow(struct dotpool_prepend* pp, struct regional* region,
	struct dns_msg* msg, uint8_t** qname, size_t* qname_len)
{
	uint8_t* mname = *qname;
	size_t mlen = *qname_len;
	size_t i;
	for(i = 0; i < msg->rep->an_numrrsets; i++) {
		struct ub_packed_rrset_key* r = msg->rep->rrsets[i];
		uint16_t t = ntohs(r->rk.type);
		if(t == LDNS_RR_TYPE_DNAME &&
			dname_strict_subdomain_c(mname, r->rk.dname) &&
			!prepend_has(pp, r)) {
			if(!prepend_add(region, &pp->an_first,
				&pp->an_last, r))
				return 0;
			continue;
		}
		if(t == LDNS_RR_TYPE_CNAME &&
			query_dname_compare(mname, r->rk.dname) == 0 &&
			!prepend_has(pp, r)) {
			if(!prepend_add(region, &pp->an_first,
				&pp->an_last, r))
				return 0;
			get_cname_target(r, &mname, &mlen);
		}
	}
	for(i = msg->rep->an_numrrsets; i < msg->rep->an_numrrsets +
		msg->rep->ns_numrrsets; i++) {
		struct ub_packed_rrset_key* r = msg->rep->rrsets[i];
		uint16_t t = ntohs(r->rk.type);
		if(t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3) {
			if(!prepend_add(region, &pp->ns_first,
				&pp->ns_last, r))
				return 0;
		}
	}
	if(!mlen)
		return 0;
	*qname = mname;
	*qname_len = mlen;
	return 1;
}

/** Whether rrset p is already in sets[0..n). */
static int
set_has(struct ub_packed_rrset_key** sets, size_t n,
	struct ub_packed_rrset_key* p)
{
	size_t i;
	for(i = 0; i < n; i++)
		if(ub_rrset_compare(sets[i], p) == 0)
			return 1;
	return 0;
}

int
dotpool_cname_apply(const struct dotpool_prepend* pp, struct regional* region,
	struct dns_msg* msg)
{
	struct iter_prep_list* p;
	struct ub_packed_rrset_key** sets;
	struct reply_info* rep = msg->rep;
	size_t na = 0, nn = 0, an, ns;
	for(p = pp->an_first; p; p = p->next)
		na++;
	for(p = pp->ns_first; p; p = p->next)
		nn++;
	if(na + nn == 0)
		return 1;
	if(na > RR_COUNT_MAX || nn > RR_COUNT_MAX ||
		rep->rrset_count > RR_COUNT_MAX)
		return 0;
	sets = regional_alloc(region, (na + nn +
		rep->rrset_count) * sizeof(*sets));
	if(!sets)
		return 0;
	an = 0;
	for(p = pp->an_first; p; p = p->next) {
		sets[an++] = p->rrset;
		if(ub_packed_rrset_ttl(p->rrset) < rep->ttl)
			rep->ttl = ub_packed_rrset_ttl(p->rrset);
	}
	memcpy(sets + an, rep->rrsets, rep->an_numrrsets * sizeof(*sets));
	an += rep->an_numrrsets;
	ns = 0;
	for(p = pp->ns_first; p; p = p->next) {
		if(set_has(sets + an, ns, p->rrset) || set_has(rep->rrsets +
			rep->an_numrrsets, rep->ns_numrrsets, p->rrset))
			continue;
		sets[an + ns++] = p->rrset;
		if(ub_packed_rrset_ttl(p->rrset) < rep->ttl)
			rep->ttl = ub_packed_rrset_ttl(p->rrset);
	}
	memcpy(sets + an + ns, rep->rrsets + rep->an_numrrsets,
		(rep->ns_numrrsets + rep->ar_numrrsets) * sizeof(*sets));
	rep->rrset_count += na + ns;
	rep->an_numrrsets += na;
	rep->ns_numrrsets += ns;
	rep->rrsets = sets;
	rep->prefetch_ttl = PREFETCH_TTL_CALC(rep->ttl);
	rep->serve_expired_ttl = rep->ttl + SERVE_EXPIRED_TTL;
	return 1;
}

int
dotpool_cname_pending(const struct dotpool_prepend* pp)
{
	return pp->an_first || pp->ns_first;
}
