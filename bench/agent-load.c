/*
 * Load generators for bench/agent.sh, compiled at run time with the system cc:
 *
 *   agent-load conn-server PORT SECONDS
 *       Accepts TCP connections on 0.0.0.0:PORT and closes each at once (the
 *       server closes first, so TIME_WAIT stays on the server side), until
 *       SECONDS have passed. Prints "accepted=N".
 *
 *   agent-load conn-client PORT RATE SECONDS THREADS
 *       Opens RATE short TCP connections per second for SECONDS to
 *       127.0.0.1..127.0.0.8:PORT (eight destinations, so client ports are
 *       not reused within the run): connect, wait for the server's FIN,
 *       close. RATE 0 means as fast as possible. Prints
 *       "connections=N errors=E seconds=S rate=R".
 *
 *   agent-load udp-send DST_IP PORT PPS SECONDS PAYLOAD
 *       Sends UDP datagrams of PAYLOAD bytes with sendmmsg, paced to PPS
 *       (0: as fast as possible), for SECONDS. Prints
 *       "sent=N errors=E seconds=S pps=R".
 *
 *   agent-load udp-raw IFNAME DST_MAC SRC_IP DST_IP PORT PPS SECONDS PAYLOAD
 *       The same datagrams as whole Ethernet frames written to an AF_PACKET
 *       socket with PACKET_QDISC_BYPASS (no UDP/IP stack on the sending
 *       side, so the generator goes faster). UDP checksum 0 (none, valid
 *       for IPv4). Prints the same line.
 *
 * Every mode stops by itself after SECONDS (and the script wraps each in
 * timeout(1) as well).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	double d = t - now_s();
	if (d <= 0)
		return;
	struct timespec ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ conn-server */

static int listen_fd;
static double server_end;
static atomic_long accepted;

static void *server_thread(void *arg)
{
	(void)arg;
	while (now_s() < server_end) {
		int c = accept(listen_fd, NULL, NULL);
		if (c < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue; /* SO_RCVTIMEO: look at the clock */
			continue;
		}
		close(c);
		atomic_fetch_add(&accepted, 1);
	}
	return NULL;
}

static int conn_server(int port, double secs)
{
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct timeval tv = { 0, 200000 };
	setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 4096) < 0) {
		perror("conn-server: bind/listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	server_end = now_s() + secs;
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, server_thread, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("accepted=%ld\n", atomic_load(&accepted));
	return 0;
}

/* ------------------------------------------------------------ conn-client */

static int c_port, c_threads;
static double c_rate, c_start, c_end;
static atomic_long c_done, c_errors;

static void *client_thread(void *arg)
{
	long t = (long)arg;
	char buf[64];
	for (long k = t;; k += c_threads) {
		if (c_rate > 0)
			sleep_until(c_start + k / c_rate);
		if (now_s() >= c_end)
			break;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			atomic_fetch_add(&c_errors, 1);
			continue;
		}
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(c_port) };
		a.sin_addr.s_addr = htonl(0x7f000001 + (uint32_t)(k % 8));
		if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
			atomic_fetch_add(&c_errors, 1);
			close(fd);
			continue;
		}
		ssize_t n;
		while ((n = read(fd, buf, sizeof buf)) > 0)
			;
		close(fd);
		if (n == 0)
			atomic_fetch_add(&c_done, 1);
		else
			atomic_fetch_add(&c_errors, 1);
	}
	return NULL;
}

static int conn_client(int port, double rate, double secs, int threads)
{
	c_port = port;
	c_rate = rate;
	c_threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
	c_start = now_s();
	c_end = c_start + secs;
	pthread_t th[64];
	for (long i = 0; i < c_threads; i++)
		pthread_create(&th[i], NULL, client_thread, (void *)i);
	for (int i = 0; i < c_threads; i++)
		pthread_join(th[i], NULL);
	double el = now_s() - c_start;
	long done = atomic_load(&c_done);
	printf("connections=%ld errors=%ld seconds=%.3f rate=%.1f\n", done,
	       atomic_load(&c_errors), el, done / el);
	return 0;
}

/* ------------------------------------------------------------ udp-send */

#define BATCH 64

