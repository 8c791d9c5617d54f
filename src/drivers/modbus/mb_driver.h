/* The Modbus TCP driver (client side, over libmodbus): one worker thread per
 * device polls its groups on schedule with planned, merged requests, decodes
 * values, applies deadbands and sends sample batches into the boundary.
 * Failures give Bad quality stamped with the time they happened; the device
 * is reconnected with exponential back-off. Use through drivers/driver.h. */
#ifndef AIRLOCK_MODBUS_MB_DRIVER_H
#define AIRLOCK_MODBUS_MB_DRIVER_H

#include <stddef.h>

#include "drivers/driver.h"

struct mb_driver;

/* See driver_start(). */
struct mb_driver *mb_driver_start(const struct config_device *dev, const struct driver_env *env,
                                  char *err, size_t err_len);
/* See driver_stop(): interrupts a request in flight, joins the worker. */
void mb_driver_stop(struct mb_driver *d);

/* See driver_write(). The value is encoded in the calling thread (so a value
 * or tag that cannot be written is refused without waiting), then queued for
 * the worker, which takes it between two group polls or at once while it
 * sleeps: one write (FC 5 for a coil, FC 6 for one register, FC 16 for
 * several), not retried, then one read of the point with the poll's function
 * code, decoded as a poll decodes it. A tag whose `write:` policy is not
 * enabled is refused (the write gate decides first; this is a second
 * check). A bool taken from one bit of a holding
 * register is refused (a read-modify-write could undo the device's own change
 * to the other bits in between). */
bool mb_driver_write(struct mb_driver *d, size_t tag_index, const struct value *v, int timeout_ms,
                     struct driver_write_result *out);

/* Quality for a failed Modbus request given libmodbus's errno. */
quality_t mb_error_quality(int modbus_errno);

#endif
