/* SPDX-License-Identifier: BSD-3-Clause
 *
 * vfwd-gen: the benchmark's traffic generator and sink, one lcore, two ports.
 *
 * Port 0 faces the relay's VF side (a memif port), port 1 its VM side
 * (net_virtio_user on the relay's socket).
 * It sends fresh frames as fast as the ports take them (or at --pps), in
 * one direction or both, and counts what arrives on the other port: the
 * rate at the sink is the relay's when the relay is the slower side.
 * Unlike a loop (a forwarder feeding the relay what it relayed) nothing
 * the relay does feeds back into what it is offered.
 *
 * Cheap on purpose, so that it is not the bottleneck: every mbuf of the
 * pool is filled with the frame template once, at start; sending then
 * writes only a TSC timestamp and a sequence number into the payload,
 * and what comes back carries the same template. With --pps the sink
 * reads each timestamp into a latency histogram (same process, same TSC).
 * Byte-for-byte checks are the tests' job (vfwd-peer), not this tool's.
 *
 *   vfwd-gen [EAL args]            then, one command per line on stdin:
 *       attach DEVARGS                         probe and start one more port
 *       vf2vm|vm2vf|both SIZE SECONDS PPS      a run (PPS 0: as fast as possible)
 *   vfwd-gen [EAL args] -- --idle  hold the ports open until SIGTERM
 *   options after --: --mbuf-size N (data room of its mbufs: 10240 for
 *   9000-byte frames in one mbuf), --vf-queues N / --vm-queues N (queues
 *   of port 0 / of the ports attached later; frames go out round-robin
 *   over the queues of a port, by burst, and are taken from all of them)
 *
 * attach is how a port joins once the relay is up: net_virtio_user needs
 * the relay's socket at probe, and so does a memif client (a zero-copy
 * memif is one); a memif server is given with --vdev instead, as a relay
 * such as testpmd needs it up when it starts. Attached ports are numbered
 * in order: the VF side's first.
 *
 * The ports stay up between runs, so a relay connects once (memif and
 * vhost-user reconnections take seconds). Each run waits for both links,
 * warms up for half a second, measures, then drains what is in flight,
 * and prints one JSON line: how long it measured and how long it offered
 * frames (warm-up included), per direction the packets sent and received
 * in the measured window, Mpps at the sink, and with a PPS the latency
 * p50 and p99 in microseconds.
 *
 * SIGUSR1 during a run is a mark: each direction's count of frames
 * received then is reported too ("marks"), so that a caller counts what
 * the relay delivered between two moments of its own choosing (bench.py:
 * the window callgrind counted the relay's instructions in).
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#define BURST 32
/* A zero-copy memif client lends the peer a ring of its mbufs per queue
 * to receive into, and keeps those it sent until the peer is done with
 * them: with 4 queues of 4096 slots that alone is 32768. */
#define NB_MBUFS 65535
#define NB_DESC 1024
#define FLOWS 16
#define STAMP_OFF (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + \
		   sizeof(struct rte_udp_hdr))
#define MIN_SIZE (STAMP_OFF + 2 * sizeof(uint64_t))
#define MAX_SIZE 9600
#define MAX_QUEUES 32
/* Latency histogram: 100 ns buckets up to 20 ms; beyond is one bucket. */
#define LAT_BUCKET_NS 100
#define LAT_BUCKETS 200000

enum { VF_SIDE, VM_SIDE, NB_SIDES };
static const char *const dir_name[NB_SIDES] = { "vf_to_vm", "vm_to_vf" };

struct direction {
	bool on;
	uint64_t seq;            /* frames the source port took */
	uint64_t refused;        /* offers the source port did not take (retried) */
	/* What the source port refused, offered again first: building and
	 * freeing refused bursts would slow the sink on this same lcore and
	 * so penalise a relay that holds back rather than drops. */
	struct rte_mbuf *pending[BURST];
	unsigned int nb_pending;
	uint16_t tx_queue;       /* the source port's queue it goes out on next */
	uint64_t received;       /* frames that arrived at the sink port */
	uint64_t next_due;       /* pacing, in TSC cycles */
	uint64_t *lat;           /* histogram, with --pps */
	uint64_t lat_count;
};

