#include "ethdev.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eth_bond.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "config.h"
#include "log.h"
#include "offload.h"

#define VF_RX_DESC 1024
#define VF_TX_DESC 1024

/* The ethdev name a devargs string will probe as: the text before the
 * first comma (for a PCI device, its canonical address). */
static void dev_name_of(const char *dev, char *name, size_t len)
{
	size_t n = strcspn(dev, ",");

	if (n >= len)
		n = len - 1;
	memcpy(name, dev, n);
	name[n] = '\0';
}

/* Explains why a PCI VF cannot be probed, from what sysfs shows. */
static void explain_pci(const char *pci, int rc, char *err, size_t errlen)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", pci);
	if (access(path, F_OK) != 0) {
		snprintf(err, errlen,
			 "VF %s: no such PCI device on this host (see lspci -D, "
			 "or dpdk-devbind.py --status)", pci);
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", pci);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		snprintf(err, errlen,
			 "VF %s is not bound to any driver: bind it to vfio-pci "
			 "(modprobe vfio-pci; dpdk-devbind.py -b vfio-pci %s)", pci, pci);
		return;
	}
	link[n] = '\0';
	if (!strstr(link, "vfio-pci") && !strstr(link, "uio")) {
		const char *drv = strrchr(link, '/');

		snprintf(err, errlen,
			 "VF %s is bound to %s, not vfio-pci: rebind it "
			 "(dpdk-devbind.py -b vfio-pci %s)", pci, drv ? drv + 1 : link, pci);
		return;
	}
	snprintf(err, errlen, "VF %s: probe failed: %s", pci, rte_strerror(-rc));
}

int vf_numa_node(const char *dev)
{
	char name[VFWD_DEVARGS_MAX], path[PATH_MAX];
	int node = -1;
	FILE *f;

	dev_name_of(dev, name, sizeof(name));
	if (strncmp(name, "net_", 4) == 0)
		return -1;
	/* Before the probe, so that the relay's worker and pool can be chosen
	 * on the VF's node: sysfs knows it (-1 on hosts without NUMA). */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &node) != 1)
		node = -1;
	fclose(f);
	return node;
}

bool vf_redials_on_start(const char *dev)
{
	const char *arg = strchr(dev, ',');

	if (strncmp(dev, "net_memif", 9) != 0)
		return false;
	/* memif reads its role=... with strstr, and takes "master" for
	 * server as well. */
	for (; arg; arg = strchr(arg + 1, ',')) {
		size_t n = strcspn(arg + 1, ",");
		char value[32];

		if (strncmp(arg + 1, "role=", 5) != 0 || n - 5 >= sizeof(value))
			continue;
		memcpy(value, arg + 6, n - 5);
		value[n - 5] = '\0';
		return !strstr(value, "server") && !strstr(value, "master");
	}
	return true;
}

/* Probes dev (a PCI address or vdev devargs) into an ethdev port. */
static int vf_probe(const char *dev, uint16_t *port_out, char *err, size_t errlen)
{
	char name[VFWD_DEVARGS_MAX];
	char canon[16];
	bool is_pci = cfg_canon_pci(dev, canon, sizeof(canon)) == 0;
	uint16_t port;
	int rc;

	dev_name_of(is_pci ? canon : dev, name, sizeof(name));
	if (rte_eth_dev_get_port_by_name(name, &port) == 0) {
		snprintf(err, errlen, "VF %s is already in use (port %u)", name, port);
		return -EEXIST;
	}
	rc = rte_dev_probe(is_pci ? canon : dev);
	if (rc != 0) {
		if (is_pci)
			explain_pci(canon, rc, err, errlen);
		else
			snprintf(err, errlen,
				 "VF %s: cannot create the DPDK device: %s (check the "
				 "driver name and its arguments, see the DPDK guide of "
				 "that PMD)", dev, rte_strerror(-rc));
		return rc < 0 ? rc : -EINVAL;
	}
	if (rte_eth_dev_get_port_by_name(name, &port) != 0) {
		snprintf(err, errlen,
			 "VF %s was probed but gave no ethdev port named %s "
			 "(is it a network device?)", dev, name);
		rte_eal_hotplug_remove(is_pci ? "pci" : "vdev", name);
		return -ENODEV;
	}
	*port_out = port;
	return 0;
}

/* The port's RX queues on pool (and its TX queues, with_tx), on the
 * port's NUMA node: as many as it was configured with. */
