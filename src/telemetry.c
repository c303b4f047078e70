#include "telemetry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "relay.h"
#include "version.h"
#include "worker.h"

static const char *const dir_key[VFWD_NB_DIRS] = { "vf_to_vm", "vm_to_vf" };

static int cmd_info(const char *cmd, const char *params, struct rte_tel_data *d)
{
	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "version", VFWD_VERSION);
	rte_tel_data_add_dict_string(d, "dpdk", rte_version());
	rte_tel_data_add_dict_u64(d, "max_relays", VFWD_MAX_RELAYS);
	rte_tel_data_add_dict_u64(d, "relays_in_use", relay_count());
	rte_tel_data_add_dict_u64(d, "workers", worker_count());
	return 0;
}

static int cmd_relays(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct relay_info info;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++)
		if (relay_get_info(id, &info) == 0 && info.in_use)
			rte_tel_data_add_array_int(d, (int)id);
	return 0;
}

static void add_counters(struct rte_tel_data *d, const struct relay_info *info, int dir)
{
	const struct dir_counters *c = &info->counters[dir];
	struct rte_tel_data *sub = rte_tel_data_alloc();

	if (!sub)
		return;
	rte_tel_data_start_dict(sub);
	rte_tel_data_add_dict_int(sub, "active", info->dir_active[dir]);
	rte_tel_data_add_dict_int(sub, "cpu", info->cpu[dir]);
	rte_tel_data_add_dict_u64(sub, "rx_pkts", c->rx_pkts);
	rte_tel_data_add_dict_u64(sub, "rx_bytes", c->rx_bytes);
	rte_tel_data_add_dict_u64(sub, "tx_pkts", c->tx_pkts);
	rte_tel_data_add_dict_u64(sub, "tx_bytes", c->tx_bytes);
	rte_tel_data_add_dict_u64(sub, "drop_full_pkts", c->drop_full_pkts);
	rte_tel_data_add_dict_u64(sub, "drop_full_bytes", c->drop_full_bytes);
	rte_tel_data_add_dict_u64(sub, "drop_unconnected_pkts", c->drop_unconn_pkts);
	rte_tel_data_add_dict_u64(sub, "drop_unconnected_bytes", c->drop_unconn_bytes);
	rte_tel_data_add_dict_u64(sub, "drop_oversize_pkts", c->drop_oversize_pkts);
	rte_tel_data_add_dict_u64(sub, "drop_oversize_bytes", c->drop_oversize_bytes);
	rte_tel_data_add_dict_u64(sub, "busy_cycles", c->busy_cycles);
	rte_tel_data_add_dict_u64(sub, "polls", c->polls);
	rte_tel_data_add_dict_u64(sub, "busy_polls", c->busy_polls);
	rte_tel_data_add_dict_u64(sub, "held_pkts", info->held[dir]);
	rte_tel_data_add_dict_container(d, dir_key[dir], sub, 0);
}

static int cmd_relay(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct relay_info info;
	char *end;
	unsigned long id;

	RTE_SET_USED(cmd);
	if (!params || !*params)
		return -EINVAL;
	errno = 0;
	id = strtoul(params, &end, 10);
	if (errno || *end || id >= VFWD_MAX_RELAYS || relay_get_info((unsigned)id, &info) != 0)
		return -EINVAL;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "id", info.id);
	rte_tel_data_add_dict_int(d, "in_use", info.in_use);
	rte_tel_data_add_dict_string(d, "vf", info.vf);
	rte_tel_data_add_dict_string(d, "vf_active", info.vf_active);
	rte_tel_data_add_dict_int(d, "vf_attached", info.vf_attached);
	rte_tel_data_add_dict_int(d, "vf_started", info.vf_started);
	rte_tel_data_add_dict_int(d, "vf_link_up", info.vf_link_up);
	rte_tel_data_add_dict_string(d, "socket", info.socket);
	rte_tel_data_add_dict_int(d, "vm_connected", info.vm_connected);
	rte_tel_data_add_dict_int(d, "vid", info.vid);
	rte_tel_data_add_dict_int(d, "numa_node", info.numa_node);
	rte_tel_data_add_dict_u64(d, "guest_rx_queues", info.guest_rx_queues);
	rte_tel_data_add_dict_u64(d, "guest_tx_queues", info.guest_tx_queues);
	rte_tel_data_add_dict_u64(d, "vf_queues", info.vf_queues);
	rte_tel_data_add_dict_u64(d, "pool_size", info.pool_size);
	rte_tel_data_add_dict_u64(d, "pool_in_use", info.pool_in_use);
	rte_tel_data_add_dict_u64(d, "vf_rx_missed", info.vf_rx_missed);
	for (int dir = 0; dir < VFWD_NB_DIRS; dir++)
		add_counters(d, &info, dir);
	return 0;
}

static int cmd_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	uint64_t now = rte_rdtsc();

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	for (unsigned w = 0; w < worker_count(); w++) {
		struct worker_info wi;
		struct rte_tel_data *sub = rte_tel_data_alloc();
		char key[16];

		if (!sub)
			break;
		worker_get_info(w, &wi);
		rte_tel_data_start_dict(sub);
		rte_tel_data_add_dict_u64(sub, "lcore", wi.lcore);
		rte_tel_data_add_dict_u64(sub, "directions", wi.nb_dirs);
		rte_tel_data_add_dict_u64(sub, "loops", wi.loops);
		rte_tel_data_add_dict_u64(sub, "busy_cycles", wi.busy_cycles);
		rte_tel_data_add_dict_u64(sub, "total_cycles", wi.tsc_start ? now - wi.tsc_start : 0);
		snprintf(key, sizeof(key), "%u", wi.lcore);
		rte_tel_data_add_dict_container(d, key, sub, 0);
	}
	return 0;
}

int telem_register(void)
{
	return rte_telemetry_register_cmd("/virtio_forwarder/info", cmd_info,
			"virtio-forwarder version and limits. No parameters") |
	       rte_telemetry_register_cmd("/virtio_forwarder/relays", cmd_relays,
			"Ids of the relays in use. No parameters") |
	       rte_telemetry_register_cmd("/virtio_forwarder/relay", cmd_relay,
			"State and counters of one relay. Parameter: relay id") |
	       rte_telemetry_register_cmd("/virtio_forwarder/workers", cmd_workers,
			"Worker lcores and their load. No parameters");
}
