/* The tamper-evident audit trail: an append-only table of records in
 * <data_dir>/audit.db (SQLite, WAL, synchronous=FULL), each record chained
 * to its predecessor by SHA-256:
 *
 *   hash = SHA-256(prev_hash || encoding(record))
 *
 * where prev_hash is the previous record's hash (32 zero bytes for the
 * first record) and the encoding is length-prefixed so that no two
 * different records encode the same (see audit_encode and docs/audit.md).
 * There is no update or delete function; triggers in the database refuse
 * UPDATE and DELETE as well, and audit_verify detects edits made by someone
 * who removed them. */
#ifndef AIRLOCK_AUDIT_AUDIT_H
#define AIRLOCK_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AUDIT_HASH_BYTES 32
#define AUDIT_HASH_HEX_BYTES (2 * AUDIT_HASH_BYTES + 1) /* with the terminating NUL */
#define AUDIT_TIME_TEXT_BYTES 40
#define AUDIT_MAX_FIELD_BYTES (1u << 20) /* per text field, enforced by audit_append */
#define AUDIT_FILE_NAME "audit.db"

/* One record. For audit_append the caller fills time_ns (0: now) and the
 * texts (NULL is stored as the empty text); the rest is filled by the
 * trail. Records returned by audit_query have every field set. */
struct audit_record {
    int64_t id;                            /* 1, 2, 3, ... in append order */
    int64_t time_ns;                       /* UTC, ns since the epoch */
    char time_text[AUDIT_TIME_TEXT_BYTES]; /* "2026-12-02T10:15:30.123456789Z" */
    const char *actor;                     /* user name, token name or "system" */
    const char *action;    /* login, login_failed, user_add, write, write_refused, start, ... */
    const char *object;    /* what the action was on: a tag path, a user, a file */
    const char *old_value; /* before, when it applies */
    const char *new_value; /* after, or what was asked for */
    const char *reason;    /* as given by the actor */
    const char *outcome;   /* ok, refused, failed, ... */
    const char *details;   /* free text, e.g. a configuration diff */
    uint8_t prev_hash[AUDIT_HASH_BYTES];
    uint8_t hash[AUDIT_HASH_BYTES];
};

struct audit;

/* Opens (creating when needed) <dir>/audit.db, in WAL mode with
 * synchronous=FULL, and installs the table and the triggers that refuse
 * UPDATE and DELETE (again, if someone dropped them). The directory must
 * exist. NULL with the reason in err on failure. */
struct audit *audit_open(const char *dir, char *err, size_t err_len);
/* Closes the trail; NULL is accepted. */
void audit_close(struct audit *a);
/* The database file's path ("<dir>/audit.db"). */
const char *audit_path(const struct audit *a);

/* Appends one record (see struct audit_record for what the caller fills),
 * chained to the last record in the file, committed and fsync'd before it
 * returns. Thread-safe; several processes may append to the same file
 * (each append is one IMMEDIATE transaction). Returns the new record's id
 * (>= 1), or -1 with the reason in err, in which case nothing was written.
 * Refuses a text field longer than AUDIT_MAX_FIELD_BYTES. */
int64_t audit_append(struct audit *a, const struct audit_record *rec, char *err, size_t err_len);

/* What audit_verify found wrong with the first bad record. */
enum audit_damage {
    AUDIT_INTACT = 0,
    AUDIT_MODIFIED,  /* a record's contents do not match its hash */
    AUDIT_DELETED,   /* ids jump: records are missing */
    AUDIT_INSERTED,  /* a self-consistent record that does not chain to its predecessor */
    AUDIT_REORDERED, /* a record's contents (or link) belong to another position */
};

/* "intact", "modified", "deleted", "inserted", "reordered". */
const char *audit_damage_name(enum audit_damage d);

struct audit_verify_result {
    enum audit_damage damage;
    int64_t count;                       /* records that verified (all of them when intact) */
    uint8_t last_hash[AUDIT_HASH_BYTES]; /* hash of the last record that verified (zeros: none) */
    int64_t last_id;                     /* its id (0: none) */
    int64_t bad_id;                      /* the first bad record (a missing one for DELETED) */
    char detail[320];                    /* one line: what exactly is wrong */
};

