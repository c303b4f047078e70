#include "hugepages.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <linux/magic.h>

/* Free pages of the page size that backs the mount, read from sysfs. */
static long free_pages_of_size(unsigned long page_size)
{
	char path[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages",
		 page_size / 1024);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

int huge_check(const char *mount, char *err, size_t errlen)
{
	struct statfs sfs;
	long free_pages;

	if (statfs(mount, &sfs) != 0) {
		snprintf(err, errlen,
			 "hugepage mount point %s: %s. Create and mount it: "
			 "mkdir -p %s && mount -t hugetlbfs -o pagesize=2M nodev %s "
			 "(or set VIRTIOFWD_HUGETLBFS_MOUNT_POINT / --huge-dir to "
			 "an existing hugetlbfs mount, see: grep hugetlbfs /proc/mounts)",
			 mount, strerror(errno), mount, mount);
		return -1;
	}
	if (sfs.f_type != HUGETLBFS_MAGIC) {
		snprintf(err, errlen,
			 "%s is not a hugetlbfs mount. Mount one: "
			 "mount -t hugetlbfs -o pagesize=2M nodev %s "
			 "(or point VIRTIOFWD_HUGETLBFS_MOUNT_POINT / --huge-dir at "
			 "an existing one, see: grep hugetlbfs /proc/mounts)",
			 mount, mount);
		return -1;
	}
	free_pages = free_pages_of_size((unsigned long)sfs.f_bsize);
	if (free_pages == 0) {
		snprintf(err, errlen,
			 "no free %lu kB hugepages for %s. Reserve some: "
			 "echo 1375 > /sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages "
			 "(or hugepages=1375 on the kernel command line)",
			 (unsigned long)sfs.f_bsize / 1024, mount,
			 (unsigned long)sfs.f_bsize / 1024);
		return -1;
	}
	return 0;
}
