/* Compaction and retention: the two ways the set of segments changes
 * besides checkpoints. Both build the new set, write the manifest, and only
 * then delete files, so a crash at any point leaves either the old set or
 * the new one (leftover files are removed at the next open). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "historian/hist_alloc.h"
#include "historian/historian_internal.h"

/* Compaction merges at most this many segments at once. */
#define COMPACT_MAX_SEGMENTS 64
/* In the background, a partition still written to is compacted by size
 * tiers: segments fall in tiers by size (each tier COMPACT_TIER_RATIO times
 * the one below, from COMPACT_TIER_BASE_BYTES), and a tier is merged once it
 * holds COMPACT_OPEN_SEGMENTS segments. The result lands in a higher tier,
 * so a sample is rewritten about log_8(partition size / first segment
 * size) times, never at every checkpoint. A closed partition (past its end
 * plus the late window) is merged whole, once. */
#define COMPACT_OPEN_SEGMENTS 8
#define COMPACT_TIER_RATIO 4
#define COMPACT_TIER_BASE_BYTES (256u * 1024u)

/* Moves the segments marked in drop (by index) out of h->segs into side,
 * keeping them open. */
static void set_aside(struct historian *h, const bool *drop, struct hist_seg_ref *side,
                      size_t *side_count)
{
    size_t w = 0;
    *side_count = 0;
    for (size_t i = 0; i < h->seg_count; i++) {
        if (drop[i])
            side[(*side_count)++] = h->segs[i];
        else
            h->segs[w++] = h->segs[i];
    }
    h->seg_count = w;
}

/* Puts segments set aside back (after a failed manifest write). */
static void put_back(struct historian *h, struct hist_seg_ref *side, size_t side_count)
{
    for (size_t i = 0; i < side_count; i++)
        h->segs[h->seg_count++] = side[i];
}

static void close_and_unlink(struct historian *h, struct hist_seg_ref *side, size_t side_count)
{
    for (size_t i = 0; i < side_count; i++) {
        char path[HIST_PATH_MAX + 128];
        hist_segment_path(h, side[i].group, side[i].partition_start_ns, side[i].segno, path,
                          sizeof path);
        hist_seg_close(side[i].seg);
        hist_free(side[i].bad);
        int e;
        h->io->unlink(h->io, path, &e);
    }
}

/* ---- compaction ---- */

/* Indices of the segments of one partition, in segment order. */
struct partition_set {
    size_t *idx;
    size_t count;
};

static unsigned size_tier(uint64_t bytes)
{
    unsigned tier = 0;
    for (uint64_t limit = COMPACT_TIER_BASE_BYTES; bytes >= limit && tier < 30;
         limit *= COMPACT_TIER_RATIO)
        tier++;
    return tier;
}

static bool same_partition(const struct hist_seg_ref *a, const struct hist_seg_ref *b)
{
    return a->partition_start_ns == b->partition_start_ns && strcmp(a->group, b->group) == 0;
}

/* Sorts set->idx by segment number (arrival order). */
static void sort_by_segno(const struct historian *h, struct partition_set *set)
{
    for (size_t a = 1; a < set->count; a++)
        for (size_t b = a; b > 0 && h->segs[set->idx[b]].segno < h->segs[set->idx[b - 1]].segno;
             b--) {
            size_t t = set->idx[b];
            set->idx[b] = set->idx[b - 1];
            set->idx[b - 1] = t;
        }
}

/* Finds a partition to compact (segs_lock held): with full, any with two
 * segments or more, merged whole (at most COMPACT_MAX_SEGMENTS, oldest
 * first); else closed partitions whole and, in open ones, a size tier
 * holding COMPACT_OPEN_SEGMENTS segments. */
