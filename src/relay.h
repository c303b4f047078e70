/* relay: the table of up to 64 relays (VF <-> virtio pairs, named by their
 * virtio id), their state, and the one place that decides what each worker
 * polls (relay_apply, internal). Every entry point takes the relay lock, so
 * the vhost thread, the control services and the main thread may call them
 * concurrently.
 *
 * State of a relay: a VF (attached, started while its VM is there), a
 * vhost-user socket (registered), a VM (connected, with enabled queues).
 * VF->VM runs when VF and VM are both there; VM->VF runs whenever the VM is
 * there, dropping (counted as "VF not connected") while there is no VF.
 */
#ifndef VFWD_RELAY_H
#define VFWD_RELAY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

#define RELAY_DEV_NAME_MAX 64       /* an ethdev name: RTE_ETH_NAME_MAX_LEN */

struct relay_info {
	unsigned id;
	bool in_use;                   /* has a VF or a socket */
	bool vf_attached, vf_started, vf_link_up, socket_registered, vm_connected;
	bool dir_active[VFWD_NB_DIRS];
	/* The device, or a bond as "NAME,mode=M,member=DEV,member=DEV..."
	 * with each member by its device name (ctl_req.h matches on this). */
	char vf[VFWD_DEVARGS_MAX];
	/* The member carrying an active-backup bond's traffic, "" if none or
	 * not a bond. */
	char vf_active[RELAY_DEV_NAME_MAX];
	char socket[PATH_MAX];
	int vid;
	int numa_node;                 /* of the relay's buffers */
	unsigned guest_rx_queues, guest_tx_queues;   /* enabled */
	unsigned vf_queues;            /* queue pairs of the VF, 0 without one */
	int cpu[VFWD_NB_DIRS];         /* lcore serving each direction (not placed
					 * yet: its pin), -1 none */
	struct dir_counters counters[VFWD_NB_DIRS];
	unsigned held[VFWD_NB_DIRS];   /* taken, waiting for a full destination */
	uint64_t vf_rx_missed;         /* see vf_rx_missed() */
	unsigned pool_size, pool_in_use;
};

int relay_init(const struct vfwd_config *cfg);

int relay_add_vf(unsigned id, const char *dev, char *err, size_t errlen);
/* A bond of the member devices (PCI addresses or vdev devargs; the first is
 * the primary) as relay id's VF, in DPDK bonding mode `mode`. It is removed
 * by relay_remove_vf like any VF. */
int relay_add_bond(unsigned id, const char *name, unsigned mode, const char *const members[],
		   unsigned n, char *err, size_t errlen);
int relay_remove_vf(unsigned id, char *err, size_t errlen);
int relay_add_socket(unsigned id, const char *path, char *err, size_t errlen);
int relay_remove_socket(unsigned id, char *err, size_t errlen);
/* Moves the directions of relay id to the workers on these lcores (-1 keeps
 * a direction where it is). Errors if an lcore is not a worker. */
int relay_pin(unsigned id, int lcore_vf_to_vm, int lcore_vm_to_vf, char *err, size_t errlen);

/* vhost-user events (vhost thread). relay_vm_vring is called by rte_vhost
 * with every virtqueue lock held, while a worker may be spinning on one of
 * them: it must not wait for workers, nor for the relay lock (whose holder
 * may be waiting for workers). It only records the change; the main thread
 * applies it in relay_process_events(). */
/* A frontend connected; relay_vm_connected follows once it set its
 * device up (and is retried after each message while it refuses). */
void relay_vm_new_connection(int vid);
int relay_vm_connected(int vid, const char *path);
void relay_vm_disconnected(int vid);
void relay_vm_vring(int vid, uint16_t vq, bool enable);
/* Applies recorded virtqueue changes, and retries VFs that failed to start
 * (a memif peer not up yet, a link not ready); the main loop calls it often. */
void relay_process_events(void);

int relay_get_info(unsigned id, struct relay_info *out);
/* Number of relays with a VF or a socket. */
unsigned relay_count(void);
/* Stops every relay: sockets unregistered, VFs detached, pools checked. */
void relay_shutdown(void);

#endif
