/* ctl: the ZeroMQ control services (wire format: the project's
 * proto/virtioforwarder.proto). Each enabled service has its own REP
 * socket and its own thread, so a stats request waiting out a long delay
 * never holds up port control; none of them touches the data path other
 * than through the relay API.
 *
 *   ctl_start(cfg)   bind the services the configuration enables (an ipc://
 *                    endpoint's directory is created mode 0750, group =
 *                    the socket group) and start their threads; a service
 *                    that cannot start is logged, the others run
 *   ctl_stop()       stop them (a request in progress is answered first)
 *
 * Every request gets exactly one reply: one that is oversized, split into
 * several frames, does not parse or is refused by its service gets that
 * service's error reply, and the service keeps serving.
 *
 * A service (ctl_port.c, ctl_stats.c, ctl_sched.c, ctl_config.c) is a
 * struct ctl_service. Its thread is the only one calling it, so it may
 * build replies in static storage.
 */
#ifndef VFWD_CTL_H
#define VFWD_CTL_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "config.h"
#include "ctl_req.h"

#define CTL_MAX_REQUEST (64 * 1024)   /* bytes; larger requests are refused */

struct ctl_service {
	const char *name;                          /* for logs: "port control" */
	const ProtobufCMessageDescriptor *request, *reply;
	/* The reply to a parsed request, or NULL with err set. */
	const ProtobufCMessage *(*handle)(const ProtobufCMessage *req,
					  const struct vfwd_config *cfg, struct req_err *err);
	/* The reply's status for a request refused with err->code. The
	 * refusal itself is built here: status, error_code and
	 * error_code_source (fields every reply type has, ours as extensions
	 * where the established protocol lacks them). */
	int (*refused_status)(int code);
};

extern const struct ctl_service ctl_port_service;
extern const struct ctl_service ctl_stats_service;
extern const struct ctl_service ctl_sched_service;
extern const struct ctl_service ctl_config_service;

void ctl_start(const struct vfwd_config *cfg);
void ctl_stop(void);

/* Sleeps ms milliseconds, or less if the services are being stopped:
 * returns false then. */
bool ctl_sleep_ms(unsigned ms);

#endif
