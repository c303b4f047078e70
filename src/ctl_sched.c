/* Core scheduling service (CoreSchedRequest -> CoreSchedResponse), for
 * the load balancer and virtioforwarder_core_pinner: GET_EAL_CORES lists
 * the worker CPUs; UPDATE moves relay directions to other workers through
 * relay_pin(), which hands a direction over without losing or reordering
 * a packet. A CPU that is not a worker refuses the whole request. */
#include <errno.h>
#include <stdio.h>

#include "ctl.h"
#include "log.h"
#include "relay.h"
#include "worker.h"

typedef Virtioforwarder__CoreSchedRequest SchedRequest;
typedef Virtioforwarder__CoreSchedResponse SchedResponse;

static struct {
	SchedResponse msg;
	uint32_t cores[WORKER_MAX];
} reply;

static const ProtobufCMessage *sched_ok(void)
{
	virtioforwarder__core_sched_response__init(&reply.msg);
	reply.msg.status = VIRTIOFORWARDER__CORE_SCHED_RESPONSE__STATUS__OK;
	return &reply.msg.base;
}

static const ProtobufCMessage *sched_update(const SchedRequest *r, struct req_err *err)
{
	struct req_pin pins[VFWD_MAX_RELAYS];
	struct cfg_cpuset workers = { { 0 } };
	char msg[VFWD_ERR_MAX];
	size_t n;

	for (unsigned w = 0; w < worker_count(); w++)
		cfg_cpuset_add(&workers, worker_lcore(w));
	if (req_pins(r, &workers, pins, &n, err) != 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int rc = relay_pin(pins[i].relay, pins[i].cpu[VFWD_VF_TO_VM],
				   pins[i].cpu[VFWD_VM_TO_VF], msg, sizeof(msg));

		if (rc != 0) {
			req_fail(err, rc, "relay %u: %s", pins[i].relay, msg);
			return NULL;
		}
		VLOG_INFO("core sched: relay %u pinned: VF->VM CPU %d, VM->VF CPU %d",
			  pins[i].relay, pins[i].cpu[VFWD_VF_TO_VM], pins[i].cpu[VFWD_VM_TO_VF]);
	}
	return sched_ok();
}

static const ProtobufCMessage *sched_handle(const ProtobufCMessage *msg,
					    const struct vfwd_config *cfg, struct req_err *err)
{
	const SchedRequest *r = (const SchedRequest *)msg;

	(void)cfg;
	switch (r->op) {
	case VIRTIOFORWARDER__CORE_SCHED_REQUEST__OP__UPDATE:
		return sched_update(r, err);
	case VIRTIOFORWARDER__CORE_SCHED_REQUEST__OP__GET_EAL_CORES:
		sched_ok();
		for (unsigned w = 0; w < worker_count(); w++)
			reply.cores[w] = worker_lcore(w);
		reply.msg.eal_cores = reply.cores;
		reply.msg.n_eal_cores = worker_count();
		return &reply.msg.base;
	default:
		req_fail(err, -EINVAL, "unknown op %d: UPDATE=0, GET_EAL_CORES=1", (int)r->op);
		return NULL;
	}
}

static int sched_refused_status(int code)
{
	(void)code;
	return VIRTIOFORWARDER__CORE_SCHED_RESPONSE__STATUS__ERROR;
}

const struct ctl_service ctl_sched_service = {
	.name = "core sched",
	.request = &virtioforwarder__core_sched_request__descriptor,
	.reply = &virtioforwarder__core_sched_response__descriptor,
	.handle = sched_handle,
	.refused_status = sched_refused_status,
};
