/* Unit tests for scheduler/assign.c (cmocka): the assignment of relay
 * directions to worker CPUs on synthetic loads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <string.h>

#include "assign.h"

#define NEVER UINT_MAX

static const struct as_params defaults = {
	.sensitivity = 0.25, .min_gain = 0.01, .hold = 3,
};

/* The results are sums of a few doubles: compare to within rounding. */
#define assert_load(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static struct as_dir dir(unsigned relay, int d, double load, int cpu)
{
	return (struct as_dir){ .relay = relay, .dir = d, .load = load, .cpu = cpu,
				.numa = 0, .since_move = NEVER };
}

static unsigned idx(const struct as_cpu *cpus, unsigned n, int cpu)
{
	for (unsigned c = 0; c < n; c++)
		if (cpus[c].cpu == cpu)
			return c;
	fail_msg("CPU %d is not a worker", cpu);
	return 0;
}

/* The loads the result reports are those of the placement it gives, and
 * every move has a reason. */
static void check_consistent(const struct as_cpu *cpus, unsigned nc, const struct as_dir *dirs,
			     unsigned nd, const struct as_result *r)
{
	double load[AS_MAX_CPUS] = { 0 };
	unsigned moves = 0;

	for (unsigned d = 0; d < nd; d++) {
		load[idx(cpus, nc, r->cpu[d])] += isfinite(dirs[d].load) && dirs[d].load > 0 ?
						  dirs[d].load : 0;
		if (r->cpu[d] != dirs[d].cpu) {
			moves++;
			assert_int_not_equal(r->why[d], AS_STAY);
		} else {
			assert_int_equal(r->why[d], AS_STAY);
		}
	}
	assert_int_equal(moves, r->nb_moves);
	for (unsigned c = 0; c < nc; c++)
		assert_load(load[c], r->after[c]);
}

static double max_after(const struct as_result *r, unsigned nc)
{
	double m = 0;

	for (unsigned c = 0; c < nc; c++)
		m = fmax(m, r->after[c]);
	return m;
}

static void run(const struct as_cpu *cpus, unsigned nc, const struct as_dir *dirs,
		unsigned nd, const struct as_params *p, struct as_result *r)
{
	assert_int_equal(as_assign(cpus, nc, dirs, nd, p, r), 0);
	check_consistent(cpus, nc, dirs, nd, r);
}

static void test_unequal_loads_on_one_cpu_spread(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 } };
	static const double loads[8] = { 0.40, 0.30, 0.20, 0.15, 0.10, 0.08, 0.05, 0.02 };
	struct as_dir dirs[8];
	struct as_result r;

	(void)state;
	for (unsigned i = 0; i < 8; i++)
		dirs[i] = dir(i / 2, (int)(i % 2), loads[i], 1);
	run(cpus, 2, dirs, 8, &defaults, &r);
	assert_true(r.rebalanced);
	assert_load(r.before[0], 1.30);
	assert_load(r.before[1], 0.0);
	/* 1.30 in all: the best split is 0.65 each; it gets within min_gain */
	assert_true(max_after(&r, 2) <= 0.65 + defaults.min_gain);
	assert_load(r.peak_now, 1.30);
	assert_load(r.peak_best, max_after(&r, 2));
	for (unsigned i = 0; i < 8; i++)
		if (r.cpu[i] == 2)
			assert_int_equal(r.why[i], AS_BALANCE);
}

static void test_zero_load_moves_nothing(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 }, { 3, 0 } };
	struct as_dir dirs[6];
	struct as_result r;

	(void)state;
	for (unsigned i = 0; i < 6; i++)
		dirs[i] = dir(i / 2, (int)(i % 2), 0.0, 1);
	run(cpus, 3, dirs, 6, &defaults, &r);
	assert_int_equal(r.nb_moves, 0);
	assert_false(r.rebalanced);
	/* nor any load too small to matter (min_gain) */
	dirs[0].load = 0.004;
	dirs[1].load = 0.005;
	run(cpus, 3, dirs, 6, &defaults, &r);
	assert_int_equal(r.nb_moves, 0);
}

/* The gain must exceed the sensitivity; what the best placement would give
 * is reported either way, and reaching it takes one move, not a reshuffle. */