static bool find_partition(struct historian *h, bool full, int64_t now_ns,
                           struct partition_set *set)
{
    for (size_t i = 0; i < h->seg_count; i++) {
        const struct hist_seg_ref *r = &h->segs[i];
        size_t n = 0;
        for (size_t k = 0; k < h->seg_count; k++)
            n += same_partition(&h->segs[k], r);
        if (n < 2) continue;
        bool closed = r->partition_start_ns + h->opt.partition_ns + h->opt.late_window_ns <= now_ns;
        bool by_tier = !full && !closed;
        unsigned tier = size_tier(r->bytes);
        if (by_tier) {
            size_t in_tier = 0;
            for (size_t k = 0; k < h->seg_count; k++)
                in_tier += same_partition(&h->segs[k], r) && size_tier(h->segs[k].bytes) == tier;
            if (in_tier < COMPACT_OPEN_SEGMENTS) continue;
        }
        set->idx = hist_malloc(n * sizeof *set->idx);
        if (!set->idx) return false;
        set->count = 0;
        for (size_t k = 0; k < h->seg_count; k++)
            if (same_partition(&h->segs[k], r) && (!by_tier || size_tier(h->segs[k].bytes) == tier))
                set->idx[set->count++] = k;
        sort_by_segno(h, set);
        if (set->count > COMPACT_MAX_SEGMENTS) set->count = COMPACT_MAX_SEGMENTS;
        return true;
    }
    return false;
}

/* Writes the merged samples of every series of set into w (segs_lock held
 * shared). False on a corrupt chunk (the partition is left as it is) or an
 * error. */
static bool merge_into(struct historian *h, const struct partition_set *set,
                       struct hist_segment_writer *w, char *err, size_t err_len)
{
    size_t *cursor = hist_calloc(set->count, sizeof *cursor);
    if (!cursor) {
        snprintf(err, err_len, "out of memory compacting");
        return false;
    }
    struct hist_columns c;
    bool ok = true;
    const struct hist_seg_entry **entries = hist_calloc(set->count, sizeof *entries);
    for (size_t s = 0; ok && entries && s < set->count; s++) {
        entries[s] = hist_seg_entries(h->segs[set->idx[s]].seg);
        if (!entries[s]) {
            snprintf(err, err_len, "%s", hist_seg_index_error(h->segs[set->idx[s]].seg));
            ok = false;
        }
    }
    if (!entries) {
        snprintf(err, err_len, "out of memory compacting");
        ok = false;
    }
    while (ok) {
        /* The smallest series id left in any segment. */
        uint64_t next = UINT64_MAX;
        for (size_t s = 0; s < set->count; s++) {
            const struct hist_segment *seg = h->segs[set->idx[s]].seg;
            if (cursor[s] < hist_seg_entry_count(seg)) {
                uint32_t id = entries[s][cursor[s]].chunk.series_id;
                if (id < next) next = id;
            }
        }
        if (next == UINT64_MAX) break;
        enum value_type type = VALUE_DOUBLE;
        for (size_t s = 0; s < set->count; s++) {
            const struct hist_segment *seg = h->segs[set->idx[s]].seg;
            if (cursor[s] < hist_seg_entry_count(seg) &&
                entries[s][cursor[s]].chunk.series_id == next)
                type = entries[s][cursor[s]].chunk.type;
        }
        hist_columns_init(&c, type);
        for (size_t s = 0; ok && s < set->count; s++) {
            const struct hist_segment *seg = h->segs[set->idx[s]].seg;
            const struct hist_seg_entry *e = entries[s];
            size_t n = hist_seg_entry_count(seg);
            while (ok && cursor[s] < n && e[cursor[s]].chunk.series_id == next) {
                ok = hist_seg_read_chunk(seg, &e[cursor[s]], &c, err, err_len);
                cursor[s]++;
            }
        }
        if (ok && !hist_columns_sort(&c)) {
            ok = false;
            snprintf(err, err_len, "out of memory compacting");
        }
        if (ok) ok = hist_write_chunks(h, w, (uint32_t)next, &c, 0, c.count, err, err_len);
        hist_columns_free(&c);
        if (!ok) break;
    }
    hist_free(cursor);
    hist_free(entries);
    return ok;
}

