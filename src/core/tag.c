/* Tag table (dense ids, hashed path lookup), path validation, deadband. */
#include "core/tag.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t path_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

void tag_table_init(struct tag_table *t)
{
    memset(t, 0, sizeof *t);
}

void tag_table_clear(struct tag_table *t)
{
    strpool_clear(&t->strings);
    free(t->tags);
    free(t->index);
    tag_table_init(t);
}

/* Rebuilds the index with slots slots (a power of two above 2 * count). */
static bool index_resize(struct tag_table *t, uint32_t slots)
{
    uint32_t *index = calloc(slots, sizeof *index);
    if (!index) return false;
    for (uint32_t id = 0; id < t->count; id++) {
        uint32_t s = path_hash(t->tags[id].path) & (slots - 1);
        while (index[s])
            s = (s + 1) & (slots - 1);
        index[s] = id + 1;
    }
    free(t->index);
    t->index = index;
    t->index_slots = slots;
    return true;
}

static bool index_grow(struct tag_table *t)
{
    return index_resize(t, t->index_slots ? t->index_slots * 2 : 64);
}

bool tag_table_reserve(struct tag_table *t, uint32_t count)
{
    if (count > UINT32_MAX / 4) return false;
    if (count > t->capacity) {
        struct tag *tags = realloc(t->tags, (size_t)count * sizeof *tags);
        if (!tags) return false;
        t->tags = tags;
        t->capacity = count;
    }
    uint32_t slots = t->index_slots ? t->index_slots : 64;
    while (slots < 2 * count + 2)
        slots *= 2;
    return slots == t->index_slots || index_resize(t, slots);
}

const struct tag *tag_table_find(const struct tag_table *t, const char *path)
{
    if (!t->index_slots) return NULL;
    uint32_t s = path_hash(path) & (t->index_slots - 1);
    while (t->index[s]) {
        const struct tag *tag = &t->tags[t->index[s] - 1];
        if (strcmp(tag->path, path) == 0) return tag;
        s = (s + 1) & (t->index_slots - 1);
    }
    return NULL;
}

int64_t tag_table_add(struct tag_table *t, const struct tag *tag)
{
    if (tag_table_find(t, tag->path)) {
        errno = EEXIST;
        return -1;
    }
    if ((t->count + 1) * 2 > t->index_slots && !index_grow(t)) goto nomem;
    if (t->count == t->capacity) {
        uint32_t cap = t->capacity ? t->capacity * 2 : 64;
        struct tag *tags = realloc(t->tags, cap * sizeof *tags);
        if (!tags) goto nomem;
        t->tags = tags;
        t->capacity = cap;
    }
    struct tag copy = *tag;
    copy.id = t->count;
    /* On failure a string already copied stays in the pool until clear. */
    copy.path = strpool_copy(&t->strings, tag->path);
    copy.unit = copy.path ? strpool_copy(&t->strings, tag->unit) : NULL;
    copy.description = copy.unit ? strpool_copy(&t->strings, tag->description) : NULL;
    if (!copy.description) goto nomem;
    t->tags[t->count++] = copy;
    uint32_t s = path_hash(copy.path) & (t->index_slots - 1);
    while (t->index[s])
        s = (s + 1) & (t->index_slots - 1);
    t->index[s] = copy.id + 1;
    return copy.id;
nomem:
    errno = ENOMEM;
    return -1;
}

static bool segment_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

bool tag_path_valid(const char *path, char *why, size_t why_len)
{
    char dummy[1];
    if (!why) {
        why = dummy;
        why_len = sizeof dummy;
    }
    size_t len = strlen(path);
    if (len == 0 || len >= TAG_PATH_MAX) {
        snprintf(why, why_len, "a path of 1 to %d characters", TAG_PATH_MAX - 1);
        return false;
    }
    int segments = 0;
    size_t seg_len = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = path[i];
        if (c == '/' || c == '\0') {
            if (seg_len == 0) {
                snprintf(why, why_len, "no empty segment (at character %zu)", i + 1);
                return false;
            }
            segments++;
            seg_len = 0;
            continue;
        }
        if (!segment_char_ok(c)) {
            snprintf(why, why_len,
                     "only letters, digits, '_', '-' and '.' in a segment (character %zu is "
                     "0x%02x)",
                     i + 1, (unsigned char)c);
            return false;
        }
        if (++seg_len > 64) {
            snprintf(why, why_len, "segments of at most 64 characters");
            return false;
        }
    }
    if (segments < TAG_PATH_MIN_SEGMENTS || segments > TAG_PATH_MAX_SEGMENTS) {
        snprintf(why, why_len,
                 "%d to %d segments like enterprise/site/area/line/cell/name (found %d)",
                 TAG_PATH_MIN_SEGMENTS, TAG_PATH_MAX_SEGMENTS, segments);
        return false;
    }
    return true;
}

bool tag_deadband_exceeded(const struct tag *tag, const struct value *last, const struct value *now)
{
    if (tag->deadband_kind == DEADBAND_NONE) return true;
    if (now->type == VALUE_STRING || now->type == VALUE_BOOL || last->type != now->type)
        return !value_equal(last, now);
    double a = value_as_double(last), b = value_as_double(now);
    if (isnan(a) || isnan(b)) return !value_equal(last, now);
    double limit = tag->deadband;
    if (tag->deadband_kind == DEADBAND_PERCENT)
        limit = tag->deadband / 100.0 * fabs(tag->eng_max - tag->eng_min);
    if (limit <= 0) return !value_equal(last, now);
    return fabs(b - a) > limit;
}
