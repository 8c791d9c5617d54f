/* The manifest: dir/MANIFEST lists the live segments and the log sequence
 * they cover. It is rewritten whole (MANIFEST.tmp, fsync, rename, fsync of
 * the directory) whenever the set changes, so after a crash it is either
 * the old list or the new one. Segment files it does not list are
 * leftovers of a checkpoint or compaction cut short and are removed.
 *
 * Layout (little-endian): "AHMF" | u32 version | u64 wal_upto |
 * u64 next_segno | u32 count | count x (u8 name length | group name |
 * i64 partition start ns | u64 segno | u64 samples) | u32 CRC-32C of all
 * before. The samples count lets statistics be given without reading any
 * segment's index. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "historian/hist_alloc.h"
#include "historian/historian_internal.h"

#define MANIFEST_MAGIC 0x464D4841u /* "AHMF" */
#define MANIFEST_VERSION 2u

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void hist_group_dir(const struct historian *h, const char *group, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s/%s", h->dir, group);
}

void hist_segment_path(const struct historian *h, const char *group, int64_t partition_start_ns,
                       uint64_t segno, char *out, size_t out_len)
{
    time_t secs = (time_t)hist_floor_div(partition_start_ns, HIST_NS_PER_S);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, out_len, "%s/%s/%04d%02d%02dT%02d%02d%02dZ-%010llu.seg", h->dir, group,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned long long)segno);
}

