/* Unit tests for src/config.c (cmocka).
 *
 *   gcc -std=gnu11 -Wall -Wextra -Werror -g -fsanitize=address,undefined \
 *       -Isrc src/config.c tests/unit/test_config.c -lcmocka -o test_config
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

#define MAX_ARGS 64

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle)) {
		print_error("expected \"%s\" in \"%s\"\n", needle, hay);
		fail();
	}
}

static void write_tmp(char *path, size_t cap, const char *content, size_t len)
{
	int fd;

	snprintf(path, cap, "/tmp/test_config_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
}

/* Writes content to a temp file, loads it; path of the file in path. */
static int load_str_path(struct vfwd_config *c, const char *content, struct cfg_err *err,
			 char *path, size_t cap)
{
	int rc;

	write_tmp(path, cap, content, strlen(content));
	memset(err, 0, sizeof(*err));
	rc = cfg_load_file(c, path, err);
	unlink(path);
	return rc;
}

static int load_str(struct vfwd_config *c, const char *content, struct cfg_err *err)
{
	char path[64];

	return load_str_path(c, content, err, path, sizeof(path));
}

static char *argv_buf[MAX_ARGS + 2];

/* parse_args(c, err, "-C", "1,2", NULL): argv[0] is added. */
static int parse_args(struct vfwd_config *c, struct cfg_err *err, ...)
{
	va_list ap;
	int argc = 0;
	const char *a;

	argv_buf[argc++] = (char *)"virtio-forwarder";
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS)
		argv_buf[argc++] = (char *)a;
	va_end(ap);
	argv_buf[argc] = NULL;
	memset(err, 0, sizeof(*err));
	return cfg_parse_args(c, argc, argv_buf, err);
}

static int set(struct vfwd_config *c, const char *var, const char *val, struct cfg_err *err)
{
	memset(err, 0, sizeof(*err));
	return cfg_set_var(c, var, val, err);
}

static void expect_set_fail(const char *var, const char *val, const char *msg_part)
{
	struct vfwd_config c;
	struct cfg_err err;

	cfg_defaults(&c);
	if (set(&c, var, val, &err) != -1) {
		print_error("%s=%s was accepted\n", var, val);
		fail();
	}
	assert_contains(err.msg, var);
	assert_contains(err.msg, val);
	if (msg_part)
		assert_contains(err.msg, msg_part);
}

static void expect_set_ok(const char *var, const char *val)
{
	struct vfwd_config c;
	struct cfg_err err;

	cfg_defaults(&c);
	if (set(&c, var, val, &err) != 0) {
		print_error("%s=%s rejected: %s\n", var, val, err.msg);
		fail();
	}
}

static void assert_pins_default(const struct vfwd_config *c)
{
	unsigned r;

	for (r = 0; r < VFWD_MAX_RELAYS; r++) {
		assert_int_equal(c->pins[r][0], -1);
		assert_int_equal(c->pins[r][1], -1);
	}
}

/* ------------------------------------------------------------------ */
/* Defaults                                                            */

static void test_defaults(void **state)
{
	struct vfwd_config c;
	char buf[64];

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	cfg_defaults(&c);
	cfg_cpuset_format(&c.worker_cpus, buf, sizeof(buf));
	assert_string_equal(buf, "1,2");
	assert_int_equal(cfg_cpuset_count(&c.worker_cpus), 2);
	assert_int_equal(c.main_lcore, 0);
	assert_true(c.daemonize);
	assert_true(c.log_syslog);
	assert_int_equal(c.log_level, 6);
	assert_string_equal(c.pid_dir, "/var/run");
	assert_string_equal(c.huge_dir, "/mnt/huge");
	assert_string_equal(c.socket_owner, "libvirt-qemu");
	assert_string_equal(c.socket_group, "kvm");
	assert_string_equal(c.socket_dir, "/tmp");
	assert_string_equal(c.socket_pattern, "virtio-forwarder%u.sock");
	assert_pins_default(&c);
	assert_int_equal(c.nb_static_vfs, 0);
	assert_false(c.vhost_client);
	assert_false(c.dynamic_sockets);
	assert_false(c.jumbo);
	assert_false(c.mrgbuf);
	assert_false(c.tso);
	assert_false(c.same_numa);
	assert_false(c.core_sched_enable);
	assert_false(cfg_core_sched_active(&c));
	assert_string_equal(c.vfio_vf_token, "");
	assert_string_equal(c.zmq_port_control_ep, "ipc:///var/run/virtio-forwarder/port_control");
	assert_string_equal(c.zmq_stats_ep, "ipc:///var/run/virtio-forwarder/stats");
	assert_string_equal(c.zmq_core_sched_ep, "ipc:///var/run/virtio-forwarder/core_sched");
	assert_string_equal(c.zmq_config_ep, "ipc:///var/run/virtio-forwarder/config");
	assert_false(c.zmq_port_control_on);
	assert_false(c.zmq_stats_on);
	assert_false(c.zmq_core_sched_on);
	assert_false(c.zmq_config_on);
	assert_true(c.core_sched_sensitivity == 0.25);
	assert_int_equal(c.core_sched_log_level, 6);
	assert_true(c.core_sched_poll_interval == 5.0);
	assert_false(c.core_sched_global_numa);
	assert_int_equal(c.nb_eal_args, 0);
	assert_false(c.show_version);
	assert_false(c.show_help);
	assert_string_equal(c.config_file, VFWD_DEFAULT_CONFIG_FILE);
	assert_int_equal(c.nb_warnings, 0);
}

static void test_defaults_validate(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(cfg_validate(&c, &err), 0);
}

/* ------------------------------------------------------------------ */
/* Small parsers                                                       */

static void test_parse_bool(void **state)
{
	static const char *const t[] = { "true", "TRUE", "yes", "Yes", "y", "Y", "on", "ON", "1" };
	static const char *const f[] = { "false", "False", "no", "NO", "n", "N", "off", "Off", "0" };
	static const char *const bad[] = { "", "2", "tru", "yess", "enable", " true", "true ", "-1" };
	bool b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		b = false;
		assert_int_equal(cfg_parse_bool(t[i], &b), 0);
		assert_true(b);
	}
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		b = true;
		assert_int_equal(cfg_parse_bool(f[i], &b), 0);
		assert_false(b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cfg_parse_bool(bad[i], &b), -1);
	assert_int_equal(cfg_parse_bool(NULL, &b), -1);
}

static void test_parse_cpuset(void **state)
{
	struct cfg_cpuset s;
	struct cfg_err err;
	char buf[128];

	(void)state;
	assert_int_equal(cfg_parse_cpuset("1,2,5", &s, &err), 0);
	cfg_cpuset_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "1,2,5");
	assert_int_equal(cfg_cpuset_count(&s), 3);

	assert_int_equal(cfg_parse_cpuset("1-3,7", &s, &err), 0);
	cfg_cpuset_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "1,2,3,7");

	assert_int_equal(cfg_parse_cpuset("0x6", &s, &err), 0);
	cfg_cpuset_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "1,2");

	assert_int_equal(cfg_parse_cpuset("0XfF", &s, &err), 0);
	assert_int_equal(cfg_cpuset_count(&s), 8);

	/* 1024-bit hex mask: highest CPU 1023 */
	memset(buf, 0, sizeof(buf));
	{
		char mask[2 + 256 + 1];

		mask[0] = '0';
		mask[1] = 'x';
		memset(mask + 2, '0', 256);
		mask[2] = '8';
		mask[2 + 256] = '\0';
		assert_int_equal(cfg_parse_cpuset(mask, &s, &err), 0);
		assert_int_equal(cfg_cpuset_count(&s), 1);
		assert_true(cfg_cpuset_has(&s, 1023));
		/* one more digit: CPU 1027 */
		{
			char big[2 + 257 + 1];

			big[0] = '0';
			big[1] = 'x';
			memset(big + 2, '0', 257);
			big[2] = '1';
			big[2 + 257] = '\0';
			assert_int_equal(cfg_parse_cpuset(big, &s, &err), -1);
			assert_contains(err.msg, "1024");
		}
		/* leading zeros are fine */
		{
			char lz[2 + 400 + 1];

			lz[0] = '0';
			lz[1] = 'x';
			memset(lz + 2, '0', 400);
			lz[2 + 399] = '2';
			lz[2 + 400] = '\0';
			assert_int_equal(cfg_parse_cpuset(lz, &s, &err), 0);
			assert_true(cfg_cpuset_has(&s, 1));
		}
	}
	assert_int_equal(cfg_parse_cpuset("1023", &s, &err), 0);
	assert_int_equal(cfg_parse_cpuset("1024", &s, &err), -1);
	assert_contains(err.msg, "1024");
	assert_contains(err.msg, "0-1023");
	assert_int_equal(cfg_parse_cpuset("99999999999999999999999999", &s, &err), -1);
	assert_contains(err.msg, "out of range");
	assert_int_equal(cfg_parse_cpuset("", &s, &err), -1);
	assert_contains(err.msg, "empty");
	assert_int_equal(cfg_parse_cpuset("1,x", &s, &err), -1);
	assert_string_equal(err.msg,
			    "'x' is not a CPU number; use a comma-separated list like 1,2 or a hex mask like 0x6");
	assert_int_equal(cfg_parse_cpuset("1,,2", &s, &err), -1);
	assert_int_equal(cfg_parse_cpuset("1,", &s, &err), -1);
	assert_int_equal(cfg_parse_cpuset("-1", &s, &err), -1);
	assert_int_equal(cfg_parse_cpuset("+1", &s, &err), -1);
	assert_int_equal(cfg_parse_cpuset("3-1", &s, &err), -1);
	assert_contains(err.msg, "reversed");
	assert_int_equal(cfg_parse_cpuset("0x", &s, &err), -1);
	assert_int_equal(cfg_parse_cpuset("0x0", &s, &err), -1);
	assert_contains(err.msg, "no CPU");
	assert_int_equal(cfg_parse_cpuset("0xg", &s, &err), -1);
	assert_int_equal(cfg_parse_cpuset("1.5", &s, &err), -1);
}

