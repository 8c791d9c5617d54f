/* Builds a position-keeping YAML tree from libyaml events and resolves plain
 * scalars under the YAML 1.2 core schema. See yaml_tree.h.
 *
 * Memory: a configuration of 100,000 tags is over a million nodes, so nodes
 * and scalar texts are bump-allocated in an arena of large blocks (no
 * per-node allocation overhead), and a collection's item array is made
 * once, of the exact size, when the collection ends (children wait on one
 * shared stack meanwhile). The root is the first node of the first block,
 * which is how ytree_free finds the arena from the root. */
#include "config/yaml_tree.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_SEQ "tag:yaml.org,2002:seq"
#define TAG_MAP "tag:yaml.org,2002:map"

#define ARENA_BLOCK_BYTES (256u * 1024u)

struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(max_align_t) unsigned char data[];
};

struct builder {
    struct ynode *root;
    struct ynode *stack[YTREE_MAX_DEPTH];
    size_t first_child[YTREE_MAX_DEPTH]; /* where each open collection's children start */
    int depth;
    struct arena_block *arena;      /* oldest block first: the root's */
    struct arena_block *arena_tail; /* where allocation happens */
    struct ynode **children;   /* children of open collections, in order */
    size_t child_count, child_capacity;
    int documents;
    struct ytree_error *err;
    const char *text;
    size_t len;
};

