#define _GNU_SOURCE   /* pthread_setname_np */
#include "ctl.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "log.h"

/* libzmq drops a peer that sends a larger frame (ZMQ_MAXMSGSIZE) rather
 * than buffer it: the daemon's memory is not the client's to fill. Frames
 * between CTL_MAX_REQUEST and this get an error reply. */
#define CTL_MAX_FRAME (16 * 1024 * 1024)
#define CTL_MAX_SERVICES 4

struct ctl_thread {
	const struct ctl_service *svc;
	const struct vfwd_config *cfg;
	void *sock;
	pthread_t tid;
	ProtobufCMessage *refusal;       /* a svc->reply message */
	char source[VFWD_ERR_MAX];       /* its error_code_source */
	char ipc_path[PATH_MAX];         /* "" unless an ipc:// socket file */
};

static void *zctx;
static struct ctl_thread threads[CTL_MAX_SERVICES];
static unsigned nb_threads;

static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond;
static bool stopping;

bool ctl_sleep_ms(unsigned ms)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&stop_lock);
	while (!stopping && pthread_cond_timedwait(&stop_cond, &stop_lock, &until) != ETIMEDOUT)
		;
	stop = stopping;
	pthread_mutex_unlock(&stop_lock);
	return !stop;
}

/* ---- one service thread ---- */

/* Receives a whole request: its first frame in msg (to be closed by the
 * caller) and the number of frames, since a REP socket may reply only once
 * it has taken every frame of the request. */
static int recv_request(void *sock, zmq_msg_t *msg, unsigned *frames)
{
	int more;

	while (zmq_msg_recv(msg, sock, 0) < 0)
		if (errno != EINTR)
			return -1;
	for (*frames = 1, more = zmq_msg_more(msg); more; (*frames)++) {
		zmq_msg_t extra;

		zmq_msg_init(&extra);
		while (zmq_msg_recv(&extra, sock, 0) < 0) {
			if (errno != EINTR) {
				zmq_msg_close(&extra);
				return -1;
			}
		}
		more = zmq_msg_more(&extra);
		zmq_msg_close(&extra);
	}
	return 0;
}

/* Sets a field of a message by name (every reply type names its error
 * fields alike), with its presence flag if it has one. */
static void set_field(ProtobufCMessage *m, const char *name, const void *value, size_t size)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (!f)
		return;
	memcpy((char *)m + f->offset, value, size);
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
		*(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
}

static const ProtobufCMessage *refuse(struct ctl_thread *t, const struct req_err *err)
{
	int status = t->svc->refused_status(err->code);
	const char *source = t->source;

	protobuf_c_message_init(t->svc->reply, t->refusal);
	snprintf(t->source, sizeof(t->source), "%s", err->msg);
	set_field(t->refusal, "status", &status, sizeof(status));
	set_field(t->refusal, "error_code", &err->code, sizeof(err->code));
	set_field(t->refusal, "error_code_source", &source, sizeof(source));
	return t->refusal;
}

static const ProtobufCMessage *answer(struct ctl_thread *t, zmq_msg_t *msg,
				      unsigned frames)
{
	const ProtobufCMessageDescriptor *desc = t->svc->request;
	size_t len = zmq_msg_size(msg);
	struct req_err err = { 0, "" };
	ProtobufCMessage *req = NULL;
	const ProtobufCMessage *reply = NULL;

	if (frames != 1)
		req_fail(&err, -EPROTO, "the request came in %u frames: send one frame "
			 "holding one serialized %s", frames, desc->name);
	else if (len > CTL_MAX_REQUEST)
		req_fail(&err, -E2BIG, "the request is %zu bytes long: at most %d are "
			 "accepted", len, CTL_MAX_REQUEST);
	else if (!(req = protobuf_c_message_unpack(desc, NULL, len, zmq_msg_data(msg))))
		req_fail(&err, -EBADMSG, "the request is not a valid %s message (garbage, "
			 "truncated, or a required field missing)", desc->name);
	else
		reply = t->svc->handle(req, t->cfg, &err);
	if (req)
		protobuf_c_message_free_unpacked(req, NULL);
	if (reply)
		return reply;
	VLOG_INFO("%s: request refused: %s", t->svc->name, err.msg);
	return refuse(t, &err);
}

