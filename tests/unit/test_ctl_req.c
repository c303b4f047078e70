/* Unit tests for src/ctl_req.c (cmocka): the validation of control
 * requests, on messages built the way a client builds them, and on the
 * wire bytes of some through protobuf-c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl_req.h"

typedef Virtioforwarder__PortControlRequest PortRequest;

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle)) {
		print_error("expected \"%s\" in \"%s\"\n", needle, hay);
		fail();
	}
}

static Virtioforwarder__PciAddress pci(uint32_t d, uint32_t b, uint32_t s, uint32_t f)
{
	Virtioforwarder__PciAddress a = VIRTIOFORWARDER__PCI_ADDRESS__INIT;

	a.domain = d;
	a.bus = b;
	a.slot = s;
	a.function = f;
	return a;
}

static void test_relay_id(void **state)
{
	struct req_err e;

	(void)state;
	assert_int_equal(req_relay_id(0, "virtio_id", &e), 0);
	assert_int_equal(req_relay_id(63, "virtio_id", &e), 0);
	assert_int_equal(req_relay_id(64, "virtio_id", &e), -ERANGE);
	assert_contains(e.msg, "virtio_id 64 is out of range: relay ids are 0-63");
	assert_int_equal(req_relay_id(4294967295LL, "relay", &e), -ERANGE);
	assert_contains(e.msg, "relay 4294967295");
	assert_int_equal(req_relay_id(-1, "relay_number", &e), -ERANGE);
}

static void test_vhost_path(void **state)
{
	struct req_err e;
	char longp[200];

	(void)state;
	assert_int_equal(req_vhost_path("/tmp/vm1.sock", &e), 0);
	assert_int_equal(req_vhost_path("/tmp/a..b/x..sock", &e), 0);
	assert_int_equal(req_vhost_path("", &e), -EINVAL);
	assert_contains(e.msg, "empty");
	assert_int_equal(req_vhost_path("tmp/vm1.sock", &e), -EINVAL);
	assert_contains(e.msg, "relative");
	assert_int_equal(req_vhost_path("/tmp/../etc/x", &e), -EINVAL);
	assert_contains(e.msg, "'..'");
	assert_int_equal(req_vhost_path("/tmp/x/..", &e), -EINVAL);
	assert_int_equal(req_vhost_path("/tmp/x\n", &e), -EINVAL);
	assert_contains(e.msg, "control characters");
	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	longp[107] = '\0';         /* 107 bytes: the longest that fits */
	assert_int_equal(req_vhost_path(longp, &e), 0);
	longp[107] = 'a';
	longp[108] = '\0';
	assert_int_equal(req_vhost_path(longp, &e), -ENAMETOOLONG);
	assert_contains(e.msg, "at most 107");
	/* the path is quoted shortened, not whole */
	assert_true(strlen(e.msg) < 200);
}

static void test_path_in_dir(void **state)
{
	struct req_err e;

	(void)state;
	assert_int_equal(req_path_in_dir("/tmp/vm1.sock", "/tmp", &e), 0);
	assert_int_equal(req_path_in_dir("/tmp/vm1.sock", "/tmp/", &e), 0);
	assert_int_equal(req_path_in_dir("/tmp/vms/a.sock", "/tmp", &e), 0);
	assert_int_equal(req_path_in_dir("/etc/x.sock", "/", &e), 0);
	/* a sibling sharing the name as a prefix is not inside */
	assert_int_equal(req_path_in_dir("/tmpfoo/x.sock", "/tmp", &e), -EACCES);
	assert_contains(e.msg, "not in the socket directory /tmp");
	assert_contains(e.msg, "VIRTIOFWD_SOCKET_DIR");
	assert_int_equal(req_path_in_dir("/tmp", "/tmp", &e), -EACCES);
	assert_int_equal(req_path_in_dir("/tmp/", "/tmp", &e), -EACCES);
	assert_int_equal(req_path_in_dir("/run/systemd/journal/socket", "/tmp", &e), -EACCES);
}

