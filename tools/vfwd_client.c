#define _GNU_SOURCE   /* program_invocation_short_name */
#include "vfwd_client.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <zmq.h>

#include "virtioforwarder.pb-c.h"

#define VC_MAX_REPLY (16 * 1024 * 1024)

void vc_die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

int vc_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ZeroMQ connects to an ipc:// path that does not exist without a word
 * and waits: say at once that nothing is there. */
static int check_ipc(const char *ep, char *err, size_t errlen)
{
	struct stat st;
	const char *path = ep + 6;

	if (strncmp(ep, "ipc://", 6) != 0 || path[0] == '@')
		return 0;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "cannot reach %s: %s (is virtio-forwarder running with "
			 "this endpoint enabled?)", ep, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s is not a socket", path);
		return -1;
	}
	return 0;
}

int vc_raw(const char *ep, int timeout_ms, const void *req, size_t len,
	   void **reply, size_t *reply_len, char *err, size_t errlen)
{
	int64_t max_reply = VC_MAX_REPLY;
	int linger = 0, rc = -1;
	void *ctx, *sock = NULL;
	zmq_msg_t msg;

	*reply = NULL;
	*reply_len = 0;
	if (check_ipc(ep, err, errlen) != 0)
		return -1;
	ctx = zmq_ctx_new();
	if (ctx)
		sock = zmq_socket(ctx, ZMQ_REQ);
	if (!sock) {
		snprintf(err, errlen, "ZeroMQ: %s", zmq_strerror(errno));
		goto out;
	}
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_reply, sizeof(max_reply));
	if (zmq_connect(sock, ep) != 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", ep, zmq_strerror(errno));
		goto out;
	}
	if (zmq_send(sock, req, len, 0) < 0) {
		snprintf(err, errlen, "cannot send to %s: %s", ep, zmq_strerror(errno));
		goto out;
	}
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, sock, 0) < 0) {
		if (errno == EAGAIN)
			snprintf(err, errlen, "no reply from %s within %d ms (is virtio-forwarder "
				 "running with this endpoint enabled?)", ep, timeout_ms);
		else
			snprintf(err, errlen, "no reply from %s: %s", ep, zmq_strerror(errno));
		zmq_msg_close(&msg);
		goto out;
	}
	*reply_len = zmq_msg_size(&msg);
	*reply = malloc(*reply_len ? *reply_len : 1);
	if (!*reply) {
		snprintf(err, errlen, "no memory for a %zu-byte reply", *reply_len);
	} else {
		memcpy(*reply, zmq_msg_data(&msg), *reply_len);
		rc = 0;
	}
	zmq_msg_close(&msg);
out:
	if (sock)
		zmq_close(sock);
	if (ctx)
		zmq_ctx_term(ctx);
	return rc;
}

ProtobufCMessage *vc_call(const char *ep, int timeout_ms, const ProtobufCMessage *req,
			  const ProtobufCMessageDescriptor *reply_desc,
			  char *err, size_t errlen)
{
	size_t len = protobuf_c_message_get_packed_size(req), reply_len;
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *reply = NULL;
	void *raw;

	if (!buf) {
		snprintf(err, errlen, "no memory for the request");
		return NULL;
	}
	protobuf_c_message_pack(req, buf);
	if (vc_raw(ep, timeout_ms, buf, len, &raw, &reply_len, err, errlen) == 0) {
		reply = protobuf_c_message_unpack(reply_desc, NULL, reply_len, raw);
		if (!reply)
			snprintf(err, errlen, "the reply from %s (%zu bytes) is not a %s message: "
				 "is that the right endpoint?", ep, reply_len, reply_desc->name);
		free(raw);
	}
	free(buf);
	return reply;
}

void vc_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

ProtobufCMessage *vc_call_ok(const char *ep, int timeout_ms, const ProtobufCMessage *req,
			     const ProtobufCMessageDescriptor *reply_desc,
			     char *err, size_t errlen)
{
	ProtobufCMessage *r = vc_call(ep, timeout_ms, req, reply_desc, err, errlen);

	if (r && vc_refused(r, err, errlen)) {
		vc_free(r);
		return NULL;
	}
	return r;
}

/* ---- load measurements ---- */

/* The CPU serving direction d of a relay, -1 if none. Directions that
 * are polled but do not forward (a stand-in VF draining while its VM is
 * away) cost their worker as much as forwarding ones: load is load. */
