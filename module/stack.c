/**
 * \file
 * The module-config check. Unbound runs its modules in the order listed and
 * a module passes a query only to the next one; dotpool answers the TLS
 * zones' queries itself, so whatever stands between it and the iterator
 * never sees those queries, and whatever stands after the iterator sees
 * none. The check names the first thing wrong and the line to write.
 */
#include <stdio.h>
#include <string.h>
#include "dotpool/error.h"
#include "dotpool/stack.h"

/** More modules than Unbound allows (MAX_MODULE is 16). */
#define STACK_MAX 32
/** Longest module name kept. */
#define NAME_MAX_LEN 32

/** The module-config split into names. */
struct stack {
	/** the names */
	char name[STACK_MAX][NAME_MAX_LEN];
	/** how many */
	int n;
	/** for dynlibs, their ordinal among the dynlibs; -1 otherwise */
	int dynlib[STACK_MAX];
};

/** Split on white space. @return 0, or -1 when too long. */
static int
stack_split(struct stack* st, const char* s)
{
	int ndyn = 0;

	st->n = 0;
	while(*s) {
		size_t len = 0;
		while(*s == ' ' || *s == '\t')
			s++;
		if(!*s)
			break;
		while(s[len] && s[len] != ' ' && s[len] != '\t')
			len++;
		if(st->n >= STACK_MAX || len >= NAME_MAX_LEN)
			return -1;
		memcpy(st->name[st->n], s, len);
		st->name[st->n][len] = 0;
		st->dynlib[st->n] = strcmp(st->name[st->n], "dynlib") == 0 ?
			ndyn++ : -1;
		st->n++;
		s += len;
	}
	return 0;
}

/** Whether module i loads dotpool (i is a dynlib and is_self says so). */
static int
stack_is_self(const struct stack* st, int i, dotpool_stack_is_self_t is_self,
	void* arg)
{
	if(st->dynlib[i] < 0)
		return 0;
	return is_self ? is_self(st->dynlib[i], arg) != 0 : 1;
}

/** Append a name to the suggestion. */
static void
add(char* out, size_t outlen, const char* name)
{
	size_t l = strlen(out);

	snprintf(out + l, outlen - l, "%s%s", l ? " " : "", name);
}

/**
 * The module-config to write: every other module in its order, then
 * "dynlib iterator" (nothing after the iterator ever gets a query).
 */
static void
suggest(const struct stack* st, int self, dotpool_stack_is_self_t is_self,
	void* arg, char* out, size_t outlen)
{
	int i;

	out[0] = 0;
	for(i = 0; i < st->n; i++) {
		if(i == self || stack_is_self(st, i, is_self, arg) ||
			strcmp(st->name[i], "iterator") == 0)
			continue;
		add(out, outlen, st->name[i]);
	}
	add(out, outlen, "dynlib iterator");
}

int
dotpool_stack_check(const char* module_conf, int self,
	dotpool_stack_is_self_t is_self, void* arg, char* err, size_t errlen)
{
	struct stack st;
	char fix[STACK_MAX * NAME_MAX_LEN];
	const char* mc = module_conf ? module_conf : DOTPOOL_STACK_DEFAULT;
	char why[160];
	int i, iter = -1, dup = -1;

	if(err && errlen)
		err[0] = 0;
	if(stack_split(&st, mc) != 0) {
		snprintf(err, errlen, "module-config \"%.200s\": too many "
			"modules", mc);
		return DOTPOOL_ECONFIG;
	}
	if(self < 0) {
		for(i = 0; i < st.n && self < 0; i++)
			if(stack_is_self(&st, i, is_self, arg))
				self = i;
	} else if(self >= st.n || st.dynlib[self] < 0)
		self = -1;
	for(i = 0; i < st.n; i++) {
		if(iter < 0 && strcmp(st.name[i], "iterator") == 0)
			iter = i;
		if(dup < 0 && i != self && self >= 0 &&
			stack_is_self(&st, i, is_self, arg))
			dup = i;
	}
	why[0] = 0;
	if(self < 0)
		snprintf(why, sizeof(why), "no dynlib loads dotpool");
	else if(dup >= 0)
		snprintf(why, sizeof(why), "dotpool is loaded twice (dynlib "
			"%d and %d of the list)", st.dynlib[self] + 1,
			st.dynlib[dup] + 1);
	else if(iter < 0)
		snprintf(why, sizeof(why), "no iterator: dotpool needs it "
			"directly after dynlib, for the queries it passes on "
			"and to scrub answers");
	else if(iter < self)
		snprintf(why, sizeof(why), "dynlib (dotpool) after the "
			"iterator gets no queries: the iterator passes none on");
	else if(iter != self + 1 && strcmp(st.name[self + 1], "validator")
		== 0)
		snprintf(why, sizeof(why), "the validator after dynlib "
			"(dotpool) never sees the answers dotpool gives, so "
			"they fail validation (SERVFAIL)");
	else if(iter != self + 1)
		snprintf(why, sizeof(why), "%s between dynlib (dotpool) and "
			"the iterator never sees the queries dotpool answers",
			st.name[self + 1]);
	else if(iter + 1 < st.n)
		snprintf(why, sizeof(why), "%s after the iterator never gets "
			"a query", st.name[iter + 1]);
	if(!why[0])
		return 0;
	suggest(&st, self, is_self, arg, fix, sizeof(fix));
	snprintf(err, errlen, "module-config \"%.200s\": %s; write "
		"module-config: \"%s\"", mc, why, fix);
	return DOTPOOL_ECONFIG;
}
