/* Fuzz target: the control requests as the daemon gets them (src/ctl.c):
 * raw bytes unpacked by protobuf-c, then validated by src/ctl_req.c. The
 * first byte picks the message type (and a few flags), the rest is the
 * wire message. What validation accepts must be usable as documented in
 * ctl_req.h; what it refuses must carry an errno and a message. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_req.h"
#include "fuzz_common.h"

#define MAX_REQUEST (64 * 1024) /* CTL_MAX_REQUEST: larger are refused unread */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int rc, const struct req_err *err)
{
	FUZZ_CHECK(rc < 0 && err->code == rc);
	FUZZ_TERMINATED(err->msg);
	FUZZ_CHECK(err->msg[0] != '\0');
}

/* Unpacked messages pack again (the replies and tools go through the same
 * code) to the size announced, and unpack again. Except with unknown
 * fields, which protobuf-c keeps and packs as they came: it accepts field
 * number 0 from a non-minimal varint key (0x82 0x00) but refuses the
 * 0x02 it packs it as (regressions/ctl_req/unknown-field-0). The daemon
 * ignores unknown fields and never packs a request. */
static bool has_unknown_fields(const ProtobufCMessage *m)
{
	if (m->n_unknown_fields)
		return true;
	for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
		const char *at = (const char *)m + f->offset;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *sub = *(ProtobufCMessage *const *const *)at;

			for (size_t k = 0; k < count; k++)
				if (has_unknown_fields(sub[k]))
					return true;
		} else if (*(ProtobufCMessage *const *)at &&
			   has_unknown_fields(*(ProtobufCMessage *const *)at)) {
			return true;
		}
	}
	return false;
}

static void repack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	ProtobufCMessage *again;

	FUZZ_CHECK(buf);
	FUZZ_CHECK(protobuf_c_message_pack(m, buf) == n);
	/* Unknown fields anywhere, nested messages included. */
	if (!has_unknown_fields(m)) {
		again = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
		FUZZ_CHECK(again);
		protobuf_c_message_free_unpacked(again, NULL);
	}
	free(buf);
}

/* The relay table's string for a VF of p (relay.c, bond_show). */
static void vf_string(const struct req_port *p, char *out, size_t len)
{
	size_t at;

	if (!p->n_members) {
		snprintf(out, len, "%s", p->dev);
		return;
	}
	at = (size_t)snprintf(out, len, "%s,mode=%d", p->dev, p->mode >= 0 ? p->mode : 1);
	for (unsigned i = 0; i < p->n_members && at < len; i++)
		at += (size_t)snprintf(out + at, len - at, ",member=%.*s",
				       (int)strcspn(p->members[i], ","), p->members[i]);
	FUZZ_CHECK(at < len);
}

static void port(const uint8_t *data, size_t size, bool dynamic)
{
	static struct req_port p; /* large: not on the stack */
	static char vf[VFWD_BOND_MAX_MEMBERS * (VFWD_DEVARGS_MAX + 16) + 128];
	Virtioforwarder__PortControlRequest *r;
	struct req_err err = { 0, "" };
	char shown[VFWD_DEVARGS_MAX], tiny[6];
	int rc;

	r = virtioforwarder__port_control_request__unpack(NULL, size, data);
	if (!r)
		return;
	repack(&r->base);
	rc = req_port(r, dynamic, &p, &err);
	if (rc != 0) {
		check_refusal(rc, &err);
		goto out;
	}
	FUZZ_CHECK(p.op == r->op && p.op <= VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__QUERY_PCI);
	FUZZ_TERMINATED(p.dev);
	FUZZ_TERMINATED(p.path);
	FUZZ_CHECK(p.id < VFWD_MAX_RELAYS);
	FUZZ_CHECK(p.n_members <= VFWD_BOND_MAX_MEMBERS && p.n_members != 1);
	if (p.path[0]) {
		FUZZ_CHECK(req_vhost_path(p.path, &err) == 0);
		/* In the directory, or refused: never a sibling that shares
		 * its name as a prefix ("/tmp/sock" vs "/tmp/sockets/x"). */
		if (req_path_in_dir(p.path, "/tmp/sock", &err) == 0)
			FUZZ_CHECK(strncmp(p.path, "/tmp/sock/", 10) == 0 && p.path[10] != '\0');
		else
			check_refusal(-EACCES, &err);
	}
	if (p.op == VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD ||
	    p.op == VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD_SOCK)
		FUZZ_CHECK(p.dev[0] != '\0');
	for (unsigned i = 0; i < p.n_members; i++) {
		FUZZ_TERMINATED(p.members[i]);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(!req_same_dev(p.members[i], p.members[j]));
	}
	if (p.n_members)
		FUZZ_CHECK(req_bond_name(p.dev, &err) == 0);
	/* A VF attached as p names itself and overlaps itself. */
	if (p.dev[0]) {
		vf_string(&p, vf, sizeof(vf));
		FUZZ_CHECK(req_port_is(&p, vf));
		FUZZ_CHECK(req_port_overlaps(&p, vf));
	}
	req_port_show(&p, shown, sizeof(shown));
	FUZZ_TERMINATED(shown);
	memset(tiny, 'x', sizeof(tiny));
	req_port_show(&p, tiny, sizeof(tiny));
	FUZZ_TERMINATED(tiny);
out:
	virtioforwarder__port_control_request__free_unpacked(r, NULL);
}

