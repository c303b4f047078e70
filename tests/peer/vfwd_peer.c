/* SPDX-License-Identifier: BSD-3-Clause
 *
 * vfwd-peer: traffic generator and checker for virtio-forwarder tests.
 *
 * The same program runs on both sides of the daemon: on the "VF" side
 * (e.g. a net_memif server port the daemon's memif client connects to) and
 * on the "VM" side (a net_virtio_user port on the daemon's vhost-user
 * socket). It sends deterministic packets and verifies, byte for byte,
 * what it receives, so any corruption, loss, duplication or reordering in
 * the relay shows up in the JSON report.
 *
 *   vfwd-peer [EAL args] -- [options]      (see usage() below)
 *
 * Every ethdev the EAL created is used; port i is the i-th in probe order.
 *
 * Packet format (all multi-byte fields big-endian):
 *   Ethernet  dst 02:00:00:00:<tag>:<port>  src 02:00:00:01:<tag>:<port>
 *             type IPv4
 *   IPv4      src 10.<tag>.<port>.1  dst 10.<tag>.<port>.2, proto UDP,
 *             id = (uint16_t)seq, TTL 64, valid header checksum
 *   UDP       src port 1000+flow, dst port 2000, checksum 0
 *   payload   magic 0x56465744 ("VFWD"), tag (1), port (1), flow (2),
 *             seq (8, per flow from 0), frame length (4), then filler:
 *             payload byte k = (uint8_t)(seq * 31 + flow * 7 + k + tag)
 * A frame is that content truncated to its length, so 60- and 61-byte
 * frames carry a cut-off length field; the receiver then takes the
 * length from the mbuf and still compares every byte it has.
 *
 * Receiving: the checker rebuilds the whole expected frame from (tag,
 * port, flow, seq, length) found in it and compares every byte over all
 * segments; the two MACs may come back swapped (echo peers, macswap).
 * Frames without our magic that are not UDP to port 2000 are foreign
 * (ARP, IPv6 ND...): counted, not failures. Sequence order is tracked per
 * (sender port byte, flow); the first exact frame of a flow locks its tag
 * (or --expect-tag fixes it), so two senders cannot hide in one flow.
 * Loss is seen only as gaps: packets missing at the end of a flow show
 * as rx_ok below --expect, not in "lost".
 *
 * Known traps (DPDK 22.11), found with this tool:
 *  - net_memif: a frame larger than the buffer size (bsize, default 2048)
 *    is spread over several descriptors, and the Tx path never clears a
 *    stale "next" flag on a reused first descriptor; mixing such frames
 *    with small ones makes the receiver run past the ring (floods of
 *    corrupt frames). The CLIENT's bsize is what counts (it lays out the
 *    shared memory): give the memif client bsize >= the largest frame.
 *  - net_virtio_user: link up only means the vhost-user socket is
 *    connected, not that the backend is forwarding; gate the first packets
 *    on --start-file (or accept early loss), not on --wait-link alone.
 *  - net_virtio_user: the vhost backend is told the rings at configure
 *    time, and rte_eth_dev_start then posts RX buffers and *flushes* any
 *    frame already written to them. Open --start-file for the other
 *    side's sender only after this peer printed "ports started".
 *
 * Exit status: 0 when stopped by SIGINT/SIGTERM or when every check passed;
 * 1 when a check failed (fewer than --expect exact packets, or corrupt,
 * lost or reordered/duplicate packets); 2 on usage or setup errors.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#define BURST 32
#define MIN_FRAME 60
#define MAX_FRAME 9000
#define MAX_SIZES 64
#define MAX_FLOWS 65536
#define MAX_MBUFS 65536
#define MAX_QUEUES 32
/* virtio_user rings follow its queue_size devarg (up to 4096 in the tests),
 * not our descriptor count, and its TX ring keeps sent mbufs until nearly
 * full: size the pool for that, or many ports starve the pool and stall. */
#define RING_MBUFS_PER_PORT (2u * 4096)
#define DEFAULT_DESC 1024
/* Data room for frames that do not fit a default 2 KB mbuf: one 9000-byte
 * frame per mbuf keeps the sender simple; receivers still handle chains. */
#define LARGE_DATA_ROOM 10240

#define MAGIC 0x56465744u
#define ETH_LEN 14
#define IP_LEN 20
#define UDP_LEN 8
#define PAYLOAD_OFF (ETH_LEN + IP_LEN + UDP_LEN) /* 42 */
#define PHDR_LEN 20                              /* our payload header */
#define UDP_SRC_BASE 1000
#define UDP_DST_PORT 2000
/* Bytes up to and including seq: the least a frame must hold to be ours. */
#define MIN_PARSABLE (PAYLOAD_OFF + 16)

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

struct options {
	uint64_t tx;             /* packets to send per port */
	uint64_t expect;         /* exact packets expected per port */
	uint32_t sizes[MAX_SIZES];
	unsigned int nb_sizes;
	uint32_t flows;
	uint64_t pps;            /* per port; 0 = unpaced */
	int tag;
	int expect_tag;          /* -1 = any (but consistent per flow) */
	const char *start_file;
	bool wait_link;
	bool echo;
	bool run_until_signal;
	bool lsc;                /* link-state interrupts (virtio_user reconnect) */
	uint16_t queues;         /* RX and TX queues per port; flow f uses TX queue f % queues */
	const char *report;
	uint64_t idle_timeout_ms;
	uint64_t timeout_s;
	uint64_t linger_ms;
	uint32_t seg_size;       /* split tx frames into segments; 0 = no */
	uint32_t idle_sleep_us;  /* sleep when a loop round did nothing */
};

