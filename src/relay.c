#include "relay.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_debug.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "ethdev.h"
#include "log.h"
#include "mempool.h"
#include "offload.h"
#include "placement.h"
#include "vhost.h"
#include "worker.h"

static const char *const dir_name[VFWD_NB_DIRS] = { "VF->VM", "VM->VF" };

struct relay {
	/* VF side */
	bool vf_attached, vf_started;
	bool vf_start_failed;            /* logged once, retried every second */
	bool vf_link_up;                 /* polled by the main thread */
	bool vf_is_vdev;                 /* a software stand-in, not a PCI VF */
	bool vf_redials;                 /* vf_redials_on_start(), any bond member */
	char vf_active[RELAY_DEV_NAME_MAX];   /* vf_bond_active(), polled */
	bool vf_hold;                    /* kept stopped for a restart */
	uint64_t vf_down_since;          /* TSC when its link was last seen down */
	uint16_t port;
	uint16_t vf_queues;              /* queue pairs, vf_queue_pairs() */
	char vf_dev[VFWD_DEVARGS_MAX];
	/* VM side */
	bool sock_registered;
	bool sock_busy;                  /* being unregistered, lock dropped */
	char sock_path[PATH_MAX];
	int vid;                         /* -1: no VM */
	bool vm_ready;
	uint64_t vq_enabled;             /* applied: bit per virtqueue */
	uint64_t vm_features;            /* negotiated virtio features */
	int vm_node;
	int vf_node;                     /* -1 unknown (vdevs, no NUMA) */
	struct rte_mempool *pool;        /* where its mbufs come from now */
	/* A pool per NUMA node the relay has used: one it left (its VM came
	 * from another node) is freed once every mbuf is back. */
	struct rte_mempool *pools[RTE_MAX_NUMA_NODES];
	/* Data plane */
	int worker[VFWD_NB_DIRS];        /* assigned worker, -1 none yet */
	bool published[VFWD_NB_DIRS];
	struct fwd_dir dir[VFWD_NB_DIRS];
};

static struct relay relays[VFWD_MAX_RELAYS];
static pthread_mutex_t relay_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct vfwd_config *config;

/* Virtqueue state as the vhost thread reports it, per vid, written without
 * the relay lock (see relay_vm_vring). */
static uint64_t vring_reported[RTE_MAX_VHOST_DEVICE];
static bool vring_dirty[RTE_MAX_VHOST_DEVICE];
static bool events_pending;

static bool relay_in_use(const struct relay *r)
{
	return r->vf_attached || r->sock_registered || r->sock_busy;
}

int relay_init(const struct vfwd_config *cfg)
{
	config = cfg;
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		struct relay *r = &relays[id];

		r->vid = -1;
		r->vm_node = -1;
		r->vf_node = -1;
		for (int d = 0; d < VFWD_NB_DIRS; d++)
			r->worker[d] = -1;
	}
	VLOG_INFO("relay limit: %u relays (virtio ids 0-%u), %u ethdev ports",
		  VFWD_MAX_RELAYS, VFWD_MAX_RELAYS - 1, RTE_MAX_ETHPORTS);
	return 0;
}

/* ---- which worker serves what ---- */

/* Each direction placed on a worker counts as this fraction of a core on
 * top of the measured load: idle directions still spread out, and a burst
 * of new relays, none measured yet, is dealt out evenly. */
#define LOAD_PER_DIR 0.001

/* Each worker's measured load over the last sampling period: the busy
 * cycles its directions were charged (worker.c leaves out descheduled
 * time) over the cycles that passed. Placement weighs what workers do now,
 * not what they did since start-up. Sampled by the main thread once a
 * second (relay_process_events), read by placement, both under the relay
 * lock. */
static struct {
	uint64_t busy, tsc;
	double load;
} worker_seen[WORKER_MAX];

static void sample_worker_loads(void)
{
	uint64_t now = rte_rdtsc();

	for (unsigned w = 0; w < worker_count(); w++) {
		struct worker_info wi;

		worker_get_info(w, &wi);
		if (worker_seen[w].tsc && now > worker_seen[w].tsc)
			worker_seen[w].load = (double)(wi.busy_cycles - worker_seen[w].busy) /
					      (double)(now - worker_seen[w].tsc);
		worker_seen[w].busy = wi.busy_cycles;
		worker_seen[w].tsc = now;
	}
}

static double worker_load(int w)
{
	double load = worker_seen[w].load;

	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		for (int d = 0; d < VFWD_NB_DIRS; d++)
			if (relay_in_use(&relays[id]) && relays[id].worker[d] == w)
				load += LOAD_PER_DIR;
	return load;
}

/* The least loaded worker on NUMA node `node`, or on any node when node is
 * -1 or has no worker. */
static int least_loaded_worker(int node)
{
	int best = -1;
	double best_load = 0;

	for (int pass = 0; pass < 2 && best < 0; pass++)
		for (unsigned w = 0; w < worker_count(); w++) {
			double l;

			if (pass == 0 && node >= 0 &&
			    (int)rte_lcore_to_socket_id(worker_lcore(w)) != node)
				continue;
			l = worker_load((int)w);
			if (best < 0 || l < best_load) {
				best = (int)w;
				best_load = l;
			}
		}
	return best;
}

/* The NUMA node a relay's workers are sought on (placement.h): its
 * buffers', else its VM's memory's, else its VF's; its VF's first under
 * VIRTIOFWD_CPU_NIC_SAME_NUMA; -1 if none is known. */