static void test_cpuset_format_truncates(void **state)
{
	struct cfg_cpuset s;
	struct cfg_err err;
	char small[8], tiny[2], big[8192];

	(void)state;
	assert_int_equal(cfg_parse_cpuset("0-1023", &s, &err), 0);
	assert_int_equal(cfg_cpuset_count(&s), 1024);
	cfg_cpuset_format(&s, small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_contains(small, "...");
	cfg_cpuset_format(&s, tiny, sizeof(tiny));
	assert_true(strlen(tiny) < sizeof(tiny));
	cfg_cpuset_format(&s, big, sizeof(big));
	assert_contains(big, ",1023");
	assert_true(strncmp(big, "0,1,2,", 6) == 0);
}

static void test_parse_pin(void **state)
{
	struct cfg_err err;
	unsigned r;
	int cpus[2];

	(void)state;
	assert_int_equal(cfg_parse_pin("0:1", &r, cpus, &err), 0);
	assert_int_equal(r, 0);
	assert_int_equal(cpus[0], 1);
	assert_int_equal(cpus[1], 1);
	assert_int_equal(cfg_parse_pin("63:1,2", &r, cpus, &err), 0);
	assert_int_equal(r, 63);
	assert_int_equal(cpus[0], 1);
	assert_int_equal(cpus[1], 2);

	assert_int_equal(cfg_parse_pin("64:1", &r, cpus, &err), -1);
	assert_contains(err.msg, "relay id 64 is out of range 0-63");
	assert_int_equal(cfg_parse_pin("4294967295:1", &r, cpus, &err), -1);
	assert_contains(err.msg, "relay id 4294967295 is out of range 0-63");
	assert_int_equal(cfg_parse_pin("18446744073709551617:1", &r, cpus, &err), -1);
	assert_contains(err.msg, "out of range");
	assert_int_equal(cfg_parse_pin("0:1024", &r, cpus, &err), -1);
	assert_contains(err.msg, "1024");
	assert_int_equal(cfg_parse_pin("0:1,2,3", &r, cpus, &err), -1);
	assert_int_equal(cfg_parse_pin("0", &r, cpus, &err), -1);
	assert_int_equal(cfg_parse_pin("0:", &r, cpus, &err), -1);
	assert_int_equal(cfg_parse_pin(":1", &r, cpus, &err), -1);
	assert_int_equal(cfg_parse_pin("0:1,", &r, cpus, &err), -1);
	assert_int_equal(cfg_parse_pin("a:1", &r, cpus, &err), -1);
	assert_int_equal(cfg_parse_pin("-1:1", &r, cpus, &err), -1);
	assert_int_equal(cfg_parse_pin("", &r, cpus, &err), -1);
}

static void test_canon_pci(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(cfg_canon_pci("05:08.1", out, sizeof(out)), 0);
	assert_string_equal(out, "0000:05:08.1");
	assert_int_equal(cfg_canon_pci("0000:05:08.A", out, sizeof(out)), -1); /* fn 0xa >= 8 */
	assert_int_equal(cfg_canon_pci("0000:05:08.7", out, sizeof(out)), 0);
	assert_int_equal(cfg_canon_pci("ABCD:EF:1F.7", out, sizeof(out)), 0);
	assert_string_equal(out, "abcd:ef:1f.7");
	assert_int_equal(cfg_canon_pci("0000:05:20.1", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("0000:05:08.8", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("000:05:08.1", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("0000:5:08.1", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("0000:05:08", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("0000:05:08.1x", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("0000-05:08.1", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("gg:08.1", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("", out, sizeof(out)), -1);
	assert_int_equal(cfg_canon_pci("05:08.1", out, 12), -1);
	assert_int_equal(cfg_canon_pci("05:08.1", out, 13), 0);
}

static void test_canon_pci_fn_hex(void **state)
{
	/* The brief's example "0000:05:08.A" -> ".a" would need fn 0xa, which a
	 * PCI function (0-7) cannot be; upper-case hex elsewhere is lowered. */
	char out[16];

	(void)state;
	assert_int_equal(cfg_canon_pci("0000:0A:0B.3", out, sizeof(out)), 0);
	assert_string_equal(out, "0000:0a:0b.3");
}

static void test_parse_static_vf(void **state)
{
	struct cfg_static_vf vf;
	struct cfg_err err;

	(void)state;
	assert_int_equal(cfg_parse_static_vf("0000:05:08.1=1", &vf, &err), 0);
	assert_string_equal(vf.dev, "0000:05:08.1");
	assert_int_equal(vf.relay_id, 1);
	assert_int_equal(cfg_parse_static_vf("05:08.1=63", &vf, &err), 0);
	assert_string_equal(vf.dev, "0000:05:08.1");
	assert_int_equal(vf.relay_id, 63);
	assert_int_equal(cfg_parse_static_vf("net_memif0,role=client,socket=/tmp/m.sock,id=0=3",
					     &vf, &err), 0);
	assert_string_equal(vf.dev, "net_memif0,role=client,socket=/tmp/m.sock,id=0");
	assert_int_equal(vf.relay_id, 3);

	assert_int_equal(cfg_parse_static_vf("0000:05:08.1=64", &vf, &err), -1);
	assert_contains(err.msg, "relay id 64 is out of range 0-63");
	assert_int_equal(cfg_parse_static_vf("0000:05:08.1=4294967295", &vf, &err), -1);
	assert_contains(err.msg, "relay id 4294967295 is out of range 0-63");
	assert_int_equal(cfg_parse_static_vf("0000:05:08.1", &vf, &err), -1);
	assert_int_equal(cfg_parse_static_vf("0000:05:08.1=", &vf, &err), -1);
	assert_int_equal(cfg_parse_static_vf("=1", &vf, &err), -1);
	assert_int_equal(cfg_parse_static_vf("eth0=1", &vf, &err), -1);
	assert_contains(err.msg, "PCI");
	assert_contains(err.msg, "net_");
	assert_int_equal(cfg_parse_static_vf("net_=1", &vf, &err), -1);
	assert_int_equal(cfg_parse_static_vf("0000:05:20.1=1", &vf, &err), -1);
	assert_int_equal(cfg_parse_static_vf("0000:05:08.1=1x", &vf, &err), -1);

	/* longest devargs that fits, and one byte more */
	{
		char s[VFWD_DEVARGS_MAX + 8];

		memset(s, 'a', sizeof(s));
		memcpy(s, "net_", 4);
		memcpy(s + VFWD_DEVARGS_MAX - 1, "=1", 3);
		assert_int_equal(cfg_parse_static_vf(s, &vf, &err), 0);
		assert_int_equal(strlen(vf.dev), VFWD_DEVARGS_MAX - 1);
		memset(s, 'a', sizeof(s));
		memcpy(s, "net_", 4);
		memcpy(s + VFWD_DEVARGS_MAX, "=1", 3);
		assert_int_equal(cfg_parse_static_vf(s, &vf, &err), -1);
		assert_contains(err.msg, "longer");
	}
}

/* ------------------------------------------------------------------ */
/* Every variable, good and bad                                        */

struct var_case {
	const char *var;
	const char *good;
	const char *bad;
	const char *bad_msg; /* part of the expected message, or NULL */
};

static const struct var_case var_cases[] = {
	{ "VIRTIOFWD_CPU_MASK", "3,4", "1,x",
	  "'x' is not a CPU number; use a comma-separated list like 1,2 or a hex mask like 0x6" },
	{ "VIRTIOFWD_CPU_MASK", "0x6", "0xz", "hex" },
	{ "VIRTIOFWD_LOG_LEVEL", "7", "9", "must be an integer 0-7" },
	{ "VIRTIOFWD_LOG_LEVEL", "0", "-1", "0-7" },
	{ "VIRTIOFWD_LOG_LEVEL", "00", "99999999999999999999999999999", "0-7" },
	{ "VIRTIOFWD_HUGETLBFS_MOUNT_POINT", "/dev/hugepages", "dev/hugepages", "absolute" },
	{ "VIRTIOFWD_SOCKET_OWNER", "root", "ro ot", "name" },
	{ "VIRTIOFWD_SOCKET_GROUP", "root", "a:b", "name" },
	{ "VIO4WD_CORE_SCHED_ENABLE", "true", "maybe", "must be true or false" },
	{ "VIRTIOFWD_CPU_PINS", "0:1,2", "0:1;64:2", "relay id 64 is out of range 0-63" },
	{ "VIRTIOFWD_CPU_PINS", "1:2", "1:2;1:3", "pinned twice" },
	{ "VIRTIOFWD_DYNAMIC_SOCKETS", "yes", "2", "must be true or false" },
	{ "VIRTIOFWD_VHOST_CLIENT", "false", "client", "must be true or false" },
	{ "VIRTIOFWD_VFIO_VF_TOKEN", "2ab74924-c335-45f4-9b16-8569e5b08258",
	  "2ab74924-c335-45f4-9b16-8569e5b0825", "UUID" },
	{ "VIRTIOFWD_VFIO_VF_TOKEN", "0", "00", "UUID" },
	{ "VIRTIOFWD_ZMQ_PORT_CONTROL_EP", "tcp://127.0.0.1:5555", "/var/run/x", "ipc://" },
	{ "VIRTIOFWD_ZMQ_STATS_EP", "ipc:///tmp/s", "http://x", "tcp://" },
	{ "VIRTIOFWD_ZMQ_CORE_SCHED_EP", "inproc://cs", "ipc://", "inproc://" },
	{ "VIRTIOFWD_ZMQ_CONFIG_EP", "ipc:///tmp/c", "ipc:///tmp/a b", "spaces" },
	{ "VIRTIOFWD_STATIC_VFS", "0000:05:08.1=1", "0000:05:08.1=64",
	  "relay id 64 is out of range 0-63" },
	{ "VIRTIOFWD_STATIC_VFS", "05:08.1=1", "eth0=1", "net_" },
	{ "VIRTIOFWD_PID_DIR", "/run", "run", "absolute" },
	{ "VIRTIOFWD_SOCKET_DIR", "/var/run/vio", "./x", "absolute" },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", "vf%u.sock", "vf%s.sock", "%u" },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", "vf-%u", "vf%u-%u.sock", "exactly once" },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", "%u", "vf.sock", "%u" },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", "a%ub", "sub/vf%u.sock", "/" },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", "a%ub", "vf%n%u", "%" },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", "a%ub", "vf%u%", "%" },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", "a%ub", "vf%%%u", "%" },
	{ "VIRTIOFWD_MASTER_LCORE", "3", "x", "CPU number" },
	{ "VIRTIOFWD_MASTER_LCORE", "1023", "1024", "0-1023" },
	{ "VIRTIOFWD_MASTER_LCORE", "1023", "4294967296", "0-1023" },
	{ "VIRTIOFWD_JUMBO", "on", "jumbo", "must be true or false" },
	{ "VIRTIOFWD_MRGBUF", "Y", "yy", "must be true or false" },
	{ "VIRTIOFWD_TSO", "1", "10", "must be true or false" },
	{ "VIRTIOFWD_VF_QUEUES", "4", "0", "1-32" },
	{ "VIRTIOFWD_VF_QUEUES", "32", "33", "1-32" },
	{ "VIRTIOFWD_VF_QUEUES", "2", "four", "1-32" },
	{ "VIRTIOFWD_CPU_NIC_SAME_NUMA", "off", "of", "must be true or false" },
	{ "VIO4WD_CORE_SCHED_SENSITIVITY", "0.5", "abc", "number" },
	{ "VIO4WD_CORE_SCHED_SENSITIVITY", "0", "-0.1", "number" },
	{ "VIO4WD_CORE_SCHED_SENSITIVITY", "1e-3", "nan", "number" },
	{ "VIO4WD_CORE_SCHED_SENSITIVITY", "2", "1e999", "number" },
	{ "VIO4WD_CORE_SCHED_LOG_LEVEL", "3", "8", "0-7" },
	{ "VIO4WD_CORE_SCHED_POLL_INTERVAL", "0.5", "0", "> 0" },
	{ "VIO4WD_CORE_SCHED_POLL_INTERVAL", "10", "inf", "> 0" },
	{ "VIO4WD_CORE_SCHED_POLL_INTERVAL", "86400", "5s", "> 0" },
	{ "VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT", "TRUE", "t", "must be true or false" },
};

static void test_every_var_good_and_bad(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(var_cases) / sizeof(var_cases[0]); i++) {
		expect_set_ok(var_cases[i].var, var_cases[i].good);
		expect_set_fail(var_cases[i].var, var_cases[i].bad, var_cases[i].bad_msg);
	}
}

static void test_exact_messages(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_LOG_LEVEL", "9", &err), -1);
	assert_string_equal(err.msg, "VIRTIOFWD_LOG_LEVEL=9: must be an integer 0-7");
	assert_int_equal(set(&c, "VIRTIOFWD_CPU_MASK", "1,x", &err), -1);
	assert_string_equal(err.msg,
			    "VIRTIOFWD_CPU_MASK=1,x: 'x' is not a CPU number; use a comma-separated list like 1,2 or a hex mask like 0x6");
	assert_int_equal(set(&c, "VIRTIOFWD_JUMBO", "maybe", &err), -1);
	assert_contains(err.msg, "VIRTIOFWD_JUMBO=maybe: must be true or false");
	/* nothing changed */
	assert_int_equal(c.log_level, 6);
	assert_false(c.jumbo);
}

static void test_var_values_applied(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char buf[64];

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_CPU_MASK", "0x1c", &err), 0);
	cfg_cpuset_format(&c.worker_cpus, buf, sizeof(buf));
	assert_string_equal(buf, "2,3,4");
	assert_int_equal(set(&c, "VIRTIOFWD_LOG_LEVEL", "3", &err), 0);
	assert_int_equal(c.log_level, 3);
	assert_int_equal(set(&c, "VIRTIOFWD_HUGETLBFS_MOUNT_POINT", "/dev/hugepages-1G", &err), 0);
	assert_string_equal(c.huge_dir, "/dev/hugepages-1G");
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_OWNER", "qemu", &err), 0);
	assert_string_equal(c.socket_owner, "qemu");
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_GROUP", "qemu", &err), 0);
	assert_string_equal(c.socket_group, "qemu");
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_ENABLE", "yes", &err), 0);
	assert_true(c.core_sched_enable);
	assert_true(cfg_core_sched_active(&c));
	assert_int_equal(set(&c, "VIRTIOFWD_DYNAMIC_SOCKETS", "1", &err), 0);
	assert_true(c.dynamic_sockets);
	assert_int_equal(set(&c, "VIRTIOFWD_VHOST_CLIENT", "n", &err), 0);
	assert_false(c.vhost_client);
	assert_int_equal(set(&c, "VIRTIOFWD_PID_DIR", "/run/vio", &err), 0);
	assert_string_equal(c.pid_dir, "/run/vio");
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_DIR", "/run/vio/s", &err), 0);
	assert_string_equal(c.socket_dir, "/run/vio/s");
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_FNAME_PATTERN", "relay-%u.sock", &err), 0);
	assert_string_equal(c.socket_pattern, "relay-%u.sock");
	assert_int_equal(set(&c, "VIRTIOFWD_MASTER_LCORE", "5", &err), 0);
	assert_int_equal(c.main_lcore, 5);
	assert_int_equal(set(&c, "VIRTIOFWD_JUMBO", "true", &err), 0);
	assert_true(c.jumbo);
	assert_int_equal(set(&c, "VIRTIOFWD_MRGBUF", "true", &err), 0);
	assert_true(c.mrgbuf);
	assert_int_equal(set(&c, "VIRTIOFWD_TSO", "true", &err), 0);
	assert_true(c.tso);
	assert_int_equal(c.vf_queues, 1);
	assert_int_equal(set(&c, "VIRTIOFWD_VF_QUEUES", "4", &err), 0);
	assert_int_equal(c.vf_queues, 4);
	assert_int_equal(set(&c, "VIRTIOFWD_CPU_NIC_SAME_NUMA", "true", &err), 0);
	assert_true(c.same_numa);
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_SENSITIVITY", "0.5", &err), 0);
	assert_true(c.core_sched_sensitivity == 0.5);
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_LOG_LEVEL", "2", &err), 0);
	assert_int_equal(c.core_sched_log_level, 2);
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_POLL_INTERVAL", "1.5", &err), 0);
	assert_true(c.core_sched_poll_interval == 1.5);
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT", "on", &err), 0);
	assert_true(c.core_sched_global_numa);
}

static void test_empty_values(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	/* empty = keep the default for ordinary variables */
	assert_int_equal(set(&c, "VIRTIOFWD_LOG_LEVEL", "", &err), 0);
	assert_int_equal(c.log_level, 6);
	assert_int_equal(set(&c, "VIRTIOFWD_CPU_MASK", "", &err), 0);
	assert_int_equal(cfg_cpuset_count(&c.worker_cpus), 2);
	assert_int_equal(set(&c, "VIRTIOFWD_PID_DIR", "", &err), 0);
	assert_string_equal(c.pid_dir, "/var/run");
	assert_int_equal(set(&c, "VIRTIOFWD_VHOST_CLIENT", "", &err), 0);
	assert_false(c.vhost_client);
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_FNAME_PATTERN", "", &err), 0);
	assert_string_equal(c.socket_pattern, "virtio-forwarder%u.sock");
	assert_int_equal(set(&c, "VIRTIOFWD_STATIC_VFS", "", &err), 0);
	assert_int_equal(c.nb_static_vfs, 0);
	assert_int_equal(set(&c, "VIRTIOFWD_CPU_PINS", "", &err), 0);
	assert_pins_default(&c);
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_SENSITIVITY", "", &err), 0);
	assert_true(c.core_sched_sensitivity == 0.25);
	/* owner/group: empty = inherit */
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_OWNER", "", &err), 0);
	assert_string_equal(c.socket_owner, "");
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_GROUP", "", &err), 0);
	assert_string_equal(c.socket_group, "");
	/* NULL value is treated as empty */
	assert_int_equal(set(&c, "VIRTIOFWD_LOG_LEVEL", NULL, &err), 0);
	assert_int_equal(c.log_level, 6);
}

static void test_vfio_token(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_VFIO_VF_TOKEN", "0", &err), 0);
	assert_string_equal(c.vfio_vf_token, "00000000-0000-0000-0000-000000000000");
	assert_int_equal(set(&c, "VIRTIOFWD_VFIO_VF_TOKEN", "2AB74924-C335-45F4-9B16-8569E5B08258",
			     &err), 0);
	assert_string_equal(c.vfio_vf_token, "2ab74924-c335-45f4-9b16-8569e5b08258");
	assert_int_equal(set(&c, "VIRTIOFWD_VFIO_VF_TOKEN", "NULL", &err), 0);
	assert_string_equal(c.vfio_vf_token, "");
	assert_int_equal(set(&c, "VIRTIOFWD_VFIO_VF_TOKEN", "0", &err), 0);
	assert_int_equal(set(&c, "VIRTIOFWD_VFIO_VF_TOKEN", "none", &err), 0);
	assert_string_equal(c.vfio_vf_token, "");
	assert_int_equal(set(&c, "VIRTIOFWD_VFIO_VF_TOKEN", "nUlL", &err), 0);
	assert_string_equal(c.vfio_vf_token, "");
	/* bad ones */
	expect_set_fail("VIRTIOFWD_VFIO_VF_TOKEN", "2ab74924c33545f49b168569e5b08258", "UUID");
	expect_set_fail("VIRTIOFWD_VFIO_VF_TOKEN", "2ab74924-c335-45f4-9b16-8569e5b08258-", "UUID");
	expect_set_fail("VIRTIOFWD_VFIO_VF_TOKEN", "2ab74924-c335-45f4-9b16-8569e5b0825g", "UUID");
	expect_set_fail("VIRTIOFWD_VFIO_VF_TOKEN", "2ab74924-c335-45f4-9b16-8569e5b082580", "UUID");
	expect_set_fail("VIRTIOFWD_VFIO_VF_TOKEN", "nul", "UUID");
}

static void test_zmq_endpoints(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_PORT_CONTROL_EP", "ipc:///tmp/pc", &err), 0);
	assert_true(c.zmq_port_control_on);
	assert_string_equal(c.zmq_port_control_ep, "ipc:///tmp/pc");
	assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_PORT_CONTROL_EP", "", &err), 0);
	assert_false(c.zmq_port_control_on);
	assert_string_equal(c.zmq_port_control_ep, VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP);

	assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_STATS_EP", "tcp://*:5556", &err), 0);
	assert_true(c.zmq_stats_on);
	assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_CONFIG_EP", "inproc://cfg", &err), 0);
	assert_true(c.zmq_config_on);

	/* core sched endpoint alone does not start the service */
	assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_CORE_SCHED_EP", "ipc:///tmp/cs", &err), 0);
	assert_true(c.zmq_core_sched_on);
	assert_false(cfg_core_sched_active(&c));
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_ENABLE", "true", &err), 0);
	assert_true(cfg_core_sched_active(&c));
	assert_string_equal(c.zmq_core_sched_ep, "ipc:///tmp/cs");
	/* enabled without endpoint: the default one */
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIO4WD_CORE_SCHED_ENABLE", "true", &err), 0);
	assert_true(cfg_core_sched_active(&c));
	assert_string_equal(c.zmq_core_sched_ep, VFWD_DEFAULT_ZMQ_CORE_SCHED_EP);

	/* too long */
	{
		char ep[PATH_MAX + 16];

		memset(ep, 'a', sizeof(ep));
		memcpy(ep, "ipc:///", 7);
		ep[PATH_MAX] = '\0';
		assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_STATS_EP", ep, &err), -1);
		assert_contains(err.msg, "VIRTIOFWD_ZMQ_STATS_EP=ipc:///aaa");
		ep[PATH_MAX - 1] = '\0';
		assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_STATS_EP", ep, &err), 0);
	}
}

static void test_long_paths(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char p[PATH_MAX + 8];

	(void)state;
	cfg_defaults(&c);
	memset(p, 'x', sizeof(p));
	p[0] = '/';
	p[PATH_MAX] = '\0';
	assert_int_equal(set(&c, "VIRTIOFWD_PID_DIR", p, &err), -1);
	assert_contains(err.msg, "longer");
	assert_string_equal(c.pid_dir, "/var/run");
	p[PATH_MAX - 1] = '\0';
	assert_int_equal(set(&c, "VIRTIOFWD_PID_DIR", p, &err), 0);
	assert_int_equal(strlen(c.pid_dir), PATH_MAX - 1);

	memset(p, 'u', 64);
	p[64] = '\0';
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_OWNER", p, &err), -1);
	p[63] = '\0';
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_OWNER", p, &err), 0);

	memset(p, 'v', 300);
	memcpy(p, "%u", 2);
	p[256] = '\0';
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_FNAME_PATTERN", p, &err), -1);
	p[255] = '\0';
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_FNAME_PATTERN", p, &err), 0);
}

static void test_obsolete_and_unknown_vars(void **state)
{
	static const char *const obsolete[] = {
		"VIRTIOFWD_IPC_PORT_CONTROL", "VIRTIOFWD_OVSDB_SOCK_PATH", "VIRTIOFWD_ZERO_COPY",
		"VIRTIOFWD_BINARY", "VIRTIOFWD_BIND_VFIO_PCI",
	};
	struct vfwd_config c;
	struct cfg_err err;
	size_t i;

	(void)state;
	cfg_defaults(&c);
	for (i = 0; i < 5; i++) {
		assert_int_equal(set(&c, obsolete[i], "y", &err), 0);
		assert_int_equal(c.nb_warnings, i + 1);
		assert_contains(c.warnings[i], obsolete[i]);
		assert_contains(c.warnings[i], "is not used by this implementation");
	}
	/* empty obsolete: silent */
	assert_int_equal(set(&c, "VIRTIOFWD_ZERO_COPY", "", &err), 0);
	assert_int_equal(c.nb_warnings, 5);
	assert_int_equal(set(&c, "FOO", "1", &err), 0);
	assert_int_equal(c.nb_warnings, 6);
	assert_contains(c.warnings[5], "unknown variable FOO ignored");
	/* warnings are bounded */
	for (i = 0; i < 100; i++)
		assert_int_equal(set(&c, "FOO", "1", &err), 0);
	assert_int_equal(c.nb_warnings, VFWD_MAX_WARNINGS);
	assert_contains(c.warnings[VFWD_MAX_WARNINGS - 1], "suppressed");
}

/* ------------------------------------------------------------------ */
/* The file                                                            */

static void test_file_basic_syntax(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char buf[64];

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(load_str(&c,
		"# comment\n"
		"\n"
		"   \n"
		"\t# indented comment\n"
		"VIRTIOFWD_LOG_LEVEL=5\n"
		"export VIRTIOFWD_CPU_MASK=\"3,4\"\n"
		"  VIRTIOFWD_PID_DIR='/run/a b'   # trailing comment\n"
		"VIRTIOFWD_SOCKET_DIR=/run/x#y\n"
		"VIRTIOFWD_SOCKET_OWNER=\n"
		"VIRTIOFWD_SOCKET_GROUP=''\n"
		"VIRTIOFWD_HUGETLBFS_MOUNT_POINT=/mnt/\"huge\"'pages'\n"
		"VIRTIOFWD_SOCKET_FNAME_PATTERN=vio\\%u.sock\n"
		"VIRTIOFWD_JUMBO=yes\r\n"
		"VIRTIOFWD_TSO=(true)\n"
		"VIRTIOFWD_MRGBUF=\"on\"#not a comment, part of the word? no: quoted then #...\n",
		&err), -1);
	/* the last line makes the word 'on#not' followed by more words: error */
	assert_contains(err.msg, ":15:");

	cfg_defaults(&c);
	assert_int_equal(load_str(&c,
		"# comment\n"
		"\n"
		"   \n"
		"\t# indented comment\n"
		"VIRTIOFWD_LOG_LEVEL=5\n"
		"export VIRTIOFWD_CPU_MASK=\"3,4\"\n"
		"  VIRTIOFWD_PID_DIR='/run/a b'   # trailing comment\n"
		"VIRTIOFWD_SOCKET_DIR=/run/x#y\n"
		"VIRTIOFWD_SOCKET_OWNER=\n"
		"VIRTIOFWD_SOCKET_GROUP=''\n"
		"VIRTIOFWD_HUGETLBFS_MOUNT_POINT=/mnt/\"huge\"'pages'\n"
		"VIRTIOFWD_SOCKET_FNAME_PATTERN=vio\\%u.sock\n"
		"VIRTIOFWD_JUMBO=yes\r\n"
		"VIRTIOFWD_TSO=(true)\n"
		"VIRTIOFWD_MRGBUF=\"o\"n # comment\n"
		"VIRTIOFWD_VFIO_VF_TOKEN=\"a\\\"b\" # bad token, but parsed: checked below\n",
		&err), -1);
	assert_contains(err.msg, ":16: VIRTIOFWD_VFIO_VF_TOKEN=a\"b: ");
	assert_int_equal(c.log_level, 5);
	cfg_cpuset_format(&c.worker_cpus, buf, sizeof(buf));
	assert_string_equal(buf, "3,4");
	assert_string_equal(c.pid_dir, "/run/a b");
	assert_string_equal(c.socket_dir, "/run/x#y");
	assert_string_equal(c.socket_owner, "");
	assert_string_equal(c.socket_group, "");
	assert_string_equal(c.huge_dir, "/mnt/hugepages");
	assert_string_equal(c.socket_pattern, "vio%u.sock");
	assert_true(c.jumbo);
	assert_true(c.tso);
	assert_true(c.mrgbuf);
	assert_int_equal(c.nb_warnings, 0);
}

static void test_file_ok_and_config_file_recorded(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char path[64];

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(load_str_path(&c, "VIRTIOFWD_LOG_LEVEL=1\n"
				       "VIRTIOFWD_LOG_LEVEL=2", /* no final newline */
				       &err, path, sizeof(path)), 0);
	assert_int_equal(c.log_level, 2);
	assert_string_equal(c.config_file, path);
	/* empty file */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "", &err), 0);
	assert_int_equal(c.log_level, 6);
}

static void test_file_static_vfs_forms(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_STATIC_VFS=0000:05:08.1=1\n", &err), 0);
	assert_int_equal(c.nb_static_vfs, 1);
	assert_string_equal(c.static_vfs[0].dev, "0000:05:08.1");
	assert_int_equal(c.static_vfs[0].relay_id, 1);

	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1)\n", &err), 0);
	assert_int_equal(c.nb_static_vfs, 1);
	assert_string_equal(c.static_vfs[0].dev, "0000:05:08.1");
	assert_int_equal(c.static_vfs[0].relay_id, 1);

	cfg_defaults(&c);
	assert_int_equal(load_str(&c,
		"VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=2 0000:05:08.3=3)\n", &err), 0);
	assert_int_equal(c.nb_static_vfs, 3);
	assert_string_equal(c.static_vfs[0].dev, "0000:05:08.1");
	assert_string_equal(c.static_vfs[1].dev, "0000:05:08.2");
	assert_string_equal(c.static_vfs[2].dev, "0000:05:08.3");
	assert_int_equal(c.static_vfs[2].relay_id, 3);
	assert_int_equal(cfg_validate(&c, &err), 0);

	/* quoted elements, extra spaces, short PCI form, vdev devargs with '=' */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c,
		"VIRTIOFWD_STATIC_VFS=(  \"05:08.4=4\"   'net_memif0,role=client,socket=/tmp/m.sock,id=0=5' ) # x\n",
		&err), 0);
	assert_int_equal(c.nb_static_vfs, 2);
	assert_string_equal(c.static_vfs[0].dev, "0000:05:08.4");
	assert_int_equal(c.static_vfs[0].relay_id, 4);
	assert_string_equal(c.static_vfs[1].dev, "net_memif0,role=client,socket=/tmp/m.sock,id=0");
	assert_int_equal(c.static_vfs[1].relay_id, 5);

	/* a second assignment replaces the list */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c,
		"VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=2)\n"
		"VIRTIOFWD_STATIC_VFS=0000:05:08.3=3\n", &err), 0);
	assert_int_equal(c.nb_static_vfs, 1);
	assert_int_equal(c.static_vfs[0].relay_id, 3);

	/* an error leaves the list alone */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c,
		"VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=2)\n"
		"VIRTIOFWD_STATIC_VFS=(0000:05:08.3=3 0000:05:08.4=64)\n", &err), -1);
	assert_contains(err.msg, ":2: VIRTIOFWD_STATIC_VFS=0000:05:08.3=3 0000:05:08.4=64: relay id 64");
	assert_int_equal(c.nb_static_vfs, 2);

	/* empty array */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_STATIC_VFS=()\n", &err), 0);
	assert_int_equal(c.nb_static_vfs, 0);
}

