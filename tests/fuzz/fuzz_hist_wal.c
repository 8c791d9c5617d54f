/* libFuzzer target for the write-ahead log's record payload codec
 * (historian/hist_wal.h). Arbitrary bytes go into hist_wal_decode_payload;
 * when they decode, the samples are encoded again and that payload must
 * decode to the same samples, bit for bit, and re-encode to the same bytes.
 * Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "historian/hist_codec.h"
#include "historian/hist_wal.h"

static void check(int cond)
{
    if (!cond) abort();
}

/* Decoded samples (strings point into the decoded input). */
struct sample_array {
    struct hist_sample *items;
    size_t count, cap;
};

static bool collect(void *ctx, const struct hist_sample *s)
{
    struct sample_array *a = ctx;
    if (a->count == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct hist_sample *grown = realloc(a->items, cap * sizeof(*grown));
        if (!grown) abort();
        a->items = grown;
        a->cap = cap;
    }
    a->items[a->count++] = *s;
    return true;
}

static bool same_sample(const struct hist_sample *a, const struct hist_sample *b)
{
    if (a->series != b->series || a->quality != b->quality || a->ts_ns != b->ts_ns ||
        a->value.type != b->value.type)
        return false;
    switch (a->value.type) {
    case VALUE_BOOL:
        return a->value.as.b == b->value.as.b;
    case VALUE_INT64:
        return a->value.as.i64 == b->value.as.i64;
    case VALUE_UINT64:
        return a->value.as.u64 == b->value.as.u64;
    case VALUE_DOUBLE:
        return memcmp(&a->value.as.f64, &b->value.as.f64, sizeof(double)) == 0;
    case VALUE_STRING:
        return a->value.as.str.len == b->value.as.str.len &&
               (a->value.as.str.len == 0 ||
                memcmp(a->value.as.str.ptr, b->value.as.str.ptr, a->value.as.str.len) == 0);
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sample_array first = {0}, second = {0};
    if (hist_wal_decode_payload(data, size, collect, &first)) {
        struct hc_buf buf, again;
        hc_buf_init(&buf);
        hc_buf_init(&again);
        check(hist_wal_encode_payload(&buf, first.items, first.count));
        check(hist_wal_decode_payload(buf.data, buf.len, collect, &second));
        check(second.count == first.count);
        for (size_t i = 0; i < first.count; i++)
            check(same_sample(&first.items[i], &second.items[i]));
        /* The encoder is deterministic: the canonical form is a fixed point. */
        check(hist_wal_encode_payload(&again, second.items, second.count));
        check(again.len == buf.len && (buf.len == 0 || memcmp(again.data, buf.data, buf.len) == 0));
        hc_buf_free(&buf);
        hc_buf_free(&again);
    }
    free(first.items);
    free(second.items);
    return 0;
}
