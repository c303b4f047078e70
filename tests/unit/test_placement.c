/* Unit tests for src/placement.c (cmocka): where a relay's buffers and
 * workers go, for every combination of what is known. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "placement.h"

#define UNKNOWN -1

static int pool(int vm, int vf, int worker, bool vf_local)
{
	const char *why = NULL;
	int node = placement_pool_node(vm, vf, worker, vf_local, &why);

	/* Every choice is logged with its reason. */
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	return node;
}

static void pool_follows_the_vms_memory(void **state)
{
	(void)state;
	assert_int_equal(pool(1, 0, 0, false), 1);
	assert_int_equal(pool(1, UNKNOWN, UNKNOWN, false), 1);
	assert_int_equal(pool(0, 1, 1, false), 0);
}

static void pool_without_a_vm_takes_the_vfs_then_the_workers_node(void **state)
{
	(void)state;
	assert_int_equal(pool(UNKNOWN, 1, 0, false), 1);
	assert_int_equal(pool(UNKNOWN, UNKNOWN, 1, false), 1);
	assert_int_equal(pool(UNKNOWN, UNKNOWN, UNKNOWN, false), 0);
}

static void same_numa_keeps_the_pool_with_the_workers(void **state)
{
	(void)state;
	/* The workers are on the VF's node: the VM's memory is the remote one. */
	assert_int_equal(pool(1, 0, 0, true), 0);
	assert_int_equal(pool(1, UNKNOWN, 0, true), 0);
	/* No worker placed yet: the VF's node, where it will be. */
	assert_int_equal(pool(1, 0, UNKNOWN, true), 0);
	assert_int_equal(pool(1, UNKNOWN, UNKNOWN, true), 1);
}

static void workers_follow_the_buffers_unless_told_to_follow_the_vf(void **state)
{
	(void)state;
	assert_int_equal(placement_worker_node(1, 0, 0, false), 1);
	assert_int_equal(placement_worker_node(UNKNOWN, 1, 0, false), 1);
	assert_int_equal(placement_worker_node(UNKNOWN, UNKNOWN, 0, false), 0);
	assert_int_equal(placement_worker_node(UNKNOWN, UNKNOWN, UNKNOWN, false), UNKNOWN);
	assert_int_equal(placement_worker_node(1, 1, 0, true), 0);
	assert_int_equal(placement_worker_node(1, 1, UNKNOWN, true), 1);
}

/* Buffers and workers agree in every case where the workers' node is the
 * one given to the pool decision: no relay is split between nodes by the
 * two decisions alone. */
static void buffers_and_workers_agree(void **state)
{
	(void)state;
	for (int vf_local = 0; vf_local < 2; vf_local++)
		for (int vm = UNKNOWN; vm <= 1; vm++)
			for (int vf = UNKNOWN; vf <= 1; vf++) {
				int w = placement_worker_node(UNKNOWN, vm, vf, vf_local);
				int p = pool(vm, vf, w, vf_local);

				if (w >= 0)
					assert_int_equal(placement_worker_node(p, vm, vf, vf_local),
							 p);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pool_follows_the_vms_memory),
		cmocka_unit_test(pool_without_a_vm_takes_the_vfs_then_the_workers_node),
		cmocka_unit_test(same_numa_keeps_the_pool_with_the_workers),
		cmocka_unit_test(workers_follow_the_buffers_unless_told_to_follow_the_vf),
		cmocka_unit_test(buffers_and_workers_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