static void test_pci(void **state)
{
	Virtioforwarder__PciAddress a;
	struct req_err e;
	char out[16];

	(void)state;
	a = pci(0, 5, 8, 1);
	assert_int_equal(req_pci(&a, out, sizeof(out), &e), 0);
	assert_string_equal(out, "0000:05:08.1");
	a = pci(0xffff, 0xff, 0x1f, 7);
	assert_int_equal(req_pci(&a, out, sizeof(out), &e), 0);
	assert_string_equal(out, "ffff:ff:1f.7");
	a = pci(0x10000, 0, 0, 0);
	assert_int_equal(req_pci(&a, out, sizeof(out), &e), -EINVAL);
	assert_contains(e.msg, "domain=65536");
	a = pci(0, 0x100, 0, 0);
	assert_int_equal(req_pci(&a, out, sizeof(out), &e), -EINVAL);
	a = pci(0, 0, 0x20, 0);
	assert_int_equal(req_pci(&a, out, sizeof(out), &e), -EINVAL);
	a = pci(0, 0, 0, 8);
	assert_int_equal(req_pci(&a, out, sizeof(out), &e), -EINVAL);
	a = pci(UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX);
	assert_int_equal(req_pci(&a, out, sizeof(out), &e), -EINVAL);
}

static void test_vdev_and_same_dev(void **state)
{
	struct req_err e;

	(void)state;
	assert_int_equal(req_vdev("net_memif0,role=client,id=0", &e), 0);
	assert_int_equal(req_vdev("net_", &e), -EINVAL);
	assert_int_equal(req_vdev("eth0", &e), -EINVAL);
	assert_int_equal(req_vdev("net_tap0,iface=a b", &e), -EINVAL);
	assert_true(req_same_dev("0000:05:08.1", "05:08.1"));
	assert_true(req_same_dev("0000:0A:08.1", "0000:0a:08.1"));
	assert_false(req_same_dev("0000:05:08.1", "0000:05:08.2"));
	assert_true(req_same_dev("net_memif1,role=client,id=0", "net_memif1"));
	assert_false(req_same_dev("net_memif1,role=client", "net_memif10,role=client"));
	assert_false(req_same_dev("net_memif1", "0000:05:08.1"));
}

/* A request built like a client's; n addresses from addrs. */
static PortRequest port_req(Virtioforwarder__PortControlRequest__Op op,
			    Virtioforwarder__PciAddress **addrs, size_t n)
{
	PortRequest r = VIRTIOFORWARDER__PORT_CONTROL_REQUEST__INIT;

	r.op = op;
	r.pci_addrs = addrs;
	r.n_pci_addrs = n;
	return r;
}

static void test_port_add_remove(void **state)
{
	Virtioforwarder__PciAddress a = pci(0, 5, 8, 1), b = pci(0, 5, 8, 2);
	Virtioforwarder__PciAddress *one[] = { &a }, *two[] = { &a, &b };
	char *vdev[] = { "net_memif1,role=client" };
	struct req_port p;
	struct req_err e;
	PortRequest r;

	(void)state;
	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD, one, 1);
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "ADD needs virtio_id");
	r.has_virtio_id = true;
	r.virtio_id = 3;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_int_equal(p.id, 3);
	assert_string_equal(p.dev, "0000:05:08.1");
	assert_true(p.conditional);          /* the wire default */
	r.has_conditional = true;
	r.conditional = false;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_false(p.conditional);
	r.virtio_id = 64;
	assert_int_equal(req_port(&r, false, &p, &e), -ERANGE);
	r.virtio_id = UINT32_MAX;
	assert_int_equal(req_port(&r, false, &p, &e), -ERANGE);
	r.virtio_id = 3;
	r.n_pci_addrs = 0;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "ADD needs the VF's PCI address");
	r.vdev = vdev;
	r.n_vdev = 1;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_string_equal(p.dev, "net_memif1,role=client");
	assert_int_equal(p.n_members, 0);
	r.pci_addrs = one;
	r.n_pci_addrs = 1;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "both a PCI address and a vdev");

	/* bonds */
	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD, two, 2);
	r.has_virtio_id = true;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "without a bond name");
	r.name = "bond0";
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	r.n_pci_addrs = 1;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "at least two");

	/* REMOVE: the device is optional */
	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE, NULL, 0);
	r.has_virtio_id = true;
	r.virtio_id = 63;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_string_equal(p.dev, "");
}

