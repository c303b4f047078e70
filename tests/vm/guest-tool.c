/* SPDX-License-Identifier: BSD-3-Clause
 *
 * vfwd-guest-tool: what busybox lacks inside the test guest, linked
 * statically into its initramfs (tests/vm/build-guest.sh).
 *
 *   vfwd-guest-tool stats IFACE            per-queue driver counters (ethtool -S),
 *                                          one "name=value" per word, on one line
 *   vfwd-guest-tool channels IFACE N       combined queue pairs (ethtool -L combined N)
 *   vfwd-guest-tool udp DST_IP PORT NPORTS COUNT SIZE
 *                                          send COUNT UDP datagrams of SIZE payload
 *                                          bytes as fast as the socket takes them,
 *                                          destination ports PORT..PORT+NPORTS-1 in
 *                                          turn (one flow per port); prints
 *                                          "sent=N errors=E"
 *   vfwd-guest-tool tcpsend DST_IP PORT BYTES
 *                                          connect, send BYTES of pattern(), wait
 *                                          for the peer to close; prints "bytes=N"
 *   vfwd-guest-tool tcprecv PORT BYTES     accept one connection, read it to its
 *                                          end, checking each byte against
 *                                          pattern(); prints "bytes=N bad=B"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int ethtool(const char *ifname, void *cmd)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rc;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	rc = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int stats(const char *ifname)
{
	struct {
		struct ethtool_sset_info hdr;
		uint32_t len;
	} sset = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_STATS } };
	struct ethtool_gstrings *names;
	struct ethtool_stats *vals;
	uint32_t n;
	int rc;

	rc = ethtool(ifname, &sset);
	if (rc != 0) {
		fprintf(stderr, "ETHTOOL_GSSET_INFO: %s\n", strerror(-rc));
		return 1;
	}
	n = sset.len;
	names = calloc(1, sizeof(*names) + (size_t)n * ETH_GSTRING_LEN);
	vals = calloc(1, sizeof(*vals) + (size_t)n * sizeof(uint64_t));
	if (!names || !vals)
		return 1;
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_STATS;
	names->len = n;
	vals->cmd = ETHTOOL_GSTATS;
	vals->n_stats = n;
	if ((rc = ethtool(ifname, names)) != 0 || (rc = ethtool(ifname, vals)) != 0) {
		fprintf(stderr, "ETHTOOL_GSTRINGS/GSTATS: %s\n", strerror(-rc));
		return 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		char name[ETH_GSTRING_LEN + 1];

		memcpy(name, names->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		name[ETH_GSTRING_LEN] = '\0';
		printf("%s%s=%llu", i ? " " : "", name, (unsigned long long)vals->data[i]);
	}
	printf("\n");
	return 0;
}

static int channels(const char *ifname, unsigned n)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	int rc = ethtool(ifname, &ch);

	if (rc == 0) {
		ch.cmd = ETHTOOL_SCHANNELS;
		ch.combined_count = n;
		rc = ethtool(ifname, &ch);
	}
	if (rc != 0) {
		fprintf(stderr, "channels %u on %s: %s\n", n, ifname, strerror(-rc));
		return 1;
	}
	return 0;
}

static int udp(const char *dst, unsigned port, unsigned nports, unsigned long count,
	       unsigned size)
{
	static char buf[65536];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned long sent = 0, errors = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || inet_pton(AF_INET, dst, &sa.sin_addr) != 1 || nports == 0 ||
	    size > sizeof(buf)) {
		fprintf(stderr, "udp: bad arguments or no socket\n");
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		memcpy(buf, &i, sizeof(i) < size ? sizeof(i) : size);
		sa.sin_port = htons((uint16_t)(port + i % nports));
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			errors++;
		else
			sent++;
	}
	printf("sent=%lu errors=%lu\n", sent, errors);
	close(fd);
	return 0;
}

/* The bytes a TCP test stream carries, as tests/vm/test_vm.py makes them:
 * byte i of the stream. Not periodic in any segment size. */
static uint8_t pattern(unsigned long i)
{
	return (uint8_t)(i * 131 + (i >> 11));
}

static int tcpsend(const char *dst, unsigned port, unsigned long bytes)
{
	static uint8_t buf[1 << 16];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	unsigned long off = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || inet_pton(AF_INET, dst, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "tcpsend: cannot connect: %s\n", strerror(errno));
		return 1;
	}
	while (off < bytes) {
		size_t n = bytes - off < sizeof(buf) ? bytes - off : sizeof(buf);
		ssize_t k;

		for (size_t j = 0; j < n; j++)
			buf[j] = pattern(off + j);
		k = write(fd, buf, n);
		if (k <= 0) {
			fprintf(stderr, "tcpsend: write: %s\n", strerror(errno));
			return 1;
		}
		off += (unsigned long)k;
	}
	/* Written is not delivered: wait for the peer to close after our
	 * end of stream, which it sees only once it has every byte (the
	 * guest powers off next, and would take the unsent rest with it). */
	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 120 },
		   sizeof(struct timeval));
	if (read(fd, buf, 1) != 0) {
		fprintf(stderr, "tcpsend: the peer did not close: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	printf("bytes=%lu\n", off);
	return 0;
}

static int tcprecv(unsigned port, unsigned long bytes)
{
	static uint8_t buf[1 << 16];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	unsigned long off = 0, bad = 0;
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0), fd;
	ssize_t k;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1) != 0) {
		fprintf(stderr, "tcprecv: cannot listen: %s\n", strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	fd = accept(ls, NULL, NULL);
	if (fd < 0)
		return 1;
	while ((k = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t j = 0; j < k; j++)
			bad += buf[j] != pattern(off + (unsigned long)j);
		off += (unsigned long)k;
	}
	printf("bytes=%lu bad=%lu%s\n", off, bad, off == bytes ? "" : " short");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "stats") == 0)
		return stats(argv[2]);
	if (argc == 4 && strcmp(argv[1], "channels") == 0)
		return channels(argv[2], (unsigned)strtoul(argv[3], NULL, 0));
	if (argc == 7 && strcmp(argv[1], "udp") == 0)
		return udp(argv[2], (unsigned)strtoul(argv[3], NULL, 0),
			   (unsigned)strtoul(argv[4], NULL, 0), strtoul(argv[5], NULL, 0),
			   (unsigned)strtoul(argv[6], NULL, 0));
	if (argc == 5 && strcmp(argv[1], "tcpsend") == 0)
		return tcpsend(argv[2], (unsigned)strtoul(argv[3], NULL, 0),
			       strtoul(argv[4], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "tcprecv") == 0)
		return tcprecv((unsigned)strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0));
	fprintf(stderr, "usage: %s stats IFACE | channels IFACE N | "
		"udp DST PORT NPORTS COUNT SIZE | tcpsend DST PORT BYTES | "
		"tcprecv PORT BYTES\n", argv[0]);
	return 2;
}
