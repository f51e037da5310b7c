/**
 * \file
 * Unit tests of the settings (module/config.c, config_keys.c,
 * config_read.c, through config.h): defaults, every key of every section,
 * quoting and comments, inheritance of zone settings, lookups, and the
 * exact "file:line: key: reason" text of every error. The checks against
 * Unbound's forward zones are test_config_forwards.c's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dotpool/config.h"
#include "dotpool/error.h"
#include "unit.h"

/** SHA-256-sized pin: bytes 0..31. */
#define PIN_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
/** SHA-256-sized pin: bytes 100..131. */
#define PIN_B "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="

/** Paths of the client certificate and key files made for the tests. */
static char cert_path[64], key_path[64];

/** Create an empty temporary file and return its path in buf. */
static int
make_temp(char* buf, size_t len, const char* text)
{
	int fd;

	snprintf(buf, len, "/tmp/dotpool-test-XXXXXX");
	fd = mkstemp(buf);
	if(fd < 0)
		return -1;
	if(text && write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/**
 * Parse text into fresh settings.
 * @param text: the file contents.
 * @param ret: returns the result code.
 * @param err: message buffer (256 bytes).
 * @return the settings (caller frees).
 */
static struct dotpool_config*
parse(const char* text, int* ret, char* err)
{
	struct dotpool_config* cfg = dotpool_config_new();

	UNIT_REQUIRE(cfg != NULL, "config: new settings allocated");
	*ret = dotpool_config_read_string(cfg, "t.conf", text, err, 256);
	return cfg;
}

/** Assert that text fails with exactly the message want. */
static void
expect_error(const char* text, const char* want)
{
	char err[256];
	int ret;
	struct dotpool_config* cfg = parse(text, &ret, err);

	UNIT_CHECKF(ret == DOTPOOL_ECONFIG, "config: \"%s\" is refused with "
		"ECONFIG (got %d)", want, ret);
	UNIT_CHECKF(strcmp(err, want) == 0, "config: error message is "
		"\"%s\", got \"%s\"", want, err);
	dotpool_config_free(cfg);
}

/** Parse text that must succeed. */
static struct dotpool_config*
parse_ok(const char* text)
{
	char err[256];
	int ret;
	struct dotpool_config* cfg = parse(text, &ret, err);

	UNIT_CHECKF(ret == 0, "config: valid text is accepted, got %d: %s",
		ret, err);
	return cfg;
}

static void
test_defaults(void)
{
	struct dotpool_config* cfg = dotpool_config_new();

	UNIT_REQUIRE(cfg != NULL, "config: new settings allocated");
	UNIT_CHECK(cfg->attempt_timeout == 700, "config: attempt-timeout 700");
	UNIT_CHECK(cfg->query_timeout == 1800, "config: query-timeout 1800");
	UNIT_CHECK(cfg->max_attempts == 3, "config: max-attempts 3");
	UNIT_CHECK(cfg->policy == DOTPOOL_POLICY_ORDERED,
		"config: policy ordered");
	UNIT_CHECK(cfg->hedge_delay == DOTPOOL_HEDGE_AUTO,
		"config: hedge-delay auto");
	UNIT_CHECK(cfg->soft_deadline_min == 50 &&
		cfg->soft_deadline_max == 400,
		"config: soft-deadline-min 50, soft-deadline-max 400");
	UNIT_CHECK(cfg->hedge_percent == 2 && cfg->hedge_burst == 20,
		"config: hedge-max-percent 2, hedge-burst 20");
	UNIT_CHECK(cfg->connect_timeout == 2000, "config: connect-timeout 2000");
	UNIT_CHECK(cfg->idle_timeout == 20000, "config: idle-timeout 20000");
	UNIT_CHECK(cfg->max_inflight == 128, "config: max-inflight 128");
	UNIT_CHECK(cfg->max_connections == 2, "config: max-connections 2");
	UNIT_CHECK(cfg->max_queue == 1024, "config: max-queue 1024");
	UNIT_CHECK(cfg->prewarm == 0, "config: prewarm no");
	UNIT_CHECK(cfg->rewarm_window == 60000, "config: rewarm-window 60000");
	UNIT_CHECK(cfg->keepalive == 1, "config: keepalive yes");
	UNIT_CHECK(cfg->fail_threshold == 3, "config: fail-threshold 3");
	UNIT_CHECK(cfg->backoff_initial == 500, "config: backoff-initial 500");
	UNIT_CHECK(cfg->backoff_max == 10000, "config: backoff-max 10000");
	UNIT_CHECK(cfg->probe_interval == 1000, "config: probe-interval 1000");
	UNIT_CHECK(cfg->tls_min_version &&
		strcmp(cfg->tls_min_version, "1.2") == 0,
		"config: tls-min-version 1.2");
	UNIT_CHECK(cfg->tls_ciphers == NULL && cfg->tls_ciphersuites == NULL,
		"config: OpenSSL's cipher defaults");
	UNIT_CHECK(cfg->session_resumption == 1,
		"config: session-resumption yes");
	UNIT_CHECK(cfg->profile == DOTPOOL_PROFILE_STRICT,
		"config: profile strict");
	UNIT_CHECK(cfg->metrics_listen == NULL, "config: metrics off");
	UNIT_CHECK(cfg->zones == NULL && cfg->upstreams == NULL &&
		cfg->path == NULL, "config: no sections, no file");
	dotpool_config_free(cfg);
	dotpool_config_free(NULL);

	cfg = parse_ok("# only a comment\n\n   \n");
	UNIT_CHECK(cfg->max_inflight == 128 && cfg->zones == NULL,
		"config: an empty file keeps the defaults");
	dotpool_config_free(cfg);
}

static void
test_every_global_key(void)
{
	struct dotpool_config* cfg = parse_ok(
		"dotpool:\n"
		"\tattempt-timeout: 500\n"
		"\tquery-timeout: 4000\n"
		"\tmax-attempts: 5\n"
		"\tpolicy: fastest\n"
		"\thedge-delay: 150\n"
		"\tsoft-deadline-min: 20\n"
		"\tsoft-deadline-max: 300\n"
		"\thedge-max-percent: 5\n"
		"\thedge-burst: 3\n"
		"\tconnect-timeout: 3000\n"
		"\tidle-timeout: 60000\n"
		"\tmax-inflight: 65535\n"
		"\tmax-connections: 4\n"
		"\tmax-queue: 50\n"
		"\tprewarm: yes\n"
		"\trewarm-window: 0\n"
		"\tkeepalive: no\n"
		"\tfail-threshold: 7\n"
		"\tbackoff-initial: 250\n"
		"\tbackoff-max: 30000\n"
		"\tprobe-interval: 0\n"
		"\ttls-min-version: 1.3\n"
		"\ttls-ciphers: ECDHE-ECDSA-AES256-GCM-SHA384\n"
		"\ttls-ciphersuites: TLS_AES_256_GCM_SHA384\n"
		"\tsession-resumption: no\n"
		"\tprofile: opportunistic\n"
		"\tmetrics-listen: 127.0.0.1@9153\n");

	UNIT_CHECK(cfg->attempt_timeout == 500, "config: attempt-timeout read");
	UNIT_CHECK(cfg->query_timeout == 4000, "config: query-timeout read");
	UNIT_CHECK(cfg->max_attempts == 5, "config: max-attempts read");
	UNIT_CHECK(cfg->policy == DOTPOOL_POLICY_FASTEST, "config: policy read");
	UNIT_CHECK(cfg->hedge_delay == 150, "config: hedge-delay read");
	UNIT_CHECK(cfg->soft_deadline_min == 20 &&
		cfg->soft_deadline_max == 300,
		"config: soft-deadline-min and -max read");
	UNIT_CHECK(cfg->hedge_percent == 5 && cfg->hedge_burst == 3,
		"config: hedge-max-percent and hedge-burst read");
	UNIT_CHECK(cfg->connect_timeout == 3000, "config: connect-timeout read");
	UNIT_CHECK(cfg->idle_timeout == 60000, "config: idle-timeout read");
	UNIT_CHECK(cfg->max_inflight == 65535, "config: max-inflight read");
	UNIT_CHECK(cfg->max_connections == 4, "config: max-connections read");
	UNIT_CHECK(cfg->max_queue == 50, "config: max-queue read");
	UNIT_CHECK(cfg->prewarm == 1, "config: prewarm read");
	UNIT_CHECK(cfg->rewarm_window == 0, "config: rewarm-window read");
	UNIT_CHECK(cfg->keepalive == 0, "config: keepalive read");
	UNIT_CHECK(cfg->fail_threshold == 7, "config: fail-threshold read");
	UNIT_CHECK(cfg->backoff_initial == 250, "config: backoff-initial read");
	UNIT_CHECK(cfg->backoff_max == 30000, "config: backoff-max read");
	UNIT_CHECK(cfg->probe_interval == 0, "config: probe-interval 0 read");
	UNIT_CHECK(strcmp(cfg->tls_min_version, "1.3") == 0,
		"config: tls-min-version read");
	UNIT_CHECK(cfg->tls_ciphers && strcmp(cfg->tls_ciphers,
		"ECDHE-ECDSA-AES256-GCM-SHA384") == 0,
		"config: tls-ciphers read");
	UNIT_CHECK(cfg->tls_ciphersuites && strcmp(cfg->tls_ciphersuites,
		"TLS_AES_256_GCM_SHA384") == 0, "config: tls-ciphersuites read");
	UNIT_CHECK(cfg->session_resumption == 0,
		"config: session-resumption read");
	UNIT_CHECK(cfg->profile == DOTPOOL_PROFILE_OPPORTUNISTIC,
		"config: profile read");
	UNIT_CHECK(cfg->metrics_listen && strcmp(cfg->metrics_listen,
		"127.0.0.1@9153") == 0, "config: metrics-listen read");
	dotpool_config_free(cfg);

	/* Every policy name, and a later value replacing an earlier one. */
	cfg = parse_ok("dotpool:\npolicy: ordered\npolicy: round-robin\n"
		"metrics-listen: 127.0.0.1@9100\nmetrics-listen: ::1@9100\n");
	UNIT_CHECK(cfg->policy == DOTPOOL_POLICY_ROUND_ROBIN &&
		strcmp(cfg->metrics_listen, "::1@9100") == 0,
		"config: a repeated key keeps the last value");
	dotpool_config_free(cfg);
}

static void
test_enum_names(void)
{
	static const char* const pol[] = { "ordered", "round-robin", "random",
		"weighted", "fastest" };
	char text[128];
	int i;

	for(i = 0; i < 5; i++) {
		struct dotpool_config* cfg;
		snprintf(text, sizeof(text), "dotpool:\npolicy: %s\n", pol[i]);
		cfg = parse_ok(text);
		UNIT_CHECKF((int)cfg->policy == i, "config: policy %s is "
			"enum value %d", pol[i], i);
		UNIT_CHECKF(strcmp(dotpool_policy_str(cfg->policy), pol[i]) ==
			0, "config: policy %s prints as itself", pol[i]);
		dotpool_config_free(cfg);
	}
	UNIT_CHECK(strcmp(dotpool_profile_str(DOTPOOL_PROFILE_STRICT),
		"strict") == 0 && strcmp(dotpool_profile_str(
		DOTPOOL_PROFILE_OPPORTUNISTIC), "opportunistic") == 0,
		"config: profile names");
	UNIT_CHECK(strcmp(dotpool_policy_str((enum dotpool_policy)42),
		"unknown") == 0 && strcmp(dotpool_profile_str(
		(enum dotpool_profile)-1), "unknown") == 0,
		"config: out-of-range enum values print as unknown");
}

static void
test_zones(void)
{
	const struct dotpool_zone_cfg* z;
	/* The zone sections come before dotpool: on purpose: inheritance
	 * must use the global values of the whole file. */
	struct dotpool_config* cfg = parse_ok(
		"zone:\n"
		"  name: Example.COM\n"
		"  policy: weighted\n"
		"  hedge-delay: 40\n"
		"  profile: opportunistic\n"
		"zone:\n"
		"  name: \"corp.internal.\"\n"
		"zone:\n"
		"  name: .\n"
		"  policy: random\n"
		"zone:\n"
		"  name: auto.example\n"
		"  hedge-delay: auto\n"
		"dotpool:\n"
		"  policy: round-robin\n"
		"  hedge-delay: 90\n");

	z = dotpool_config_zone(cfg, "example.com");
	UNIT_REQUIRE(z != NULL, "config: zone found case-insensitively without "
		"the trailing dot");
	UNIT_CHECK(strcmp(z->name, "Example.COM.") == 0,
		"config: zone name stored with a trailing dot");
	UNIT_CHECK(z->policy == DOTPOOL_POLICY_WEIGHTED && z->hedge_delay == 40
		&& z->profile == DOTPOOL_PROFILE_OPPORTUNISTIC,
		"config: zone keys read");
	UNIT_CHECK(z->line == 1, "config: zone remembers its line");
	UNIT_CHECK(dotpool_config_zone(cfg, "EXAMPLE.com.") == z,
		"config: lookup with trailing dot");
	z = dotpool_config_zone(cfg, "corp.internal");
	UNIT_REQUIRE(z != NULL, "config: quoted zone name");
	UNIT_CHECK(z->policy == DOTPOOL_POLICY_ROUND_ROBIN &&
		z->hedge_delay == 90 && z->profile == DOTPOOL_PROFILE_STRICT,
		"config: a zone without its own keys inherits the globals");
	z = dotpool_config_zone(cfg, ".");
	UNIT_REQUIRE(z != NULL && strcmp(z->name, ".") == 0,
		"config: the root zone");
	UNIT_CHECK(z->policy == DOTPOOL_POLICY_RANDOM && z->hedge_delay == 90,
		"config: root zone keeps its policy and inherits hedge-delay");
	z = dotpool_config_zone(cfg, "auto.example");
	UNIT_CHECK(z && z->hedge_delay == DOTPOOL_HEDGE_AUTO,
		"config: a zone's hedge-delay: auto under a fixed global one");
	UNIT_CHECK(dotpool_config_zone(cfg, "com") == NULL &&
		dotpool_config_zone(cfg, "www.example.com") == NULL &&
		dotpool_config_zone(cfg, NULL) == NULL &&
		dotpool_config_zone(NULL, "example.com") == NULL,
		"config: no zone for other names");
	dotpool_config_free(cfg);
}

static void
test_upstreams(void)
{
	char text[1024];
	const struct dotpool_upstream_cfg* u;
	struct dotpool_config* cfg;
	int i, ok;

	snprintf(text, sizeof(text),
		"upstream:\n"
		"  addr: 192.0.2.1@853#dns.example.net\n"
		"  pin-sha256: " PIN_A "\n"
		"  pin-sha256: \"" PIN_B "\"\n"
		"  weight: 1000\n"
		"  profile: opportunistic\n"
		"  client-cert: %s\n"
		"  client-key: %s\n"
		"upstream:\n"
		"  addr: 192.0.2.1\n"
		"upstream:\n"
		"  addr: 2001:db8::53@8853\n"
		"  weight: 1\n", cert_path, key_path);
	cfg = parse_ok(text);
	u = cfg->upstreams;
	UNIT_REQUIRE(u && u->next && u->next->next && !u->next->next->next,
		"config: three upstreams in file order");
	UNIT_CHECK(strcmp(u->addr, "192.0.2.1@853#dns.example.net") == 0,
		"config: addr kept as written");
	UNIT_CHECK(u->num_pins == 2, "config: two pins");
	ok = 1;
	for(i = 0; i < 32; i++)
		if(u->pins[0][i] != i || u->pins[1][i] != 100 + i)
			ok = 0;
	UNIT_CHECK(ok, "config: pins decoded from base64 in order");
	UNIT_CHECK(u->weight == 1000 && u->profile ==
		DOTPOOL_PROFILE_OPPORTUNISTIC, "config: weight and profile read");
	UNIT_CHECK(u->client_cert && strcmp(u->client_cert, cert_path) == 0 &&
		u->client_key && strcmp(u->client_key, key_path) == 0,
		"config: client certificate and key paths read");
	UNIT_CHECK(u->line == 1, "config: upstream remembers its line");
	u = u->next;
	UNIT_CHECK(u->weight == 1 && u->profile == -1 && u->num_pins == 0 &&
		!u->client_cert && !u->client_key,
		"config: upstream defaults: weight 1, profile as zone");

	/* Lookups: the most specific section wins. */
	u = dotpool_config_upstream(cfg, "192.0.2.1", 853, "DNS.example.net.");
	UNIT_CHECK(u == cfg->upstreams, "config: upstream with port and name "
		"preferred for that port and name");
	u = dotpool_config_upstream(cfg, "192.0.2.1", 853, NULL);
	UNIT_CHECK(u == cfg->upstreams->next, "config: without a name the "
		"IP-only section matches");
	u = dotpool_config_upstream(cfg, "192.0.2.1", 853, "other.example");
	UNIT_CHECK(u == cfg->upstreams->next, "config: another name falls "
		"back to the IP-only section");
	u = dotpool_config_upstream(cfg, "2001:0db8:0::53", 8853, NULL);
	UNIT_CHECK(u == cfg->upstreams->next->next, "config: IPv6 compared as "
		"an address, not as text");
	UNIT_CHECK(dotpool_config_upstream(cfg, "2001:db8::53", 853, NULL) ==
		NULL, "config: a section with a port does not match another "
		"port");
	UNIT_CHECK(dotpool_config_upstream(cfg, "192.0.2.2", 853, NULL) ==
		NULL, "config: no section for another IP");
	UNIT_CHECK(dotpool_config_upstream(cfg, "not-an-ip", 853, NULL) ==
		NULL, "config: a malformed IP matches nothing");
	dotpool_config_free(cfg);
}

static void
test_syntax(void)
{
	struct dotpool_config* cfg = parse_ok(
		"# a comment line\r\n"
		"dotpool:   # section with a comment\r\n"
		"    max-queue:77\r\n"
		"\t  tls-ciphers: \"ECDHE#weird\"   # hash kept inside quotes\n"
		"tls-ciphersuites: TLS_AES_128_GCM_SHA256 # trailing comment\n"
		"  # indented comment\n"
		"prewarm: \"yes\"\n"
		"profile: strict\t\n"
		"zone:\n"
		"name: example.org");
	UNIT_CHECK(cfg->max_queue == 77, "config: key:value without a space");
	UNIT_CHECK(strcmp(cfg->tls_ciphers, "ECDHE#weird") == 0,
		"config: '#' inside quotes is part of the value");
	UNIT_CHECK(strcmp(cfg->tls_ciphersuites, "TLS_AES_128_GCM_SHA256") ==
		0, "config: unquoted value ends before the comment, trimmed");
	UNIT_CHECK(cfg->prewarm == 1, "config: quoted bool");
	UNIT_CHECK(dotpool_config_zone(cfg, "example.org") != NULL,
		"config: last line without a newline");
	dotpool_config_free(cfg);
}

static void
test_value_errors(void)
{
	expect_error("dotpool:\nmax-inflight: 0\n",
		"t.conf:2: max-inflight: must be 1..65535, got \"0\"");
	expect_error("dotpool:\n\n  max-inflight: 65536\n",
		"t.conf:3: max-inflight: must be 1..65535, got \"65536\"");
	expect_error("dotpool:\nmax-attempts: -1\n",
		"t.conf:2: max-attempts: must be 1..16, got \"-1\"");
	expect_error("dotpool:\nmax-connections: 99999999999999999999999\n",
		"t.conf:2: max-connections: must be 1..1024, got "
		"\"99999999999999999999999\"");
	expect_error("dotpool:\nmax-queue: 12abc\n",
		"t.conf:2: max-queue: must be 1..1000000, got \"12abc\"");
	expect_error("dotpool:\nfail-threshold: 0\n",
		"t.conf:2: fail-threshold: must be 1..1000, got \"0\"");
	expect_error("dotpool:\nattempt-timeout: 1.5\n",
		"t.conf:2: attempt-timeout: must be 1..600000 ms, got \"1.5\"");
	expect_error("dotpool:\nquery-timeout: 0\n",
		"t.conf:2: query-timeout: must be 1..600000 ms, got \"0\"");
	expect_error("dotpool:\nhedge-delay: 600001\n",
		"t.conf:2: hedge-delay: must be auto or 0..600000 ms, got "
		"\"600001\"");
	expect_error("dotpool:\nhedge-delay: sometimes\n",
		"t.conf:2: hedge-delay: must be auto or 0..600000 ms, got "
		"\"sometimes\"");
	expect_error("dotpool:\nhedge-max-percent: 101\n",
		"t.conf:2: hedge-max-percent: must be 0..100, got \"101\"");
	expect_error("dotpool:\nhedge-burst: 0\n",
		"t.conf:2: hedge-burst: must be 1..100000, got \"0\"");
	expect_error("dotpool:\nsoft-deadline-min: 300\n"
		"soft-deadline-max: 200\n",
		"t.conf:3: soft-deadline-max: must be at least "
		"soft-deadline-min (300), got \"200\"");
	expect_error("dotpool:\nconnect-timeout: 2s\n",
		"t.conf:2: connect-timeout: must be 1..600000 ms, got \"2s\"");
	expect_error("dotpool:\nidle-timeout: 0\n",
		"t.conf:2: idle-timeout: must be 1..3600000 ms, got \"0\"");
	expect_error("dotpool:\nbackoff-initial: 0\n",
		"t.conf:2: backoff-initial: must be 1..3600000 ms, got \"0\"");
	expect_error("dotpool:\nbackoff-max: 3600001\n",
		"t.conf:2: backoff-max: must be 1..3600000 ms, got \"3600001\"");
	expect_error("dotpool:\nprobe-interval: x\n",
		"t.conf:2: probe-interval: must be 0..3600000 ms, got \"x\"");
	expect_error("dotpool:\nprewarm: true\n",
		"t.conf:2: prewarm: must be yes or no, got \"true\"");
	expect_error("dotpool:\nkeepalive: YES\n",
		"t.conf:2: keepalive: must be yes or no, got \"YES\"");
	expect_error("dotpool:\nsession-resumption: 1\n",
		"t.conf:2: session-resumption: must be yes or no, got \"1\"");
	expect_error("dotpool:\npolicy: fast\n",
		"t.conf:2: policy: must be ordered, round-robin, random, "
		"weighted or fastest, got \"fast\"");
	expect_error("dotpool:\nprofile: loose\n",
		"t.conf:2: profile: must be strict or opportunistic, got "
		"\"loose\"");
	expect_error("dotpool:\ntls-min-version: 1.1\n",
		"t.conf:2: tls-min-version: must be 1.2 or 1.3, got \"1.1\"");
	expect_error("dotpool:\ntls-ciphers:\n",
		"t.conf:2: tls-ciphers: needs a value");
	expect_error("dotpool:\ntls-ciphersuites: \"\"\n",
		"t.conf:2: tls-ciphersuites: needs a value");
	expect_error("dotpool:\nmetrics-listen: 127.0.0.1\n",
		"t.conf:2: metrics-listen: must be IP@port, got \"127.0.0.1\"");
	expect_error("dotpool:\nmetrics-listen: localhost@9153\n",
		"t.conf:2: metrics-listen: must be IP@port, \"localhost\" is "
		"not an IP address");
	expect_error("dotpool:\nmetrics-listen: 127.0.0.1@0\n",
		"t.conf:2: metrics-listen: port must be 1..65535, got "
		"\"127.0.0.1@0\"");
	expect_error("dotpool:\nmetrics-listen: ::1@70000\n",
		"t.conf:2: metrics-listen: port must be 1..65535, got "
		"\"::1@70000\"");
}

static void
test_structure_errors(void)
{
	expect_error("dotpool:\nmax-inflite: 3\n",
		"t.conf:2: max-inflite: unknown key");
	expect_error("max-inflight: 3\n",
		"t.conf:1: max-inflight: outside any section (belongs in "
		"dotpool:)");
	expect_error("dotpool:\nweight: 3\n",
		"t.conf:2: weight: not allowed in dotpool: (belongs in "
		"upstream:)");
	expect_error("zone:\nname: a.example\nmax-queue: 3\n",
		"t.conf:3: max-queue: not allowed in zone: (belongs in "
		"dotpool:)");
	expect_error("upstream:\naddr: 192.0.2.1\nname: a.example\n",
		"t.conf:3: name: not allowed in upstream: (belongs in zone:)");
	expect_error("dotpool:\ndotpool:\n",
		"t.conf:2: dotpool: section may appear only once");
	expect_error("zone: example.com\n",
		"t.conf:1: zone: a section line takes no value, got "
		"\"example.com\"");
	expect_error("dotpool:\nmax-queue 3\n",
		"t.conf:2: max-queue: expected \"key: value\"");
	expect_error("dotpool:\nmax-queue\n",
		"t.conf:2: max-queue: expected \"key: value\"");
	expect_error("dotpool:\n: 3\n",
		"t.conf:2: (empty): expected \"key: value\"");
	expect_error("dotpool:\ntls-ciphers: \"abc\n",
		"t.conf:2: tls-ciphers: unterminated quote");
	expect_error("dotpool:\ntls-ciphers: \"abc\" def\n",
		"t.conf:2: tls-ciphers: text after the closing quote");

	/* zone: sections */
	expect_error("zone:\npolicy: random\n",
		"t.conf:2: policy: zone: section must start with name:");
	expect_error("dotpool:\nzone:\n",
		"t.conf:2: zone: section has no name:");
	expect_error("zone:\n# nothing\nupstream:\naddr: 192.0.2.1\n",
		"t.conf:1: zone: section has no name:");
	expect_error("zone:\nname: example.com\nname: example.net\n",
		"t.conf:3: name: given twice in one zone:");
	expect_error("zone:\nname: example.com\nzone:\nname: EXAMPLE.com.\n",
		"t.conf:4: name: duplicate zone \"EXAMPLE.com.\" (first at line "
		"1)");
	expect_error("zone:\nname: a..b\n",
		"t.conf:2: name: empty label, got \"a..b\"");
	expect_error("zone:\nname: \"a b\"\n",
		"t.conf:2: name: not a domain name, got \"a b\"");
	expect_error("zone:\nname: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaa.com\n",
		"t.conf:2: name: label longer than 63, got \"aaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com\"");
	expect_error("zone:\nname:\n",
		"t.conf:2: name: not a domain name, got \"\"");

	/* upstream: sections */
	expect_error("upstream:\nweight: 2\n",
		"t.conf:2: weight: upstream: section must start with addr:");
	expect_error("upstream:\n",
		"t.conf:1: upstream: section has no addr:");
	expect_error("upstream:\naddr: dns.example@853\n",
		"t.conf:2: addr: must be IP[@port][#name], \"dns.example\" is "
		"not an IP address");
	expect_error("upstream:\naddr: 192.0.2.1@0\n",
		"t.conf:2: addr: port must be 1..65535, got \"192.0.2.1@0\"");
	expect_error("upstream:\naddr: 192.0.2.1@x#a.example\n",
		"t.conf:2: addr: port must be 1..65535, got "
		"\"192.0.2.1@x#a.example\"");
	expect_error("upstream:\naddr: \"192.0.2.1#\"\n",
		"t.conf:2: addr: bad TLS name after '#', got \"192.0.2.1#\"");
	expect_error("upstream:\naddr: 192.0.2.1\naddr: 192.0.2.2\n",
		"t.conf:3: addr: given twice in one upstream:");
	expect_error("upstream:\naddr: 192.0.2.1\nupstream:\naddr: 192.0.2.1\n",
		"t.conf:4: addr: duplicate upstream \"192.0.2.1\" (first at "
		"line 1)");
	expect_error("upstream:\naddr: 192.0.2.1\nweight: 0\n",
		"t.conf:3: weight: must be 1..1000, got \"0\"");
	expect_error("upstream:\naddr: 192.0.2.1\nweight: 1001\n",
		"t.conf:3: weight: must be 1..1000, got \"1001\"");
	expect_error("upstream:\naddr: 192.0.2.1\nprofile: none\n",
		"t.conf:3: profile: must be strict or opportunistic, got "
		"\"none\"");
	expect_error("upstream:\naddr: 192.0.2.1\npin-sha256: not*base64\n",
		"t.conf:3: pin-sha256: must be the base64 of 32 bytes "
		"(SHA-256), got \"not*base64\"");
	expect_error("upstream:\naddr: 192.0.2.1\npin-sha256: "
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
		"t.conf:3: pin-sha256: must be the base64 of 32 bytes "
		"(SHA-256), got \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"");
	expect_error("upstream:\naddr: 192.0.2.1\npin-sha256: "
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		"t.conf:3: pin-sha256: must be the base64 of 32 bytes "
		"(SHA-256), got \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"");
	expect_error("upstream:\naddr: 192.0.2.1\npin-sha256: "
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
		"t.conf:3: pin-sha256: must be the base64 of 32 bytes "
		"(SHA-256), got \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"");
	expect_error("upstream:\naddr: 192.0.2.1\nclient-cert: "
		"/nonexistent/dotpool/cert.pem\n",
		"t.conf:3: client-cert: cannot read "
		"\"/nonexistent/dotpool/cert.pem\": No such file or directory");
	expect_error("upstream:\naddr: 192.0.2.1\nclient-key: "
		"/nonexistent/dotpool/key.pem\n",
		"t.conf:3: client-key: cannot read "
		"\"/nonexistent/dotpool/key.pem\": No such file or directory");
}

static void
test_pairing_errors(void)
{
	char text[512], want[256];
	int i, n;

	snprintf(text, sizeof(text), "upstream:\naddr: 192.0.2.1\n"
		"client-cert: %s\nupstream:\naddr: 192.0.2.2\n", cert_path);
	expect_error(text, "t.conf:3: client-cert: needs client-key in the "
		"same section");
	snprintf(text, sizeof(text), "upstream:\naddr: 192.0.2.1\nweight: 2\n"
		"client-key: %s\n", key_path);
	expect_error(text, "t.conf:4: client-key: needs client-cert in the "
		"same section");

	/* Nine pins: the ninth is refused. */
	n = snprintf(text, sizeof(text), "upstream:\naddr: 192.0.2.1\n");
	for(i = 0; i < DOTPOOL_MAX_PINS + 1; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			"pin-sha256: %s\n", PIN_A);
	snprintf(want, sizeof(want), "t.conf:%d: pin-sha256: at most %d pins "
		"per upstream", 3 + DOTPOOL_MAX_PINS, DOTPOOL_MAX_PINS);
	expect_error(text, want);

	/* Cross-key rules name the key the operator wrote last. */
	expect_error("dotpool:\nattempt-timeout: 900\nquery-timeout: 800\n",
		"t.conf:3: query-timeout: must be at least attempt-timeout "
		"(900), got \"800\"");
	expect_error("dotpool:\nquery-timeout: 800\nattempt-timeout: 900\n",
		"t.conf:3: attempt-timeout: must be at most query-timeout "
		"(800), got \"900\"");
	expect_error("dotpool:\nattempt-timeout: 2000\n",
		"t.conf:2: attempt-timeout: must be at most query-timeout "
		"(1800), got \"2000\"");
	expect_error("dotpool:\nbackoff-initial: 20000\n",
		"t.conf:2: backoff-initial: must be at most backoff-max "
		"(10000), got \"20000\"");
	expect_error("dotpool:\nbackoff-initial: 300\nbackoff-max: 200\n",
		"t.conf:3: backoff-max: must be at least backoff-initial (300), "
		"got \"200\"");
}

static void
test_files(void)
{
	struct dotpool_config* cfg;
	char path[64], err[256], want[256];
	int ret;

	UNIT_REQUIRE(make_temp(path, sizeof(path),
		"dotpool:\nmax-inflight: 64\nzone:\nname: example.com\n") == 0,
		"config test: temporary file created");
	cfg = dotpool_config_new();
	UNIT_REQUIRE(cfg != NULL, "config: new settings allocated");
	ret = dotpool_config_read(cfg, path, 0, err, sizeof(err));
	UNIT_CHECK(ret == 0 && cfg->max_inflight == 64 &&
		dotpool_config_zone(cfg, "example.com") != NULL,
		"config: settings read from a file");
	UNIT_CHECK(cfg->path && strcmp(cfg->path, path) == 0,
		"config: the file read is remembered");
	dotpool_config_free(cfg);
	unlink(path);

	UNIT_REQUIRE(make_temp(path, sizeof(path),
		"dotpool:\n\nprewarm: maybe\n") == 0,
		"config test: temporary file created");
	cfg = dotpool_config_new();
	ret = dotpool_config_read(cfg, path, 0, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:3: prewarm: must be yes or no, "
		"got \"maybe\"", path);
	UNIT_CHECK(ret == DOTPOOL_ECONFIG && strcmp(err, want) == 0,
		"config: messages from a file name the file and line");
	dotpool_config_free(cfg);
	unlink(path);

	cfg = dotpool_config_new();
	ret = dotpool_config_read(cfg, "/nonexistent/dotpool.conf", 1, err,
		sizeof(err));
	UNIT_CHECK(ret == 0 && cfg->path == NULL && cfg->max_inflight == 128,
		"config: a missing optional file leaves the defaults");
	ret = dotpool_config_read(cfg, "/nonexistent/dotpool.conf", 0, err,
		sizeof(err));
	UNIT_CHECK(ret == DOTPOOL_ECONFIG && strcmp(err,
		"/nonexistent/dotpool.conf: cannot open: No such file or "
		"directory") == 0, "config: a missing required file is an "
		"error naming it");
	dotpool_config_free(cfg);
}

/** Whether two settings have the same global values. */
static int
same_globals(const struct dotpool_config* a, const struct dotpool_config* b)
{
	return a->attempt_timeout == b->attempt_timeout &&
		a->query_timeout == b->query_timeout &&
		a->max_attempts == b->max_attempts &&
		a->policy == b->policy && a->hedge_delay == b->hedge_delay &&
		a->soft_deadline_min == b->soft_deadline_min &&
		a->soft_deadline_max == b->soft_deadline_max &&
		a->hedge_percent == b->hedge_percent &&
		a->hedge_burst == b->hedge_burst &&
		a->connect_timeout == b->connect_timeout &&
		a->idle_timeout == b->idle_timeout &&
		a->max_inflight == b->max_inflight &&
		a->max_connections == b->max_connections &&
		a->max_queue == b->max_queue && a->prewarm == b->prewarm &&
		a->rewarm_window == b->rewarm_window &&
		a->keepalive == b->keepalive &&
		a->fail_threshold == b->fail_threshold &&
		a->backoff_initial == b->backoff_initial &&
		a->backoff_max == b->backoff_max &&
		a->probe_interval == b->probe_interval &&
		strcmp(a->tls_min_version, b->tls_min_version) == 0 &&
		!a->tls_ciphers == !b->tls_ciphers &&
		!a->tls_ciphersuites == !b->tls_ciphersuites &&
		a->session_resumption == b->session_resumption &&
		a->profile == b->profile &&
		!a->metrics_listen == !b->metrics_listen &&
		!a->zones == !b->zones && !a->upstreams == !b->upstreams;
}

static void
test_sample_file(void)
{
	static const char* const keys[] = { "attempt-timeout",
		"query-timeout", "max-attempts", "policy", "hedge-delay",
		"soft-deadline-min", "soft-deadline-max", "hedge-max-percent",
		"hedge-burst", "connect-timeout", "idle-timeout",
		"max-inflight",
		"max-connections", "max-queue", "prewarm", "rewarm-window", "keepalive",
		"fail-threshold", "backoff-initial", "backoff-max",
		"probe-interval", "tls-min-version", "tls-ciphers",
		"tls-ciphersuites", "session-resumption", "profile",
		"metrics-listen", "zone", "name", "upstream", "addr",
		"pin-sha256", "weight", "client-cert", "client-key", NULL };
	const char* top = getenv("top_srcdir");
	struct dotpool_config* cfg, *def;
	char path[512], err[256], *text = NULL, pat[64];
	FILE* f;
	long len;
	int i, ret;

	snprintf(path, sizeof(path), "%s/dotpool.conf.sample",
		top ? top : ".");
	cfg = dotpool_config_new();
	def = dotpool_config_new();
	UNIT_REQUIRE(cfg && def, "config: settings allocated");
	ret = dotpool_config_read(cfg, path, 0, err, sizeof(err));
	UNIT_CHECKF(ret == 0, "config: the shipped sample loads: %s", err);
	UNIT_CHECK(ret != 0 || same_globals(cfg, def), "config: the sample's "
		"active lines are exactly the documented defaults");
	dotpool_config_free(cfg);
	dotpool_config_free(def);

	/* Every key is documented in the sample. */
	f = fopen(path, "r");
	UNIT_REQUIRE(f != NULL, "config test: sample readable");
	if(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
		fseek(f, 0, SEEK_SET) == 0 && (text = calloc(1,
		(size_t)len + 1)) != NULL &&
		fread(text, 1, (size_t)len, f) != (size_t)len) {
		free(text);
		text = NULL;
	}
	fclose(f);
	UNIT_REQUIRE(text != NULL, "config test: sample read");
	for(i = 0; keys[i]; i++) {
		snprintf(pat, sizeof(pat), "%s:", keys[i]);
		UNIT_CHECKF(strstr(text, pat) != NULL, "config: the sample "
			"documents %s", pat);
	}
	free(text);
}

/** A section line that is not one of ours says so, not "unknown key". */
static void
test_unknown_section(void)
{
	expect_error("server:\n\tverbosity: 1\n",
		"t.conf:1: server: unknown section (the sections are "
		"dotpool:, zone: and upstream:; Unbound's own go in "
		"unbound.conf)");
	expect_error("dotpool:\n\tprewarm: yes\nzones:\n",
		"t.conf:3: zones: unknown section (the sections are "
		"dotpool:, zone: and upstream:; Unbound's own go in "
		"unbound.conf)");
	/* indented, it is a key without its value */
	expect_error("dotpool:\n\tatempt-timeout:\n",
		"t.conf:2: atempt-timeout: unknown key");
	/* a known key at the margin with no value needs a value */
	expect_error("dotpool:\nprewarm:\n",
		"t.conf:2: prewarm: needs a value");
}

/** The memory entry point reads as the file reader does, and names the
 * file it is given. */
static void
test_read_text(void)
{
	static const char ok[] = "dotpool:\n\tmax-attempts: 5\n";
	static const char nul[] = "dotpool:\n\tmax-attempts: 5\0\n";
	struct dotpool_config* cfg = dotpool_config_new();
	char err[256];
	int ret;

	UNIT_REQUIRE(cfg != NULL, "config: new settings allocated");
	ret = dotpool_config_read_text(cfg, "/etc/x.conf", ok, sizeof(ok) - 1,
		err, sizeof(err));
	UNIT_CHECKF(ret == 0 && cfg->max_attempts == 5 && cfg->path &&
		strcmp(cfg->path, "/etc/x.conf") == 0, "config: read_text "
		"sets the value and the path (got %d \"%s\")", ret, err);
	dotpool_config_free(cfg);
	cfg = dotpool_config_new();
	UNIT_REQUIRE(cfg != NULL, "config: new settings allocated");
	ret = dotpool_config_read_text(cfg, "/etc/x.conf", nul,
		sizeof(nul) - 1, err, sizeof(err));
	UNIT_CHECKF(ret == DOTPOOL_ECONFIG && strcmp(err,
		"/etc/x.conf:2: (line): contains a NUL byte") == 0,
		"config: read_text refuses a NUL byte, got \"%s\"", err);
	dotpool_config_free(cfg);
}

static void
test_every_prefix(void)
{
	/* Cutting a valid file anywhere must give either valid settings or
	 * a message that points at a line: never a crash, a leak or an
	 * unlocated error. Run under valgrind by the test instructions. */
	static const char text[] =
		"dotpool:\n"
		"  attempt-timeout: 500 # half a second\n"
		"  query-timeout: 4000\n"
		"  policy: \"round-robin\"\n"
		"  tls-min-version: 1.3\n"
		"  metrics-listen: ::1@9153\n"
		"zone:\n"
		"  name: example.com.\n"
		"  hedge-delay: 30\n"
		"upstream:\n"
		"  addr: 192.0.2.7@853#dns.example.com\n"
		"  pin-sha256: " PIN_A "\n"
		"  weight: 250\n";
	size_t k, len = strlen(text);
	int ok = 0, bad = 0;

	for(k = 0; k <= len; k++) {
		char* cut = malloc(k + 1), err[256];
		struct dotpool_config* cfg;
		int ret;
		UNIT_REQUIRE(cut != NULL, "config test: allocation");
		memcpy(cut, text, k);
		cut[k] = 0;
		cfg = parse(cut, &ret, err);
		if(ret == 0)
			ok++;
		else if(ret == DOTPOOL_ECONFIG &&
			strncmp(err, "t.conf:", 7) == 0)
			bad++;
		else
			UNIT_CHECKF(0, "config: a file cut at %zu fails with a "
				"located message, got %d \"%s\"", k, ret, err);
		dotpool_config_free(cfg);
		free(cut);
	}
	UNIT_CHECK(ok > 0 && bad > 0 && ok + bad == (int)len + 1,
		"config: every cut of a file either loads or says where it "
		"fails");
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "defaults", test_defaults },
		{ "every global key", test_every_global_key },
		{ "enum names", test_enum_names },
		{ "zones and inheritance", test_zones },
		{ "upstreams and lookup", test_upstreams },
		{ "quotes and comments", test_syntax },
		{ "value errors", test_value_errors },
		{ "structure errors", test_structure_errors },
		{ "pairing and cross-key errors", test_pairing_errors },
		{ "files", test_files },
		{ "sample file", test_sample_file },
		{ "every prefix of a file", test_every_prefix },
		{ "unknown section", test_unknown_section },
		{ "memory entry point", test_read_text },
		{ NULL, NULL }
	};
	int ret;

	if(make_temp(cert_path, sizeof(cert_path), "cert\n") != 0 ||
		make_temp(key_path, sizeof(key_path), "key\n") != 0) {
		fprintf(stderr, "config test: cannot create temporary files\n");
		return 99;
	}
	ret = unit_run("config", tests);
	unlink(cert_path);
	unlink(key_path);
	return ret;
}