static struct {
	unsigned int size;
	uint64_t pps;
	double seconds;
	uint16_t mbuf_size;           /* data room, headroom included */
	uint16_t queues[2];           /* port 0's, then every later port's */
} opt = { .size = 64, .mbuf_size = RTE_MBUF_DEFAULT_BUF_SIZE, .queues = { 1, 1 } };

static uint16_t nb_queues(uint16_t port)
{
	return opt.queues[port > 0];
}

static struct direction dirs[NB_SIDES];  /* indexed by source side */
static uint64_t *histogram[NB_SIDES];
static struct rte_mempool *pool;
static uint8_t template[MAX_SIZE];
static volatile sig_atomic_t stopped;

#define MAX_MARKS 4
static volatile sig_atomic_t mark_asked;
static uint64_t marks[NB_SIDES][MAX_MARKS];
static unsigned int nb_marks;

static void on_signal(int sig)
{
	(void)sig;
	stopped = 1;
}

static void on_mark(int sig)
{
	(void)sig;
	mark_asked = 1;
}

static void take_mark(void)
{
	mark_asked = 0;
	if (nb_marks == MAX_MARKS)
		return;
	for (int side = 0; side < NB_SIDES; side++)
		marks[side][nb_marks] = dirs[side].received;
	nb_marks++;
}

/* One line of stdin into opt and dirs; false on a malformed line. */
static bool parse_run(const char *line)
{
	char dir[16];
	unsigned long long pps;

	if (sscanf(line, "%15s %u %lf %llu", dir, &opt.size, &opt.seconds, &pps) != 4 ||
	    opt.size < MIN_SIZE || opt.size > MAX_SIZE ||
	    opt.size + RTE_PKTMBUF_HEADROOM > opt.mbuf_size || opt.seconds <= 0)
		return false;
	opt.pps = pps;
	memset(dirs, 0, sizeof(dirs));
	dirs[VF_SIDE].on = !strcmp(dir, "vf2vm") || !strcmp(dir, "both");
	dirs[VM_SIDE].on = !strcmp(dir, "vm2vf") || !strcmp(dir, "both");
	return dirs[VF_SIDE].on || dirs[VM_SIDE].on;
}

/* Ethernet, IPv4 and UDP headers; the payload is left zero. Flows differ
 * in the UDP source port (set per packet) so a multiqueue relay can
 * spread them. */
static void build_template(void)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)template;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	const struct rte_ether_addr dst = { { 0x02, 0, 0, 0, 0xbe, 1 } };
	const struct rte_ether_addr src = { { 0x02, 0, 0, 1, 0xbe, 1 } };

	rte_ether_addr_copy(&dst, &eth->dst_addr);
	rte_ether_addr_copy(&src, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(opt.size - sizeof(*eth));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(RTE_IPV4(10, 190, 0, 1));
	ip->dst_addr = rte_cpu_to_be_32(RTE_IPV4(10, 190, 0, 2));
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(1000);
	udp->dst_port = rte_cpu_to_be_16(2000);
	udp->dgram_len = rte_cpu_to_be_16(opt.size - sizeof(*eth) - sizeof(*ip));
}

static void fill_with_template(struct rte_mempool *mp, void *arg, void *obj, unsigned int i)
{
	(void)mp;
	(void)arg;
	(void)i;
	memcpy(rte_pktmbuf_mtod((struct rte_mbuf *)obj, void *), template, opt.size);
}

