/* Fuzz target: the command-line parser (cfg_config_path_from_args, then
 * cfg_parse_args), on argv words split from the input at NUL or newline
 * bytes, after argv[0]. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether p points into the word buffer. */
static int in_buf(const char *p, const char *buf, size_t len)
{
	return p >= buf && p < buf + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vfwd_config c; /* large: not on the stack */
	static char prog[] = "virtio-forwarder";
	char *argv[MAX_WORDS + 2], *buf;
	struct cfg_err err;
	const char *cfgpath;
	int argc = 1, rc;
	size_t i, start = 0;

	if (size > 4096)
		return -1; /* longer command lines add nothing */
	buf = malloc(size + 1);
	FUZZ_CHECK(buf);
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = prog;
	for (i = 0; i <= size && argc <= MAX_WORDS; i++) {
		if (i < size && buf[i] != '\0' && buf[i] != '\n')
			continue;
		buf[i] = '\0';
		if (i > start || i < size) /* an empty word is a word, but not a trailing one */
			argv[argc++] = buf + start;
		start = i + 1;
	}
	argv[argc] = NULL;

	cfgpath = cfg_config_path_from_args(argc, argv);
	FUZZ_CHECK(!cfgpath || in_buf(cfgpath, buf, size + 1));

	cfg_defaults(&c);
	err.msg[0] = '\0';
	rc = cfg_parse_args(&c, argc, argv, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		fuzz_check_err(&err);
	} else {
		for (i = 0; i < c.nb_eal_args; i++)
			FUZZ_CHECK(in_buf(c.eal_args[i], buf, size + 1));
		if (cfgpath)
			FUZZ_CHECK(strcmp(c.config_file, cfgpath) == 0);
	}
	fuzz_check_config(&c);
	free(buf);
	return 0;
}
