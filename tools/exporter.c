/* virtioforwarder_exporter: the relay counters, rates and worker loads of
 * a running virtio-forwarder for Prometheus, served as GET /metrics in the
 * text exposition format (version 0.0.4) by libmicrohttpd.
 *
 * Every scrape asks the daemon afresh (stats endpoint; core scheduling
 * endpoint for the worker list) and the exporter keeps nothing between
 * scrapes: two Prometheus servers scraping one exporter see the same
 * values. A daemon that does not answer within the timeout gives
 * virtioforwarder_up 0 and no other series. */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "config.h"
#include "vfwd_client.h"
#include "virtioforwarder.pb-c.h"

#define DEFAULT_LISTEN "127.0.0.1:9590"
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_WINDOW_MS 1000

struct exporter {
	const char *stats_ep, *sched_ep;
	int timeout_ms;
	unsigned window_ms;     /* 0: no rate or worker load gauges */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: virtioforwarder_exporter [options]\n"
		"  --listen=ADDR:PORT  where to serve /metrics (default %s;\n"
		"                      [ADDR]:PORT for IPv6, port 0: any free port)\n"
		"  --stats-ep=EP       stats endpoint (default %s;\n"
		"                      also --zmq-stats-ep, as the daemon names it)\n"
		"  --sched-ep=EP       core scheduling endpoint, for the worker list\n"
		"                      (default %s; also --zmq-core-sched-ep)\n"
		"  --window=MS         window of the rate and worker load gauges,\n"
		"                      0-10000 ms, 0 leaves them out (%d)\n"
		"  --timeout=MS        how long to wait for each reply, on top of the\n"
		"                      window (%d)\n"
		"Exit status: 0 stopped by SIGTERM or SIGINT, 1 cannot listen, 2 usage.\n",
		DEFAULT_LISTEN, VFWD_DEFAULT_ZMQ_STATS_EP, VFWD_DEFAULT_ZMQ_CORE_SCHED_EP,
		DEFAULT_WINDOW_MS, DEFAULT_TIMEOUT_MS);
}

/* ---- one relay direction, whichever way it goes ---- */

struct opt_u64 {
	bool has;
	uint64_t v;
};

enum { CAUSE_QUEUE_FULL, CAUSE_NOT_CONNECTED, CAUSE_OVERSIZE, NB_CAUSES };

static const char *const dir_label[VFWD_NB_DIRS] = { "vf_to_vm", "vm_to_vf" };
static const char *const cause_label[NB_CAUSES] = { "queue_full", "not_connected", "oversize" };

/* VFtoVM and VMtoVF carry the same facts under names that say the way. */
struct dir_view {
	bool active;
	struct opt_u64 rx_pkts, rx_bytes, tx_pkts, tx_bytes, busy_cycles;
	struct opt_u64 drop_pkts[NB_CAUSES], drop_bytes[NB_CAUSES];
	double rx_pkt_rate, rx_byte_rate, tx_pkt_rate, tx_byte_rate;
	bool has_cpu;
	int cpu;
};

#define OPT(m, f) ((struct opt_u64){ (m)->has_##f, (m)->f })

static void view_vf_to_vm(struct dir_view *v, const Virtioforwarder__RelayState *rs)
{
	const Virtioforwarder__RelayState__VFtoVM *m = rs->vf_to_vm;

	*v = (struct dir_view){
		.active = m->active,
		.rx_pkts = OPT(m, pkts_rx_from_vf), .rx_bytes = OPT(m, bytes_rx_from_vf),
		.tx_pkts = OPT(m, pkts_tx_to_vm), .tx_bytes = OPT(m, bytes_tx_to_vm),
		.busy_cycles = OPT(m, busy_cycles),
		.drop_pkts = { OPT(m, pkts_dropped_vm_queue_full),
			       OPT(m, pkts_dropped_vm_not_connected),
			       OPT(m, pkts_dropped_oversize) },
		.drop_bytes = { OPT(m, bytes_dropped_vm_queue_full),
				OPT(m, bytes_dropped_vm_not_connected),
				OPT(m, bytes_dropped_oversize) },
		.rx_pkt_rate = m->pkt_rate_rx_from_vf, .rx_byte_rate = m->byte_rate_rx_from_vf,
		.tx_pkt_rate = m->pkt_rate_tx_to_vm, .tx_byte_rate = m->byte_rate_tx_to_vm,
		.has_cpu = rs->cpu && rs->cpu->has_vf_to_vm,
		.cpu = rs->cpu ? rs->cpu->vf_to_vm : -1,
	};
}