static void setup_port(uint16_t port)
{
	struct rte_eth_conf conf = { 0 };
	int rc;

	uint16_t nq = nb_queues(port);

	rc = rte_eth_dev_configure(port, nq, nq, &conf);
	for (uint16_t q = 0; q < nq && rc == 0; q++) {
		rc = rte_eth_rx_queue_setup(port, q, NB_DESC, rte_eth_dev_socket_id(port), NULL,
					    pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port, q, NB_DESC, rte_eth_dev_socket_id(port),
						    NULL);
	}
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc != 0)
		rte_exit(2, "port %u: setup failed: %s\n", port, rte_strerror(-rc));
}

static void send_burst(int side, uint64_t now, uint64_t hz)
{
	struct direction *d = &dirs[side];
	unsigned int n = BURST, sent;

	if (d->nb_pending == 0) {
		if (opt.pps) {
			if (now < d->next_due)
				return;
			n = 1;
			d->next_due += hz / opt.pps;
			if (d->next_due < now - hz / 1000)   /* fell behind: no catch-up storm */
				d->next_due = now;
		}
		if (rte_pktmbuf_alloc_bulk(pool, d->pending, n) != 0)
			return;
		for (unsigned int i = 0; i < n; i++) {
			struct rte_mbuf *m = d->pending[i];
			/* The stamp follows a 42-byte header: not 8-byte aligned. */
			uint64_t stamp[2] = { now, d->seq + i };
			struct rte_udp_hdr *udp = rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *,
									  STAMP_OFF - sizeof(*udp));

			m->data_len = m->pkt_len = opt.size;
			udp->src_port = rte_cpu_to_be_16(1000 + (d->seq + i) % FLOWS);
			memcpy(rte_pktmbuf_mtod_offset(m, void *, STAMP_OFF), stamp, sizeof(stamp));
		}
		d->nb_pending = n;
	}
	sent = rte_eth_tx_burst(side, d->tx_queue, d->pending, d->nb_pending);
	if (d->nb_pending == sent)
		d->tx_queue = (uint16_t)((d->tx_queue + 1) % nb_queues(side));
	d->seq += sent;
	d->nb_pending -= sent;
	if (d->nb_pending) {
		d->refused += d->nb_pending;
		memmove(d->pending, d->pending + sent, d->nb_pending * sizeof(d->pending[0]));
	}
}

static void record_latency(struct direction *d, struct rte_mbuf **m, uint16_t n, uint64_t hz)
{
	uint64_t now = rte_rdtsc();

	for (uint16_t i = 0; i < n; i++) {
		uint64_t sent_at, b;

		memcpy(&sent_at, rte_pktmbuf_mtod_offset(m[i], const void *, STAMP_OFF), sizeof(sent_at));
		b = (now - sent_at) * 1000000000ull / hz / LAT_BUCKET_NS;

		d->lat[b < LAT_BUCKETS ? b : LAT_BUCKETS]++;
		d->lat_count++;
	}
}

static void receive_burst(int side, uint64_t hz)
{
	struct direction *d = &dirs[!side];   /* what arrives here crossed from the other side */
	struct rte_mbuf *m[BURST];

	for (uint16_t q = 0; q < nb_queues(side); q++) {
		uint16_t n = rte_eth_rx_burst(side, q, m, BURST);

		if (n && d->lat)
			record_latency(d, m, n, hz);
		d->received += n;
		rte_pktmbuf_free_bulk(m, n);
	}
}

static double percentile_us(const struct direction *d, double q)
{
	uint64_t want = (uint64_t)(q * d->lat_count), seen = 0;

	for (unsigned int b = 0; b <= LAT_BUCKETS; b++) {
		seen += d->lat[b];
		if (seen > want)
			return (b + 0.5) * LAT_BUCKET_NS / 1000.0;
	}
	return 0;
}

/* Runs both ports until `until` (TSC); sends only while `sending`. */
static void run(uint64_t until, bool sending, uint64_t hz)
{
	while (!stopped) {
		uint64_t now = rte_rdtsc();

		if (now >= until)
			return;
		if (unlikely(mark_asked))
			take_mark();
		for (int side = 0; side < NB_SIDES; side++) {
			if (sending && dirs[side].on)
				send_burst(side, now, hz);
			receive_burst(side, hz);
		}
	}
}

