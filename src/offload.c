#include "offload.h"

#include <errno.h>
#include <string.h>

#include <rte_gso.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#define L4_REQ (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)

/* The checksum of the TCP or UDP segment behind m's L3 header, which must
 * be in m's first buffer with the L4 header (rte_vhost's parse says the
 * L2 and L3 headers are; the rest is checked here). The guest left the
 * pseudo-header sum in the field; the helpers want it zero. */
static void sw_l4_cksum(struct rte_mbuf *m, bool tcp)
{
	uint32_t off = (uint32_t)m->l2_len + m->l3_len;
	void *l3 = rte_pktmbuf_mtod_offset(m, void *, m->l2_len);
	struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, off);
	struct rte_udp_hdr *uh = rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, off);
	uint16_t sum;

	if (rte_pktmbuf_data_len(m) < off + (tcp ? sizeof(*th) : sizeof(*uh)))
		return;
	if (tcp)
		th->cksum = 0;
	else
		uh->dgram_cksum = 0;
	sum = (m->ol_flags & RTE_MBUF_F_TX_IPV4) ?
		rte_ipv4_udptcp_cksum_mbuf(m, l3, (uint16_t)off) :
		rte_ipv6_udptcp_cksum_mbuf(m, l3, (uint16_t)off);
	if (tcp)
		th->cksum = sum;
	else
		uh->dgram_cksum = sum;
}

/* What the VF does not do for m, done now; what it does, asked of it. */
static void finish(struct rte_mbuf *m, uint64_t vf_tx)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
	bool tcp = l4 == RTE_MBUF_F_TX_TCP_CKSUM;

	/* No UDP segmentation is offered to guests (rte_vhost reports a
	 * header asking for it all the same): such a packet goes whole. */
	m->ol_flags &= ~RTE_MBUF_F_TX_UDP_SEG;
	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
		/* The VF segments it. An IPv4 header's checksum changes
		 * with every segment: the VF computes each, from zero. */
		if ((m->ol_flags & RTE_MBUF_F_TX_IPV4) &&
		    (vf_tx & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) {
			rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *,
						m->l2_len)->hdr_checksum = 0;
			m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
		}
		return;
	}
	if (l4 == 0 || (tcp && (vf_tx & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) ||
	    (l4 == RTE_MBUF_F_TX_UDP_CKSUM && (vf_tx & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)))
		return;
	if (tcp || l4 == RTE_MBUF_F_TX_UDP_CKSUM)
		sw_l4_cksum(m, tcp);
	/* SCTP's CRC is left as the guest wrote it: no guest asks, as
	 * virtio-net offers no SCTP offload. */
	m->ol_flags &= ~(RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IP_CKSUM);
}

/* Offers the staged segments to the VF; true when none is left. */
static bool send_staged(struct fwd_dir *d)
{
	uint16_t n = d->nb_staged;
	uint16_t k = rte_eth_tx_burst(d->p.port_id, d->p.dst_queues[0], d->staged, n);

	if (k < n)
		memmove(d->staged, d->staged + k, (size_t)(n - k) * sizeof(d->staged[0]));
	d->nb_staged = (uint16_t)(n - k);
	return d->nb_staged == 0;
}

/* Segments the TCP/IPv4 packet m the VF cannot segment into d's stage,
 * each with its checksums done (rte_gso leaves them as they were). On
 * failure m stays the caller's: -ENOMEM, no mbufs for the segments now;
 * -EINVAL, never (more segments than the stage holds, or not TCP/IPv4:
 * TSO for IPv6 is not offered, rte_gso has none). */
static int segment(struct fwd_dir *d, struct rte_mbuf *m)
{
	uint16_t hdr = (uint16_t)(m->l2_len + m->l3_len + m->l4_len);
	struct rte_gso_ctx ctx = {
		.direct_pool = d->p.pool,
		.indirect_pool = d->p.pool,
		.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO,
		.gso_size = (uint16_t)RTE_MIN((uint32_t)hdr + m->tso_segsz, (uint32_t)UINT16_MAX),
		.flag = 0,               /* IP IDs count up, as the guest's would */
	};
	uint16_t l2 = m->l2_len, l3 = m->l3_len;
	int nb;

	if (!(m->ol_flags & RTE_MBUF_F_TX_IPV4))
		return -EINVAL;
	nb = rte_gso_segment(m, &ctx, d->staged, FWD_STAGE_MAX);
	if (nb < 0)
		return nb;
	if (nb == 0) {
		/* Its segment size covers it whole (rte_gso cleared its
		 * TCP_SEG): fine if it is a frame the relay carries. */
		if (rte_pktmbuf_pkt_len(m) > d->p.max_frame)
			return -EINVAL;
		d->staged[0] = m;
		nb = 1;
	} else {
		/* The segments hold m's data by reference. */
		rte_pktmbuf_free(m);
	}
	for (int i = 0; i < nb; i++) {
		struct rte_mbuf *s = d->staged[i];
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(s, struct rte_ipv4_hdr *, l2);

		s->l2_len = l2;
		s->l3_len = l3;
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		sw_l4_cksum(s, true);
		s->ol_flags &= ~(RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IP_CKSUM);
	}
	d->nb_staged = (uint16_t)nb;
	return 0;
}

uint16_t offload_vf_sink(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t vf_tx = d->p.vf_tx_offloads;
	uint16_t taken = 0;
	int rc;

	RTE_SET_USED(qi);              /* one VF TX queue: see vf_sink */
	if (unlikely(d->nb_staged > 0) && !send_staged(d))
		return 0;
	while (taken < n) {
		uint16_t run = 0, k;
		bool hw = false;

		/* The packets up to the next one to segment here go as they
		 * are, finished. */
		for (; taken + run < n; run++) {
			struct rte_mbuf *m = pkts[taken + run];

			if (!(m->ol_flags & L4_REQ))
				continue;
			if ((m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) &&
			    !(vf_tx & RTE_ETH_TX_OFFLOAD_TCP_TSO))
				break;
			finish(m, vf_tx);
			hw |= (m->ol_flags & (L4_REQ | RTE_MBUF_F_TX_IP_CKSUM)) != 0;
		}
		if (run > 0) {
			/* rte_eth_tx_prepare sets what the NIC needs (e.g. the
			 * pseudo-header sums some want in place). */
			uint16_t ok = hw ? rte_eth_tx_prepare(d->p.port_id, d->p.dst_queues[0],
							      pkts + taken, run) : run;

			k = rte_eth_tx_burst(d->p.port_id, d->p.dst_queues[0], pkts + taken, ok);
			taken = (uint16_t)(taken + k);
			if (k < ok)
				return taken;
			if (ok < run) {
				/* The VF says it can never send pkts[taken]. */
				d->unplaceable = true;
				return taken;
			}
		}
		if (taken == n)
			break;
		rc = segment(d, pkts[taken]);
		if (rc != 0) {
			d->unplaceable = rc == -EINVAL;
			return taken;
		}
		taken++;
		if (!send_staged(d))
			return taken;
	}
	return taken;
}