static void view_vm_to_vf(struct dir_view *v, const Virtioforwarder__RelayState *rs)
{
	const Virtioforwarder__RelayState__VMtoVF *m = rs->vm_to_vf;

	*v = (struct dir_view){
		.active = m->active,
		.rx_pkts = OPT(m, pkts_rx_from_vm), .rx_bytes = OPT(m, bytes_rx_from_vm),
		.tx_pkts = OPT(m, pkts_tx_to_vf), .tx_bytes = OPT(m, bytes_tx_to_vf),
		.busy_cycles = OPT(m, busy_cycles),
		.drop_pkts = { OPT(m, pkts_dropped_vf_queue_full),
			       OPT(m, pkts_dropped_vf_not_connected),
			       OPT(m, pkts_dropped_oversize) },
		.drop_bytes = { OPT(m, bytes_dropped_vf_queue_full),
				OPT(m, bytes_dropped_vf_not_connected),
				OPT(m, bytes_dropped_oversize) },
		.rx_pkt_rate = m->pkt_rate_rx_from_vm, .rx_byte_rate = m->byte_rate_rx_from_vm,
		.tx_pkt_rate = m->pkt_rate_tx_to_vf, .tx_byte_rate = m->byte_rate_tx_to_vf,
		.has_cpu = rs->cpu && rs->cpu->has_vm_to_vf,
		.cpu = rs->cpu ? rs->cpu->vm_to_vf : -1,
	};
}

/* ---- the exposition format ---- */

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP virtioforwarder_%s %s\n# TYPE virtioforwarder_%s %s\n",
		name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void value(FILE *out, double v)
{
	if (isnan(v))
		fputs(" NaN\n", out);
	else if (isinf(v))
		fputs(v > 0 ? " +Inf\n" : " -Inf\n", out);
	else
		fprintf(out, " %.17g\n", v);
}

/* Per-direction counters: a table, so that each family is written whole
 * (HELP, TYPE, then every relay), as the format requires. */
static const struct dir_counter {
	const char *name, *help;
	size_t off;     /* of a struct opt_u64 in struct dir_view */
} dir_counters[] = {
	{ "relay_received_packets_total",
	  "Packets the relay direction received from its source (VF or VM).",
	  offsetof(struct dir_view, rx_pkts) },
	{ "relay_received_bytes_total",
	  "Bytes the relay direction received from its source (VF or VM).",
	  offsetof(struct dir_view, rx_bytes) },
	{ "relay_sent_packets_total",
	  "Packets the relay direction handed to its destination (VM or VF).",
	  offsetof(struct dir_view, tx_pkts) },
	{ "relay_sent_bytes_total",
	  "Bytes the relay direction handed to its destination (VM or VF).",
	  offsetof(struct dir_view, tx_bytes) },
	{ "relay_busy_cycles_total",
	  "TSC cycles the worker spent on polls of the relay direction that moved "
	  "packets; rate() over virtioforwarder_tsc_hz is the share of a CPU.",
	  offsetof(struct dir_view, busy_cycles) },
};

static const struct dir_rate {
	const char *name, *help;
	size_t off;     /* of a double in struct dir_view */
} dir_rates[] = {
	{ "relay_received_packets_per_second",
	  "Packets per second received, as the daemon measured them over the window.",
	  offsetof(struct dir_view, rx_pkt_rate) },
	{ "relay_received_bytes_per_second",
	  "Bytes per second received, as the daemon measured them over the window.",
	  offsetof(struct dir_view, rx_byte_rate) },
	{ "relay_sent_packets_per_second",
	  "Packets per second sent, as the daemon measured them over the window.",
	  offsetof(struct dir_view, tx_pkt_rate) },
	{ "relay_sent_bytes_per_second",
	  "Bytes per second sent, as the daemon measured them over the window.",
	  offsetof(struct dir_view, tx_byte_rate) },
};

struct relays {
	size_t n;
	const Virtioforwarder__RelayState *rs[VFWD_MAX_RELAYS];
	struct dir_view dir[VFWD_MAX_RELAYS][VFWD_NB_DIRS];
};

