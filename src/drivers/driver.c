/* Dispatch from a configured device's protocol to its driver. */
#include "drivers/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/modbus/mb_driver.h"
#include "drivers/opcua/ua_driver.h"

struct driver {
    enum config_protocol protocol;
    void *impl;
};

struct driver *driver_start(const struct config_device *dev, const struct driver_env *env,
                            char *err, size_t err_len)
{
    struct driver *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, err_len, "out of memory starting device '%s'", dev->name);
        return NULL;
    }
    d->protocol = dev->protocol;
    switch (dev->protocol) {
    case PROTOCOL_MODBUS_TCP:
        d->impl = mb_driver_start(dev, env, err, err_len);
        break;
    case PROTOCOL_OPCUA:
        d->impl = ua_driver_start(dev, env, err, err_len);
        break;
    }
    if (!d->impl) {
        free(d);
        return NULL;
    }
    return d;
}

void driver_stop(struct driver *d)
{
    if (!d) return;
    switch (d->protocol) {
    case PROTOCOL_MODBUS_TCP:
        mb_driver_stop(d->impl);
        break;
    case PROTOCOL_OPCUA:
        ua_driver_stop(d->impl);
        break;
    }
    free(d);
}

bool driver_write(struct driver *d, size_t tag_index, const struct value *v, int timeout_ms,
                  struct driver_write_result *out)
{
    memset(out, 0, sizeof *out);
    if (!d) {
        snprintf(out->error, sizeof out->error, "the device is not running");
        return false;
    }
    switch (d->protocol) {
    case PROTOCOL_MODBUS_TCP:
        return mb_driver_write(d->impl, tag_index, v, timeout_ms, out);
    case PROTOCOL_OPCUA:
        return ua_driver_write(d->impl, tag_index, v, timeout_ms, out);
    }
    snprintf(out->error, sizeof out->error, "unknown protocol");
    return false;
}

bool driver_write_check_tag(const struct config_tag *ct, const struct value *v, char *why,
                            size_t why_len)
{
    const char *path = ct->tag.path;
    if (ct->tag.type == VALUE_STRING) {
        snprintf(why, why_len, "tag '%s' is a string: string tags cannot be written", path);
        return false;
    }
    if (!ct->write.enabled) {
        snprintf(why, why_len,
                 "tag '%s' has no enabled write policy ('write:' in the configuration)", path);
        return false;
    }
    if (v->type != ct->tag.type) {
        snprintf(why, why_len, "the value is a %s, tag '%s' holds a %s", value_type_name(v->type),
                 path, value_type_name(ct->tag.type));
        return false;
    }
    return true;
}
