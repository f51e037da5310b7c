/**
 * \file
 * A reader of the parts of unbound.conf that dotpool-checkconf checks
 * dotpool.conf against: module-config, the TLS trust options, dynlib-file,
 * tls-upstream and the forward-zone clauses, following include: and
 * include-toplevel: (with globs) as Unbound does.
 *
 * Why a reader of our own: `unbound-checkconf -o OPTION` prints server:
 * options only; it has no way to print forward-zone clauses, neither in
 * 1.17.1 (Debian 12) nor in 1.26.0 (checked in util/config_file.c,
 * config_get_option). Asking libunbound to read the file would not help
 * either: it has no call that lists forward zones. The reader is lenient
 * about syntax: the systemd drop-in and the container entrypoint run
 * Unbound's own unbound-checkconf before it.
 */
#ifndef DOTPOOL_TOOLS_UNBOUND_CONF_H
#define DOTPOOL_TOOLS_UNBOUND_CONF_H
#include <stddef.h>

/** A value and where it was written. */
struct ubconf_val {
	/** the value, unquoted */
	char* str;
	/** file it was read from */
	const char* file;
	/** line */
	int line;
};

/** A list of values. */
struct ubconf_list {
	/** the values */
	struct ubconf_val* v;
	/** how many */
	size_t n;
};

/** One forward-zone clause. */
struct ubconf_forward {
	/** name: (str NULL if none) */
	struct ubconf_val name;
	/** forward-addr: values */
	struct ubconf_list addrs;
	/** forward-host: values */
	struct ubconf_list hosts;
	/** forward-tls-upstream: yes (or forward-ssl-upstream) */
	int tls;
	/** where the clause starts */
	const char* file;
	/** its line */
	int line;
};

/** What the checker needs of unbound.conf. */
struct ubconf {
	/** module-config (str NULL when not set) */
	struct ubconf_val module_conf;
	/** tls-cert-bundle (str NULL when not set) */
	struct ubconf_val cert_bundle;
	/** tls-system-cert: yes */
	int system_cert;
	/** tls-upstream: yes (every forward zone over TLS) */
	int tls_upstream;
	/** dynlib-file values, in order */
	struct ubconf_list dynlib_files;
	/** forward-zone clauses */
	struct ubconf_forward* fwds;
	/** how many */
	size_t nfwds;
	/** every file name read (the values point into these) */
	struct ubconf_list files;
};

/**
 * Read unbound.conf and what it includes.
 * @param uc: filled (free with ubconf_free, also on failure).
 * @param path: the file.
 * @param err: "file:line: reason" on failure.
 * @param errlen: size of err.
 * @return 0, or -1 with err set.
 */
int ubconf_read(struct ubconf* uc, const char* path, char* err,
	size_t errlen);

/** Free what ubconf_read filled. */
void ubconf_free(struct ubconf* uc);

#endif /* DOTPOOL_TOOLS_UNBOUND_CONF_H */
