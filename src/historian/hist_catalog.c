/* The series catalogue: dir/series.cat, an append-only file of records
 *     u32 payload length | u32 CRC-32C of payload | payload
 * with payload = u32 series id | u8 value type | path bytes. Ids are dense
 * and given in order; a torn last record (a crash while creating a series)
 * is ignored. A new series is written at once (so a killed process keeps
 * it) and fsync'd before the log that may hold its samples is fsync'd or a
 * checkpoint publishes them (hist_catalog_sync), so that a gateway
 * creating 100,000 series at start costs one fsync, not 100,000. In memory: an array by id and a
 * hash from path to the newest series of that path. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "core/le.h"
#include "historian/hist_alloc.h"
#include "historian/historian_internal.h"

#define CATALOG_FILE "series.cat"
#define RECORD_HEAD_BYTES 8

static uint32_t path_hash(const char *s)
{
    uint32_t x = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        x = (x ^ (uint8_t)*s) * 16777619u;
    return x;
}

uint32_t hist_group_of(const struct historian *h, const char *path)
{
    uint32_t best = 0;
    size_t best_len = 0;
    bool found = false;
    for (size_t i = 0; i < h->group_count; i++) {
        size_t n = strlen(h->groups[i].prefix);
        if (strncmp(path, h->groups[i].prefix, n) == 0 && (!found || n > best_len)) {
            best = (uint32_t)i;
            best_len = n;
            found = true;
        }
    }
    return best;
}

/* Rebuilds the path index with slots slots. */
static bool index_resize(struct historian *h, uint32_t slots)
{
    uint32_t *index = hist_calloc(slots, sizeof *index);
    if (!index) return false;
    for (uint32_t id = 0; id < h->series_count; id++) {
        uint32_t s = path_hash(h->series[id].path) & (slots - 1);
        while (index[s] && strcmp(h->series[index[s] - 1].path, h->series[id].path) != 0)
            s = (s + 1) & (slots - 1);
        index[s] = id + 1; /* later ids replace earlier ones: the newest wins */
    }
    hist_free(h->path_index);
    h->path_index = index;
    h->path_slots = slots;
    return true;
}

struct hist_series *hist_catalog_find(struct historian *h, const char *path)
{
    if (!h->path_slots) return NULL;
    uint32_t s = path_hash(path) & (h->path_slots - 1);
    while (h->path_index[s]) {
        struct hist_series *se = &h->series[h->path_index[s] - 1];
        if (strcmp(se->path, path) == 0) return se;
        s = (s + 1) & (h->path_slots - 1);
    }
    return NULL;
}

