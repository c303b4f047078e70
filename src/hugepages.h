/* hugepages: the check made before EAL starts, so that a missing mount or
 * an empty pool is reported with the commands that fix it instead of an EAL
 * failure deep in its start-up.
 *
 *   huge_check(mount, err, errlen)  0 when mount is a hugetlbfs mount with
 *                                   free pages; -1 with advice in err.
 */
#ifndef VFWD_HUGEPAGES_H
#define VFWD_HUGEPAGES_H

#include <stddef.h>

int huge_check(const char *mount_point, char *err, size_t errlen);

#endif