static void send_reply(const struct ctl_thread *t, const ProtobufCMessage *reply)
{
	size_t len = protobuf_c_message_get_packed_size(reply);
	zmq_msg_t msg;

	if (zmq_msg_init_size(&msg, len) != 0) {
		VLOG_ERR("%s: no memory for a %zu-byte reply; sending an empty one",
			 t->svc->name, len);
		/* Still a reply: the client's REQ socket is not left stuck. */
		zmq_msg_init(&msg);
	} else {
		protobuf_c_message_pack(reply, zmq_msg_data(&msg));
	}
	while (zmq_msg_send(&msg, t->sock, 0) < 0) {
		if (errno != EINTR) {
			/* ETERM: stopping, the client is going away too */
			if (errno != ETERM)
				VLOG_ERR("%s: cannot send a reply: %s", t->svc->name,
					 zmq_strerror(errno));
			zmq_msg_close(&msg);
			return;
		}
	}
}

static void *serve(void *arg)
{
	struct ctl_thread *t = arg;

	for (;;) {
		zmq_msg_t msg;
		unsigned frames;

		zmq_msg_init(&msg);
		if (recv_request(t->sock, &msg, &frames) != 0) {
			zmq_msg_close(&msg);
			/* ETERM: ctl_stop() shut the context down. */
			if (errno != ETERM)
				VLOG_ERR("%s service stops: %s", t->svc->name, zmq_strerror(errno));
			break;
		}
		send_reply(t, answer(t, &msg, frames));
		zmq_msg_close(&msg);
	}
	zmq_close(t->sock);
	return NULL;
}

/* ---- start and stop ---- */

/* The directory of an ipc:// socket, with its missing parents: created
 * mode 0750 and given the socket group, so that only the daemon writes
 * there and the group's members (operators, orchestration) may connect.
 * An existing directory is left as it is. */
static int make_ipc_dir(const char *path, gid_t gid)
{
	char dir[PATH_MAX];
	char *slash, *p;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (p = dir + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0750) == 0) {
			/* mkdir's mode went through the umask */
			if (chmod(dir, 0750) != 0 ||
			    (gid != (gid_t)-1 && chown(dir, (uid_t)-1, gid) != 0))
				VLOG_WARN("cannot set mode 0750 and group of %s: %s", dir,
					  strerror(errno));
		} else if (errno != EEXIST) {
			VLOG_ERR("cannot create directory %s: %s", dir, strerror(errno));
			return -1;
		}
		*p = c;
		if (c == '\0')
			return 0;
	}
}

