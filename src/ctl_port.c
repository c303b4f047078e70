/* Port control service: VFs and vhost-user sockets added to and removed
 * from relays at run time (PortControlRequest -> PortControlResponse).
 *
 * ADD / REMOVE pair a VF with relay virtio_id. ADD_SOCK pairs a socket
 * with a device: on the relay that has the device, or else on the lowest
 * free relay, which gets the device too; REMOVE_SOCK undoes exactly that
 * (the VF goes only if ADD_SOCK brought it). QUERY_PCI names the device of
 * a socket's relay. With `conditional`, adding what is already there and
 * removing what is not answer OK. Wherever a request names a device, a name
 * and several devices name a bond of them instead (ctl_req.h), which
 * serves its relay as one VF.
 *
 * This service's thread is the only one adding or removing VFs and
 * sockets after start-up, so a look-up followed by a change is not raced.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "log.h"
#include "relay.h"

typedef Virtioforwarder__PortControlRequest PortRequest;
typedef Virtioforwarder__PortControlResponse PortResponse;

static struct {
	PortResponse msg;
	char query[VFWD_DEVARGS_MAX];
} reply;

/* Relays whose VF was attached by ADD_SOCK (REMOVE_SOCK detaches it). */
static bool vf_by_add_sock[VFWD_MAX_RELAYS];

enum port_key { KEY_DEV, KEY_SOCKET, KEY_FREE };

/* The relay whose VF overlaps p's device (or bond) / whose socket is p's
 * path / the lowest unused one, with its state in info; -1 if none. */
static int find_relay(enum port_key key, const struct req_port *p, struct relay_info *info)
{
	for (unsigned id = 0; id < VFWD_MAX_RELAYS; id++) {
		if (relay_get_info(id, info) != 0)
			continue;
		if ((key == KEY_DEV && info->vf_attached && req_port_overlaps(p, info->vf)) ||
		    (key == KEY_SOCKET && info->socket_registered &&
		     strcmp(info->socket, p->path) == 0) ||
		    (key == KEY_FREE && !info->in_use))
			return (int)id;
	}
	return -1;
}

/* Attaches p's device, or bond, to relay id. */
static int attach(unsigned id, const struct req_port *p, char *msg, size_t len)
{
	const char *members[VFWD_BOND_MAX_MEMBERS];

	if (!p->n_members)
		return relay_add_vf(id, p->dev, msg, len);
	for (unsigned i = 0; i < p->n_members; i++)
		members[i] = p->members[i];
	return relay_add_bond(id, p->dev, (unsigned)p->mode, members, p->n_members, msg, len);
}

static const ProtobufCMessage *ok(const char *query)
{
	virtioforwarder__port_control_response__init(&reply.msg);
	reply.msg.status = VIRTIOFORWARDER__PORT_CONTROL_RESPONSE__STATUS__OK;
	if (query) {
		snprintf(reply.query, sizeof(reply.query), "%s", query);
		reply.msg.query_string = reply.query;
	}
	return &reply.msg.base;
}

/* An existing pairing asked for again, or a missing one asked away. */
static const ProtobufCMessage *already(const struct req_port *p, struct req_err *err,
				       int code, const char *what)
{
	if (p->conditional)
		return ok(NULL);
	req_fail(err, code, "%s (the request is not conditional)", what);
	return NULL;
}

/* A relay API call failed: its message goes back to the client. */
static const ProtobufCMessage *relay_failed(int rc, const char *msg, struct req_err *err)
{
	req_fail(err, rc < 0 ? rc : -EIO, "%s", msg);
	return NULL;
}

