#include "vhost.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "log.h"
#include "relay.h"

static bool client_mode;
static bool guest_offloads;
static uint64_t disabled_features;
static uid_t sock_uid = (uid_t)-1;
static gid_t sock_gid = (gid_t)-1;

static int on_new_device(int vid)
{
	char path[PATH_MAX];

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return -1;
	return relay_vm_connected(vid, path);
}

static void on_destroy_device(int vid)
{
	relay_vm_disconnected(vid);
}

static int on_new_connection(int vid)
{
	relay_vm_new_connection(vid);
	return 0;
}

static int on_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	relay_vm_vring(vid, queue_id, enable != 0);
	return 0;
}

static const struct rte_vhost_device_ops vhost_ops = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
	.vring_state_changed = on_vring_state_changed,
	.new_connection = on_new_connection,
};

/* Owner and group names that do not exist on this host (the defaults name
 * libvirt's users, absent where libvirt is not installed) leave the socket
 * with the daemon's own; that is logged once, not fatal. */
static void resolve_owner(const struct vfwd_config *cfg)
{
	if (cfg->socket_owner[0]) {
		struct passwd *pw = getpwnam(cfg->socket_owner);

		if (pw)
			sock_uid = pw->pw_uid;
		else
			VLOG_WARN("socket owner '%s' (VIRTIOFWD_SOCKET_OWNER / -u) does not "
				  "exist on this host; vhost-user sockets keep the daemon's user",
				  cfg->socket_owner);
	}
	if (cfg->socket_group[0]) {
		struct group *gr = getgrnam(cfg->socket_group);

		if (gr)
			sock_gid = gr->gr_gid;
		else
			VLOG_WARN("socket group '%s' (VIRTIOFWD_SOCKET_GROUP / -g) does not "
				  "exist on this host; vhost-user sockets keep the daemon's group",
				  cfg->socket_group);
	}
}

int vhost_check_socket_dir(const struct vfwd_config *cfg, char *err, size_t errlen)
{
	const char *dir = cfg->socket_dir, *problem = NULL;
	struct stat st;

	if (stat(dir, &st) != 0)
		problem = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		problem = "not a directory";
	if (problem) {
		snprintf(err, errlen, "socket directory %s (VIRTIOFWD_SOCKET_DIR / -V): %s: "
			 "create it (mkdir -m 0750 %s) or choose another", dir, problem, dir);
		return -1;
	}
	if (!(st.st_mode & S_IWOTH))
		return 0;
	if (!(st.st_mode & S_ISVTX)) {
		snprintf(err, errlen, "socket directory %s (VIRTIOFWD_SOCKET_DIR / -V) is "
			 "writable by every user (mode %04o): anyone could replace the "
			 "vhost-user sockets and take a VM's traffic; chmod o-w %s, or choose "
			 "a directory of the daemon's own", dir, (unsigned)(st.st_mode & 07777),
			 dir);
		return -1;
	}
	/* /tmp, the default the guide documents: kept working, said loudly. */
	VLOG_WARN("socket directory %s is shared by every user (sticky, mode %04o): "
		  "%s; a directory of the daemon's own (VIRTIOFWD_SOCKET_DIR, e.g. "
		  "/var/run/virtio-forwarder/sockets) is safer", dir,
		  (unsigned)(st.st_mode & 07777),
		  cfg->vhost_client ? "in client mode the daemon connects to whatever "
		  "socket appears at a relay's path, so a user who creates it first gets "
		  "that relay's VF traffic" : "a user may create a relay's socket path "
		  "before the daemon starts and make that relay fail");
	return 0;
}

/* A guest RX queue refusing for longer than this, while another of its
 * queues does not refuse, is stuck (its vCPU hung or its driver gone):
 * what it refuses is dropped rather than held. Held, it would stop the
 * direction from reading the VF, and the queues still draining would get
 * nothing either: one stuck queue would cost the guest its whole
 * interface, where the kernel's vhost-net and OVS lose only that queue's
 * flows. A shorter hiccup (a vCPU descheduled for a moment) is held
 * through, as a single queue's is, and loses nothing the VF's ring can
 * hold meanwhile: 1024 descriptors last a millisecond at 1 Mpps. */
