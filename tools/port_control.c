/* virtioforwarder_port_control: adds and removes VFs and vhost-user
 * sockets of a running virtio-forwarder (its port control endpoint,
 * VIRTIOFWD_ZMQ_PORT_CONTROL_EP). Options as the established tool's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "vfwd_client.h"
#include "virtioforwarder.pb-c.h"

#define MAX_ADDRS VFWD_BOND_MAX_MEMBERS

static void usage(FILE *out)
{
	fprintf(out,
		"usage: virtioforwarder_port_control OP [options]\n"
		"  OP: add | remove | add_sock | remove_sock | query_pci\n"
		"  --virtio-id=ID       relay (virtio) id 0-%u (add, remove)\n"
		"  --pci-addr=ADDR      VF PCI address, dddd:bb:ss.f or bb:ss.f; repeat with\n"
		"                       --name for a bond (at most %d); DPDK vdev devargs\n"
		"                       (net_...) are accepted too (sent in our extension\n"
		"                       field, after the PCI addresses)\n"
		"  --vhost-path=PATH    vhost-user socket (add_sock, remove_sock, query_pci)\n"
		"  --name=NAME          bond name\n"
		"  --mode=0..6          bond mode (1 = active-backup, the default)\n"
		"  --conditional        adding what exists / removing what is absent is OK\n"
		"  --zmq_ep=EP          endpoint (default %s; also --zmq-ep)\n"
		"  --timeout=MS         how long to wait for the reply (%d)\n"
		"Exit status: 0 done, 1 refused by the daemon, 2 usage, 3 no answer.\n",
		VFWD_MAX_RELAYS - 1, MAX_ADDRS, VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP, VC_TIMEOUT_MS);
}

static Virtioforwarder__PortControlRequest__Op parse_op(const char *s)
{
	static const char *const ops[] = { "add", "remove", "add_sock", "remove_sock",
					   "query_pci" };

	for (int i = 0; i < 5; i++)
		if (strcmp(s, ops[i]) == 0)
			return (Virtioforwarder__PortControlRequest__Op)i;
	vc_die(VC_EXIT_USAGE, "unknown operation '%s': add, remove, add_sock, remove_sock "
	       "or query_pci", s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "virtio-id", required_argument, NULL, 'i' },
		{ "pci-addr", required_argument, NULL, 'p' },
		{ "vhost-path", required_argument, NULL, 'v' },
		{ "name", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "conditional", no_argument, NULL, 'c' },
		{ "zmq_ep", required_argument, NULL, 'e' },
		{ "zmq-ep", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Virtioforwarder__PortControlRequest req = VIRTIOFORWARDER__PORT_CONTROL_REQUEST__INIT;
	Virtioforwarder__PciAddress addrs[MAX_ADDRS], *addr_list[MAX_ADDRS];
	char *vdevs[MAX_ADDRS];
	const char *ep = VFWD_DEFAULT_ZMQ_PORT_CONTROL_EP;
	unsigned long v, timeout = VC_TIMEOUT_MS;
	Virtioforwarder__PortControlResponse *reply;
	char err[1024], canon[16];
	int o;

	/* As the established tool: conditional is always sent, false unless
	 * asked for (the wire default would be true). */
	req.has_conditional = true;
	req.conditional = false;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			/* The daemon checks the range; this only has to fit the field. */
			if (vc_parse_uint(optarg, UINT32_MAX, &v) != 0)
				vc_die(VC_EXIT_USAGE, "--virtio-id=%s: not a number", optarg);
			req.has_virtio_id = true;
			req.virtio_id = (uint32_t)v;
			break;
		case 'p':
			if (req.n_pci_addrs + req.n_vdev == MAX_ADDRS)
				vc_die(VC_EXIT_USAGE, "at most %d --pci-addr", MAX_ADDRS);
			if (strncmp(optarg, "net_", 4) == 0) {
				vdevs[req.n_vdev++] = optarg;
				break;
			}
			if (cfg_canon_pci(optarg, canon, sizeof(canon)) != 0)
				vc_die(VC_EXIT_USAGE, "--pci-addr=%s: not a PCI address like "
				       "0000:05:08.1 or 05:08.1 (nor vdev devargs net_...)", optarg);
			virtioforwarder__pci_address__init(&addrs[req.n_pci_addrs]);
			sscanf(canon, "%x:%x:%x.%x", &addrs[req.n_pci_addrs].domain,
			       &addrs[req.n_pci_addrs].bus, &addrs[req.n_pci_addrs].slot,
			       &addrs[req.n_pci_addrs].function);
			addr_list[req.n_pci_addrs] = &addrs[req.n_pci_addrs];
			req.n_pci_addrs++;
			break;
		case 'v':
			req.vhost_path = optarg;
			break;
		case 'n':
			req.name = optarg;
			break;
		case 'm':
			if (vc_parse_uint(optarg, 6, &v) != 0)
				vc_die(VC_EXIT_USAGE, "--mode=%s: a bond mode 0-6", optarg);
			req.has_mode = true;
			req.mode = (uint32_t)v;
			break;
		case 'c':
			req.conditional = true;
			break;
		case 'e':
			ep = optarg;
			break;
		case 't':
			if (vc_parse_uint(optarg, 3600000, &v) != 0 || v == 0)
				vc_die(VC_EXIT_USAGE, "--timeout=%s: milliseconds, 1-3600000", optarg);
			timeout = v;
			break;
		case 'h':
			usage(stdout);
			return VC_EXIT_OK;
		default:
			usage(stderr);
			return VC_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return VC_EXIT_USAGE;
	}
	req.op = parse_op(argv[optind]);
	req.pci_addrs = addr_list;
	req.vdev = vdevs;
	if (req.name && !req.has_mode) {
		req.has_mode = true;
		req.mode = 1;
	}
	reply = (Virtioforwarder__PortControlResponse *)vc_call(
		ep, (int)timeout, &req.base, &virtioforwarder__port_control_response__descriptor,
		err, sizeof(err));
	if (!reply)
		vc_die(VC_EXIT_COMM, "%s", err);
	if (vc_refused(&reply->base, err, sizeof(err))) {
		vc_free(&reply->base);
		vc_die(VC_EXIT_REFUSED, "%s failed: %s", argv[optind], err);
	}
	if (reply->query_string)
		printf("%s\n", reply->query_string);
	vc_free(&reply->base);
	return VC_EXIT_OK;
}
