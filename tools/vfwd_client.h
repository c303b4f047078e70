/* vfwd_client: what the control tools share.
 *
 *   vc_call(ep, timeout, req, reply_desc, err)   one request, one reply
 *   vc_raw(...)                                   the same on raw bytes
 *   vc_refused(reply, msg)                        a reply's error, if any
 *   vc_call_ok(...)                               vc_call, a refusal an error too
 *   vc_get_loads / vc_worker_cpus                 what measuring load needs
 *   vc_print_flat / vc_print_json                 any message, generically
 *
 * Each call uses a fresh ZeroMQ REQ socket with a receive timeout, so that
 * a daemon that is down, busy or not serving that endpoint is an error
 * message, not a hang (and a lost reply cannot leave a REQ socket stuck).
 */
#ifndef VFWD_CLIENT_H
#define VFWD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "config.h"

/* Exit statuses of every tool. */
enum vc_exit {
	VC_EXIT_OK = 0,
	VC_EXIT_REFUSED = 1,    /* the daemon answered with an error */
	VC_EXIT_USAGE = 2,      /* bad command line */
	VC_EXIT_COMM = 3,       /* no answer, or an answer that does not parse */
};

#define VC_TIMEOUT_MS 5000

/* Sends len bytes as one frame, waits up to timeout_ms for the reply:
 * *reply (malloc'd, the caller frees it) of *reply_len bytes. Returns 0,
 * or -1 with a message in err. */
int vc_raw(const char *ep, int timeout_ms, const void *req, size_t len,
	   void **reply, size_t *reply_len, char *err, size_t errlen);
/* The reply message (vc_free it), or NULL with a message in err. */
ProtobufCMessage *vc_call(const char *ep, int timeout_ms, const ProtobufCMessage *req,
			  const ProtobufCMessageDescriptor *reply_desc,
			  char *err, size_t errlen);
void vc_free(ProtobufCMessage *m);
/* Whether a reply's status is not OK; msg then says what the daemon said
 * (status name, error_code and error_code_source when present). */
bool vc_refused(const ProtobufCMessage *reply, char *msg, size_t len);

/* vc_call, and a reply that is not OK is an error too (vc_refused's
 * message in err). */
ProtobufCMessage *vc_call_ok(const char *ep, int timeout_ms, const ProtobufCMessage *req,
			     const ProtobufCMessageDescriptor *reply_desc,
			     char *err, size_t errlen);

/* What load measurements need from the stats service: per relay direction
 * the TSC cycles its worker spent on polls that moved packets (our
 * extension of the protocol) and its CPU, forwarding or not. */
struct vc_loads {
	double t;                                       /* CLOCK_MONOTONIC s, at the reply */
	uint64_t tsc_hz;
	bool present[VFWD_MAX_RELAYS];                  /* the relay is in use */
	int numa[VFWD_MAX_RELAYS];                      /* socket_id; -1 if out of range */
	uint64_t busy[VFWD_MAX_RELAYS][VFWD_NB_DIRS];
	int cpu[VFWD_MAX_RELAYS][VFWD_NB_DIRS];         /* -1: on no worker */
};
/* Every relay in use. What parses but makes no sense (ids out of range or
 * repeated, CPU numbers out of range) is left out; a daemon that reports
 * no busy cycles is an error. Returns 0, or -1 with a message in err. */
int vc_get_loads(const char *ep, int timeout_ms, struct vc_loads *l, char *err, size_t errlen);
/* The worker CPUs (GET_EAL_CORES), at most max, without repeats or numbers
 * out of range. Returns how many, or -1 with a message in err (also when
 * the daemon lists none). */
int vc_worker_cpus(const char *ep, int timeout_ms, int *cpus, unsigned max,
		   char *err, size_t errlen);

/* prefix.field=value lines, nested messages as prefix.msg.field, repeated
 * fields as comma-separated values; suppress_zero skips numeric zeros. */
void vc_print_flat(FILE *out, const char *prefix, const ProtobufCMessage *m,
		   bool suppress_zero);
/* One line of JSON, field names as in the .proto. */
void vc_print_json(FILE *out, const ProtobufCMessage *m);

/* Decimal number 0..max; -1 if s is not one. */
int vc_parse_uint(const char *s, unsigned long max, unsigned long *out);
/* "prog: message" on stderr, then exit(status). */
void vc_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif
