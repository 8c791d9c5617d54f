/* The tamper-evident audit trail (see audit.h): the SQLite table, the
 * canonical encoding and hash chain, the verifier that names the first bad
 * record, queries and CSV. */
#include "audit/audit.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/errbuf.h"

#define AUDIT_BUSY_TIMEOUT_MS 10000

struct audit {
    sqlite3 *db;
    pthread_mutex_t lock;
    char path[4096];
};

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY,"
    " time_ns INTEGER NOT NULL,"
    " time TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " object TEXT NOT NULL,"
    " old_value TEXT NOT NULL,"
    " new_value TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " details TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ns);"
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit records cannot be changed'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit records cannot be deleted'); END;";

/* The columns every reader selects, in this order. */
#define RECORD_COLUMNS                                                                             \
    "id, time_ns, time, actor, action, object, old_value, new_value, reason, outcome, details, "   \
    "prev_hash, hash"
enum { COL_ID, COL_TIME_NS, COL_TIME, COL_FIRST_TEXT = COL_TIME + 1, COL_PREV = 11, COL_HASH = 12 };
#define TEXT_FIELDS 8 /* actor .. details */

/* ------------------------------------------------------------ encoding */

static const char *text_or_empty(const char *s)
{
    return s ? s : "";
}

static void record_texts(const struct audit_record *r, const char *t[TEXT_FIELDS])
{
    t[0] = r->actor;
    t[1] = r->action;
    t[2] = r->object;
    t[3] = r->old_value;
    t[4] = r->new_value;
    t[5] = r->reason;
    t[6] = r->outcome;
    t[7] = r->details;
}

/* The encoding goes to a sink: a buffer (audit_encode) or a digest
 * (audit_record_hash), so that both share one definition. */
struct sink {
    uint8_t *buf;
    size_t cap, len;
    EVP_MD_CTX *md;
};

static void sink_put(struct sink *s, const void *p, size_t n)
{
    if (s->md) EVP_DigestUpdate(s->md, p, n);
    if (s->buf && s->len < s->cap) {
        size_t room = s->cap - s->len;
        memcpy(s->buf + s->len, p, n < room ? n : room);
    }
    s->len += n;
}

static void sink_be(struct sink *s, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    sink_put(s, b, (size_t)bytes);
}

static void sink_text(struct sink *s, const char *text, size_t len)
{
    sink_be(s, (uint64_t)len, 4);
    if (len) sink_put(s, text, len);
}

/* Encodes with explicit lengths (texts read from the database may hold NUL
 * bytes); lens[i] is the length of texts[i]. */
static void encode_fields(struct sink *s, int64_t id, int64_t time_ns, const char *time_text,
                          size_t time_len, const char *const texts[TEXT_FIELDS],
                          const size_t lens[TEXT_FIELDS])
{
    sink_be(s, (uint64_t)id, 8);
    sink_be(s, (uint64_t)time_ns, 8);
    sink_text(s, time_text, time_len);
    for (int i = 0; i < TEXT_FIELDS; i++)
        sink_text(s, texts[i], lens[i]);
}

static void encode_record(struct sink *s, const struct audit_record *r)
{
    const char *t[TEXT_FIELDS];
    size_t lens[TEXT_FIELDS];
    record_texts(r, t);
    for (int i = 0; i < TEXT_FIELDS; i++) {
        t[i] = text_or_empty(t[i]);
        lens[i] = strlen(t[i]);
    }
    encode_fields(s, r->id, r->time_ns, r->time_text, strnlen(r->time_text, sizeof r->time_text), t,
                  lens);
}

size_t audit_encode(const struct audit_record *rec, uint8_t *out, size_t cap)
{
    struct sink s = {out, cap, 0, NULL};
    encode_record(&s, rec);
    return s.len;
}

/* SHA-256 over prev || the fields; aborts only if OpenSSL cannot allocate a
 * digest context, which leaves a zero hash (never equal to a real one). */
static void hash_fields(const uint8_t prev[AUDIT_HASH_BYTES], int64_t id, int64_t time_ns,
                        const char *time_text, size_t time_len,
                        const char *const texts[TEXT_FIELDS], const size_t lens[TEXT_FIELDS],
                        uint8_t out[AUDIT_HASH_BYTES])
{
    memset(out, 0, AUDIT_HASH_BYTES);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) return;
    unsigned int n = 0;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        struct sink s = {NULL, 0, 0, md};
        sink_put(&s, prev, AUDIT_HASH_BYTES);
        encode_fields(&s, id, time_ns, time_text, time_len, texts, lens);
        EVP_DigestFinal_ex(md, out, &n);
    }
    EVP_MD_CTX_free(md);
}

