/* virtioforwarder_stats: the relay counters and rates of a running
 * virtio-forwarder (its stats endpoint, VIRTIOFWD_ZMQ_STATS_EP), as flat
 * relay_<id>.<group>.<counter>=<value> lines or as JSON. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "vfwd_client.h"
#include "virtioforwarder.pb-c.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: virtioforwarder_stats [options]\n"
		"  --stats-ep=EP        endpoint (default %s)\n"
		"  --include-inactive   also relays that are not forwarding both ways\n"
		"  --relay=ID           only this relay (repeatable)\n"
		"  --delay=MS           window for the rates, 0-10000 ms (200)\n"
		"  -z, --suppress-zero  leave out counters and rates that are zero\n"
		"  --json               one JSON object per reply instead of flat lines\n"
		"                       (also --output-format=flat|json)\n"
		"  --watch=SECONDS      print again every SECONDS until interrupted\n"
		"  --timeout=MS         how long to wait for a reply, on top of the delay (%d)\n"
		"Exit status: 0 done, 1 refused by the daemon, 2 usage, 3 no answer.\n",
		VFWD_DEFAULT_ZMQ_STATS_EP, VC_TIMEOUT_MS);
}

static int print_once(const char *ep, int timeout, const Virtioforwarder__StatsRequest *req,
		      bool json, bool suppress_zero)
{
	Virtioforwarder__StatsResponse *reply;
	char err[1024], prefix[32];

	reply = (Virtioforwarder__StatsResponse *)vc_call(
		ep, timeout, &req->base, &virtioforwarder__stats_response__descriptor,
		err, sizeof(err));
	if (!reply) {
		fprintf(stderr, "virtioforwarder_stats: %s\n", err);
		return VC_EXIT_COMM;
	}
	if (vc_refused(&reply->base, err, sizeof(err))) {
		fprintf(stderr, "virtioforwarder_stats: %s\n", err);
		vc_free(&reply->base);
		return VC_EXIT_REFUSED;
	}
	if (json) {
		vc_print_json(stdout, &reply->base);
	} else {
		for (size_t i = 0; i < reply->n_relay; i++) {
			snprintf(prefix, sizeof(prefix), "relay_%u", reply->relay[i]->id);
			vc_print_flat(stdout, prefix, &reply->relay[i]->base, suppress_zero);
		}
	}
	fflush(stdout);
	vc_free(&reply->base);
	return VC_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats-ep", required_argument, NULL, 'e' },
		{ "include-inactive", no_argument, NULL, 'a' },
		{ "relay", required_argument, NULL, 'r' },
		{ "delay", required_argument, NULL, 'd' },
		{ "suppress-zero", no_argument, NULL, 'z' },
		{ "json", no_argument, NULL, 'j' },
		{ "output-format", required_argument, NULL, 'o' },
		{ "watch", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Virtioforwarder__StatsRequest req = VIRTIOFORWARDER__STATS_REQUEST__INIT;
	uint32_t relays[VFWD_MAX_RELAYS];
	const char *ep = VFWD_DEFAULT_ZMQ_STATS_EP;
	unsigned long v, delay = 200, timeout = VC_TIMEOUT_MS, watch = 0;
	bool json = false, suppress_zero = false;
	int o, rc;

	/* Sent always, as the established tool does: false unless asked (the
	 * wire default would be true). */
	req.has_include_inactive = true;
	req.include_inactive = false;
	while ((o = getopt_long(argc, argv, "zh", opts, NULL)) != -1) {
		switch (o) {
		case 'e':
			ep = optarg;
			break;
		case 'a':
			req.include_inactive = true;
			break;
		case 'r':
			if (vc_parse_uint(optarg, UINT32_MAX, &v) != 0)
				vc_die(VC_EXIT_USAGE, "--relay=%s: not a relay id", optarg);
			if (req.n_relay == VFWD_MAX_RELAYS)
				vc_die(VC_EXIT_USAGE, "at most %u --relay", VFWD_MAX_RELAYS);
			relays[req.n_relay++] = (uint32_t)v;
			break;
		case 'd':
			if (vc_parse_uint(optarg, 10000, &delay) != 0)
				vc_die(VC_EXIT_USAGE, "--delay=%s: milliseconds, 0-10000", optarg);
			break;
		case 'z':
			suppress_zero = true;
			break;
		case 'j':
			json = true;
			break;
		case 'o':
			/* the established tool's option; its text "protobuf"
			 * format is Python's, JSON replaces it */
			if (strcmp(optarg, "flat") != 0 && strcmp(optarg, "json") != 0)
				vc_die(VC_EXIT_USAGE, "--output-format=%s: flat or json", optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case 'w':
			if (vc_parse_uint(optarg, 86400, &watch) != 0 || watch == 0)
				vc_die(VC_EXIT_USAGE, "--watch=%s: seconds, 1-86400", optarg);
			break;
		case 't':
			if (vc_parse_uint(optarg, 3600000, &timeout) != 0 || timeout == 0)
				vc_die(VC_EXIT_USAGE, "--timeout=%s: milliseconds, 1-3600000", optarg);
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
	req.has_delay = true;
	req.delay = (uint32_t)delay;
	req.relay = relays;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (;;) {
		if (watch && !json) {
			time_t now = time(NULL);
			char stamp[32];

			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", localtime(&now));
			printf("# %s\n", stamp);
		}
		rc = print_once(ep, (int)(timeout + delay), &req, json, suppress_zero);
		/* In watch mode an unreachable daemon is reported and retried:
		 * it may be restarting. */
		if (!watch || stop)
			return stop ? VC_EXIT_OK : rc;
		for (unsigned long s = 0; s < watch * 10 && !stop; s++)
			usleep(100000);
		if (stop)
			return VC_EXIT_OK;
	}
}