static int relay_node(const struct relay *r)
{
	return placement_worker_node(r->pool ? r->pool->socket_id : -1, r->vm_node, r->vf_node,
				     config->same_numa);
}

/* A direction gets its worker when it is first published, not when its
 * relay is configured: by then the loads measured are today's, and relays
 * configured but never used (the socket of every id, in server mode) weigh
 * nothing. A pin wins; otherwise the least loaded worker on the relay's
 * node. */
static int choose_worker(unsigned id, const struct relay *r, int d)
{
	int pin = config->pins[id][d];
	int w = pin >= 0 ? worker_by_lcore((unsigned)pin) : -1;

	return w >= 0 ? w : least_loaded_worker(relay_node(r));
}

static void place_direction(unsigned id, struct relay *r, int d)
{
	r->worker[d] = choose_worker(id, r, d);
	VLOG_DEBUG("relay %u: %s placed on lcore %u (%s; its load %.3f of a core; relay on "
		   "NUMA node %d)", id, dir_name[d], worker_lcore((unsigned)r->worker[d]),
		   config->pins[id][d] >= 0 ? "pinned" : "the least loaded",
		   worker_load(r->worker[d]), relay_node(r));
}

/* Placement is forgotten with the relay: a relay that comes back is
 * placed afresh. */
static void forget_placement(struct relay *r)
{
	if (relay_in_use(r))
		return;
	for (int d = 0; d < VFWD_NB_DIRS; d++)
		r->worker[d] = -1;
}

/* Republishes worker w's poll list from the table. */
static void rebuild_worker(int w)
{
	struct fwd_dir *dirs[VFWD_MAX_RELAYS * VFWD_NB_DIRS];
	unsigned n = 0;

	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		for (int d = 0; d < VFWD_NB_DIRS; d++)
			if (relays[id].published[d] && relays[id].worker[d] == w)
				dirs[n++] = &relays[id].dir[d];
	worker_publish((unsigned)w, dirs, n);
}

static unsigned count_bits(uint64_t v)
{
	return (unsigned)__builtin_popcountll(v);
}

/* Queues of one parity (guest RX: even, guest TX: odd) that are enabled. */
static uint16_t enabled_queues(uint64_t bits, bool guest_tx, uint16_t *out)
{
	uint16_t n = 0;

	for (uint16_t vq = guest_tx ? 1 : 0; vq < 64 && n < FWD_MAX_QUEUES; vq += 2)
		if (bits & (1ULL << vq))
			out[n++] = vq;
	return n;
}

static uint16_t relay_mtu(void)
{
	return config->jumbo ? 9000 : RTE_ETHER_MTU;
}

/* What a VF is set to: the jumbo MTU, or 0 to leave its own. */
static uint16_t vf_mtu(void)
{
	return config->jumbo ? relay_mtu() : 0;
}

/* How every VF is set up. */
static struct vf_conf vf_conf(void)
{
	return (struct vf_conf){ .mtu = vf_mtu(), .offloads = config->tso,
				 .queues = (uint16_t)config->vf_queues };
}

/* The longest frame a relay carries: its MTU's worth of payload behind an
 * Ethernet header and up to two VLAN tags (QinQ). */
static uint32_t relay_max_frame(void)
{
	return relay_mtu() + RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN;
}

/* A PCI VF runs exactly while its VM is there: the NIC drops what comes
 * meanwhile. A software stand-in (memif, af_packet, tap) keeps running and
 * its traffic is drained and counted as "VM not connected": its peer is a
 * process that sees our stops as disconnects. A restart holds either kind
 * stopped for a moment. */
static bool vf_should_run(const struct relay *r)
{
	return r->vf_attached && !r->vf_hold && (r->vm_ready || r->vf_is_vdev);
}

/* What direction d of r should poll now; false when it should not run.
 * A VF that is started but about to stop counts as stopped, so that its
 * directions are unpublished before the stop. */
