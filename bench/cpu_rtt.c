/* SPDX-License-Identifier: BSD-3-Clause
 *
 * vfwd-cpu-rtt: how long one cache line takes to go from CPU A to CPU B
 * and back, in nanoseconds (the median of 9 batches of 20000 round trips).
 *
 * The benchmark's relay and generator hand each other every packet through
 * cache lines that the other CPU wrote last, so this is the machine's
 * price for each of those handoffs. On this project's shared machines it
 * swings between about 100 and 450 ns over tens of seconds (where the
 * hypervisor runs our two vCPUs), and the relays' rates with it:
 * bench.py measures it before each pair of runs and reports it beside
 * their figures.
 *
 *   vfwd-cpu-rtt [CPU_A CPU_B]     default: 0 1
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUND_TRIPS 20000
#define BATCHES 9

static _Alignas(64) volatile uint64_t ball;

/* CPU B sends back every odd value as the next even one. */
static void *returner(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < (uint64_t)ROUND_TRIPS * BATCHES; i++) {
		while (ball != 2 * i + 1)
			;
		ball = 2 * i + 2;
	}
	return NULL;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int cpu_a = argc > 2 ? atoi(argv[1]) : 0, cpu_b = argc > 2 ? atoi(argv[2]) : 1;
	cpu_set_t a, b;
	pthread_attr_t attr;
	double ns[BATCHES];
	pthread_t t;

	CPU_ZERO(&a);
	CPU_SET(cpu_a, &a);
	CPU_ZERO(&b);
	CPU_SET(cpu_b, &b);
	if (pthread_setaffinity_np(pthread_self(), sizeof(a), &a) != 0 ||
	    pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setaffinity_np(&attr, sizeof(b), &b) != 0 ||
	    pthread_create(&t, &attr, returner, NULL) != 0) {
		fprintf(stderr, "vfwd-cpu-rtt: cannot run on CPUs %d and %d\n", cpu_a, cpu_b);
		return 1;
	}
	for (int batch = 0; batch < BATCHES; batch++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (uint64_t i = (uint64_t)batch * ROUND_TRIPS; i < (uint64_t)(batch + 1) * ROUND_TRIPS;
		     i++) {
			ball = 2 * i + 1;
			while (ball != 2 * i + 2)
				;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns[batch] = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / ROUND_TRIPS;
	}
	pthread_join(t, NULL);
	qsort(ns, BATCHES, sizeof(ns[0]), by_value);
	printf("%.0f\n", ns[BATCHES / 2]);
	return 0;
}
