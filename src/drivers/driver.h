/* The driver interface: every protocol (Modbus TCP now; OPC UA and MQTT
 * later) runs a configured device on the OT side behind these calls.
 *
 * A started driver owns its own thread(s), timeouts and back-off, so one dead
 * or slow device never delays another. It produces sample batches into the
 * boundary and updates its device_stats; it holds no reference to anything
 * on the IT side. */
#ifndef AIRLOCK_DRIVERS_DRIVER_H
#define AIRLOCK_DRIVERS_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "boundary/boundary.h"
#include "config/config.h"
#include "core/stats.h"

struct driver;

struct driver_env {
    struct boundary *boundary;   /* where samples go */
    struct device_stats *stats;  /* this device's counters */
    uint32_t device_index;       /* index in the configuration */
    const uint32_t *tag_ids;     /* tag id of each configured tag of the device, in
                                    group-then-tag order */
};

/* Starts the device's worker. The device config and tag_ids must outlive the
 * driver. Returns NULL with a message in err when it cannot start at all
 * (an unreachable device is not such a case: it is retried with back-off). */
struct driver *driver_start(const struct config_device *dev, const struct driver_env *env,
                            char *err, size_t err_len);

/* Asks the worker to stop and waits for it (within about one request
 * timeout). Safe with NULL. */
void driver_stop(struct driver *d);

#endif