static void test_sensitivity_and_fewest_moves(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 } };
	struct as_dir dirs[] = {
		dir(0, 0, 0.30, 1), dir(0, 1, 0.10, 1), dir(1, 0, 0.10, 1), dir(1, 1, 0.30, 2),
	};
	struct as_params p = defaults;
	struct as_result r;

	(void)state;
	/* 0.50 / 0.30 -> 0.40 / 0.40: 20% */
	run(cpus, 2, dirs, 4, &p, &r);
	assert_int_equal(r.nb_moves, 0);
	assert_load(r.peak_now, 0.50);
	assert_load(r.peak_best, 0.40);
	p.sensitivity = 0.19;
	run(cpus, 2, dirs, 4, &p, &r);
	assert_true(r.rebalanced);
	assert_int_equal(r.nb_moves, 1);
	assert_load(r.after[0], 0.40);
	assert_load(r.after[1], 0.40);

	/* one move reaches the balance: one direction moves, no reshuffle */
	{
		struct as_dir d2[] = {
			dir(0, 0, 0.3, 1), dir(0, 1, 0.3, 1), dir(1, 0, 0.3, 1), dir(1, 1, 0.3, 2),
		};

		run(cpus, 2, d2, 4, &defaults, &r);
		assert_int_equal(r.nb_moves, 1);
		assert_load(max_after(&r, 2), 0.6);
	}
}

static void test_numa_groups(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 }, { 3, 1 }, { 4, 1 } };
	struct as_dir dirs[8];
	struct as_params p = defaults;
	struct as_result r;

	(void)state;
	/* relays 0-1 on node 0, all on CPU 1 and busy; relays 2-3 on node 1, light */
	for (unsigned i = 0; i < 8; i++) {
		dirs[i] = dir(i / 2, (int)(i % 2), i < 4 ? 0.3 : 0.05, i < 4 ? 1 : 3);
		dirs[i].numa = i < 4 ? 0 : 1;
	}
	run(cpus, 4, dirs, 8, &p, &r);
	assert_true(r.rebalanced);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(cpus[idx(cpus, 4, r.cpu[i])].numa, dirs[i].numa);
	assert_load(r.after[0], 0.6);
	assert_load(r.after[1], 0.6);
	assert_load(r.after[2] + r.after[3], 0.2);

	/* Global NUMA: the busy relays use the other node's CPUs too. */
	p.global_numa = true;
	run(cpus, 4, dirs, 8, &p, &r);
	assert_true(max_after(&r, 4) <= 0.35 + 1e-9);

	/* A direction off its node moves there whatever the gain, and a relay
	 * on a node without workers may run anywhere. */
	p = defaults;
	p.sensitivity = 100;
	dirs[4].cpu = 2;           /* relay 2 (node 1) VF->VM on a node 0 CPU */
	dirs[6].numa = 7;          /* relay 3 VF->VM: node 7 has no worker */
	dirs[6].cpu = 1;
	run(cpus, 4, dirs, 8, &p, &r);
	assert_int_equal(r.nb_moves, 1);
	assert_int_equal(r.why[4], AS_NUMA);
	assert_int_equal(cpus[idx(cpus, 4, r.cpu[4])].numa, 1);
	assert_int_equal(r.cpu[6], 1);
	assert_false(r.rebalanced);
	assert_load(r.before[1], 0.05);
	assert_load(r.after[1], 0.0);
	/* even without load */
	dirs[4].load = 0;
	run(cpus, 4, dirs, 8, &p, &r);
	assert_int_equal(r.why[4], AS_NUMA);
}

static void test_pins(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 } };
	struct as_dir dirs[4];
	struct as_params p = defaults;
	struct as_result r;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		dirs[i] = dir(i / 2, (int)(i % 2), 0.2, 1);
		dirs[i].pinned = true;
	}
	/* by default the balancer overrides pins, as the guide warns */
	run(cpus, 2, dirs, 4, &p, &r);
	assert_int_equal(r.nb_moves, 2);
	p.keep_pins = true;
	run(cpus, 2, dirs, 4, &p, &r);
	assert_int_equal(r.nb_moves, 0);
	/* kept pins still count: the unpinned direction goes elsewhere */
	dirs[3].pinned = false;
	dirs[3].load = 0.3;
	run(cpus, 2, dirs, 4, &p, &r);
	assert_int_equal(r.nb_moves, 1);
	assert_int_equal(r.cpu[3], 2);
}