void audit_record_hash(const struct audit_record *rec, uint8_t hash[AUDIT_HASH_BYTES])
{
    const char *t[TEXT_FIELDS];
    size_t lens[TEXT_FIELDS];
    record_texts(rec, t);
    for (int i = 0; i < TEXT_FIELDS; i++) {
        t[i] = text_or_empty(t[i]);
        lens[i] = strlen(t[i]);
    }
    hash_fields(rec->prev_hash, rec->id, rec->time_ns, rec->time_text,
                strnlen(rec->time_text, sizeof rec->time_text), t, lens, hash);
}

void audit_hash_hex(const uint8_t hash[AUDIT_HASH_BYTES], char out[AUDIT_HASH_HEX_BYTES])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < AUDIT_HASH_BYTES; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[2 * AUDIT_HASH_BYTES] = '\0';
}

/* Exactly 64 hex digits (either case) -> 32 bytes. */
static bool hash_unhex(const unsigned char *text, int len, uint8_t out[AUDIT_HASH_BYTES])
{
    if (!text || len != 2 * AUDIT_HASH_BYTES) return false;
    for (int i = 0; i < len; i++) {
        int c = text[i], v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return false;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return true;
}

void audit_format_time(int64_t ts_ns, char out[AUDIT_TIME_TEXT_BYTES])
{
    int64_t secs = ts_ns / 1000000000, frac = ts_ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, AUDIT_TIME_TEXT_BYTES, "@%" PRId64, ts_ns);
        return;
    }
    size_t n = strftime(out, AUDIT_TIME_TEXT_BYTES, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(out + n, AUDIT_TIME_TEXT_BYTES - n, ".%09dZ", (int)frac);
    if (n == 0 || m < 0 || (size_t)m >= AUDIT_TIME_TEXT_BYTES - n)
        snprintf(out, AUDIT_TIME_TEXT_BYTES, "@%" PRId64, ts_ns); /* does not fit */
}

const char *audit_damage_name(enum audit_damage d)
{
    switch (d) {
    case AUDIT_INTACT:
        return "intact";
    case AUDIT_MODIFIED:
        return "modified";
    case AUDIT_DELETED:
        return "deleted";
    case AUDIT_INSERTED:
        return "inserted";
    case AUDIT_REORDERED:
        return "reordered";
    }
    return "unknown";
}

/* ------------------------------------------------------------ open/close */

static bool exec_sql(sqlite3 *db, const char *sql, const char *what, char *err, size_t err_len)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return true;
    errbuf_set(err, err_len, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return false;
}