static int queues_setup(uint16_t port, struct rte_mempool *pool, bool with_tx)
{
	uint16_t nb_rx = VF_RX_DESC, nb_tx = VF_TX_DESC;
	int node = rte_eth_dev_socket_id(port);
	struct rte_eth_dev_info info;
	int rc;

	if (node < 0)
		node = (int)SOCKET_ID_ANY;
	rc = rte_eth_dev_info_get(port, &info);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rx, &nb_tx);
	for (uint16_t q = 0; rc == 0 && q < info.nb_rx_queues; q++)
		rc = rte_eth_rx_queue_setup(port, q, nb_rx, (unsigned)node, NULL, pool);
	for (uint16_t q = 0; rc == 0 && with_tx && q < info.nb_tx_queues; q++)
		rc = rte_eth_tx_queue_setup(port, q, nb_tx, (unsigned)node, NULL);
	return rc;
}

int vf_set_pool(uint16_t port, struct rte_mempool *pool, char *err, size_t errlen)
{
	int rc = queues_setup(port, pool, false);

	if (rc != 0)
		snprintf(err, errlen, "port %u: cannot set its RX queues on the new pool: %s",
			 port, rte_strerror(-rc));
	return rc;
}

uint16_t vf_queue_pairs(uint16_t port)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_info_get(port, &info) == 0 ? info.nb_rx_queues : 1;
}

/* The queue pairs port gets of the `wanted`, and with them, where the VF
 * can, RSS in conf: it spreads flows over its RX queues itself, each flow
 * on one, so that each VF queue feeds its own guest queue. */
static uint16_t queue_pairs_conf(const char *name, const struct rte_eth_dev_info *info,
				 uint16_t wanted, struct rte_eth_conf *conf)
{
	uint16_t n = RTE_MIN(wanted, RTE_MIN(info->max_rx_queues, info->max_tx_queues));
	uint64_t rss = info->flow_type_rss_offloads &
		       (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);

	n = RTE_MAX(n, 1);
	if (n < wanted)
		VLOG_WARN("VF %s: %u queue pairs asked (VIRTIOFWD_VF_QUEUES), it has %u", name,
			  wanted, n);
	if (n == 1)
		return n;
	if (rss) {
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf->rx_adv_conf.rss_conf.rss_hf = rss;
		conf->rxmode.offloads |= info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH;
		VLOG_INFO("VF %s: %u queue pairs, flows spread over them by RSS", name, n);
	} else {
		/* memif: its peer picks the ring of each frame. */
		VLOG_INFO("VF %s: %u queue pairs, no RSS: the sender picks the queue", name, n);
	}
	return n;
}

/* Configures a probed port, a single VF or a bond alike: its queue pairs,
 * RX on the relay's pool. On failure the port is detached. */
static int vf_setup(uint16_t port, struct rte_mempool *pool, const struct vf_conf *vc,
		    uint16_t *port_out, char *err, size_t errlen)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	char name[RTE_ETH_NAME_MAX_LEN];
	uint16_t nq;
	int rc;

	rte_eth_dev_get_name_by_port(port, name);
	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		goto fail;
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	/* Guests can hand us chained buffers (mergeable / indirect
	 * descriptors), so the VF must accept them. */
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	/* What the VF does of the guests' checksum and segmentation
	 * requests; offload.c does the rest. */
	if (vc->offloads) {
		uint64_t tx = info.tx_offload_capa & OFFLOAD_VF_TX;

		/* DPDK 22.11's net_tap refuses, for ever, a TSO packet whose
		 * segments with their headers exceed its MTU (it compares a
		 * frame with an L3 MTU): every full-sized segment. */
		if (strcmp(info.driver_name, "net_tap") == 0)
			tx &= ~RTE_ETH_TX_OFFLOAD_TCP_TSO;
		conf.txmode.offloads |= tx;
		/* The VF's verdict on each frame's checksums reaches the guest
		 * (DATA_VALID), which then need not verify them again. */
		conf.rxmode.offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM;
		VLOG_INFO("VF %s: does TSO %s, TCP checksums %s, UDP checksums %s "
			  "(what it does not, the relay does in software)", name,
			  tx & RTE_ETH_TX_OFFLOAD_TCP_TSO ? "itself" : "not",
			  tx & RTE_ETH_TX_OFFLOAD_TCP_CKSUM ? "itself" : "not",
			  tx & RTE_ETH_TX_OFFLOAD_UDP_CKSUM ? "itself" : "not");
	}
	/* Jumbo frames arrive as chains of 2 KB mbufs: the pools stay the
	 * same size whatever the MTU. */
	if (vc->mtu > RTE_ETHER_MTU && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER))
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	nq = queue_pairs_conf(name, &info, vc->queues, &conf);
	rc = rte_eth_dev_configure(port, nq, nq, &conf);
	if (rc != 0)
		goto fail;
	if (vc->mtu) {
		rc = rte_eth_dev_set_mtu(port, vc->mtu);
		if (rc != 0 && rc != -ENOTSUP)
			VLOG_WARN("VF %s: cannot set MTU %u: %s", name, vc->mtu,
				  rte_strerror(-rc));
	}
	rc = queues_setup(port, pool, true);
	if (rc != 0)
		goto fail;
	*port_out = port;
	return 0;