/* A small generator, so that the sequence is the same on every run. */
static double next_load(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (double)((*seed >> 8) % 1000) / 1000.0 * 0.3;
}

static void test_hysteresis(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 }, { 3, 0 } };
	struct as_dir dirs[2] = { dir(0, 0, 0.4, 1), dir(0, 1, 0.4, 1) };
	unsigned last_move[12];
	struct as_dir many[12];
	struct as_result r;
	uint32_t seed = 7;
	unsigned moves = 0;

	(void)state;
	/* the direction moved last poll stays; the other one moves instead */
	dirs[0].since_move = 1;
	run(cpus, 3, dirs, 2, &defaults, &r);
	assert_int_equal(r.nb_moves, 1);
	assert_int_equal(r.cpu[0], 1);
	assert_int_not_equal(r.cpu[1], 1);
	/* both held: nothing moves */
	dirs[1].since_move = 0;
	run(cpus, 3, dirs, 2, &defaults, &r);
	assert_int_equal(r.nb_moves, 0);
	/* once hold polls have passed, it may move again */
	dirs[0].since_move = dirs[1].since_move = defaults.hold;
	run(cpus, 3, dirs, 2, &defaults, &r);
	assert_int_equal(r.nb_moves, 1);

	/* Loads that change at random every poll: no direction is moved twice
	 * within hold polls, and the balancer does move things. */
	for (unsigned i = 0; i < 12; i++) {
		many[i] = dir(i / 2, (int)(i % 2), 0, 1);
		last_move[i] = NEVER;
	}
	for (unsigned poll = 0; poll < 200; poll++) {
		for (unsigned i = 0; i < 12; i++) {
			many[i].load = next_load(&seed);
			many[i].since_move = last_move[i] == NEVER ? NEVER : poll - last_move[i];
		}
		run(cpus, 3, many, 12, &defaults, &r);
		for (unsigned i = 0; i < 12; i++) {
			if (r.cpu[i] == many[i].cpu)
				continue;
			assert_true(last_move[i] == NEVER || poll - last_move[i] >= defaults.hold);
			last_move[i] = poll;
			many[i].cpu = r.cpu[i];
			moves++;
		}
	}
	assert_true(moves > 0);
}

static void test_ties(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 } };
	struct as_dir dirs[4];
	struct as_result r1, r2;

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		dirs[i] = dir(i / 2, (int)(i % 2), 0.2, 1);
	run(cpus, 2, dirs, 4, &defaults, &r1);
	assert_int_equal(r1.nb_moves, 2);
	assert_load(r1.after[0], 0.4);
	assert_load(r1.after[1], 0.4);
	/* the same input, the same answer */
	run(cpus, 2, dirs, 4, &defaults, &r2);
	assert_memory_equal(r1.cpu, r2.cpu, sizeof(int) * 4);
	/* equal loads already balanced, any other split as good: no move */
	for (unsigned i = 0; i < 4; i++)
		dirs[i].cpu = r1.cpu[i];
	run(cpus, 2, dirs, 4, &defaults, &r2);
	assert_int_equal(r2.nb_moves, 0);
}

static void test_relay_bigger_than_a_core(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 }, { 3, 0 } };
	struct as_dir dirs[] = {
		dir(0, 0, 0.9, 1), dir(0, 1, 0.9, 1), dir(1, 0, 0.1, 1), dir(1, 1, 0.1, 1),
	};
	struct as_dir alone[] = {
		dir(0, 0, 1.5, 1), dir(1, 0, 0.3, 2), dir(1, 1, 0.3, 2),
	};
	struct as_result r;

	(void)state;
	/* its two directions need a CPU each */
	run(cpus, 3, dirs, 4, &defaults, &r);
	assert_int_not_equal(r.cpu[0], r.cpu[1]);
	assert_load(max_after(&r, 3), 0.9);
	/* one direction alone fills a CPU (measured above 1): the next busiest
	 * CPU is what balancing can improve */
	run(cpus, 3, alone, 3, &defaults, &r);
	assert_true(r.rebalanced);
	assert_int_equal(r.cpu[0], 1);
	assert_int_not_equal(r.cpu[1], r.cpu[2]);
	assert_load(r.peak_now, 0.6);
	assert_load(r.peak_best, 0.3);
}