static struct options opt = {
	.sizes = { 64 }, .nb_sizes = 1, .flows = 4, .pps = 20000, .queues = 1,
	.tag = 0, .expect_tag = -1, .idle_timeout_ms = 3000,
	.timeout_s = 60, .linger_ms = 200, .idle_sleep_us = 50,
};

/* ------------------------------------------------------------------ */
/* Per-port state                                                      */

/* Receive-side sequence state of one flow of one sender port. The tag is
 * locked by the first exact packet so a flow cannot silently mix senders. */
struct flow_state {
	uint64_t next_seq;
	uint8_t tag;
	bool seen;
};

struct port_ctx {
	uint16_t port_id;
	char name[RTE_ETH_NAME_MAX_LEN];

	/* tx */
	uint64_t tx_generated;   /* packets built so far */
	uint64_t tx;             /* packets the PMD accepted */
	uint64_t tx_bytes;
	uint64_t next_due_ns;    /* pacing: when the next packet is due */
	struct rte_mbuf *pending[BURST]; /* built or echoed, not yet accepted */
	uint16_t pending_q[BURST];       /* the TX queue of each pending packet */
	uint16_t pending_head, pending_count;

	/* rx */
	uint64_t rx_total, rx_ok, rx_bytes_ok, rx_corrupt, rx_foreign;
	/* Exact frames sent by the peer's port of another index: with one
	 * relay per port pair, a sign of crossed relays. */
	uint64_t rx_other_port;
	uint64_t lost, reordered_or_dup, echoed;
	uint64_t rx_per_queue[MAX_QUEUES];
	/* Exact frames of flow f received on a queue other than f % queues,
	 * the one the sender put them on: a relay that keeps each queue to
	 * its counterpart shows none. */
	uint64_t rx_off_queue;
	uint16_t rx_next_q;
	uint64_t first_rx_ns, last_rx_ns;   /* 0 = nothing received */
	/* Indexed by the sender's port byte, each lazily a MAX_FLOWS array:
	 * senders and flow counts are not known in advance. */
	struct flow_state *flow_tab[256];
};

static struct port_ctx *ports;
static uint16_t nb_ports;
static struct rte_mempool *pool;
static volatile sig_atomic_t stop_signal;

/* Scratch frames for building and checking; MAX_FRAME is the largest. */
static uint8_t tx_scratch[MAX_FRAME];
static uint8_t rx_expected[MAX_FRAME];

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void __rte_noreturn usage_exit(const char *prog, const char *why)
{
	if (why != NULL)
		fprintf(stderr, "vfwd-peer: %s\n", why);
	fprintf(stderr,
		"usage: %s [EAL args] -- [options]\n"
		"  --tx N            packets to send per port (0)\n"
		"  --expect N        exact packets expected per port (0)\n"
		"  --size S          frame length without FCS, %d..%d (64)\n"
		"  --sizes a,b,c     cycle through these frame lengths\n"
		"  --seg-size B      send frames as mbuf chains of B-byte segments\n"
		"  --flows F         flows per port, 1..%d (4)\n"
		"  --pps R           packets/s per port, 0 = unpaced (20000)\n"
		"  --tag T           sender tag 0..255 (0)\n"
		"  --expect-tag T    tag required in received packets (any)\n"
		"  --start-file P    send only once P exists\n"
		"  --wait-link       send only once every port has link up\n"
		"  --echo            reflect received packets, MACs swapped\n"
		"  --run-until-signal keep receiving until SIGINT/SIGTERM\n"
		"  --idle-timeout MS stop this long after the last rx once sent (3000)\n"
		"  --timeout S       overall limit in seconds (60)\n"
		"  --linger MS       keep ports open after finishing (200)\n"
		"  --idle-sleep US   sleep when nothing to do, microseconds (50)\n"
		"  --lsc             link-state interrupts (virtio_user server reconnect)\n"
		"  --queues N        RX/TX queues per port; flow f is sent on queue f %% N (1)\n"
		"  --report PATH     also write the JSON report to PATH\n",
		prog, MIN_FRAME, MAX_FRAME, MAX_FLOWS);
	exit(2);
}

static uint64_t parse_u64(const char *prog, const char *name, const char *s,
			  uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    v < min || v > max) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "bad value '%s' for --%s (range %" PRIu64 "..%" PRIu64 ")",
			 s, name, min, max);
		usage_exit(prog, msg);
	}
	return v;
}

static void parse_sizes(const char *prog, const char *list)
{
	char buf[512];
	char *tok, *save = NULL;

	if (strlen(list) >= sizeof(buf))
		usage_exit(prog, "--sizes list too long");
	strcpy(buf, list);
	opt.nb_sizes = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (opt.nb_sizes == MAX_SIZES)
			usage_exit(prog, "too many --sizes");
		opt.sizes[opt.nb_sizes++] = (uint32_t)parse_u64(prog, "sizes",
						tok, MIN_FRAME, MAX_FRAME);
	}
	if (opt.nb_sizes == 0)
		usage_exit(prog, "empty --sizes");
}

