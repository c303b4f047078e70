/* worker: the data plane. Each worker lcore polls the relay directions on
 * its poll list, in bursts, with no locks, syscalls or allocation.
 *
 *   worker_init(lcores, n)        one worker per lcore, RCU state set up
 *   worker_launch_all()           start the poll loops
 *   worker_publish(w, dirs, n)    replace worker w's poll list and wait
 *                                 until w no longer uses the old one
 *   worker_stop_all()             stop the loops (shutdown)
 *
 * A fwd_dir's fields other than its counters may be changed only while the
 * direction is on no published poll list: worker_publish() returning is the
 * guarantee that the worker has let go of it (rte_rcu_qsbr). Control
 * threads serialise their calls to worker_publish() (the relay lock).
 */
#ifndef VFWD_WORKER_H
#define VFWD_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <rte_common.h>

#include "config.h"
#include "stats.h"

#define WORKER_MAX 64
/* Packets a poll takes from one source queue: a burst for one destination
 * queue, up to FWD_BURST_MAX to spread over several guest queues, so that
 * each still gets about a burst. rte_vhost's cost per call (its ring
 * indexes, cache lines the guest's CPU writes too) is then shared by a
 * burst rather than by the few packets one queue's share of 32 would be. */
#define FWD_BURST 32
#define FWD_BURST_MAX (4 * FWD_BURST)
#define FWD_MAX_QUEUES 32    /* virtio queue pairs per relay */
/* Segments of one packet a sink may stage (offload.h): a 64 KB TSO packet
 * at an MSS of 256 bytes. */
#define FWD_STAGE_MAX 256

struct rte_mbuf;
struct rte_mempool;
struct fwd_dir;

/* A source yields packets from its queue index qi; a sink takes ownership
 * of the first k of n packets from source queue qi and returns k, sending
 * them to the destination queues qi feeds (fwd_params.dst_first/count).
 * What a full destination does not take is held, per source queue, and
 * offered first on the next poll; that source queue is not read while it
 * holds anything: backpressure, so that overload drops happen where the
 * traffic comes from (the NIC's RX ring, the guest's TX queue), counted
 * there, and a destination that does not drain costs its worker nothing.
 * A hold per source queue keeps one full destination queue from stalling
 * the source queues that feed others. What a destination that is not
 * there does not take, the caller counts as dropped (drop_cause) and frees.
 * One exception: a sink with several destination queues for one source
 * queue may drop, among the k it takes, the packets for a queue stuck
 * full while another queue takes (vm_sink); it frees them and says how
 * many in sink_dropped, and the caller counts them as dropped because
 * their destination was full. */
typedef uint16_t (*fwd_source_fn)(struct fwd_dir *d, uint16_t qi,
				  struct rte_mbuf **pkts, uint16_t max);
typedef uint16_t (*fwd_sink_fn)(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts,
				uint16_t n);

enum fwd_drop_cause { FWD_DROP_FULL, FWD_DROP_UNCONNECTED, FWD_DROP_OVERSIZE };

/* Whether, and in which ring layout, vm_sink looks for a posted buffer
 * when the guest refuses a frame (see check_fit in vhost.c). */
enum guest_fit_check { GUEST_FIT_UNCHECKED, GUEST_FIT_SPLIT, GUEST_FIT_PACKED };

/* What a direction polls and where it sends: set by the control plane only
 * while the direction is on no published poll list. */