static bool wanted_params(const struct relay *r, int d, struct fwd_params *p)
{
	bool vf_running = r->vf_started && vf_should_run(r);

	memset(p, 0, sizeof(*p));
	p->vid = r->vid;
	p->port_id = r->port;
	p->pool = r->pool;
	p->drop_cause = FWD_DROP_FULL;
	p->max_frame = relay_max_frame();
	p->burst = FWD_BURST;
	if (d == VFWD_VF_TO_VM) {
		if (!vf_running)
			return false;
		p->source = vf_source;
		p->nb_src_queues = r->vf_queues;
		for (uint16_t q = 0; q < r->vf_queues; q++)
			p->src_queues[q] = q;
		p->nb_dst_queues = r->vm_ready ?
			enabled_queues(r->vq_enabled, false, p->dst_queues) : 0;
		fwd_map_queues(p);
		if (p->nb_dst_queues > 0) {
			/* A VF queue spreading over several guest queues
			 * reads enough for a burst to each; queue 0 feeds
			 * the most (fwd_map_queues). */
			p->sink = vm_sink;
			p->burst = RTE_MIN(FWD_BURST * p->dst_count[0], FWD_BURST_MAX);
			p->guest_fit =
				r->vm_features & (1ULL << VIRTIO_NET_F_MRG_RXBUF) ?
				GUEST_FIT_UNCHECKED :
				r->vm_features & (1ULL << VIRTIO_F_RING_PACKED) ?
				GUEST_FIT_PACKED : GUEST_FIT_SPLIT;
		} else {
			/* A VM with no RX queue enabled (its driver starting, or
			 * toggling its queues) is a full destination: hold back.
			 * No VM at all: drain, counted as not connected. */
			p->sink = fwd_sink_none;
			if (!r->vm_ready)
				p->drop_cause = FWD_DROP_UNCONNECTED;
		}
		return true;
	}
	if (!r->vm_ready)
		return false;
	p->nb_src_queues = enabled_queues(r->vq_enabled, true, p->src_queues);
	if (p->nb_src_queues == 0)
		return false;
	p->source = vm_source;
	/* VF started but its link still down: leave the packets in the
	 * guest's ring (backpressure, as a NIC would) rather than dropping
	 * them into a TX queue that does not drain. */
	if (vf_running && !r->vf_link_up)
		return false;
	if (vf_running) {
		p->sink = config->tso ? offload_vf_sink : vf_sink;
		p->tso = config->tso;
		p->vf_tx_offloads = config->tso ? vf_tx_offloads(r->port) : 0;
		/* One VF TX queue for all the guest's TX queues, as each
		 * PMD thread of OVS has its own: the relay and whoever
		 * drains the VF then work one ring's cache lines, in full
		 * bursts, rather than a quarter burst on each of four
		 * (docs/performance.md). A VF with several queue pairs has
		 * them for its RX side, and PMDs like net_tap want pairs. */
		p->nb_dst_queues = 1;
		p->dst_queues[0] = 0;
		fwd_map_queues(p);
	} else {
		p->sink = fwd_sink_none;
		p->drop_cause = FWD_DROP_UNCONNECTED;
	}
	return true;
}

static void set_published(unsigned id, struct relay *r, int d, bool on)
{
	r->published[d] = on;
	rebuild_worker(r->worker[d]);
	if (on)
		VLOG_INFO("relay %u: %s active on lcore %u%s", id, dir_name[d],
			  worker_lcore((unsigned)r->worker[d]),
			  r->dir[d].p.drop_cause == FWD_DROP_UNCONNECTED ?
			  (d == VFWD_VF_TO_VM ? " (no VM: dropping)" : " (no VF: dropping)") :
			  r->dir[d].p.sink == fwd_sink_none ?
			  " (no guest RX queue enabled: holding back)" : "");
	else
		VLOG_INFO("relay %u: %s stopped", id, dir_name[d]);
}

/* Packets a direction holds for a full destination still go there when
 * only the queues changed (a guest enabling or disabling some, all of
 * them for a moment); for any other destination, or none, they are
 * dropped. */
static bool same_destination(const struct fwd_params *a, bool on, const struct fwd_params *b)
{
	return on && a->drop_cause == FWD_DROP_FULL && b->drop_cause == FWD_DROP_FULL &&
	       a->vid == b->vid && a->port_id == b->port_id;
}

/* Unpublishes the directions whose wanted parameters differ from what
 * their worker polls (or that should not run at all). */
static void unpublish_changed(unsigned id, struct relay *r)
{
	struct fwd_params want;

	for (int d = 0; d < VFWD_NB_DIRS; d++) {
		struct fwd_dir *fd = &r->dir[d];
		bool on = wanted_params(r, d, &want);

		if (!r->published[d] || (on && memcmp(&want, &fd->p, sizeof(want)) == 0))
			continue;
		set_published(id, r, d, false);
		if ((fd->nb_held > 0 || fd->nb_staged > 0) &&
		    !same_destination(&fd->p, on, &want)) {
			VLOG_INFO("relay %u: %s: %u packets (and %u segments) held for a full "
				  "destination dropped, their destination changed", id,
				  dir_name[d], fd->nb_held, fd->nb_staged);
			fwd_drop_held(fd);
		}
	}
}

static void update_vf_run_state(unsigned id, struct relay *r)
{
	bool run = vf_should_run(r);
	char err[256];

	if (run && !r->vf_started) {
		if (vf_start(r->port, err, sizeof(err)) == 0) {
			r->vf_started = true;
			r->vf_start_failed = false;
			VLOG_INFO("relay %u: VF %s started", id, r->vf_dev);
		} else {
			vlog(r->vf_start_failed ? LOG_DEBUG : LOG_ERR,
			     "relay %u: VF %s: %s; retrying every second", id, r->vf_dev, err);
			r->vf_start_failed = true;
		}
	} else if (r->vf_started && !run) {
		/* relay_apply unpublished every direction of this VF already;
		 * stopping a port a worker still polls would crash it. */
		RTE_VERIFY(!r->published[VFWD_VF_TO_VM] &&
			   !(r->published[VFWD_VM_TO_VF] &&
			     (r->dir[VFWD_VM_TO_VF].p.sink == vf_sink ||
			      r->dir[VFWD_VM_TO_VF].p.sink == offload_vf_sink)));
		vf_stop(r->port);
		r->vf_started = false;
		r->vf_link_up = false;
		r->vf_active[0] = '\0';
		r->vf_down_since = 0;
		VLOG_INFO("relay %u: VF %s stopped%s", id, r->vf_dev,
			  r->vm_ready ? "" : " while its VM is away");
	}
}

/* The one place that turns a relay's facts into what workers poll. Order
 * matters: a direction is unpublished (and the worker has let go) before
 * anything it uses changes or stops; a VF is started before a direction
 * that reads it is published; and since the VF's state feeds what the
 * directions want, they are compared again after it changed. */
