/* Config service (ConfigRequest -> ConfigResponse): the relay-to-CPU map
 * in force, one entry per relay in use (the static pins of the
 * configuration where they apply, the automatic or run-time choice
 * elsewhere). */
#include <errno.h>
#include <stdio.h>

#include "ctl.h"
#include "relay.h"

typedef Virtioforwarder__ConfigResponse ConfigResponse;

static struct {
	ConfigResponse msg;
	Virtioforwarder__RelayCPU map[VFWD_MAX_RELAYS];
	Virtioforwarder__RelayCPU *list[VFWD_MAX_RELAYS];
} reply;

static const ProtobufCMessage *config_handle(const ProtobufCMessage *msg,
					     const struct vfwd_config *cfg, struct req_err *err)
{
	struct relay_info info;

	(void)msg;
	(void)cfg;
	(void)err;
	virtioforwarder__config_response__init(&reply.msg);
	reply.msg.status = VIRTIOFORWARDER__CONFIG_RESPONSE__STATUS__OK;
	reply.msg.relay_cpu_map = reply.list;
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		Virtioforwarder__RelayCPU *m = &reply.map[reply.msg.n_relay_cpu_map];

		if (relay_get_info(id, &info) != 0 || !info.in_use)
			continue;
		virtioforwarder__relay_cpu__init(m);
		m->relay_number = (int32_t)id;
		m->vf2virtio_cpu = info.cpu[VFWD_VF_TO_VM];
		m->virtio2vf_cpu = info.cpu[VFWD_VM_TO_VF];
		reply.list[reply.msg.n_relay_cpu_map++] = m;
	}
	return &reply.msg.base;
}

/* Only a request that does not parse is refused. */
static int config_refused_status(int code)
{
	(void)code;
	return VIRTIOFORWARDER__CONFIG_RESPONSE__STATUS__EBADR;
}

const struct ctl_service ctl_config_service = {
	.name = "config",
	.request = &virtioforwarder__config_request__descriptor,
	.reply = &virtioforwarder__config_response__descriptor,
	.handle = config_handle,
	.refused_status = config_refused_status,
};