static void parse_options(int argc, char **argv)
{
	enum {
		O_TX = 256, O_EXPECT, O_SIZE, O_SIZES, O_SEG, O_FLOWS, O_PPS,
		O_TAG, O_ETAG, O_START, O_WAITLINK, O_ECHO, O_RUS, O_IDLE,
		O_TIMEOUT, O_LINGER, O_REPORT, O_IDLE_SLEEP, O_LSC, O_QUEUES,
	};
	static const struct option longopts[] = {
		{ "tx", required_argument, NULL, O_TX },
		{ "expect", required_argument, NULL, O_EXPECT },
		{ "size", required_argument, NULL, O_SIZE },
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "seg-size", required_argument, NULL, O_SEG },
		{ "flows", required_argument, NULL, O_FLOWS },
		{ "pps", required_argument, NULL, O_PPS },
		{ "tag", required_argument, NULL, O_TAG },
		{ "expect-tag", required_argument, NULL, O_ETAG },
		{ "start-file", required_argument, NULL, O_START },
		{ "wait-link", no_argument, NULL, O_WAITLINK },
		{ "echo", no_argument, NULL, O_ECHO },
		{ "run-until-signal", no_argument, NULL, O_RUS },
		{ "idle-timeout", required_argument, NULL, O_IDLE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "linger", required_argument, NULL, O_LINGER },
		{ "report", required_argument, NULL, O_REPORT },
		{ "idle-sleep", required_argument, NULL, O_IDLE_SLEEP },
		{ "lsc", no_argument, NULL, O_LSC },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prog = argv[0];
	int c;

	optind = 0; /* the EAL ran getopt already: full reset */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_TX: opt.tx = parse_u64(prog, "tx", optarg, 0, UINT64_MAX / 2); break;
		case O_EXPECT: opt.expect = parse_u64(prog, "expect", optarg, 0, UINT64_MAX / 2); break;
		case O_SIZE:
			opt.sizes[0] = (uint32_t)parse_u64(prog, "size", optarg,
							   MIN_FRAME, MAX_FRAME);
			opt.nb_sizes = 1;
			break;
		case O_SIZES: parse_sizes(prog, optarg); break;
		case O_SEG: opt.seg_size = (uint32_t)parse_u64(prog, "seg-size", optarg, 64, 2048); break;
		case O_FLOWS: opt.flows = (uint32_t)parse_u64(prog, "flows", optarg, 1, MAX_FLOWS); break;
		case O_PPS: opt.pps = parse_u64(prog, "pps", optarg, 0, 100000000); break;
		case O_TAG: opt.tag = (int)parse_u64(prog, "tag", optarg, 0, 255); break;
		case O_ETAG: opt.expect_tag = (int)parse_u64(prog, "expect-tag", optarg, 0, 255); break;
		case O_START: opt.start_file = optarg; break;
		case O_WAITLINK: opt.wait_link = true; break;
		case O_ECHO: opt.echo = true; break;
		case O_RUS: opt.run_until_signal = true; break;
		case O_IDLE: opt.idle_timeout_ms = parse_u64(prog, "idle-timeout", optarg, 0, 86400000); break;
		case O_TIMEOUT: opt.timeout_s = parse_u64(prog, "timeout", optarg, 1, 86400 * 7); break;
		case O_LINGER: opt.linger_ms = parse_u64(prog, "linger", optarg, 0, 60000); break;
		case O_REPORT: opt.report = optarg; break;
		case O_LSC: opt.lsc = true; break;
		case O_QUEUES: opt.queues = (uint16_t)parse_u64(prog, "queues", optarg, 1, MAX_QUEUES); break;
		case O_IDLE_SLEEP: opt.idle_sleep_us = (uint32_t)parse_u64(prog, "idle-sleep", optarg, 1, 100000); break;
		case 'h': usage_exit(prog, NULL);
		default: usage_exit(prog, "unknown option");
		}
	}
	if (optind != argc)
		usage_exit(prog, "unexpected argument");
	if (opt.echo && (opt.tx || opt.expect))
		usage_exit(prog, "--echo does not send or check: drop --tx/--expect");
}

/* ------------------------------------------------------------------ */
/* Packet format                                                       */

/* Builds the full frame identified by (tag, port, flow, seq, len) into
 * buf (len bytes). The receiver calls this too, to get what it should
 * have received. */
static void build_frame(uint8_t *buf, uint8_t tag, uint8_t port,
			uint16_t flow, uint64_t seq, uint32_t len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(buf + ETH_LEN);
	struct rte_udp_hdr *udp =
		(struct rte_udp_hdr *)(buf + ETH_LEN + IP_LEN);
	uint8_t *pl = buf + PAYLOAD_OFF;
	uint8_t phdr[PHDR_LEN];
	uint32_t pl_len = len - PAYLOAD_OFF;
	uint32_t k;
	uint8_t fill;

	const uint8_t dst[6] = { 0x02, 0, 0, 0x00, tag, port };
	const uint8_t src[6] = { 0x02, 0, 0, 0x01, tag, port };

	memcpy(&eth->dst_addr, dst, 6);
	memcpy(&eth->src_addr, src, 6);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(len - ETH_LEN));
	ip->packet_id = rte_cpu_to_be_16((uint16_t)seq);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(RTE_IPV4(10, tag, port, 1));
	ip->dst_addr = rte_cpu_to_be_32(RTE_IPV4(10, tag, port, 2));
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	udp->src_port = rte_cpu_to_be_16((uint16_t)(UDP_SRC_BASE + flow));
	udp->dst_port = rte_cpu_to_be_16(UDP_DST_PORT);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(len - ETH_LEN - IP_LEN));
	udp->dgram_cksum = 0;

	/* Payload header first into a scratch copy: frames shorter than
	 * PAYLOAD_OFF + PHDR_LEN carry only its beginning. */
	phdr[0] = (uint8_t)(MAGIC >> 24);
	phdr[1] = (uint8_t)(MAGIC >> 16);
	phdr[2] = (uint8_t)(MAGIC >> 8);
	phdr[3] = (uint8_t)MAGIC;
	phdr[4] = tag;
	phdr[5] = port;
	phdr[6] = (uint8_t)(flow >> 8);
	phdr[7] = (uint8_t)flow;
	for (k = 0; k < 8; k++)
		phdr[8 + k] = (uint8_t)(seq >> (56 - 8 * k));
	for (k = 0; k < 4; k++)
		phdr[16 + k] = (uint8_t)(len >> (24 - 8 * k));
	memcpy(pl, phdr, RTE_MIN(pl_len, (uint32_t)PHDR_LEN));

	fill = (uint8_t)(seq * 31 + (uint64_t)flow * 7 + PHDR_LEN + tag);
	for (k = PHDR_LEN; k < pl_len; k++)
		pl[k] = fill++;
}