static void relay_apply(unsigned id, struct relay *r)
{
	struct fwd_params want;

	unpublish_changed(id, r);
	update_vf_run_state(id, r);
	unpublish_changed(id, r);
	for (int d = 0; d < VFWD_NB_DIRS; d++) {
		if (!r->published[d] && wanted_params(r, d, &want)) {
			if (r->worker[d] < 0)
				place_direction(id, r, d);
			fwd_set_params(&r->dir[d], &want);
			set_published(id, r, d, true);
		}
	}
}

/* Every control entry point refuses ids past the table the same way. */
static int check_relay_id(unsigned id, char *err, size_t errlen)
{
	if (id < VFWD_MAX_RELAYS)
		return 0;
	snprintf(err, errlen, "relay id %u is out of range: valid ids are 0-%u",
		 id, VFWD_MAX_RELAYS - 1);
	return -ERANGE;
}

/* ---- VF side ---- */

/* Where relay r's buffers belong now (placement.h). Knowing neither the
 * VM's node nor the VF's, the node of the worker the relay is (or would
 * be) placed on, so that the two agree. */
static int wanted_pool_node(unsigned id, const struct relay *r, const char **why)
{
	int w = r->worker[0] >= 0 ? r->worker[0] : choose_worker(id, r, 0);

	return placement_pool_node(r->vm_node, r->vf_node,
				   (int)rte_lcore_to_socket_id(worker_lcore((unsigned)w)),
				   config->same_numa, why);
}

/* The pool of relay r on node, created on first use. */
static struct rte_mempool *pool_on(unsigned id, struct relay *r, int node, const char *why)
{
	if (node < 0 || node >= RTE_MAX_NUMA_NODES)
		node = 0;
	if (!r->pools[node])
		r->pools[node] = pool_create(id, node, why);
	return r->pools[node];
}

static struct rte_mempool *relay_pool(unsigned id, struct relay *r)
{
	if (!r->pool) {
		const char *why;
		int node = wanted_pool_node(id, r, &why);

		r->pool = pool_on(id, r, node, why);
	}
	return r->pool;
}

static unsigned relay_mbufs_out(const struct relay *r)
{
	unsigned n = 0;

	for (int node = 0; node < RTE_MAX_NUMA_NODES; node++)
		if (r->pools[node])
			n += pool_in_use(r->pools[node]);
	return n;
}

/* A pool the relay left is freed once it is full again: what was in
 * flight when the VF stopped (its RX ring, packets held for the guest)
 * comes back within a moment. */
static void free_left_pools(unsigned id, struct relay *r)
{
	for (int node = 0; node < RTE_MAX_NUMA_NODES; node++) {
		struct rte_mempool *mp = r->pools[node];

		if (!mp || mp == r->pool || pool_in_use(mp) != 0)
			continue;
		VLOG_INFO("relay %u: every mbuf of its pool on NUMA node %d is back; that pool "
			  "is freed", id, node);
		rte_mempool_free(mp);
		r->pools[node] = NULL;
	}
}

/* The guide's promise: a relay's buffers follow its VM's memory when the
 * VM connects, so that the copies to and from the guest stay on one node.
 * The VF's RX queue is bound to its pool, so the VF stops for the change
 * (a PCI VF is stopped anyway while no VM is there; a software stand-in
 * restarts). Called before the VM counts as ready: only VF->VM runs, and
 * it is unpublished first. */
static void follow_vm_memory(unsigned id, struct relay *r)
{
	const char *why;
	int node = wanted_pool_node(id, r, &why);
	int from = r->pool->socket_id;
	struct rte_mempool *mp;
	char err[256];

	if (node == from || node < 0 || node >= RTE_MAX_NUMA_NODES)
		return;
	mp = pool_on(id, r, node, why);
	if (!mp)
		return;          /* logged; the buffers stay where they are */
	if (r->vf_attached) {
		bool hold = r->vf_hold;

		r->vf_hold = true;
		relay_apply(id, r);            /* VF->VM unpublished, the VF stopped */
		r->vf_hold = hold;
		if (vf_set_pool(r->port, mp, err, sizeof(err)) != 0) {
			VLOG_ERR("relay %u: VF %s: %s; its buffers stay on NUMA node %d", id,
				 r->vf_dev, err, from);
			if (vf_set_pool(r->port, r->pool, err, sizeof(err)) != 0)
				VLOG_ERR("relay %u: VF %s: %s; remove the VF and add it again", id,
					 r->vf_dev, err);
			return;
		}
	}
	r->pool = mp;
	/* Workers are sought on the relay's node: placed anew (pins stay). */
	for (int d = 0; d < VFWD_NB_DIRS; d++)
		if (!r->published[d])
			r->worker[d] = -1;
	VLOG_NOTICE("relay %u: buffers moved from NUMA node %d to node %d (%s)", id, from, node,
		    why);
	free_left_pools(id, r);
}

static bool is_vdev(const char *dev)
{
	return strncmp(dev, "net_", 4) == 0;
}

/* How a bond shows as a relay's VF (relay.h); -1 if it does not fit. */
static int bond_show(const struct vf_bond *b, char *out, size_t len)
{
	size_t at = (size_t)snprintf(out, len, "%s,mode=%u", b->name, b->mode);

	for (unsigned i = 0; i < b->n_members && at < len; i++)
		at += (size_t)snprintf(out + at, len - at, ",member=%.*s",
				       (int)strcspn(b->members[i], ","), b->members[i]);
	return at < len ? 0 : -1;
}

