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
/* A PciAddress -> canonical "dddd:bb:ss.f" in out (at least 13 bytes). */
int req_pci(const Virtioforwarder__PciAddress *a, char *out, size_t len,
	    struct req_err *err);
/* A vdev devargs string (the vdev extension field). */
int req_vdev(const char *devargs, struct req_err *err);
/* Whether two device strings name the same device: canonical PCI addresses
 * compare whole, vdevs by name (devargs up to the first ','), since DPDK
 * cannot have two vdevs of one name anyway. */
bool req_same_dev(const char *a, const char *b);

struct req_port {
	Virtioforwarder__PortControlRequest__Op op;
	unsigned id;                     /* ADD, REMOVE */
	char dev[VFWD_DEVARGS_MAX];      /* "" when the request names none */
	char path[REQ_PATH_MAX];         /* ADD_SOCK, REMOVE_SOCK, QUERY_PCI */
	bool conditional;
};

int req_port(const Virtioforwarder__PortControlRequest *r, bool dynamic_sockets,
	     struct req_port *out, struct req_err *err);

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