static uint64_t be_read(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | *p++;
	return v;
}

/* Compares the mbuf chain from byte offset 'off' on with exp[off..len). */
static bool chain_equals(const struct rte_mbuf *m, const uint8_t *exp,
			 uint32_t off, uint32_t len)
{
	uint32_t seg_start = 0;

	for (; m != NULL && off < len; m = m->next) {
		uint32_t seg_end = seg_start + m->data_len;

		if (off < seg_end) {
			uint32_t n = RTE_MIN(seg_end, len) - off;

			if (memcmp(rte_pktmbuf_mtod_offset(m, const uint8_t *,
							   off - seg_start),
				   exp + off, n) != 0)
				return false;
			off += n;
		}
		seg_start = seg_end;
	}
	return off == len;
}

enum rx_verdict { RX_OK, RX_CORRUPT, RX_FOREIGN };

struct pkt_id {
	uint8_t tag, port;
	uint16_t flow;
	uint64_t seq;
	uint32_t len;
};

/* Classifies one received frame; on RX_OK fills *id. MACs may come back in
 * either order (an echo peer swaps them); every other byte must match. */
static enum rx_verdict check_frame(const struct rte_mbuf *m, struct pkt_id *id)
{
	uint8_t hdr[PAYLOAD_OFF + PHDR_LEN];
	const uint8_t *h;
	uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
	uint32_t hlen = RTE_MIN(pkt_len, (uint32_t)sizeof(hdr));
	bool looks_ours, is_udp2000;

	h = rte_pktmbuf_read(m, 0, hlen, hdr);
	if (h == NULL) /* pkt_len larger than the chain: broken mbuf */
		return RX_CORRUPT;

	looks_ours = hlen >= PAYLOAD_OFF + 4 &&
		     be_read(h + PAYLOAD_OFF, 4) == MAGIC;
	is_udp2000 = hlen >= PAYLOAD_OFF &&
		     be_read(h + 12, 2) == RTE_ETHER_TYPE_IPV4 &&
		     h[ETH_LEN + 9] == IPPROTO_UDP &&
		     be_read(h + ETH_LEN + IP_LEN + 2, 2) == UDP_DST_PORT;
	if (!looks_ours)
		/* Our UDP port with a bad magic is damage, anything else
		 * (ARP, IPv6 ND, ...) is somebody else's traffic. */
		return is_udp2000 ? RX_CORRUPT : RX_FOREIGN;
	if (pkt_len < MIN_FRAME || pkt_len > MAX_FRAME || hlen < MIN_PARSABLE)
		return RX_CORRUPT;

	id->tag = h[PAYLOAD_OFF + 4];
	id->port = h[PAYLOAD_OFF + 5];
	id->flow = (uint16_t)be_read(h + PAYLOAD_OFF + 6, 2);
	id->seq = be_read(h + PAYLOAD_OFF + 8, 8);
	/* 60/61-byte frames cut the length field off; take the mbuf's. */
	id->len = hlen >= PAYLOAD_OFF + PHDR_LEN ?
		  (uint32_t)be_read(h + PAYLOAD_OFF + 16, 4) : pkt_len;
	if (id->len != pkt_len)
		return RX_CORRUPT;

	build_frame(rx_expected, id->tag, id->port, id->flow, id->seq,
		    id->len);
	if (memcmp(h, rx_expected, 12) != 0 &&
	    !(memcmp(h, rx_expected + 6, 6) == 0 &&
	      memcmp(h + 6, rx_expected, 6) == 0))
		return RX_CORRUPT;
	return chain_equals(m, rx_expected, 12, id->len) ? RX_OK : RX_CORRUPT;
}

/* ------------------------------------------------------------------ */
/* Receive                                                             */

/* The sequence state of the sender port and flow a frame belongs to. */
static struct flow_state *flow_state_of(struct port_ctx *pc,
					const struct pkt_id *id)
{
	struct flow_state **tab = &pc->flow_tab[id->port];

	if (*tab == NULL) {
		*tab = calloc(MAX_FLOWS, sizeof(**tab));
		if (*tab == NULL) {
			fprintf(stderr, "vfwd-peer: out of memory\n");
			exit(2);
		}
	}
	return &(*tab)[id->flow];
}