static void labels(FILE *out, const char *name, unsigned relay, int d)
{
	fprintf(out, "virtioforwarder_%s{relay=\"%u\"", name, relay);
	if (d >= 0)
		fprintf(out, ",direction=\"%s\"", dir_label[d]);
}

static void write_relays(FILE *out, const struct relays *r, bool rates)
{
	family(out, "relay_info", "gauge",
	       "1 per relay in use, with its vhost-user socket and its VF.");
	for (size_t i = 0; i < r->n; i++) {
		labels(out, "relay_info", r->rs[i]->id, -1);
		fputs(",vhost_socket=", out);
		label_value(out, r->rs[i]->vhost->vhost_socket_name);
		fputs(",vf=", out);
		label_value(out, r->rs[i]->vf && r->rs[i]->vf->pci_addr_str ?
			    r->rs[i]->vf->pci_addr_str : "");
		fputs("} 1\n", out);
	}
	family(out, "relay_active", "gauge", "1 while the relay forwards both ways.");
	for (size_t i = 0; i < r->n; i++) {
		labels(out, "relay_active", r->rs[i]->id, -1);
		fprintf(out, "} %d\n", r->rs[i]->active ? 1 : 0);
	}
	family(out, "relay_numa_node", "gauge", "NUMA node of the relay's packet buffers.");
	for (size_t i = 0; i < r->n; i++) {
		labels(out, "relay_numa_node", r->rs[i]->id, -1);
		fprintf(out, "} %" PRIu32 "\n", r->rs[i]->socket_id);
	}
	family(out, "relay_direction_active", "gauge", "1 while the relay direction forwards.");
	for (size_t i = 0; i < r->n; i++)
		for (int d = 0; d < VFWD_NB_DIRS; d++) {
			labels(out, "relay_direction_active", r->rs[i]->id, d);
			fprintf(out, "} %d\n", r->dir[i][d].active ? 1 : 0);
		}
	family(out, "relay_direction_cpu", "gauge",
	       "The worker CPU the relay direction is assigned to (none: no series).");
	for (size_t i = 0; i < r->n; i++)
		for (int d = 0; d < VFWD_NB_DIRS; d++)
			if (r->dir[i][d].has_cpu && r->dir[i][d].cpu >= 0) {
				labels(out, "relay_direction_cpu", r->rs[i]->id, d);
				fprintf(out, "} %d\n", r->dir[i][d].cpu);
			}
	for (size_t k = 0; k < sizeof(dir_counters) / sizeof(dir_counters[0]); k++) {
		family(out, dir_counters[k].name, "counter", dir_counters[k].help);
		for (size_t i = 0; i < r->n; i++)
			for (int d = 0; d < VFWD_NB_DIRS; d++) {
				const struct opt_u64 *c = (const void *)
					((const char *)&r->dir[i][d] + dir_counters[k].off);

				if (!c->has)
					continue;
				labels(out, dir_counters[k].name, r->rs[i]->id, d);
				fprintf(out, "} %" PRIu64 "\n", c->v);
			}
	}
	for (int bytes = 0; bytes < 2; bytes++) {
		const char *name = bytes ? "relay_dropped_bytes_total" :
					   "relay_dropped_packets_total";

		family(out, name, "counter", bytes ?
		       "Bytes the relay direction dropped, by cause: the destination's "
		       "queue was full, the destination was not connected, or the frame "
		       "was bigger than the destination takes (oversize)." :
		       "Packets the relay direction dropped, by cause: the destination's "
		       "queue was full, the destination was not connected, or the frame "
		       "was bigger than the destination takes (oversize).");
		for (size_t i = 0; i < r->n; i++)
			for (int d = 0; d < VFWD_NB_DIRS; d++)
				for (int c = 0; c < NB_CAUSES; c++) {
					const struct opt_u64 *v = bytes ? &r->dir[i][d].drop_bytes[c] :
									  &r->dir[i][d].drop_pkts[c];

					if (!v->has)
						continue;
					labels(out, name, r->rs[i]->id, d);
					fprintf(out, ",cause=\"%s\"} %" PRIu64 "\n",
						cause_label[c], v->v);
				}
	}
	/* Rates over no window are zeros that would read as "idle". */
	for (size_t k = 0; rates && k < sizeof(dir_rates) / sizeof(dir_rates[0]); k++) {
		family(out, dir_rates[k].name, "gauge", dir_rates[k].help);
		for (size_t i = 0; i < r->n; i++)
			for (int d = 0; d < VFWD_NB_DIRS; d++) {
				labels(out, dir_rates[k].name, r->rs[i]->id, d);
				fputc('}', out);
				value(out, *(const double *)((const char *)&r->dir[i][d] +
							     dir_rates[k].off));
			}
	}
}