/* Attaches dev, or (dev NULL) the bond, as relay id's VF. */
static int add_vf(unsigned id, const char *dev, const struct vf_bond *bond, char *err,
		  size_t errlen)
{
	struct vf_conf vc = vf_conf();
	char shown[VFWD_DEVARGS_MAX];
	struct relay *r;
	int rc = 0;

	if (check_relay_id(id, err, errlen) != 0)
		return -ERANGE;
	if (bond && bond_show(bond, shown, sizeof(shown)) != 0) {
		snprintf(err, errlen, "bond %s: the names of its members are too long together "
			 "(at most %d characters)", bond->name, VFWD_DEVARGS_MAX - 1);
		return -ENAMETOOLONG;
	}
	pthread_mutex_lock(&relay_lock);
	r = &relays[id];
	if (r->vf_attached) {
		snprintf(err, errlen, "relay %u already has VF %s; remove it first", id, r->vf_dev);
		rc = -EEXIST;
		goto out;
	}
	r->vf_node = vf_numa_node(bond ? bond->members[0] : dev);
	if (!relay_pool(id, r)) {
		snprintf(err, errlen, "relay %u: no memory for its mbuf pool (reserve more "
			 "hugepages: /sys/kernel/mm/hugepages/*/nr_hugepages)", id);
		rc = -ENOMEM;
		goto out;
	}
	rc = bond ? vf_attach_bond(bond, r->pool, &vc, &r->port, err, errlen) :
		    vf_attach(dev, r->pool, &vc, &r->port, err, errlen);
	if (rc != 0)
		goto out;
	r->vf_queues = vf_queue_pairs(r->port);
	snprintf(r->vf_dev, sizeof(r->vf_dev), "%s", bond ? shown : dev);
	/* A bond is a software stand-in when all its members are. */
	if (bond) {
		r->vf_is_vdev = true;
		r->vf_redials = false;
		for (unsigned i = 0; i < bond->n_members; i++) {
			r->vf_is_vdev &= is_vdev(bond->members[i]);
			r->vf_redials |= vf_redials_on_start(bond->members[i]);
		}
	} else {
		r->vf_is_vdev = is_vdev(dev);
		r->vf_redials = vf_redials_on_start(dev);
	}
	r->vf_attached = true;
	VLOG_INFO("relay %u: VF %s attached as port %u", id, r->vf_dev, r->port);
	relay_apply(id, r);
out:
	pthread_mutex_unlock(&relay_lock);
	return rc;
}

int relay_add_vf(unsigned id, const char *dev, char *err, size_t errlen)
{
	return add_vf(id, dev, NULL, err, errlen);
}

int relay_add_bond(unsigned id, const char *name, unsigned mode, const char *const members[],
		   unsigned n, char *err, size_t errlen)
{
	const struct vf_bond bond = {
		.name = name, .mode = (uint8_t)mode, .n_members = n, .members = members,
	};

	return add_vf(id, NULL, &bond, err, errlen);
}

/* Unpublishes, stops and detaches the VF (relay_lock held). */
static void detach_vf(unsigned id, struct relay *r)
{
	r->vf_attached = false;
	relay_apply(id, r);
	vf_detach(r->port);
}

static void forget_vf(struct relay *r)
{
	r->vf_dev[0] = '\0';
	r->vf_node = -1;
	forget_placement(r);
}

int relay_remove_vf(unsigned id, char *err, size_t errlen)
{
	struct relay *r;

	if (check_relay_id(id, err, errlen) != 0)
		return -ERANGE;
	pthread_mutex_lock(&relay_lock);
	r = &relays[id];
	if (!r->vf_attached) {
		pthread_mutex_unlock(&relay_lock);
		snprintf(err, errlen, "relay %u has no VF", id);
		return -ENOENT;
	}
	detach_vf(id, r);
	VLOG_INFO("relay %u: VF %s removed", id, r->vf_dev);
	forget_vf(r);
	pthread_mutex_unlock(&relay_lock);
	return 0;
}

/* ---- VM side ---- */

static struct relay *relay_by_path(const char *path, unsigned *id)
{
	for (unsigned i = 0; i < VFWD_MAX_RELAYS; i++)
		if (relays[i].sock_registered && strcmp(relays[i].sock_path, path) == 0) {
			*id = i;
			return &relays[i];
		}
	return NULL;
}

static struct relay *relay_by_vid(int vid, unsigned *id)
{
	for (unsigned i = 0; i < VFWD_MAX_RELAYS; i++)
		if (relays[i].vid == vid) {
			*id = i;
			return &relays[i];
		}
	return NULL;
}