static void test_port_bonds(void **state)
{
	Virtioforwarder__PciAddress a = pci(0, 5, 8, 1), b = pci(0, 5, 8, 2), bad = pci(0, 0x100, 0, 0);
	Virtioforwarder__PciAddress *addrs[VFWD_BOND_MAX_MEMBERS + 1];
	char *vdevs[] = { "net_tap0,iface=t0", "net_tap1,iface=t1" }, *twice[] = { "net_tap0",
									    "net_tap0,iface=x" };
	char name[VFWD_BOND_NAME_MAX + 2], shown[256];
	struct req_port p;
	struct req_err e;
	PortRequest r;

	(void)state;
	addrs[0] = &a;
	addrs[1] = &b;
	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD, addrs, 2);
	r.has_virtio_id = true;
	r.virtio_id = 7;
	r.name = "bond0";
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_string_equal(p.dev, "bond0");
	assert_int_equal(p.n_members, 2);
	assert_string_equal(p.members[0], "0000:05:08.1");
	assert_string_equal(p.members[1], "0000:05:08.2");
	assert_int_equal(p.mode, REQ_BOND_MODE_DEFAULT);
	assert_string_equal(req_port_show(&p, shown, sizeof(shown)),
			    "bond bond0 of 0000:05:08.1, 0000:05:08.2");
	r.has_mode = true;
	r.mode = 2;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_int_equal(p.mode, 2);
	r.mode = 4;
	assert_int_equal(req_port(&r, false, &p, &e), -EOPNOTSUPP);
	assert_contains(e.msg, "802.3ad");
	r.mode = 7;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "bond mode 7 does not exist");
	r.has_mode = false;

	/* Members: valid, different, at most VFWD_BOND_MAX_MEMBERS. */
	addrs[1] = &a;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "bond0: 0000:05:08.1 given twice");
	addrs[1] = &bad;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "bus=256");
	for (int i = 0; i <= VFWD_BOND_MAX_MEMBERS; i++)
		addrs[i] = &a;
	r.n_pci_addrs = VFWD_BOND_MAX_MEMBERS + 1;
	assert_int_equal(req_port(&r, false, &p, &e), -E2BIG);
	addrs[1] = &b;

	/* vdev members (our extension), after the PCI addresses */
	r.n_pci_addrs = 0;
	r.vdev = vdevs;
	r.n_vdev = 2;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_string_equal(p.members[1], "net_tap1,iface=t1");
	assert_string_equal(req_port_show(&p, shown, sizeof(shown)),
			    "bond bond0 of net_tap0, net_tap1");
	r.n_pci_addrs = 1;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_int_equal(p.n_members, 3);
	assert_string_equal(p.members[0], "0000:05:08.1");
	assert_string_equal(p.members[2], "net_tap1,iface=t1");
	r.vdev = twice;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "net_tap0,iface=x given twice");
	r.n_pci_addrs = 0;
	r.name = NULL;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "2 vdevs without a bond name");
	r.n_pci_addrs = 1;
	r.n_vdev = 1;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "both a PCI address and a vdev");
	r.vdev = vdevs;
	r.n_vdev = 2;

	/* Names: they must not pass for a PCI address or a vdev. */
	r.name = "";
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "empty");
	r.name = "net_bond0";
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "starts with net_");
	r.name = "05:08.1";
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "only letters, digits");
	r.name = "a,mode=2";
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	memset(name, 'b', sizeof(name));
	name[VFWD_BOND_NAME_MAX] = '\0';
	r.name = name;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	name[VFWD_BOND_NAME_MAX] = 'b';
	name[VFWD_BOND_NAME_MAX + 1] = '\0';
	assert_int_equal(req_port(&r, false, &p, &e), -ENAMETOOLONG);
	assert_int_equal(req_bond_name("Bond-1.a_b", &e), 0);

	/* Removals find a bond by name and members, whatever its mode. */
	r.name = "bond0";
	r.op = VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE;
	r.has_mode = true;
	r.mode = 4;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_int_equal(p.mode, -1);
	r.n_vdev = 0;
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	assert_contains(e.msg, "at least two");
	r.op = VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD_SOCK;
	r.n_vdev = 2;
	r.n_pci_addrs = 0;
	r.vhost_path = "/tmp/vm1.sock";
	r.mode = 1;
	assert_int_equal(req_port(&r, true, &p, &e), 0);
	assert_int_equal(p.n_members, 2);
	assert_int_equal(p.mode, 1);
}