/* Compacts one partition. Returns 1 when done, 0 when there was nothing to
 * do, -1 on failure. */
static int compact_one(struct historian *h, bool full, int64_t now_ns)
{
    struct partition_set set = {0};
    char err[512] = "";
    pthread_rwlock_rdlock(&h->segs_lock);
    if (!find_partition(h, full, now_ns, &set)) {
        pthread_rwlock_unlock(&h->segs_lock);
        return 0;
    }
    const struct hist_seg_ref *first = &h->segs[set.idx[0]];
    char group[HIST_GROUP_NAME_MAX];
    snprintf(group, sizeof group, "%s", first->group);
    int64_t partition = first->partition_start_ns;
    struct hist_segment_meta meta = {.partition_start_ns = partition};
    uint64_t segnos[COMPACT_MAX_SEGMENTS];
    size_t nsegnos = 0;
    for (size_t i = 0; i < set.count; i++) {
        const struct hist_segment_meta *m = hist_seg_meta(h->segs[set.idx[i]].seg);
        if (m->wal_upto > meta.wal_upto) meta.wal_upto = m->wal_upto;
        meta.group_id = m->group_id;
        if (nsegnos < COMPACT_MAX_SEGMENTS) segnos[nsegnos++] = h->segs[set.idx[i]].segno;
    }
    pthread_mutex_lock(&h->lock);
    uint64_t segno = h->next_segno++;
    pthread_mutex_unlock(&h->lock);
    char path[HIST_PATH_MAX + 128], tmp[HIST_PATH_MAX + 136];
    hist_segment_path(h, group, partition, segno, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct hist_segment_writer *w = hist_segw_begin(h->io, tmp, &meta, err, sizeof err);
    bool ok = w && merge_into(h, &set, w, err, sizeof err);
    pthread_rwlock_unlock(&h->segs_lock);
    uint64_t bytes, points = 0;
    if (ok) {
        points = hist_segw_points(w);
        ok = hist_segw_finish(w, path, &bytes, err, sizeof err);
        w = NULL;
    }
    hist_segw_abort(w);
    struct hist_segment *merged = ok ? hist_seg_open_lazy(h->io, path, err, sizeof err) : NULL;
    ok = merged != NULL;

    struct hist_seg_ref side[COMPACT_MAX_SEGMENTS];
    size_t side_count = 0;
    if (ok) {
        pthread_rwlock_wrlock(&h->segs_lock);
        pthread_mutex_lock(&h->lock);
        bool *drop = hist_calloc(h->seg_count + 1, sizeof *drop);
        size_t matched = 0;
        for (size_t i = 0; drop && i < h->seg_count; i++)
            for (size_t k = 0; k < nsegnos; k++)
                if (h->segs[i].segno == segnos[k]) {
                    drop[i] = true;
                    matched++;
                }
        ok = drop && matched == set.count && set.count <= COMPACT_MAX_SEGMENTS;
        if (ok) {
            set_aside(h, drop, side, &side_count);
            ok = hist_segs_add(h, merged, group, partition, segno, points);
            if (ok) {
                merged = NULL;
                ok = hist_manifest_write(h, err, sizeof err);
                if (!ok) hist_segs_remove(h, h->seg_count - 1);
            }
            if (!ok) {
                put_back(h, side, side_count);
                side_count = 0;
            }
        }
        if (ok) h->stats.compactions++;
        hist_free(drop);
        pthread_mutex_unlock(&h->lock);
        pthread_rwlock_unlock(&h->segs_lock);
    }
    if (merged) hist_seg_close(merged);
    if (!ok) {
        int e;
        h->io->unlink(h->io, path, &e);
        log_warn("historian", "compaction failed", "partition_group=%s error=\"%s\"", group, err);
    }
    close_and_unlink(h, side, side_count);
    hist_free(set.idx);
    return ok ? 1 : -1;
}

/* Compacts until nothing is left to do (or a failure). */
static bool compact(struct historian *h, bool full)
{
    pthread_mutex_lock(&h->checkpoint_lock);
    int rc;
    int rounds = 0;
    int64_t now = hist_now_ns();
    while ((rc = compact_one(h, full, now)) == 1 && ++rounds < 10000) {
    }
    pthread_mutex_unlock(&h->checkpoint_lock);
    return rc >= 0;
}

bool hist_compact(struct historian *h)
{
    return compact(h, true);
}

bool hist_compact_due(struct historian *h)
{
    return compact(h, false);
}

/* ---- retention ---- */

static const struct hist_group *group_named(const struct historian *h, const char *name)
{
    for (size_t i = 0; i < h->group_count; i++)
        if (strcmp(h->groups[i].name, name) == 0) return &h->groups[i];
    return NULL;
}

/* Marks the partitions of group g past its limits (segs_lock held). */
static size_t mark_group(struct historian *h, const struct hist_group *g, int64_t now_ns,
                         bool *drop)
{
    size_t partitions = 0;
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < h->seg_count; i++)
        if (strcmp(h->segs[i].group, g->name) == 0 && h->segs[i].partition_start_ns > newest)
            newest = h->segs[i].partition_start_ns;
    if (g->max_age_ns > 0) {
        for (size_t i = 0; i < h->seg_count; i++) {
            const struct hist_seg_ref *r = &h->segs[i];
            if (strcmp(r->group, g->name) != 0 || drop[i]) continue;
            if (r->partition_start_ns + h->opt.partition_ns <= now_ns - g->max_age_ns) {
                drop[i] = true;
                partitions++;
            }
        }
    }
    if (g->max_bytes > 0) {
        for (;;) {
            uint64_t total = 0;
            int64_t oldest = INT64_MAX;
            for (size_t i = 0; i < h->seg_count; i++) {
                const struct hist_seg_ref *r = &h->segs[i];
                if (strcmp(r->group, g->name) != 0 || drop[i]) continue;
                total += r->bytes;
                if (r->partition_start_ns < oldest) oldest = r->partition_start_ns;
            }
            /* The newest partition is kept whatever its size. */
            if (total <= g->max_bytes || oldest == INT64_MAX || oldest == newest) break;
            for (size_t i = 0; i < h->seg_count; i++)
                if (strcmp(h->segs[i].group, g->name) == 0 &&
                    h->segs[i].partition_start_ns == oldest)
                    drop[i] = true;
            partitions++;
        }
    }
    return partitions;
}