#define STUCK_QUEUE_US 1000
static uint64_t stuck_queue_tsc;

int vhost_setup(const struct vfwd_config *cfg)
{
	stuck_queue_tsc = rte_get_tsc_hz() / 1000000 * STUCK_QUEUE_US;
	client_mode = cfg->vhost_client;
	guest_offloads = cfg->tso;
	if (!cfg->mrgbuf)
		disabled_features |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	/* Without -T the guest must hand us complete frames with checksums
	 * done, and expect the same from us. With it, a guest may leave its
	 * checksums and TCP/IPv4 segmentation to us (offload.h); nothing
	 * more: rte_gso segments no IPv6 and no UDP, and a frame from a VF
	 * never needs the guest to segment or checksum it. GUEST_CSUM, with
	 * -T, only lets us say that the VF verified a frame's checksum
	 * (DATA_VALID, patches/dpdk/0003): we never hand the guest a partial
	 * checksum. */
	disabled_features |= (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
		(1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN) |
		(1ULL << VIRTIO_NET_F_GUEST_UFO) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		(1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO);
	if (!cfg->tso)
		disabled_features |= (1ULL << VIRTIO_NET_F_CSUM) |
			(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_CSUM);
	resolve_owner(cfg);
	return 0;
}

/* Server mode: a socket file left by a previous run would make bind() fail;
 * remove it, but only if it is a socket: never delete anything else. */
static int clear_stale_socket(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; move it away or "
			 "choose another socket directory (VIRTIOFWD_SOCKET_DIR / -V)", path);
		return -EEXIST;
	}
	if (unlink(path) != 0) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int vhost_add_socket(const char *path, char *err, size_t errlen)
{
	/* Under -T rte_vhost's legacy offload flags: the guest's checksum and
	 * segmentation requests come as the TX flags a forwarder passes on
	 * (offload.h). Without, the compliant ones: a guest's header, which
	 * it may send even with no offload negotiated, then sets only RX
	 * flags, which no VF acts on. */
	uint64_t flags = guest_offloads ? 0 : RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS;
	int rc;

	if (client_mode) {
		flags |= RTE_VHOST_USER_CLIENT;   /* reconnects by itself */
	} else {
		rc = clear_stale_socket(path, err, errlen);
		if (rc != 0)
			return rc;
	}
	if (rte_vhost_driver_register(path, flags) != 0) {
		snprintf(err, errlen, "cannot register vhost-user socket %s "
			 "(already registered, or the path is too long)", path);
		return -EINVAL;
	}
	if (rte_vhost_driver_disable_features(path, disabled_features) != 0 ||
	    rte_vhost_driver_callback_register(path, &vhost_ops) != 0 ||
	    rte_vhost_driver_start(path) != 0) {
		if (client_mode)
			snprintf(err, errlen, "cannot start vhost-user client on %s", path);
		else
			snprintf(err, errlen, "cannot create vhost-user socket %s: check "
				 "that its directory exists and is writable", path);
		rte_vhost_driver_unregister(path);
		return -EINVAL;
	}
	if (!client_mode) {
		if ((sock_uid != (uid_t)-1 || sock_gid != (gid_t)-1) &&
		    chown(path, sock_uid, sock_gid) != 0)
			VLOG_WARN("cannot change owner of %s: %s", path, strerror(errno));
		if (chmod(path, 0660) != 0)
			VLOG_WARN("cannot set mode 0660 on %s: %s", path, strerror(errno));
	}
	return 0;
}

void vhost_remove_socket(const char *path)
{
	int rc = rte_vhost_driver_unregister(path);

	if (rc != 0)
		VLOG_WARN("unregistering vhost-user socket %s failed", path);
	if (!client_mode)
		unlink(path);
}

uint16_t vm_source(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t max)
{
	return rte_vhost_dequeue_burst(d->p.vid, d->p.src_queues[qi], d->p.pool, pkts, max);
}

