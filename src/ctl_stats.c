/* Stats service: every relay counter (StatsRequest -> StatsResponse), and
 * rates over the request's own `delay` window: two snapshots this request
 * takes itself, so that no client's query changes what another one sees
 * (counters are never reset, see stats.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>

#include "ctl.h"
#include "relay.h"

typedef Virtioforwarder__StatsRequest StatsRequest;
typedef Virtioforwarder__StatsResponse StatsResponse;
typedef Virtioforwarder__RelayState RelayState;

struct relay_out {
	RelayState rs;
	Virtioforwarder__RelayState__CPU cpu;
	Virtioforwarder__RelayState__VHOST vhost;
	Virtioforwarder__RelayState__VF vf;
	Virtioforwarder__RelayState__VFtoVM vf_to_vm;
	Virtioforwarder__RelayState__VMtoVF vm_to_vf;
};

static struct {
	StatsResponse msg;
	RelayState *list[VFWD_MAX_RELAYS];
	struct relay_out out[VFWD_MAX_RELAYS];
} reply;

/* The two snapshots: too large for a thread's stack. */
static struct relay_info before[VFWD_MAX_RELAYS], after[VFWD_MAX_RELAYS];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool wanted(const struct req_stats *q, unsigned id)
{
	return q->all ? after[id].in_use : q->want[id];
}

static bool relay_active(const struct relay_info *r)
{
	return r->dir_active[VFWD_VF_TO_VM] && r->dir_active[VFWD_VM_TO_VF];
}

/* Why a direction is or is not forwarding, in the order relay_apply()
 * decides it. */
static const char *dir_state(const struct relay_info *r, int d)
{
	if (!r->vm_connected)
		return r->socket_registered ? "waiting for the VM" : "no vhost-user socket";
	if (d == VFWD_VF_TO_VM) {
		if (r->dir_active[d])
			return "forwarding";
		if (!r->vf_attached)
			return "no VF";
		return r->vf_started ? "guest RX queues disabled" : "VF not started";
	}
	if (r->dir_active[d])
		return r->vf_started ? "forwarding" : "dropping: no VF";
	if (r->vf_started && !r->vf_link_up)
		return "VF link down";
	return "guest TX queues disabled";
}

static float rate(uint64_t now, uint64_t then, double dt)
{
	return dt > 0 && now > then ? (float)((double)(now - then) / dt) : 0.0f;
}