static void stats(const uint8_t *data, size_t size)
{
	Virtioforwarder__StatsRequest *r;
	struct req_stats s;
	struct req_err err = { 0, "" };
	int rc;

	r = virtioforwarder__stats_request__unpack(NULL, size, data);
	if (!r)
		return;
	repack(&r->base);
	rc = req_stats(r, &s, &err);
	if (rc != 0) {
		check_refusal(rc, &err);
	} else {
		unsigned n = 0;

		FUZZ_CHECK(s.delay_ms <= REQ_MAX_DELAY_MS);
		FUZZ_CHECK(s.all == (r->n_relay == 0));
		for (unsigned i = 0; i < VFWD_MAX_RELAYS; i++)
			n += s.want[i];
		FUZZ_CHECK(n <= r->n_relay);
		for (size_t i = 0; i < r->n_relay; i++)
			FUZZ_CHECK(r->relay[i] < VFWD_MAX_RELAYS && s.want[r->relay[i]]);
	}
	virtioforwarder__stats_request__free_unpacked(r, NULL);
}

static void core_sched(const uint8_t *data, size_t size, uint8_t workers_bits)
{
	Virtioforwarder__CoreSchedRequest *r;
	struct req_pin pins[VFWD_MAX_RELAYS];
	struct cfg_cpuset workers;
	struct req_err err = { 0, "" };
	size_t n = 99;
	int rc;

	memset(&workers, 0, sizeof(workers));
	for (unsigned cpu = 0; cpu < 8; cpu++)
		if (workers_bits & (1u << cpu))
			cfg_cpuset_add(&workers, cpu);
	r = virtioforwarder__core_sched_request__unpack(NULL, size, data);
	if (!r)
		return;
	repack(&r->base);
	rc = req_pins(r, &workers, pins, &n, &err);
	if (rc != 0) {
		check_refusal(rc, &err);
		FUZZ_CHECK(n == 0);
	} else {
		bool seen[VFWD_MAX_RELAYS] = { false };

		FUZZ_CHECK(n == r->n_relay_cpu_map && n <= VFWD_MAX_RELAYS);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(pins[i].relay < VFWD_MAX_RELAYS && !seen[pins[i].relay]);
			seen[pins[i].relay] = true;
			for (int d = 0; d < VFWD_NB_DIRS; d++)
				FUZZ_CHECK(pins[i].cpu[d] == -1 ||
					   (pins[i].cpu[d] >= 0 &&
					    cfg_cpuset_has(&workers, (unsigned)pins[i].cpu[d])));
		}
	}
	virtioforwarder__core_sched_request__free_unpacked(r, NULL);
}

static void config(const uint8_t *data, size_t size)
{
	Virtioforwarder__ConfigRequest *r;

	/* no fields: nothing to validate, only the unpacking */
	r = virtioforwarder__config_request__unpack(NULL, size, data);
	if (!r)
		return;
	repack(&r->base);
	virtioforwarder__config_request__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel;

	if (size < 1 || size - 1 > MAX_REQUEST)
		return -1;
	sel = data[0];
	data++;
	size--;
	switch (sel & 3) {
	case 0: port(data, size, sel & 4); break;
	case 1: stats(data, size); break;
	case 2: core_sched(data, size, (uint8_t)(sel >> 2 | 1)); break;
	default: config(data, size); break;
	}
	return 0;
}