static void test_static_vfs_too_many(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char val[65 * 16 + 1];
	size_t o = 0;
	unsigned i;

	(void)state;
	cfg_defaults(&c);
	for (i = 0; i < 64; i++)
		o += (size_t)snprintf(val + o, sizeof(val) - o, "%s0000:%02x:00.0=%u",
				      i ? " " : "", i, i);
	assert_int_equal(set(&c, "VIRTIOFWD_STATIC_VFS", val, &err), 0);
	assert_int_equal(c.nb_static_vfs, 64);
	assert_int_equal(cfg_validate(&c, &err), 0);
	snprintf(val + o, sizeof(val) - o, " 0000:ff:00.0=0");
	assert_int_equal(set(&c, "VIRTIOFWD_STATIC_VFS", val, &err), -1);
	assert_contains(err.msg, "more than 64");
	assert_int_equal(c.nb_static_vfs, 64);
}

static void test_file_cpu_pins_forms(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=0:1,1\n", &err), 0);
	assert_int_equal(c.pins[0][VFWD_VF_TO_VM], 1);
	assert_int_equal(c.pins[0][VFWD_VM_TO_VF], 1);
	assert_int_equal(c.pins[1][0], -1);

	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=(0:1,1 1:1,2 2:2,1)\n", &err), 0);
	assert_int_equal(c.pins[0][0], 1);
	assert_int_equal(c.pins[0][1], 1);
	assert_int_equal(c.pins[1][VFWD_VF_TO_VM], 1);
	assert_int_equal(c.pins[1][VFWD_VM_TO_VF], 2);
	assert_int_equal(c.pins[2][0], 2);
	assert_int_equal(c.pins[2][1], 1);
	assert_int_equal(c.pins[3][0], -1);
	assert_int_equal(cfg_validate(&c, &err), 0);

	/* semicolon list (quoted: ';' is special to the shell) */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=\"0:1;5:2,1\"\n", &err), 0);
	assert_int_equal(c.pins[0][0], 1);
	assert_int_equal(c.pins[5][0], 2);
	assert_int_equal(c.pins[5][1], 1);

	/* old "--virtio-cpu=" form inside the variable */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS='--virtio-cpu=7:2'\n", &err), 0);
	assert_int_equal(c.pins[7][0], 2);

	/* unquoted ';' is rejected (bash would run a command) */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=0:1;1:2\n", &err), -1);
	assert_contains(err.msg, ":1:");
	assert_contains(err.msg, "';'");

	/* a second assignment replaces */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=0:1\nVIRTIOFWD_CPU_PINS=1:2\n", &err), 0);
	assert_int_equal(c.pins[0][0], -1);
	assert_int_equal(c.pins[1][0], 2);

	/* relay ids out of range */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=64:1\n", &err), -1);
	assert_contains(err.msg, "VIRTIOFWD_CPU_PINS=64:1: relay id 64 is out of range 0-63");
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=4294967295:1\n", &err), -1);
	assert_contains(err.msg, "relay id 4294967295 is out of range 0-63");
	assert_int_equal(load_str(&c, "VIRTIOFWD_CPU_PINS=(0:1 0:2)\n", &err), -1);
	assert_contains(err.msg, "pinned twice");
	assert_pins_default(&c);
}