static void test_worker_removed(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 } };
	struct as_dir dirs[] = {
		dir(0, 0, 0.3, 1), dir(0, 1, 0.1, 2),
		dir(1, 0, 0.2, 3), dir(1, 1, 0.05, 3),     /* CPU 3 is gone */
	};
	struct as_params p = defaults;
	struct as_result r;

	(void)state;
	p.sensitivity = 100;       /* no balancing: only what must move moves */
	p.keep_pins = true;
	dirs[2].pinned = true;     /* even pinned */
	dirs[3].since_move = 0;    /* or just moved */
	run(cpus, 2, dirs, 4, &p, &r);
	assert_false(r.rebalanced);
	assert_int_equal(r.nb_moves, 2);
	assert_int_equal(r.why[2], AS_NOT_WORKER);
	assert_int_equal(r.why[3], AS_NOT_WORKER);
	/* largest first onto the least loaded: 0.2 to CPU 2, then 0.05 to CPU 1 */
	assert_int_equal(r.cpu[2], 2);
	assert_int_equal(r.cpu[3], 1);
	assert_load(r.before[0], 0.3);
	assert_load(r.before[1], 0.1);
}

static void test_bad_input(void **state)
{
	static const struct as_cpu cpus[] = { { 1, 0 }, { 2, 0 } };
	struct as_dir dirs[] = {
		dir(0, 0, NAN, 1), dir(0, 1, -1.0, 1), dir(1, 0, INFINITY, 1), dir(1, 1, 0.0, 1),
	};
	static struct as_dir too_many[AS_MAX_DIRS + 1];
	struct as_result r;

	(void)state;
	run(cpus, 2, dirs, 4, &defaults, &r);
	assert_int_equal(r.nb_moves, 0);
	assert_int_equal(as_assign(cpus, 0, dirs, 4, &defaults, &r), -1);
	assert_int_equal(r.cpu[0], 1);
	assert_int_equal(r.nb_moves, 0);
	assert_int_equal(as_assign(cpus, 2, too_many, AS_MAX_DIRS + 1, &defaults, &r), -1);
	assert_int_equal(as_assign(cpus, 2, dirs, 0, &defaults, &r), 0);
	assert_int_equal(r.nb_moves, 0);
}

/* The most there can be: 128 directions on 256 CPUs in 4 nodes. */
static void test_limits(void **state)
{
	static struct as_cpu cpus[AS_MAX_CPUS];
	static struct as_dir dirs[AS_MAX_DIRS];
	static struct as_result r;
	uint32_t seed = 1;

	(void)state;
	for (unsigned c = 0; c < AS_MAX_CPUS; c++)
		cpus[c] = (struct as_cpu){ (int)c, (int)(c % 4) };
	for (unsigned i = 0; i < AS_MAX_DIRS; i++) {
		dirs[i] = dir(i / 2, (int)(i % 2), next_load(&seed), 0);
		dirs[i].numa = (int)(i % 4);
	}
	run(cpus, AS_MAX_CPUS, dirs, AS_MAX_DIRS, &defaults, &r);
	for (unsigned i = 0; i < AS_MAX_DIRS; i++)
		assert_int_equal(cpus[r.cpu[i]].numa, dirs[i].numa);
	/* enough CPUs for every direction to have one of its own */
	assert_true(max_after(&r, AS_MAX_CPUS) <= 0.3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unequal_loads_on_one_cpu_spread),
		cmocka_unit_test(test_zero_load_moves_nothing),
		cmocka_unit_test(test_sensitivity_and_fewest_moves),
		cmocka_unit_test(test_numa_groups),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_relay_bigger_than_a_core),
		cmocka_unit_test(test_worker_removed),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