static void fill_relay(struct relay_out *o, unsigned id, double dt)
{
	const struct relay_info *a = &after[id], *b = &before[id];
	const struct dir_counters *c, *p;
	Virtioforwarder__RelayState__VFtoVM *f = &o->vf_to_vm;
	Virtioforwarder__RelayState__VMtoVF *m = &o->vm_to_vf;

	virtioforwarder__relay_state__init(&o->rs);
	virtioforwarder__relay_state__cpu__init(&o->cpu);
	virtioforwarder__relay_state__vhost__init(&o->vhost);
	virtioforwarder__relay_state__vf__init(&o->vf);
	virtioforwarder__relay_state__vfto_vm__init(f);
	virtioforwarder__relay_state__vmto_vf__init(m);
	o->rs.id = id;
	o->rs.active = relay_active(a);
	o->rs.socket_id = a->numa_node < 0 ? 0 : (uint32_t)a->numa_node;
	o->vhost.vhost_socket_name = (char *)a->socket;
	o->rs.vhost = &o->vhost;
	o->rs.vf_to_vm = f;
	o->rs.vm_to_vf = m;
	if (a->cpu[VFWD_VF_TO_VM] >= 0 || a->cpu[VFWD_VM_TO_VF] >= 0) {
		o->cpu.has_vf_to_vm = o->cpu.has_vm_to_vf = true;
		o->cpu.vf_to_vm = a->cpu[VFWD_VF_TO_VM];
		o->cpu.vm_to_vf = a->cpu[VFWD_VM_TO_VF];
		o->rs.cpu = &o->cpu;
	}
	if (a->vf_attached) {
		o->vf.pci_addr_str = (char *)a->vf;
		o->rs.vf = &o->vf;
	}

	f->active = a->dir_active[VFWD_VF_TO_VM];
	f->internal_state = (char *)dir_state(a, VFWD_VF_TO_VM);
	c = &a->counters[VFWD_VF_TO_VM];
	p = &b->counters[VFWD_VF_TO_VM];
	f->has_pkts_rx_from_vf = f->has_bytes_rx_from_vf = f->has_pkts_tx_to_vm =
		f->has_bytes_tx_to_vm = f->has_pkts_dropped_vm_queue_full =
		f->has_bytes_dropped_vm_queue_full = f->has_pkts_dropped_vm_not_connected =
		f->has_bytes_dropped_vm_not_connected = f->has_busy_cycles = true;
	f->pkts_rx_from_vf = c->rx_pkts;
	f->bytes_rx_from_vf = c->rx_bytes;
	f->pkts_tx_to_vm = c->tx_pkts;
	f->bytes_tx_to_vm = c->tx_bytes;
	f->pkts_dropped_vm_queue_full = c->drop_full_pkts;
	f->bytes_dropped_vm_queue_full = c->drop_full_bytes;
	f->pkts_dropped_vm_not_connected = c->drop_unconn_pkts;
	f->bytes_dropped_vm_not_connected = c->drop_unconn_bytes;
	f->busy_cycles = c->busy_cycles;
	f->has_pkts_dropped_oversize = f->has_bytes_dropped_oversize = true;
	f->pkts_dropped_oversize = c->drop_oversize_pkts;
	f->bytes_dropped_oversize = c->drop_oversize_bytes;
	f->pkt_rate_rx_from_vf = rate(c->rx_pkts, p->rx_pkts, dt);
	f->byte_rate_rx_from_vf = rate(c->rx_bytes, p->rx_bytes, dt);
	f->pkt_rate_tx_to_vm = rate(c->tx_pkts, p->tx_pkts, dt);
	f->byte_rate_tx_to_vm = rate(c->tx_bytes, p->tx_bytes, dt);

	m->active = a->dir_active[VFWD_VM_TO_VF];
	m->internal_state = (char *)dir_state(a, VFWD_VM_TO_VF);
	c = &a->counters[VFWD_VM_TO_VF];
	p = &b->counters[VFWD_VM_TO_VF];
	m->has_pkts_rx_from_vm = m->has_bytes_rx_from_vm = m->has_pkts_tx_to_vf =
		m->has_bytes_tx_to_vf = m->has_pkts_dropped_vf_queue_full =
		m->has_bytes_dropped_vf_queue_full = m->has_pkts_dropped_vf_not_connected =
		m->has_bytes_dropped_vf_not_connected = m->has_busy_cycles = true;
	m->pkts_rx_from_vm = c->rx_pkts;
	m->bytes_rx_from_vm = c->rx_bytes;
	m->pkts_tx_to_vf = c->tx_pkts;
	m->bytes_tx_to_vf = c->tx_bytes;
	m->pkts_dropped_vf_queue_full = c->drop_full_pkts;
	m->bytes_dropped_vf_queue_full = c->drop_full_bytes;
	m->pkts_dropped_vf_not_connected = c->drop_unconn_pkts;
	m->bytes_dropped_vf_not_connected = c->drop_unconn_bytes;
	m->busy_cycles = c->busy_cycles;
	m->has_pkts_dropped_oversize = m->has_bytes_dropped_oversize = true;
	m->pkts_dropped_oversize = c->drop_oversize_pkts;
	m->bytes_dropped_oversize = c->drop_oversize_bytes;
	m->pkt_rate_rx_from_vm = rate(c->rx_pkts, p->rx_pkts, dt);
	m->byte_rate_rx_from_vm = rate(c->rx_bytes, p->rx_bytes, dt);
	m->pkt_rate_tx_to_vf = rate(c->tx_pkts, p->tx_pkts, dt);
	m->byte_rate_tx_to_vf = rate(c->tx_bytes, p->tx_bytes, dt);
}

static const ProtobufCMessage *stats_handle(const ProtobufCMessage *msg,
					    const struct vfwd_config *cfg, struct req_err *err)
{
	struct req_stats q;
	double t0 = 0, dt = 0;

	(void)cfg;
	if (req_stats((const StatsRequest *)msg, &q, err) != 0)
		return NULL;
	if (q.delay_ms > 0) {
		t0 = now_s();
		for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
			relay_get_info(id, &before[id]);
		if (!ctl_sleep_ms(q.delay_ms)) {
			req_fail(err, -ESHUTDOWN, "virtio-forwarder is stopping");
			return NULL;
		}
	}
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		relay_get_info(id, &after[id]);
	if (q.delay_ms > 0)
		dt = now_s() - t0;
	else
		memcpy(before, after, sizeof(before));

	virtioforwarder__stats_response__init(&reply.msg);
	reply.msg.status = VIRTIOFORWARDER__STATS_RESPONSE__STATUS__OK;
	reply.msg.has_tsc_hz = true;
	reply.msg.tsc_hz = rte_get_tsc_hz();
	reply.msg.relay = reply.list;
	reply.msg.n_relay = 0;
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		if (!wanted(&q, id) || (!q.include_inactive && !relay_active(&after[id])))
			continue;
		fill_relay(&reply.out[reply.msg.n_relay], id, dt);
		reply.list[reply.msg.n_relay] = &reply.out[reply.msg.n_relay].rs;
		reply.msg.n_relay++;
	}
	return &reply.msg.base;
}

/* The established status codes (HTTP-like); error_code says more. */
static int stats_refused_status(int code)
{
	return code == -E2BIG ? VIRTIOFORWARDER__STATS_RESPONSE__STATUS__E2BIG :
	       code == -ENOMEM ? VIRTIOFORWARDER__STATS_RESPONSE__STATUS__ENOMEM :
	       VIRTIOFORWARDER__STATS_RESPONSE__STATUS__EBADR;
}

const struct ctl_service ctl_stats_service = {
	.name = "stats",
	.request = &virtioforwarder__stats_request__descriptor,
	.reply = &virtioforwarder__stats_response__descriptor,
	.handle = stats_handle,
	.refused_status = stats_refused_status,
};