static void test_file_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "VIRTIOFWD_LOG_LEVEL = 5\n", ":1: no spaces" },
		{ "VIRTIOFWD_LOG_LEVEL 5\n", "expected VAR=value" },
		{ "\n\nfoo bar\n", ":3: " },
		{ "1ABC=2\n", "expected VAR=value" },
		{ "=2\n", "expected VAR=value" },
		{ "VIRTIOFWD_LOG_LEVEL=\"5\n", "unterminated double quote" },
		{ "VIRTIOFWD_LOG_LEVEL='5\n", "unterminated single quote" },
		{ "VIRTIOFWD_LOG_LEVEL=5 6\n", "unexpected text" },
		{ "VIRTIOFWD_LOG_LEVEL=$X\n", "not supported" },
		{ "VIRTIOFWD_LOG_LEVEL=\"$X\"\n", "not supported" },
		{ "VIRTIOFWD_LOG_LEVEL=`id`\n", "not supported" },
		{ "VIRTIOFWD_LOG_LEVEL=5\\\n", "continuation" },
		{ "VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1\n", "missing ')'" },
		{ "VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 # c)\n", "missing ')'" },
		{ "VIRTIOFWD_STATIC_VFS=(a (b))\n", "nested" },
		{ "VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1)x\n", "unexpected text" },
		{ "VIRTIOFWD_STATIC_VFS=(0000:05:08.*=1)\n", "expanded" },
		{ "VIRTIOFWD_LOG_LEVEL=(5 6)\n", "VIRTIOFWD_LOG_LEVEL is not an array variable" },
		{ "VIRTIOFWD_LOG_LEVEL=5&\n", "special" },
		{ "VIRTIOFWD_LOG_LEVEL+=5\n", "'+='" },
		{ "VIRTIOFWD_LOG_LEVEL=9\n", ":1: VIRTIOFWD_LOG_LEVEL=9: must be an integer 0-7" },
		{ "# ok\nVIRTIOFWD_LOG_LEVEL=5\nVIRTIOFWD_CPU_MASK=1,x\n",
		  ":3: VIRTIOFWD_CPU_MASK=1,x: 'x' is not a CPU number" },
	};
	struct vfwd_config c;
	struct cfg_err err;
	char path[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg_defaults(&c);
		if (load_str_path(&c, cases[i].text, &err, path, sizeof(path)) != -1) {
			print_error("accepted: %s", cases[i].text);
			fail();
		}
		assert_contains(err.msg, path);
		assert_contains(err.msg, cases[i].msg);
	}
	/* syntax errors name the expected form */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_LOG_LEVEL 5\n", &err), -1);
	assert_contains(err.msg, "VAR=value");
	assert_int_equal(load_str(&c, "X='a\n", &err), -1);
	assert_contains(err.msg, "VAR=value");
}