static bool set_error(struct ytree_error *err, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool set_error(struct ytree_error *err, int line, int col, const char *fmt, ...)
{
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

static void free_blocks(struct arena_block *b)
{
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void ytree_free(struct ynode *root)
{
    if (!root) return;
    /* The root was the first allocation: it opens the first block, which
     * links to every later one. */
    free_blocks((struct arena_block *)((unsigned char *)root - offsetof(struct arena_block, data)));
}

/* size bytes from the arena, aligned for any object. NULL on ENOMEM. */
static void *arena_alloc(struct builder *b, size_t size)
{
    size = (size + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    struct arena_block *blk = b->arena_tail;
    if (!blk || blk->size - blk->used < size) {
        size_t cap = size > ARENA_BLOCK_BYTES ? size : ARENA_BLOCK_BYTES;
        blk = malloc(sizeof *blk + cap);
        if (!blk) return NULL;
        blk->used = 0;
        blk->size = cap;
        blk->next = NULL;
        if (b->arena_tail)
            b->arena_tail->next = blk;
        else
            b->arena = blk;
        b->arena_tail = blk;
    }
    void *p = blk->data + blk->used;
    blk->used += size;
    return p;
}

static bool push_child(struct builder *b, struct ynode *child)
{
    if (b->child_count == b->child_capacity) {
        size_t cap = b->child_capacity ? b->child_capacity * 2 : 256;
        struct ynode **grown = realloc(b->children, cap * sizeof *grown);
        if (!grown) return false;
        b->children = grown;
        b->child_capacity = cap;
    }
    b->children[b->child_count++] = child;
    return true;
}

/* Ends the innermost open collection: its children get their array. */
static bool close_collection(struct builder *b)
{
    if (b->depth == 0) return true;
    b->depth--;
    struct ynode *n = b->stack[b->depth];
    size_t first = b->first_child[b->depth], count = b->child_count - first;
    n->count = count;
    if (count) {
        n->items = arena_alloc(b, count * sizeof *n->items);
        if (!n->items) return false;
        memcpy(n->items, b->children + first, count * sizeof *n->items);
    }
    b->child_count = first;
    return true;
}

/* Only tags that do not change the meaning the loader gives a node. */
static bool tag_allowed(const yaml_char_t *tag, enum ynode_kind kind)
{
    if (!tag) return true;
    const char *t = (const char *)tag;
    if (kind == YNODE_SCALAR) return strcmp(t, TAG_STR) == 0 || strcmp(t, "!") == 0;
    if (kind == YNODE_SEQUENCE) return strcmp(t, TAG_SEQ) == 0;
    return strcmp(t, TAG_MAP) == 0;
}

static void describe_tag(const yaml_char_t *tag, char *buf, size_t len)
{
    const char *t = (const char *)tag;
    const char *prefix = "tag:yaml.org,2002:";
    if (strncmp(t, prefix, strlen(prefix)) == 0)
        snprintf(buf, len, "!!%.60s", t + strlen(prefix));
    else
        snprintf(buf, len, "%.60s", t);
}

/* Creates a node for a scalar or collection-start event and attaches it. */
static bool add_node(struct builder *b, const yaml_event_t *ev, enum ynode_kind kind,
                     const yaml_char_t *tag)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (!tag_allowed(tag, kind)) {
        char shown[80];
        describe_tag(tag, shown, sizeof shown);
        return set_error(b->err, line, col,
                         "expected no YAML tag (only !!str, !!seq, !!map), found '%s'", shown);
    }
    if (kind != YNODE_SCALAR && b->depth >= YTREE_MAX_DEPTH)
        return set_error(b->err, line, col, "expected at most %d levels of nesting, found more",
                         YTREE_MAX_DEPTH);
    /* A scalar's text is stored right after its node. */
    size_t len = kind == YNODE_SCALAR ? ev->data.scalar.length : 0;
    if (len >= YTREE_MAX_BYTES)
        return set_error(b->err, line, col, "expected a scalar shorter than %u bytes",
                         YTREE_MAX_BYTES);
    struct ynode *n = arena_alloc(b, sizeof *n + (kind == YNODE_SCALAR ? len + 1 : 0));
    if (!n) return set_error(b->err, 0, 0, "out of memory");
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = line;
    n->col = col;
    if (kind == YNODE_SCALAR) {
        n->text = (char *)(n + 1);
        memcpy(n->text, ev->data.scalar.value, len);
        n->text[len] = '\0';
        n->len = len;
        n->has_nul = strlen(n->text) != len;
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || tag != NULL;
    }
    bool attached = b->depth == 0 ? (b->root = n, true) : push_child(b, n);
    if (!attached) return set_error(b->err, 0, 0, "out of memory");
    if (kind != YNODE_SCALAR) {
        b->first_child[b->depth] = b->child_count;
        b->stack[b->depth++] = n;
    }
    return true;
}

/* 1-based line and column of a byte offset (for reader errors, which carry
 * no mark). Columns count bytes. */
static void offset_position(const struct builder *b, size_t offset, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < b->len; i++) {
        if (b->text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool parser_error(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "a malformed document";
    if (p->error == YAML_MEMORY_ERROR) return set_error(b->err, 0, 0, "out of memory");
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_position(b, p->problem_offset, &line, &col);
        if (p->problem_value >= 0)
            return set_error(b->err, line, col, "expected valid UTF-8 text, found %s (0x%02x)",
                             problem, (unsigned)p->problem_value);
        return set_error(b->err, line, col, "expected valid UTF-8 text, found %s", problem);
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->context)
        return set_error(
            b->err, line, col, "expected valid YAML, found %s (%s started at line %d, column %d)",
            problem, p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return set_error(b->err, line, col, "expected valid YAML, found %s", problem);
}

/* Handles one event; *done is set at the end of the stream. */
static bool handle_event(struct builder *b, const yaml_event_t *ev, bool *done)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return set_error(b->err, line, col,
                             "expected a single YAML document, found a second one");
        return true;
    case YAML_SCALAR_EVENT:
        return add_node(b, ev, YNODE_SCALAR, ev->data.scalar.tag);
    case YAML_SEQUENCE_START_EVENT:
        return add_node(b, ev, YNODE_SEQUENCE, ev->data.sequence_start.tag);
    case YAML_MAPPING_START_EVENT:
        return add_node(b, ev, YNODE_MAPPING, ev->data.mapping_start.tag);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_collection(b) ? true : set_error(b->err, 0, 0, "out of memory");
    case YAML_ALIAS_EVENT:
        return set_error(b->err, line, col,
                         "expected a value, found an alias (anchors and aliases are not "
                         "supported)");
    case YAML_STREAM_END_EVENT:
        *done = true;
        return true;
    default:
        return true;
    }
}

bool ytree_parse(const char *text, size_t len, struct ynode **root, struct ytree_error *err)
{
    struct builder b = {.err = err, .text = text, .len = len};
    *root = NULL;
    if (len >= YTREE_MAX_BYTES)
        return set_error(err, 0, 0, "expected a file smaller than %u MiB", YTREE_MAX_BYTES >> 20);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return set_error(err, 0, 0, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            ok = parser_error(&b, &parser);
            break;
        }
        ok = handle_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    free(b.children);
    if (!ok || !b.root) {
        free_blocks(b.arena);
        return ok;
    }
    *root = b.root;
    return true;
}

/* ---- scalar resolution (YAML 1.2 core schema) ---- */

static bool text_is(const char *text, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(text, *words, len) == 0) return true;
    return false;
}

static bool all_digits(const char *s, size_t len, int base)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = base == 16
                      ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                      : (c >= '0' && c <= (base == 8 ? '7' : '9'));
        if (!ok) return false;
    }
    return true;
}

