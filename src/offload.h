/* offload: the guest's checksum and TCP segmentation requests (-T) made
 * good on the way to a VF. rte_vhost turns the virtio-net header of each
 * packet a guest sends into mbuf TX offload flags; what the VF does itself
 * (its TX offloads, enabled by vf_attach) goes to it as flags, the rest is
 * done here in software: checksums with rte_net's helpers, TCP/IPv4
 * segmentation with rte_gso.
 *
 *   OFFLOAD_VF_TX           the TX offloads asked of a VF under -T
 *   offload_vf_sink         the sink of a VM->VF direction under -T
 *
 * A segmented packet counts once, as the guest sent it, in the relay's
 * counters. Segments the VF's TX ring refuses are staged in the fwd_dir
 * and sent before anything else: the same backpressure as worker.h's
 * (fwd_drop_held frees them with the held packets).
 */
#ifndef VFWD_OFFLOAD_H
#define VFWD_OFFLOAD_H

#include <stdint.h>

#include <rte_ethdev.h>

#include "worker.h"

#define OFFLOAD_VF_TX (RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | \
		       RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)

uint16_t offload_vf_sink(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n);

#endif