static bool links_up(void)
{
	struct rte_eth_link link;
	uint16_t port;

	RTE_ETH_FOREACH_DEV(port)
		if (rte_eth_link_get_nowait(port, &link) != 0 || !link.link_status)
			return false;
	return true;
}

#define LINK_WAIT_S 120

static void measure(uint64_t hz)
{
	uint64_t tw, t0, t1, sent0[NB_SIDES], recv0[NB_SIDES], sent1[NB_SIDES], recv1[NB_SIDES];

	for (int side = 0; side < NB_SIDES; side++)
		dirs[side].lat = opt.pps && dirs[side].on ? histogram[side] : NULL;
	build_template();
	rte_mempool_obj_iter(pool, fill_with_template, NULL);
	nb_marks = 0;
	mark_asked = 0;
	/* testpmd tells nothing the benchmark could wait on before a run, so
	 * this wait covers its start-up; under callgrind, on a loaded machine,
	 * that once took over 30 s. It ends as soon as the links are up. */
	for (uint64_t until = rte_rdtsc() + LINK_WAIT_S * hz; !links_up() && rte_rdtsc() < until;)
		run(rte_rdtsc() + hz / 100, false, hz);
	if (!links_up()) {
		printf("{\"error\": \"links not up after %d s: is the relay connected?\"}\n",
		       LINK_WAIT_S);
		goto out;
	}
	tw = rte_rdtsc();
	run(tw + hz / 2, true, hz);                   /* warm-up */
	for (int side = 0; side < NB_SIDES; side++) {
		sent0[side] = dirs[side].seq;
		recv0[side] = dirs[side].received;
		if (dirs[side].lat)
			memset(dirs[side].lat, 0, (LAT_BUCKETS + 1) * sizeof(uint64_t));
		dirs[side].lat_count = 0;
	}
	t0 = rte_rdtsc();
	run(t0 + (uint64_t)(opt.seconds * hz), true, hz);
	t1 = rte_rdtsc();
	for (int side = 0; side < NB_SIDES; side++) {
		sent1[side] = dirs[side].seq;
		recv1[side] = dirs[side].received;
	}
	/* Drain what is in flight, so that the relay is left with nothing. */
	run(rte_rdtsc() + hz / 2, false, hz);
	for (int side = 0; side < NB_SIDES; side++) {
		rte_pktmbuf_free_bulk(dirs[side].pending, dirs[side].nb_pending);
		dirs[side].nb_pending = 0;
	}

	/* traffic_seconds: how long frames were offered, warm-up included. */
	printf("{\"size\": %u, \"pps\": %" PRIu64 ", \"seconds\": %.3f, \"traffic_seconds\": %.3f",
	       opt.size, opt.pps, (double)(t1 - t0) / hz, (double)(t1 - tw) / hz);
	for (int side = 0; side < NB_SIDES; side++) {
		const struct direction *d = &dirs[side];

		if (!d->on)
			continue;
		printf(", \"%s\": {\"sent\": %" PRIu64 ", \"received\": %" PRIu64
		       ", \"refused\": %" PRIu64 ", \"mpps\": %.4f, \"total_sent\": %" PRIu64
		       ", \"total_received\": %" PRIu64, dir_name[side], sent1[side] - sent0[side],
		       recv1[side] - recv0[side], d->refused,
		       (double)(recv1[side] - recv0[side]) * hz / (t1 - t0) / 1e6, d->seq,
		       d->received);
		if (d->lat)
			printf(", \"lat_p50_us\": %.2f, \"lat_p99_us\": %.2f",
			       percentile_us(d, 0.50), percentile_us(d, 0.99));
		printf(", \"marks\": [");
		for (unsigned int i = 0; i < nb_marks; i++)
			printf("%s%" PRIu64, i ? ", " : "", marks[side][i]);
		printf("]}");
	}
	printf("}\n");
out:
	fflush(stdout);
}

