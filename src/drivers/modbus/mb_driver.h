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

/* Quality for a failed Modbus request given libmodbus's errno. */
quality_t mb_error_quality(int modbus_errno);

#endif
