/* vfwd-zmq-reply: a stand-in for one of the daemon's control endpoints in
 * tests of clients: binds a REP socket and answers each request with the
 * contents of the next FILE, in turn and again from the first, until
 * killed. The files hold whatever the test wants a client to survive:
 * garbage, the wrong message type, messages with values out of range.
 *
 *   vfwd-zmq-reply ENDPOINT FILE...
 *
 * Prints "ready" once bound. Exit status: 2 on bad usage or setup errors.
 */
#include <stdio.h>
#include <stdlib.h>

#include <zmq.h>

#include "vfwd_client.h"

static void *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
		vc_die(VC_EXIT_USAGE, "cannot read %s", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int main(int argc, char **argv)
{
	void *ctx = zmq_ctx_new(), *sock;
	unsigned long served = 0;
	char req[256];

	if (argc < 3)
		vc_die(VC_EXIT_USAGE, "usage: vfwd-zmq-reply ENDPOINT FILE...");
	sock = ctx ? zmq_socket(ctx, ZMQ_REP) : NULL;
	if (!sock || zmq_bind(sock, argv[1]) != 0)
		vc_die(VC_EXIT_USAGE, "cannot bind %s: %s", argv[1], zmq_strerror(zmq_errno()));
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		size_t len;
		void *reply;

		/* The request only paces the replies: REP answers each one. */
		if (zmq_recv(sock, req, sizeof(req), 0) < 0)
			continue;
		reply = read_file(argv[2 + served++ % (unsigned long)(argc - 2)], &len);
		zmq_send(sock, reply, len, 0);
		free(reply);
	}
}