static void attach(const char *devargs)
{
	uint16_t port, nb = rte_eth_dev_count_avail();
	int rc = devargs ? rte_dev_probe(devargs) : -EINVAL;

	if (rc != 0 || rte_eth_dev_count_avail() != nb + 1) {
		printf("{\"error\": \"cannot attach %s: %s\"}\n", devargs ? devargs : "",
		       rte_strerror(-rc));
	} else {
		RTE_ETH_FOREACH_DEV(port)
			if (port == nb)
				setup_port(port);
		printf("{\"attached\": %u}\n", nb);
	}
	fflush(stdout);
}

/* The options after EAL's (argv[0] is EAL's last); true with --idle. */
static bool parse_options(int argc, char **argv)
{
	bool idle = false;

	for (int i = 1; i < argc; i++) {
		unsigned long v = i + 1 < argc ? strtoul(argv[i + 1], NULL, 10) : 0;

		if (!strcmp(argv[i], "--"))
			continue;
		if (!strcmp(argv[i], "--idle")) {
			idle = true;
		} else if (!strcmp(argv[i], "--mbuf-size") && v > RTE_PKTMBUF_HEADROOM + MIN_SIZE &&
			   v <= UINT16_MAX) {
			opt.mbuf_size = (uint16_t)v;
			i++;
		} else if ((!strcmp(argv[i], "--vf-queues") || !strcmp(argv[i], "--vm-queues")) &&
			   v >= 1 && v <= MAX_QUEUES) {
			opt.queues[!strcmp(argv[i], "--vm-queues")] = (uint16_t)v;
			i++;
		} else {
			rte_exit(2, "bad option %s; options: --idle, --mbuf-size N, --vf-queues N, "
				 "--vm-queues N (1-%d)\n", argv[i], MAX_QUEUES);
		}
	}
	return idle;
}

int main(int argc, char **argv)
{
	char line[256];
	uint16_t port;
	int eal = rte_eal_init(argc, argv);
	bool idle;

	if (eal < 0)
		rte_exit(2, "EAL init failed\n");
	idle = parse_options(argc - eal, argv + eal);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_mark);
	/* A relay that goes away mid-run closes our sockets: say so, do not die. */
	signal(SIGPIPE, SIG_IGN);
	if (idle && rte_eth_dev_count_avail() < 1)
		rte_exit(2, "--idle needs ports to hold open (--vdev)\n");
	/* Big mbufs: fewer, or the pool would take hundreds of MB. */
	pool = rte_pktmbuf_pool_create("gen", opt.mbuf_size > RTE_MBUF_DEFAULT_BUF_SIZE ?
				       NB_MBUFS / 2 : NB_MBUFS, 256, 0, opt.mbuf_size,
				       rte_socket_id());
	if (!pool)
		rte_exit(2, "no mbuf pool: %s\n", rte_strerror(rte_errno));
	RTE_ETH_FOREACH_DEV(port)
		setup_port(port);
	if (idle) {
		while (!stopped)
			pause();
	} else {
		uint64_t hz = rte_get_tsc_hz();

		for (int side = 0; side < NB_SIDES; side++)
			histogram[side] = calloc(LAT_BUCKETS + 1, sizeof(uint64_t));
		setvbuf(stdout, NULL, _IOLBF, 0);
		while (!stopped && fgets(line, sizeof(line), stdin)) {
			if (!strncmp(line, "attach ", 7)) {
				attach(strtok(line + 7, "\n"));
				continue;
			}
			if (rte_eth_dev_count_avail() < 2) {
				printf("{\"error\": \"attach the VM side first\"}\n");
				fflush(stdout);
				continue;
			}
			if (!parse_run(line)) {
				printf("{\"error\": \"bad run line; want: vf2vm|vm2vf|both SIZE "
				       "SECONDS PPS\"}\n");
				fflush(stdout);
				continue;
			}
			measure(hz);
		}
	}
	RTE_ETH_FOREACH_DEV(port) {
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	rte_eal_cleanup();
	return 0;
}