/* Walks every record of the trail in id order in one read snapshot,
 * recomputes each hash and checks the chain and that ids run 1, 2, 3...;
 * stops at the first bad record. Returns false with the reason in err only
 * when the file cannot be read at all (a damaged chain returns true with
 * result->damage set). audit_verify_file opens path read-only. */
bool audit_verify(const struct audit *a, struct audit_verify_result *result, char *err,
                  size_t err_len);
bool audit_verify_file(const char *path, struct audit_verify_result *result, char *err,
                       size_t err_len);

/* Filters of audit_query; zero / NULL fields do not filter. */
struct audit_filter {
    int64_t from_ns, to_ns;    /* time_ns in [from_ns, to_ns); 0: unbounded */
    const char *actor;         /* exactly */
    const char *action;        /* exactly */
    const char *object_prefix; /* object starts with this (no wildcards) */
    int64_t limit;             /* at most this many (0: no limit) */
    int64_t offset;            /* skip this many matches first */
    bool newest_first;         /* descending ids instead of ascending */
};

/* Called for each matching record; the record's texts live until the
 * callback returns. Returning false stops the walk. */
typedef bool (*audit_record_fn)(const struct audit_record *rec, void *ctx);

/* Calls fn for each record matching filter (NULL: every record), in id
 * order. False with the reason in err when the query failed (not when fn
 * stopped it). Thread-safe. */
bool audit_query_each(struct audit *a, const struct audit_filter *filter, audit_record_fn fn,
                      void *ctx, char *err, size_t err_len);

/* Matching records collected in memory: free with audit_list_free. */
struct audit_list {
    struct audit_record *records;
    size_t count;
    char **texts_; /* private: one block of texts per record */
};
bool audit_query(struct audit *a, const struct audit_filter *filter, struct audit_list *out,
                 char *err, size_t err_len);
void audit_list_free(struct audit_list *list);

/* The canonical encoding of rec (everything but prev_hash and hash):
 *   id        8 bytes, big-endian two's complement
 *   time_ns   8 bytes, big-endian two's complement
 *   then time_text, actor, action, object, old_value, new_value, reason,
 *   outcome, details, each as a 4-byte big-endian byte length followed by
 *   the UTF-8 bytes (NULL as length 0).
 * Writes min(needed, cap) bytes into out and returns the length needed. */
size_t audit_encode(const struct audit_record *rec, uint8_t *out, size_t cap);
/* hash = SHA-256(prev_hash || audit_encode(rec)), using rec->prev_hash. */
void audit_record_hash(const struct audit_record *rec, uint8_t hash[AUDIT_HASH_BYTES]);
/* Lowercase hex of a hash into out (AUDIT_HASH_HEX_BYTES bytes). */
void audit_hash_hex(const uint8_t hash[AUDIT_HASH_BYTES], char out[AUDIT_HASH_HEX_BYTES]);
/* Formats ts_ns as "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (UTC, 9 digits). */
void audit_format_time(int64_t ts_ns, char out[AUDIT_TIME_TEXT_BYTES]);

/* RFC 4180 CSV: a header line and one line per record (CRLF line ends);
 * fields with a comma, quote, CR or LF are quoted, quotes doubled.
 * Columns: id,time,time_ns,actor,action,object,old_value,new_value,reason,
 * outcome,details,prev_hash,hash. */
void audit_csv_header(FILE *out);
void audit_csv_record(FILE *out, const struct audit_record *rec);
/* Writes one CSV field (quoted when it must be). A text a spreadsheet would
 * take for a formula (=, +, @, tab, CR first, or - without being a plain
 * number) is quoted with a leading ' so it is shown, never evaluated. */
void audit_csv_field(FILE *out, const char *text);

/* The lines that differ between two versions of a text (a configuration
 * file), for a record's details: "@@ line N: -A +B lines @@" then the old
 * lines prefixed '-' and the new ones '+' (the changed region between the
 * common first and last lines), at most max_bytes (>= 64) with "... (N more
 * lines)" when cut. "" when the texts are equal; NULL when out of memory.
 * The caller frees it. */
char *audit_text_diff(const char *old_text, const char *new_text, size_t max_bytes);

#endif