static void test_file_unknown_var_warns(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char path[64], want[128];

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(load_str_path(&c, "FOO=1\nVIRTIOFWD_LOG_LEVEL=4\nBAR=(a b c)\n"
				       "VIRTIOFWD_ZERO_COPY=1\n", &err, path, sizeof(path)), 0);
	assert_int_equal(c.log_level, 4);
	assert_int_equal(c.nb_warnings, 3);
	snprintf(want, sizeof(want), "%s:1: unknown variable FOO ignored", path);
	assert_string_equal(c.warnings[0], want);
	snprintf(want, sizeof(want), "%s:3: unknown variable BAR ignored", path);
	assert_string_equal(c.warnings[1], want);
	snprintf(want, sizeof(want), "%s:4: VIRTIOFWD_ZERO_COPY is not used", path);
	assert_contains(c.warnings[2], want);
}

static void test_file_missing(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, "/nonexistent/virtioforwarder", &err), -1);
	assert_string_equal(err.msg,
			    "cannot read /nonexistent/virtioforwarder: No such file or directory");
	assert_int_equal(cfg_load_file(&c, "/tmp", &err), -1);
	assert_contains(err.msg, "cannot read /tmp");
	assert_int_equal(cfg_load_file(&c, NULL, &err), -1);
}

static void test_file_long_line_and_nul(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char path[64];
	static char text[VFWD_CFG_LINE_MAX + 64];
	int rc;

	(void)state;
	/* exactly 4096 bytes: fine (a comment) */
	memset(text, 'x', sizeof(text));
	text[0] = '#';
	text[VFWD_CFG_LINE_MAX] = '\n';
	text[VFWD_CFG_LINE_MAX + 1] = '\0';
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, text, &err), 0);
	/* 4097: error */
	text[VFWD_CFG_LINE_MAX] = 'x';
	text[VFWD_CFG_LINE_MAX + 1] = '\n';
	text[VFWD_CFG_LINE_MAX + 2] = '\0';
	assert_int_equal(load_str(&c, text, &err), -1);
	assert_contains(err.msg, ":1: line is longer than 4096 bytes");
	/* the longest line holding a value */
	memset(text, 'a', sizeof(text));
	memcpy(text, "VIRTIOFWD_PID_DIR=/", 19);
	text[VFWD_CFG_LINE_MAX] = '\n';
	text[VFWD_CFG_LINE_MAX + 1] = '\0';
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, text, &err), 0);
	assert_int_equal(strlen(c.pid_dir), VFWD_CFG_LINE_MAX - 18);
	/* NUL byte */
	write_tmp(path, sizeof(path), "VIRTIOFWD_LOG_LEVEL=5\0x\n", 24);
	rc = cfg_load_file(&c, path, &err);
	unlink(path);
	assert_int_equal(rc, -1);
	assert_contains(err.msg, "NUL");
}