struct fwd_params {
	fwd_source_fn source;
	fwd_sink_fn sink;
	enum fwd_drop_cause drop_cause;     /* FULL or UNCONNECTED */
	uint32_t max_frame;                 /* longer frames are dropped, oversize, */
	bool tso;                           /* but for TCP_SEG ones under -T */
	uint64_t vf_tx_offloads;            /* enabled on the VF (offload.h) */
	/* The guest's RX buffers are all of one size (no mergeable RX
	 * buffers): vm_sink can tell a frame too big for them from a full
	 * ring, reading the ring as laid out. */
	enum guest_fit_check guest_fit;
	uint16_t burst;                     /* packets a poll takes from a queue */
	uint16_t nb_src_queues;             /* queues the source polls */
	uint16_t nb_dst_queues;             /* queues the sink may use */
	uint16_t src_queues[FWD_MAX_QUEUES];
	uint16_t dst_queues[FWD_MAX_QUEUES];
	/* Source queue qi feeds dst_count[qi] destination queues:
	 * dst_queues[dst_first[qi] + k * nb_src_queues] (fwd_map_queues). */
	uint8_t dst_first[FWD_MAX_QUEUES];
	uint8_t dst_count[FWD_MAX_QUEUES];
	uint16_t port_id;                   /* the VF ethdev */
	int vid;                            /* the vhost device */
	struct rte_mempool *pool;           /* for vhost dequeue */
};

struct fwd_dir {
	struct dir_counters counters;       /* written by the polling worker only */
	/* Packets held over all source queues: written by the polling
	 * worker, read by others with an atomic load. */
	uint16_t nb_held;
	/* A sink that knows the first packet it refused can never be taken
	 * sets unplaceable; fwd_poll drops that packet, counted oversize.
	 * Polling worker only. */
	bool unplaceable;
	/* Dropped by the sink in its last call (see fwd_sink_fn); polling
	 * worker only, cleared by the caller once counted. */
	uint16_t sink_dropped;
	uint64_t sink_dropped_bytes;
	/* Since when (TSC) each destination queue, by index in p.dst_queues,
	 * has refused packets; 0 while it takes them. Polling worker only;
	 * reset with the parameters (fwd_set_params). */
	uint64_t dst_full_since[FWD_MAX_QUEUES];
	struct fwd_params p;
	/* A sink's own packets, sent before anything it takes (offload.h). */
	uint16_t nb_staged;
	struct rte_mbuf *staged[FWD_STAGE_MAX];
	/* By source queue: taken, refused by a full destination, in order.
	 * Polling worker only, like the counters. refused_with_room is
	 * vm_sink's evidence of a frame the guest can never take. */
	struct fwd_hold {
		uint16_t n;
		uint64_t bytes;
		const struct rte_mbuf *refused_with_room;
		struct rte_mbuf *pkts[FWD_BURST_MAX];
	} held[FWD_MAX_QUEUES];
} __rte_cache_aligned;

struct worker_info {
	unsigned lcore;
	unsigned nb_dirs;
	uint64_t loops;
	uint64_t busy_cycles;               /* sum over its directions' busy polls */
	uint64_t tsc_start;                 /* when the loop started */
};

int worker_init(const unsigned *lcores, unsigned n);
unsigned worker_count(void);
/* Index of the worker on lcore, or -1. */
int worker_by_lcore(unsigned lcore);
unsigned worker_lcore(unsigned w);
int worker_launch_all(void);
void worker_publish(unsigned w, struct fwd_dir *const *dirs, unsigned n);
void worker_stop_all(void);
void worker_get_info(unsigned w, struct worker_info *out);

/* The sink of a direction whose destination is not there: takes nothing. */
uint16_t fwd_sink_none(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n);

/* Polls one direction once: the whole forwarding step, both directions. */
void fwd_poll(struct fwd_dir *d);

/* Sets p's dst_first/count from its queue counts. With as many source
 * queues as destinations or more, source queue i feeds destination
 * i mod nb_dst_queues alone, so that a VF queue keeps to one guest
 * queue; with fewer, destinations i, i + nb_src_queues,
 * i + 2 nb_src_queues..., over which the sink spreads by flow. */
void fwd_map_queues(struct fwd_params *p);

/* Sets what d polls and where it sends, and forgets what its sink knew of
 * the old destination queues. What source queues d no longer polls hold
 * is dropped, counted as "destination full". Only for a direction on no
 * published poll list. */
void fwd_set_params(struct fwd_dir *d, const struct fwd_params *p);

/* Frees what d holds, counted as dropped because its destination was full,
 * and what its sink staged. Only for a direction on no published poll list. */
void fwd_drop_held(struct fwd_dir *d);

#endif
