/* A configuration change as text for the audit trail (audit.h,
 * audit_text_diff): the lines that differ between two versions of a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

struct lines {
    const char **start;
    size_t *len;
    size_t count;
};

/* Splits text into lines (pointers into text); false when out of memory. */
static bool split_lines(const char *text, struct lines *out)
{
    size_t n = 1;
    for (const char *c = text; *c; c++)
        if (*c == '\n') n++;
    out->start = malloc(n * sizeof *out->start);
    out->len = malloc(n * sizeof *out->len);
    out->count = 0;
    if (!out->start || !out->len) return false;
    const char *line = text;
    for (const char *c = text;; c++) {
        if (*c == '\n' || *c == '\0') {
            if (*c == '\0' && c == line) break; /* no empty last line after a final newline */
            out->start[out->count] = line;
            out->len[out->count++] = (size_t)(c - line);
            if (*c == '\0') break;
            line = c + 1;
        }
    }
    return true;
}

static bool same_line(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
    return a->len[i] == b->len[j] && memcmp(a->start[i], b->start[j], a->len[i]) == 0;
}

/* Appends "<mark><line>\n" to out (cap bytes) unless full; *omitted counts
 * what did not fit. */
static void put_line(char *out, size_t cap, size_t *used, char mark, const char *line, size_t len,
                     size_t *omitted)
{
    if (*omitted || *used + len + 3 > cap) {
        (*omitted)++;
        return;
    }
    out[(*used)++] = mark;
    memcpy(out + *used, line, len);
    *used += len;
    out[(*used)++] = '\n';
    out[*used] = '\0';
}

char *audit_text_diff(const char *old_text, const char *new_text, size_t max_bytes)
{
    struct lines a = {0}, b = {0};
    char *out = NULL;
    if (max_bytes < 64) max_bytes = 64;
    if (!split_lines(old_text ? old_text : "", &a) || !split_lines(new_text ? new_text : "", &b))
        goto done;
    size_t head = 0;
    while (head < a.count && head < b.count && same_line(&a, head, &b, head))
        head++;
    size_t tail = 0;
    while (tail < a.count - head && tail < b.count - head &&
           same_line(&a, a.count - 1 - tail, &b, b.count - 1 - tail))
        tail++;
    out = malloc(max_bytes);
    if (!out) goto done;
    size_t used = 0, omitted = 0;
    out[0] = '\0';
    if (head == a.count && head == b.count) goto done; /* the same text: "" */
    used = (size_t)snprintf(out, max_bytes, "@@ line %zu: -%zu +%zu lines @@\n", head + 1,
                            a.count - head - tail, b.count - head - tail);
    for (size_t i = head; i < a.count - tail; i++)
        put_line(out, max_bytes - 48, &used, '-', a.start[i], a.len[i], &omitted);
    for (size_t j = head; j < b.count - tail; j++)
        put_line(out, max_bytes - 48, &used, '+', b.start[j], b.len[j], &omitted);
    if (omitted) snprintf(out + used, max_bytes - used, "... (%zu more lines)\n", omitted);
done:
    free(a.start);
    free(a.len);
    free(b.start);
    free(b.len);
    return out;
}
