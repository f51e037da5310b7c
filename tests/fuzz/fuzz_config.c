/**
 * \file
 * Fuzz target: the settings-file parser (module/config_read.c and
 * config_keys.c), operator input that is read at every Unbound start and
 * reload.
 *
 * Text without a NUL byte goes through dotpool_config_read_string; text
 * with one (which only a file can hold) and one input in 16 of the others
 * go through a real file and dotpool_config_read, and the two entry points
 * must agree on the result and the message. Checked besides memory safety:
 * a failure returns DOTPOOL_ECONFIG with a "file:line: ..." message that
 * fits its buffer; a success leaves the message empty, every zone section
 * is found again by its name and every upstream section by its address,
 * and the values stay within their documented ranges.
 */
#include <unistd.h>
#include "dotpool/config.h"
#include "dotpool/error.h"
#include "fuzz.h"

/** Name the messages use for the text. */
#define NAME "fuzz.conf"

/** Path of the scratch file, made once per process. */
static char path[64];

/** Write the input to the scratch file. */
static void
write_file(const uint8_t* data, size_t size)
{
	FILE* f = fopen(path, "wb");

	FUZZ_CHECK(f != NULL, "config: scratch file");
	FUZZ_CHECK(fwrite(data, 1, size, f) == size, "config: write");
	FUZZ_CHECK(fclose(f) == 0, "config: close");
}

/** Split "IP[@port][#name]" and look the section up by it. */
static void
check_upstream(const struct dotpool_config* cfg,
	const struct dotpool_upstream_cfg* u)
{
	char ip[128], *at, *hash;
	const char* name = NULL;
	int port = 853;

	FUZZ_CHECK(u->addr != NULL, "config: upstream has addr");
	if(strlen(u->addr) >= sizeof(ip))
		return;
	strcpy(ip, u->addr);
	if((hash = strchr(ip, '#')) != NULL) {
		*hash = 0;
		name = hash + 1;
	}
	if((at = strchr(ip, '@')) != NULL) {
		*at = 0;
		port = atoi(at + 1);
	}
	FUZZ_CHECK(dotpool_config_upstream(cfg, ip, port, name) != NULL,
		"config: an upstream section is found by its address");
	FUZZ_CHECK(u->num_pins >= 0 && u->num_pins <= DOTPOOL_MAX_PINS,
		"config: pin count");
	FUZZ_CHECK(u->weight >= 1 && u->weight <= 1000, "config: weight");
}

/** Parse with the entry point the input asks for. */
static int
parse(struct dotpool_config** cfg, const uint8_t* data, size_t size,
	int file, char* err, size_t errlen)
{
	char* text;
	int ret;

	*cfg = dotpool_config_new();
	FUZZ_CHECK(*cfg != NULL, "config: new");
	if(file) {
		write_file(data, size);
		return dotpool_config_read(*cfg, path, 0, err, errlen);
	}
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL, "out of memory");
	memcpy(text, data, size);
	text[size] = 0;
	ret = dotpool_config_read_string(*cfg, path, text, err, errlen);
	free(text);
	return ret;
}

/** Check a parse result. */
static void
check(const struct dotpool_config* cfg, int ret, const char* err,
	size_t errlen)
{
	const struct dotpool_zone_cfg* z;
	const struct dotpool_upstream_cfg* u;

	FUZZ_CHECK(memchr(err, 0, errlen) != NULL,
		"config: message NUL-terminated in its buffer");
	if(ret != 0) {
		FUZZ_CHECK(ret == DOTPOOL_ECONFIG, "config: ECONFIG on error");
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 &&
			err[strlen(path)] == ':',
			"config: message starts with the file name");
		return;
	}
	FUZZ_CHECK(err[0] == 0, "config: no message on success");
	for(z = cfg->zones; z; z = z->next) {
		FUZZ_CHECK(z->name != NULL && dotpool_config_zone(cfg,
			z->name) != NULL, "config: a zone is found by its name");
		FUZZ_CHECK(z->name[0] && z->name[strlen(z->name) - 1] == '.',
			"config: zone name ends in a dot");
	}
	for(u = cfg->upstreams; u; u = u->next)
		check_upstream(cfg, u);
	FUZZ_CHECK(cfg->tls_min_version != NULL, "config: TLS version set");
}

/** Remove the scratch file at exit. */
static void
remove_file(void)
{
	(void)unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
int LLVMFuzzerInitialize(int* argc, char*** argv);

int
LLVMFuzzerInitialize(int* argc, char*** argv)
{
	/* tmpfs if there is one: the file is rewritten for many inputs */
	const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/dotpool-fuzz-%d.conf", dir,
		(int)getpid());
	atexit(remove_file);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	struct dotpool_config* cfg, *cfg2;
	char err[256], err2[256];
	int ret, ret2, has_nul = memchr(data, 0, size) != NULL;
	/* a cheap deterministic 1 in 16 */
	int both = !has_nul && size > 0 && (data[size - 1] & 0x0f) == 0;
	memset(err, 'x', sizeof(err));
	ret = parse(&cfg, data, size, has_nul, err, sizeof(err));
	check(cfg, ret, err, sizeof(err));
	if(has_nul)
		FUZZ_CHECK(ret == DOTPOOL_ECONFIG,
			"config: a file with a NUL byte is refused");
	if(both) {
		memset(err2, 'x', sizeof(err2));
		ret2 = parse(&cfg2, data, size, 1, err2, sizeof(err2));
		FUZZ_CHECK(ret2 == ret && strcmp(err, err2) == 0,
			"config: file and string read the same");
		dotpool_config_free(cfg2);
	}
	dotpool_config_free(cfg);
	/* a tiny message buffer must still be NUL-terminated (1 in 8) */
	if(ret != 0 && size > 0 && (data[0] & 7) == 0) {
		ret = parse(&cfg, data, size, has_nul, err, 8);
		FUZZ_CHECK(memchr(err, 0, 8) != NULL,
			"config: a short message buffer is NUL-terminated");
		dotpool_config_free(cfg);
	}
	return 0;
}
