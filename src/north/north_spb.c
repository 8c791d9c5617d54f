/* The Sparkplug B edge node (Sparkplug 3.0, docs/north.md): NDEATH as the
 * Will with bdSeq, NBIRTH and a DBIRTH per device, DDATA by alias, seq
 * 0..255 over every message, rebirth on NCMD, DCMD refused, and primary
 * host awareness through spBv1.0/STATE/<host>. Payloads come from
 * spb_codec; this file only decides what to send and when. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/version.h"
#include "core/clock.h"
#include "core/log.h"
#include "north/north_internal.h"
#include "north/spb_codec.h"

#define SPB_TOPIC_MAX 512
#define SPB_REBIRTH_METRIC "Node Control/Rebirth"
#define SPB_REBIRTH_ALIAS 0

static uint8_t next_seq(struct publisher *p)
{
    return p->seq++; /* uint8_t: wraps 255 -> 0 */
}

/* Encodes and publishes a payload on group/type/edge[/device]. */
static bool spb_send(struct publisher *p, const char *type, const char *device,
                     const struct spb_payload *pl, int qos)
{
    char topic[SPB_TOPIC_MAX], why[256];
    if (!spb_topic(topic, sizeof topic, p->group_id, type, p->edge_node, device)) {
        north_set_error(p, "invalid Sparkplug topic for %s", type);
        return false;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!spb_encode(pl, &buf, &len, why, sizeof why)) {
        north_set_error(p, "cannot encode %s: %s", type, why);
        return false;
    }
    bool ok = north_mqtt_publish(p, topic, buf, len, qos, false);
    free(buf);
    return ok;
}

/* The NDEATH payload of the current bdSeq into *buf (malloc'd). */
static bool encode_ndeath(struct publisher *p, uint8_t **buf, size_t *len)
{
    struct spb_metric bd = {.name = "bdSeq",
                            .type = VALUE_INT64,
                            .value = value_int64((int64_t)p->bd_seq),
                            .has_timestamp = true,
                            .timestamp_ms = (uint64_t)north_epoch_ms(clock_now_ns())};
    struct spb_payload pl = {.timestamp_ms = bd.timestamp_ms, .metrics = &bd, .metric_count = 1};
    char why[256];
    if (spb_encode(&pl, buf, len, why, sizeof why)) return true;
    north_set_error(p, "cannot encode NDEATH: %s", why);
    return false;
}

/* Sets the Will (NDEATH with this connection's bdSeq). */
static bool spb_prepare_connect(struct publisher *p)
{
    p->bd_seq = (p->connect_attempts - 1) % 256;
    char topic[SPB_TOPIC_MAX];
    if (!spb_topic(topic, sizeof topic, p->group_id, "NDEATH", p->edge_node, NULL)) {
        north_set_error(p, "invalid Sparkplug group or edge node id");
        return false;
    }
    uint8_t *buf;
    size_t len;
    if (!encode_ndeath(p, &buf, &len)) return false;
    int rc = mosquitto_will_set(p->mosq, topic, (int)len, buf, 1, false);
    free(buf);
    if (rc != MOSQ_ERR_SUCCESS) {
        north_set_error(p, "cannot set the NDEATH Will: %s", mosquitto_strerror(rc));
        return false;
    }
    return true;
}

/* The metric name of a tag: its path below its device's namespace. */
static const char *metric_name(const struct publisher *p, const struct tag *t)
{
    if (t->device_index >= p->model->device_count) return t->path;
    const char *ns = p->model->devices[t->device_index].namespace_path;
    size_t n = strlen(ns);
    if (n > 0 && strncmp(t->path, ns, n) == 0 && t->path[n] == '/') return t->path + n + 1;
    return t->path;
}

static void spb_send_nbirth(struct publisher *p, uint64_t now_ms)
{
    struct spb_metric m[3] = {
        {.name = "bdSeq", .type = VALUE_INT64, .value = value_int64((int64_t)p->bd_seq)},
        {.name = SPB_REBIRTH_METRIC,
         .has_alias = true,
         .alias = SPB_REBIRTH_ALIAS,
         .type = VALUE_BOOL,
         .value = value_bool(false)},
        {.name = "Properties/Software", .type = VALUE_STRING},
    };
    static const char software[] = "airlock " AIRLOCK_VERSION;
    m[2].value.type = VALUE_STRING;
    m[2].value.as.str.ptr = software;
    m[2].value.as.str.len = (uint32_t)strlen(software);
    for (size_t i = 0; i < 3; i++) {
        m[i].has_timestamp = true;
        m[i].timestamp_ms = now_ms;
    }
    struct spb_payload pl = {.timestamp_ms = now_ms,
                             .has_seq = true,
                             .seq = next_seq(p),
                             .metrics = m,
                             .metric_count = 3};
    spb_send(p, "NBIRTH", NULL, &pl, p->qos);
}