/* The shipped etc/virtioforwarder: bash syntax, and equal to the defaults
 * but for the port control and stats services being on and client mode
 * (the guide's packaged default; the command line defaults to server). */
static void shipped_path(char *buf, size_t cap)
{
	const char *env = getenv("VFWD_SHIPPED_CONFIG");
	const char *f = __FILE__, *cut = strstr(f, "tests/unit/test_config.c");

	if (env)
		snprintf(buf, cap, "%s", env);
	else if (cut)
		snprintf(buf, cap, "%.*setc/virtioforwarder", (int)(cut - f), f);
	else
		snprintf(buf, cap, "etc/virtioforwarder");
}

static void test_shipped_file(void **state)
{
	struct vfwd_config def, c;
	struct cfg_err err;
	char path[PATH_MAX];

	(void)state;
	shipped_path(path, sizeof(path));
	if (access(path, R_OK) != 0)
		skip();
	cfg_defaults(&def);
	cfg_defaults(&c);
	if (cfg_load_file(&c, path, &err) != 0) {
		print_error("%s\n", err.msg);
		fail();
	}
	assert_int_equal(c.nb_warnings, 0);
	assert_true(c.zmq_port_control_on);
	assert_true(c.zmq_stats_on);
	assert_false(c.zmq_core_sched_on);
	assert_false(c.zmq_config_on);
	assert_false(cfg_core_sched_active(&c));
	assert_true(c.vhost_client);
	/* everything else equals the defaults */
	c.zmq_port_control_on = c.zmq_stats_on = false;
	c.vhost_client = false;
	assert_string_equal(c.config_file, path);
	memset(c.config_file, 0, sizeof(c.config_file));
	memset(def.config_file, 0, sizeof(def.config_file));
	assert_memory_equal(&c, &def, sizeof(c));
	assert_int_equal(cfg_validate(&c, &err), 0);
}

static void test_shipped_file_bash_syntax(void **state)
{
	char path[PATH_MAX], cmd[PATH_MAX + 64];

	(void)state;
	shipped_path(path, sizeof(path));
	if (access(path, R_OK) != 0 || access("/bin/bash", X_OK) != 0)
		skip();
	snprintf(cmd, sizeof(cmd), "/bin/bash -n '%s'", path);
	assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* The command line                                                    */

static void test_args_all_options(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char buf[64];

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err,
		"-C", "3-5", "-M", "1", "-l", "7", "-p", "/run/p", "-H", "/dev/hugepages",
		"-uqemu", "--vhost-groupname=qemu", "-V", "/run/s", "-S", "s%u",
		"-c", "3:4,5", "-P", "0000:05:08.1=3", "-t", "0", "-d", "-J", "-R", "-T", "-a",
		"--server", "-v", "-h", "--config=/etc/x", NULL), 0);
	cfg_cpuset_format(&c.worker_cpus, buf, sizeof(buf));
	assert_string_equal(buf, "3,4,5");
	assert_int_equal(c.main_lcore, 1);
	assert_int_equal(c.log_level, 7);
	assert_string_equal(c.pid_dir, "/run/p");
	assert_string_equal(c.huge_dir, "/dev/hugepages");
	assert_string_equal(c.socket_owner, "qemu");
	assert_string_equal(c.socket_group, "qemu");
	assert_string_equal(c.socket_dir, "/run/s");
	assert_string_equal(c.socket_pattern, "s%u");
	assert_int_equal(c.pins[3][0], 4);
	assert_int_equal(c.pins[3][1], 5);
	assert_int_equal(c.nb_static_vfs, 1);
	assert_string_equal(c.vfio_vf_token, "00000000-0000-0000-0000-000000000000");
	assert_true(c.dynamic_sockets);
	assert_true(c.jumbo);
	assert_true(c.mrgbuf);
	assert_true(c.tso);
	assert_true(c.same_numa);
	assert_false(c.vhost_client);
	assert_true(c.show_version);
	assert_true(c.show_help);
	assert_string_equal(c.config_file, "/etc/x");
	assert_true(c.daemonize);
	assert_int_equal(c.nb_eal_args, 0);
	assert_int_equal(cfg_validate(&c, &err), 0);

	/* long forms */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err,
		"--cpus=6", "--master-lcore=2", "--loglevel", "1", "--pid-path=/a",
		"--huge-dir=/b", "--vhost-path=/c", "--vhost-socket=x%u.sock",
		"--virtio-cpu=0:6", "--add-pci-vf=05:08.1=0",
		"--vfio-vf-token=2ab74924-c335-45f4-9b16-8569e5b08258", "--vhostuser-client",
		"--dynamic-sockets", "--enable-jumbo", "--enable-mrgbuf", "--enable-tso",
		"--same-numa", "--version", "--help", "--config", "/etc/y", NULL), 0);
	assert_true(cfg_cpuset_has(&c.worker_cpus, 6));
	assert_int_equal(c.main_lcore, 2);
	assert_int_equal(c.log_level, 1);
	assert_string_equal(c.pid_dir, "/a");
	assert_string_equal(c.huge_dir, "/b");
	assert_string_equal(c.socket_dir, "/c");
	assert_string_equal(c.socket_pattern, "x%u.sock");
	assert_int_equal(c.pins[0][0], 6);
	assert_string_equal(c.static_vfs[0].dev, "0000:05:08.1");
	assert_true(c.vhost_client);
	assert_string_equal(c.config_file, "/etc/y");
	assert_int_equal(cfg_validate(&c, &err), 0);
}

static void test_args_errors_name_option(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "--cpus=abc", NULL), -1);
	assert_contains(err.msg, "--cpus=abc: 'abc' is not a CPU number");
	assert_int_equal(parse_args(&c, &err, "-C", "1,x", NULL), -1);
	assert_contains(err.msg, "--cpus=1,x: ");
	assert_int_equal(parse_args(&c, &err, "-l", "8", NULL), -1);
	assert_string_equal(err.msg, "--loglevel=8: must be an integer 0-7");
	assert_int_equal(parse_args(&c, &err, "-M", "99999999999999999999999", NULL), -1);
	assert_contains(err.msg, "--master-lcore=99999999999999999999999: ");
	assert_int_equal(parse_args(&c, &err, "-S", "x%s", NULL), -1);
	assert_contains(err.msg, "--vhost-socket=x%s: ");
	assert_int_equal(parse_args(&c, &err, "-S", "%u%u", NULL), -1);
	assert_int_equal(parse_args(&c, &err, "-c", "64:1", NULL), -1);
	assert_contains(err.msg, "--virtio-cpu=64:1: relay id 64 is out of range 0-63");
	assert_int_equal(parse_args(&c, &err, "-P", "0000:05:08.1=4294967295", NULL), -1);
	assert_contains(err.msg, "--add-pci-vf=0000:05:08.1=4294967295: relay id 4294967295");
	assert_int_equal(parse_args(&c, &err, "-t", "xyz", NULL), -1);
	assert_contains(err.msg, "--vfio-vf-token=xyz");
	assert_int_equal(parse_args(&c, &err, "-p", "rel", NULL), -1);
	assert_contains(err.msg, "--pid-path=rel");
	assert_int_equal(parse_args(&c, &err, "--zmq-stats-ep=foo", NULL), -1);
	assert_contains(err.msg, "--zmq-stats-ep=foo");

	/* unknown options, missing values, stray arguments */
	assert_int_equal(parse_args(&c, &err, "--bogus", NULL), -1);
	assert_contains(err.msg, "--bogus");
	assert_contains(err.msg, "--help");
	assert_int_equal(parse_args(&c, &err, "-x", NULL), -1);
	assert_contains(err.msg, "-x");
	assert_contains(err.msg, "--help");
	assert_int_equal(parse_args(&c, &err, "-C", NULL), -1);
	assert_contains(err.msg, "--cpus");
	assert_contains(err.msg, "needs a value");
	assert_contains(err.msg, "--help");
	assert_int_equal(parse_args(&c, &err, "--config", NULL), -1);
	assert_contains(err.msg, "--config needs a value");
	assert_int_equal(parse_args(&c, &err, "--pid-path", NULL), -1);
	assert_contains(err.msg, "--pid-path");
	assert_int_equal(parse_args(&c, &err, "--dynamic-sockets=1", NULL), -1);
	assert_contains(err.msg, "takes no value");
	assert_int_equal(parse_args(&c, &err, "stray", NULL), -1);
	assert_contains(err.msg, "'stray'");
	assert_contains(err.msg, "--help");
	/* a value separated from an optional-argument option: explained */
	assert_int_equal(parse_args(&c, &err, "-u", "root", NULL), -1);
	assert_contains(err.msg, "'root'");
	assert_contains(err.msg, "--vhost-username=root");
	assert_int_equal(parse_args(&c, &err, "--zmq-stats-ep", "ipc:///x", NULL), -1);
	assert_contains(err.msg, "--zmq-stats-ep=ipc:///x");
}

