/* libFuzzer target for historian chunks (historian/hist_chunk.h). Feeds the
 * bytes to hist_chunk_parse_header, hist_chunk_decode and, so that mutations
 * reach the block decoders past the CRC, hist_chunk_decode_unchecked, for
 * columns of the chunk's type and of another type. Invariants: a failed
 * decode leaves the columns as they were and gives a reason; a successful
 * one adds exactly the header's count of sorted samples inside its time
 * range, which encode again to a chunk that decodes (checked) to the same
 * samples bit for bit. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "historian/hist_chunk.h"

/* Chunks announcing more samples than this are only parsed: decoding them
 * would spend the fuzzer's memory on run-length blocks, not find bugs. */
#define FUZZ_MAX_SAMPLES (1u << 16)

static void check(int cond)
{
    if (!cond) abort();
}

static int same_sample(const struct hist_columns *a, uint32_t i, const struct hist_columns *b,
                       uint32_t j)
{
    if (a->ts[i] != b->ts[j] || a->quality[i] != b->quality[j]) return 0;
    struct value va = hist_columns_value(a, i), vb = hist_columns_value(b, j);
    if (a->type == VALUE_STRING)
        return va.as.str.len == vb.as.str.len &&
               memcmp(va.as.str.ptr, vb.as.str.ptr, va.as.str.len) == 0;
    return value_equal(&va, &vb);
}

/* Re-encodes what was decoded and checks it comes back bit for bit. */
static void check_reencode(const struct hist_columns *decoded)
{
    struct hc_buf buf;
    hc_buf_init(&buf);
    check(hist_chunk_encode(&buf, 9, decoded, NULL));
    struct hist_columns again;
    hist_columns_init(&again, decoded->type);
    char why[160];
    check(hist_chunk_decode(buf.data, buf.len, &again, why, sizeof why));
    check(again.count == decoded->count);
    for (uint32_t i = 0; i < again.count; i++)
        check(same_sample(&again, i, decoded, i));
    hist_columns_free(&again);
    hc_buf_free(&buf);
}

static void fuzz_decode(const uint8_t *data, size_t size, const struct hist_chunk_header *h,
                        enum value_type type, int checked)
{
    struct hist_columns out;
    hist_columns_init(&out, type);
    struct value v = {.type = type};
    if (type == VALUE_STRING) {
        v.as.str.ptr = "seed";
        v.as.str.len = 4;
    }
    check(hist_columns_push(&out, INT64_MIN, QUALITY_GOOD, &v));
    char why[160] = "";
    int ok = checked ? hist_chunk_decode(data, size, &out, why, sizeof why)
                     : hist_chunk_decode_unchecked(data, size, &out, why, sizeof why);
    check(memchr(why, '\0', sizeof why) != NULL);
    if (!ok) {
        check(why[0] != '\0');
        check(out.count == 1 && out.ts[0] == INT64_MIN);
    } else {
        check(type == h->type);
        check(out.count == 1 + h->summary.count);
        for (uint32_t i = 1; i < out.count; i++) {
            check(out.ts[i] >= h->summary.t_min && out.ts[i] <= h->summary.t_max);
            check(i == 1 || out.ts[i] >= out.ts[i - 1]);
        }
        struct hist_columns decoded;
        hist_columns_init(&decoded, type);
        check(hist_columns_append(&decoded, &out, 1, out.count));
        check_reencode(&decoded);
        hist_columns_free(&decoded);
    }
    hist_columns_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hist_chunk_header h;
    char why[160] = "";
    if (!hist_chunk_parse_header(data, size, &h, why, sizeof why)) {
        check(why[0] != '\0');
        return 0;
    }
    check(h.summary.count >= 1 && h.summary.t_min <= h.summary.t_max);
    check((uint64_t)h.summary.good + h.summary.uncertain + h.summary.bad == h.summary.count);
    if (h.summary.count > FUZZ_MAX_SAMPLES) return 0;
    fuzz_decode(data, size, &h, h.type, 1);
    fuzz_decode(data, size, &h, h.type, 0);
    fuzz_decode(data, size, &h, (enum value_type)((h.type + 1) % 5), 0);
    return 0;
}