/* DBIRTH of device d with every selected metric and its last value. */
static void spb_send_dbirth(struct publisher *p, uint32_t d, uint64_t now_ms)
{
    const struct tag_table *tags = &p->model->tags;
    size_t n = 0;
    if (!north_metrics_reserve(p, tags->count ? tags->count : 1)) {
        north_set_error(p, "out of memory building DBIRTH");
        return;
    }
    for (uint32_t i = 0; i < tags->count; i++) {
        const struct tag *t = &tags->tags[i];
        if (!p->selected[i] || t->device_index != d) continue;
        const struct north_last *l = &p->last[i];
        p->metrics[n++] = (struct spb_metric){
            .name = metric_name(p, t),
            .has_alias = true,
            .alias = (uint64_t)i + 1,
            .type = t->type,
            .value = l->has ? l->value : (struct value){.type = t->type},
            .is_null = !l->has,
            .has_timestamp = true,
            .timestamp_ms = l->has ? (uint64_t)north_epoch_ms(l->ts_ns) : now_ms,
            .has_quality = true,
            .quality = l->has ? l->quality : QUALITY_BAD_WAITING_FOR_INITIAL_DATA};
    }
    if (n == 0) return;
    struct spb_payload pl = {.timestamp_ms = now_ms,
                             .has_seq = true,
                             .seq = next_seq(p),
                             .metrics = p->metrics,
                             .metric_count = n};
    spb_send(p, "DBIRTH", p->model->devices[d].spb_id, &pl, p->qos);
}

/* NBIRTH then every DBIRTH; seq restarts at 0. */
static void spb_birth(struct publisher *p)
{
    uint64_t now_ms = (uint64_t)north_epoch_ms(clock_now_ns());
    p->seq = 0;
    spb_send_nbirth(p, now_ms);
    for (uint32_t d = 0; d < p->model->device_count; d++)
        spb_send_dbirth(p, d, now_ms);
    p->rebirth_requested = false;
    log_info("north", "Sparkplug BIRTH published", "publisher=%s bdSeq=%" PRIu64, p->name,
             p->bd_seq);
}

static void spb_connected(struct publisher *p)
{
    char topic[SPB_TOPIC_MAX];
    if (spb_topic(topic, sizeof topic, p->group_id, "NCMD", p->edge_node, NULL))
        north_mqtt_subscribe(p, topic);
    /* DCMD for any device: the wildcard is not a valid device id, so the
     * topic is built here rather than by spb_topic. */
    if (snprintf(topic, sizeof topic, "spBv1.0/%s/DCMD/%s/+", p->group_id, p->edge_node) <
        (int)sizeof topic)
        north_mqtt_subscribe(p, topic);
    p->host_online = false;
    p->host_went_offline = false;
    if (p->primary_host) {
        if (spb_state_topic(topic, sizeof topic, p->primary_host)) north_mqtt_subscribe(p, topic);
        return; /* BIRTH once the host is online (spb_tick) */
    }
    spb_birth(p);
    p->ready = true;
}

/* Publishes samples s[0..n) as one DDATA per device (aliases only). */
static void spb_publish_samples(struct publisher *p, const struct north_sample *s, size_t n,
                                bool historical)
{
    if (n == 0 || !north_metrics_reserve(p, n)) {
        if (n) north_set_error(p, "out of memory building DDATA");
        return;
    }
    const struct tag_table *tags = &p->model->tags;
    uint64_t now_ms = (uint64_t)north_epoch_ms(clock_now_ns());
    size_t done = 0;
    uint32_t device = 0;
    /* Devices in order of first appearance: repeat over the rest. */
    bool *taken = calloc(n, sizeof *taken);
    if (!taken) {
        north_set_error(p, "out of memory building DDATA");
        return;
    }
    while (done < n) {
        size_t m = 0;
        bool have_device = false;
        for (size_t i = 0; i < n; i++) {
            if (taken[i]) continue;
            uint32_t d = tags->tags[s[i].tag].device_index;
            if (!have_device) {
                device = d;
                have_device = true;
            }
            if (d != device) continue;
            taken[i] = true;
            p->metrics[m++] =
                (struct spb_metric){.has_alias = true,
                                    .alias = (uint64_t)s[i].tag + 1,
                                    .type = s[i].value.type,
                                    .value = s[i].value,
                                    .has_timestamp = true,
                                    .timestamp_ms = (uint64_t)north_epoch_ms(s[i].ts_ns),
                                    .is_historical = historical,
                                    .has_quality = true,
                                    .quality = s[i].quality};
        }
        done += m;
        if (device >= p->model->device_count) continue;
        struct spb_payload pl = {.timestamp_ms = now_ms,
                                 .has_seq = true,
                                 .seq = next_seq(p),
                                 .metrics = p->metrics,
                                 .metric_count = m};
        spb_send(p, "DDATA", p->model->devices[device].spb_id, &pl, p->qos);
    }
    free(taken);
}

static void spb_publish_live(struct publisher *p, const struct north_item *it)
{
    spb_publish_samples(p, it->samples, it->count, false);
}

