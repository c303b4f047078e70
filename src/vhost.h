/* vhost: the VM side of a relay, on DPDK's vhost-user library (rte_vhost)
 * directly, so VMs take no ethdev ports.
 *
 *   vhost_check_socket_dir(cfg, err)   before start-up: refuse a socket directory
 *                                      that is missing or that any user may
 *                                      replace sockets in; warn for a shared
 *                                      sticky one such as /tmp
 *   vhost_setup(cfg)                   feature set (mrgbuf, offloads) and mode
 *   vhost_add_socket(path, err)        register + start a socket (server: create
 *                                      it, replace a stale one, set owner/mode;
 *                                      client: connect and keep reconnecting)
 *   vhost_remove_socket(path)          unregister; may call the relay's
 *                                      disconnect hook, so never call it with
 *                                      the relay lock held
 *   vm_source / vm_sink                the hot-path ends of a fwd_dir
 *
 * Connection events go to relay_vm_connected/_disconnected/_vring.
 */
#ifndef VFWD_VHOST_H
#define VFWD_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "worker.h"

/* Virtqueue index helpers: the guest's RX queue q is virtqueue 2q, its TX
 * queue q is 2q+1. VF->VM enqueues to RX queues, VM->VF dequeues from TX. */
#define VQ_IS_GUEST_TX(vq) (((vq) & 1) != 0)

int vhost_check_socket_dir(const struct vfwd_config *cfg, char *err, size_t errlen);
int vhost_setup(const struct vfwd_config *cfg);
int vhost_add_socket(const char *path, char *err, size_t errlen);
void vhost_remove_socket(const char *path);

uint16_t vm_source(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t max);
uint16_t vm_sink(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n);

#endif