fail:
	snprintf(err, errlen, "VF %s: cannot configure port %u: %s", name, port,
		 rte_strerror(-rc));
	vf_detach(port);
	return rc;
}

/* net_af_packet binds its socket to the interface's index at probe. An
 * interface deleted and made again under the same name has a new index,
 * and only a new probe follows it; while it is gone the PMD still says
 * "link up" (it cannot read the flags of an interface that is not there).
 * The name and index each af_packet port was probed with: */
static struct {
	char ifname[IF_NAMESIZE];
	unsigned ifindex;            /* 0: not af_packet */
} probed_iface[RTE_MAX_ETHPORTS];

static void remember_iface(uint16_t port, const char *dev)
{
	const char *p = strstr(dev, "iface=");
	size_t n;

	probed_iface[port].ifindex = 0;
	if (strncmp(dev, "net_af_packet", 13) != 0 || !p)
		return;
	p += 6;
	n = strcspn(p, ",");
	if (n == 0 || n >= IF_NAMESIZE)
		return;
	memcpy(probed_iface[port].ifname, p, n);
	probed_iface[port].ifname[n] = '\0';
	probed_iface[port].ifindex = if_nametoindex(probed_iface[port].ifname);
}

/* The interface's index now, or the probed one for other ports. */
static unsigned iface_now(uint16_t port)
{
	return probed_iface[port].ifindex ? if_nametoindex(probed_iface[port].ifname) : 0;
}

int vf_attach(const char *dev, struct rte_mempool *pool, const struct vf_conf *vc,
	      uint16_t *port_out, char *err, size_t errlen)
{
	uint16_t port;
	int rc = vf_probe(dev, &port, err, errlen);

	if (rc == 0)
		rc = vf_setup(port, pool, vc, port_out, err, errlen);
	if (rc == 0)
		remember_iface(*port_out, dev);
	return rc;
}

/* Stops, closes and removes the device of one port. */
static void port_remove(uint16_t port)
{
	struct rte_eth_dev_info info;
	struct rte_device *rdev = NULL;

	if (rte_eth_dev_info_get(port, &info) == 0)
		rdev = info.device;
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	if (rdev && rte_dev_remove(rdev) != 0)
		VLOG_WARN("port %u: device removal failed", port);
}

/* Removes a bond, which lets go of its members as it closes, then the
 * members: the bond's own, and any probed but not added yet. */
static void bond_remove(int bond, const uint16_t *members, unsigned n)
{
	if (bond >= 0)
		port_remove((uint16_t)bond);
	for (unsigned i = 0; i < n; i++)
		port_remove(members[i]);
}

/* Failover needs the members' links watched: polled this often for
 * members without link interrupts (DPDK's default polls every 10 ms). */
#define BOND_LINK_POLL_MS 100

