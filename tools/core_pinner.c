/* virtioforwarder_core_pinner: moves relay directions to other worker
 * CPUs of a running virtio-forwarder (its core scheduling endpoint), with
 * the daemon's own syntax --virtio-cpu=R:C1[,C2] (C1 serves VF->VM, C2
 * VM->VF); without it, prints which CPU serves each relay. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "vfwd_client.h"
#include "virtioforwarder.pb-c.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: virtioforwarder_core_pinner [options]\n"
		"  --virtio-cpu=R:C1[,C2]  relay R: VF->VM on CPU C1, VM->VF on C2 (C1 if not\n"
		"                          given); repeatable\n"
		"  --print-core-map        only print the relay-to-CPU map (the default\n"
		"                          without --virtio-cpu)\n"
		"  --zmq-ep=EP             core scheduling endpoint (default %s;\n"
		"                          also --sched-ep)\n"
		"  --config-ep=EP          config endpoint, for the map (default %s)\n"
		"  --stats-ep=EP           stats endpoint, for the map when the config\n"
		"                          service does not answer (default %s)\n"
		"  --timeout=MS            how long to wait for each reply (%d)\n"
		"Exit status: 0 done, 1 refused by the daemon, 2 usage, 3 no answer.\n",
		VFWD_DEFAULT_ZMQ_CORE_SCHED_EP, VFWD_DEFAULT_ZMQ_CONFIG_EP,
		VFWD_DEFAULT_ZMQ_STATS_EP, VC_TIMEOUT_MS);
}

/* A request whose reply must be OK, or the tool exits. */
static ProtobufCMessage *call(const char *ep, int timeout, const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *desc)
{
	char err[1024];
	ProtobufCMessage *reply = vc_call(ep, timeout, req, desc, err, sizeof(err));

	if (!reply)
		vc_die(VC_EXIT_COMM, "%s", err);
	if (vc_refused(reply, err, sizeof(err))) {
		vc_free(reply);
		vc_die(VC_EXIT_REFUSED, "%s", err);
	}
	return reply;
}

struct pin_row {
	int relay, cpu[2];
};

/* The map in force from the config service: every relay in use. */
static int map_from_config(const char *ep, int timeout, struct pin_row *rows, size_t *n,
			   char *err, size_t errlen)
{
	Virtioforwarder__ConfigRequest req = VIRTIOFORWARDER__CONFIG_REQUEST__INIT;
	Virtioforwarder__ConfigResponse *r;

	r = (Virtioforwarder__ConfigResponse *)vc_call(
		ep, timeout, &req.base, &virtioforwarder__config_response__descriptor, err, errlen);
	if (!r)
		return VC_EXIT_COMM;
	if (vc_refused(&r->base, err, errlen)) {
		vc_free(&r->base);
		return VC_EXIT_REFUSED;
	}
	for (*n = 0; *n < r->n_relay_cpu_map && *n < VFWD_MAX_RELAYS; (*n)++) {
		rows[*n].relay = r->relay_cpu_map[*n]->relay_number;
		rows[*n].cpu[0] = r->relay_cpu_map[*n]->vf2virtio_cpu;
		rows[*n].cpu[1] = r->relay_cpu_map[*n]->virtio2vf_cpu;
	}
	vc_free(&r->base);
	return VC_EXIT_OK;
}

/* The map from the stats service, where the established tool read it:
 * the relays forwarding both ways. */
static int map_from_stats(const char *ep, int timeout, struct pin_row *rows, size_t *n,
			  char *err, size_t errlen)
{
	Virtioforwarder__StatsRequest req = VIRTIOFORWARDER__STATS_REQUEST__INIT;
	Virtioforwarder__StatsResponse *r;

	req.has_include_inactive = true;
	req.include_inactive = false;
	r = (Virtioforwarder__StatsResponse *)vc_call(
		ep, timeout, &req.base, &virtioforwarder__stats_response__descriptor, err, errlen);
	if (!r)
		return VC_EXIT_COMM;
	if (vc_refused(&r->base, err, errlen)) {
		vc_free(&r->base);
		return VC_EXIT_REFUSED;
	}
	*n = 0;
	for (size_t i = 0; i < r->n_relay && *n < VFWD_MAX_RELAYS; i++) {
		const Virtioforwarder__RelayState *rs = r->relay[i];

		if (!rs->cpu)
			continue;
		rows[*n].relay = (int)rs->id;
		rows[*n].cpu[0] = rs->cpu->vf_to_vm;
		rows[*n].cpu[1] = rs->cpu->vm_to_vf;
		(*n)++;
	}
	vc_free(&r->base);
	return VC_EXIT_OK;
}

/* Prints the worker CPUs (when the core scheduling service answers: it
 * runs only with VIO4WD_CORE_SCHED_ENABLE) and the map, from the config
 * service or else the stats service. Returns 0, or an exit status with
 * the reason in err. */
