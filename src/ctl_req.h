/* ctl_req: validation of control-plane requests. Pure C (no DPDK, no
 * ZeroMQ) so that it is unit-tested on its own: everything a client sends
 * goes through here before the daemon acts on it.
 *
 *   req_port(r, dynamic, &out, &err)       a PortControlRequest -> what to do
 *   req_stats(r, &out, &err)               a StatsRequest -> relay filter, delay
 *   req_pins(r, workers, pins, &n, &err)   a CoreSchedRequest UPDATE -> pins
 *
 * Each check returns 0, or a negative errno with err->msg naming what was
 * wrong and how to fix it (that text goes back to the client verbatim as
 * error_code_source).
 */
#ifndef VFWD_CTL_REQ_H
#define VFWD_CTL_REQ_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "virtioforwarder.pb-c.h"

#define REQ_MAX_DELAY_MS 10000u   /* longest StatsRequest.delay: a stats
				     request holds its service this long */
#define REQ_PATH_MAX 108          /* sizeof(sockaddr_un.sun_path), NUL included */

struct req_err {
	int code;                    /* negative errno */
	char msg[VFWD_ERR_MAX];
};

/* Sets err and returns code. */
int req_fail(struct req_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A relay id of a request (what names the field, e.g. "virtio_id"). */
int req_relay_id(int64_t id, const char *what, struct req_err *err);
/* A vhost-user socket path: absolute, no "..", no control characters,
 * short enough for a unix socket address. */
int req_vhost_path(const char *path, struct req_err *err);
/* A socket path a control client may have the daemon create (and, in
 * server mode, replace): only below the configured socket directory, so
 * that a client cannot make it unlink or shadow a socket elsewhere. path
 * has passed req_vhost_path. */
int req_path_in_dir(const char *path, const char *dir, struct req_err *err);
/* A PciAddress -> canonical "dddd:bb:ss.f" in out (at least 13 bytes). */
int req_pci(const Virtioforwarder__PciAddress *a, char *out, size_t len,
	    struct req_err *err);
/* A vdev devargs string (the vdev extension field). */
int req_vdev(const char *devargs, struct req_err *err);
/* A bond's name: letters, digits, '_', '-', '.', at most VFWD_BOND_NAME_MAX,
 * not starting with "net_": so that it can be told from a PCI address (which
 * has ':') and from a vdev, and makes a valid DPDK device name. */
int req_bond_name(const char *name, struct req_err *err);
/* Whether two device strings name the same device: canonical PCI addresses
 * compare whole, vdevs by name (devargs up to the first ','), since DPDK
 * cannot have two vdevs of one name anyway. */
bool req_same_dev(const char *a, const char *b);

#define REQ_BOND_MODE_DEFAULT 1   /* active-backup, in DPDK's numbering */

struct req_port {
	Virtioforwarder__PortControlRequest__Op op;
	unsigned id;                     /* ADD, REMOVE */
	/* One device (canonical PCI address or vdev devargs), or the name of
	 * a bond; "" when the request names none. */
	char dev[VFWD_DEVARGS_MAX];
	/* A bond: its members in order (PCI addresses, then vdevs; the first
	 * is an active-backup bond's primary) and its mode, which is -1 in
	 * removals (they find the bond whatever its mode). No member twice. */
	unsigned n_members;              /* 0: dev is one device */
	char members[VFWD_BOND_MAX_MEMBERS][VFWD_DEVARGS_MAX];
	int mode;
	char path[REQ_PATH_MAX];         /* ADD_SOCK, REMOVE_SOCK, QUERY_PCI */
	bool conditional;
};

int req_port(const Virtioforwarder__PortControlRequest *r, bool dynamic_sockets,
	     struct req_port *out, struct req_err *err);

/* A relay's VF as the relay table shows it (relay_info.vf): one device, or
 * a bond as "NAME,mode=M,member=DEV,member=DEV..." with each member by its
 * device name (a PCI address, or a vdev's devargs up to the first ','). */

/* Whether the relay's VF vf is what p names: the same device, or a bond of
 * that name with the same members (in any order) and, unless p->mode is
 * -1, the same mode. */
bool req_port_is(const struct req_port *p, const char *vf);
/* Whether the relay's VF vf has a device of p, or is a bond of p's name:
 * the two cannot both be attached. */
bool req_port_overlaps(const struct req_port *p, const char *vf);
/* What p names, for messages: "0000:05:08.1", or "bond b0 of A, B". */
const char *req_port_show(const struct req_port *p, char *buf, size_t len);

struct req_stats {
	bool all;                        /* no relay filter */
	bool want[VFWD_MAX_RELAYS];
	bool include_inactive;
	unsigned delay_ms;
};

int req_stats(const Virtioforwarder__StatsRequest *r, struct req_stats *out,
	      struct req_err *err);

struct req_pin {
	unsigned relay;
	int cpu[VFWD_NB_DIRS];           /* -1: leave that direction where it is */
};

/* Every entry is checked before any is applied, so that a bad one leaves
 * the relays as they were. pins holds VFWD_MAX_RELAYS entries; a relay
 * named twice is an error. */
int req_pins(const Virtioforwarder__CoreSchedRequest *r, const struct cfg_cpuset *workers,
	     struct req_pin *pins, size_t *n, struct req_err *err);

#endif