static int udp_send(const char *dst, int port, double pps, double secs, int payload)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, dst, &a.sin_addr) != 1) {
		fprintf(stderr, "udp-send: bad address %s\n", dst);
		return 2;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("udp-send: connect");
		return 1;
	}
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	if (payload < 1 || payload > 1400)
		payload = 64;
	static char data[1500];
	memset(data, 'p', sizeof data);
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof msgs);
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = data;
		iov[i].iov_len = payload;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	double start = now_s(), end = start + secs;
	long sent = 0, errors = 0;
	for (;;) {
		double t = now_s();
		if (t >= end)
			break;
		long want = BATCH;
		if (pps > 0) {
			long due = (long)((t - start) * pps) - sent;
			if (due <= 0) {
				/* Ahead of schedule: sleep until the next packet is due. */
				sleep_until(start + (sent + 1) / pps);
				continue;
			}
			if (due < want)
				want = due;
		}
		int n = sendmmsg(fd, msgs, (unsigned)want, 0);
		if (n < 0) {
			errors++;
			if (errno == ENOBUFS || errno == EAGAIN) {
				/* Queue full: the offered rate is what got through. */
				continue;
			}
			continue;
		}
		sent += n;
	}
	double el = now_s() - start;
	printf("sent=%ld errors=%ld seconds=%.3f pps=%.1f\n", sent, errors, el, sent / el);
	return 0;
}

static uint16_t ip_csum(const uint8_t *h, int len)
{
	uint32_t s = 0;
	for (int i = 0; i < len; i += 2)
		s += (h[i] << 8) | h[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int udp_raw(const char *ifname, const char *dmac, const char *src, const char *dst,
		   int port, double pps, double secs, int payload)
{
	unsigned m[6];
	if (sscanf(dmac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
		fprintf(stderr, "udp-raw: bad MAC %s\n", dmac);
		return 2;
	}
	struct in_addr sa, da;
	if (inet_pton(AF_INET, src, &sa) != 1 || inet_pton(AF_INET, dst, &da) != 1) {
		fprintf(stderr, "udp-raw: bad address\n");
		return 2;
	}
	if (payload < 1 || payload > 1400)
		payload = 64;
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("udp-raw: socket");
		return 1;
	}
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				  .sll_ifindex = (int)if_nametoindex(ifname), .sll_halen = 6 };
	if (ll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&ll, sizeof ll) < 0) {
		perror("udp-raw: bind");
		return 1;
	}
	uint8_t frame[1514];
	memset(frame, 0, sizeof frame);
	for (int i = 0; i < 6; i++)
		frame[i] = (uint8_t)m[i];
	uint8_t smac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	memcpy(frame + 6, smac, 6);
	frame[12] = 0x08;
	frame[13] = 0x00;
	uint8_t *ip = frame + 14;
	int iplen = 20 + 8 + payload;
	ip[0] = 0x45;
	ip[2] = iplen >> 8;
	ip[3] = iplen & 0xff;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &sa, 4);
	memcpy(ip + 16, &da, 4);
	uint16_t c = ip_csum(ip, 20);
	ip[10] = c >> 8;
	ip[11] = c & 0xff;
	uint8_t *udp = ip + 20;
	udp[0] = 40000 >> 8;
	udp[1] = 40000 & 0xff;
	udp[2] = port >> 8;
	udp[3] = port & 0xff;
	udp[4] = (8 + payload) >> 8;
	udp[5] = (8 + payload) & 0xff;
	memset(udp + 8, 'p', payload);
	int flen = 14 + iplen;
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof msgs);
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = frame;
		iov[i].iov_len = flen;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	double start = now_s(), end = start + secs;
	long sent = 0, errors = 0;
	for (;;) {
		double t = now_s();
		if (t >= end)
			break;
		long want = BATCH;
		if (pps > 0) {
			long due = (long)((t - start) * pps) - sent;
			if (due <= 0) {
				sleep_until(start + (sent + 1) / pps);
				continue;
			}
			if (due < want)
				want = due;
		}
		int n = sendmmsg(fd, msgs, (unsigned)want, 0);
		if (n < 0) {
			errors++;
			continue;
		}
		sent += n;
	}
	double el = now_s() - start;
	printf("sent=%ld errors=%ld seconds=%.3f pps=%.1f\n", sent, errors, el, sent / el);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "conn-server"))
		return conn_server(atoi(argv[2]), atof(argv[3]));
	if (argc >= 6 && !strcmp(argv[1], "conn-client"))
		return conn_client(atoi(argv[2]), atof(argv[3]), atof(argv[4]), atoi(argv[5]));
	if (argc >= 7 && !strcmp(argv[1], "udp-send"))
		return udp_send(argv[2], atoi(argv[3]), atof(argv[4]), atof(argv[5]), atoi(argv[6]));
	if (argc >= 10 && !strcmp(argv[1], "udp-raw"))
		return udp_raw(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]), atof(argv[7]),
			       atof(argv[8]), atoi(argv[9]));
	fprintf(stderr,
		"usage: agent-load conn-server PORT SECONDS\n"
		"       agent-load conn-client PORT RATE SECONDS THREADS\n"
		"       agent-load udp-send DST_IP PORT PPS SECONDS PAYLOAD\n"
		"       agent-load udp-raw IFNAME DST_MAC SRC_IP DST_IP PORT PPS SECONDS PAYLOAD\n");
	return 2;
}