/* Spooled samples are found by path: a tag that no longer exists (or
 * changed type) since they were spooled is skipped and counted. */
static void spb_publish_spooled(struct publisher *p, const struct spool_sample *v, size_t n)
{
    struct north_sample *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) {
        north_set_error(p, "out of memory replaying the spool");
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tag *t = tag_table_find(&p->model->tags, v[i].path);
        if (!t || !p->selected[t->id] || t->type != v[i].value.type) {
            p->skipped_samples++;
            continue;
        }
        s[m++] = (struct north_sample){
            .tag = t->id, .quality = v[i].quality, .ts_ns = v[i].ts_ns, .value = v[i].value};
    }
    if (m < n)
        log_warn("north", "spooled samples of unknown tags skipped", "publisher=%s count=%zu",
                 p->name, n - m);
    spb_publish_samples(p, s, m, true);
    free(s);
}

static bool topic_is(const char *topic, struct publisher *p, const char *type, const char *device)
{
    char want[SPB_TOPIC_MAX];
    return spb_topic(want, sizeof want, p->group_id, type, p->edge_node, device) &&
           strcmp(topic, want) == 0;
}

static void spb_handle_ncmd(struct publisher *p, const struct mosquitto_message *m)
{
    struct spb_decoded d;
    size_t skipped = 0;
    char why[256];
    if (!spb_decode(m->payload, (size_t)m->payloadlen, &d, &skipped, why, sizeof why)) {
        log_warn("north", "malformed NCMD ignored", "publisher=%s why=\"%s\"", p->name, why);
        return;
    }
    for (size_t i = 0; i < d.metric_count; i++) {
        const struct spb_metric *mt = &d.metrics[i];
        bool is_rebirth = (mt->name && strcmp(mt->name, SPB_REBIRTH_METRIC) == 0) ||
                          (!mt->name && mt->has_alias && mt->alias == SPB_REBIRTH_ALIAS);
        if (is_rebirth && mt->type == VALUE_BOOL && !mt->is_null && mt->value.as.b) {
            log_info("north", "rebirth requested by NCMD", "publisher=%s", p->name);
            p->rebirth_requested = true;
        } else {
            log_warn("north", "NCMD metric not supported: ignored", "publisher=%s metric=\"%s\"",
                     p->name, mt->name ? mt->name : "(alias)");
        }
    }
    spb_decoded_free(&d);
}

static void spb_message(struct publisher *p, const struct mosquitto_message *m)
{
    if (!m->topic) return;
    if (topic_is(m->topic, p, "NCMD", NULL)) {
        spb_handle_ncmd(p, m);
        return;
    }
    char state[SPB_TOPIC_MAX];
    if (p->primary_host && spb_state_topic(state, sizeof state, p->primary_host) &&
        strcmp(m->topic, state) == 0) {
        bool online = false;
        uint64_t ts;
        if (!spb_parse_state(m->payload, (size_t)m->payloadlen, &online, &ts)) {
            log_warn("north", "malformed STATE ignored", "publisher=%s", p->name);
            return;
        }
        if (!online && p->host_online) p->host_went_offline = true;
        p->host_online = online;
        log_info("north", "primary host state", "publisher=%s host=%s online=%s", p->name,
                 p->primary_host, online ? "true" : "false");
        return;
    }
    /* Anything else we subscribed to is a DCMD: there is no write gate. */
    log_warn("north", "DCMD refused: writes are not allowed (no write gate)",
             "publisher=%s topic=\"%.200s\"", p->name, m->topic);
}

static void spb_tick(struct publisher *p, int64_t now_ms)
{
    (void)now_ms;
    if (p->host_went_offline) {
        p->host_went_offline = false;
        if (p->ready) {
            log_warn("north", "primary host offline: disconnecting, values go to the spool",
                     "publisher=%s", p->name);
            north_request_reconnect(p);
            return;
        }
    }
    if (!p->ready && p->primary_host && p->host_online) {
        spb_birth(p);
        p->ready = true;
        return;
    }
    if (p->ready && p->rebirth_requested) spb_birth(p);
}

/* NDEATH published explicitly before a clean disconnect (the Will is not
 * sent then). */
static void spb_goodbye(struct publisher *p)
{
    char topic[SPB_TOPIC_MAX];
    uint8_t *buf;
    size_t len;
    if (!spb_topic(topic, sizeof topic, p->group_id, "NDEATH", p->edge_node, NULL) ||
        !encode_ndeath(p, &buf, &len))
        return;
    north_mqtt_publish(p, topic, buf, len, 1, false);
    free(buf);
}

const struct north_kind_ops north_spb_ops = {
    .prepare_connect = spb_prepare_connect,
    .connected = spb_connected,
    .publish_live = spb_publish_live,
    .publish_spooled = spb_publish_spooled,
    .message = spb_message,
    .tick = spb_tick,
    .goodbye = spb_goodbye,
};
