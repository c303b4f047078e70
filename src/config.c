/* config: defaults, the /etc/default/virtioforwarder file, the command line
 * and validation. See config.h. Pure C (libc only).
 *
 * One setter per setting, shared by the file variable and the command-line
 * option: a setter gets a label (the variable name, or "--long-option") and
 * the value, and on error writes "LABEL=VALUE: what is wrong; what is valid".
 */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_MAX 160 /* how much of a bad value is quoted in a message */
#define SUN_PATH_MAX 108 /* sizeof(struct sockaddr_un.sun_path) on Linux */

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static void __attribute__((format(printf, 2, 3)))
set_err(struct cfg_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* A printable, bounded copy of s[0..n) for quoting in a message. */
static const char *show_n(const char *s, size_t n, char *buf, size_t cap)
{
	size_t i, o = 0;

	if (cap < 5) {
		if (cap)
			buf[0] = '\0';
		return buf;
	}
	for (i = 0; i < n && s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 1 >= cap - 3) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

static const char *show(const char *s, char *buf, size_t cap)
{
	return show_n(s, s ? strlen(s) : 0, buf, cap);
}

/* "LABEL=VALUE: <fmt>" */
static void __attribute__((format(printf, 4, 5)))
val_err(struct cfg_err *err, const char *label, const char *val,
	const char *fmt, ...)
{
	char v[SHOW_MAX], m[VFWD_ERR_MAX];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	set_err(err, "%s=%s: %s", label, show(val, v, sizeof(v)), m);
}

static void __attribute__((format(printf, 2, 3)))
add_warning(struct vfwd_config *c, const char *fmt, ...)
{
	va_list ap;

	if (c->nb_warnings >= VFWD_MAX_WARNINGS)
		return;
	if (c->nb_warnings == VFWD_MAX_WARNINGS - 1) {
		snprintf(c->warnings[c->nb_warnings++], VFWD_ERR_MAX,
			 "too many warnings; further ones suppressed");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(c->warnings[c->nb_warnings++], VFWD_ERR_MAX, fmt, ap);
	va_end(ap);
}

/* Bounded copy; -1 (dst untouched) if src does not fit. */
static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Numbers                                                             */

/* Decimal digits s[0..n) -> *out. 0 ok, -1 not a number, -2 > max. */
static int parse_dec(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	char buf[32];
	char *end;
	unsigned long v;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	while (n > 1 && *s == '0') {
		s++;
		n--;
	}
	if (n >= sizeof(buf))
		return -2;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno == ERANGE || *end != '\0')
		return -2;
	if (v > max)
		return -2;
	*out = v;
	return 0;
}

static int parse_dec_str(const char *s, unsigned long max, unsigned long *out)
{
	return parse_dec(s, strlen(s), max, out);
}

/* A finite decimal number, whole string. */
static int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* CPU sets                                                            */

#define CPUSET_HINT "use a comma-separated list like 1,2 or a hex mask like 0x6"

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int parse_cpumask_hex(const char *s, struct cfg_cpuset *out, struct cfg_err *err)
{
	const char *digits = s + 2;
	size_t n = strlen(digits), i;
	char b[SHOW_MAX];

	if (n == 0) {
		set_err(err, "'%s' has no hex digits; " CPUSET_HINT, show(s, b, sizeof(b)));
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* digit i counted from the right covers bits 4i..4i+3 */
		int v = hexval((unsigned char)digits[n - 1 - i]);
		unsigned bit;

		if (v < 0) {
			set_err(err, "'%s' is not a hex mask; " CPUSET_HINT,
				show(s, b, sizeof(b)));
			return -1;
		}
		for (bit = 0; bit < 4; bit++) {
			unsigned long cpu = 4UL * i + bit;

			if (!(v & (1 << bit)))
				continue;
			if (cpu >= VFWD_MAX_CPUS) {
				set_err(err, "mask selects CPU %lu; CPUs must be 0-%d",
					cpu, VFWD_MAX_CPUS - 1);
				return -1;
			}
			cfg_cpuset_add(out, (unsigned)cpu);
		}
	}
	return 0;
}

int cfg_parse_cpuset(const char *s, struct cfg_cpuset *out, struct cfg_err *err)
{
	struct cfg_cpuset set;
	const char *p;
	char b[SHOW_MAX], b2[SHOW_MAX];

	memset(&set, 0, sizeof(set));
	if (!s)
		s = "";
	while (is_blank(*s))
		s++;
	if (!*s) {
		set_err(err, "empty CPU list; " CPUSET_HINT);
		return -1;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (parse_cpumask_hex(s, &set, err) < 0)
			return -1;
	} else {
		p = s;
		for (;;) {
			const char *tok = p, *end = strchr(p, ','), *dash;
			size_t len;
			unsigned long lo, hi, cpu;
			int r1, r2;

			if (!end)
				end = p + strlen(p);
			while (tok < end && is_blank(*tok))
				tok++;
			len = (size_t)(end - tok);
			while (len && is_blank(tok[len - 1]))
				len--;
			if (len == 0) {
				set_err(err, "empty element in CPU list; " CPUSET_HINT);
				return -1;
			}
			dash = memchr(tok, '-', len);
			if (dash) {
				r1 = parse_dec(tok, (size_t)(dash - tok), VFWD_MAX_CPUS - 1, &lo);
				r2 = parse_dec(dash + 1, len - (size_t)(dash - tok) - 1,
					       VFWD_MAX_CPUS - 1, &hi);
			} else {
				r1 = r2 = parse_dec(tok, len, VFWD_MAX_CPUS - 1, &lo);
				hi = lo;
			}
			if (r1 == -1 || r2 == -1) {
				set_err(err, "'%s' is not a CPU number; " CPUSET_HINT,
					show_n(tok, len, b, sizeof(b)));
				return -1;
			}
			if (r1 == -2 || r2 == -2) {
				set_err(err, "CPU %s is out of range 0-%d",
					show_n(tok, len, b, sizeof(b)), VFWD_MAX_CPUS - 1);
				return -1;
			}
			if (lo > hi) {
				set_err(err, "range %s is reversed; write it low-high",
					show_n(tok, len, b, sizeof(b)));
				return -1;
			}
			for (cpu = lo; cpu <= hi; cpu++)
				cfg_cpuset_add(&set, (unsigned)cpu);
			if (!*end)
				break;
			p = end + 1;
		}
	}
	if (cfg_cpuset_count(&set) == 0) {
		set_err(err, "'%s' selects no CPU; " CPUSET_HINT, show(s, b2, sizeof(b2)));
		return -1;
	}
	*out = set;
	return 0;
}

unsigned cfg_cpuset_count(const struct cfg_cpuset *s)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < sizeof(s->bits) / sizeof(s->bits[0]); i++)
		n += (unsigned)__builtin_popcountll(s->bits[i]);
	return n;
}

void cfg_cpuset_format(const struct cfg_cpuset *s, char *buf, size_t len)
{
	size_t o = 0;
	unsigned cpu;

	if (!buf || len == 0)
		return;
	buf[0] = '\0';
	for (cpu = 0; cpu < VFWD_MAX_CPUS; cpu++) {
		char num[16];
		int n;

		if (!cfg_cpuset_has(s, cpu))
			continue;
		n = snprintf(num, sizeof(num), "%s%u", o ? "," : "", cpu);
		if (n < 0 || o + (size_t)n >= len) {
			/* does not fit: end with "..." if there is room */
			if (o + 3 < len) {
				memcpy(buf + o, "...", 4);
			} else if (len >= 4) {
				memcpy(buf + len - 4, "...", 4);
			}
			return;
		}
		memcpy(buf + o, num, (size_t)n + 1);
		o += (size_t)n;
	}
}

/* ------------------------------------------------------------------ */
/* Pins, PCI addresses, static VFs, booleans                           */

#define PIN_HINT "use RELAY:CPU or RELAY:CPU1,CPU2 (CPU1 serves VF->VM, CPU2 VM->VF), like 0:1,2"