/* Adds a series to memory (not to the file). NULL on out of memory. */
static struct hist_series *add_in_memory(struct historian *h, uint32_t id, enum value_type type,
                                         const char *path)
{
    if (id != h->series_count) return NULL;
    if ((h->series_count + 1) * 2 > h->path_slots &&
        !index_resize(h, h->path_slots ? h->path_slots * 2 : 256))
        return NULL;
    if (h->series_count == h->series_capacity) {
        uint32_t cap = h->series_capacity ? h->series_capacity * 2 : 64;
        struct hist_series *grown = hist_realloc(h->series, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        h->series = grown;
        h->series_capacity = cap;
    }
    char *copy = strpool_copy(&h->paths, path);
    if (!copy) return NULL;
    struct hist_series *se = &h->series[h->series_count];
    memset(se, 0, sizeof *se);
    se->id = id;
    se->type = type;
    se->path = copy;
    se->group = hist_group_of(h, path);
    hist_columns_init(&se->head, type);
    hist_columns_init(&se->flushing, type);
    h->series_count++;
    uint32_t s = path_hash(path) & (h->path_slots - 1);
    while (h->path_index[s] && strcmp(h->series[h->path_index[s] - 1].path, path) != 0)
        s = (s + 1) & (h->path_slots - 1);
    h->path_index[s] = id + 1;
    h->stats.series = h->series_count;
    return se;
}

bool hist_catalog_open(struct historian *h, char *err, size_t err_len)
{
    char path[HIST_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", h->dir, CATALOG_FILE);
    int e = 0;
    int fd = h->io->open(h->io, path, O_RDWR | O_CREAT | O_APPEND, 0644, &e);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
        return false;
    }
    off_t size = h->io->size(h->io, fd, &e);
    uint8_t *data = size > 0 ? hist_malloc((size_t)size) : NULL;
    if (size < 0 || (size > 0 && !data) ||
        (size > 0 && !hist_io_pread_all(h->io, fd, data, (size_t)size, 0, &e))) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(e ? e : ENOMEM));
        hist_free(data);
        h->io->close(h->io, fd, &e);
        return false;
    }
    size_t pos = 0, good_end = 0;
    char name[HIST_PATH_MAX];
    while (pos + RECORD_HEAD_BYTES <= (size_t)size) {
        uint32_t len = get_u32le(data + pos), crc = get_u32le(data + pos + 4);
        if (len < 5 || len - 5 >= sizeof name || pos + RECORD_HEAD_BYTES + len > (size_t)size)
            break;
        const uint8_t *p = data + pos + RECORD_HEAD_BYTES;
        if (hc_crc32c(0, p, len) != crc) break;
        uint32_t id = get_u32le(p);
        uint8_t type = p[4];
        memcpy(name, p + 5, len - 5);
        name[len - 5] = '\0';
        if (type > VALUE_STRING || id != h->series_count) break;
        if (!add_in_memory(h, id, (enum value_type)type, name)) {
            snprintf(err, err_len, "%s: out of memory loading series", path);
            hist_free(data);
            h->io->close(h->io, fd, &e);
            return false;
        }
        pos += RECORD_HEAD_BYTES + len;
        good_end = pos;
    }
    hist_free(data);
    /* A torn record at the end (crash while creating a series) is cut off
     * so that the next record is appended after the good ones. */
    if (good_end != (size_t)size && h->io->ftruncate(h->io, fd, (off_t)good_end, &e) != 0) {
        snprintf(err, err_len, "%s: cannot cut a torn record: %s", path, strerror(e));
        h->io->close(h->io, fd, &e);
        return false;
    }
    h->catalog_fd = fd;
    h->catalog_bytes = good_end;
    return true;
}

void hist_catalog_close(struct historian *h)
{
    int e;
    if (h->catalog_fd >= 0) h->io->close(h->io, h->catalog_fd, &e);
    h->catalog_fd = -1;
}

struct hist_series *hist_catalog_create(struct historian *h, const char *path, enum value_type type)
{
    size_t n = strlen(path);
    if (n == 0 || n >= HIST_PATH_MAX) {
        hist_set_error(h, true, "series path of %zu bytes (1..%d allowed)", n, HIST_PATH_MAX - 1);
        return NULL;
    }
    uint8_t record[RECORD_HEAD_BYTES + 5 + HIST_PATH_MAX];
    uint32_t id = h->series_count;
    put_u32le(record + RECORD_HEAD_BYTES, id);
    record[RECORD_HEAD_BYTES + 4] = (uint8_t)type;
    memcpy(record + RECORD_HEAD_BYTES + 5, path, n);
    uint32_t len = (uint32_t)(5 + n);
    put_u32le(record, len);
    put_u32le(record + 4, hc_crc32c(0, record + RECORD_HEAD_BYTES, len));
    int e = 0;
    /* Appended (O_APPEND) after the good records: a failed earlier write
     * may have left bytes past them, cut those first. */
    if (h->io->ftruncate(h->io, h->catalog_fd, (off_t)h->catalog_bytes, &e) != 0 ||
        !hist_io_write_all(h->io, h->catalog_fd, record, RECORD_HEAD_BYTES + len, &e)) {
        hist_set_error(h, true, "%s/%s: cannot record series '%s': %s", h->dir, CATALOG_FILE, path,
                       strerror(e));
        return NULL;
    }
    struct hist_series *se = add_in_memory(h, id, type, path);
    if (!se) {
        hist_set_error(h, true, "out of memory creating series '%s'", path);
        return NULL;
    }
    h->catalog_bytes += RECORD_HEAD_BYTES + len;
    h->catalog_dirty = true;
    return se;
}

bool hist_catalog_sync(struct historian *h)
{
    if (!h->catalog_dirty) return true;
    int e = 0;
    if (h->io->fsync(h->io, h->catalog_fd, &e) != 0) {
        hist_set_error(h, true, "%s/%s: cannot fsync: %s", h->dir, CATALOG_FILE, strerror(e));
        return false;
    }
    h->catalog_dirty = false;
    return true;
}
