#include "ctl_req.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int req_fail(struct req_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* Client strings are quoted in messages: shown up to a length, control
 * characters as '?', so that a reply or a log line stays one short line. */
static const char *show(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 4 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i])
		buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
	buf[i] = '\0';
	return buf;
}

int req_relay_id(int64_t id, const char *what, struct req_err *err)
{
	if (id < 0 || id >= VFWD_MAX_RELAYS)
		return req_fail(err, -ERANGE, "%s %lld is out of range: relay ids are 0-%u",
				what, (long long)id, VFWD_MAX_RELAYS - 1);
	return 0;
}

int req_vhost_path(const char *path, struct req_err *err)
{
	char b[96];
	size_t n = strlen(path);

	if (n == 0)
		return req_fail(err, -EINVAL, "vhost_path is empty: give the absolute path "
				"of the vhost-user socket");
	if (path[0] != '/')
		return req_fail(err, -EINVAL, "vhost_path '%s' is relative: give an absolute "
				"path", show(path, b, sizeof(b)));
	if (n >= REQ_PATH_MAX)
		return req_fail(err, -ENAMETOOLONG, "vhost_path '%s' is %zu bytes long: a "
				"unix socket path has at most %d", show(path, b, sizeof(b)),
				n, REQ_PATH_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return req_fail(err, -EINVAL, "vhost_path '%s' contains control "
					"characters", show(path, b, sizeof(b)));
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return req_fail(err, -EINVAL, "vhost_path '%s' contains '..': give "
					"the path without it", show(path, b, sizeof(b)));
	return 0;
}

int req_path_in_dir(const char *path, const char *dir, struct req_err *err)
{
	char b[96];
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 || (strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0'))
		return 0;
	return req_fail(err, -EACCES, "vhost_path '%s' is not in the socket directory %.*s: "
			"give a path in it, or set VIRTIOFWD_SOCKET_DIR (-V) to the directory "
			"the sockets belong in", show(path, b, sizeof(b)), (int)n, dir);
}

int req_pci(const Virtioforwarder__PciAddress *a, char *out, size_t len,
	    struct req_err *err)
{
	char s[64];

	/* Each field formatted at its width: a value that does not fit
	 * widens the string and cfg_canon_pci refuses it. */
	snprintf(s, sizeof(s), "%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
	if (cfg_canon_pci(s, out, len) != 0)
		return req_fail(err, -EINVAL, "PCI address domain=%u bus=%u slot=%u "
				"function=%u is not valid: domain 0-0xffff, bus 0-0xff, "
				"slot 0-0x1f, function 0-7", a->domain, a->bus, a->slot,
				a->function);
	return 0;
}

int req_vdev(const char *devargs, struct req_err *err)
{
	char b[96];
	size_t n = strlen(devargs);

	if (strncmp(devargs, "net_", 4) != 0 || n <= 4)
		return req_fail(err, -EINVAL, "vdev '%s' is not DPDK vdev devargs: they start "
				"with the driver name, like net_memif0,role=client",
				show(devargs, b, sizeof(b)));
	if (n >= VFWD_DEVARGS_MAX)
		return req_fail(err, -ENAMETOOLONG, "vdev devargs are %zu bytes long: at "
				"most %d", n, VFWD_DEVARGS_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)devargs[i] <= 0x20 || devargs[i] == 0x7f)
			return req_fail(err, -EINVAL, "vdev '%s' contains spaces or control "
					"characters", show(devargs, b, sizeof(b)));
	return 0;
}

bool req_same_dev(const char *a, const char *b)
{
	char ca[16], cb[16];
	size_t na = strcspn(a, ","), nb = strcspn(b, ",");

	if (cfg_canon_pci(a, ca, sizeof(ca)) == 0 && cfg_canon_pci(b, cb, sizeof(cb)) == 0)
		return strcmp(ca, cb) == 0;
	return na == nb && strncmp(a, b, na) == 0;
}

int req_bond_name(const char *name, struct req_err *err)
{
	char b[96];
	size_t n = strlen(name);

	if (n == 0)
		return req_fail(err, -EINVAL, "the bond name is empty");
	if (n > VFWD_BOND_NAME_MAX)
		return req_fail(err, -ENAMETOOLONG, "bond name '%s' is %zu characters long: at "
				"most %d", show(name, b, sizeof(b)), n, VFWD_BOND_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_-.", name[i]))
			return req_fail(err, -EINVAL, "bond name '%s' may hold only letters, "
					"digits, '_', '-' and '.'", show(name, b, sizeof(b)));
	if (strncmp(name, "net_", 4) == 0)
		return req_fail(err, -EINVAL, "bond name '%s' starts with net_, as vdevs do: "
				"choose another", name);
	return 0;
}

/* DPDK's bonding modes: 0 round-robin, 1 active-backup, 2 balance-xor,
 * 3 broadcast, 4 802.3ad, 5 TLB, 6 ALB. */
static int bond_mode(uint32_t mode, struct req_err *err)
{
	if (mode > 6)
		return req_fail(err, -EINVAL, "bond mode %u does not exist: 0 round-robin, "
				"1 active-backup (the default), 2 balance-xor, 3 broadcast, "
				"5 TLB, 6 ALB", mode);
	/* LACP frames go out only from within a TX burst, and a relay sends
	 * bursts only when its VM does: the partner would time out. */
	if (mode == 4)
		return req_fail(err, -EOPNOTSUPP, "bond mode 4 (802.3ad) is not supported: its "
				"LACP frames need TX bursts every 100 ms even without traffic; "
				"use 1 (active-backup) or 2 (balance-xor)");
	return 0;
}

/* Device i of a port request into out: the PCI addresses come first, then
 * the vdevs. */
static int port_member(const Virtioforwarder__PortControlRequest *r, size_t i, char *out,
		       struct req_err *err)
{
	const char *vdev;
	int rc;

	if (i < r->n_pci_addrs)
		return req_pci(r->pci_addrs[i], out, VFWD_DEVARGS_MAX, err);
	vdev = r->vdev[i - r->n_pci_addrs];
	rc = req_vdev(vdev, err);
	if (rc == 0)
		snprintf(out, VFWD_DEVARGS_MAX, "%s", vdev);
	return rc;
}

/* The device of a port request: one PCI address or vdev, or with a name a
 * bond of several. Several without a name are an error, and so is a name
 * with fewer than two. */
static int port_device(const Virtioforwarder__PortControlRequest *r, bool removal,
		       struct req_port *out, struct req_err *err)
{
	size_t n = r->n_pci_addrs + r->n_vdev;
	int rc;

	if (!r->name) {
		if (r->n_pci_addrs && r->n_vdev)
			return req_fail(err, -EINVAL, "both a PCI address and a vdev given: give "
					"one, or a bond name for a bond of them");
		if (n > 1)
			return req_fail(err, -EINVAL, "%zu %s without a bond name: give one, or a "
					"name for a bond of them", n,
					r->n_vdev ? "vdevs" : "PCI addresses");
		return n ? port_member(r, 0, out->dev, err) : 0;
	}
	if (n < 2)
		return req_fail(err, -EINVAL, "bond name given with %zu device(s): a bond needs "
				"at least two", n);
	rc = req_bond_name(r->name, err);
	if (rc != 0)
		return rc;
	if (n > VFWD_BOND_MAX_MEMBERS)
		return req_fail(err, -E2BIG, "%zu devices for bond %s: at most %d", n, r->name,
				VFWD_BOND_MAX_MEMBERS);
	out->mode = removal ? -1 : r->has_mode ? (int)r->mode : REQ_BOND_MODE_DEFAULT;
	if (!removal && r->has_mode) {
		rc = bond_mode(r->mode, err);
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		rc = port_member(r, i, out->members[i], err);
		if (rc != 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (req_same_dev(out->members[j], out->members[i]))
				return req_fail(err, -EINVAL, "bond %s: %s given twice", r->name,
						out->members[i]);
	}
	out->n_members = (unsigned)n;
	snprintf(out->dev, sizeof(out->dev), "%s", r->name);
	return 0;
}

int req_port(const Virtioforwarder__PortControlRequest *r, bool dynamic_sockets,
	     struct req_port *out, struct req_err *err)
{
	static const char *const op_names[] = {
		"ADD", "REMOVE", "ADD_SOCK", "REMOVE_SOCK", "QUERY_PCI",
	};
	bool need_id = false, need_dev = false, need_path = false, sock_op = false;
	const char *op;
	int rc;

	memset(out, 0, sizeof(*out));
	switch (r->op) {
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD:
		need_id = need_dev = true;
		break;
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE:
		need_id = true;
		break;
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD_SOCK:
		need_path = need_dev = sock_op = true;
		break;
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE_SOCK:
		need_path = sock_op = true;
		break;
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__QUERY_PCI:
		need_path = true;
		break;
	default:
		return req_fail(err, -EINVAL, "unknown op %d: ADD=0, REMOVE=1, ADD_SOCK=2, "
				"REMOVE_SOCK=3, QUERY_PCI=4", (int)r->op);
	}
	op = op_names[r->op];
	out->op = r->op;
	out->conditional = r->has_conditional ? r->conditional : true;
	if (sock_op && !dynamic_sockets)
		return req_fail(err, -EPERM, "%s needs dynamic sockets: start virtio-forwarder "
				"with VIRTIOFWD_DYNAMIC_SOCKETS=true (or -d)", op);
	if (need_id) {
		if (!r->has_virtio_id)
			return req_fail(err, -EINVAL, "%s needs virtio_id (--virtio-id)", op);
		rc = req_relay_id(r->virtio_id, "virtio_id", err);
		if (rc != 0)
			return rc;
		out->id = r->virtio_id;
	}
	if (need_path) {
		if (!r->vhost_path)
			return req_fail(err, -EINVAL, "%s needs vhost_path (--vhost-path)", op);
		rc = req_vhost_path(r->vhost_path, err);
		if (rc != 0)
			return rc;
		snprintf(out->path, sizeof(out->path), "%s", r->vhost_path);
	}
	/* QUERY_PCI answers the device: one given would be ignored. */
	if (out->op != VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__QUERY_PCI) {
		rc = port_device(r, !need_dev, out, err);
		if (rc != 0)
			return rc;
	}
	if (need_dev && !out->dev[0])
		return req_fail(err, -EINVAL, "%s needs the VF's PCI address (--pci-addr)", op);
	return 0;
}

#define MEMBER_KEY ",member="

/* A bond's VF string starts with its name, which is neither a PCI address
 * (it has no ':') nor a vdev (req_bond_name). */
static bool vf_is_bond(const char *vf)
{
	size_t n = strcspn(vf, ",");

	return n > 0 && strncmp(vf, "net_", 4) != 0 && !memchr(vf, ':', n);
}

/* The next member of a bond's VF string after position s, or NULL. */
static const char *next_member(const char *s)
{
	s = strstr(s, MEMBER_KEY);
	return s ? s + strlen(MEMBER_KEY) : NULL;
}

/* Whether vf is dev (a device, or a bond's name) or has it as a member. */
static bool vf_uses(const char *vf, const char *dev)
{
	if (req_same_dev(vf, dev))
		return true;
	if (!vf_is_bond(vf))
		return false;
	for (const char *m = next_member(vf); m; m = next_member(m))
		if (req_same_dev(m, dev))
			return true;
	return false;
}

bool req_port_is(const struct req_port *p, const char *vf)
{
	const char *mode;
	unsigned n = 0;

	if (!p->n_members)
		return !vf_is_bond(vf) && req_same_dev(vf, p->dev);
	if (!vf_is_bond(vf) || !req_same_dev(vf, p->dev))
		return false;
	mode = strstr(vf, ",mode=");
	if (p->mode >= 0 && (!mode || atoi(mode + strlen(",mode=")) != p->mode))
		return false;
	/* The same count, and each of vf's members one of p's (which are
	 * all different): the same set. */
	for (const char *m = next_member(vf); m; m = next_member(m), n++) {
		unsigned i = 0;

		while (i < p->n_members && !req_same_dev(m, p->members[i]))
			i++;
		if (i == p->n_members)
			return false;
	}
	return n == p->n_members;
}

bool req_port_overlaps(const struct req_port *p, const char *vf)
{
	if (vf_uses(vf, p->dev))
		return true;
	for (unsigned i = 0; i < p->n_members; i++)
		if (vf_uses(vf, p->members[i]))
			return true;
	return false;
}

const char *req_port_show(const struct req_port *p, char *buf, size_t len)
{
	size_t at;

	if (!p->n_members) {
		snprintf(buf, len, "%s", p->dev);
		return buf;
	}
	at = (size_t)snprintf(buf, len, "bond %s of ", p->dev);
	for (unsigned i = 0; i < p->n_members && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%.*s", i ? ", " : "",
				       (int)strcspn(p->members[i], ","), p->members[i]);
	return buf;
}

int req_stats(const Virtioforwarder__StatsRequest *r, struct req_stats *out,
	      struct req_err *err)
{
	memset(out, 0, sizeof(*out));
	if (r->n_relay > VFWD_MAX_RELAYS)
		return req_fail(err, -E2BIG, "%zu relay ids in one request: there are only %u "
				"relays (an empty list means all)", r->n_relay, VFWD_MAX_RELAYS);
	out->all = r->n_relay == 0;
	for (size_t i = 0; i < r->n_relay; i++) {
		int rc = req_relay_id(r->relay[i], "relay", err);

		if (rc != 0)
			return rc;
		out->want[r->relay[i]] = true;
	}
	out->include_inactive = r->has_include_inactive ? r->include_inactive : true;
	out->delay_ms = r->has_delay ? r->delay : 0;
	if (out->delay_ms > REQ_MAX_DELAY_MS)
		return req_fail(err, -EINVAL, "delay %u ms is longer than the %u ms maximum",
				out->delay_ms, REQ_MAX_DELAY_MS);
	return 0;
}

static int pin_cpu(int32_t cpu, const struct cfg_cpuset *workers, unsigned relay,
		   const char *dir, struct req_err *err)
{
	char list[256];

	/* -1 is relay_pin's "leave it"; any other CPU must be a worker. */
	if (cpu == -1 || (cpu >= 0 && cfg_cpuset_has(workers, (unsigned)cpu)))
		return 0;
	cfg_cpuset_format(workers, list, sizeof(list));
	return req_fail(err, -EINVAL, "relay %u: %s CPU %d is not a worker CPU of this "
			"daemon: worker CPUs are %s (VIRTIOFWD_CPU_MASK)", relay, dir,
			(int)cpu, list);
}

int req_pins(const Virtioforwarder__CoreSchedRequest *r, const struct cfg_cpuset *workers,
	     struct req_pin *pins, size_t *n, struct req_err *err)
{
	bool seen[VFWD_MAX_RELAYS] = { false };

	*n = 0;
	if (r->n_relay_cpu_map > VFWD_MAX_RELAYS)
		return req_fail(err, -E2BIG, "%zu entries in relay_cpu_map: there are only %u "
				"relays", r->n_relay_cpu_map, VFWD_MAX_RELAYS);
	for (size_t i = 0; i < r->n_relay_cpu_map; i++) {
		const Virtioforwarder__RelayCPU *m = r->relay_cpu_map[i];
		struct req_pin *p = &pins[i];
		int rc = req_relay_id(m->relay_number, "relay_number", err);

		if (rc != 0)
			return rc;
		p->relay = (unsigned)m->relay_number;
		if (seen[p->relay])
			return req_fail(err, -EINVAL, "relay %u appears twice in relay_cpu_map",
					p->relay);
		seen[p->relay] = true;
		p->cpu[VFWD_VF_TO_VM] = m->vf2virtio_cpu;
		p->cpu[VFWD_VM_TO_VF] = m->virtio2vf_cpu;
		rc = pin_cpu(m->vf2virtio_cpu, workers, p->relay, "VF->VM (vf2virtio_cpu)", err);
		if (rc == 0)
			rc = pin_cpu(m->virtio2vf_cpu, workers, p->relay, "VM->VF (virtio2vf_cpu)",
				     err);
		if (rc != 0)
			return rc;
	}
	*n = r->n_relay_cpu_map;
	return 0;
}
