/* The driver interface: every protocol (Modbus TCP now; OPC UA and MQTT
 * later) runs a configured device on the OT side behind these calls.
 *
 * A started driver owns its own thread(s), timeouts and back-off, so one dead
 * or slow device never delays another. It produces sample batches into the
 * boundary and updates its device_stats; it holds no reference to anything
 * on the IT side. */
#ifndef AIRLOCK_DRIVERS_DRIVER_H
#define AIRLOCK_DRIVERS_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boundary/boundary.h"
#include "config/config.h"
#include "core/quality.h"
#include "core/stats.h"
#include "core/value.h"

struct driver;

struct driver_env {
    struct boundary *boundary;  /* where samples go */
    struct device_stats *stats; /* this device's counters */
    uint32_t device_index;      /* index in the configuration */
    const uint32_t *tag_ids;    /* tag id of each configured tag of the device, in
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

/* The outcome of driver_write(). */
struct driver_write_result {
    bool written;            /* the device acknowledged the write */
    bool read_back;          /* the value was read back after the write */
    bool read_back_matches;  /* the device holds exactly the registers, coil or OPC UA Variant
                                written */
    struct value value_read; /* the read-back value (engineering units, as polled);
                                never a string (string tags are not writable) */
    quality_t quality_read;
    char error[256]; /* why not, when !written or !read_back; one line; "" otherwise */
};

/* Writes v (already of the tag's type) to the device's tag number tag_index
 * (group-then-tag order, as driver_env.tag_ids), then reads the tag back.
 * Runs in the driver's worker between polls (never concurrently with a poll on
 * the same connection); waits at most timeout_ms. false with out->error when
 * the device is not connected, answers with an exception (named), times out,
 * the tag is not writable (input register / discrete input / string), or the
 * server refuses it (an OPC UA StatusCode, named).
 *
 * Thread-safe: any number of threads may call it at once (writes are done
 * one at a time, in order of arrival). A call racing with driver_stop() ends
 * with "device stopping"; the caller must make sure no call starts after
 * driver_stop() has returned (d is freed then).
 *
 * Returns true when the device acknowledged the write (out->written); the
 * read-back may still have failed (out->read_back false, out->error says
 * why). A write whose answer did not come in time may still have been applied
 * by the device: the error says so. The read-back is also published into the
 * boundary as a normal sample of the tag. Nothing is retried: the caller
 * decides. */
bool driver_write(struct driver *d, size_t tag_index, const struct value *v, int timeout_ms,
                  struct driver_write_result *out);

/* The checks every driver makes before a write, whatever the protocol: the
 * tag is not a string, has an enabled write policy (the gate checks that
 * first; refused here as well) and v is of the tag's type. False with the
 * reason in why. */
bool driver_write_check_tag(const struct config_tag *ct, const struct value *v, char *why,
                            size_t why_len);

#endif
