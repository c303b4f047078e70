/* vio4wd_core_scheduler: balances the relay directions of a running
 * virtio-forwarder over its worker CPUs by what each direction was
 * measured to cost, and moves them through the daemon's core scheduling
 * service (which hands a direction over without losing or reordering a
 * packet).
 *
 * It talks to the daemon only over the stats and core scheduling ZeroMQ
 * endpoints, with a fresh request socket per call (tools/vfwd_client): a
 * daemon that is absent, restarting or answering garbage costs a poll,
 * logged once, and the next poll tries again.
 *
 * Each poll: the worker CPUs (GET_EAL_CORES) and a stats snapshot; the load
 * of each direction on a worker from its busy cycles since the previous
 * snapshot; as_assign() (assign.h) decides; the moves go in one UPDATE. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "assign.h"
#include "config.h"
#include "log.h"
#include "vfwd_client.h"
#include "virtioforwarder.pb-c.h"

#define PROG "vio4wd_core_scheduler"
#define EXIT_USAGE 2
#define DEFAULT_HOLD 5
/* A hundredth of a core: below that, a worker's measured load moves with
 * timer interrupts and descheduling more than with its traffic, and no
 * move is worth it. */
#define MIN_GAIN 0.01
#define NEVER UINT_MAX
/* Messages name endpoints, which may be as long as a path. */
#define ERR_MAX (PATH_MAX + 512)

static const char *const dir_name[VFWD_NB_DIRS] = { "VF->VM", "VM->VF" };

struct sched {
	struct vfwd_config cfg;
	struct as_params params;
	struct as_cpu cpus[AS_MAX_CPUS];
	unsigned nb_cpus;
	bool connected;                 /* and prev is this daemon's last snapshot */
	char problem[ERR_MAX];          /* the last failure, logged once */
	struct vc_loads prev, cur;
	unsigned since_move[VFWD_MAX_RELAYS][VFWD_NB_DIRS];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: " PROG " [options]\n"
"Balances virtio-forwarder's relay directions over its worker CPUs by their\n"
"measured cost. Settings come from the config file, then these options.\n"
"  --config=FILE            config file (default " VFWD_DEFAULT_CONFIG_FILE ")\n"
"  -d, --daemon             detach and log to syslog (default: stay in the\n"
"                           foreground and log to stderr, as systemd runs it)\n"
"  -l, --loglevel=N         log threshold 0-7 (VIO4WD_CORE_SCHED_LOG_LEVEL, 6)\n"
"  --poll-interval=SECONDS  measurement period (VIO4WD_CORE_SCHED_POLL_INTERVAL, 5.0)\n"
"  --sensitivity=X          move only if the busiest CPU's load drops by more\n"
"                           than this fraction (VIO4WD_CORE_SCHED_SENSITIVITY, 0.25)\n"
"  --global-numa[=BOOL]     use workers on any NUMA node for any relay\n"
"                           (VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT, false)\n"
"  --hold=N                 polls a moved direction stays where it was moved (%d)\n"
"  --keep-pins              never move directions pinned by VIRTIOFWD_CPU_PINS\n"
"                           (by default the balancer may override them)\n"
"  --zmq-stats-ep=EP        stats endpoint (VIRTIOFWD_ZMQ_STATS_EP; empty: the\n"
"                           default, " VFWD_DEFAULT_ZMQ_STATS_EP ")\n"
"  --zmq-core-sched-ep=EP   core scheduling endpoint (VIRTIOFWD_ZMQ_CORE_SCHED_EP;\n"
"                           empty: the default,\n"
"                           " VFWD_DEFAULT_ZMQ_CORE_SCHED_EP ");\n"
"                           giving one implies VIO4WD_CORE_SCHED_ENABLE=true\n"
"  -v, --version            print the version and exit\n"
"  -h, --help               print this help and exit\n"
"Exit status: 0 stopped by a signal or balancing disabled, 1 bad config, 2 bad usage.\n",
		DEFAULT_HOLD);
}