int vf_attach_bond(const struct vf_bond *b, struct rte_mempool *pool, const struct vf_conf *vc,
		   uint16_t *port_out, char *err, size_t errlen)
{
	uint16_t members[VFWD_BOND_MAX_MEMBERS], port;
	char name[RTE_ETH_NAME_MAX_LEN];
	unsigned n;
	int bond = -1, node, rc;

	RTE_BUILD_BUG_ON(sizeof("net_bonding_") + VFWD_BOND_NAME_MAX > RTE_ETH_NAME_MAX_LEN);
	if (b->n_members < 2 || b->n_members > VFWD_BOND_MAX_MEMBERS) {
		snprintf(err, errlen, "bond %s: %u members: a bond has 2-%d", b->name,
			 b->n_members, VFWD_BOND_MAX_MEMBERS);
		return -EINVAL;
	}
	/* The vdev bus picks a driver by the device name's prefix. */
	snprintf(name, sizeof(name), "net_bonding_%s", b->name);
	if (rte_eth_dev_get_port_by_name(name, &port) == 0) {
		snprintf(err, errlen, "bond %s already exists (port %u)", b->name, port);
		return -EEXIST;
	}
	for (n = 0; n < b->n_members; n++) {
		rc = vf_probe(b->members[n], &members[n], err, errlen);
		if (rc != 0)
			goto fail;
	}
	/* The bond's own memory goes where its first member is (the API
	 * takes a uint8_t: no SOCKET_ID_ANY). */
	node = rte_eth_dev_socket_id(members[0]);
	bond = rte_eth_bond_create(name, b->mode, (uint8_t)(node < 0 ? 0 : node));
	if (bond < 0) {
		/* The bonding API's errors are mostly a bare -1. */
		rc = bond < -1 ? bond : -EINVAL;
		snprintf(err, errlen, "bond %s: cannot create the DPDK bonding device in mode "
			 "%u (see the log)", b->name, b->mode);
		goto fail;
	}
	for (unsigned i = 0; i < n; i++) {
		if (rte_eth_bond_slave_add((uint16_t)bond, members[i]) != 0) {
			rc = -EINVAL;
			snprintf(err, errlen, "bond %s: cannot add member %s (see the log: a "
				 "member must be able to take the first one's settings)",
				 b->name, b->members[i]);
			goto fail;
		}
	}
	if (rte_eth_bond_link_monitoring_set((uint16_t)bond, BOND_LINK_POLL_MS) != 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "bond %s: cannot set link monitoring", b->name);
		goto fail;
	}
	return vf_setup((uint16_t)bond, pool, vc, port_out, err, errlen);
fail:
	bond_remove(bond, members, n);
	return rc;
}

int vf_start(uint16_t port, char *err, size_t errlen)
{
	int rc = rte_eth_dev_start(port);

	if (rc != 0) {
		snprintf(err, errlen, "cannot start port %u: %s", port, rte_strerror(-rc));
		return rc;
	}
	/* A VF only sees frames for its own MAC unless promiscuous; the
	 * guest's MAC is not the VF's. Some PMDs refuse: not fatal. */
	rc = rte_eth_promiscuous_enable(port);
	if (rc != 0 && rc != -ENOTSUP)
		VLOG_DEBUG("port %u: promiscuous mode not enabled: %s", port, rte_strerror(-rc));
	return 0;
}

void vf_stop(uint16_t port)
{
	int rc = rte_eth_dev_stop(port);

	if (rc != 0)
		VLOG_WARN("port %u: stop failed: %s", port, rte_strerror(-rc));
}

void vf_detach(uint16_t port)
{
	uint16_t members[RTE_MAX_ETHPORTS];
	/* -1 for a port that is not a bond. */
	int n = rte_eth_bond_slaves_get(port, members, RTE_DIM(members));

	if (n < 0)
		port_remove(port);
	else
		bond_remove(port, members, (unsigned)n);
}

bool vf_link_up(uint16_t port, bool *replaced)
{
	struct rte_eth_link link;
	unsigned now = iface_now(port);

	if (replaced)
		*replaced = now && now != probed_iface[port].ifindex;
	if (probed_iface[port].ifindex && now != probed_iface[port].ifindex)
		return false;
	return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

uint64_t vf_rx_missed(uint16_t port)
{
	struct rte_eth_stats st;

	return rte_eth_stats_get(port, &st) == 0 ? st.imissed + st.rx_nombuf : 0;
}

bool vf_bond_active(uint16_t port, char *name, size_t len)
{
	char n[RTE_ETH_NAME_MAX_LEN];
	int member;

	name[0] = '\0';
	/* -1 for a port that is not a bond. */
	if (rte_eth_bond_mode_get(port) != BONDING_MODE_ACTIVE_BACKUP || !vf_link_up(port, NULL))
		return false;
	member = rte_eth_bond_primary_get(port);
	if (member < 0 || rte_eth_dev_get_name_by_port((uint16_t)member, n) != 0)
		return false;
	snprintf(name, len, "%s", n);
	return true;
}

uint64_t vf_tx_offloads(uint16_t port)
{
	struct rte_eth_conf conf;

	return rte_eth_dev_conf_get(port, &conf) == 0 ? conf.txmode.offloads : 0;
}

uint16_t vf_source(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t max)
{
	return rte_eth_rx_burst(d->p.port_id, d->p.src_queues[qi], pkts, max);
}

uint16_t vf_sink(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n)
{
	/* Every guest TX queue goes out on the one VF TX queue of the
	 * direction (relay.c). No retry loop: what a full TX ring refuses,
	 * the worker holds and offers again on its next poll, serving other
	 * directions meanwhile. */
	RTE_SET_USED(qi);
	return rte_eth_tx_burst(d->p.port_id, d->p.dst_queues[0], pkts, n);
}