static int print_map(const char *config_ep, const char *stats_ep, const char *sched_ep,
		     int timeout, char *err, size_t errlen)
{
	Virtioforwarder__CoreSchedRequest sreq = VIRTIOFORWARDER__CORE_SCHED_REQUEST__INIT;
	Virtioforwarder__CoreSchedResponse *cores;
	struct pin_row rows[VFWD_MAX_RELAYS];
	char err2[1024];
	size_t n;
	int rc;

	rc = map_from_config(config_ep, timeout, rows, &n, err, errlen);
	if (rc != 0 && map_from_stats(stats_ep, timeout, rows, &n, err2, sizeof(err2)) != 0) {
		size_t len = strlen(err);

		snprintf(err + len, errlen - len, "; and from the stats service: %s", err2);
		return rc;
	}
	sreq.op = VIRTIOFORWARDER__CORE_SCHED_REQUEST__OP__GET_EAL_CORES;
	cores = (Virtioforwarder__CoreSchedResponse *)vc_call(
		sched_ep, timeout, &sreq.base, &virtioforwarder__core_sched_response__descriptor,
		err2, sizeof(err2));
	if (cores && !vc_refused(&cores->base, err2, sizeof(err2))) {
		printf("worker CPUs:");
		for (size_t i = 0; i < cores->n_eal_cores; i++)
			printf(" %u", cores->eal_cores[i]);
		printf("\n");
	}
	if (cores)
		vc_free(&cores->base);
	printf("relay  VF->VM  VM->VF\n");
	for (size_t i = 0; i < n; i++)
		printf("%5d  %6d  %6d\n", rows[i].relay, rows[i].cpu[0], rows[i].cpu[1]);
	return VC_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "virtio-cpu", required_argument, NULL, 'c' },
		{ "print-core-map", no_argument, NULL, 'p' },
		{ "zmq-ep", required_argument, NULL, 'e' },
		{ "sched-ep", required_argument, NULL, 'e' },
		{ "config-ep", required_argument, NULL, 'g' },
		{ "stats-ep", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Virtioforwarder__CoreSchedRequest req = VIRTIOFORWARDER__CORE_SCHED_REQUEST__INIT;
	Virtioforwarder__RelayCPU pins[VFWD_MAX_RELAYS], *pin_list[VFWD_MAX_RELAYS];
	const char *sched_ep = VFWD_DEFAULT_ZMQ_CORE_SCHED_EP;
	const char *config_ep = VFWD_DEFAULT_ZMQ_CONFIG_EP;
	const char *stats_ep = VFWD_DEFAULT_ZMQ_STATS_EP;
	unsigned long timeout = VC_TIMEOUT_MS;
	bool print_only = false;
	struct cfg_err cerr;
	char err[1024];
	int o, rc;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned relay;
		int cpus[2];

		switch (o) {
		case 'c':
			if (cfg_parse_pin(optarg, &relay, cpus, &cerr) != 0)
				vc_die(VC_EXIT_USAGE, "--virtio-cpu=%s: %s", optarg, cerr.msg);
			if (req.n_relay_cpu_map == VFWD_MAX_RELAYS)
				vc_die(VC_EXIT_USAGE, "at most %u --virtio-cpu", VFWD_MAX_RELAYS);
			virtioforwarder__relay_cpu__init(&pins[req.n_relay_cpu_map]);
			pins[req.n_relay_cpu_map].relay_number = (int32_t)relay;
			pins[req.n_relay_cpu_map].vf2virtio_cpu = cpus[0];
			pins[req.n_relay_cpu_map].virtio2vf_cpu = cpus[1];
			pin_list[req.n_relay_cpu_map] = &pins[req.n_relay_cpu_map];
			req.n_relay_cpu_map++;
			break;
		case 'p':
			print_only = true;
			break;
		case 'e':
			sched_ep = optarg;
			break;
		case 'g':
			config_ep = optarg;
			break;
		case 's':
			stats_ep = optarg;
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
	if (req.n_relay_cpu_map && !print_only) {
		req.op = VIRTIOFORWARDER__CORE_SCHED_REQUEST__OP__UPDATE;
		req.relay_cpu_map = pin_list;
		for (size_t i = 0; i < req.n_relay_cpu_map; i++)
			printf("relay %d: VF->VM on CPU %d, VM->VF on CPU %d\n",
			       pins[i].relay_number, pins[i].vf2virtio_cpu, pins[i].virtio2vf_cpu);
		fflush(stdout);
		vc_free(call(sched_ep, (int)timeout, &req.base,
			     &virtioforwarder__core_sched_response__descriptor));
		printf("OK\n");
		/* Done: a map that cannot be shown is only a warning now. */
		if (print_map(config_ep, stats_ep, sched_ep, (int)timeout, err, sizeof(err)) != 0)
			fprintf(stderr, "virtioforwarder_core_pinner: cannot show the new map: "
				"%s\n", err);
		return VC_EXIT_OK;
	}
	rc = print_map(config_ep, stats_ep, sched_ep, (int)timeout, err, sizeof(err));
	if (rc != 0)
		vc_die(rc, "%s", err);
	return VC_EXIT_OK;
}
