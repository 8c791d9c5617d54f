/* libFuzzer target for the spool's reading side (north/spool.h): arbitrary
 * bytes become a segment file (and, when the first byte says so, the rest
 * is split into record payloads that get valid record headers and CRCs, so
 * the payload decoder is reached too), then the spool is opened and
 * peeked/acknowledged until empty. Must never crash, hang or leak; every
 * sample read must have a path and a valid type. A second open of what is
 * left must also work. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "historian/hist_codec.h"
#include "north/spool.h"

static char fuzz_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The segment file made of data: raw (mode byte even), or a segment
 * header followed by records whose payloads are the pieces of data between
 * 0xFF 0xFE separators, each sealed with a valid header (mode byte odd). */
static uint8_t *make_segment(const uint8_t *data, size_t size, size_t *out_len)
{
    /* At most size / 2 + 1 pieces, each with a 20-byte header. */
    uint8_t *out = malloc(16 + size + 20 * (size / 2 + 2));
    if (!out) abort();
    if (size == 0 || (data[0] & 1) == 0) {
        if (size) memcpy(out, data + 1, size - 1);
        *out_len = size ? size - 1 : 0;
        return out;
    }
    memcpy(out, "ASPL", 4);
    put_u32le(out + 4, 1);
    put_u32le(out + 8, 1);
    put_u32le(out + 12, 0);
    size_t len = 16, start = 1;
    for (size_t i = 1; i <= size; i++) {
        bool at_end = i == size;
        if (!at_end && !(i + 1 < size && data[i] == 0xFF && data[i + 1] == 0xFE)) continue;
        size_t piece = i - start;
        uint8_t *rec = out + len;
        memcpy(rec + 20, data + start, piece);
        uint32_t count = 0;
        if (piece > 0) count = data[start] < 0x80 ? data[start] : 1; /* the first varint, roughly */
        put_u32le(rec, 0x31525053u);
        put_u32le(rec + 4, (uint32_t)piece);
        put_u32le(rec + 8, count);
        put_u32le(rec + 12, hc_crc32c(0, rec + 20, piece));
        put_u32le(rec + 16, hc_crc32c(0, rec, 16));
        len += 20 + piece;
        start = i + 2;
        i++;
    }
    *out_len = len;
    return out;
}

static void drain_and_close(const char *dir)
{
    struct spool_options o;
    spool_options_init(&o);
    o.dir = dir;
    char err[256];
    struct spool *s = spool_open(&o, err, sizeof err);
    if (!s) return;
    const struct spool_sample *v;
    size_t n;
    for (int guard = 0; guard < 100000 && spool_peek(s, &v, &n); guard++) {
        for (size_t i = 0; i < n; i++) {
            if (!v[i].path || (unsigned)v[i].value.type > VALUE_STRING) abort();
            (void)strlen(v[i].path);
            if (v[i].value.type == VALUE_STRING && v[i].value.as.str.len > 0) {
                volatile char last = v[i].value.as.str.ptr[v[i].value.as.str.len - 1];
                (void)last;
            }
        }
        if (!spool_ack(s)) abort();
    }
    spool_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/airlock-fuzz-spool-XXXXXX");
        if (!mkdtemp(fuzz_dir)) abort();
    }
    char dir[128], seg[192];
    snprintf(dir, sizeof dir, "%s/s", fuzz_dir);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (mkdir(dir, 0755) != 0) abort();
    snprintf(seg, sizeof seg, "%s/spool-%016x.seg", dir, 1);
    size_t len;
    uint8_t *bytes = make_segment(data, size, &len);
    FILE *f = fopen(seg, "wb");
    if (!f) abort();
    if (len && fwrite(bytes, 1, len, f) != len) abort();
    fclose(f);
    free(bytes);
    drain_and_close(dir);
    drain_and_close(dir);
    return 0;
}