/* Counts one received frame and runs the in-order check. */
static void account_rx(struct port_ctx *pc, uint16_t queue, const struct rte_mbuf *m)
{
	struct pkt_id id;
	struct flow_state *fs;

	switch (check_frame(m, &id)) {
	case RX_FOREIGN:
		pc->rx_foreign++;
		return;
	case RX_CORRUPT:
		pc->rx_corrupt++;
		return;
	case RX_OK:
		break;
	}
	if (opt.expect_tag >= 0 && id.tag != opt.expect_tag) {
		pc->rx_corrupt++;
		return;
	}
	fs = flow_state_of(pc, &id);
	if (fs->seen && fs->tag != id.tag) {
		pc->rx_corrupt++;
		return;
	}
	fs->seen = true;
	fs->tag = id.tag;

	if (id.port != (uint8_t)(pc - ports))
		pc->rx_other_port++;
	if (id.flow % opt.queues != queue)
		pc->rx_off_queue++;
	pc->rx_ok++;
	pc->rx_bytes_ok += id.len;
	if (id.seq == fs->next_seq) {
		fs->next_seq++;
	} else if (id.seq > fs->next_seq) {
		pc->lost += id.seq - fs->next_seq;
		fs->next_seq = id.seq + 1;
	} else {
		pc->reordered_or_dup++;
	}
}

static void swap_macs(struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ether_addr tmp;

	if (m->data_len < 2 * RTE_ETHER_ADDR_LEN)
		return;
	tmp = eth->dst_addr;
	eth->dst_addr = eth->src_addr;
	eth->src_addr = tmp;
}

/* Polls one port once; returns the number of frames received. In echo
 * mode the frames are queued for sending back instead of being freed, and
 * the port is not polled while earlier echoes wait, so the peer sees
 * backpressure rather than loss. */
