/* Small file-system helpers shared by modules that create their data
 * directories. */
#ifndef AIRLOCK_CORE_FS_H
#define AIRLOCK_CORE_FS_H

#include <stdbool.h>

/* mkdir -p path (each missing directory with mode 0755). False with errno
 * set on failure (ENAMETOOLONG beyond 4095 bytes). */
bool fs_make_dirs(const char *path);

#endif
