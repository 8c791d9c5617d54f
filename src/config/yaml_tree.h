/* A small in-memory YAML tree for the configuration loader, built from
 * libyaml's event API so that every node keeps its 1-based line and column.
 *
 * Private to src/config/. Only what a configuration needs is kept: scalars
 * (with their text and whether they were quoted), sequences and mappings.
 * Aliases are refused (they would let a small file expand into a huge tree),
 * explicit tags other than !!str, !!seq and !!map are refused, nesting is
 * bounded and only one document is accepted. Plain scalars are resolved as in
 * the YAML 1.2 core schema (null, bool, int, float, else string). */
#ifndef AIRLOCK_CONFIG_YAML_TREE_H
#define AIRLOCK_CONFIG_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YTREE_MAX_DEPTH 32
/* Largest document accepted (scalar lengths and counts fit in 32 bits). */
#define YTREE_MAX_BYTES (512u << 20)

enum ynode_kind {
    YNODE_SCALAR = 0,
    YNODE_SEQUENCE,
    YNODE_MAPPING,
};

/* What a scalar means under the core schema. Quoted scalars are strings. */
enum yscalar_class {
    YSCALAR_NULL = 0,
    YSCALAR_BOOL,
    YSCALAR_INT,
    YSCALAR_FLOAT,
    YSCALAR_STRING,
};

struct ynode {
    enum ynode_kind kind;
    int line; /* 1-based position of the node's first character */
    int col;
    bool quoted;  /* quoted or block scalar, or tagged !!str: never a number */
    bool has_nul; /* the text itself contains a NUL byte (e.g. from a "\0" escape) */
    /* Scalars: NUL-terminated text of len bytes. */
    char *text;
    size_t len;
    /* Sequences: count items. Mappings: count is twice the number of pairs,
     * items alternate key, value. */
    size_t count;
    struct ynode **items;
};

struct ytree_error {
    int line; /* 1-based; 0 when not tied to a place (out of memory) */
    int col;
    char message[256];
};

/* Parses len bytes of YAML. On success returns true and sets *root to the
 * document's root node, or to NULL when the stream holds no document (an
 * empty file); free it with ytree_free. On failure returns false, sets *root
 * to NULL, fills *err ("expected ..., found ...") and allocates nothing. */
bool ytree_parse(const char *text, size_t len, struct ynode **root, struct ytree_error *err);

/* Frees a tree from ytree_parse (NULL is fine). The nodes of a tree live
 * in one arena, so this frees the whole tree: pass its root. */
void ytree_free(struct ynode *root);

/* The core-schema class of a scalar node (quoted scalars are strings). */
enum yscalar_class yscalar_classify(const struct ynode *n);
/* The class the text would have as a plain scalar. */
enum yscalar_class yscalar_classify_text(const char *text, size_t len);

/* Value of a plain int scalar (decimal, 0x hex, 0o octal). False when the
 * node is not an int or does not fit in int64. */
bool yscalar_int(const struct ynode *n, int64_t *out);
/* Value of a plain int or float scalar (may be infinite or NaN for .inf,
 * .nan or overflow; callers check). False when the node is not a number. */
bool yscalar_number(const struct ynode *n, double *out);
/* Value of a plain true/false scalar. */
bool yscalar_bool(const struct ynode *n, bool *out);

#endif