/* ---- talking to the daemon ---- */

/* The NUMA node of a CPU, as sysfs links it; 0 on kernels without NUMA. */
static int cpu_node(int cpu)
{
	char path[64];
	struct dirent *e;
	int node = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir)) != NULL)
		if (sscanf(e->d_name, "node%d", &node) == 1)
			break;
	closedir(dir);
	return node;
}

/* ---- one poll ---- */

static void forget_moves(struct sched *s)
{
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		for (int d = 0; d < VFWD_NB_DIRS; d++)
			s->since_move[id][d] = NEVER;
}

static void lost(struct sched *s, const char *err)
{
	if (!stop && strcmp(err, s->problem) != 0)
		VLOG_WARN("%s; trying again every %g s", err, s->cfg.core_sched_poll_interval);
	snprintf(s->problem, sizeof(s->problem), "%s", err);
	s->connected = false;
}

static void format_cpus(const struct sched *s, const double *loads, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned c = 0; c < s->nb_cpus && n < len; c++) {
		int k = loads ? snprintf(buf + n, len - n, "%sCPU %d %.3f", c ? ", " : "",
					 s->cpus[c].cpu, loads[c]) :
				snprintf(buf + n, len - n, "%s%d (node %d)", c ? ", " : "",
					 s->cpus[c].cpu, s->cpus[c].numa);

		if (k < 0)
			break;
		n += (size_t)k;
	}
}

/* Same worker CPUs as before: else the daemon was restarted with others. */
static bool same_workers(const struct sched *s, const int *cpus, unsigned n)
{
	if (n != s->nb_cpus)
		return false;
	for (unsigned c = 0; c < n; c++)
		if (cpus[c] != s->cpus[c].cpu)
			return false;
	return true;
}

/* Counters are never reset while the daemon runs: one going down, or
 * another TSC rate, means another daemon. */
static bool restarted(const struct vc_loads *a, const struct vc_loads *b)
{
	if (a->tsc_hz != b->tsc_hz)
		return true;
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		for (int d = 0; d < VFWD_NB_DIRS; d++)
			if (a->present[id] && b->present[id] && b->busy[id][d] < a->busy[id][d])
				return true;
	return false;
}

static unsigned cpu_index(const struct sched *s, int cpu)
{
	unsigned c;

	for (c = 0; c < s->nb_cpus && s->cpus[c].cpu != cpu; c++)
		;
	return c;
}

static void log_moves(const struct sched *s, const struct as_dir *dirs, unsigned n,
		      const struct as_result *res)
{
	char before[2048], after[2048];

	format_cpus(s, res->before, before, sizeof(before));
	format_cpus(s, res->after, after, sizeof(after));
	if (res->rebalanced)
		VLOG_NOTICE("rebalancing: busiest CPU load %.3f -> %.3f (-%.0f%%, sensitivity "
			    "%.0f%%); %u move(s)", res->peak_now, res->peak_best,
			    100.0 * (res->peak_now - res->peak_best) / res->peak_now,
			    100.0 * s->params.sensitivity, res->nb_moves);
	VLOG_NOTICE("CPU loads before: %s; after: %s", before, after);
	for (unsigned i = 0; i < n; i++) {
		const struct as_dir *d = &dirs[i];
		unsigned from = cpu_index(s, d->cpu), to = cpu_index(s, res->cpu[i]);
		char from_load[64] = "";

		if (res->why[i] == AS_STAY)
			continue;
		if (from < s->nb_cpus)
			snprintf(from_load, sizeof(from_load), "CPU %d load %.3f -> %.3f, ",
				 d->cpu, res->before[from], res->after[from]);
		VLOG_NOTICE("moved relay %u %s (load %.3f) from CPU %d to CPU %d: %s%s; "
			    "%sCPU %d load %.3f -> %.3f", d->relay, dir_name[d->dir], d->load,
			    d->cpu, res->cpu[i], as_why_str(res->why[i]),
			    d->pinned ? " (overrides its VIRTIOFWD_CPU_PINS pin)" : "", from_load,
			    res->cpu[i], res->before[to], res->after[to]);
	}
}