int relay_add_socket(unsigned id, const char *path, char *err, size_t errlen)
{
	struct relay *r;
	unsigned other;
	int rc;

	if (check_relay_id(id, err, errlen) != 0)
		return -ERANGE;
	pthread_mutex_lock(&relay_lock);
	r = &relays[id];
	if (r->sock_registered || r->sock_busy) {
		snprintf(err, errlen, "relay %u already has socket %s", id, r->sock_path);
		rc = -EEXIST;
		goto out;
	}
	if (relay_by_path(path, &other)) {
		snprintf(err, errlen, "socket %s is already used by relay %u", path, other);
		rc = -EEXIST;
		goto out;
	}
	/* Registered before the socket starts: the first connection may come
	 * at once, and its callbacks look the relay up by path. */
	snprintf(r->sock_path, sizeof(r->sock_path), "%s", path);
	r->sock_registered = true;
	rc = vhost_add_socket(path, err, errlen);
	if (rc != 0) {
		r->sock_registered = false;
		r->sock_path[0] = '\0';
		goto out;
	}
	VLOG_DEBUG("relay %u: vhost-user socket %s (%s)", id, path,
		   config->vhost_client ? "client" : "server");
out:
	pthread_mutex_unlock(&relay_lock);
	return rc;
}

int relay_remove_socket(unsigned id, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct relay *r;

	if (check_relay_id(id, err, errlen) != 0)
		return -ERANGE;
	pthread_mutex_lock(&relay_lock);
	r = &relays[id];
	if (!r->sock_registered) {
		pthread_mutex_unlock(&relay_lock);
		snprintf(err, errlen, "relay %u has no vhost-user socket", id);
		return -ENOENT;
	}
	r->sock_busy = true;
	snprintf(path, sizeof(path), "%s", r->sock_path);
	pthread_mutex_unlock(&relay_lock);

	/* rte_vhost calls destroy_device from here, which takes the lock. */
	vhost_remove_socket(path);

	pthread_mutex_lock(&relay_lock);
	r->sock_registered = false;
	r->sock_busy = false;
	r->sock_path[0] = '\0';
	forget_placement(r);
	pthread_mutex_unlock(&relay_lock);
	VLOG_INFO("relay %u: vhost-user socket %s removed", id, path);
	return 0;
}

/* rte_vhost asks again after every message of a device it was refused:
 * the reason is logged once per connection. */
static bool refusal_logged[RTE_MAX_VHOST_DEVICE];

/* A new connection is a new device, whose vid may be that of a device we
 * refused: rte_vhost tells destroy_device only of devices that were
 * accepted, so what the refused one reported of its rings must go here,
 * or the next guest would inherit queues it never enabled. */
void relay_vm_new_connection(int vid)
{
	if (vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)
		return;
	__atomic_store_n(&refusal_logged[vid], false, __ATOMIC_RELAXED);
	__atomic_store_n(&vring_reported[vid], 0, __ATOMIC_RELEASE);
	__atomic_store_n(&vring_dirty[vid], false, __ATOMIC_RELEASE);
}

static bool first_refusal(int vid)
{
	return vid < 0 || vid >= RTE_MAX_VHOST_DEVICE ||
	       !__atomic_exchange_n(&refusal_logged[vid], true, __ATOMIC_RELAXED);
}

int relay_vm_connected(int vid, const char *path)
{
	struct relay *r;
	unsigned id;
	uint16_t nr_vring = rte_vhost_get_vring_num(vid);
	int rc = 0;

	pthread_mutex_lock(&relay_lock);
	r = relay_by_path(path, &id);
	if (!r) {
		if (first_refusal(vid))
			VLOG_ERR("vhost-user connection on %s, which belongs to no relay", path);
		rc = -1;
		goto out;
	}
	if (nr_vring > 2 * FWD_MAX_QUEUES) {
		if (first_refusal(vid))
			VLOG_ERR("relay %u: the VM asks for %u queue pairs; at most %u are "
				 "supported (set queues=%u or fewer on the VM's netdev)",
				 id, nr_vring / 2, FWD_MAX_QUEUES, FWD_MAX_QUEUES);
		rc = -1;
		goto out;
	}
	r->vid = vid;
	if (rte_vhost_get_negotiated_features(vid, &r->vm_features) != 0)
		r->vm_features = 0;
	r->vm_node = rte_vhost_get_numa_node(vid);
	for (uint16_t q = 0; q < nr_vring; q++)
		/* We poll: the guest need not kick us. */
		rte_vhost_enable_guest_notification(vid, q, 0);
	if (!relay_pool(id, r)) {
		rc = -1;
		goto out;
	}
	follow_vm_memory(id, r);
	r->vm_ready = true;
	__atomic_store_n(&vring_dirty[vid], false, __ATOMIC_RELAXED);
	r->vq_enabled = __atomic_load_n(&vring_reported[vid], __ATOMIC_ACQUIRE);
	VLOG_INFO("relay %u: VM connected on %s (vid %d, NUMA node %d, %u/%u queue pairs "
		  "enabled)", id, path, vid, r->vm_node,
		  count_bits(r->vq_enabled & 0x5555555555555555ULL), nr_vring / 2);
	if (r->vm_node >= 0 && r->pool->socket_id != r->vm_node && !config->same_numa)
		VLOG_WARN("relay %u: the VM's memory is on NUMA node %d, the relay's buffers "
			  "on node %d (they could not move, see above): every packet is copied "
			  "across nodes", id, r->vm_node, r->pool->socket_id);
	relay_apply(id, r);
out:
	pthread_mutex_unlock(&relay_lock);
	return rc;
}

/* Where every packet went so far, for the log of a post-mortem: a VM that
 * left, or one that says it lost traffic. */