static uint16_t poll_rx(struct port_ctx *pc, uint64_t now)
{
	struct rte_mbuf *bufs[BURST];
	uint16_t n, i, q;

	if (opt.echo && pc->pending_count > 0)
		return 0;
	for (q = 0, n = 0; q < opt.queues && n == 0; q++) {
		pc->rx_next_q = (uint16_t)((pc->rx_next_q + 1) % opt.queues);
		n = rte_eth_rx_burst(pc->port_id, pc->rx_next_q, bufs, BURST);
	}
	if (n == 0)
		return 0;
	pc->rx_per_queue[pc->rx_next_q] += n;
	if (pc->first_rx_ns == 0)
		pc->first_rx_ns = now;
	pc->last_rx_ns = now;
	pc->rx_total += n;

	if (opt.echo) {
		for (i = 0; i < n; i++) {
			swap_macs(bufs[i]);
			pc->pending[i] = bufs[i];
			pc->pending_q[i] = pc->rx_next_q % opt.queues;
		}
		pc->pending_head = 0;
		pc->pending_count = n;
		return n;
	}
	for (i = 0; i < n; i++) {
		account_rx(pc, pc->rx_next_q, bufs[i]);
		rte_pktmbuf_free(bufs[i]);
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Transmit                                                            */

/* Copies a linear frame into a chain of seg_size-byte segments. */
static struct rte_mbuf *chain_from(const uint8_t *frame, uint32_t len)
{
	struct rte_mbuf *head = NULL;
	uint32_t off = 0;

	while (off < len) {
		uint16_t n = (uint16_t)RTE_MIN(len - off, opt.seg_size);
		struct rte_mbuf *seg = rte_pktmbuf_alloc(pool);

		if (seg == NULL || (head != NULL && rte_pktmbuf_chain(head, seg) != 0)) {
			rte_pktmbuf_free(seg);
			rte_pktmbuf_free(head);
			return NULL;
		}
		if (head == NULL)
			head = seg;
		memcpy(rte_pktmbuf_mtod(seg, uint8_t *), frame + off, n);
		seg->data_len = n;
		head->pkt_len += n;
		if (seg != head)
			seg->pkt_len = n;
		off += n;
	}
	return head;
}

/* Builds packet number 'idx' of a port: flows round-robin, seq per flow. */
static struct rte_mbuf *make_packet(uint16_t port_idx, uint64_t idx)
{
	uint16_t flow = (uint16_t)(idx % opt.flows);
	uint64_t seq = idx / opt.flows;
	uint32_t len = opt.sizes[idx % opt.nb_sizes];
	struct rte_mbuf *m;
	uint8_t *data;

	if (opt.seg_size != 0 && len > opt.seg_size) {
		build_frame(tx_scratch, (uint8_t)opt.tag, (uint8_t)port_idx,
			    flow, seq, len);
		return chain_from(tx_scratch, len);
	}
	m = rte_pktmbuf_alloc(pool);
	if (m == NULL)
		return NULL;
	data = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (data == NULL) { /* cannot happen: the pool is sized for MAX size */
		rte_pktmbuf_free(m);
		return NULL;
	}
	build_frame(data, (uint8_t)opt.tag, (uint8_t)port_idx, flow, seq, len);
	return m;
}

/* How many new packets pacing allows on this port right now. Credit
 * saved up while the PMD refused packets (peer not connected yet, ring
 * full) is capped at one burst, so a stall never turns into a flood. */
static uint64_t tx_budget(struct port_ctx *pc, uint64_t now)
{
	uint64_t left = opt.tx - pc->tx_generated;
	uint64_t interval, n;

	if (opt.pps == 0)
		return RTE_MIN(left, (uint64_t)BURST);
	interval = 1000000000ull / opt.pps;
	if (now < pc->next_due_ns)
		return 0;
	if (now - pc->next_due_ns > (BURST - 1) * interval)
		pc->next_due_ns = now - (BURST - 1) * interval;
	n = (now - pc->next_due_ns) / interval + 1;
	return RTE_MIN(n, left);
}

/* Refills the pending burst from the generator when it is empty. */
static void generate_burst(struct port_ctx *pc, uint16_t port_idx,
			   uint64_t now)
{
	uint64_t n;
	uint16_t i;

	if (pc->pending_count > 0)
		return;
	n = tx_budget(pc, now);
	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = make_packet(port_idx, pc->tx_generated);

		if (m == NULL) /* pool empty for now: retry next round */
			break;
		pc->pending[i] = m;
		pc->pending_q[i] = (uint16_t)((pc->tx_generated % opt.flows) % opt.queues);
		pc->tx_generated++;
	}
	pc->pending_head = 0;
	pc->pending_count = i;
	if (opt.pps != 0)
		pc->next_due_ns += i * (1000000000ull / opt.pps);
}

/* Offers the pending packets to the PMD once; what it refuses stays
 * pending and is offered again next round (backpressure is not loss).
 * Returns the number accepted. */
static uint16_t flush_pending(struct port_ctx *pc)
{
	struct rte_mbuf **burst = &pc->pending[pc->pending_head];
	uint32_t len[BURST];
	uint16_t i, sent;

	uint16_t q, run;

	if (pc->pending_count == 0)
		return 0;
	/* One call per run of packets for the same queue, so that a flow
	 * stays on its queue and in order. */
	q = pc->pending_q[pc->pending_head];
	for (run = 1; run < pc->pending_count &&
	     pc->pending_q[pc->pending_head + run] == q; run++)
		;
	/* Lengths first: accepted mbufs belong to the PMD, which may
	 * already have freed them when tx_burst returns. */
	for (i = 0; i < run; i++)
		len[i] = rte_pktmbuf_pkt_len(burst[i]);
	sent = rte_eth_tx_burst(pc->port_id, q, burst, run);
	pc->pending_head += sent;
	pc->pending_count -= sent;
	if (opt.echo) {
		pc->echoed += sent;
	} else {
		pc->tx += sent;
		for (i = 0; i < sent; i++)
			pc->tx_bytes += len[i];
	}
	return sent;
}

static void drop_pending(struct port_ctx *pc)
{
	while (pc->pending_count > 0) {
		rte_pktmbuf_free(pc->pending[pc->pending_head++]);
		pc->pending_count--;
	}
}

/* ------------------------------------------------------------------ */
/* Setup                                                               */

static uint16_t pow2_floor(uint32_t v)
{
	uint16_t p = 1;

	while ((uint32_t)p * 2 <= v && p < 32768)
		p *= 2;
	return p;
}

static uint32_t max_frame_size(void)
{
	uint32_t m = 0;
	unsigned int i;

	for (i = 0; i < opt.nb_sizes; i++)
		m = RTE_MAX(m, opt.sizes[i]);
	return m;
}

/* One pool for all ports, at most MAX_MBUFS: with many ports the rings
 * get shorter instead of the pool growing. */
static uint16_t create_pool(void)
{
	uint32_t per_port = (MAX_MBUFS - 1024) / 2 / nb_ports;
	uint16_t nb_desc = RTE_MIN(DEFAULT_DESC, pow2_floor(per_port));
	uint32_t nb_mbufs, data_room;

	nb_desc = RTE_MAX(nb_desc, (uint16_t)64);
	nb_mbufs = RTE_MIN((uint32_t)MAX_MBUFS,
			   nb_ports * opt.queues * (RING_MBUFS_PER_PORT + 4 * BURST) + 1024);
	data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
	if (opt.seg_size == 0 &&
	    max_frame_size() > RTE_MBUF_DEFAULT_BUF_SIZE - RTE_PKTMBUF_HEADROOM)
		data_room = LARGE_DATA_ROOM + RTE_PKTMBUF_HEADROOM;
	pool = rte_pktmbuf_pool_create("vfwd_peer_pool", nb_mbufs, 256, 0,
				       (uint16_t)data_room, (int)rte_socket_id());
	if (pool == NULL)
		rte_exit(2, "cannot create mbuf pool (%u mbufs of %u B): %s\n",
			 nb_mbufs, data_room, rte_strerror(rte_errno));
	return nb_desc;
}

static void setup_port(struct port_ctx *pc, uint16_t nb_desc)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t nb_rxd = nb_desc, nb_txd = nb_desc;
	uint16_t port = pc->port_id;
	int ret;

	memset(&conf, 0, sizeof(conf));
	ret = rte_eth_dev_info_get(port, &info);
	if (ret != 0)
		rte_exit(2, "port %u: dev_info: %s\n", port, rte_strerror(-ret));
	/* Chains come in (memif/virtio split big frames) and go back out
	 * in echo mode or with --seg-size; ask for both where offered. */
	conf.rxmode.offloads = info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER;
	conf.txmode.offloads = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	/* virtio_user in server mode reconnects to a restarted vhost-user
	 * backend from its link-state interrupt: without it, a daemon restart
	 * would leave this "VM" disconnected for good. Only on request: the
	 * interrupt's handling re-enables virtqueues at moments of its own. */
	if (opt.lsc && (*info.dev_flags & RTE_ETH_DEV_INTR_LSC))
		conf.intr_conf.lsc = 1;

	if (opt.queues > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
		if (info.max_rx_queues < opt.queues || info.max_tx_queues < opt.queues)
			rte_exit(2, "port %u: %u queues asked, the device has %u/%u\n", port,
				 opt.queues, info.max_rx_queues, info.max_tx_queues);
	}
	ret = rte_eth_dev_configure(port, opt.queues, opt.queues, &conf);
	if (ret != 0)
		rte_exit(2, "port %u: configure: %s\n", port, rte_strerror(-ret));
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	if (ret != 0)
		rte_exit(2, "port %u: adjust desc: %s\n", port, rte_strerror(-ret));
	for (uint16_t q = 0; q < opt.queues; q++) {
		ret = rte_eth_rx_queue_setup(port, q, nb_rxd, rte_eth_dev_socket_id(port),
					     NULL, pool);
		if (ret != 0)
			rte_exit(2, "port %u: rx queue %u: %s\n", port, q, rte_strerror(-ret));
		ret = rte_eth_tx_queue_setup(port, q, nb_txd, rte_eth_dev_socket_id(port),
					     NULL);
		if (ret != 0)
			rte_exit(2, "port %u: tx queue %u: %s\n", port, q, rte_strerror(-ret));
	}
	ret = rte_eth_dev_start(port);
	if (ret != 0)
		rte_exit(2, "port %u: start: %s\n", port, rte_strerror(-ret));
	/* Our frames carry made-up MACs; not every PMD has the knob. */
	(void)rte_eth_promiscuous_enable(port);
}

