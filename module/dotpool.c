/**
 * \file
 * The six entry points Unbound's dynlib module looks up. Everything else
 * in the library is hidden (-fvisibility=hidden).
 */
#include "config.h"
#include "util/module.h"
#include "util/log.h"
#include "dynlibmod/dynlibmod.h"

#define DOTPOOL_EXPORT __attribute__((visibility("default")))

DOTPOOL_EXPORT int init(struct module_env* env, int id);
DOTPOOL_EXPORT void deinit(struct module_env* env, int id);
DOTPOOL_EXPORT void operate(struct module_qstate* qstate,
	enum module_ev event, int id, struct outbound_entry* outbound);
DOTPOOL_EXPORT void inform_super(struct module_qstate* qstate, int id,
	struct module_qstate* super);
DOTPOOL_EXPORT void clear(struct module_qstate* qstate, int id);
DOTPOOL_EXPORT size_t get_mem(struct module_env* env, int id);

int
init(struct module_env* env, int id)
{
	(void)env; (void)id;
	return 1;
}

void
deinit(struct module_env* env, int id)
{
	(void)env; (void)id;
}

void
operate(struct module_qstate* qstate, enum module_ev event, int id,
	struct outbound_entry* outbound)
{
	(void)outbound;
	if(event == module_event_new || event == module_event_pass) {
		qstate->ext_state[id] = module_wait_module;
		return;
	}
	if(event == module_event_moddone) {
		qstate->ext_state[id] = module_finished;
		return;
	}
	qstate->ext_state[id] = module_error;
}

void
inform_super(struct module_qstate* qstate, int id,
	struct module_qstate* super)
{
	(void)qstate; (void)id; (void)super;
}

void
clear(struct module_qstate* qstate, int id)
{
	(void)qstate; (void)id;
}

size_t
get_mem(struct module_env* env, int id)
{
	(void)env; (void)id;
	return 0;
}