/* The moves in one UPDATE; -1 leaves a relay's other direction alone. */
static int apply(const struct sched *s, const struct as_dir *dirs, unsigned n,
		 const struct as_result *res, char *err, size_t errlen)
{
	Virtioforwarder__CoreSchedRequest req = VIRTIOFORWARDER__CORE_SCHED_REQUEST__INIT;
	Virtioforwarder__RelayCPU map[VFWD_MAX_RELAYS], *list[VFWD_MAX_RELAYS];
	int slot[VFWD_MAX_RELAYS];
	ProtobufCMessage *r;

	memset(slot, -1, sizeof(slot));
	req.op = VIRTIOFORWARDER__CORE_SCHED_REQUEST__OP__UPDATE;
	req.relay_cpu_map = list;
	for (unsigned i = 0; i < n; i++) {
		Virtioforwarder__RelayCPU *m;

		if (res->why[i] == AS_STAY)
			continue;
		if (slot[dirs[i].relay] < 0) {
			slot[dirs[i].relay] = (int)req.n_relay_cpu_map;
			m = &map[req.n_relay_cpu_map];
			virtioforwarder__relay_cpu__init(m);
			m->relay_number = (int32_t)dirs[i].relay;
			m->vf2virtio_cpu = m->virtio2vf_cpu = -1;
			list[req.n_relay_cpu_map++] = m;
		}
		m = &map[slot[dirs[i].relay]];
		if (dirs[i].dir == VFWD_VF_TO_VM)
			m->vf2virtio_cpu = res->cpu[i];
		else
			m->virtio2vf_cpu = res->cpu[i];
	}
	r = vc_call_ok(s->cfg.zmq_core_sched_ep, VC_TIMEOUT_MS, &req.base,
		       &virtioforwarder__core_sched_response__descriptor, err, errlen);
	if (!r)
		return -1;
	vc_free(r);
	return 0;
}

static void decide(struct sched *s)
{
	static struct as_dir dirs[AS_MAX_DIRS];
	static struct as_result res;
	const struct vc_loads *a = &s->prev, *b = &s->cur;
	double cycles = (b->t - a->t) * (double)b->tsc_hz;
	char loads[2048], err[ERR_MAX];
	unsigned n = 0;

	if (!(cycles > 0))
		return;
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		for (int d = 0; d < VFWD_NB_DIRS; d++)
			if (s->since_move[id][d] != NEVER)
				s->since_move[id][d]++;
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		for (int d = 0; d < VFWD_NB_DIRS; d++) {
			struct as_dir *x = &dirs[n];

			if (!b->present[id] || b->cpu[id][d] < 0)
				continue;
			/* A relay that came since the last poll has no baseline:
			 * its load is unknown until the next one. */
			if (!a->present[id]) {
				VLOG_DEBUG("relay %u is new: measuring it before balancing", id);
				return;
			}
			x->relay = id;
			x->dir = d;
			/* One worker polls a direction: more than a whole core
			 * is an artefact (say a restart the counters hide). */
			x->load = fmin((double)(b->busy[id][d] - a->busy[id][d]) / cycles, 1.0);
			x->cpu = b->cpu[id][d];
			x->numa = b->numa[id];
			x->pinned = s->cfg.pins[id][d] >= 0;
			x->since_move = s->since_move[id][d];
			n++;
		}
	}
	if (as_assign(s->cpus, s->nb_cpus, dirs, n, &s->params, &res) != 0)
		return;
	format_cpus(s, res.before, loads, sizeof(loads));
	VLOG_DEBUG("%u directions on workers; CPU loads: %s", n, loads);
	if (res.nb_moves == 0) {
		if (res.peak_best < res.peak_now)
			VLOG_DEBUG("no move: the best placement found takes the busiest CPU "
				   "load from %.3f to %.3f only (sensitivity %.0f%%)",
				   res.peak_now, res.peak_best, 100.0 * s->params.sensitivity);
		return;
	}
	if (apply(s, dirs, n, &res, err, sizeof(err)) != 0) {
		VLOG_WARN("moves not applied: %s", err);
		return;
	}
	log_moves(s, dirs, n, &res);
	for (unsigned i = 0; i < n; i++)
		if (res.why[i] != AS_STAY)
			s->since_move[dirs[i].relay][dirs[i].dir] = 0;
}