static bool is_int_text(const char *s, size_t len)
{
    if (len > 2 && s[0] == '0' && s[1] == 'x') return all_digits(s + 2, len - 2, 16);
    if (len > 2 && s[0] == '0' && s[1] == 'o') return all_digits(s + 2, len - 2, 8);
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        s++;
        len--;
    }
    return all_digits(s, len, 10);
}

static size_t count_digits(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* [-+]? ( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_float_text(const char *s, size_t len)
{
    static const char *const specials[] = {".inf",  ".Inf",  ".INF",  "-.inf", "-.Inf",
                                           "-.INF", "+.inf", "+.Inf", "+.INF", ".nan",
                                           ".NaN",  ".NAN",  NULL};
    if (text_is(s, len, specials)) return true;
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) i++;
    size_t int_digits = count_digits(s + i, len - i);
    i += int_digits;
    size_t frac_digits = 0;
    if (i < len && s[i] == '.') {
        i++;
        frac_digits = count_digits(s + i, len - i);
        i += frac_digits;
    }
    if (int_digits == 0 && frac_digits == 0) return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) i++;
        size_t exp_digits = count_digits(s + i, len - i);
        if (exp_digits == 0) return false;
        i += exp_digits;
    }
    return i == len;
}

enum yscalar_class yscalar_classify_text(const char *text, size_t len)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    if (strlen(text) != len) return YSCALAR_STRING;
    if (text_is(text, len, nulls)) return YSCALAR_NULL;
    if (text_is(text, len, bools)) return YSCALAR_BOOL;
    if (is_int_text(text, len)) return YSCALAR_INT;
    if (is_float_text(text, len)) return YSCALAR_FLOAT;
    return YSCALAR_STRING;
}

enum yscalar_class yscalar_classify(const struct ynode *n)
{
    if (!n || n->kind != YNODE_SCALAR || n->quoted) return YSCALAR_STRING;
    return yscalar_classify_text(n->text, n->len);
}

/* Accumulates digits of base into *out; false on overflow past limit. */
static bool accumulate(const char *s, int base, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s >= 'a' ? *s - 'a' + 10 : *s >= 'A' ? *s - 'A' + 10 : *s - '0');
        if (v > (limit - d) / (uint64_t)base) return false;
        v = v * (uint64_t)base + d;
    }
    *out = v;
    return true;
}

bool yscalar_int(const struct ynode *n, int64_t *out)
{
    if (yscalar_classify(n) != YSCALAR_INT) return false;
    const char *s = n->text;
    uint64_t mag;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        if (!accumulate(s + 2, s[1] == 'x' ? 16 : 8, INT64_MAX, &mag)) return false;
        *out = (int64_t)mag;
        return true;
    }
    bool negative = s[0] == '-';
    if (s[0] == '-' || s[0] == '+') s++;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (!accumulate(s, 10, limit, &mag)) return false;
    *out = negative ? (int64_t)(0 - mag) : (int64_t)mag;
    return true;
}

bool yscalar_number(const struct ynode *n, double *out)
{
    enum yscalar_class c = yscalar_classify(n);
    if (c == YSCALAR_INT) {
        int64_t i;
        if (yscalar_int(n, &i))
            *out = (double)i;
        else if (n->text[0] == '0' && (n->text[1] == 'x' || n->text[1] == 'o'))
            *out = HUGE_VAL;
        else
            *out = strtod(n->text, NULL);
        return true;
    }
    if (c != YSCALAR_FLOAT) return false;
    const char *s = n->text;
    const char *dot = strchr(s, '.');
    if (dot && (dot[1] == 'n' || dot[1] == 'N')) {
        *out = NAN;
    } else if (dot && (dot[1] == 'i' || dot[1] == 'I')) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
    } else {
        *out = strtod(s, NULL);
    }
    return true;
}

bool yscalar_bool(const struct ynode *n, bool *out)
{
    if (yscalar_classify(n) != YSCALAR_BOOL) return false;
    *out = n->text[0] == 't' || n->text[0] == 'T';
    return true;
}