static void start_service(const struct ctl_service *svc, const char *ep, const char *var,
			  const struct vfwd_config *cfg, gid_t gid)
{
	struct ctl_thread *t = &threads[nb_threads];
	const char *path = strncmp(ep, "ipc://", 6) == 0 ? ep + 6 : NULL;
	int64_t max_frame = CTL_MAX_FRAME;
	int linger = 0;

	/* "ipc://@name" is Linux's abstract namespace: no file. */
	if (path && path[0] == '@')
		path = NULL;
	if (path && strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		VLOG_ERR("%s service not started: the socket path of %s is longer than %zu "
			 "bytes; set %s to a shorter one", svc->name, ep,
			 sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1, var);
		return;
	}
	if (path && make_ipc_dir(path, gid) != 0) {
		VLOG_ERR("%s service not started: set %s to an endpoint in a directory "
			 "the daemon can create", svc->name, var);
		return;
	}
	t->refusal = calloc(1, svc->reply->sizeof_message);
	t->sock = t->refusal ? zmq_socket(zctx, ZMQ_REP) : NULL;
	if (!t->sock) {
		VLOG_ERR("%s service not started: %s", svc->name, zmq_strerror(errno));
		free(t->refusal);
		return;
	}
	zmq_setsockopt(t->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(t->sock, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame));
	if (zmq_bind(t->sock, ep) != 0) {
		VLOG_ERR("%s service not started: cannot bind %s: %s (check %s)", svc->name,
			 ep, zmq_strerror(errno), var);
		zmq_close(t->sock);
		free(t->refusal);
		return;
	}
	if (!path && strncmp(ep, "inproc://", 9) != 0)
		/* Only an ipc:// file has an owner and a mode to check. */
		VLOG_WARN("%s service on %s: the control protocol has no authentication, "
			  "so anyone who can reach %s can use it; set %s to an ipc:// "
			  "endpoint in a directory of the daemon's own unless that is meant",
			  svc->name, ep, strncmp(ep, "tcp://", 6) == 0 ? "that address" :
			  "the endpoint", var);
	if (path && (chmod(path, 0660) != 0 ||
		     (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0)))
		VLOG_WARN("cannot set mode 0660 and group of %s: %s", path, strerror(errno));
	t->svc = svc;
	t->cfg = cfg;
	snprintf(t->ipc_path, sizeof(t->ipc_path), "%s", path ? path : "");
	/* The thread inherits the main thread's CPU affinity (the main
	 * lcore): control work stays off the worker CPUs. */
	if (pthread_create(&t->tid, NULL, serve, t) != 0) {
		VLOG_ERR("%s service not started: cannot create its thread", svc->name);
		zmq_close(t->sock);
		free(t->refusal);
		if (path)
			unlink(path);
		return;
	}
	pthread_setname_np(t->tid, "vfwd-ctl");
	nb_threads++;
	VLOG_INFO("%s service on %s", svc->name, ep);
}

void ctl_start(const struct vfwd_config *cfg)
{
	const struct {
		const struct ctl_service *svc;
		bool on;
		const char *ep, *var;
	} services[CTL_MAX_SERVICES] = {
		{ &ctl_port_service, cfg->zmq_port_control_on, cfg->zmq_port_control_ep,
		  "VIRTIOFWD_ZMQ_PORT_CONTROL_EP" },
		{ &ctl_stats_service, cfg->zmq_stats_on, cfg->zmq_stats_ep,
		  "VIRTIOFWD_ZMQ_STATS_EP" },
		{ &ctl_sched_service, cfg_core_sched_active(cfg), cfg->zmq_core_sched_ep,
		  "VIRTIOFWD_ZMQ_CORE_SCHED_EP" },
		{ &ctl_config_service, cfg->zmq_config_on, cfg->zmq_config_ep,
		  "VIRTIOFWD_ZMQ_CONFIG_EP" },
	};
	const struct group *gr = cfg->socket_group[0] ? getgrnam(cfg->socket_group) : NULL;
	gid_t gid = gr ? gr->gr_gid : (gid_t)-1;
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&stop_cond, &attr);
	pthread_condattr_destroy(&attr);
	stopping = false;
	for (unsigned i = 0; i < CTL_MAX_SERVICES; i++) {
		if (!services[i].on)
			continue;
		if (!zctx && !(zctx = zmq_ctx_new())) {
			VLOG_ERR("control services not started: no ZeroMQ context: %s",
				 zmq_strerror(errno));
			return;
		}
		start_service(services[i].svc, services[i].ep, services[i].var, cfg, gid);
	}
}

void ctl_stop(void)
{
	if (!zctx)
		return;
	pthread_mutex_lock(&stop_lock);
	stopping = true;
	pthread_cond_broadcast(&stop_cond);
	pthread_mutex_unlock(&stop_lock);
	/* Blocked receives return ETERM; each thread closes its socket. */
	zmq_ctx_shutdown(zctx);
	for (unsigned i = 0; i < nb_threads; i++) {
		pthread_join(threads[i].tid, NULL);
		free(threads[i].refusal);
		/* libzmq leaves the socket file of a closed ipc:// endpoint. */
		if (threads[i].ipc_path[0])
			unlink(threads[i].ipc_path);
	}
	zmq_ctx_term(zctx);
	zctx = NULL;
	nb_threads = 0;
}
