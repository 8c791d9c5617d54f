/* libFuzzer target for the Sparkplug B codec (north/spb_codec.h): any bytes
 * go to spb_decode (what arrives in NCMD / DCMD messages) and to
 * spb_parse_state (what arrives on a STATE topic). Invariants: a failed
 * decode gives a reason and holds nothing to free; a successful one
 * re-encodes to bytes that decode to the same metrics, field for field,
 * with nothing skipped.
 * Any violation aborts. Seed corpus: corpus/fuzz_spb_decode/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "north/spb_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) abort();
}

static int same_metric(const struct spb_metric *a, const struct spb_metric *b)
{
    if ((a->name == NULL) != (b->name == NULL)) return 0;
    if (a->name && strcmp(a->name, b->name) != 0) return 0;
    if (a->has_alias != b->has_alias || (a->has_alias && a->alias != b->alias)) return 0;
    if (a->type != b->type || a->is_null != b->is_null) return 0;
    if (a->has_timestamp != b->has_timestamp ||
        (a->has_timestamp && a->timestamp_ms != b->timestamp_ms))
        return 0;
    if (a->is_historical != b->is_historical) return 0;
    if (a->has_quality != b->has_quality || (a->has_quality && a->quality != b->quality)) return 0;
    if (a->is_null) return 1;
    if (a->type == VALUE_STRING)
        return a->value.as.str.len == b->value.as.str.len &&
               memcmp(a->value.as.str.ptr, b->value.as.str.ptr, a->value.as.str.len) == 0;
    return value_equal(&a->value, &b->value);
}

/* Encodes what was decoded and checks it decodes to the same metrics. */
static void check_reencode(const struct spb_decoded *d)
{
    struct spb_payload p = {.timestamp_ms = d->timestamp_ms,
                            .has_seq = d->has_seq && d->seq <= 255,
                            .seq = d->seq,
                            .metrics = d->metrics,
                            .metric_count = d->metric_count};
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256];
    check(spb_encode(&p, &buf, &len, why, sizeof why));
    struct spb_decoded again;
    size_t skipped = 1;
    check(spb_decode(buf, len, &again, &skipped, why, sizeof why));
    check(skipped == 0);
    check(again.metric_count == d->metric_count);
    check(again.has_seq == p.has_seq && (!p.has_seq || again.seq == p.seq));
    check(again.timestamp_ms == d->timestamp_ms);
    for (size_t i = 0; i < d->metric_count; i++)
        check(same_metric(&d->metrics[i], &again.metrics[i]));
    spb_decoded_free(&again);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spb_decoded d;
    size_t skipped = 0;
    char why[256] = "";
    if (spb_decode(data, size, &d, &skipped, why, sizeof why)) {
        check(d.metric_count == 0 || d.metrics != NULL);
        check_reencode(&d);
        spb_decoded_free(&d);
    } else {
        check(why[0] != '\0');
        check(d.metrics == NULL && d.internal == NULL);
    }

    bool online = false;
    uint64_t timestamp_ms = 0;
    (void)spb_parse_state(data, size, &online, &timestamp_ms);
    return 0;
}