/* A relay's VF strings (relay.h) against requests. */
static void test_port_matching(void **state)
{
	static const char *const bond = "b0,mode=1,member=net_tap0,member=0000:05:08.2";
	Virtioforwarder__PciAddress a = pci(0, 5, 8, 2), c = pci(0, 5, 8, 3);
	Virtioforwarder__PciAddress *one[] = { &a }, *other[] = { &c };
	char *vd[] = { "net_tap0,iface=t0" }, *vd1[] = { "net_tap1" };
	struct req_port p;
	struct req_err e;
	PortRequest r;

	(void)state;
	/* a single device */
	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD, one, 1);
	r.has_virtio_id = true;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_true(req_port_is(&p, "0000:05:08.2"));
	assert_false(req_port_is(&p, bond));
	assert_true(req_port_overlaps(&p, bond));           /* a member */
	assert_false(req_port_overlaps(&p, "0000:05:08.3"));
	assert_false(req_port_overlaps(&p, "b1,mode=1,member=net_tap0,member=0000:05:08.1"));

	/* the bond: name, members in any order, mode */
	r.name = "b0";
	r.n_pci_addrs = 1;
	r.vdev = vd;
	r.n_vdev = 1;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_true(req_port_is(&p, bond));
	assert_true(req_port_is(&p, "b0,mode=1,member=0000:05:08.2,member=net_tap0"));
	assert_false(req_port_is(&p, "b0,mode=2,member=net_tap0,member=0000:05:08.2"));
	assert_false(req_port_is(&p, "b0,mode=1,member=net_tap0,member=0000:05:08.2,"
				 "member=net_tap9"));
	assert_false(req_port_is(&p, "b1,mode=1,member=net_tap0,member=0000:05:08.2"));
	assert_false(req_port_is(&p, "0000:05:08.2"));
	assert_true(req_port_overlaps(&p, "0000:05:08.2"));
	assert_true(req_port_overlaps(&p, "net_tap0,iface=zz"));
	assert_true(req_port_overlaps(&p, "b0,mode=1,member=net_tap7,member=net_tap8"));
	assert_false(req_port_overlaps(&p, "b1,mode=1,member=net_tap7,member=net_tap8"));
	assert_false(req_port_overlaps(&p, "net_memif0,role=client,socket=/tmp/x:y"));
	/* other members, or a removal that does not care about the mode */
	r.pci_addrs = other;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_false(req_port_is(&p, bond));
	r.pci_addrs = one;
	r.vdev = vd1;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_false(req_port_is(&p, bond));
	r.vdev = vd;
	r.op = VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE;
	r.has_mode = true;
	r.mode = 2;
	assert_int_equal(req_port(&r, false, &p, &e), 0);
	assert_true(req_port_is(&p, bond));
}