static void test_args_nodaemon(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, NULL), 0);
	assert_true(c.daemonize);
	assert_true(c.log_syslog);

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-n", NULL), 0);
	assert_false(c.daemonize);
	assert_false(c.log_syslog);

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "--nodaemon", NULL), 0);
	assert_false(c.daemonize);
	assert_false(c.log_syslog);

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-nlog_syslog", NULL), 0);
	assert_false(c.daemonize);
	assert_true(c.log_syslog);

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "--nodaemon=log_syslog", NULL), 0);
	assert_false(c.daemonize);
	assert_true(c.log_syslog);

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-n", "log_syslog", NULL), -1);
	assert_contains(err.msg, "--nodaemon=log_syslog");

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "--nodaemon=stderr", NULL), -1);
	assert_contains(err.msg, "--nodaemon=stderr");
	assert_contains(err.msg, "log_syslog");

	/* -nd: optional argument "d" */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-nd", NULL), -1);
	/* -dn: both flags */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-dn", NULL), 0);
	assert_true(c.dynamic_sockets);
	assert_false(c.daemonize);
}

static void test_args_optional_values(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-u", "-g", NULL), 0);
	assert_string_equal(c.socket_owner, "");
	assert_string_equal(c.socket_group, "");
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "--vhost-username", "--vhost-groupname", NULL), 0);
	assert_string_equal(c.socket_owner, "");
	assert_string_equal(c.socket_group, "");
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-uroot", "-gwheel", NULL), 0);
	assert_string_equal(c.socket_owner, "root");
	assert_string_equal(c.socket_group, "wheel");
	assert_int_equal(parse_args(&c, &err, "--vhost-username=", NULL), 0);
	assert_string_equal(c.socket_owner, "");

	/* ZeroMQ: bare = default endpoint, on */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-Z", "-z", "-Y", NULL), 0);
	assert_true(c.zmq_port_control_on);
	assert_true(c.zmq_stats_on);
	assert_true(c.zmq_config_on);
	assert_false(c.zmq_core_sched_on);
	assert_false(cfg_core_sched_active(&c));
	assert_string_equal(c.zmq_port_control_ep, VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP);
	assert_string_equal(c.zmq_stats_ep, VFWD_DEFAULT_ZMQ_STATS_EP);
	assert_string_equal(c.zmq_config_ep, VFWD_DEFAULT_ZMQ_CONFIG_EP);

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-s", NULL), 0);
	assert_true(c.zmq_core_sched_on);
	assert_true(c.core_sched_enable);
	assert_true(cfg_core_sched_active(&c));
	assert_string_equal(c.zmq_core_sched_ep, VFWD_DEFAULT_ZMQ_CORE_SCHED_EP);

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "--zmq-port-control-ep=tcp://127.0.0.1:7000",
				    "-zipc:///tmp/st", "--zmq-core-sched-ep=inproc://cs",
				    "-Yipc:///tmp/cf", NULL), 0);
	assert_string_equal(c.zmq_port_control_ep, "tcp://127.0.0.1:7000");
	assert_string_equal(c.zmq_stats_ep, "ipc:///tmp/st");
	assert_string_equal(c.zmq_core_sched_ep, "inproc://cs");
	assert_string_equal(c.zmq_config_ep, "ipc:///tmp/cf");
	assert_true(c.zmq_port_control_on && c.zmq_stats_on && c.zmq_config_on);
	assert_true(cfg_core_sched_active(&c));

	/* bare option after the file set another endpoint: default endpoint */
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_ZMQ_STATS_EP", "ipc:///tmp/other", &err), 0);
	assert_int_equal(parse_args(&c, &err, "-z", NULL), 0);
	assert_string_equal(c.zmq_stats_ep, VFWD_DEFAULT_ZMQ_STATS_EP);
	/* explicit empty value: off */
	assert_int_equal(parse_args(&c, &err, "--zmq-stats-ep=", NULL), 0);
	assert_false(c.zmq_stats_on);
}

static void test_args_pins_and_vfs(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-C", "1-4", "-c", "0:1,2;1:3", "-c", "2:4",
				    "--virtio-cpu=3:1;4:2,3", NULL), 0);
	assert_int_equal(c.pins[0][VFWD_VF_TO_VM], 1);
	assert_int_equal(c.pins[0][VFWD_VM_TO_VF], 2);
	assert_int_equal(c.pins[1][0], 3);
	assert_int_equal(c.pins[2][0], 4);
	assert_int_equal(c.pins[3][0], 1);
	assert_int_equal(c.pins[4][1], 3);
	assert_int_equal(cfg_validate(&c, &err), 0);
	/* the same relay twice across options */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-c", "0:1", "-c", "0:2", NULL), -1);
	assert_contains(err.msg, "pinned twice");

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-P", "0000:05:08.1=1",
				    "--add-pci-vf=net_memif0,role=client,socket=/tmp/m.sock,id=0=3",
				    "-P05:08.2=2", NULL), 0);
	assert_int_equal(c.nb_static_vfs, 3);
	assert_string_equal(c.static_vfs[1].dev, "net_memif0,role=client,socket=/tmp/m.sock,id=0");
	assert_int_equal(c.static_vfs[1].relay_id, 3);
	assert_string_equal(c.static_vfs[2].dev, "0000:05:08.2");
}

static void test_args_override_file(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char buf[64];

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(load_str(&c,
		"VIRTIOFWD_CPU_MASK=1,2\n"
		"VIRTIOFWD_LOG_LEVEL=3\n"
		"VIRTIOFWD_VHOST_CLIENT=true\n"
		"VIRTIOFWD_CPU_PINS=(0:1 1:2)\n"
		"VIRTIOFWD_STATIC_VFS=(0000:05:08.1=1 0000:05:08.2=2)\n"
		"VIRTIOFWD_SOCKET_OWNER=qemu\n"
		"VIRTIOFWD_ZMQ_STATS_EP=\n", &err), 0);
	assert_int_equal(parse_args(&c, &err, "-C", "3,4", "-l", "5", "--server",
				    "-c", "2:3", "-P", "0000:06:00.0=7", "-u", "-z", NULL), 0);
	cfg_cpuset_format(&c.worker_cpus, buf, sizeof(buf));
	assert_string_equal(buf, "3,4");
	assert_int_equal(c.log_level, 5);
	assert_false(c.vhost_client);
	/* -c replaces the file's pins, -P the file's VFs */
	assert_int_equal(c.pins[0][0], -1);
	assert_int_equal(c.pins[1][0], -1);
	assert_int_equal(c.pins[2][0], 3);
	assert_int_equal(c.nb_static_vfs, 1);
	assert_int_equal(c.static_vfs[0].relay_id, 7);
	assert_string_equal(c.socket_owner, "");
	assert_true(c.zmq_stats_on);
	assert_int_equal(cfg_validate(&c, &err), 0);

	/* -i after the file said server */
	cfg_defaults(&c);
	assert_int_equal(load_str(&c, "VIRTIOFWD_VHOST_CLIENT=false\n", &err), 0);
	assert_false(c.vhost_client);
	assert_int_equal(parse_args(&c, &err, "-i", NULL), 0);
	assert_true(c.vhost_client);
}

static void test_args_eal(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-n", "--", "--vdev", "net_null0", "-l", "9", NULL), 0);
	assert_false(c.daemonize);
	assert_int_equal(c.log_level, 6);
	assert_int_equal(c.nb_eal_args, 4);
	assert_string_equal(c.eal_args[0], "--vdev");
	assert_string_equal(c.eal_args[1], "net_null0");
	assert_string_equal(c.eal_args[2], "-l");
	assert_string_equal(c.eal_args[3], "9");

	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "--", NULL), 0);
	assert_int_equal(c.nb_eal_args, 0);

	/* -- as the value of an option that needs one */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-p", "--", NULL), -1);

	/* too many */
	{
		char *argv[VFWD_MAX_EAL_ARGS + 4];
		int i, argc = 0;

		argv[argc++] = (char *)"vfwd";
		argv[argc++] = (char *)"--";
		for (i = 0; i <= VFWD_MAX_EAL_ARGS; i++)
			argv[argc++] = (char *)"x";
		argv[argc] = NULL;
		cfg_defaults(&c);
		assert_int_equal(cfg_parse_args(&c, argc, argv, &err), -1);
		assert_contains(err.msg, "EAL");
		assert_int_equal(cfg_parse_args(&c, argc - 1, argv, &err), 0);
		assert_int_equal(c.nb_eal_args, VFWD_MAX_EAL_ARGS);
	}
}

