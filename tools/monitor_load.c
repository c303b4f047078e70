/* virtioforwarder_monitor_load: a live bar per worker CPU of a running
 * virtio-forwarder, with the relay directions it serves. The load of a
 * CPU is the share of its time its directions spent on polls that moved
 * packets: busy TSC cycles (the stats extension fields) between two
 * snapshots, over the cycles that elapsed. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "vfwd_client.h"
#include "virtioforwarder.pb-c.h"

#define BAR_WIDTH 50
#define MAX_CPUS 256     /* worker CPUs shown */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: virtioforwarder_monitor_load [options]\n"
		"  --poll-interval=SECONDS  refresh period, 0.1-3600 (2)\n"
		"  --stats-ep=EP            stats endpoint (default %s)\n"
		"  --sched-ep=EP            core scheduling endpoint, for the worker list\n"
		"                           (default %s; also --zmq-ep)\n"
		"  --count=N                stop after N refreshes (0: until interrupted)\n"
		"Exit status: 0 done, 2 usage, 3 no answer.\n",
		VFWD_DEFAULT_ZMQ_STATS_EP, VFWD_DEFAULT_ZMQ_CORE_SCHED_EP);
}

static const char *const dir_name[VFWD_NB_DIRS] = { "VF->VM", "VM->VF" };

struct cpu_load {
	int cpu;
	double load;
	char relays[512];
};

/* Worker CPUs from the core scheduling service; without it (it runs only
 * with VIO4WD_CORE_SCHED_ENABLE), those seen serving a direction. */
static unsigned worker_cpus(const char *ep, struct cpu_load *cpus)
{
	int list[MAX_CPUS], n;
	char err[1024];

	n = vc_worker_cpus(ep, 1000, list, MAX_CPUS, err, sizeof(err));
	for (int i = 0; i < n; i++)
		cpus[i].cpu = list[i];
	return n < 0 ? 0 : (unsigned)n;
}

static unsigned cpu_slot(struct cpu_load *cpus, unsigned *n, int cpu)
{
	unsigned i;

	for (i = 0; i < *n; i++)
		if (cpus[i].cpu == cpu)
			return i;
	if (*n == MAX_CPUS)
		return MAX_CPUS;
	cpus[*n].cpu = cpu;
	return (*n)++;
}

static void draw(const struct vc_loads *a, const struct vc_loads *b, struct cpu_load *cpus,
		 unsigned *n, double interval, bool tty)
{
	double cycles = (b->t - a->t) * (double)b->tsc_hz;

	for (unsigned i = 0; i < *n; i++) {
		cpus[i].load = 0;
		cpus[i].relays[0] = '\0';
	}
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		for (int d = 0; d < VFWD_NB_DIRS; d++) {
			int cpu = b->cpu[id][d];
			unsigned k;
			size_t len;

			if (cpu < 0 || (k = cpu_slot(cpus, n, cpu)) == MAX_CPUS)
				continue;
			if (b->busy[id][d] > a->busy[id][d] && cycles > 0)
				cpus[k].load += (double)(b->busy[id][d] - a->busy[id][d]) / cycles;
			len = strlen(cpus[k].relays);
			/* Both directions of a relay on one CPU show as its id alone. */
			if (d == VFWD_VM_TO_VF && b->cpu[id][VFWD_VF_TO_VM] == cpu)
				continue;
			if (d == VFWD_VF_TO_VM && b->cpu[id][VFWD_VM_TO_VF] == cpu)
				snprintf(cpus[k].relays + len, sizeof(cpus[k].relays) - len, " %u", id);
			else
				snprintf(cpus[k].relays + len, sizeof(cpus[k].relays) - len, " %u(%s)",
					 id, dir_name[d]);
		}
	}
	fputs(tty ? "\033[H\033[2J" : "\n", stdout);
	printf("virtio-forwarder worker load, every %.1f s (Ctrl-C quits)\n", interval);
	for (unsigned i = 0; i < *n; i++) {
		double load = fmin(fmax(cpus[i].load, 0.0), 1.0);
		int bars = (int)lround(load * BAR_WIDTH);

		printf("CPU%3d [%.*s%*s] %5.1f%%  relays:%s\n", cpus[i].cpu, bars,
		       "##################################################", BAR_WIDTH - bars, "",
		       load * 100.0, cpus[i].relays[0] ? cpus[i].relays : " none");
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "poll-interval", required_argument, NULL, 'i' },
		{ "stats-ep", required_argument, NULL, 'e' },
		{ "sched-ep", required_argument, NULL, 's' },
		{ "zmq-ep", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct vc_loads snap[2];
	static struct cpu_load cpus[MAX_CPUS];
	const char *stats_ep = VFWD_DEFAULT_ZMQ_STATS_EP;
	const char *sched_ep = VFWD_DEFAULT_ZMQ_CORE_SCHED_EP;
	unsigned long count = 0, shown = 0;
	double interval = 2.0;
	bool tty = isatty(STDOUT_FILENO);
	char err[1024], *end;
	unsigned n;
	int o, cur = 0;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(interval >= 0.1 && interval <= 3600))
				vc_die(VC_EXIT_USAGE, "--poll-interval=%s: seconds, 0.1-3600", optarg);
			break;
		case 'e':
			stats_ep = optarg;
			break;
		case 's':
			sched_ep = optarg;
			break;
		case 'c':
			if (vc_parse_uint(optarg, 1000000, &count) != 0)
				vc_die(VC_EXIT_USAGE, "--count=%s: a number of refreshes", optarg);
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
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (vc_get_loads(stats_ep, VC_TIMEOUT_MS, &snap[0], err, sizeof(err)) != 0)
		vc_die(VC_EXIT_COMM, "%s", err);
	n = worker_cpus(sched_ep, cpus);
	printf("virtio-forwarder worker load: measuring for %.1f s...\n", interval);
	fflush(stdout);
	while (!stop && (count == 0 || shown < count)) {
		struct timespec ts = { (time_t)interval,
				       (long)((interval - (double)(time_t)interval) * 1e9) };

		/* A signal cuts the wait short: then stop. */
		if (nanosleep(&ts, NULL) != 0 || stop)
			break;
		if (vc_get_loads(stats_ep, VC_TIMEOUT_MS, &snap[!cur], err, sizeof(err)) != 0)
			vc_die(VC_EXIT_COMM, "%s", err);
		cur = !cur;
		draw(&snap[!cur], &snap[cur], cpus, &n, interval, tty);
		shown++;
	}
	return VC_EXIT_OK;
}