static int parse_relay_id(const char *s, size_t n, unsigned *out, struct cfg_err *err,
			  const char *hint)
{
	unsigned long v;
	char b[SHOW_MAX];
	int r = parse_dec(s, n, VFWD_MAX_RELAYS - 1, &v);

	if (r == -1) {
		set_err(err, "'%s' is not a relay id; %s", show_n(s, n, b, sizeof(b)), hint);
		return -1;
	}
	if (r == -2) {
		set_err(err, "relay id %s is out of range 0-%d",
			show_n(s, n, b, sizeof(b)), VFWD_MAX_RELAYS - 1);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_cpu_num(const char *s, size_t n, int *out, struct cfg_err *err)
{
	unsigned long v;
	char b[SHOW_MAX];
	int r = parse_dec(s, n, VFWD_MAX_CPUS - 1, &v);

	if (r == -1) {
		set_err(err, "'%s' is not a CPU number; " PIN_HINT, show_n(s, n, b, sizeof(b)));
		return -1;
	}
	if (r == -2) {
		set_err(err, "CPU %s is out of range 0-%d", show_n(s, n, b, sizeof(b)),
			VFWD_MAX_CPUS - 1);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int parse_pin_n(const char *s, size_t n, unsigned *relay, int cpus[2],
		       struct cfg_err *err)
{
	const char *colon = memchr(s, ':', n), *comma, *cend = s + n;
	char b[SHOW_MAX];
	unsigned r;
	int c0, c1;

	if (!colon) {
		set_err(err, "'%s' is not a pin; " PIN_HINT, show_n(s, n, b, sizeof(b)));
		return -1;
	}
	if (parse_relay_id(s, (size_t)(colon - s), &r, err, PIN_HINT) < 0)
		return -1;
	comma = memchr(colon + 1, ',', (size_t)(cend - colon - 1));
	if (!comma) {
		if (parse_cpu_num(colon + 1, (size_t)(cend - colon - 1), &c0, err) < 0)
			return -1;
		c1 = c0;
	} else {
		if (memchr(comma + 1, ',', (size_t)(cend - comma - 1))) {
			set_err(err, "'%s' gives more than two CPUs; " PIN_HINT,
				show_n(s, n, b, sizeof(b)));
			return -1;
		}
		if (parse_cpu_num(colon + 1, (size_t)(comma - colon - 1), &c0, err) < 0 ||
		    parse_cpu_num(comma + 1, (size_t)(cend - comma - 1), &c1, err) < 0)
			return -1;
	}
	*relay = r;
	cpus[0] = c0;
	cpus[1] = c1;
	return 0;
}

int cfg_parse_pin(const char *s, unsigned *relay, int cpus[2], struct cfg_err *err)
{
	if (!s)
		s = "";
	return parse_pin_n(s, strlen(s), relay, cpus, err);
}

/* Exactly ndigits hex digits at s; returns value or -1. */
static long hexfield(const char *s, size_t ndigits)
{
	long v = 0;
	size_t i;

	for (i = 0; i < ndigits; i++) {
		int h = hexval((unsigned char)s[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

int cfg_canon_pci(const char *s, char *out, size_t outlen)
{
	long dom = 0, bus, slot, fn;
	size_t n;

	if (!s || !out || outlen < 13)
		return -1;
	n = strlen(s);
	if (n == 12) {
		if (s[4] != ':')
			return -1;
		dom = hexfield(s, 4);
		if (dom < 0)
			return -1;
		s += 5;
	} else if (n != 7) {
		return -1;
	}
	/* s is now "bb:ss.f" */
	if (s[2] != ':' || s[5] != '.')
		return -1;
	bus = hexfield(s, 2);
	slot = hexfield(s + 3, 2);
	fn = hexfield(s + 6, 1);
	if (bus < 0 || slot < 0 || fn < 0 || slot >= 0x20 || fn >= 8)
		return -1;
	snprintf(out, outlen, "%04lx:%02lx:%02lx.%lx", dom, bus, slot, fn);
	return 0;
}

#define VF_HINT "use PCI=RELAY_ID with a PCI address like 0000:05:08.1 or 05:08.1 " \
	"(slot 00-1f, function 0-7), or DEVARGS=RELAY_ID with DPDK vdev devargs " \
	"starting with net_, like net_memif0,role=client,id=0=3; RELAY_ID is 0-63"

static int parse_static_vf_n(const char *s, size_t n, struct cfg_static_vf *out,
			     struct cfg_err *err)
{
	struct cfg_static_vf vf;
	const char *eq = NULL;
	size_t i, dlen;
	char b[SHOW_MAX];

	memset(&vf, 0, sizeof(vf));
	for (i = 0; i < n; i++)
		if (s[i] == '=')
			eq = s + i;
	if (!eq) {
		set_err(err, "'%s' has no '=RELAY_ID'; " VF_HINT, show_n(s, n, b, sizeof(b)));
		return -1;
	}
	dlen = (size_t)(eq - s);
	if (dlen == 0) {
		set_err(err, "no device before '='; " VF_HINT);
		return -1;
	}
	if (parse_relay_id(eq + 1, n - dlen - 1, &vf.relay_id, err, VF_HINT) < 0)
		return -1;
	if (dlen >= sizeof(vf.dev)) {
		set_err(err, "device '%s' is longer than %zu characters",
			show_n(s, dlen, b, sizeof(b)), sizeof(vf.dev) - 1);
		return -1;
	}
	memcpy(vf.dev, s, dlen);
	vf.dev[dlen] = '\0';
	if (cfg_canon_pci(vf.dev, vf.dev, sizeof(vf.dev)) < 0) {
		bool ok = dlen > 4 && strncmp(vf.dev, "net_", 4) == 0;

		for (i = 0; ok && i < dlen; i++) {
			unsigned char ch = (unsigned char)vf.dev[i];

			if (ch <= 0x20 || ch == 0x7f)
				ok = false;
		}
		if (!ok) {
			set_err(err, "'%s' is neither a PCI address nor vdev devargs; " VF_HINT,
				show_n(s, dlen, b, sizeof(b)));
			return -1;
		}
	}
	*out = vf;
	return 0;
}

int cfg_parse_static_vf(const char *s, struct cfg_static_vf *out, struct cfg_err *err)
{
	if (!s)
		s = "";
	return parse_static_vf_n(s, strlen(s), out, err);
}

int cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "y", "on", "1" };
	static const char *const no[] = { "false", "no", "n", "off", "0" };
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Setters: (config, label, value, err). Value never NULL.             */

typedef int (*setter_fn)(struct vfwd_config *c, const char *label, const char *val,
			 struct cfg_err *err);

static int set_cpu_mask(struct vfwd_config *c, const char *label, const char *val,
			struct cfg_err *err)
{
	struct cfg_err sub;

	if (cfg_parse_cpuset(val, &c->worker_cpus, &sub) < 0) {
		val_err(err, label, val, "%s", sub.msg);
		return -1;
	}
	return 0;
}

static int set_main_lcore(struct vfwd_config *c, const char *label, const char *val,
			  struct cfg_err *err)
{
	unsigned long v;

	if (parse_dec_str(val, VFWD_MAX_CPUS - 1, &v) < 0) {
		val_err(err, label, val, "must be a CPU number 0-%d", VFWD_MAX_CPUS - 1);
		return -1;
	}
	c->main_lcore = (int)v;
	return 0;
}

static int set_vf_queues(struct vfwd_config *c, const char *label, const char *val,
			 struct cfg_err *err)
{
	unsigned long v;

	if (parse_dec_str(val, VFWD_MAX_VF_QUEUES, &v) < 0 || v == 0) {
		val_err(err, label, val, "must be a number of queue pairs 1-%d, like the "
			"queues of the guests' virtio devices", VFWD_MAX_VF_QUEUES);
		return -1;
	}
	c->vf_queues = (unsigned)v;
	return 0;
}

static int set_level(int *dst, const char *label, const char *val, struct cfg_err *err)
{
	unsigned long v;

	if (parse_dec_str(val, 7, &v) < 0) {
		val_err(err, label, val, "must be an integer 0-7");
		return -1;
	}
	*dst = (int)v;
	return 0;
}

static int set_log_level(struct vfwd_config *c, const char *label, const char *val,
			 struct cfg_err *err)
{
	return set_level(&c->log_level, label, val, err);
}

static int set_cs_log_level(struct vfwd_config *c, const char *label, const char *val,
			    struct cfg_err *err)
{
	return set_level(&c->core_sched_log_level, label, val, err);
}

static bool has_ctrl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int set_path(char *dst, size_t cap, const char *label, const char *val,
		    struct cfg_err *err)
{
	if (val[0] != '/') {
		val_err(err, label, val, "must be an absolute path (starting with /)");
		return -1;
	}
	if (has_ctrl(val)) {
		val_err(err, label, val, "must not contain control characters");
		return -1;
	}
	if (copy_str(dst, cap, val) < 0) {
		val_err(err, label, val, "path is longer than %zu characters", cap - 1);
		return -1;
	}
	return 0;
}

static int set_pid_dir(struct vfwd_config *c, const char *label, const char *val,
		       struct cfg_err *err)
{
	return set_path(c->pid_dir, sizeof(c->pid_dir), label, val, err);
}

static int set_huge_dir(struct vfwd_config *c, const char *label, const char *val,
			struct cfg_err *err)
{
	return set_path(c->huge_dir, sizeof(c->huge_dir), label, val, err);
}

static int set_socket_dir(struct vfwd_config *c, const char *label, const char *val,
			  struct cfg_err *err)
{
	return set_path(c->socket_dir, sizeof(c->socket_dir), label, val, err);
}

/* User or group name; "" = inherit the process's. */
static int set_account(char *dst, size_t cap, const char *label, const char *val,
		       struct cfg_err *err)
{
	const char *p;

	for (p = val; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= 0x20 || ch == 0x7f || ch == ':' || ch == '/' || ch == ',') {
			val_err(err, label, val,
				"must be a user/group name or number (no spaces, ':', '/' or ','), or empty to keep the process's own");
			return -1;
		}
	}
	if (copy_str(dst, cap, val) < 0) {
		val_err(err, label, val, "name is longer than %zu characters", cap - 1);
		return -1;
	}
	return 0;
}

static int set_owner(struct vfwd_config *c, const char *label, const char *val,
		     struct cfg_err *err)
{
	return set_account(c->socket_owner, sizeof(c->socket_owner), label, val, err);
}

static int set_group(struct vfwd_config *c, const char *label, const char *val,
		     struct cfg_err *err)
{
	return set_account(c->socket_group, sizeof(c->socket_group), label, val, err);
}

/* NULL if the pattern is fine, else what is wrong. */
static const char *check_pattern(const char *pat)
{
	const char *p;
	unsigned nu = 0;

	if (!*pat)
		return "must not be empty";
	for (p = pat; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '/')
			return "must be a file name: no '/' (the directory is VIRTIOFWD_SOCKET_DIR)";
		if (ch < 0x20 || ch == 0x7f)
			return "must not contain control characters";
		if (ch == '%') {
			if (p[1] != 'u')
				return "the only '%' allowed is one %u (the relay id)";
			nu++;
			p++;
		}
	}
	if (nu != 1)
		return "must contain %u (the relay id) exactly once, like virtio-forwarder%u.sock";
	return NULL;
}

static int set_socket_pattern(struct vfwd_config *c, const char *label, const char *val,
			      struct cfg_err *err)
{
	const char *why = check_pattern(val);

	if (why) {
		val_err(err, label, val, "%s", why);
		return -1;
	}
	if (copy_str(c->socket_pattern, sizeof(c->socket_pattern), val) < 0) {
		val_err(err, label, val, "pattern is longer than %zu characters",
			sizeof(c->socket_pattern) - 1);
		return -1;
	}
	return 0;
}

static int set_bool(bool *dst, const char *label, const char *val, struct cfg_err *err)
{
	if (cfg_parse_bool(val, dst) < 0) {
		val_err(err, label, val,
			"must be true or false (also accepted: yes/no, y/n, on/off, 1/0)");
		return -1;
	}
	return 0;
}

#define BOOL_SETTER(fn, field)                                                   \
	static int fn(struct vfwd_config *c, const char *label, const char *val, \
		      struct cfg_err *err)                                       \
	{                                                                        \
		return set_bool(&c->field, label, val, err);                     \
	}
BOOL_SETTER(set_core_sched_enable, core_sched_enable)
BOOL_SETTER(set_dynamic_sockets, dynamic_sockets)
BOOL_SETTER(set_vhost_client, vhost_client)
BOOL_SETTER(set_jumbo, jumbo)
BOOL_SETTER(set_mrgbuf, mrgbuf)
BOOL_SETTER(set_tso, tso)
BOOL_SETTER(set_same_numa, same_numa)
BOOL_SETTER(set_cs_global_numa, core_sched_global_numa)

static int set_vfio_token(struct vfwd_config *c, const char *label, const char *val,
			  struct cfg_err *err)
{
	static const int group_len[5] = { 8, 4, 4, 4, 12 };
	char tok[sizeof(c->vfio_vf_token)];
	const char *p = val;
	size_t o = 0;
	int g, i;

	if (!*val || strcasecmp(val, "null") == 0 || strcasecmp(val, "none") == 0) {
		c->vfio_vf_token[0] = '\0';
		return 0;
	}
	if (strcmp(val, "0") == 0) {
		snprintf(c->vfio_vf_token, sizeof(c->vfio_vf_token),
			 "00000000-0000-0000-0000-000000000000");
		return 0;
	}
	for (g = 0; g < 5; g++) {
		for (i = 0; i < group_len[g]; i++, p++) {
			if (hexval((unsigned char)*p) < 0)
				goto bad;
			tok[o++] = (char)tolower((unsigned char)*p);
		}
		if (g < 4) {
			if (*p != '-')
				goto bad;
			tok[o++] = *p++;
		}
	}
	if (*p)
		goto bad;
	tok[o] = '\0';
	memcpy(c->vfio_vf_token, tok, o + 1);
	return 0;
bad:
	val_err(err, label, val,
		"must be a UUID like 2ab74924-c335-45f4-9b16-8569e5b08258, 0 for the all-zero token, or NULL/None (or empty) for no token");
	return -1;
}

/* ZeroMQ endpoints: "" = service off (endpoint back to the default). */
static int set_zmq(char *ep, size_t cap, bool *on, const char *deflt, const char *label,
		   const char *val, struct cfg_err *err)
{
	static const char *const schemes[] = { "ipc://", "tcp://", "inproc://" };
	size_t i;
	bool ok = false;

	if (!*val) {
		snprintf(ep, cap, "%s", deflt);
		*on = false;
		return 0;
	}
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);

		if (strncmp(val, schemes[i], n) == 0 && val[n] != '\0')
			ok = true;
	}
	if (!ok) {
		val_err(err, label, val,
			"must be a ZeroMQ endpoint starting with ipc://, tcp:// or inproc://, like %s (empty turns the service off)",
			deflt);
		return -1;
	}
	for (i = 0; val[i]; i++) {
		unsigned char ch = (unsigned char)val[i];

		if (ch <= 0x20 || ch == 0x7f) {
			val_err(err, label, val, "must not contain spaces or control characters");
			return -1;
		}
	}
	if (copy_str(ep, cap, val) < 0) {
		val_err(err, label, val, "endpoint is longer than %zu characters", cap - 1);
		return -1;
	}
	*on = true;
	return 0;
}

#define ZMQ_SETTER(fn, field, deflt)                                             \
	static int fn(struct vfwd_config *c, const char *label, const char *val, \
		      struct cfg_err *err)                                       \
	{                                                                        \
		return set_zmq(c->field##_ep, sizeof(c->field##_ep),             \
			       &c->field##_on, deflt, label, val, err);          \
	}
ZMQ_SETTER(set_zmq_port_control, zmq_port_control, VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP)
ZMQ_SETTER(set_zmq_stats, zmq_stats, VFWD_DEFAULT_ZMQ_STATS_EP)
ZMQ_SETTER(set_zmq_core_sched, zmq_core_sched, VFWD_DEFAULT_ZMQ_CORE_SCHED_EP)
ZMQ_SETTER(set_zmq_config, zmq_config, VFWD_DEFAULT_ZMQ_CONFIG_EP)

static int set_sensitivity(struct vfwd_config *c, const char *label, const char *val,
			   struct cfg_err *err)
{
	double v;

	if (parse_double(val, &v) < 0 || v < 0) {
		val_err(err, label, val, "must be a number >= 0, like 0.25");
		return -1;
	}
	c->core_sched_sensitivity = v;
	return 0;
}

static int set_poll_interval(struct vfwd_config *c, const char *label, const char *val,
			     struct cfg_err *err)
{
	double v;

	if (parse_double(val, &v) < 0 || !(v > 0) || v > 86400) {
		val_err(err, label, val, "must be a number of seconds > 0 and <= 86400, like 5.0");
		return -1;
	}
	c->core_sched_poll_interval = v;
	return 0;
}

/* Lists: elements separated by blanks (bash arrays are joined by spaces) and,
 * for pins, ';'. With replace, the list replaces the current one; else it
 * adds to it. Nothing changes on error. */
static bool is_sep(char ch, bool semicolon)
{
	return is_blank(ch) || ch == '\n' || (semicolon && ch == ';');
}

static int apply_pins(struct vfwd_config *c, const char *label, const char *val,
		      bool replace, struct cfg_err *err)
{
	int pins[VFWD_MAX_RELAYS][VFWD_NB_DIRS];
	const char *p = val;
	struct cfg_err sub;
	unsigned r;

	if (replace) {
		for (r = 0; r < VFWD_MAX_RELAYS; r++)
			pins[r][0] = pins[r][1] = -1;
	} else {
		memcpy(pins, c->pins, sizeof(pins));
	}
	for (;;) {
		static const char prefix[] = "--virtio-cpu=";
		const char *tok;
		size_t n;
		int cpus[2];

		while (*p && is_sep(*p, true))
			p++;
		if (!*p)
			break;
		tok = p;
		while (*p && !is_sep(*p, true))
			p++;
		n = (size_t)(p - tok);
		/* tolerate the old "--virtio-cpu=R:C" form inside the variable */
		if (n > sizeof(prefix) - 1 && strncmp(tok, prefix, sizeof(prefix) - 1) == 0) {
			tok += sizeof(prefix) - 1;
			n -= sizeof(prefix) - 1;
		}
		if (parse_pin_n(tok, n, &r, cpus, &sub) < 0) {
			val_err(err, label, val, "%s", sub.msg);
			return -1;
		}
		if (pins[r][0] != -1) {
			val_err(err, label, val, "relay %u is pinned twice", r);
			return -1;
		}
		pins[r][VFWD_VF_TO_VM] = cpus[0];
		pins[r][VFWD_VM_TO_VF] = cpus[1];
	}
	memcpy(c->pins, pins, sizeof(pins));
	return 0;
}

static int apply_static_vfs(struct vfwd_config *c, const char *label, const char *val,
			    bool replace, struct cfg_err *err)
{
	unsigned nb = replace ? 0 : c->nb_static_vfs;
	const char *p;
	struct cfg_static_vf vf;
	struct cfg_err sub;
	int pass;

	/* pass 0 checks everything, pass 1 stores */
	for (pass = 0; pass < 2; pass++) {
		unsigned i = nb;

		for (p = val;;) {
			const char *tok;

			while (*p && is_sep(*p, false))
				p++;
			if (!*p)
				break;
			tok = p;
			while (*p && !is_sep(*p, false))
				p++;
			if (parse_static_vf_n(tok, (size_t)(p - tok), &vf, &sub) < 0) {
				val_err(err, label, val, "%s", sub.msg);
				return -1;
			}
			if (i >= VFWD_MAX_RELAYS) {
				val_err(err, label, val, "more than %d static VFs",
					VFWD_MAX_RELAYS);
				return -1;
			}
			if (pass == 1)
				c->static_vfs[i] = vf;
			i++;
		}
		if (pass == 1)
			c->nb_static_vfs = i;
	}
	return 0;
}

static int set_cpu_pins(struct vfwd_config *c, const char *label, const char *val,
			struct cfg_err *err)
{
	return apply_pins(c, label, val, true, err);
}

static int set_static_vfs(struct vfwd_config *c, const char *label, const char *val,
			  struct cfg_err *err)
{
	return apply_static_vfs(c, label, val, true, err);
}

/* ------------------------------------------------------------------ */
/* The variable table                                                  */

#define F_ARRAY 1u     /* a bash array of several elements is meaningful */
#define F_EMPTY 2u     /* an empty value is passed on (else: keep as is) */
#define F_OBSOLETE 4u  /* accepted and ignored with a warning */

struct var_def {
	const char *name;
	setter_fn set;
	unsigned flags;
};

static const struct var_def vars[] = {
	{ "VIRTIOFWD_CPU_MASK", set_cpu_mask, 0 },
	{ "VIRTIOFWD_LOG_LEVEL", set_log_level, 0 },
	{ "VIRTIOFWD_HUGETLBFS_MOUNT_POINT", set_huge_dir, 0 },
	{ "VIRTIOFWD_SOCKET_OWNER", set_owner, F_EMPTY },
	{ "VIRTIOFWD_SOCKET_GROUP", set_group, F_EMPTY },
	{ "VIO4WD_CORE_SCHED_ENABLE", set_core_sched_enable, 0 },
	{ "VIRTIOFWD_CPU_PINS", set_cpu_pins, F_ARRAY },
	{ "VIRTIOFWD_DYNAMIC_SOCKETS", set_dynamic_sockets, 0 },
	{ "VIRTIOFWD_VHOST_CLIENT", set_vhost_client, 0 },
	{ "VIRTIOFWD_VFIO_VF_TOKEN", set_vfio_token, 0 },
	{ "VIRTIOFWD_ZMQ_PORT_CONTROL_EP", set_zmq_port_control, F_EMPTY },
	{ "VIRTIOFWD_ZMQ_STATS_EP", set_zmq_stats, F_EMPTY },
	{ "VIRTIOFWD_ZMQ_CORE_SCHED_EP", set_zmq_core_sched, F_EMPTY },
	{ "VIRTIOFWD_ZMQ_CONFIG_EP", set_zmq_config, F_EMPTY },
	{ "VIRTIOFWD_STATIC_VFS", set_static_vfs, F_ARRAY },
	{ "VIRTIOFWD_PID_DIR", set_pid_dir, 0 },
	{ "VIRTIOFWD_SOCKET_DIR", set_socket_dir, 0 },
	{ "VIRTIOFWD_SOCKET_FNAME_PATTERN", set_socket_pattern, 0 },
	{ "VIRTIOFWD_MASTER_LCORE", set_main_lcore, 0 },
	{ "VIRTIOFWD_JUMBO", set_jumbo, 0 },
	{ "VIRTIOFWD_MRGBUF", set_mrgbuf, 0 },
	{ "VIRTIOFWD_TSO", set_tso, 0 },
	{ "VIRTIOFWD_VF_QUEUES", set_vf_queues, 0 },
	{ "VIRTIOFWD_CPU_NIC_SAME_NUMA", set_same_numa, 0 },
	{ "VIO4WD_CORE_SCHED_SENSITIVITY", set_sensitivity, 0 },
	{ "VIO4WD_CORE_SCHED_LOG_LEVEL", set_cs_log_level, 0 },
	{ "VIO4WD_CORE_SCHED_POLL_INTERVAL", set_poll_interval, 0 },
	{ "VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT", set_cs_global_numa, 0 },
	{ "VIRTIOFWD_IPC_PORT_CONTROL", NULL, F_OBSOLETE },
	{ "VIRTIOFWD_OVSDB_SOCK_PATH", NULL, F_OBSOLETE },
	{ "VIRTIOFWD_ZERO_COPY", NULL, F_OBSOLETE },
	{ "VIRTIOFWD_BINARY", NULL, F_OBSOLETE },
	{ "VIRTIOFWD_BIND_VFIO_PCI", NULL, F_OBSOLETE },
};

static const struct var_def *find_var(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strcmp(vars[i].name, name) == 0)
			return &vars[i];
	return NULL;
}

/* where: "path:line: " prefix for warnings, or "". */
static int set_var_at(struct vfwd_config *c, const char *var, const char *value,
		      const char *where, struct cfg_err *err)
{
	const struct var_def *d = find_var(var);
	char b[SHOW_MAX];

	if (!d) {
		add_warning(c, "%sunknown variable %s ignored", where, show(var, b, sizeof(b)));
		return 0;
	}
	if (d->flags & F_OBSOLETE) {
		if (*value)
			add_warning(c, "%s%s is not used by this implementation; ignored",
				    where, d->name);
		return 0;
	}
	if (!*value && !(d->flags & F_EMPTY))
		return 0; /* not set: keep the current (default) value */
	return d->set(c, d->name, value, err);
}

int cfg_set_var(struct vfwd_config *c, const char *var, const char *value,
		struct cfg_err *err)
{
	if (!c || !var) {
		set_err(err, "no variable given");
		return -1;
	}
	return set_var_at(c, var, value ? value : "", "", err);
}

/* ------------------------------------------------------------------ */
/* Defaults                                                            */

void cfg_defaults(struct vfwd_config *c)
{
	unsigned r;

	memset(c, 0, sizeof(*c));
	cfg_cpuset_add(&c->worker_cpus, 1);
	cfg_cpuset_add(&c->worker_cpus, 2);
	c->main_lcore = 0;
	c->daemonize = true;
	c->log_syslog = true;
	c->log_level = 6;
	snprintf(c->pid_dir, sizeof(c->pid_dir), "/var/run");
	snprintf(c->huge_dir, sizeof(c->huge_dir), "/mnt/huge");
	snprintf(c->socket_owner, sizeof(c->socket_owner), "libvirt-qemu");
	snprintf(c->socket_group, sizeof(c->socket_group), "kvm");
	snprintf(c->socket_dir, sizeof(c->socket_dir), "/tmp");
	snprintf(c->socket_pattern, sizeof(c->socket_pattern), "virtio-forwarder%%u.sock");
	for (r = 0; r < VFWD_MAX_RELAYS; r++)
		c->pins[r][0] = c->pins[r][1] = -1;
	c->nb_static_vfs = 0;
	/* Server mode unless configured otherwise, as the established daemon's
	 * command line: old unit files and scripts pass -i to ask for client
	 * mode. The shipped config file selects client mode, the packaged
	 * default the guide documents. */
	c->vhost_client = false;
	c->dynamic_sockets = false;
	c->jumbo = false;
	c->mrgbuf = false;
	c->tso = false;
	c->vf_queues = 1;
	c->same_numa = false;
	c->core_sched_enable = false;
	c->vfio_vf_token[0] = '\0';
	snprintf(c->zmq_port_control_ep, sizeof(c->zmq_port_control_ep), "%s",
		 VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP);
	snprintf(c->zmq_stats_ep, sizeof(c->zmq_stats_ep), "%s", VFWD_DEFAULT_ZMQ_STATS_EP);
	snprintf(c->zmq_core_sched_ep, sizeof(c->zmq_core_sched_ep), "%s",
		 VFWD_DEFAULT_ZMQ_CORE_SCHED_EP);
	snprintf(c->zmq_config_ep, sizeof(c->zmq_config_ep), "%s", VFWD_DEFAULT_ZMQ_CONFIG_EP);
	c->zmq_port_control_on = c->zmq_stats_on = false;
	c->zmq_core_sched_on = c->zmq_config_on = false;
	c->core_sched_sensitivity = 0.25;
	c->core_sched_log_level = 6;
	c->core_sched_poll_interval = 5.0;
	c->core_sched_global_numa = false;
	snprintf(c->config_file, sizeof(c->config_file), "%s", VFWD_DEFAULT_CONFIG_FILE);
}

bool cfg_core_sched_active(const struct vfwd_config *c)
{
	return c->core_sched_enable;
}

int cfg_socket_path(const struct vfwd_config *c, unsigned relay, char *buf, size_t len)
{
	int n;

	if (!buf || len == 0)
		return -1;
	buf[0] = '\0';
	if (!memchr(c->socket_pattern, '\0', sizeof(c->socket_pattern)) ||
	    !memchr(c->socket_dir, '\0', sizeof(c->socket_dir)) ||
	    check_pattern(c->socket_pattern))
		return -1;
	n = snprintf(buf, len, "%s/", c->socket_dir);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	/* the pattern holds exactly one %u and no other conversion */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = snprintf(buf + n, len - (size_t)n, c->socket_pattern, relay) + n;
#pragma GCC diagnostic pop
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The config file                                                     */

/* Reads one line without its '\n' into buf (cap > VFWD_CFG_LINE_MAX).
 * 1 = line, 0 = end of file, -1 = too long, -2 = NUL byte, -3 = read error. */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	bool nul = false;
	int ch;

	for (;;) {
		ch = getc(f);
		if (ch == EOF) {
			if (ferror(f))
				return -3;
			if (n == 0)
				return 0;
			break;
		}
		if (ch == '\n')
			break;
		if (ch == '\0')
			nul = true;
		if (n >= VFWD_CFG_LINE_MAX || n + 1 >= cap)
			return -1;
		buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	*len = n;
	return nul ? -2 : 1;
}

/* Parses one shell word at *pp into out (appending at *olen). Stops at an
 * unquoted blank, end of line, or (in an array) ')'. NULL or an error. */
static const char *parse_word(const char **pp, char *out, size_t *olen, bool in_array)
{
	const char *p = *pp;
	size_t o = *olen;

	for (;;) {
		char ch = *p;

		if (ch == '\0' || is_blank(ch) || (in_array && ch == ')'))
			break;
		if (ch == '\'') {
			p++;
			while (*p && *p != '\'')
				out[o++] = *p++;
			if (*p != '\'')
				return "unterminated single quote (values must fit on one line)";
			p++;
		} else if (ch == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\') {
					if (p[1] == '\0')
						return "line continuation with '\\' is not supported";
					if (strchr("$`\"\\", p[1])) {
						out[o++] = p[1];
						p += 2;
						continue;
					}
				} else if (*p == '$' || *p == '`') {
					return "'$' and '`' (expansion) are not supported; put the value in single quotes";
				}
				out[o++] = *p++;
			}
			if (*p != '"')
				return "unterminated double quote (values must fit on one line)";
			p++;
		} else if (ch == '\\') {
			if (p[1] == '\0')
				return "line continuation with '\\' is not supported";
			out[o++] = p[1];
			p += 2;
		} else if (ch == '$' || ch == '`') {
			return "'$' and '`' (expansion) are not supported; put the value in single quotes";
		} else if (strchr(";&|<>()", ch)) {
			return "unquoted ';', '&', '|', '<', '>', '(' or ')' is special to the shell; quote the value";
		} else if (in_array && strchr("*?[", ch)) {
			return "unquoted '*', '?' or '[' in an array would be expanded by the shell; quote the element";
		} else {
			out[o++] = ch;
			p++;
		}
	}
	*pp = p;
	*olen = o;
	return NULL;
}

#define LINE_FORM "not a variable assignment"

/* Parses a non-blank, non-comment line into name and value (both at most
 * line length + 1). Returns NULL or an error; *nelem = array elements, or
 * -1 for a plain value. */
static const char *parse_line(const char *line, char *name, size_t name_cap,
			      char *value, int *nelem)
{
	const char *p = line, *start, *e;
	size_t n, o = 0;

	while (is_blank(*p))
		p++;
	if (strncmp(p, "export", 6) == 0 && is_blank(p[6])) {
		p += 6;
		while (is_blank(*p))
			p++;
	}
	start = p;
	if (!(isalpha((unsigned char)*p) || *p == '_'))
		return LINE_FORM;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	n = (size_t)(p - start);
	if (*p != '=') {
		if (is_blank(*p) && n > 0) {
			const char *q = p;

			while (is_blank(*q))
				q++;
			if (*q == '=')
				return "no spaces are allowed around '='";
			return LINE_FORM;
		}
		if (*p == '+' && p[1] == '=')
			return "'+=' is not supported";
		if (n > 0 && *p != '\0')
			return "a variable name is letters, digits and '_'";
		return LINE_FORM;
	}
	if (n >= name_cap)
		return "variable name too long";
	memcpy(name, start, n);
	name[n] = '\0';
	p++;
	*nelem = -1;
	if (*p == '(') {
		*nelem = 0;
		p++;
		for (;;) {
			while (is_blank(*p))
				p++;
			if (*p == ')') {
				p++;
				break;
			}
			if (*p == '\0' || *p == '#')
				return "unterminated array: missing ')' (arrays must fit on one line)";
			if (*p == '(')
				return "nested '(' in an array";
			if (*nelem > 0)
				value[o++] = ' ';
			if ((e = parse_word(&p, value, &o, true)) != NULL)
				return e;
			(*nelem)++;
		}
	} else {
		if ((e = parse_word(&p, value, &o, false)) != NULL)
			return e;
	}
	value[o] = '\0';
	while (is_blank(*p))
		p++;
	if (*p != '\0' && *p != '#')
		return "unexpected text after the value; quote values that contain spaces";
	return NULL;
}

int cfg_load_file(struct vfwd_config *c, const char *path, struct cfg_err *err)
{
	char line[VFWD_CFG_LINE_MAX + 2], value[VFWD_CFG_LINE_MAX + 2];
	char name[VFWD_CFG_LINE_MAX + 2], where[PATH_MAX + 32], b[SHOW_MAX];
	unsigned lineno = 0;
	size_t len;
	FILE *f;
	int rc = 0, r;

	if (!path) {
		set_err(err, "no config file given");
		return -1;
	}
	f = fopen(path, "r");
	if (!f) {
		set_err(err, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		const char *p, *e;
		int nelem;
		struct cfg_err sub;

		errno = 0;
		r = read_line(f, line, sizeof(line), &len);
		if (r == 0)
			break;
		lineno++;
		if (r == -3) {
			set_err(err, "cannot read %s: %s", path, strerror(errno ? errno : EIO));
			rc = -1;
			break;
		}
		if (r == -1) {
			set_err(err, "%s:%u: line is longer than %d bytes", path, lineno,
				VFWD_CFG_LINE_MAX);
			rc = -1;
			break;
		}
		if (r == -2) {
			set_err(err, "%s:%u: line contains a NUL byte", path, lineno);
			rc = -1;
			break;
		}
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		p = line;
		while (is_blank(*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		e = parse_line(line, name, sizeof(name), value, &nelem);
		if (e) {
			set_err(err, "%s:%u: %s in '%s'; expected VAR=value, like VIRTIOFWD_LOG_LEVEL=6 (quote values with spaces)",
				path, lineno, e, show(p, b, sizeof(b)));
			rc = -1;
			break;
		}
		snprintf(where, sizeof(where), "%s:%u: ", path, lineno);
		if (nelem > 1) {
			const struct var_def *d = find_var(name);

			if (d && !(d->flags & (F_ARRAY | F_OBSOLETE))) {
				set_err(err, "%s:%u: %s is not an array variable; give a single value",
					path, lineno, name);
				rc = -1;
				break;
			}
		}
		if (set_var_at(c, name, value, where, &sub) < 0) {
			set_err(err, "%s:%u: %s", path, lineno, sub.msg);
			rc = -1;
			break;
		}
	}
	fclose(f);
	if (rc == 0 && path != c->config_file)
		snprintf(c->config_file, sizeof(c->config_file), "%s", path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The command line                                                    */

enum { OPT_CONFIG = 256, OPT_SERVER, OPT_VF_QUEUES };

static const char short_opts[] = "-:C:M:n::l:p:H:u::g::V:S:c:P:t:idJRTaZ::z::s::Y::vh";

static const struct option long_opts[] = {
	{ "cpus", required_argument, NULL, 'C' },
	{ "master-lcore", required_argument, NULL, 'M' },
	{ "nodaemon", optional_argument, NULL, 'n' },
	{ "loglevel", required_argument, NULL, 'l' },
	{ "pid-path", required_argument, NULL, 'p' },
	{ "huge-dir", required_argument, NULL, 'H' },
	{ "vhost-username", optional_argument, NULL, 'u' },
	{ "vhost-groupname", optional_argument, NULL, 'g' },
	{ "vhost-path", required_argument, NULL, 'V' },
	{ "vhost-socket", required_argument, NULL, 'S' },
	{ "virtio-cpu", required_argument, NULL, 'c' },
	{ "add-pci-vf", required_argument, NULL, 'P' },
	{ "vfio-vf-token", required_argument, NULL, 't' },
	{ "vhostuser-client", no_argument, NULL, 'i' },
	{ "server", no_argument, NULL, OPT_SERVER },
	{ "dynamic-sockets", no_argument, NULL, 'd' },
	{ "enable-jumbo", no_argument, NULL, 'J' },
	{ "enable-mrgbuf", no_argument, NULL, 'R' },
	{ "enable-tso", no_argument, NULL, 'T' },
	{ "vf-queues", required_argument, NULL, OPT_VF_QUEUES },
	{ "same-numa", no_argument, NULL, 'a' },
	{ "zmq-port-control-ep", optional_argument, NULL, 'Z' },
	{ "zmq-stats-ep", optional_argument, NULL, 'z' },
	{ "zmq-core-sched-ep", optional_argument, NULL, 's' },
	{ "zmq-config-ep", optional_argument, NULL, 'Y' },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "version", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option *opt_by_val(int val)
{
	const struct option *o;

	for (o = long_opts; o->name; o++)
		if (o->val == val)
			return o;
	return NULL;
}

/* "-C/--cpus" or "--server" */
static const char *opt_display(int val, char *buf, size_t cap)
{
	const struct option *o = opt_by_val(val);

	if (!o)
		snprintf(buf, cap, "-%c", (val > 32 && val < 127) ? val : '?');
	else if (val < 256)
		snprintf(buf, cap, "-%c/--%s", val, o->name);
	else
		snprintf(buf, cap, "--%s", o->name);
	return buf;
}

const char *cfg_config_path_from_args(int argc, char **argv)
{
	const char *path = NULL;
	int saved_opterr = opterr, o;

	if (argc < 1 || !argv)
		return NULL;
	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1)
		if (o == OPT_CONFIG)
			path = optarg;
	optind = 0;
	opterr = saved_opterr;
	return path;
}

static int zmq_opt(struct vfwd_config *c, int which, const char *arg, struct cfg_err *err)
{
	static const struct {
		int opt;
		const char *label;
		setter_fn set;
	} zmq_opts[] = {
		{ 'Z', "--zmq-port-control-ep", set_zmq_port_control },
		{ 'z', "--zmq-stats-ep", set_zmq_stats },
		{ 's', "--zmq-core-sched-ep", set_zmq_core_sched },
		{ 'Y', "--zmq-config-ep", set_zmq_config },
	};
	static const char *const defaults[] = {
		VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP, VFWD_DEFAULT_ZMQ_STATS_EP,
		VFWD_DEFAULT_ZMQ_CORE_SCHED_EP, VFWD_DEFAULT_ZMQ_CONFIG_EP,
	};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (zmq_opts[i].opt != which)
			continue;
		/* no value: on at the default endpoint */
		if (zmq_opts[i].set(c, zmq_opts[i].label, arg ? arg : defaults[i], err) < 0)
			return -1;
		if (which == 's')
			c->core_sched_enable = c->zmq_core_sched_on;
		return 0;
	}
	return -1;
}

int cfg_parse_args(struct vfwd_config *c, int argc, char **argv, struct cfg_err *err)
{
	bool pins_seen = false, vfs_seen = false;
	int saved_opterr = opterr, o, rc = 0;
	int optional_noval_end = -1; /* optind after an optional-arg option given bare */
	const struct option *prev = NULL;
	char b[SHOW_MAX], d[64];

	if (argc < 1 || !argv)
		return 0;
	opterr = 0;
	optind = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		const struct option *cur = opt_by_val(o);

		switch (o) {
		case 'C':
			rc = set_cpu_mask(c, "--cpus", optarg, err);
			break;
		case 'M':
			rc = set_main_lcore(c, "--master-lcore", optarg, err);
			break;
		case 'n':
			if (!optarg) {
				c->daemonize = false;
				c->log_syslog = false;
			} else if (strcmp(optarg, "log_syslog") == 0) {
				c->daemonize = false;
				c->log_syslog = true;
			} else {
				val_err(err, "--nodaemon", optarg,
					"the only value is log_syslog (-nlog_syslog or --nodaemon=log_syslog); -n alone logs to stderr");
				rc = -1;
			}
			break;
		case 'l':
			rc = set_log_level(c, "--loglevel", optarg, err);
			break;
		case 'p':
			rc = set_pid_dir(c, "--pid-path", optarg, err);
			break;
		case 'H':
			rc = set_huge_dir(c, "--huge-dir", optarg, err);
			break;
		case 'u':
			rc = set_owner(c, "--vhost-username", optarg ? optarg : "", err);
			break;
		case 'g':
			rc = set_group(c, "--vhost-groupname", optarg ? optarg : "", err);
			break;
		case 'V':
			rc = set_socket_dir(c, "--vhost-path", optarg, err);
			break;
		case 'S':
			rc = set_socket_pattern(c, "--vhost-socket", optarg, err);
			break;
		case 'c':
			/* the first -c replaces VIRTIOFWD_CPU_PINS, later ones add */
			rc = apply_pins(c, "--virtio-cpu", optarg, !pins_seen, err);
			pins_seen = true;
			break;
		case 'P':
			/* the first -P replaces VIRTIOFWD_STATIC_VFS, later ones add */
			rc = apply_static_vfs(c, "--add-pci-vf", optarg, !vfs_seen, err);
			vfs_seen = true;
			break;
		case 't':
			rc = set_vfio_token(c, "--vfio-vf-token", optarg, err);
			break;
		case 'i':
			c->vhost_client = true;
			break;
		case OPT_SERVER:
			c->vhost_client = false;
			break;
		case 'd':
			c->dynamic_sockets = true;
			break;
		case 'J':
			c->jumbo = true;
			break;
		case 'R':
			c->mrgbuf = true;
			break;
		case 'T':
			c->tso = true;
			break;
		case OPT_VF_QUEUES:
			rc = set_vf_queues(c, "--vf-queues", optarg, err);
			break;
		case 'a':
			c->same_numa = true;
			break;
		case 'Z':
		case 'z':
		case 's':
		case 'Y':
			rc = zmq_opt(c, o, optarg, err);
			break;
		case OPT_CONFIG:
			if (copy_str(c->config_file, sizeof(c->config_file), optarg) < 0) {
				val_err(err, "--config", optarg, "path is longer than %zu characters",
					sizeof(c->config_file) - 1);
				rc = -1;
			}
			break;
		case 'v':
			c->show_version = true;
			break;
		case 'h':
			c->show_help = true;
			break;
		case 1:
			if (prev && optind - 1 == optional_noval_end)
				set_err(err,
					"unexpected argument '%s': the value of --%s must be attached, as -%c%s or --%s=%s; see --help",
					show(optarg, b, sizeof(b)), prev->name, prev->val,
					show(optarg, d, sizeof(d)), prev->name, d);
			else
				set_err(err, "unexpected argument '%s'; see --help",
					show(optarg, b, sizeof(b)));
			rc = -1;
			break;
		case ':':
			set_err(err, "option %s needs a value; see --help",
				opt_display(optopt, d, sizeof(d)));
			rc = -1;
			break;
		default: /* '?' */
			if (optopt && opt_by_val(optopt) && optind > 0 && optind <= argc &&
			    strncmp(argv[optind - 1], "--", 2) == 0)
				set_err(err, "option %s takes no value; see --help",
					show(argv[optind - 1], b, sizeof(b)));
			else if (optopt > 0 && optopt < 256)
				set_err(err, "unknown option -%c; see --help",
					(optopt > 32 && optopt < 127) ? optopt : '?');
			else if (optind > 0 && optind <= argc)
				set_err(err, "unknown or ambiguous option '%s'; see --help",
					show(argv[optind - 1], b, sizeof(b)));
			else
				set_err(err, "unknown option; see --help");
			rc = -1;
			break;
		}
		prev = cur;
		optional_noval_end = -1;
		if (cur && cur->has_arg == optional_argument && !optarg)
			optional_noval_end = optind;
		optopt = 0;
	}
	if (rc == 0) {
		/* after "--": EAL arguments */
		c->nb_eal_args = 0;
		for (; optind < argc; optind++) {
			if (c->nb_eal_args >= VFWD_MAX_EAL_ARGS) {
				set_err(err, "more than %d EAL arguments after --",
					VFWD_MAX_EAL_ARGS);
				rc = -1;
				break;
			}
			c->eal_args[c->nb_eal_args++] = argv[optind];
		}
	}
	optind = 0;
	opterr = saved_opterr;
	return rc;
}

void cfg_usage(FILE *out, const char *prog)
{
	fprintf(out,
"Usage: %s [OPTION]... [-- EAL-ARGUMENT...]\n"
"Forward traffic between SR-IOV VFs and virtio (vhost-user) devices.\n"
"\n"
"Settings come from the config file (default %s), then the\n"
"options below, which override it. Each option names the variable it overrides.\n"
"Values of options shown as [=X] must be attached: -nX or --nodaemon=X.\n"
"\n"
"  -C, --cpus=LIST               worker CPUs, like 1,2 or 1-3 or 0x6\n"
"                                  (VIRTIOFWD_CPU_MASK, default 1,2)\n"
"  -M, --master-lcore=N          main (control) CPU, not a worker\n"
"                                  (VIRTIOFWD_MASTER_LCORE, default 0)\n"
"  -n, --nodaemon[=log_syslog]   stay in the foreground and log to stderr,\n"
"                                  or to syslog with =log_syslog\n"
"  -l, --loglevel=N              log threshold 0-7 (VIRTIOFWD_LOG_LEVEL, default 6)\n"
"  -p, --pid-path=DIR            PID file directory (VIRTIOFWD_PID_DIR, default /var/run)\n"
"  -H, --huge-dir=DIR            hugetlbfs mount point\n"
"                                  (VIRTIOFWD_HUGETLBFS_MOUNT_POINT, default /mnt/huge)\n"
"  -u, --vhost-username[=NAME]   vhost-user socket owner; none: the process's\n"
"                                  (VIRTIOFWD_SOCKET_OWNER, default libvirt-qemu)\n"
"  -g, --vhost-groupname[=NAME]  vhost-user socket group; none: the process's\n"
"                                  (VIRTIOFWD_SOCKET_GROUP, default kvm)\n"
"  -V, --vhost-path=DIR          vhost-user socket directory\n"
"                                  (VIRTIOFWD_SOCKET_DIR, default /tmp)\n"
"  -S, --vhost-socket=PATTERN    socket file name, one %%u = relay id\n"
"                                  (VIRTIOFWD_SOCKET_FNAME_PATTERN,\n"
"                                  default virtio-forwarder%%u.sock)\n"
"  -c, --virtio-cpu=R:C[,C]      pin relay R to CPU C (VF->VM, VM->VF); repeatable,\n"
"                                  ';' separates several (VIRTIOFWD_CPU_PINS)\n"
"  -P, --add-pci-vf=DEV=ID       attach VF DEV (PCI address or net_* vdev devargs)\n"
"                                  to relay ID 0-63; repeatable (VIRTIOFWD_STATIC_VFS)\n"
"  -t, --vfio-vf-token=TOKEN     VFIO VF token: UUID, 0 or NULL\n"
"                                  (VIRTIOFWD_VFIO_VF_TOKEN, default none)\n"
"  -i, --vhostuser-client        vhost-user client mode (VIRTIOFWD_VHOST_CLIENT=true,\n"
"                                  as the shipped config file sets)\n"
"      --server                  vhost-user server mode (VIRTIOFWD_VHOST_CLIENT=false,\n"
"                                  the default without a config file)\n"
"  -d, --dynamic-sockets         sockets only via port control\n"
"                                  (VIRTIOFWD_DYNAMIC_SOCKETS, default false)\n"
"  -J, --enable-jumbo            jumbo frames (VIRTIOFWD_JUMBO, default false)\n"
"  -R, --enable-mrgbuf           mergeable rx buffers (VIRTIOFWD_MRGBUF, default false)\n"
"  -T, --enable-tso              TCP segmentation offload (VIRTIOFWD_TSO, default false)\n"
"      --vf-queues=N             queue pairs of each VF, 1-32, RSS over them where the\n"
"                                  VF has it (VIRTIOFWD_VF_QUEUES, default 1)\n"
"  -a, --same-numa               use worker CPUs on the VF's NUMA node\n"
"                                  (VIRTIOFWD_CPU_NIC_SAME_NUMA, default false)\n"
"  -Z, --zmq-port-control-ep[=EP]  port control service, at EP or the default\n"
"                                  (VIRTIOFWD_ZMQ_PORT_CONTROL_EP)\n"
"  -z, --zmq-stats-ep[=EP]       statistics service (VIRTIOFWD_ZMQ_STATS_EP)\n"
"  -s, --zmq-core-sched-ep[=EP]  CPU migration service; implies\n"
"                                  VIO4WD_CORE_SCHED_ENABLE=true\n"
"                                  (VIRTIOFWD_ZMQ_CORE_SCHED_EP)\n"
"  -Y, --zmq-config-ep[=EP]      configuration service (VIRTIOFWD_ZMQ_CONFIG_EP)\n"
"                                  EP: ipc://PATH, tcp://HOST:PORT or inproc://NAME\n"
"      --config=FILE             config file to read (default %s)\n"
"  -v, --version                 print the version and exit\n"
"  -h, --help                    print this help and exit\n",
		prog ? prog : "virtio-forwarder", VFWD_DEFAULT_CONFIG_FILE,
		VFWD_DEFAULT_CONFIG_FILE);
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */

int cfg_validate(const struct vfwd_config *c, struct cfg_err *err)
{
	char mask[256], sock[SUN_PATH_MAX + 64];
	unsigned r, i, j;

	cfg_cpuset_format(&c->worker_cpus, mask, sizeof(mask));
	if (cfg_cpuset_count(&c->worker_cpus) == 0) {
		set_err(err, "VIRTIOFWD_CPU_MASK: no worker CPU; give at least one, like 1,2");
		return -1;
	}
	if (cfg_cpuset_count(&c->worker_cpus) >= VFWD_MAX_CPUS) {
		set_err(err, "VIRTIOFWD_CPU_MASK: too many worker CPUs; leave one for VIRTIOFWD_MASTER_LCORE");
		return -1;
	}
	if (c->main_lcore < 0 || c->main_lcore >= VFWD_MAX_CPUS) {
		set_err(err, "VIRTIOFWD_MASTER_LCORE=%d: must be a CPU number 0-%d",
			c->main_lcore, VFWD_MAX_CPUS - 1);
		return -1;
	}
	if (cfg_cpuset_has(&c->worker_cpus, (unsigned)c->main_lcore)) {
		set_err(err,
			"VIRTIOFWD_MASTER_LCORE=%d is also a worker CPU in VIRTIOFWD_CPU_MASK=%s; choose a CPU outside the mask",
			c->main_lcore, mask);
		return -1;
	}
	for (r = 0; r < VFWD_MAX_RELAYS; r++) {
		int dir;

		for (dir = 0; dir < VFWD_NB_DIRS; dir++) {
			int cpu = c->pins[r][dir];

			if (cpu == -1)
				continue;
			if (cpu < 0 || !cfg_cpuset_has(&c->worker_cpus, (unsigned)cpu)) {
				set_err(err,
					"VIRTIOFWD_CPU_PINS: relay %u pinned to CPU %d, which is not a worker CPU (VIRTIOFWD_CPU_MASK=%s)",
					r, cpu, mask);
				return -1;
			}
		}
	}
	if (c->nb_static_vfs > VFWD_MAX_RELAYS) {
		set_err(err, "VIRTIOFWD_STATIC_VFS: more than %d entries", VFWD_MAX_RELAYS);
		return -1;
	}
	for (i = 0; i < c->nb_static_vfs; i++) {
		const struct cfg_static_vf *a = &c->static_vfs[i];

		if (a->relay_id >= VFWD_MAX_RELAYS) {
			set_err(err, "VIRTIOFWD_STATIC_VFS: relay id %u is out of range 0-%d",
				a->relay_id, VFWD_MAX_RELAYS - 1);
			return -1;
		}
		for (j = 0; j < i; j++) {
			const struct cfg_static_vf *b = &c->static_vfs[j];

			if (a->relay_id == b->relay_id) {
				set_err(err,
					"VIRTIOFWD_STATIC_VFS: relay %u is given twice (%.150s=%u and %.150s=%u); each relay takes one VF",
					a->relay_id, b->dev, b->relay_id, a->dev, a->relay_id);
				return -1;
			}
			if (strncmp(a->dev, b->dev, sizeof(a->dev)) == 0) {
				set_err(err,
					"VIRTIOFWD_STATIC_VFS: device %.300s is listed twice (relays %u and %u)",
					a->dev, b->relay_id, a->relay_id);
				return -1;
			}
		}
	}
	if (c->log_level < 0 || c->log_level > 7) {
		set_err(err, "VIRTIOFWD_LOG_LEVEL=%d: must be an integer 0-7", c->log_level);
		return -1;
	}
	if (c->core_sched_log_level < 0 || c->core_sched_log_level > 7) {
		set_err(err, "VIO4WD_CORE_SCHED_LOG_LEVEL=%d: must be an integer 0-7",
			c->core_sched_log_level);
		return -1;
	}
	if (!isfinite(c->core_sched_sensitivity) || c->core_sched_sensitivity < 0) {
		set_err(err, "VIO4WD_CORE_SCHED_SENSITIVITY: must be a number >= 0");
		return -1;
	}
	if (!isfinite(c->core_sched_poll_interval) || !(c->core_sched_poll_interval > 0) ||
	    c->core_sched_poll_interval > 86400) {
		set_err(err, "VIO4WD_CORE_SCHED_POLL_INTERVAL: must be a number of seconds > 0 and <= 86400");
		return -1;
	}
	if (!memchr(c->socket_pattern, '\0', sizeof(c->socket_pattern)) ||
	    check_pattern(c->socket_pattern)) {
		set_err(err, "VIRTIOFWD_SOCKET_FNAME_PATTERN: %s",
			"must contain %u exactly once and no other '%' or '/'");
		return -1;
	}
	if (c->socket_dir[0] != '/') {
		set_err(err, "VIRTIOFWD_SOCKET_DIR: must be an absolute path");
		return -1;
	}
	if (!c->dynamic_sockets &&
	    cfg_socket_path(c, VFWD_MAX_RELAYS - 1, sock, SUN_PATH_MAX) < 0) {
		set_err(err,
			"VIRTIOFWD_SOCKET_DIR=%.200s, VIRTIOFWD_SOCKET_FNAME_PATTERN=%.100s: the socket path of relay %d is longer than %d bytes, the limit for unix sockets",
			c->socket_dir, c->socket_pattern, VFWD_MAX_RELAYS - 1, SUN_PATH_MAX - 1);
		return -1;
	}
	if (c->nb_eal_args > VFWD_MAX_EAL_ARGS) {
		set_err(err, "more than %d EAL arguments", VFWD_MAX_EAL_ARGS);
		return -1;
	}
	return 0;
}