/* Chooses a guest RX queue for a packet so that a flow always lands on the
 * same queue (the guest sees each flow in order). The NIC's RSS hash when
 * it gave one, else a cheap hash of the addresses and ports. */
static uint32_t flow_hash(const struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth;
	uint32_t h;

	if (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
		return m->hash.rss;
	if (rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(struct rte_ipv4_hdr))
		return 0;
	eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		const struct rte_ipv4_hdr *ip = (const void *)(eth + 1);
		size_t ihl = (size_t)(ip->version_ihl & 0xf) * 4;

		h = ip->src_addr ^ ip->dst_addr ^ ip->next_proto_id;
		if ((ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_UDP) &&
		    (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG |
						  RTE_IPV4_HDR_OFFSET_MASK)) == 0 &&
		    rte_pktmbuf_data_len(m) >= sizeof(*eth) + ihl + 4) {
			uint32_t ports;

			memcpy(&ports, (const uint8_t *)ip + ihl, sizeof(ports));
			h ^= ports;
		}
	} else {
		uint32_t a, b;

		memcpy(&a, eth->src_addr.addr_bytes + 2, 4);
		memcpy(&b, eth->dst_addr.addr_bytes + 2, 4);
		h = a ^ b;
	}
	return h * 0x9e3779b1u;      /* mixes every input bit into the high ones */
}

/* Whether the guest has a buffer posted on packed ring vq: the next
 * descriptor rte_vhost would take is available in the current lap
 * (virtio 1.1, 2.7.1: its AVAIL flag equals the driver's wrap counter and
 * its USED flag does not). rte_vhost_avail_entries reads split rings only;
 * rte_vhost_get_vring_base gives the packed position with its wrap
 * counter in bit 15. Read by the worker that enqueues on vq, as
 * rte_vhost_enqueue_burst reads it. */
static bool packed_buffer_posted(int vid, uint16_t vq)
{
	struct rte_vhost_vring ring;
	uint16_t avail, used, flags;
	bool lap;

	if (rte_vhost_get_vhost_vring(vid, vq, &ring) != 0 || ring.size == 0 ||
	    ring.desc_packed == NULL || rte_vhost_get_vring_base(vid, vq, &avail, &used) != 0)
		return false;
	lap = avail >> 15;
	flags = __atomic_load_n(&ring.desc_packed[(avail & 0x7fff) % ring.size].flags,
				__ATOMIC_ACQUIRE);
	return lap == !!(flags & (1u << VRING_PACKED_DESC_F_AVAIL)) &&
	       lap != !!(flags & (1u << VRING_PACKED_DESC_F_USED));
}

static bool guest_buffer_posted(int vid, uint16_t vq, enum guest_fit_check ring)
{
	if (ring == GUEST_FIT_PACKED)
		return packed_buffer_posted(vid, vq);
	return rte_vhost_avail_entries(vid, vq) != 0;
}

/* Without mergeable RX buffers a frame must fit in one of the guest's
 * buffers, and a frame bigger than they are is refused every time: held,
 * it would stall its direction for good. A frame refused while the guest
 * had buffers posted is such a frame, if the same frame is refused so by
 * two calls in a row: the guest may have posted buffers while the first
 * call ran, after the enqueue found its ring empty. suspect is what the
 * previous call refused with room; any other outcome forgets it, since a
 * frame that was taken goes back to the pool and its mbuf soon comes
 * round again as another frame. */
static void check_fit(struct fwd_dir *d, struct fwd_hold *h, uint16_t vq,
		      const struct rte_mbuf *refused, const struct rte_mbuf *suspect)
{
	if (!guest_buffer_posted(d->p.vid, vq, d->p.guest_fit))
		return;
	if (refused == suspect)
		d->unplaceable = true;
	else
		h->refused_with_room = refused;
}

/* Offers pkts[0..n) to guest RX queue vq, a burst per call (rte_vhost
 * takes at most 32 a call) until one is not taken whole: the guest is
 * full. Frees what it took (the guest got copies); how many, in order. */