static void log_counters(unsigned id, const struct relay *r)
{
	for (int d = 0; d < VFWD_NB_DIRS; d++) {
		struct dir_counters c;

		stats_read(&r->dir[d].counters, &c);
		VLOG_INFO("relay %u: %s so far: %" PRIu64 " packets in, %" PRIu64 " out, %"
			  PRIu64 " dropped (queue full), %" PRIu64 " dropped (not connected), %"
			  PRIu64 " dropped (oversize)", id, dir_name[d], c.rx_pkts, c.tx_pkts,
			  c.drop_full_pkts, c.drop_unconn_pkts, c.drop_oversize_pkts);
	}
}

void relay_vm_disconnected(int vid)
{
	struct relay *r;
	unsigned id;

	pthread_mutex_lock(&relay_lock);
	r = relay_by_vid(vid, &id);
	if (r) {
		r->vm_ready = false;
		r->vid = -1;
		r->vq_enabled = 0;
		relay_apply(id, r);    /* workers let go of vid before we return */
		VLOG_INFO("relay %u: VM gone (vid %d)", id, vid);
		log_counters(id, r);
	}
	if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE)
		__atomic_store_n(&vring_reported[vid], 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&relay_lock);
}

void relay_vm_vring(int vid, uint16_t vq, bool enable)
{
	if (vid < 0 || vid >= RTE_MAX_VHOST_DEVICE || vq >= 64)
		return;
	if (enable)
		__atomic_fetch_or(&vring_reported[vid], 1ULL << vq, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&vring_reported[vid], ~(1ULL << vq), __ATOMIC_RELEASE);
	__atomic_store_n(&vring_dirty[vid], true, __ATOMIC_RELEASE);
	__atomic_store_n(&events_pending, true, __ATOMIC_RELEASE);
}

/* A memif client VF whose server came up after our start, or restarted,
 * connects only when the port starts: restart it after this long down.
 * Other VFs are left alone: a PCI VF's link follows the cable, a tap's or
 * af_packet's its interface, and a memif server keeps listening. */
#define VDEV_RESTART_AFTER_S 2

/* The VF's interface was made anew (vf_link_up): detach the port bound
 * to the old one and attach the same devargs again, pool and relay kept. */
static void reprobe_vf(unsigned id, struct relay *r)
{
	struct vf_conf vc = vf_conf();
	char err[256];

	VLOG_NOTICE("relay %u: VF %s: its interface was made anew; attaching it again", id,
		    r->vf_dev);
	detach_vf(id, r);
	if (vf_attach(r->vf_dev, r->pool, &vc, &r->port, err, sizeof(err)) != 0) {
		VLOG_ERR("relay %u: %s; the relay has no VF now: add it again", id, err);
		forget_vf(r);
		return;
	}
	r->vf_attached = true;
	r->vf_queues = vf_queue_pairs(r->port);
	r->vf_down_since = 0;
	VLOG_INFO("relay %u: VF %s attached again as port %u", id, r->vf_dev, r->port);
	relay_apply(id, r);
}

/* Follows the link of started VFs (a change republishes VM->VF), and which
 * member of a bond carries its traffic. */
static void poll_vf_link(unsigned id, struct relay *r, uint64_t now)
{
	char active[RELAY_DEV_NAME_MAX];
	bool replaced;
	bool up = vf_link_up(r->port, &replaced);

	/* An active-backup bond fails over on its own: tell where its
	 * traffic went. */
	vf_bond_active(r->port, active, sizeof(active));
	if (strcmp(active, r->vf_active) != 0) {
		if (active[0])
			VLOG_INFO("relay %u: bond member %s carries the traffic%s%s", id, active,
				  r->vf_active[0] ? " instead of " : "", r->vf_active);
		snprintf(r->vf_active, sizeof(r->vf_active), "%s", active);
	}

	if (up)
		r->vf_down_since = 0;
	else if (!r->vf_down_since)
		r->vf_down_since = now;
	if (up != r->vf_link_up) {
		r->vf_link_up = up;
		VLOG_INFO("relay %u: VF %s link %s", id, r->vf_dev, up ? "up" : "down");
		relay_apply(id, r);
	}
	if (!up && replaced) {
		reprobe_vf(id, r);
		return;
	}
	if (!up && r->vf_redials &&
	    now - r->vf_down_since > VDEV_RESTART_AFTER_S * rte_get_timer_hz()) {
		VLOG_DEBUG("relay %u: VF %s still down: restarting it to reconnect", id, r->vf_dev);
		r->vf_hold = true;
		relay_apply(id, r);
		r->vf_hold = false;
		r->vf_down_since = 0;
		relay_apply(id, r);
	}
}

void relay_process_events(void)
{
	static uint64_t next_retry, next_link_poll;
	uint64_t now = rte_get_timer_cycles();
	bool retry = now >= next_retry, link_poll = now >= next_link_poll;

	if (retry)
		next_retry = now + rte_get_timer_hz();
	if (link_poll)
		next_link_poll = now + rte_get_timer_hz() / 50;
	if (!__atomic_exchange_n(&events_pending, false, __ATOMIC_ACQ_REL) && !retry &&
	    !link_poll)
		return;
	pthread_mutex_lock(&relay_lock);
	if (retry)
		sample_worker_loads();
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		struct relay *r = &relays[id];
		uint64_t bits;

		if (retry && vf_should_run(r) && !r->vf_started)
			relay_apply(id, r);
		if (retry)
			free_left_pools(id, r);
		if (link_poll && r->vf_started)
			poll_vf_link(id, r, now);
		if (!r->vm_ready || !__atomic_exchange_n(&vring_dirty[r->vid], false,
							  __ATOMIC_ACQ_REL))
			continue;
		bits = __atomic_load_n(&vring_reported[r->vid], __ATOMIC_ACQUIRE);
		if (bits == r->vq_enabled)
			continue;
		r->vq_enabled = bits;
		VLOG_INFO("relay %u: guest queues now %u RX / %u TX enabled", id,
			  count_bits(bits & 0x5555555555555555ULL),
			  count_bits(bits & 0xaaaaaaaaaaaaaaaaULL));
		relay_apply(id, r);
	}
	pthread_mutex_unlock(&relay_lock);
}