static int dir_cpu(const Virtioforwarder__RelayState *rs, int d)
{
	const Virtioforwarder__RelayState__CPU *c = rs->cpu;
	bool has = c && (d == VFWD_VF_TO_VM ? c->has_vf_to_vm : c->has_vm_to_vf);
	int cpu = !has ? -1 : d == VFWD_VF_TO_VM ? c->vf_to_vm : c->vm_to_vf;

	return cpu >= 0 && cpu < VFWD_MAX_CPUS ? cpu : -1;
}

int vc_get_loads(const char *ep, int timeout_ms, struct vc_loads *l, char *err, size_t errlen)
{
	Virtioforwarder__StatsRequest req = VIRTIOFORWARDER__STATS_REQUEST__INIT;
	Virtioforwarder__StatsResponse *r;
	struct timespec ts;
	bool cycles = true;

	r = (Virtioforwarder__StatsResponse *)vc_call_ok(
		ep, timeout_ms, &req.base, &virtioforwarder__stats_response__descriptor,
		err, errlen);
	if (!r)
		return -1;
	memset(l, 0, sizeof(*l));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	l->t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
	l->tsc_hz = r->has_tsc_hz ? r->tsc_hz : 0;
	for (size_t i = 0; i < r->n_relay; i++) {
		const Virtioforwarder__RelayState *rs = r->relay[i];
		unsigned id = rs->id;

		if (id >= VFWD_MAX_RELAYS || l->present[id] || !rs->vf_to_vm || !rs->vm_to_vf)
			continue;
		l->present[id] = true;
		l->numa[id] = rs->socket_id > INT32_MAX ? -1 : (int)rs->socket_id;
		l->busy[id][VFWD_VF_TO_VM] = rs->vf_to_vm->busy_cycles;
		l->busy[id][VFWD_VM_TO_VF] = rs->vm_to_vf->busy_cycles;
		l->cpu[id][VFWD_VF_TO_VM] = dir_cpu(rs, VFWD_VF_TO_VM);
		l->cpu[id][VFWD_VM_TO_VF] = dir_cpu(rs, VFWD_VM_TO_VF);
		cycles &= rs->vf_to_vm->has_busy_cycles && rs->vm_to_vf->has_busy_cycles;
	}
	vc_free(&r->base);
	if (!l->tsc_hz || !cycles) {
		snprintf(err, errlen, "the daemon at %s reports no busy cycles (tsc_hz, "
			 "busy_cycles): it is not this project's virtio-forwarder", ep);
		return -1;
	}
	return 0;
}

int vc_worker_cpus(const char *ep, int timeout_ms, int *cpus, unsigned max,
		   char *err, size_t errlen)
{
	Virtioforwarder__CoreSchedRequest req = VIRTIOFORWARDER__CORE_SCHED_REQUEST__INIT;
	Virtioforwarder__CoreSchedResponse *r;
	unsigned n = 0;

	req.op = VIRTIOFORWARDER__CORE_SCHED_REQUEST__OP__GET_EAL_CORES;
	r = (Virtioforwarder__CoreSchedResponse *)vc_call_ok(
		ep, timeout_ms, &req.base, &virtioforwarder__core_sched_response__descriptor,
		err, errlen);
	if (!r)
		return -1;
	for (size_t i = 0; i < r->n_eal_cores && n < max; i++) {
		unsigned k;

		if (r->eal_cores[i] >= VFWD_MAX_CPUS)
			continue;
		for (k = 0; k < n && cpus[k] != (int)r->eal_cores[i]; k++)
			;
		if (k == n)
			cpus[n++] = (int)r->eal_cores[i];
	}
	vc_free(&r->base);
	if (n == 0) {
		snprintf(err, errlen, "the daemon at %s lists no worker CPU", ep);
		return -1;
	}
	return (int)n;
}

/* ---- generic access to fields ---- */

static const void *field_ptr(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (const char *)m + f->offset;
}

static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)((const char *)m + f->quantifier_offset) > 0;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
		return *(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset);
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(const void *const *)field_ptr(m, f) != NULL;
	return true;
}

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static int64_t int_value(ProtobufCType t, const void *p)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_ENUM:
		return *(const int32_t *)p;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)p;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p != 0;
	default:
		return *(const int64_t *)p;
	}
}

static bool is_zero(ProtobufCType t, const void *p)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p == 0.0f;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p == 0.0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return int_value(t, p) == 0;
	default:
		return false;   /* bools, enums, strings say something either way */
	}
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void print_message_json(FILE *out, const ProtobufCMessage *m);