static const ProtobufCMessage *port_add(const struct req_port *p, struct req_err *err)
{
	struct relay_info info;
	char msg[VFWD_ERR_MAX], what[VFWD_ERR_MAX + 64], shown[VFWD_ERR_MAX];
	int other, rc;

	req_port_show(p, shown, sizeof(shown));
	relay_get_info(p->id, &info);
	if (info.vf_attached && req_port_is(p, info.vf)) {
		snprintf(what, sizeof(what), "relay %u already has VF %s", p->id, info.vf);
		return already(p, err, -EEXIST, what);
	}
	if (info.vf_attached) {
		req_fail(err, -EEXIST, "relay %u already has VF %s: remove it first", p->id,
			 info.vf);
		return NULL;
	}
	other = find_relay(KEY_DEV, p, &info);
	if (other >= 0) {
		if (p->n_members)
			req_fail(err, -EBUSY, "%s: relay %d has VF %s, which shares a device or "
				 "the name with it", shown, other, info.vf);
		else
			req_fail(err, -EBUSY, "VF %s is already attached to relay %d%s%s", shown,
				 other, req_same_dev(info.vf, p->dev) ? "" : " in ",
				 req_same_dev(info.vf, p->dev) ? "" : info.vf);
		return NULL;
	}
	rc = attach(p->id, p, msg, sizeof(msg));
	if (rc != 0)
		return relay_failed(rc, msg, err);
	vf_by_add_sock[p->id] = false;
	VLOG_INFO("port control: relay %u: VF %s added", p->id, shown);
	return ok(NULL);
}

static const ProtobufCMessage *port_remove(const struct req_port *p, struct req_err *err)
{
	struct relay_info info;
	char msg[VFWD_ERR_MAX], what[64], shown[VFWD_ERR_MAX];
	int rc;

	relay_get_info(p->id, &info);
	if (!info.vf_attached) {
		snprintf(what, sizeof(what), "relay %u has no VF", p->id);
		return already(p, err, -ENOENT, what);
	}
	if (p->dev[0] && !req_port_is(p, info.vf)) {
		req_fail(err, -EINVAL, "relay %u has VF %s, not %s", p->id, info.vf,
			 req_port_show(p, shown, sizeof(shown)));
		return NULL;
	}
	rc = relay_remove_vf(p->id, msg, sizeof(msg));
	if (rc != 0)
		return relay_failed(rc, msg, err);
	vf_by_add_sock[p->id] = false;
	VLOG_INFO("port control: relay %u: VF %s removed", p->id, info.vf);
	return ok(NULL);
}

