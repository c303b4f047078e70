/* ethdev: the VF side of a relay. A VF is a PCI address (an SR-IOV VF bound
 * to vfio-pci) or any DPDK vdev devargs string (net_memif, net_af_packet,
 * net_tap, ...), probed at run time with rte_dev_probe.
 *
 *   vf_attach(dev, pool, conf, &port, err)  probe + configure (not started)
 *   vf_attach_bond(bond, pool, conf, &port, err)
 *                                            probe the members, bond them in a
 *                                            DPDK bonding device, configure that
 *   vf_start(port) / vf_stop(port)          the VF runs only while its VM is there
 *   vf_set_pool(port, pool, err)             a stopped VF receives into pool from now
 *   vf_queue_pairs(port)                     the queue pairs it was given
 *   vf_detach(port)                          stop, close, remove the device (a
 *                                            bond: then its members)
 *   vf_redials_on_start(dev)                 whether a vdev regains a lost link
 *                                            only by a restart (a memif client)
 *   vf_source / vf_sink                      the hot-path ends of a fwd_dir
 *
 * A bond is configured, started and stopped as one port: it configures and
 * starts its members itself, and follows their links (polled, for members
 * without link interrupts), failing over on its own.
 */
#ifndef VFWD_ETHDEV_H
#define VFWD_ETHDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker.h"

struct rte_mempool;

/* A bond of VFs: a DPDK bonding device (named "net_bonding_<name>") over
 * members given as PCI addresses or vdev devargs; the first member is
 * the primary. */
struct vf_bond {
	const char *name;
	uint8_t mode;                    /* BONDING_MODE_* */
	unsigned n_members;
	const char *const *members;
};

/* How a VF is set up. */
struct vf_conf {
	uint16_t mtu;                    /* 0: leave the VF's own */
	bool offloads;                   /* enable the TX offloads of OFFLOAD_VF_TX
					  * the VF has */
	/* Queue pairs wanted; the VF gets as many as it has, up to this, with
	 * RSS spreading flows over its RX queues where it does RSS. */
	uint16_t queues;
};

int vf_attach(const char *dev, struct rte_mempool *pool, const struct vf_conf *conf,
	      uint16_t *port_out, char *err, size_t errlen);
int vf_attach_bond(const struct vf_bond *bond, struct rte_mempool *pool,
		   const struct vf_conf *conf, uint16_t *port_out, char *err, size_t errlen);
uint16_t vf_queue_pairs(uint16_t port);
/* The TX offloads enabled on port. */
uint64_t vf_tx_offloads(uint16_t port);
int vf_start(uint16_t port, char *err, size_t errlen);
int vf_set_pool(uint16_t port, struct rte_mempool *pool, char *err, size_t errlen);
void vf_stop(uint16_t port);
void vf_detach(uint16_t port);
/* Whether port's link is up, and in *replaced (if not NULL) whether the
 * interface behind it (net_af_packet's iface=) was deleted and made again
 * since the probe: the port is bound to the old one, and only detaching
 * and attaching it anew follows the new one. While it is gone the link
 * is down. */
bool vf_link_up(uint16_t port, bool *replaced);
/* Frames the VF could not take in since it was attached: its RX ring was
 * full (imissed) or it had no mbuf (rx_nombuf). Where backpressure from a
 * guest that does not keep up ends as drops. */
uint64_t vf_rx_missed(uint16_t port);
/* The member carrying an active-backup bond's traffic, by name into name;
 * false (and "") when port is no such bond or has no member with link. */
bool vf_bond_active(uint16_t port, char *name, size_t len);
/* Whether the vdev dev regains a lost link only by being started again:
 * a memif client (memif's default role) dials its server only when its
 * port starts. A memif server keeps listening, and a restart would cut
 * the handshake of a client connecting just then; other kinds follow
 * their interface. */
bool vf_redials_on_start(const char *dev);
/* NUMA node of a VF not yet probed (a PCI device; the first member of a
 * bond), or -1 when unknown or a vdev. */
int vf_numa_node(const char *dev);

uint16_t vf_source(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t max);
uint16_t vf_sink(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n);

#endif