/* One value of field f at p: JSON or the flat format's plain text. */
static void print_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *p, bool json)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		fprintf(out, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
		double v = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;

		if (json && !isfinite(v))
			fputs("null", out);
		else
			fprintf(out, "%.*g", f->type == PROTOBUF_C_TYPE_FLOAT ? 9 : 17, v);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		/* flat: as the established Python tools printed them */
		fputs(*(const protobuf_c_boolean *)p ? (json ? "true" : "True") :
		      (json ? "false" : "False"), out);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			f->descriptor, *(const int *)p);

		if (!v)
			fprintf(out, "%d", *(const int *)p);
		else if (json)
			json_string(out, v->name);
		else
			fputs(v->name, out);
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		if (json)
			json_string(out, *(char *const *)p);
		else
			fputs(*(char *const *)p, out);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;

		fputs(json ? "\"" : "", out);
		for (size_t i = 0; i < b->len; i++)
			fprintf(out, "%02x", b->data[i]);
		fputs(json ? "\"" : "", out);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		print_message_json(out, *(ProtobufCMessage *const *)p);
		break;
	default:
		fprintf(out, "%" PRId64, int_value(f->type, p));
	}
}

static void print_message_json(FILE *out, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool first = true;

	fputc('{', out);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!field_present(m, f))
			continue;
		fprintf(out, "%s\"%s\":", first ? "" : ",", f->name);
		first = false;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			const char *a = *(const char *const *)field_ptr(m, f);

			fputc('[', out);
			for (size_t k = 0; k < n; k++) {
				fputs(k ? "," : "", out);
				print_value(out, f, a + k * type_size(f->type), true);
			}
			fputc(']', out);
		} else {
			print_value(out, f, field_ptr(m, f), true);
		}
	}
	fputc('}', out);
}

void vc_print_json(FILE *out, const ProtobufCMessage *m)
{
	print_message_json(out, m);
	fputc('\n', out);
}

void vc_print_flat(FILE *out, const char *prefix, const ProtobufCMessage *m,
		   bool suppress_zero)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	char key[512];

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = field_ptr(m, f);

		if (!field_present(m, f))
			continue;
		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", f->name);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			const char *a = *(const char *const *)p;

			for (size_t k = 0; k < n && f->type == PROTOBUF_C_TYPE_MESSAGE; k++) {
				char sub[600];

				snprintf(sub, sizeof(sub), "%s.%zu", key, k);
				vc_print_flat(out, sub, ((ProtobufCMessage *const *)a)[k],
					      suppress_zero);
			}
			if (f->type == PROTOBUF_C_TYPE_MESSAGE)
				continue;
			fprintf(out, "%s=", key);
			for (size_t k = 0; k < n; k++) {
				fputs(k ? "," : "", out);
				print_value(out, f, a + k * type_size(f->type), false);
			}
			fputc('\n', out);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			vc_print_flat(out, key, *(ProtobufCMessage *const *)p, suppress_zero);
		} else if (!(suppress_zero && is_zero(f->type, p))) {
			fprintf(out, "%s=", key);
			print_value(out, f, p, false);
			fputc('\n', out);
		}
	}
}

bool vc_refused(const ProtobufCMessage *reply, char *msg, size_t len)
{
	const ProtobufCMessageDescriptor *d = reply->descriptor;
	const ProtobufCFieldDescriptor *status =
		protobuf_c_message_descriptor_get_field_by_name(d, "status");
	const ProtobufCFieldDescriptor *code =
		protobuf_c_message_descriptor_get_field_by_name(d, "error_code");
	const ProtobufCFieldDescriptor *source =
		protobuf_c_message_descriptor_get_field_by_name(d, "error_code_source");
	const ProtobufCEnumValue *v;
	int n;

	if (!status)
		return false;
	v = protobuf_c_enum_descriptor_get_value(status->descriptor,
						 *(const int *)field_ptr(reply, status));
	if (v && strcmp(v->name, "OK") == 0)
		return false;
	n = snprintf(msg, len, "the daemon answered %s", v ? v->name : "an unknown status");
	if (code && field_present(reply, code) && n >= 0 && (size_t)n < len) {
		int c = *(const int32_t *)field_ptr(reply, code);

		n += snprintf(msg + n, len - (size_t)n, " (%s)", strerror(c < 0 ? -c : c));
	}
	if (source && field_present(reply, source) && n >= 0 && (size_t)n < len)
		snprintf(msg + n, len - (size_t)n, ": %s", *(char *const *)field_ptr(reply, source));
	return true;
}
