/* The UNS JSON publisher: one message per sample on <prefix>/<tag path>,
 * retained metadata on <meta_prefix>/<tag path> at every connection, and
 * an optional heartbeat republishing every last value (docs/north.md). */
#include <stdio.h>

#include "core/log.h"
#include "north/north_internal.h"
#include "north/uns.h"

#define UNS_TOPIC_MAX 1024

/* Publishes one value of the tag at path. A payload too large for one
 * message (a huge string) is logged and skipped. */
static void uns_publish_value(struct publisher *p, const char *path, const struct value *v,
                              int64_t ts_ns, quality_t quality)
{
    char topic[UNS_TOPIC_MAX];
    size_t len;
    if (!uns_topic(topic, sizeof topic, p->prefix, path) ||
        !uns_value_json(p->payload, NORTH_PAYLOAD_MAX, &len, v, ts_ns, quality)) {
        p->skipped_samples++;
        log_warn("north", "value too large for a message: skipped", "publisher=%s tag=%s", p->name,
                 path);
        return;
    }
    north_mqtt_publish(p, topic, p->payload, len, p->qos, p->retain);
}

static void uns_publish_metadata(struct publisher *p)
{
    const struct north_model *m = p->model;
    for (uint32_t i = 0; i < m->tags.count; i++) {
        if (!p->selected[i]) continue;
        const struct tag *t = &m->tags.tags[i];
        const char *device =
            t->device_index < m->device_count ? m->devices[t->device_index].name : "";
        char topic[UNS_TOPIC_MAX];
        size_t len;
        if (!uns_topic(topic, sizeof topic, p->meta_prefix, t->path) ||
            !uns_meta_json(p->payload, NORTH_PAYLOAD_MAX, &len, t->path, t->type, t->unit,
                           t->description, device))
            continue;
        if (!north_mqtt_publish(p, topic, p->payload, len, p->qos, true)) return;
    }
}

static void uns_connected(struct publisher *p)
{
    uns_publish_metadata(p);
    p->ready = true;
    p->next_heartbeat_ms = 0;
}

static void uns_publish_live(struct publisher *p, const struct north_item *it)
{
    for (size_t i = 0; i < it->count; i++) {
        const struct north_sample *s = &it->samples[i];
        uns_publish_value(p, p->model->tags.tags[s->tag].path, &s->value, s->ts_ns, s->quality);
    }
}

static void uns_publish_spooled(struct publisher *p, const struct spool_sample *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        uns_publish_value(p, v[i].path, &v[i].value, v[i].ts_ns, v[i].quality);
}

/* Republishes every last value each heartbeat_s, while publishing live. */
static void uns_tick(struct publisher *p, int64_t now_ms)
{
    if (p->heartbeat_s == 0 || !p->ready || p->spooling) return;
    if (p->next_heartbeat_ms == 0) p->next_heartbeat_ms = now_ms + (int64_t)p->heartbeat_s * 1000;
    if (now_ms < p->next_heartbeat_ms) return;
    p->next_heartbeat_ms = now_ms + (int64_t)p->heartbeat_s * 1000;
    for (uint32_t i = 0; i < p->model->tags.count; i++) {
        const struct north_last *l = &p->last[i];
        if (!p->selected[i] || !l->has) continue;
        uns_publish_value(p, p->model->tags.tags[i].path, &l->value, l->ts_ns, l->quality);
    }
}

const struct north_kind_ops north_uns_ops = {
    .prepare_connect = NULL,
    .connected = uns_connected,
    .publish_live = uns_publish_live,
    .publish_spooled = uns_publish_spooled,
    .message = NULL,
    .tick = uns_tick,
    .goodbye = NULL,
};
