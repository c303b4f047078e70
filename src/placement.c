#include "placement.h"

int placement_pool_node(int vm_node, int vf_node, int worker_node, bool vf_local,
			const char **why)
{
	if (vf_local && worker_node >= 0) {
		*why = "its worker's, on the VF's node (VIRTIOFWD_CPU_NIC_SAME_NUMA)";
		return worker_node;
	}
	if (!vf_local && vm_node >= 0) {
		*why = "the VM's memory's";
		return vm_node;
	}
	if (vf_node >= 0) {
		*why = "the VF's (the VM's memory's is not known yet)";
		return vf_node;
	}
	if (worker_node >= 0) {
		*why = "its worker's (neither the VM's nor the VF's is known)";
		return worker_node;
	}
	if (vm_node >= 0) {
		*why = "the VM's memory's";
		return vm_node;
	}
	*why = "node 0: nothing is known";
	return 0;
}

int placement_worker_node(int pool_node, int vm_node, int vf_node, bool vf_local)
{
	/* The buffers were placed first (a VF is added before its VM comes):
	 * the workers follow them, unless told to follow the VF. */
	if (vf_local && vf_node >= 0)
		return vf_node;
	if (pool_node >= 0)
		return pool_node;
	return vm_node >= 0 ? vm_node : vf_node;
}