/* The load of each worker CPU between two snapshots: the busy cycles of
 * the directions it serves at the second one, over the cycles that
 * elapsed (a direction moved meanwhile counts where it is now). Workers
 * from the core scheduling service; without it (it runs only with
 * VIO4WD_CORE_SCHED_ENABLE) those seen serving a direction. */
static void write_workers(FILE *out, const struct exporter *x, const struct vc_loads *a,
			  const struct vc_loads *b)
{
	double load[VFWD_MAX_CPUS] = { 0 };
	bool worker[VFWD_MAX_CPUS] = { false };
	int list[VFWD_MAX_CPUS];
	double cycles = (b->t - a->t) * (double)b->tsc_hz;
	char err[1024];
	int n;

	n = vc_worker_cpus(x->sched_ep, x->timeout_ms, list, VFWD_MAX_CPUS, err, sizeof(err));
	for (int i = 0; i < n; i++)
		worker[list[i]] = true;
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		for (int d = 0; d < VFWD_NB_DIRS; d++) {
			int cpu = b->cpu[id][d];

			if (cpu < 0)
				continue;
			worker[cpu] = true;
			if (a->present[id] && b->busy[id][d] > a->busy[id][d] && cycles > 0)
				load[cpu] += (double)(b->busy[id][d] - a->busy[id][d]) / cycles;
		}
	family(out, "worker_load", "gauge",
	       "Share of the worker CPU's time spent on polls that moved packets, "
	       "over the window of this scrape (0 to 1; the CPU itself is always "
	       "100% busy polling).");
	for (int cpu = 0; cpu < VFWD_MAX_CPUS; cpu++)
		if (worker[cpu]) {
			fprintf(out, "virtioforwarder_worker_load{cpu=\"%d\"}", cpu);
			value(out, load[cpu]);
		}
}

/* ---- one scrape ---- */

static void write_up(FILE *out, bool up)
{
	family(out, "up", "gauge", "1 if the daemon's stats endpoint answered this scrape.");
	fprintf(out, "virtioforwarder_up %d\n", up ? 1 : 0);
}

/* The body of /metrics (malloc'd) and its length. Busy-cycle snapshots
 * before and after the stats request, whose own window is the daemon's
 * rate window, give the worker loads over about the same time. */
static char *scrape(const struct exporter *x, size_t *len)
{
	Virtioforwarder__StatsRequest req = VIRTIOFORWARDER__STATS_REQUEST__INIT;
	Virtioforwarder__StatsResponse *reply;
	struct vc_loads a, b;
	struct relays *r;
	bool loads;
	char err[1024], *buf = NULL;
	FILE *out = open_memstream(&buf, len);

	if (!out)
		return NULL;
	/* Relays not forwarding too: what is dropped while a VM is away is
	 * worth seeing, and series should not come and go with the VM. */
	req.has_include_inactive = req.include_inactive = true;
	req.has_delay = true;
	req.delay = x->window_ms;
	loads = x->window_ms > 0 &&
		vc_get_loads(x->stats_ep, x->timeout_ms, &a, err, sizeof(err)) == 0;
	reply = (Virtioforwarder__StatsResponse *)vc_call_ok(
		x->stats_ep, x->timeout_ms + (int)x->window_ms, &req.base,
		&virtioforwarder__stats_response__descriptor, err, sizeof(err));
	if (!reply) {
		write_up(out, false);
		fclose(out);
		return buf;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		vc_free(&reply->base);
		fclose(out);
		free(buf);
		return NULL;
	}
	write_up(out, true);
	for (size_t i = 0; i < reply->n_relay && r->n < VFWD_MAX_RELAYS; i++) {
		const Virtioforwarder__RelayState *rs = reply->relay[i];

		r->rs[r->n] = rs;
		view_vf_to_vm(&r->dir[r->n][VFWD_VF_TO_VM], rs);
		view_vm_to_vf(&r->dir[r->n][VFWD_VM_TO_VF], rs);
		r->n++;
	}
	if (reply->has_tsc_hz) {
		family(out, "tsc_hz", "gauge", "Frequency of the TSC that counts busy cycles.");
		fprintf(out, "virtioforwarder_tsc_hz %" PRIu64 "\n", reply->tsc_hz);
	}
	write_relays(out, r, x->window_ms > 0);
	if (loads && vc_get_loads(x->stats_ep, x->timeout_ms, &b, err, sizeof(err)) == 0)
		write_workers(out, x, &a, &b);
	free(r);
	vc_free(&reply->base);
	fclose(out);
	return buf;
}