bool hist_manifest_write(struct historian *h, char *err, size_t err_len)
{
    size_t cap = 32 + h->seg_count * (1 + HIST_GROUP_NAME_MAX + 24) + 4;
    uint8_t *buf = hist_malloc(cap);
    if (!buf) {
        snprintf(err, err_len, "out of memory writing the manifest");
        return false;
    }
    size_t n = 0;
    put_le(buf, MANIFEST_MAGIC, 4);
    put_le(buf + 4, MANIFEST_VERSION, 4);
    put_le(buf + 8, h->wal_upto, 8);
    put_le(buf + 16, h->next_segno, 8);
    put_le(buf + 24, h->seg_count, 4);
    n = 28;
    for (size_t i = 0; i < h->seg_count; i++) {
        const struct hist_seg_ref *r = &h->segs[i];
        size_t len = strlen(r->group);
        buf[n++] = (uint8_t)len;
        memcpy(buf + n, r->group, len);
        n += len;
        put_le(buf + n, (uint64_t)r->partition_start_ns, 8);
        put_le(buf + n + 8, r->segno, 8);
        put_le(buf + n + 16, r->points, 8);
        n += 24;
    }
    put_le(buf + n, hc_crc32c(0, buf, n), 4);
    n += 4;

    char tmp[HIST_PATH_MAX + 32], final[HIST_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", h->dir);
    snprintf(final, sizeof final, "%s/MANIFEST", h->dir);
    int e = 0, e2;
    const char *step = "create";
    int fd = h->io->open(h->io, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, &e);
    bool ok = fd >= 0;
    if (ok) {
        step = "write";
        ok = hist_io_write_all(h->io, fd, buf, n, &e);
        if (ok) {
            step = "fsync";
            ok = h->io->fsync(h->io, fd, &e) == 0;
        }
        h->io->close(h->io, fd, &e2);
    }
    if (ok) {
        step = "rename";
        ok = h->io->rename(h->io, tmp, final, &e) == 0;
    }
    if (ok) {
        step = "fsync the directory of";
        ok = hist_io_sync_dir(h->io, h->dir, &e);
    }
    hist_free(buf);
    if (!ok) {
        if (fd >= 0) h->io->unlink(h->io, tmp, &e2);
        snprintf(err, err_len, "%s: cannot %s: %s", final, step, strerror(e));
        return false;
    }
    h->manifest_bytes = n;
    return true;
}

static bool listed(const struct historian *h, const char *group, const char *file)
{
    char path[HIST_PATH_MAX + 128];
    for (size_t i = 0; i < h->seg_count; i++) {
        const struct hist_seg_ref *r = &h->segs[i];
        if (strcmp(r->group, group) != 0) continue;
        hist_segment_path(h, r->group, r->partition_start_ns, r->segno, path, sizeof path);
        const char *base = strrchr(path, '/');
        if (base && strcmp(base + 1, file) == 0) return true;
    }
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Removes segment files (and temporaries) no manifest entry names. */
static void remove_orphans(struct historian *h)
{
    DIR *top = opendir(h->dir);
    if (!top) return;
    struct dirent *g;
    while ((g = readdir(top))) {
        if (g->d_name[0] == '.' || strcmp(g->d_name, "wal") == 0) continue;
        if (strlen(g->d_name) >= HIST_GROUP_NAME_MAX) continue;
        char gdir[HIST_PATH_MAX + HIST_GROUP_NAME_MAX + 2];
        snprintf(gdir, sizeof gdir, "%s/%s", h->dir, g->d_name);
        DIR *d = opendir(gdir);
        if (!d) continue;
        struct dirent *f;
        while ((f = readdir(d))) {
            bool seg = ends_with(f->d_name, ".seg"), tmp = ends_with(f->d_name, ".tmp");
            if ((!seg && !tmp) || (seg && listed(h, g->d_name, f->d_name))) continue;
            char path[sizeof gdir + 256];
            snprintf(path, sizeof path, "%s/%s", gdir, f->d_name);
            int e;
            h->io->unlink(h->io, path, &e);
        }
        closedir(d);
    }
    closedir(top);
}

/* Parses the manifest bytes into h (segments opened). */
static bool parse(struct historian *h, const uint8_t *buf, size_t n, const char *path, char *err,
                  size_t err_len)
{
    uint64_t version = n >= 8 ? get_le(buf + 4, 4) : 0;
    if (n < 32 || get_le(buf, 4) != MANIFEST_MAGIC || version < 1 || version > MANIFEST_VERSION ||
        get_le(buf + n - 4, 4) != hc_crc32c(0, buf, n - 4)) {
        snprintf(err, err_len, "%s: not a valid manifest (bad magic, version or checksum)", path);
        return false;
    }
    /* Version 1 had no sample counts: those segments count 0 samples in
     * statistics until compaction rewrites them. */
    size_t entry_tail = version == 1 ? 16 : 24;
    h->wal_upto = get_le(buf + 8, 8);
    h->next_segno = get_le(buf + 16, 8);
    uint32_t count = (uint32_t)get_le(buf + 24, 4);
    size_t pos = 28;
    for (uint32_t i = 0; i < count; i++) {
        if (pos + 1 > n - 4) goto truncated;
        size_t len = buf[pos++];
        if (len == 0 || len >= HIST_GROUP_NAME_MAX || pos + len + entry_tail > n - 4)
            goto truncated;
        char group[HIST_GROUP_NAME_MAX];
        memcpy(group, buf + pos, len);
        group[len] = '\0';
        pos += len;
        int64_t partition = (int64_t)get_le(buf + pos, 8);
        uint64_t segno = get_le(buf + pos + 8, 8);
        uint64_t points = version == 1 ? 0 : get_le(buf + pos + 16, 8);
        pos += entry_tail;
        char seg_path[HIST_PATH_MAX + 128], why[256];
        hist_segment_path(h, group, partition, segno, seg_path, sizeof seg_path);
        struct hist_segment *seg = hist_seg_open_lazy(h->io, seg_path, why, sizeof why);
        if (!seg && hist_is_out_of_memory(why)) {
            /* Not the file's fault: fail the open and touch nothing. */
            snprintf(err, err_len, "%s", why);
            return false;
        }
        if (!seg) {
            /* Reported, set aside (renamed, never deleted) and skipped: the
             * rest of the history stays readable. */
            h->stats.corrupt_chunks++;
            hist_set_error(h, false, "segment listed in the manifest cannot be read: %s", why);
            char aside[sizeof seg_path + 16];
            snprintf(aside, sizeof aside, "%s.corrupt", seg_path);
            int e;
            h->io->rename(h->io, seg_path, aside, &e);
            continue;
        }
        if (!hist_segs_add(h, seg, group, partition, segno, points)) {
            hist_seg_close(seg);
            snprintf(err, err_len, "out of memory loading segments");
            return false;
        }
    }
    return true;
truncated:
    snprintf(err, err_len, "%s: truncated entry list", path);
    return false;
}

bool hist_manifest_load(struct historian *h, char *err, size_t err_len)
{
    char path[HIST_PATH_MAX + 32], tmp[HIST_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/MANIFEST", h->dir);
    snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", h->dir);
    int e = 0;
    h->io->unlink(h->io, tmp, &e);
    h->wal_upto = 0;
    h->next_segno = 1;
    int fd = h->io->open(h->io, path, O_RDONLY, 0, &e);
    if (fd < 0) {
        if (e != ENOENT) {
            snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
            return false;
        }
        remove_orphans(h);
        return true; /* a new store */
    }
    off_t size = h->io->size(h->io, fd, &e);
    uint8_t *buf = size > 0 ? hist_malloc((size_t)size) : NULL;
    bool ok = size > 0 && buf && hist_io_pread_all(h->io, fd, buf, (size_t)size, 0, &e);
    int e2;
    h->io->close(h->io, fd, &e2);
    if (!ok) {
        snprintf(err, err_len, "%s: cannot read: %s", path,
                 size == 0 ? "empty file" : strerror(e ? e : ENOMEM));
        hist_free(buf);
        return false;
    }
    ok = parse(h, buf, (size_t)size, path, err, err_len);
    hist_free(buf);
    if (ok) {
        h->manifest_bytes = (uint64_t)size;
        remove_orphans(h);
    }
    return ok;
}