struct audit *audit_open(const char *dir, char *err, size_t err_len)
{
    struct audit *a = calloc(1, sizeof *a);
    if (!a) {
        errbuf_set(err, err_len, "out of memory");
        return NULL;
    }
    int n = snprintf(a->path, sizeof a->path, "%s/%s", dir, AUDIT_FILE_NAME);
    if (n < 0 || (size_t)n >= sizeof a->path) {
        errbuf_set(err, err_len, "the audit trail's path is too long");
        free(a);
        return NULL;
    }
    int rc = sqlite3_open_v2(
        a->path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        errbuf_set(err, err_len, "cannot open %s: %s", a->path,
                   a->db ? sqlite3_errmsg(a->db) : sqlite3_errstr(rc));
        sqlite3_close(a->db);
        free(a);
        return NULL;
    }
    sqlite3_busy_timeout(a->db, AUDIT_BUSY_TIMEOUT_MS);
    char why[512];
    if (!exec_sql(a->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "setting WAL mode",
                  why, sizeof why) ||
        !exec_sql(a->db, SCHEMA_SQL, "creating the audit table", why, sizeof why)) {
        errbuf_set(err, err_len, "%s: %s", a->path, why);
        sqlite3_close(a->db);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void audit_close(struct audit *a)
{
    if (!a) return;
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

const char *audit_path(const struct audit *a)
{
    return a->path;
}

/* ------------------------------------------------------------ append */

static bool fields_fit(const struct audit_record *r, char *err, size_t err_len)
{
    static const char *const names[TEXT_FIELDS] = {"actor",     "action", "object",  "old_value",
                                                   "new_value", "reason", "outcome", "details"};
    const char *t[TEXT_FIELDS];
    record_texts(r, t);
    for (int i = 0; i < TEXT_FIELDS; i++)
        if (t[i] && strlen(t[i]) > AUDIT_MAX_FIELD_BYTES) {
            errbuf_set(err, err_len, "%s is longer than %u bytes", names[i], AUDIT_MAX_FIELD_BYTES);
            return false;
        }
    return true;
}

/* Reads the last record's id and hash (0 and zeros for an empty trail). */
static bool read_tail(sqlite3 *db, int64_t *last_id, uint8_t last_hash[AUDIT_HASH_BYTES], char *err,
                      size_t err_len)
{
    sqlite3_stmt *st = NULL;
    *last_id = 0;
    memset(last_hash, 0, AUDIT_HASH_BYTES);
    if (sqlite3_prepare_v2(db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK) {
        errbuf_set(err, err_len, "reading the last record: %s", sqlite3_errmsg(db));
        return false;
    }
    int rc = sqlite3_step(st);
    bool ok = true;
    if (rc == SQLITE_ROW) {
        *last_id = sqlite3_column_int64(st, 0);
        const unsigned char *hex = sqlite3_column_text(st, 1);
        if (!hash_unhex(hex, sqlite3_column_bytes(st, 1), last_hash)) {
            errbuf_set(err, err_len,
                       "the last record (%" PRId64 ") has a malformed hash: the trail is damaged "
                       "(run airlock audit verify)",
                       *last_id);
            ok = false;
        }
    } else if (rc != SQLITE_DONE) {
        errbuf_set(err, err_len, "reading the last record: %s", sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(st);
    return ok;
}

static bool insert_record(sqlite3 *db, const struct audit_record *r, char *err, size_t err_len)
{
    static const char sql[] =
        "INSERT INTO audit (" RECORD_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        errbuf_set(err, err_len, "preparing the insert: %s", sqlite3_errmsg(db));
        return false;
    }
    char prev_hex[AUDIT_HASH_HEX_BYTES], hash_hex[AUDIT_HASH_HEX_BYTES];
    audit_hash_hex(r->prev_hash, prev_hex);
    audit_hash_hex(r->hash, hash_hex);
    const char *t[TEXT_FIELDS];
    record_texts(r, t);
    sqlite3_bind_int64(st, 1 + COL_ID, r->id);
    sqlite3_bind_int64(st, 1 + COL_TIME_NS, r->time_ns);
    sqlite3_bind_text(st, 1 + COL_TIME, r->time_text, -1, SQLITE_STATIC);
    for (int i = 0; i < TEXT_FIELDS; i++)
        sqlite3_bind_text(st, 1 + COL_FIRST_TEXT + i, text_or_empty(t[i]), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 1 + COL_PREV, prev_hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 1 + COL_HASH, hash_hex, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    if (!ok) errbuf_set(err, err_len, "inserting the record: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok;
}

int64_t audit_append(struct audit *a, const struct audit_record *rec, char *err, size_t err_len)
{
    if (!fields_fit(rec, err, err_len)) return -1;
    struct audit_record r = *rec;
    r.time_ns = rec->time_ns ? rec->time_ns : clock_now_ns();
    audit_format_time(r.time_ns, r.time_text);
    char why[512];
    int64_t id = -1;
    pthread_mutex_lock(&a->lock);
    /* IMMEDIATE takes the write lock at once, so that the tail read and the
     * insert are one step even with other processes appending. */
    if (!exec_sql(a->db, "BEGIN IMMEDIATE", "starting the append", why, sizeof why)) {
        errbuf_set(err, err_len, "%s", why);
        pthread_mutex_unlock(&a->lock);
        return -1;
    }
    int64_t last_id;
    if (read_tail(a->db, &last_id, r.prev_hash, why, sizeof why)) {
        r.id = last_id + 1;
        audit_record_hash(&r, r.hash);
        if (insert_record(a->db, &r, why, sizeof why) &&
            exec_sql(a->db, "COMMIT", "committing the append", why, sizeof why))
            id = r.id;
    }
    if (id < 0) {
        errbuf_set(err, err_len, "%s", why);
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&a->lock);
    return id;
}

/* ------------------------------------------------------------ verify */

/* One row as read from the database, texts pointing into the statement. */
struct row {
    int64_t id, time_ns;
    const char *time_text;
    size_t time_len;
    const char *texts[TEXT_FIELDS];
    size_t lens[TEXT_FIELDS];
    bool hashes_ok; /* prev_hash and hash are well-formed */
    uint8_t prev[AUDIT_HASH_BYTES], hash[AUDIT_HASH_BYTES];
};

static const char *column_text(sqlite3_stmt *st, int col, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    *len = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
    return t ? t : "";
}

static void read_row(sqlite3_stmt *st, struct row *r)
{
    r->id = sqlite3_column_int64(st, COL_ID);
    r->time_ns = sqlite3_column_int64(st, COL_TIME_NS);
    r->time_text = column_text(st, COL_TIME, &r->time_len);
    for (int i = 0; i < TEXT_FIELDS; i++)
        r->texts[i] = column_text(st, COL_FIRST_TEXT + i, &r->lens[i]);
    const unsigned char *prev = sqlite3_column_text(st, COL_PREV);
    int prev_len = sqlite3_column_bytes(st, COL_PREV);
    const unsigned char *hash = sqlite3_column_text(st, COL_HASH);
    int hash_len = sqlite3_column_bytes(st, COL_HASH);
    r->hashes_ok = hash_unhex(prev, prev_len, r->prev) && hash_unhex(hash, hash_len, r->hash);
}

/* The hash row would have with the given link, id and contents. */
static void row_hash(const struct row *contents, const uint8_t prev[AUDIT_HASH_BYTES], int64_t id,
                     uint8_t out[AUDIT_HASH_BYTES])
{
    hash_fields(prev, id, contents->time_ns, contents->time_text, contents->time_len,
                contents->texts, contents->lens, out);
}

static sqlite3_stmt *prepare_all(sqlite3 *db, char *err, size_t err_len)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT " RECORD_COLUMNS " FROM audit ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK) {
        errbuf_set(err, err_len, "reading the audit table: %s", sqlite3_errmsg(db));
        return NULL;
    }
    return st;
}

/* True when some row other than skip_id holds the record written as id. */
static bool written_id_present(sqlite3 *db, int64_t id, int64_t skip_id)
{
    sqlite3_stmt *st = prepare_all(db, NULL, 0);
    if (!st) return false;
    bool found = false;
    uint8_t h[AUDIT_HASH_BYTES];
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
        struct row r;
        read_row(st, &r);
        if (r.id == skip_id || !r.hashes_ok) continue;
        row_hash(&r, r.prev, id, h);
        found = memcmp(h, r.hash, sizeof h) == 0;
    }
    sqlite3_finalize(st);
    return found;
}

/* Row bad holds the record written as written_id, intact but moved: later
 * (records were inserted before it: the first bad one is at written_id),
 * earlier with its own record elsewhere (reordered), or earlier with its
 * own record gone (records deleted and the rest renumbered). */
static void classify_moved(sqlite3 *db, const struct row *bad, int64_t written_id,
                           struct audit_verify_result *res)
{
    if (written_id < bad->id) {
        res->damage = AUDIT_INSERTED;
        res->bad_id = written_id;
        snprintf(res->detail, sizeof res->detail,
                 "record %" PRId64 " holds the record written as %" PRId64 ": %" PRId64
                 " record(s) were inserted from %" PRId64 " on",
                 bad->id, written_id, bad->id - written_id, written_id);
    } else if (written_id_present(db, bad->id, bad->id)) {
        res->damage = AUDIT_REORDERED;
        snprintf(res->detail, sizeof res->detail,
                 "it holds the record written as %" PRId64 " (records were reordered)", written_id);
    } else {
        res->damage = AUDIT_DELETED;
        snprintf(res->detail, sizeof res->detail,
                 "the record written as %" PRId64 " is gone and record %" PRId64
                 " moved into its place (records deleted and the rest renumbered)",
                 bad->id, written_id);
    }
}

/* Row bad has contents that do not match its hash. Looks through the whole
 * trail for where they belong: the contents written as record bad->id now
 * in another row (contents swapped), or bad holding the record written
 * under another id (rows moved or renumbered). */
static void classify_mismatch(sqlite3 *db, const struct row *bad, struct audit_verify_result *res)
{
    res->damage = AUDIT_MODIFIED;
    snprintf(res->detail, sizeof res->detail,
             "its contents do not match its hash (a field was changed after it was written)");
    sqlite3_stmt *st = prepare_all(db, NULL, 0);
    if (!st) return;
    uint8_t h[AUDIT_HASH_BYTES];
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct row other;
        read_row(st, &other);
        if (other.id == bad->id) continue;
        row_hash(&other, bad->prev, bad->id, h);
        if (memcmp(h, bad->hash, sizeof h) == 0) {
            res->damage = AUDIT_REORDERED;
            snprintf(res->detail, sizeof res->detail,
                     "the contents written as record %" PRId64 " are now in record %" PRId64
                     " (records' contents were swapped or moved)",
                     bad->id, other.id);
            break;
        }
        row_hash(bad, bad->prev, other.id, h);
        if (memcmp(h, bad->hash, sizeof h) == 0) {
            classify_moved(db, bad, other.id, res);
            break;
        }
    }
    sqlite3_finalize(st);
}

/* Row bad is self-consistent but its prev_hash is not its predecessor's
 * hash: linked to a later record means reordered, otherwise inserted. */
static void classify_link(sqlite3 *db, const struct row *bad, struct audit_verify_result *res)
{
    res->damage = AUDIT_INSERTED;
    snprintf(res->detail, sizeof res->detail,
             "its prev_hash does not match record %" PRId64 "'s hash (a record was inserted here, "
             "or record %" PRId64 " was rewritten with a recomputed hash)",
             bad->id - 1, bad->id - 1);
    if (bad->id == 1)
        snprintf(res->detail, sizeof res->detail,
                 "the first record's prev_hash is not 32 zero bytes (records were inserted or "
                 "the trail was cut)");
    sqlite3_stmt *st = prepare_all(db, NULL, 0);
    if (!st) return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct row other;
        read_row(st, &other);
        if (!other.hashes_ok || memcmp(other.hash, bad->prev, sizeof other.hash) != 0) continue;
        if (other.id >= bad->id) {
            res->damage = AUDIT_REORDERED;
            snprintf(res->detail, sizeof res->detail,
                     "it is chained after record %" PRId64 ", not after record %" PRId64
                     " (records were reordered)",
                     other.id, bad->id - 1);
        } else {
            snprintf(res->detail, sizeof res->detail,
                     "it is chained after record %" PRId64 ", not after record %" PRId64
                     " (a record was inserted)",
                     other.id, bad->id - 1);
        }
        break;
    }
    sqlite3_finalize(st);
}

/* Checks one row against the chain so far; false (with res filled) when it
 * is the first bad one. */
static bool check_row(sqlite3 *db, const struct row *r, int64_t expected_id,
                      const uint8_t expected_prev[AUDIT_HASH_BYTES],
                      struct audit_verify_result *res)
{
    if (r->id != expected_id) {
        if (r->id > expected_id) {
            res->damage = AUDIT_DELETED;
            res->bad_id = expected_id;
            if (r->id == expected_id + 1)
                snprintf(res->detail, sizeof res->detail,
                         "record %" PRId64 " is missing (the next record present is %" PRId64 ")",
                         expected_id, r->id);
            else
                snprintf(res->detail, sizeof res->detail,
                         "records %" PRId64 "..%" PRId64 " are missing (the next record present "
                         "is %" PRId64 ")",
                         expected_id, r->id - 1, r->id);
        } else {
            res->damage = AUDIT_INSERTED;
            res->bad_id = r->id;
            snprintf(res->detail, sizeof res->detail,
                     "id %" PRId64 " is out of sequence (ids start at 1)", r->id);
        }
        return false;
    }
    res->bad_id = r->id;
    if (!r->hashes_ok) {
        res->damage = AUDIT_MODIFIED;
        snprintf(res->detail, sizeof res->detail,
                 "its prev_hash or hash is not 64 hex digits (the hash columns were edited)");
        return false;
    }
    uint8_t h[AUDIT_HASH_BYTES];
    row_hash(r, r->prev, r->id, h);
    if (memcmp(h, r->hash, sizeof h) != 0) {
        classify_mismatch(db, r, res);
        return false;
    }
    if (memcmp(r->prev, expected_prev, AUDIT_HASH_BYTES) != 0) {
        classify_link(db, r, res);
        return false;
    }
    return true;
}

static bool verify_db(sqlite3 *db, struct audit_verify_result *res, char *err, size_t err_len)
{
    memset(res, 0, sizeof *res);
    /* One read transaction: the walk and the classification see one
     * snapshot even while appends go on. */
    if (!exec_sql(db, "BEGIN", "starting the read", err, err_len)) return false;
    sqlite3_stmt *st = prepare_all(db, err, err_len);
    bool ok = st != NULL;
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct row r;
        read_row(st, &r);
        if (!check_row(db, &r, res->last_id + 1, res->last_hash, res)) break;
        res->count++;
        res->last_id = r.id;
        memcpy(res->last_hash, r.hash, AUDIT_HASH_BYTES);
    }
    if (ok && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        errbuf_set(err, err_len, "reading the audit table: %s", sqlite3_errmsg(db));
        ok = false;
    }
    if (ok && res->damage == AUDIT_INTACT) res->bad_id = 0;
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return ok;
}

bool audit_verify_file(const char *path, struct audit_verify_result *result, char *err,
                       size_t err_len)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        errbuf_set(err, err_len, "cannot open %s: %s", path,
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return false;
    }
    sqlite3_busy_timeout(db, AUDIT_BUSY_TIMEOUT_MS);
    char why[512];
    bool ok = verify_db(db, result, why, sizeof why);
    if (!ok) errbuf_set(err, err_len, "%s: %s", path, why);
    sqlite3_close(db);
    return ok;
}