/* ------------------------------------------------------------------ */
/* Gates and end conditions                                            */

static bool all_links_up(void)
{
	uint16_t i;

	for (i = 0; i < nb_ports; i++) {
		struct rte_eth_link link;

		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(ports[i].port_id, &link) != 0 ||
		    link.link_status != RTE_ETH_LINK_UP)
			return false;
	}
	return true;
}

/* Checked every 10 ms, not every loop: stat() and link queries are
 * syscalls or control-path calls. */
static bool send_gate_open(void)
{
	if (opt.start_file != NULL && access(opt.start_file, F_OK) != 0)
		return false;
	return !opt.wait_link || all_links_up();
}

static bool sending_done(void)
{
	uint16_t i;

	for (i = 0; i < nb_ports; i++)
		if (ports[i].tx < opt.tx)
			return false;
	return true;
}

static bool expect_reached(void)
{
	uint16_t i;

	for (i = 0; i < nb_ports; i++)
		if (ports[i].rx_ok + ports[i].rx_corrupt < opt.expect)
			return false;
	return true;
}

static bool checks_pass(void)
{
	uint16_t i;

	for (i = 0; i < nb_ports; i++) {
		const struct port_ctx *pc = &ports[i];

		if (pc->tx < opt.tx || pc->rx_ok < opt.expect ||
		    pc->rx_corrupt || pc->lost || pc->reordered_or_dup)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Report                                                              */

static void json_time(FILE *f, const char *key, uint64_t ns, uint64_t t0)
{
	if (ns == 0)
		fprintf(f, "\"%s\":null", key);
	else
		fprintf(f, "\"%s\":%.6f", key, (double)(ns - t0) / 1e9);
}

/* The port names are PMD device names (net_memif0, ...): no escaping
 * needed beyond what they can contain, but quote/backslash anyway. */
static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static char *build_report(uint64_t t0, uint64_t t_end, bool timed_out)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	uint16_t i;

	if (f == NULL)
		return NULL;
	fputs("{\"ports\":[", f);
	for (i = 0; i < nb_ports; i++) {
		const struct port_ctx *pc = &ports[i];

		fprintf(f, "%s{\"port\":%u,\"name\":", i ? "," : "", i);
		json_string(f, pc->name);
		fprintf(f, ",\"tx\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
			",\"rx_total\":%" PRIu64 ",\"rx_ok\":%" PRIu64
			",\"rx_bytes_ok\":%" PRIu64 ",\"rx_corrupt\":%" PRIu64
			",\"rx_foreign\":%" PRIu64 ",\"lost\":%" PRIu64
			",\"reordered_or_dup\":%" PRIu64 ",\"echoed\":%" PRIu64
			",\"rx_other_port\":%" PRIu64 ",\"rx_off_queue\":%" PRIu64 ",",
			pc->tx, pc->tx_bytes, pc->rx_total, pc->rx_ok,
			pc->rx_bytes_ok, pc->rx_corrupt, pc->rx_foreign,
			pc->lost, pc->reordered_or_dup, pc->echoed, pc->rx_other_port,
			pc->rx_off_queue);
		fputs("\"rx_per_queue\":[", f);
		for (uint16_t q = 0; q < opt.queues; q++)
			fprintf(f, "%s%" PRIu64, q ? "," : "", pc->rx_per_queue[q]);
		fputs("],", f);
		json_time(f, "rx_first_s", pc->first_rx_ns, t0);
		fputc(',', f);
		json_time(f, "rx_last_s", pc->last_rx_ns, t0);
		fputc('}', f);
	}
	fprintf(f, "],\"elapsed_s\":%.6f,\"timed_out\":%s,\"signalled\":%s,"
		"\"pass\":%s}",
		(double)(t_end - t0) / 1e9, timed_out ? "true" : "false",
		stop_signal ? "true" : "false",
		opt.echo || checks_pass() ? "true" : "false");
	fclose(f);
	return buf;
}

/* Written to a temporary name and renamed, so a test polling for the
 * file never reads half a report. */
static void write_report_file(const char *json)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", opt.report, (int)getpid()) >=
	    (int)sizeof(tmp))
		goto fail;
	f = fopen(tmp, "w");
	if (f == NULL)
		goto fail;
	fprintf(f, "%s\n", json);
	if (fclose(f) != 0 || rename(tmp, opt.report) != 0)
		goto fail;
	return;