bool hist_apply_retention(struct historian *h, int64_t now_ns)
{
    pthread_mutex_lock(&h->checkpoint_lock);
    pthread_rwlock_wrlock(&h->segs_lock);
    pthread_mutex_lock(&h->lock);
    bool *drop = hist_calloc(h->seg_count + 1, sizeof *drop);
    struct hist_seg_ref *side = hist_calloc(h->seg_count + 1, sizeof *side);
    size_t side_count = 0, partitions = 0;
    bool ok = drop && side;
    char err[512] = "";
    if (ok)
        for (size_t gi = 0; gi < h->group_count; gi++)
            partitions += mark_group(h, group_named(h, h->groups[gi].name), now_ns, drop);
    if (ok && partitions) {
        set_aside(h, drop, side, &side_count);
        ok = hist_manifest_write(h, err, sizeof err);
        if (!ok) {
            put_back(h, side, side_count);
            side_count = 0;
            hist_set_error(h, true, "retention: %s", err);
        } else {
            h->stats.partitions_deleted += partitions;
        }
    }
    pthread_mutex_unlock(&h->lock);
    pthread_rwlock_unlock(&h->segs_lock);
    if (side_count)
        log_info("historian", "retention deleted old history", "partitions=%zu segments=%zu",
                 partitions, side_count);
    close_and_unlink(h, side, side_count);
    hist_free(drop);
    hist_free(side);
    pthread_mutex_unlock(&h->checkpoint_lock);
    return ok;
}