static void test_port_sockets(void **state)
{
	Virtioforwarder__PciAddress a = pci(0, 5, 8, 1), bad = pci(0, 5, 0x20, 1);
	Virtioforwarder__PciAddress *one[] = { &a }, *wrong[] = { &bad };
	struct req_port p;
	struct req_err e;
	PortRequest r;

	(void)state;
	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD_SOCK, one, 1);
	r.vhost_path = "/tmp/vm1.sock";
	assert_int_equal(req_port(&r, false, &p, &e), -EPERM);
	assert_contains(e.msg, "VIRTIOFWD_DYNAMIC_SOCKETS");
	assert_int_equal(req_port(&r, true, &p, &e), 0);
	assert_string_equal(p.path, "/tmp/vm1.sock");
	/* virtio_id is ignored by socket operations, even out of range */
	r.has_virtio_id = true;
	r.virtio_id = 1000;
	assert_int_equal(req_port(&r, true, &p, &e), 0);
	r.vhost_path = "vm1.sock";
	assert_int_equal(req_port(&r, true, &p, &e), -EINVAL);
	r.vhost_path = NULL;
	assert_int_equal(req_port(&r, true, &p, &e), -EINVAL);
	assert_contains(e.msg, "ADD_SOCK needs vhost_path");
	r.vhost_path = "/tmp/vm1.sock";
	r.pci_addrs = wrong;
	assert_int_equal(req_port(&r, true, &p, &e), -EINVAL);
	assert_contains(e.msg, "slot=32");
	r.n_pci_addrs = 0;
	assert_int_equal(req_port(&r, true, &p, &e), -EINVAL);

	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE_SOCK, NULL, 0);
	r.vhost_path = "/tmp/vm1.sock";
	assert_int_equal(req_port(&r, true, &p, &e), 0);
	assert_int_equal(req_port(&r, false, &p, &e), -EPERM);

	/* QUERY_PCI works with static sockets too */
	r = port_req(VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__QUERY_PCI, NULL, 0);
	assert_int_equal(req_port(&r, false, &p, &e), -EINVAL);
	r.vhost_path = "/tmp/virtio-forwarder1.sock";
	assert_int_equal(req_port(&r, false, &p, &e), 0);

	r.op = (Virtioforwarder__PortControlRequest__Op)5;
	assert_int_equal(req_port(&r, true, &p, &e), -EINVAL);
	assert_contains(e.msg, "unknown op 5");
}

static void test_stats(void **state)
{
	Virtioforwarder__StatsRequest r = VIRTIOFORWARDER__STATS_REQUEST__INIT;
	uint32_t ids[VFWD_MAX_RELAYS + 1] = { 0 };
	struct req_stats q;
	struct req_err e;

	(void)state;
	assert_int_equal(req_stats(&r, &q, &e), 0);
	assert_true(q.all);
	assert_true(q.include_inactive);     /* the wire default */
	assert_int_equal(q.delay_ms, 0);
	ids[0] = 2;
	ids[1] = 63;
	r.relay = ids;
	r.n_relay = 2;
	r.has_delay = true;
	r.delay = REQ_MAX_DELAY_MS;
	r.has_include_inactive = true;
	r.include_inactive = false;
	assert_int_equal(req_stats(&r, &q, &e), 0);
	assert_false(q.all);
	assert_true(q.want[2] && q.want[63] && !q.want[0]);
	assert_false(q.include_inactive);
	r.delay = REQ_MAX_DELAY_MS + 1;
	assert_int_equal(req_stats(&r, &q, &e), -EINVAL);
	assert_contains(e.msg, "10000 ms maximum");
	r.delay = 0;
	ids[1] = 64;
	assert_int_equal(req_stats(&r, &q, &e), -ERANGE);
	ids[1] = UINT32_MAX;
	assert_int_equal(req_stats(&r, &q, &e), -ERANGE);
	r.n_relay = VFWD_MAX_RELAYS + 1;
	assert_int_equal(req_stats(&r, &q, &e), -E2BIG);
}