fail:
	fprintf(stderr, "vfwd-peer: cannot write report %s: %s\n", opt.report,
		strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Main loop                                                           */

/* Idle timeout: nothing received for --idle-timeout ms since sending
 * finished. A pure receiver (no --tx) starts that clock only at its first
 * packet, so it may be started well before its sender; --timeout bounds
 * the wait for that first packet. */
static bool traffic_stopped(uint64_t now, uint64_t sent_done_ns,
			    uint64_t last_rx_ns)
{
	uint64_t since;

	if (opt.tx == 0 && last_rx_ns == 0)
		return false;
	since = RTE_MAX(last_rx_ns, sent_done_ns);
	return now - since >= opt.idle_timeout_ms * 1000000ull;
}

/* Runs until done, a signal or the timeout; returns true on timeout. */
static bool run(uint64_t t0)
{
	const uint64_t deadline = t0 + opt.timeout_s * 1000000000ull;
	uint64_t tx_start_ns = 0;   /* 0 = gate still closed */
	uint64_t next_gate_check = 0;
	uint64_t sent_done_ns = 0;  /* when sending finished */
	uint64_t last_rx_ns = 0;    /* 0 = nothing received yet */
	uint64_t linger_until = 0;  /* 0 = not finishing yet */

	while (!stop_signal) {
		uint64_t now = now_ns();
		bool busy = false;
		uint16_t i;

		if (now >= deadline)
			return true;

		if (!opt.echo && tx_start_ns == 0 && opt.tx > 0 &&
		    now >= next_gate_check) {
			if (send_gate_open()) {
				tx_start_ns = now;
				for (i = 0; i < nb_ports; i++)
					ports[i].next_due_ns = now;
			}
			next_gate_check = now + 10000000ull;
		}

		for (i = 0; i < nb_ports; i++) {
			struct port_ctx *pc = &ports[i];
			uint16_t sent;

			if (poll_rx(pc, now) > 0) {
				busy = true;
				last_rx_ns = now;
			}
			if (tx_start_ns != 0 && linger_until == 0)
				generate_burst(pc, i, now);
			sent = flush_pending(pc);
			if (sent > 0)
				busy = true;
		}

		if (opt.echo)
			goto idle;

		if (sent_done_ns == 0 && (opt.tx == 0 || sending_done()))
			sent_done_ns = now;
		if (linger_until == 0 && sent_done_ns != 0 &&
		    !opt.run_until_signal &&
		    (expect_reached() ||
		     traffic_stopped(now, sent_done_ns, last_rx_ns)))
			/* Finished; keep the ports open a little so what
			 * we sent last drains out of shared rings before
			 * close tears them down. */
			linger_until = now + opt.linger_ms * 1000000ull;
		if (linger_until != 0 && now >= linger_until)
			return false;
idle:
		/* The cores are shared with the daemon and the other peer. */
		if (!busy)
			usleep(opt.idle_sleep_us);
	}
	return false;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	uint64_t t0, t_end;
	uint16_t port_id, nb_desc, i;
	bool timed_out;
	char *json;
	int ret, status;

	ret = rte_eal_init(argc, argv);
	if (ret < 0)
		rte_exit(2, "EAL init failed: %s\n", rte_strerror(rte_errno));
	argc -= ret;
	argv += ret;
	parse_options(argc, argv);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A vhost-user peer that goes away mid-message must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	nb_ports = rte_eth_dev_count_avail();
	if (nb_ports == 0)
		rte_exit(2, "no ethdev ports: pass --vdev=...\n");
	if (nb_ports > 256)
		rte_exit(2, "at most 256 ports (port byte in the packet)\n");
	ports = calloc(nb_ports, sizeof(*ports));
	if (ports == NULL)
		rte_exit(2, "out of memory\n");
	i = 0;
	RTE_ETH_FOREACH_DEV(port_id) {
		ports[i].port_id = port_id;
		if (rte_eth_dev_get_name_by_port(port_id, ports[i].name) != 0)
			snprintf(ports[i].name, sizeof(ports[i].name), "port%u",
				 port_id);
		i++;
	}

	nb_desc = create_pool();
	for (i = 0; i < nb_ports; i++)
		setup_port(&ports[i], nb_desc);
	/* Whoever opens --start-file waits for this line: net_virtio_user's
	 * start flushes frames a backend already wrote to its RX ring, and
	 * a vhost backend sees the ring as soon as the port is configured. */
	printf("vfwd-peer: ports started\n");
	fflush(stdout);

	t0 = now_ns();
	timed_out = run(t0);
	t_end = now_ns();

	for (i = 0; i < nb_ports; i++)
		drop_pending(&ports[i]);
	json = build_report(t0, t_end, timed_out);
	if (json != NULL) {
		printf("%s\n", json);
		fflush(stdout);
		if (opt.report != NULL)
			write_report_file(json);
	}
	status = stop_signal || opt.echo || checks_pass() ? 0 : 1;
	free(json);

	for (i = 0; i < nb_ports; i++) {
		rte_eth_dev_stop(ports[i].port_id);
		rte_eth_dev_close(ports[i].port_id);
	}
	for (i = 0; i < nb_ports; i++)
		for (unsigned int p = 0; p < 256; p++)
			free(ports[i].flow_tab[p]);
	free(ports);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return status;
}
