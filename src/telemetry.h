/* telemetry: relay state and counters through DPDK telemetry, so that
 * dpdk-telemetry.py and telemetry exporters can read them.
 *
 *   /virtio_forwarder/info          version, relay limit, workers
 *   /virtio_forwarder/relays        ids of relays in use
 *   /virtio_forwarder/relay,<id>    one relay: state, counters, pool use
 *   /virtio_forwarder/workers       per worker: lcore, directions, load
 */
#ifndef VFWD_TELEMETRY_H
#define VFWD_TELEMETRY_H

int telem_register(void);

#endif
