/* String pool: bump allocation in blocks of STRPOOL_BLOCK_BYTES; a string
 * longer than a quarter block gets a block of its own, so a long description
 * never wastes the rest of a shared block. */
#include "core/strpool.h"

#include <stdlib.h>
#include <string.h>

#define STRPOOL_BLOCK_BYTES (64u * 1024u)

struct strpool_block {
    struct strpool_block *next;
    size_t used, size;
    char data[];
};

void strpool_init(struct strpool *p)
{
    p->head = NULL;
    p->bytes = 0;
}

void strpool_clear(struct strpool *p)
{
    struct strpool_block *b = p->head;
    while (b) {
        struct strpool_block *next = b->next;
        free(b);
        b = next;
    }
    strpool_init(p);
}

static struct strpool_block *new_block(struct strpool *p, size_t size)
{
    struct strpool_block *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->used = 0;
    b->size = size;
    p->bytes += size;
    return b;
}

char *strpool_alloc(struct strpool *p, size_t len)
{
    size_t need = len + 1;
    struct strpool_block *b = p->head;
    if (need > STRPOOL_BLOCK_BYTES / 4) {
        /* Its own block, behind the current one so that stays in use. */
        struct strpool_block *own = new_block(p, need);
        if (!own) return NULL;
        if (b) {
            own->next = b->next;
            b->next = own;
        } else {
            own->next = NULL;
            p->head = own;
        }
        b = own;
    } else if (!b || b->size - b->used < need) {
        b = new_block(p, STRPOOL_BLOCK_BYTES);
        if (!b) return NULL;
        b->next = p->head;
        p->head = b;
    }
    char *out = b->data + b->used;
    out[len] = '\0';
    b->used += need;
    return out;
}

char *strpool_copy_len(struct strpool *p, const char *s, size_t len)
{
    char *out = strpool_alloc(p, len);
    if (out) memcpy(out, s, len);
    return out;
}

char *strpool_copy(struct strpool *p, const char *s)
{
    if (!s) s = "";
    return strpool_copy_len(p, s, strlen(s));
}