/* ---- CPU placement ---- */

int relay_pin(unsigned id, int lcore_vf_to_vm, int lcore_vm_to_vf, char *err, size_t errlen)
{
	const int lcores[VFWD_NB_DIRS] = { lcore_vf_to_vm, lcore_vm_to_vf };
	int target[VFWD_NB_DIRS];
	struct relay *r;

	if (check_relay_id(id, err, errlen) != 0)
		return -ERANGE;
	for (int d = 0; d < VFWD_NB_DIRS; d++) {
		target[d] = lcores[d] < 0 ? -1 : worker_by_lcore((unsigned)lcores[d]);
		if (lcores[d] >= 0 && target[d] < 0) {
			snprintf(err, errlen, "CPU %d is not a worker CPU of this daemon "
				 "(see VIRTIOFWD_CPU_MASK)", lcores[d]);
			return -EINVAL;
		}
	}
	pthread_mutex_lock(&relay_lock);
	r = &relays[id];
	for (int d = 0; d < VFWD_NB_DIRS; d++) {
		if (target[d] < 0 || target[d] == r->worker[d])
			continue;
		/* Off the old worker (which lets go) before onto the new one:
		 * no packet is polled twice, none is reordered. */
		if (r->published[d]) {
			set_published(id, r, d, false);
			r->worker[d] = target[d];
			set_published(id, r, d, true);
		} else {
			r->worker[d] = target[d];
		}
	}
	pthread_mutex_unlock(&relay_lock);
	return 0;
}

/* ---- reporting ---- */

int relay_get_info(unsigned id, struct relay_info *out)
{
	const struct relay *r;

	if (id >= VFWD_MAX_RELAYS)
		return -ERANGE;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&relay_lock);
	r = &relays[id];
	out->id = id;
	out->in_use = relay_in_use(r);
	out->vf_attached = r->vf_attached;
	out->vf_started = r->vf_started;
	out->vf_link_up = r->vf_link_up;
	out->socket_registered = r->sock_registered;
	out->vm_connected = r->vm_ready;
	snprintf(out->vf, sizeof(out->vf), "%s", r->vf_dev);
	snprintf(out->vf_active, sizeof(out->vf_active), "%s", r->vf_active);
	snprintf(out->socket, sizeof(out->socket), "%s", r->sock_path);
	out->vid = r->vid;
	out->guest_rx_queues = count_bits(r->vq_enabled & 0x5555555555555555ULL);
	out->guest_tx_queues = count_bits(r->vq_enabled & 0xaaaaaaaaaaaaaaaaULL);
	out->numa_node = r->pool ? r->pool->socket_id : -1;
	for (int d = 0; d < VFWD_NB_DIRS; d++) {
		/* Active: relaying, not draining for want of the other side. */
		out->dir_active[d] = r->published[d] &&
				     r->dir[d].p.drop_cause != FWD_DROP_UNCONNECTED;
		/* Not placed yet (nothing to poll): where its pin will put it. */
		out->cpu[d] = r->worker[d] >= 0 ? (int)worker_lcore((unsigned)r->worker[d]) :
			      config->pins[id][d];
		stats_read(&r->dir[d].counters, &out->counters[d]);
		out->held[d] = __atomic_load_n(&r->dir[d].nb_held, __ATOMIC_RELAXED);
	}
	out->vf_rx_missed = r->vf_attached ? vf_rx_missed(r->port) : 0;
	out->vf_queues = r->vf_attached ? r->vf_queues : 0;
	if (r->pool) {
		out->pool_size = pool_size(r->pool);
		out->pool_in_use = relay_mbufs_out(r);
	}
	pthread_mutex_unlock(&relay_lock);
	return 0;
}

unsigned relay_count(void)
{
	unsigned n = 0;

	pthread_mutex_lock(&relay_lock);
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		n += relay_in_use(&relays[id]);
	pthread_mutex_unlock(&relay_lock);
	return n;
}

void relay_shutdown(void)
{
	char err[256];

	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		if (relays[id].sock_registered)
			relay_remove_socket(id, err, sizeof(err));
		if (relays[id].vf_attached)
			relay_remove_vf(id, err, sizeof(err));
	}
	/* Every direction is unpublished by now and every VF stopped: each
	 * pool must be full again, or something leaked. */
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		struct relay *r = &relays[id];
		unsigned out;

		if (!r->pool)
			continue;
		out = relay_mbufs_out(r);
		if (out != 0)
			VLOG_ERR("relay %u: %u mbufs not returned to the pool at shutdown (leak)",
				 id, out);
		else
			VLOG_INFO("relay %u: all %u mbufs back in the pool", id, pool_size(r->pool));
		for (int node = 0; node < RTE_MAX_NUMA_NODES; node++) {
			rte_mempool_free(r->pools[node]);
			r->pools[node] = NULL;
		}
		r->pool = NULL;
	}
}
