/* vfwd-zmq-raw: sends stdin, as it is, as one request frame to a control
 * endpoint and writes the reply frame to stdout. The integration tests
 * build requests by hand with it (garbage, truncated, oversized, fields
 * out of range) and decode the replies themselves.
 *
 *   vfwd-zmq-raw ENDPOINT [TIMEOUT_MS] < request > reply
 *
 * Exit status: 0 with a reply, 3 without one (the reason on stderr).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vfwd_client.h"

int main(int argc, char **argv)
{
	unsigned long timeout = VC_TIMEOUT_MS;
	size_t len = 0, cap = 1 << 16, reply_len;
	char *buf = malloc(cap), err[1024];
	void *reply;
	size_t n;

	if (argc < 2 || argc > 3 || (argc == 3 && vc_parse_uint(argv[2], 3600000, &timeout)))
		vc_die(VC_EXIT_USAGE, "usage: vfwd-zmq-raw ENDPOINT [TIMEOUT_MS] < request");
	if (!buf)
		vc_die(VC_EXIT_COMM, "out of memory");
	while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += n;
		if (len == cap && !(buf = realloc(buf, cap *= 2)))
			vc_die(VC_EXIT_COMM, "out of memory");
	}
	if (vc_raw(argv[1], (int)timeout, buf, len, &reply, &reply_len, err, sizeof(err)) != 0)
		vc_die(VC_EXIT_COMM, "%s", err);
	fwrite(reply, 1, reply_len, stdout);
	free(reply);
	free(buf);
	return VC_EXIT_OK;
}