bool audit_verify(const struct audit *a, struct audit_verify_result *result, char *err,
                  size_t err_len)
{
    return audit_verify_file(a->path, result, err, err_len);
}

/* ------------------------------------------------------------ queries */

/* Builds the WHERE clause and binds it; the texts are bound SQLITE_STATIC
 * (the filter outlives the statement). */
static sqlite3_stmt *prepare_query(sqlite3 *db, const struct audit_filter *f, char *err,
                                   size_t err_len)
{
    char sql[1024];
    size_t n = (size_t)snprintf(sql, sizeof sql, "SELECT " RECORD_COLUMNS " FROM audit WHERE 1");
    if (f->from_ns) n += (size_t)snprintf(sql + n, sizeof sql - n, " AND time_ns >= :from");
    if (f->to_ns) n += (size_t)snprintf(sql + n, sizeof sql - n, " AND time_ns < :to");
    if (f->actor) n += (size_t)snprintf(sql + n, sizeof sql - n, " AND actor = :actor");
    if (f->action) n += (size_t)snprintf(sql + n, sizeof sql - n, " AND action = :action");
    if (f->object_prefix)
        n += (size_t)snprintf(sql + n, sizeof sql - n,
                              " AND substr(object, 1, length(:obj)) = :obj");
    snprintf(sql + n, sizeof sql - n, " ORDER BY id %s LIMIT :limit OFFSET :offset",
             f->newest_first ? "DESC" : "ASC");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        errbuf_set(err, err_len, "preparing the query: %s", sqlite3_errmsg(db));
        return NULL;
    }
