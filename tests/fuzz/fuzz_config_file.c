/* Fuzz target: the config file parser (cfg_load_file), on the raw bytes as
 * the file's contents. cfg_load_file takes a path, so the bytes go into a
 * memfd that it opens as /proc/self/fd/N: no temporary files left behind. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static struct vfwd_config c; /* large: not on the stack */
	struct cfg_err err;
	int rc;

	if (fd < 0) {
		fd = memfd_create("vfwd-fuzz-config", 0);
		FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	cfg_defaults(&c);
	err.msg[0] = '\0';
	rc = cfg_load_file(&c, path, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0)
		fuzz_check_err(&err);
	else
		FUZZ_CHECK(strcmp(c.config_file, path) == 0);
	fuzz_check_config(&c);
	return 0;
}