static void poll_once(struct sched *s)
{
	int cpus[AS_MAX_CPUS], n;
	char err[ERR_MAX], list[2048];

	n = vc_worker_cpus(s->cfg.zmq_core_sched_ep, VC_TIMEOUT_MS, cpus, AS_MAX_CPUS,
			   err, sizeof(err));
	if (n < 0 || vc_get_loads(s->cfg.zmq_stats_ep, VC_TIMEOUT_MS, &s->cur,
				  err, sizeof(err)) != 0) {
		lost(s, err);
		return;
	}
	if (!s->connected || !same_workers(s, cpus, (unsigned)n) ||
	    restarted(&s->prev, &s->cur)) {
		for (int c = 0; c < n; c++)
			s->cpus[c] = (struct as_cpu){ cpus[c], cpu_node(cpus[c]) };
		s->nb_cpus = (unsigned)n;
		format_cpus(s, NULL, list, sizeof(list));
		if (s->connected)
			VLOG_NOTICE("virtio-forwarder restarted: worker CPUs %s", list);
		else
			VLOG_NOTICE("connected to virtio-forwarder (%s, %s): worker CPUs %s",
				    s->cfg.zmq_stats_ep, s->cfg.zmq_core_sched_ep, list);
		s->connected = true;
		s->problem[0] = '\0';
		forget_moves(s);
	} else {
		decide(s);
	}
	s->prev = s->cur;
}

/* ---- start-up ---- */

enum { OPT_CONFIG = 256, OPT_INTERVAL, OPT_SENS, OPT_NUMA, OPT_HOLD, OPT_KEEP_PINS };

/* Options that override a config variable: parsed by config.c, with its
 * checks and messages, after the file. */
static const struct {
	int opt;
	const char *name, *var;
} opt_vars[] = {
	{ 'l', "-l/--loglevel", "VIO4WD_CORE_SCHED_LOG_LEVEL" },
	{ OPT_INTERVAL, "--poll-interval", "VIO4WD_CORE_SCHED_POLL_INTERVAL" },
	{ OPT_SENS, "--sensitivity", "VIO4WD_CORE_SCHED_SENSITIVITY" },
	{ OPT_NUMA, "--global-numa", "VIO4WD_CORE_SCHED_GLOBAL_NUMA_OPT" },
	{ 'z', "--zmq-stats-ep", "VIRTIOFWD_ZMQ_STATS_EP" },
	{ 's', "--zmq-core-sched-ep", "VIRTIOFWD_ZMQ_CORE_SCHED_EP" },
};
#define NB_OPT_VARS (sizeof(opt_vars) / sizeof(opt_vars[0]))