static void test_args_repeatable(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	/* called several times: getopt state is reset each time */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-l", "1", NULL), 0);
	assert_int_equal(parse_args(&c, &err, "-l", "2", NULL), 0);
	assert_int_equal(c.log_level, 2);
	assert_int_equal(parse_args(&c, &err, "-dx", NULL), -1);
	assert_int_equal(parse_args(&c, &err, "-l", "3", NULL), 0);
	assert_int_equal(c.log_level, 3);
	/* argc 0 / no argv */
	assert_int_equal(cfg_parse_args(&c, 0, NULL, &err), 0);
}

static void test_config_path_from_args(void **state)
{
	char *a1[] = { (char *)"v", (char *)"-n", (char *)"--config=/etc/a", NULL };
	char *a2[] = { (char *)"v", (char *)"--config", (char *)"/etc/b", (char *)"-l", (char *)"3", NULL };
	char *a3[] = { (char *)"v", (char *)"-l", (char *)"3", NULL };
	char *a4[] = { (char *)"v", (char *)"--", (char *)"--config=/etc/c", NULL };
	char *a5[] = { (char *)"v", (char *)"-p", (char *)"--config=/x", NULL };
	char *a6[] = { (char *)"v", (char *)"--bogus", (char *)"--conf=/etc/d", NULL };
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	assert_string_equal(cfg_config_path_from_args(3, a1), "/etc/a");
	assert_string_equal(cfg_config_path_from_args(5, a2), "/etc/b");
	assert_null(cfg_config_path_from_args(3, a3));
	assert_null(cfg_config_path_from_args(3, a4));
	assert_null(cfg_config_path_from_args(3, a5));
	assert_string_equal(cfg_config_path_from_args(3, a6), "/etc/d");
	assert_null(cfg_config_path_from_args(0, NULL));
	/* argv untouched: cfg_parse_args still sees the same thing */
	cfg_defaults(&c);
	assert_int_equal(cfg_parse_args(&c, 5, a2, &err), 0);
	assert_int_equal(c.log_level, 3);
	assert_string_equal(c.config_file, "/etc/b");
}

static void test_usage(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	static const char *const must[] = {
		"--cpus", "VIRTIOFWD_CPU_MASK", "--master-lcore", "VIRTIOFWD_MASTER_LCORE",
		"--nodaemon", "--loglevel", "VIRTIOFWD_LOG_LEVEL", "--pid-path", "VIRTIOFWD_PID_DIR",
		"--huge-dir", "VIRTIOFWD_HUGETLBFS_MOUNT_POINT", "--vhost-username",
		"VIRTIOFWD_SOCKET_OWNER", "--vhost-groupname", "VIRTIOFWD_SOCKET_GROUP",
		"--vhost-path", "VIRTIOFWD_SOCKET_DIR", "--vhost-socket",
		"VIRTIOFWD_SOCKET_FNAME_PATTERN", "--virtio-cpu", "VIRTIOFWD_CPU_PINS",
		"--add-pci-vf", "VIRTIOFWD_STATIC_VFS", "--vfio-vf-token", "VIRTIOFWD_VFIO_VF_TOKEN",
		"--vhostuser-client", "VIRTIOFWD_VHOST_CLIENT", "--server", "--dynamic-sockets",
		"VIRTIOFWD_DYNAMIC_SOCKETS", "--enable-jumbo", "VIRTIOFWD_JUMBO", "--enable-mrgbuf",
		"VIRTIOFWD_MRGBUF", "--enable-tso", "VIRTIOFWD_TSO", "--vf-queues", "VIRTIOFWD_VF_QUEUES",
		"--same-numa",
		"VIRTIOFWD_CPU_NIC_SAME_NUMA", "--zmq-port-control-ep", "VIRTIOFWD_ZMQ_PORT_CONTROL_EP",
		"--zmq-stats-ep", "VIRTIOFWD_ZMQ_STATS_EP", "--zmq-core-sched-ep",
		"VIRTIOFWD_ZMQ_CORE_SCHED_EP", "VIO4WD_CORE_SCHED_ENABLE", "--zmq-config-ep",
		"VIRTIOFWD_ZMQ_CONFIG_EP", "--config", "--version", "--help", "myprog",
		"virtio-forwarder%u.sock",
	};
	size_t i;

	(void)state;
	assert_non_null(f);
	cfg_usage(f, "myprog");
	fclose(f);
	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		assert_contains(text, must[i]);
	free(text);
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */

static void test_validate_errors(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_MASTER_LCORE", "1", &err), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_string_equal(err.msg,
			    "VIRTIOFWD_MASTER_LCORE=1 is also a worker CPU in VIRTIOFWD_CPU_MASK=1,2; choose a CPU outside the mask");

	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_CPU_PINS", "3:5", &err), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_string_equal(err.msg,
			    "VIRTIOFWD_CPU_PINS: relay 3 pinned to CPU 5, which is not a worker CPU (VIRTIOFWD_CPU_MASK=1,2)");
	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_CPU_PINS", "3:1,0", &err), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "relay 3 pinned to CPU 0");

	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_STATIC_VFS", "0000:05:08.1=1 0000:05:08.2=1", &err), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "VIRTIOFWD_STATIC_VFS: relay 1 is given twice");

	cfg_defaults(&c);
	assert_int_equal(set(&c, "VIRTIOFWD_STATIC_VFS", "0000:05:08.1=1 05:08.1=2", &err), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "device 0000:05:08.1 is listed twice");

	/* -P relay duplicated across options */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-P", "0000:05:08.1=1", "-P", "0000:05:08.2=1", NULL), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "relay 1 is given twice");

	cfg_defaults(&c);
	memset(&c.worker_cpus, 0, sizeof(c.worker_cpus));
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "VIRTIOFWD_CPU_MASK");

	cfg_defaults(&c);
	c.log_level = 8;
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "VIRTIOFWD_LOG_LEVEL=8");
	cfg_defaults(&c);
	c.core_sched_log_level = -1;
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "VIO4WD_CORE_SCHED_LOG_LEVEL=-1");
	cfg_defaults(&c);
	c.main_lcore = -3;
	assert_int_equal(cfg_validate(&c, &err), -1);
	cfg_defaults(&c);
	c.pins[2][1] = 4000;
	assert_int_equal(cfg_validate(&c, &err), -1);
	cfg_defaults(&c);
	snprintf(c.socket_pattern, sizeof(c.socket_pattern), "%%s");
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "VIRTIOFWD_SOCKET_FNAME_PATTERN");

	/* main lcore given on the command line in the mask */
	cfg_defaults(&c);
	assert_int_equal(parse_args(&c, &err, "-C", "0x6", "-M", "2", NULL), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "MASTER_LCORE=2");
}

static void test_socket_path(void **state)
{
	struct vfwd_config c;
	struct cfg_err err;
	char buf[128], dir[200];

	(void)state;
	cfg_defaults(&c);
	assert_int_equal(cfg_socket_path(&c, 7, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/virtio-forwarder7.sock");
	assert_int_equal(cfg_socket_path(&c, 63, buf, 10), -1);
	assert_string_equal(buf, "");
	snprintf(c.socket_pattern, sizeof(c.socket_pattern), "x%%n%%u");
	assert_int_equal(cfg_socket_path(&c, 7, buf, sizeof(buf)), -1);

	/* a socket directory too long for a unix socket path */
	cfg_defaults(&c);
	memset(dir, 'd', sizeof(dir));
	dir[0] = '/';
	dir[100] = '\0';
	assert_int_equal(set(&c, "VIRTIOFWD_SOCKET_DIR", dir, &err), 0);
	assert_int_equal(cfg_validate(&c, &err), -1);
	assert_contains(err.msg, "VIRTIOFWD_SOCKET_DIR=");
	assert_contains(err.msg, "unix");
	/* ...which does not matter with dynamic sockets */
	c.dynamic_sockets = true;
	assert_int_equal(cfg_validate(&c, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_validate),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_cpuset),
		cmocka_unit_test(test_cpuset_format_truncates),
		cmocka_unit_test(test_parse_pin),
		cmocka_unit_test(test_canon_pci),
		cmocka_unit_test(test_canon_pci_fn_hex),
		cmocka_unit_test(test_parse_static_vf),
		cmocka_unit_test(test_every_var_good_and_bad),
		cmocka_unit_test(test_exact_messages),
		cmocka_unit_test(test_var_values_applied),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_vfio_token),
		cmocka_unit_test(test_zmq_endpoints),
		cmocka_unit_test(test_long_paths),
		cmocka_unit_test(test_obsolete_and_unknown_vars),
		cmocka_unit_test(test_file_basic_syntax),
		cmocka_unit_test(test_file_ok_and_config_file_recorded),
		cmocka_unit_test(test_file_static_vfs_forms),
		cmocka_unit_test(test_static_vfs_too_many),
		cmocka_unit_test(test_file_cpu_pins_forms),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_unknown_var_warns),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_file_long_line_and_nul),
		cmocka_unit_test(test_shipped_file),
		cmocka_unit_test(test_shipped_file_bash_syntax),
		cmocka_unit_test(test_args_all_options),
		cmocka_unit_test(test_args_errors_name_option),
		cmocka_unit_test(test_args_nodaemon),
		cmocka_unit_test(test_args_optional_values),
		cmocka_unit_test(test_args_pins_and_vfs),
		cmocka_unit_test(test_args_override_file),
		cmocka_unit_test(test_args_eal),
		cmocka_unit_test(test_args_repeatable),
		cmocka_unit_test(test_config_path_from_args),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_validate_errors),
		cmocka_unit_test(test_socket_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
