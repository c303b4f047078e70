/* Fuzz target: the small value parsers of config.h. The first byte picks
 * the parser, the rest is the string (cut at a NUL). What a parser accepts
 * must survive a round trip: formatted or canonical output parses back to
 * the same value. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void cpuset(const char *s)
{
	struct cfg_cpuset set, again;
	struct cfg_err err;
	char buf[VFWD_MAX_CPUS * 6], small[8];

	err.msg[0] = '\0';
	if (cfg_parse_cpuset(s, &set, &err) != 0) {
		fuzz_check_err(&err);
		return;
	}
	FUZZ_CHECK(cfg_cpuset_count(&set) > 0);
	cfg_cpuset_format(&set, buf, sizeof(buf));
	FUZZ_CHECK(cfg_parse_cpuset(buf, &again, &err) == 0);
	FUZZ_CHECK(memcmp(&set, &again, sizeof(set)) == 0);
	/* a short buffer: truncated, still terminated */
	memset(small, 'x', sizeof(small));
	cfg_cpuset_format(&set, small, sizeof(small));
	FUZZ_TERMINATED(small);
}

static void pin(const char *s)
{
	struct cfg_err err;
	unsigned relay, relay2;
	int cpus[2], cpus2[2];
	char buf[64];

	err.msg[0] = '\0';
	if (cfg_parse_pin(s, &relay, cpus, &err) != 0) {
		fuzz_check_err(&err);
		return;
	}
	FUZZ_CHECK(relay < VFWD_MAX_RELAYS);
	FUZZ_CHECK(cpus[0] >= 0 && cpus[0] < VFWD_MAX_CPUS);
	FUZZ_CHECK(cpus[1] >= 0 && cpus[1] < VFWD_MAX_CPUS);
	snprintf(buf, sizeof(buf), "%u:%d,%d", relay, cpus[0], cpus[1]);
	FUZZ_CHECK(cfg_parse_pin(buf, &relay2, cpus2, &err) == 0);
	FUZZ_CHECK(relay2 == relay && cpus2[0] == cpus[0] && cpus2[1] == cpus[1]);
}

static void static_vf(const char *s)
{
	struct cfg_static_vf vf, again;
	struct cfg_err err;
	char buf[VFWD_DEVARGS_MAX + 16];

	err.msg[0] = '\0';
	if (cfg_parse_static_vf(s, &vf, &err) != 0) {
		fuzz_check_err(&err);
		return;
	}
	FUZZ_TERMINATED(vf.dev);
	FUZZ_CHECK(vf.dev[0] != '\0' && vf.relay_id < VFWD_MAX_RELAYS);
	snprintf(buf, sizeof(buf), "%s=%u", vf.dev, vf.relay_id);
	FUZZ_CHECK(cfg_parse_static_vf(buf, &again, &err) == 0);
	FUZZ_CHECK(strcmp(again.dev, vf.dev) == 0 && again.relay_id == vf.relay_id);
}

static void canon_pci(const char *s)
{
	char out[13], again[13];

	memset(out, 'x', sizeof(out));
	if (cfg_canon_pci(s, out, sizeof(out)) != 0)
		return;
	FUZZ_CHECK(strlen(out) == 12);
	FUZZ_CHECK(cfg_canon_pci(out, again, sizeof(again)) == 0);
	FUZZ_CHECK(strcmp(out, again) == 0);
	/* too small an output buffer is refused, not overrun */
	FUZZ_CHECK(cfg_canon_pci(s, again, 12) == -1);
}

static void parse_bool(const char *s)
{
	bool b = false;
	int rc = cfg_parse_bool(s, &b);

	FUZZ_CHECK(rc == 0 || rc == -1);
}

/* "VAR=value" (split at the first '=') through cfg_set_var. */
static void set_var(char *s)
{
	static struct vfwd_config c; /* large: not on the stack */
	struct cfg_err err;
	char *eq = strchr(s, '=');

	cfg_defaults(&c);
	if (eq)
		*eq = '\0';
	err.msg[0] = '\0';
	if (cfg_set_var(&c, s, eq ? eq + 1 : NULL, &err) != 0)
		fuzz_check_err(&err);
	fuzz_check_config(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 8192)
		return -1;
	s = malloc(size);
	FUZZ_CHECK(s);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 6) {
	case 0: cpuset(s); break;
	case 1: pin(s); break;
	case 2: static_vf(s); break;
	case 3: canon_pci(s); break;
	case 4: parse_bool(s); break;
	default: set_var(s); break;
	}
	free(s);
	return 0;
}