static int load_config(struct vfwd_config *cfg, const char *path, const char *const *vals)
{
	struct cfg_err err;

	cfg_defaults(cfg);
	if (path || access(VFWD_DEFAULT_CONFIG_FILE, F_OK) == 0) {
		if (cfg_load_file(cfg, path ? path : VFWD_DEFAULT_CONFIG_FILE, &err) != 0) {
			fprintf(stderr, PROG ": %s\n", err.msg);
			return -1;
		}
	}
	for (unsigned i = 0; i < NB_OPT_VARS; i++) {
		if (vals[i] && cfg_set_var(cfg, opt_vars[i].var, vals[i], &err) != 0) {
			fprintf(stderr, PROG ": %s: %s\n", opt_vars[i].name, err.msg);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "daemon", no_argument, NULL, 'd' },
		{ "loglevel", required_argument, NULL, 'l' },
		{ "poll-interval", required_argument, NULL, OPT_INTERVAL },
		{ "sensitivity", required_argument, NULL, OPT_SENS },
		{ "global-numa", optional_argument, NULL, OPT_NUMA },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "keep-pins", no_argument, NULL, OPT_KEEP_PINS },
		{ "zmq-stats-ep", required_argument, NULL, 'z' },
		{ "zmq-core-sched-ep", required_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct sched s;
	const char *vals[NB_OPT_VARS] = { NULL };
	const char *config = NULL;
	bool daemonize = false, keep_pins = false;
	unsigned long hold = DEFAULT_HOLD;
	int o;

	while ((o = getopt_long(argc, argv, "dl:vh", opts, NULL)) != -1) {
		unsigned i;

		switch (o) {
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'd':
			daemonize = true;
			break;
		case OPT_HOLD:
			if (vc_parse_uint(optarg, 1000000, &hold) != 0)
				vc_die(EXIT_USAGE, "--hold=%s: a number of polls", optarg);
			break;
		case OPT_KEEP_PINS:
			keep_pins = true;
			break;
		case 'v':
			printf(PROG " %s\n", VFWD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			for (i = 0; i < NB_OPT_VARS && opt_vars[i].opt != o; i++)
				;
			if (i == NB_OPT_VARS) {
				usage(stderr);
				return EXIT_USAGE;
			}
			/* A bare --global-numa turns it on. */
			vals[i] = optarg ? optarg : "true";
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (load_config(&s.cfg, config, vals) != 0)
		return 1;
	/* As the daemon's -s: naming the endpoint turns the service on. */
	if (s.cfg.zmq_core_sched_on)
		s.cfg.core_sched_enable = true;
	/* Not an error: the switch that turns balancing off, and the unit
	 * then simply ends. */
	if (!cfg_core_sched_active(&s.cfg)) {
		fprintf(stderr, PROG ": CPU load balancing is off (VIO4WD_CORE_SCHED_ENABLE is "
			"not true in %s%s): nothing to do\n",
			config ? config : VFWD_DEFAULT_CONFIG_FILE,
			config || access(VFWD_DEFAULT_CONFIG_FILE, F_OK) == 0 ? "" :
			", which does not exist");
		return 0;
	}
	s.params = (struct as_params){
		.sensitivity = s.cfg.core_sched_sensitivity,
		.min_gain = MIN_GAIN,
		.hold = (unsigned)hold,
		.global_numa = s.cfg.core_sched_global_numa,
		.keep_pins = keep_pins,
	};

	vlog_open(PROG, s.cfg.core_sched_log_level, daemonize);
	for (unsigned i = 0; i < s.cfg.nb_warnings; i++)
		VLOG_WARN("%s", s.cfg.warnings[i]);
	if (daemonize && daemon(0, 0) != 0) {
		VLOG_CRIT("cannot daemonize: %s", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	VLOG_NOTICE(PROG " %s starting: every %g s, sensitivity %.0f%%, hold %u polls, "
		    "%s NUMA, pins %s", VFWD_VERSION, s.cfg.core_sched_poll_interval,
		    100.0 * s.params.sensitivity, s.params.hold,
		    s.params.global_numa ? "across" : "within",
		    keep_pins ? "kept" : "may be overridden");
	forget_moves(&s);
	while (!stop) {
		double wait = s.cfg.core_sched_poll_interval;
		struct timespec ts = { (time_t)wait, (long)((wait - floor(wait)) * 1e9) };

		poll_once(&s);
		/* A signal cuts the wait short: then stop. */
		if (!stop)
			nanosleep(&ts, NULL);
	}
	VLOG_NOTICE("stopping");
	return 0;
}