static const ProtobufCMessage *port_add_sock(const struct req_port *p,
					     const struct vfwd_config *cfg, struct req_err *err)
{
	struct relay_info by_dev_info, by_sock_info, info;
	char msg[VFWD_ERR_MAX], what[VFWD_ERR_MAX + REQ_PATH_MAX + 64], shown[VFWD_ERR_MAX];
	struct stat st;
	bool same;
	int by_dev, by_sock, id, rc;

	if (req_path_in_dir(p->path, cfg->socket_dir, err) != 0)
		return NULL;
	/* Server mode replaces a stale socket file, client mode connects to
	 * one: anything else at that path is a mistake, not ours to remove. */
	if (lstat(p->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		req_fail(err, -ENOTSOCK, "%s exists and is not a socket: choose another "
			 "vhost_path", p->path);
		return NULL;
	}
	req_port_show(p, shown, sizeof(shown));
	by_dev = find_relay(KEY_DEV, p, &by_dev_info);
	by_sock = find_relay(KEY_SOCKET, p, &by_sock_info);
	/* A relay with part of p (a member of its bond, say) is not p's. */
	same = by_dev >= 0 && req_port_is(p, by_dev_info.vf);
	if (by_sock >= 0 && by_sock == by_dev && same) {
		snprintf(what, sizeof(what), "socket %s is already paired with %s on relay %d",
			 p->path, shown, by_sock);
		return already(p, err, -EEXIST, what);
	}
	if (by_sock >= 0) {
		req_fail(err, -EBUSY, "socket %s is already used by relay %d%s%s", p->path,
			 by_sock, by_sock_info.vf_attached ? " with VF " : "", by_sock_info.vf);
		return NULL;
	}
	if (by_dev >= 0 && !same) {
		req_fail(err, -EBUSY, "%s: relay %d has VF %s, which shares a device or the name "
			 "with it", shown, by_dev, by_dev_info.vf);
		return NULL;
	}
	if (by_dev >= 0) {
		if (by_dev_info.socket_registered) {
			req_fail(err, -EBUSY, "%s (relay %d) is already paired with socket %s: "
				 "remove_sock that first", shown, by_dev, by_dev_info.socket);
			return NULL;
		}
		rc = relay_add_socket((unsigned)by_dev, p->path, msg, sizeof(msg));
		if (rc != 0)
			return relay_failed(rc, msg, err);
		VLOG_INFO("port control: relay %d: socket %s added for VF %s", by_dev, p->path,
			  shown);
		return ok(NULL);
	}
	id = find_relay(KEY_FREE, p, &info);
	if (id < 0) {
		req_fail(err, -ENOSPC, "all %u relays are in use: remove_sock one first",
			 VFWD_MAX_RELAYS);
		return NULL;
	}
	rc = attach((unsigned)id, p, msg, sizeof(msg));
	if (rc != 0)
		return relay_failed(rc, msg, err);
	rc = relay_add_socket((unsigned)id, p->path, msg, sizeof(msg));
	if (rc != 0) {
		char ignored[VFWD_ERR_MAX];

		relay_remove_vf((unsigned)id, ignored, sizeof(ignored));
		return relay_failed(rc, msg, err);
	}
	vf_by_add_sock[id] = true;
	VLOG_INFO("port control: relay %d: VF %s and %s socket %s added", id, shown,
		  cfg->vhost_client ? "client" : "server", p->path);
	return ok(NULL);
}

static const ProtobufCMessage *port_remove_sock(const struct req_port *p, struct req_err *err)
{
	struct relay_info info;
	char msg[VFWD_ERR_MAX], what[REQ_PATH_MAX + 64], shown[VFWD_ERR_MAX];
	int id = find_relay(KEY_SOCKET, p, &info), rc;

	if (id < 0) {
		snprintf(what, sizeof(what), "no relay has socket %s", p->path);
		return already(p, err, -ENOENT, what);
	}
	if (p->dev[0] && !(info.vf_attached && req_port_is(p, info.vf))) {
		req_fail(err, -EINVAL, "socket %s is paired with %s, not %s", p->path,
			 info.vf_attached ? info.vf : "no VF", req_port_show(p, shown, sizeof(shown)));
		return NULL;
	}
	rc = relay_remove_socket((unsigned)id, msg, sizeof(msg));
	if (rc != 0)
		return relay_failed(rc, msg, err);
	if (vf_by_add_sock[id]) {
		vf_by_add_sock[id] = false;
		rc = relay_remove_vf((unsigned)id, msg, sizeof(msg));
		if (rc != 0)
			return relay_failed(rc, msg, err);
	}
	VLOG_INFO("port control: relay %d: socket %s removed", id, p->path);
	return ok(NULL);
}

static const ProtobufCMessage *port_query(const struct req_port *p, struct req_err *err)
{
	struct relay_info info;
	int id = find_relay(KEY_SOCKET, p, &info);

	if (id < 0)
		req_fail(err, -ENOENT, "no relay has socket %s", p->path);
	else if (!info.vf_attached)
		req_fail(err, -ENODEV, "relay %d (socket %s) has no VF", id, p->path);
	else
		return ok(info.vf);
	return NULL;
}

static const ProtobufCMessage *port_handle(const ProtobufCMessage *msg,
					   const struct vfwd_config *cfg, struct req_err *err)
{
	struct req_port p;

	if (req_port((const PortRequest *)msg, cfg->dynamic_sockets, &p, err) != 0)
		return NULL;
	switch (p.op) {
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD:
		return port_add(&p, err);
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE:
		return port_remove(&p, err);
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__ADD_SOCK:
		return port_add_sock(&p, cfg, err);
	case VIRTIOFORWARDER__PORT_CONTROL_REQUEST__OP__REMOVE_SOCK:
		return port_remove_sock(&p, err);
	default:
		return port_query(&p, err);
	}
}

static int port_refused_status(int code)
{
	(void)code;
	return VIRTIOFORWARDER__PORT_CONTROL_RESPONSE__STATUS__ERROR;
}

const struct ctl_service ctl_port_service = {
	.name = "port control",
	.request = &virtioforwarder__port_control_request__descriptor,
	.reply = &virtioforwarder__port_control_response__descriptor,
	.handle = port_handle,
	.refused_status = port_refused_status,
};