static uint16_t enqueue(int vid, uint16_t vq, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t taken = 0;

	while (taken < n) {
		uint16_t offered = RTE_MIN(n - taken, FWD_BURST);
		uint16_t k = rte_vhost_enqueue_burst(vid, vq, pkts + taken, offered);

		taken += k;
		if (k < offered)
			break;
	}
	rte_pktmbuf_free_bulk(pkts, taken);
	return taken;
}

/* Queue q of d's destinations just refused packets: whether it is stuck.
 * Starts its clock at its first refusal. */
static bool stuck(struct fwd_dir *d, uint16_t q)
{
	uint64_t now = rte_rdtsc();

	if (d->dst_full_since[q] == 0) {
		d->dst_full_since[q] = now;
		return false;
	}
	if (now - d->dst_full_since[q] <= stuck_queue_tsc)
		return false;
	/* With every queue refusing, the guest is slow as a whole: hold
	 * back, and let the VF's ring take the overload. */
	for (uint16_t i = 0; i < d->p.nb_dst_queues; i++)
		if (i != q && d->dst_full_since[i] == 0)
			return true;
	return false;
}

static void drop_for_stuck_queue(struct fwd_dir *d, struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		d->sink_dropped_bytes += rte_pktmbuf_pkt_len(pkts[i]);
	d->sink_dropped += n;
	rte_pktmbuf_free_bulk(pkts, n);
}

uint16_t vm_sink(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *by_queue[FWD_BURST_MAX], *refused[FWD_BURST_MAX];
	uint16_t queue_of[FWD_BURST_MAX];
	uint16_t first[FWD_MAX_QUEUES + 1] = { 0 }, next[FWD_MAX_QUEUES];
	uint16_t base = d->p.dst_first[qi], nq = d->p.dst_count[qi];
	uint16_t sent = 0, nb_refused = 0;
	struct fwd_hold *h = &d->held[qi];
	const struct rte_mbuf *suspect = h->refused_with_room;

	h->refused_with_room = NULL;
	if (nq == 1) {
		sent = enqueue(d->p.vid, d->p.dst_queues[base], pkts, n);
		if (unlikely(sent < n) && d->p.guest_fit != GUEST_FIT_UNCHECKED)
			check_fit(d, h, d->p.dst_queues[base], pkts[sent], suspect);
		return sent;
	}
	/* Grouped by queue, each group in arrival order (a counting sort),
	 * so that every queue gets its share in one go. The high bits of
	 * the hash pick the queue: with a power-of-two queue count a modulo
	 * would keep only low bits, and flows that differ in one port byte
	 * would share a queue. */
	for (uint16_t i = 0; i < n; i++) {
		queue_of[i] = (uint16_t)(((uint64_t)flow_hash(pkts[i]) * nq) >> 32);
		first[queue_of[i] + 1]++;
	}
	for (uint16_t q = 0; q < nq; q++) {
		first[q + 1] += first[q];
		next[q] = first[q];
	}
	for (uint16_t i = 0; i < n; i++)
		by_queue[next[queue_of[i]]++] = pkts[i];
	for (uint16_t q = 0; q < nq; q++) {
		struct rte_mbuf **group = by_queue + first[q];
		uint16_t count = first[q + 1] - first[q], k;
		uint16_t dq = (uint16_t)(base + q * d->p.nb_src_queues);

		if (count == 0)
			continue;
		k = enqueue(d->p.vid, d->p.dst_queues[dq], group, count);
		sent += k;
		if (k == count) {
			if (unlikely(d->dst_full_since[dq]))
				d->dst_full_since[dq] = 0;
			continue;
		}
		if (stuck(d, dq)) {
			drop_for_stuck_queue(d, group + k, count - k);
			sent += count - k;
			continue;
		}
		if (nb_refused == 0 && d->p.guest_fit != GUEST_FIT_UNCHECKED)
			/* The first packet refused is the one offered first next time. */
			check_fit(d, h, d->p.dst_queues[dq], group[k], suspect);
		for (uint16_t j = k; j < count; j++)
			refused[nb_refused++] = group[j];
	}
	/* Contract with fwd_poll: what was not taken follows what was. */
	memcpy(pkts + sent, refused, nb_refused * sizeof(refused[0]));
	return sent;
}
