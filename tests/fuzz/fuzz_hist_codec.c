/* libFuzzer target for the historian column codecs (hist_codec.h).
 *
 * Input: byte 0 picks the decoder (mod 6), bytes 1..2 the item count n
 * (little-endian, up to 65535), the rest is the block. Every decoder must
 * stay inside the block whatever it holds; whatever decodes is encoded again
 * and must decode back to the same items, bit for bit. */
#include "historian/hist_codec.h"

#include <stdlib.h>
#include <string.h>

/* Aborts when a round trip changed something: libFuzzer reports the input. */
static void require(bool condition)
{
    if (!condition) abort();
}

/* Re-encodes decoded items with `encode`, decodes them with `decode` and
 * compares the bytes of the items. */
#define CHECK_REENCODE(TYPE, items, n, ENCODE, DECODE)                                             \
    do {                                                                                           \
        struct hc_buf buf_;                                                                        \
        hc_buf_init(&buf_);                                                                        \
        require(ENCODE(&buf_, items, n));                                                          \
        TYPE *again_ = malloc((n ? n : 1) * sizeof(TYPE));                                         \
        size_t used_ = 0;                                                                          \
        require(DECODE(buf_.data, buf_.len, n, again_, &used_));                                   \
        require(used_ == buf_.len);                                                                \
        require(n == 0 || memcmp(items, again_, n * sizeof(TYPE)) == 0);                           \
        free(again_);                                                                              \
        hc_buf_free(&buf_);                                                                        \
    } while (0)

static void fuzz_strings(const uint8_t *block, size_t len, size_t n)
{
    const char **s = malloc((n ? n : 1) * sizeof *s);
    uint32_t *lens = malloc((n ? n : 1) * sizeof *lens);
    size_t used;
    if (hc_decode_str(block, len, n, s, lens, &used)) {
        require(used <= len);
        struct hc_buf buf;
        hc_buf_init(&buf);
        require(hc_encode_str(&buf, s, lens, n));
        const char **s2 = malloc((n ? n : 1) * sizeof *s2);
        uint32_t *lens2 = malloc((n ? n : 1) * sizeof *lens2);
        require(hc_decode_str(buf.data, buf.len, n, s2, lens2, &used));
        require(used == buf.len);
        for (size_t i = 0; i < n; i++)
            require(lens[i] == lens2[i] && memcmp(s[i], s2[i], lens[i]) == 0);
        free(s2);
        free(lens2);
        hc_buf_free(&buf);
    }
    free(s);
    free(lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    unsigned which = data[0] % 6;
    size_t n = (size_t)data[1] | (size_t)data[2] << 8;
    const uint8_t *block = data + 3;
    size_t len = size - 3;
    /* An exact-size heap copy, so reading past the block is caught. */
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, block, len);
    size_t used = 0;
    void *items = malloc((n ? n : 1) * 8);
    switch (which) {
    case 0:
        if (hc_decode_ts(copy, len, n, items, &used)) {
            require(used <= len);
            CHECK_REENCODE(int64_t, (int64_t *)items, n, hc_encode_ts, hc_decode_ts);
        }
        break;
    case 1:
        if (hc_decode_f64(copy, len, n, items, &used)) {
            require(used <= len);
            CHECK_REENCODE(double, (double *)items, n, hc_encode_f64, hc_decode_f64);
        }
        break;
    case 2:
        if (hc_decode_i64(copy, len, n, items, &used)) {
            require(used <= len);
            CHECK_REENCODE(int64_t, (int64_t *)items, n, hc_encode_i64, hc_decode_i64);
        }
        break;
    case 3:
        if (hc_decode_bool(copy, len, n, items, &used)) {
            require(used <= len);
            for (size_t i = 0; i < n; i++)
                require(((uint8_t *)items)[i] <= 1);
            CHECK_REENCODE(uint8_t, (uint8_t *)items, n, hc_encode_bool, hc_decode_bool);
        }
        break;
    case 4:
        if (hc_decode_u32(copy, len, n, items, &used)) {
            require(used <= len);
            CHECK_REENCODE(uint32_t, (uint32_t *)items, n, hc_encode_u32, hc_decode_u32);
        }
        break;
    default:
        fuzz_strings(copy, len, n);
        break;
    }
    free(items);
    free(copy);
    return 0;
}