#define BIND_TEXT(name, v)                                                                         \
    if (v) sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, name), v, -1, SQLITE_STATIC)
    if (f->from_ns) sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":from"), f->from_ns);
    if (f->to_ns) sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":to"), f->to_ns);
    BIND_TEXT(":actor", f->actor);
    BIND_TEXT(":action", f->action);
    BIND_TEXT(":obj", f->object_prefix);
#undef BIND_TEXT
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"),
                       f->limit > 0 ? f->limit : -1);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":offset"),
                       f->offset > 0 ? f->offset : 0);
    return st;
}

bool audit_query_each(struct audit *a, const struct audit_filter *filter, audit_record_fn fn,
                      void *ctx, char *err, size_t err_len)
{
    static const struct audit_filter none = {0};
    pthread_mutex_lock(&a->lock);
    sqlite3_stmt *st = prepare_query(a->db, filter ? filter : &none, err, err_len);
    bool ok = st != NULL;
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct row r;
        read_row(st, &r);
        struct audit_record rec = {.id = r.id, .time_ns = r.time_ns};
        snprintf(rec.time_text, sizeof rec.time_text, "%s", r.time_text);
        rec.actor = r.texts[0];
        rec.action = r.texts[1];
        rec.object = r.texts[2];
        rec.old_value = r.texts[3];
        rec.new_value = r.texts[4];
        rec.reason = r.texts[5];
        rec.outcome = r.texts[6];
        rec.details = r.texts[7];
        memcpy(rec.prev_hash, r.prev, sizeof rec.prev_hash);
        memcpy(rec.hash, r.hash, sizeof rec.hash);
        if (!r.hashes_ok) { /* a damaged row is still listed; verify names it */
            memset(rec.prev_hash, 0, sizeof rec.prev_hash);
            memset(rec.hash, 0, sizeof rec.hash);
        }
        if (!fn(&rec, ctx)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (ok && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        errbuf_set(err, err_len, "reading the audit table: %s", sqlite3_errmsg(a->db));
        ok = false;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->lock);
    return ok;
}

struct collect {
    struct audit_list *list;
    size_t cap;
    bool failed;
};

/* Copies rec's texts into one block owned by the list. */
static bool collect_record(const struct audit_record *rec, void *ctx)
{
    struct collect *c = ctx;
    struct audit_list *l = c->list;
    if (l->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct audit_record *records = realloc(l->records, cap * sizeof *records);
        if (!records) goto oom;
        l->records = records;
        char **texts = realloc(l->texts_, cap * sizeof *texts);
        if (!texts) goto oom;
        l->texts_ = texts;
        c->cap = cap;
    }
    const char *t[TEXT_FIELDS];
    size_t total = 0;
    record_texts(rec, t);
    for (int i = 0; i < TEXT_FIELDS; i++)
        total += strlen(t[i]) + 1;
    char *block = malloc(total);
    if (!block) goto oom;
    struct audit_record *out = &l->records[l->count];
    *out = *rec;
    const char **dst[TEXT_FIELDS] = {&out->actor,     &out->action, &out->object,  &out->old_value,
                                     &out->new_value, &out->reason, &out->outcome, &out->details};
    char *p = block;
    for (int i = 0; i < TEXT_FIELDS; i++) {
        size_t n = strlen(t[i]) + 1;
        memcpy(p, t[i], n);
        *dst[i] = p;
        p += n;
    }
    l->texts_[l->count++] = block;
    return true;
oom:
    c->failed = true;
    return false;
}

bool audit_query(struct audit *a, const struct audit_filter *filter, struct audit_list *out,
                 char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    struct collect c = {out, 0, false};
    bool ok = audit_query_each(a, filter, collect_record, &c, err, err_len);
    if (ok && c.failed) {
        errbuf_set(err, err_len, "out of memory");
        ok = false;
    }
    if (!ok) audit_list_free(out);
    return ok;
}

void audit_list_free(struct audit_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->texts_[i]);
    free(list->texts_);
    free(list->records);
    memset(list, 0, sizeof *list);
}