static void test_pins(void **state)
{
	Virtioforwarder__CoreSchedRequest r = VIRTIOFORWARDER__CORE_SCHED_REQUEST__INIT;
	Virtioforwarder__RelayCPU m[2] = { VIRTIOFORWARDER__RELAY_CPU__INIT,
					    VIRTIOFORWARDER__RELAY_CPU__INIT };
	Virtioforwarder__RelayCPU *list[] = { &m[0], &m[1] };
	struct cfg_cpuset workers = { { 0 } };
	struct req_pin pins[VFWD_MAX_RELAYS];
	struct req_err e;
	size_t n;

	(void)state;
	cfg_cpuset_add(&workers, 1);
	cfg_cpuset_add(&workers, 2);
	r.op = VIRTIOFORWARDER__CORE_SCHED_REQUEST__OP__UPDATE;
	r.relay_cpu_map = list;
	r.n_relay_cpu_map = 2;
	m[0].relay_number = 0;
	m[0].vf2virtio_cpu = 1;
	m[0].virtio2vf_cpu = 2;
	m[1].relay_number = 5;
	m[1].vf2virtio_cpu = 2;
	m[1].virtio2vf_cpu = -1;
	assert_int_equal(req_pins(&r, &workers, pins, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pins[0].cpu[VFWD_VF_TO_VM], 1);
	assert_int_equal(pins[0].cpu[VFWD_VM_TO_VF], 2);
	assert_int_equal(pins[1].relay, 5);
	assert_int_equal(pins[1].cpu[VFWD_VM_TO_VF], -1);
	m[1].virtio2vf_cpu = 0;
	assert_int_equal(req_pins(&r, &workers, pins, &n, &e), -EINVAL);
	assert_contains(e.msg, "CPU 0 is not a worker CPU");
	assert_contains(e.msg, "worker CPUs are 1,2");
	assert_int_equal(n, 0);
	m[1].virtio2vf_cpu = -2;
	assert_int_equal(req_pins(&r, &workers, pins, &n, &e), -EINVAL);
	m[1].virtio2vf_cpu = 2;
	m[1].relay_number = 64;
	assert_int_equal(req_pins(&r, &workers, pins, &n, &e), -ERANGE);
	m[1].relay_number = -1;
	assert_int_equal(req_pins(&r, &workers, pins, &n, &e), -ERANGE);
	m[1].relay_number = 0;
	assert_int_equal(req_pins(&r, &workers, pins, &n, &e), -EINVAL);
	assert_contains(e.msg, "appears twice");
}

/* The bytes a client sends: what protobuf-c refuses never reaches
 * req_port, and what it accepts is checked there. */
static void test_wire(void **state)
{
	/* op=ADD, virtio_id=4294967295 (a varint of 5 bytes) */
	static const uint8_t big_id[] = { 0x08, 0x00, 0x18, 0xff, 0xff, 0xff, 0xff, 0x0f };
	/* op=ADD, pci_addrs={domain=0, bus=5, slot=8} (function missing) */
	static const uint8_t no_fn[] = { 0x08, 0x00, 0x12, 0x06, 0x08, 0x00, 0x10, 0x05,
					 0x18, 0x08 };
	static const uint8_t garbage[] = "garbag\xc3\xa9";
	const ProtobufCMessageDescriptor *d = &virtioforwarder__port_control_request__descriptor;
	ProtobufCMessage *m;
	struct req_port p;
	struct req_err e;

	(void)state;
	assert_null(protobuf_c_message_unpack(d, NULL, 0, (const uint8_t *)""));
	assert_null(protobuf_c_message_unpack(d, NULL, sizeof(garbage) - 1, garbage));
	assert_null(protobuf_c_message_unpack(d, NULL, sizeof(no_fn), no_fn));
	assert_null(protobuf_c_message_unpack(d, NULL, sizeof(big_id) - 2, big_id));
	m = protobuf_c_message_unpack(d, NULL, sizeof(big_id), big_id);
	assert_non_null(m);
	assert_int_equal(req_port((PortRequest *)m, false, &p, &e), -ERANGE);
	assert_contains(e.msg, "virtio_id 4294967295");
	protobuf_c_message_free_unpacked(m, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_id),
		cmocka_unit_test(test_vhost_path),
		cmocka_unit_test(test_path_in_dir),
		cmocka_unit_test(test_pci),
		cmocka_unit_test(test_vdev_and_same_dev),
		cmocka_unit_test(test_port_add_remove),
		cmocka_unit_test(test_port_bonds),
		cmocka_unit_test(test_port_matching),
		cmocka_unit_test(test_port_sockets),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