/* ---- HTTP ---- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
			      char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char *body = strdup(msg);

	return body ? answer(c, status, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	const struct exporter *x = cls;
	size_t len;
	char *body;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(url, "/metrics") != 0)
		return text(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD\n");
	body = scrape(x, &len);
	if (!body)
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

/* ADDR:PORT or [ADDR]:PORT, numeric: the exporter listens where it is
 * told, not where a name happens to resolve. Returns the port. */
static uint16_t parse_listen(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	size_t hlen = colon ? (size_t)(colon - s) : 0;
	unsigned long port;

	if (!colon || hlen == 0 || hlen >= sizeof(host) ||
	    vc_parse_uint(colon + 1, 65535, &port) != 0)
		vc_die(VC_EXIT_USAGE, "--listen=%s: ADDR:PORT or [ADDR]:PORT, port 0-65535", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return (uint16_t)port;
	}
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1) {
			v6->sin6_family = AF_INET6;
			v6->sin6_port = htons((uint16_t)port);
			return (uint16_t)port;
		}
	}
	vc_die(VC_EXIT_USAGE, "--listen=%s: '%.*s' is not an IPv4 address or a bracketed "
	       "IPv6 address", s, (int)hlen, s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "stats-ep", required_argument, NULL, 'e' },
		{ "zmq-stats-ep", required_argument, NULL, 'e' },
		{ "sched-ep", required_argument, NULL, 's' },
		{ "zmq-core-sched-ep", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct exporter x = { VFWD_DEFAULT_ZMQ_STATS_EP, VFWD_DEFAULT_ZMQ_CORE_SCHED_EP,
			      DEFAULT_TIMEOUT_MS, DEFAULT_WINDOW_MS };
	const char *listen = DEFAULT_LISTEN;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *httpd;
	char host[INET6_ADDRSTRLEN];
	unsigned long v;
	uint16_t port;
	sigset_t sigs;
	int o, sig;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			listen = optarg;
			break;
		case 'e':
			x.stats_ep = optarg;
			break;
		case 's':
			x.sched_ep = optarg;
			break;
		case 'w':
			if (vc_parse_uint(optarg, 10000, &v) != 0)
				vc_die(VC_EXIT_USAGE, "--window=%s: milliseconds, 0-10000", optarg);
			x.window_ms = (unsigned)v;
			break;
		case 't':
			if (vc_parse_uint(optarg, 600000, &v) != 0 || v == 0)
				vc_die(VC_EXIT_USAGE, "--timeout=%s: milliseconds, 1-600000", optarg);
			x.timeout_ms = (int)v;
			break;
		case 'h':
			usage(stdout);
			return VC_EXIT_OK;
		default:
			usage(stderr);
			return VC_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return VC_EXIT_USAGE;
	}
	port = parse_listen(listen, &ss);

	/* Blocked before the HTTP thread starts, so that it inherits the mask
	 * and the signals reach sigwait() here. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	httpd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
				 (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				 port, NULL, NULL, on_request, &x,
				 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				 MHD_OPTION_CONNECTION_TIMEOUT, 30u,
				 MHD_OPTION_END);
	if (!httpd)
		vc_die(VC_EXIT_REFUSED, "cannot listen on %s", listen);
	info = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	printf("virtioforwarder_exporter: serving http://%s%s%s:%u/metrics from %s\n",
	       ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "",
	       info ? (unsigned)info->port : 0u, x.stats_ep);
	fflush(stdout);
	while (sigwait(&sigs, &sig) != 0)
		;
	/* Waits for a scrape in progress: at most its timeouts. */
	MHD_stop_daemon(httpd);
	return VC_EXIT_OK;
}