/* ------------------------------------------------------------ CSV */

/* Whether a spreadsheet would take text for a formula: it starts with =,
 * +, @, a tab or a carriage return, or with - and is not a plain number. */
static bool looks_like_formula(const char *text)
{
    if (!*text) return false;
    if (strchr("=+@\t\r", *text)) return true;
    if (*text != '-') return false;
    char *end = NULL;
    strtod(text, &end);
    return end == text || *end != '\0';
}

void audit_csv_field(FILE *out, const char *text)
{
    text = text_or_empty(text);
    bool formula = looks_like_formula(text);
    if (!formula && !strpbrk(text, ",\"\r\n")) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    if (formula) fputc('\'', out); /* shown as text, never evaluated */
    for (const char *p = text; *p; p++) {
        if (*p == '"') fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

void audit_csv_header(FILE *out)
{
    fputs("id,time,time_ns,actor,action,object,old_value,new_value,reason,outcome,details,"
          "prev_hash,hash\r\n",
          out);
}

void audit_csv_record(FILE *out, const struct audit_record *rec)
{
    char prev[AUDIT_HASH_HEX_BYTES], hash[AUDIT_HASH_HEX_BYTES];
    audit_hash_hex(rec->prev_hash, prev);
    audit_hash_hex(rec->hash, hash);
    fprintf(out, "%" PRId64 ",", rec->id);
    audit_csv_field(out, rec->time_text);
    fprintf(out, ",%" PRId64, rec->time_ns);
    const char *t[TEXT_FIELDS];
    record_texts(rec, t);
    for (int i = 0; i < TEXT_FIELDS; i++) {
        fputc(',', out);
        audit_csv_field(out, t[i]);
    }
    fprintf(out, ",%s,%s\r\n", prev, hash);
}
