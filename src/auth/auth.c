/* The auth database (<data_dir>/airlock.db): opening and schema, roles,
 * users and the login check with lockout. Tokens and sessions are in
 * auth_token.c, hashing in auth_crypto.c. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_internal.h"
#include "core/errbuf.h"

#define AUTH_SCHEMA_VERSION 1
#define AUTH_BUSY_TIMEOUT_MS 5000
#define STORED_HASH_SIZE 128

static const char *const role_names[] = {NULL, "viewer", "operator", "engineer", "admin"};

const char *auth_role_name(enum auth_role role)
{
    return role >= AUTH_ROLE_VIEWER && role <= AUTH_ROLE_ADMIN ? role_names[role] : "?";
}

bool auth_role_parse(const char *text, enum auth_role *role)
{
    for (int r = AUTH_ROLE_VIEWER; r <= AUTH_ROLE_ADMIN; r++)
        if (text && strcmp(text, role_names[r]) == 0) {
            *role = (enum auth_role)r;
            return true;
        }
    return false;
}

bool auth_role_allows(enum auth_role have, enum auth_role need)
{
    if (have < AUTH_ROLE_VIEWER || have > AUTH_ROLE_ADMIN) return false;
    if (need < AUTH_ROLE_VIEWER || need > AUTH_ROLE_ADMIN) return false;
    return have >= need;
}

const char *auth_login_result_name(enum auth_login_result r)
{
    switch (r) {
    case AUTH_LOGIN_OK:
        return "ok";
    case AUTH_LOGIN_BAD_PASSWORD:
        return "bad_password";
    case AUTH_LOGIN_UNKNOWN_USER:
        return "unknown_user";
    case AUTH_LOGIN_LOCKED:
        return "locked";
    case AUTH_LOGIN_DISABLED:
        return "disabled";
    case AUTH_LOGIN_ERROR:
        break;
    }
    return "error";
}

enum auth_status auth_db_error(struct auth *a, const char *what, char *err, size_t err_len)
{
    errbuf_set(err, err_len, "%s: %s", what, sqlite3_errmsg(a->db));
    return AUTH_ERR_INTERNAL;
}

/* ------------------------------------------------------------ open */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_versions(component TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK(role IN ('viewer','operator','engineer','admin')),"
    " password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,"
    " failed_count INTEGER NOT NULL DEFAULT 0, locked_until INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, changed INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL, user_id INTEGER NOT NULL REFERENCES users(id),"
    " role TEXT NOT NULL CHECK(role IN ('viewer','operator','engineer','admin')),"
    " secret_hash BLOB NOT NULL UNIQUE, created INTEGER NOT NULL,"
    " last_used INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS sessions(id_hash BLOB PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id), csrf TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);";

/* Creates or checks the schema inside one transaction. */
static enum auth_status init_schema(struct auth *a, char *err, size_t err_len)
{
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return auth_db_error(a, "starting the schema transaction", err, err_len);
    enum auth_status st = AUTH_OK;
    sqlite3_stmt *q = NULL;
    if (sqlite3_exec(a->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "creating the tables", err, err_len);
        goto done;
    }
    if (sqlite3_prepare_v2(a->db, "SELECT version FROM schema_versions WHERE component='auth'", -1,
                           &q, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "reading the schema version", err, err_len);
        goto done;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        int v = sqlite3_column_int(q, 0);
        if (v > AUTH_SCHEMA_VERSION) {
            errbuf_set(err, err_len,
                       "the database's auth schema is version %d, newer than this build's %d", v,
                       AUTH_SCHEMA_VERSION);
            st = AUTH_ERR_INTERNAL;
        }
    } else if (sqlite3_exec(a->db,
                            "INSERT INTO schema_versions(component, version) VALUES('auth', 1)",
                            NULL, NULL, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "recording the schema version", err, err_len);
    }
done:
    sqlite3_finalize(q);
    sqlite3_exec(a->db, st == AUTH_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* Creates data_dir (one level) and the database file with owner-only
 * permissions, so SQLite never creates it world-readable. */
static enum auth_status create_files(const char *data_dir, const char *path, char *err,
                                     size_t err_len)
{
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        errbuf_set(err, err_len, "cannot create %s: %s", data_dir, strerror(errno));
        return AUTH_ERR_INTERNAL;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        errbuf_set(err, err_len, "cannot create %s: %s", path, strerror(errno));
        return AUTH_ERR_INTERNAL;
    }
    close(fd);
    return AUTH_OK;
}

struct auth *auth_open(const char *data_dir, bool create, enum auth_status *status, char *err,
                       size_t err_len)
{
    enum auth_status st_local;
    if (!status) status = &st_local;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/airlock.db", data_dir) >= sizeof path) {
        errbuf_set(err, err_len, "data directory path too long");
        *status = AUTH_ERR_INVALID;
        return NULL;
    }
    if (create) {
        if ((*status = create_files(data_dir, path, err, err_len)) != AUTH_OK) return NULL;
    } else if (access(path, F_OK) != 0) {
        errbuf_set(err, err_len, "no user database at %s", path);
        *status = AUTH_ERR_NOT_FOUND;
        return NULL;
    }
    struct auth *a = calloc(1, sizeof *a);
    if (!a) {
        errbuf_set(err, err_len, "out of memory");
        *status = AUTH_ERR_INTERNAL;
        return NULL;
    }
    a->log2_n = AUTH_SCRYPT_LOG2_N;
    pthread_mutex_init(&a->lock, NULL);
    if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        errbuf_set(err, err_len, "cannot open %s: %s", path,
                   a->db ? sqlite3_errmsg(a->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(a->db, AUTH_BUSY_TIMEOUT_MS);
    if (sqlite3_exec(a->db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;", NULL, NULL, NULL) !=
        SQLITE_OK) {
        auth_db_error(a, "setting up the database", err, err_len);
        goto fail;
    }
    if (init_schema(a, err, err_len) != AUTH_OK) goto fail;
    *status = AUTH_OK;
    return a;
fail:
    *status = AUTH_ERR_INTERNAL;
    auth_close(a);
    return NULL;
}

void auth_close(struct auth *a)
{
    if (!a) return;
    sqlite3_finalize(a->token_lookup);
    sqlite3_finalize(a->session_lookup);
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void auth_set_password_cost(struct auth *a, unsigned log2_n)
{
    if (log2_n >= 10 && log2_n <= 20) a->log2_n = log2_n;
}

/* ------------------------------------------------------------ users */

static bool valid_user_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > AUTH_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-' && c != '@'))) return false;
    }
    return true;
}

static enum auth_status check_user_name(const char *name, char *err, size_t err_len)
{
    if (valid_user_name(name)) return AUTH_OK;
    errbuf_set(err, err_len,
               "invalid user name: 1 to %d of letters, digits and . _ - @, starting with a letter "
               "or digit",
               AUTH_NAME_MAX);
    return AUTH_ERR_INVALID;
}

enum auth_status auth_user_lookup(struct auth *a, const char *name, int64_t *id,
                                  enum auth_role *role, bool *disabled, char *err, size_t err_len)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "SELECT id, role, disabled FROM users WHERE name=?", -1, &q,
                           NULL) != SQLITE_OK)
        return auth_db_error(a, "looking up a user", err, err_len);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    enum auth_status st = AUTH_OK;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        if (!auth_role_parse((const char *)sqlite3_column_text(q, 1), role)) *role = 0;
        *disabled = sqlite3_column_int(q, 2) != 0;
    } else if (rc == SQLITE_DONE) {
        errbuf_set(err, err_len, "no user '%s'", name);
        st = AUTH_ERR_NOT_FOUND;
    } else {
        st = auth_db_error(a, "looking up a user", err, err_len);
    }
    sqlite3_finalize(q);
    return st;
}

enum auth_status auth_user_add(struct auth *a, const char *name, enum auth_role role,
                               const char *password, int64_t now_ns, char *err, size_t err_len)
{
    enum auth_status st;
    if ((st = check_user_name(name, err, err_len)) != AUTH_OK) return st;
    if (role < AUTH_ROLE_VIEWER || role > AUTH_ROLE_ADMIN) {
        errbuf_set(err, err_len, "unknown role");
        return AUTH_ERR_INVALID;
    }
    if ((st = auth_password_policy(password, err, err_len)) != AUTH_OK) return st;
    char hash[STORED_HASH_SIZE];
    if (!auth_password_hash(password, a->log2_n, hash, sizeof hash, err, err_len))
        return AUTH_ERR_INTERNAL;
    pthread_mutex_lock(&a->lock);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO users(name, role, password_hash, created, changed)"
                           " VALUES(?, ?, ?, ?, ?)",
                           -1, &q, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "adding a user", err, err_len);
        goto out;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, auth_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, now_ns);
    sqlite3_bind_int64(q, 5, now_ns);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_CONSTRAINT) {
        errbuf_set(err, err_len, "user '%s' already exists", name);
        st = AUTH_ERR_EXISTS;
    } else if (rc != SQLITE_DONE) {
        st = auth_db_error(a, "adding a user", err, err_len);
    }
    sqlite3_finalize(q);
out:
    pthread_mutex_unlock(&a->lock);
    OPENSSL_cleanse(hash, sizeof hash);
    return st;
}

bool auth_sessions_delete_user(struct auth *a, int64_t user_id)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "DELETE FROM sessions WHERE user_id=?", -1, &q, NULL) !=
        SQLITE_OK)
        return false;
    sqlite3_bind_int64(q, 1, user_id);
    bool ok = sqlite3_step(q) == SQLITE_DONE;
    sqlite3_finalize(q);
    return ok;
}

/* Runs an UPDATE of one user row (the statement's last parameter is the
 * name; earlier ones are bound by the caller) and ends the user's sessions
 * when asked, in one transaction. Called with the lock held. */
static enum auth_status update_user(struct auth *a, sqlite3_stmt *q, const char *name,
                                    bool end_sessions, char *err, size_t err_len)
{
    int64_t id;
    enum auth_role role;
    bool disabled;
    enum auth_status st = auth_user_lookup(a, name, &id, &role, &disabled, err, err_len);
    if (st != AUTH_OK) return st;
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return auth_db_error(a, "updating a user", err, err_len);
    sqlite3_bind_text(q, sqlite3_bind_parameter_count(q), name, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = auth_db_error(a, "updating a user", err, err_len);
    else if (end_sessions && !auth_sessions_delete_user(a, id))
        st = auth_db_error(a, "ending the user's sessions", err, err_len);
    sqlite3_exec(a->db, st == AUTH_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return st;
}

enum auth_status auth_user_passwd(struct auth *a, const char *name, const char *password,
                                  int64_t now_ns, char *err, size_t err_len)
{
    enum auth_status st;
    if ((st = check_user_name(name, err, err_len)) != AUTH_OK) return st;
    if ((st = auth_password_policy(password, err, err_len)) != AUTH_OK) return st;
    char hash[STORED_HASH_SIZE];
    if (!auth_password_hash(password, a->log2_n, hash, sizeof hash, err, err_len))
        return AUTH_ERR_INTERNAL;
    pthread_mutex_lock(&a->lock);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "UPDATE users SET password_hash=?, failed_count=0, locked_until=0,"
                           " changed=? WHERE name=?",
                           -1, &q, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "changing a password", err, err_len);
    } else {
        sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, now_ns);
        st = update_user(a, q, name, true, err, err_len);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&a->lock);
    OPENSSL_cleanse(hash, sizeof hash);
    return st;
}

enum auth_status auth_user_set_disabled(struct auth *a, const char *name, bool disabled,
                                        int64_t now_ns, char *err, size_t err_len)
{
    enum auth_status st;
    if ((st = check_user_name(name, err, err_len)) != AUTH_OK) return st;
    const char *sql = disabled ? "UPDATE users SET disabled=1, changed=? WHERE name=?"
                               : "UPDATE users SET disabled=0, failed_count=0, locked_until=0,"
                                 " changed=? WHERE name=?";
    pthread_mutex_lock(&a->lock);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, sql, -1, &q, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "changing a user", err, err_len);
    } else {
        sqlite3_bind_int64(q, 1, now_ns);
        st = update_user(a, q, name, disabled, err, err_len);
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&a->lock);
    return st;
}

static void read_user_row(sqlite3_stmt *q, struct auth_user_info *u)
{
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", (const char *)sqlite3_column_text(q, 0));
    if (!auth_role_parse((const char *)sqlite3_column_text(q, 1), &u->role)) u->role = 0;
    u->disabled = sqlite3_column_int(q, 2) != 0;
    u->failed_count = sqlite3_column_int(q, 3);
    u->locked_until_ns = sqlite3_column_int64(q, 4);
    u->created_ns = sqlite3_column_int64(q, 5);
    u->changed_ns = sqlite3_column_int64(q, 6);
}

#define USER_COLUMNS "name, role, disabled, failed_count, locked_until, created, changed"

enum auth_status auth_list_rows(struct auth *a, const char *sql, const char *what, size_t elem_size,
                                void (*row)(sqlite3_stmt *q, void *elem), void **out, size_t *count,
                                char *err, size_t err_len)
{
    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&a->lock);
    enum auth_status st = AUTH_OK;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, sql, -1, &q, NULL) != SQLITE_OK) {
        st = auth_db_error(a, what, err, err_len);
        goto out;
    }
    size_t cap = 0;
    int rc;
    char *items = NULL;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            char *grown = realloc(items, cap * elem_size);
            if (!grown) {
                errbuf_set(err, err_len, "out of memory");
                st = AUTH_ERR_INTERNAL;
                break;
            }
            items = grown;
        }
        void *elem = items + (*count)++ * elem_size;
        memset(elem, 0, elem_size);
        row(q, elem);
    }
    if (st == AUTH_OK && rc != SQLITE_DONE) st = auth_db_error(a, what, err, err_len);
    sqlite3_finalize(q);
    if (st != AUTH_OK) {
        free(items);
        items = NULL;
        *count = 0;
    }
    *out = items;
out:
    pthread_mutex_unlock(&a->lock);
    return st;
}

static void user_row(sqlite3_stmt *q, void *elem)
{
    read_user_row(q, elem);
}

enum auth_status auth_user_list(struct auth *a, struct auth_user_info **out, size_t *count,
                                char *err, size_t err_len)
{
    void *rows = NULL;
    enum auth_status st =
        auth_list_rows(a, "SELECT " USER_COLUMNS " FROM users ORDER BY name", "listing users",
                       sizeof **out, user_row, &rows, count, err, err_len);
    *out = rows;
    return st;
}

enum auth_status auth_user_get(struct auth *a, const char *name, struct auth_user_info *out,
                               char *err, size_t err_len)
{
    pthread_mutex_lock(&a->lock);
    enum auth_status st = AUTH_OK;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "SELECT " USER_COLUMNS " FROM users WHERE name=?", -1, &q,
                           NULL) != SQLITE_OK) {
        st = auth_db_error(a, "reading a user", err, err_len);
    } else {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            read_user_row(q, out);
        } else if (rc == SQLITE_DONE) {
            errbuf_set(err, err_len, "no user '%s'", name);
            st = AUTH_ERR_NOT_FOUND;
        } else {
            st = auth_db_error(a, "reading a user", err, err_len);
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&a->lock);
    return st;
}

/* ------------------------------------------------------------ login */

struct login_row {
    bool found, disabled;
    int64_t id, locked_until_ns;
    enum auth_role role;
    char hash[STORED_HASH_SIZE * 2];
};

static enum auth_status read_login_row(struct auth *a, const char *name, struct login_row *r,
                                       char *err, size_t err_len)
{
    sqlite3_stmt *q;
    memset(r, 0, sizeof *r);
    if (sqlite3_prepare_v2(a->db,
                           "SELECT id, role, password_hash, disabled, locked_until FROM users"
                           " WHERE name=?",
                           -1, &q, NULL) != SQLITE_OK)
        return auth_db_error(a, "reading a user", err, err_len);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    enum auth_status st = AUTH_OK;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        r->found = true;
        r->id = sqlite3_column_int64(q, 0);
        if (!auth_role_parse((const char *)sqlite3_column_text(q, 1), &r->role)) r->role = 0;
        snprintf(r->hash, sizeof r->hash, "%s", (const char *)sqlite3_column_text(q, 2));
        r->disabled = sqlite3_column_int(q, 3) != 0;
        r->locked_until_ns = sqlite3_column_int64(q, 4);
    } else if (rc != SQLITE_DONE) {
        st = auth_db_error(a, "reading a user", err, err_len);
    }
    sqlite3_finalize(q);
    return st;
}

/* Records a bad password: one more failure, and the lock once the count
 * reaches AUTH_LOCKOUT_FAILURES (the count starts again after it). */
static enum auth_status record_failure(struct auth *a, int64_t id, int64_t now_ns, char *err,
                                       size_t err_len)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "UPDATE users SET"
                           " locked_until = CASE WHEN failed_count + 1 >= ?1 THEN ?2"
                           " ELSE locked_until END,"
                           " failed_count = CASE WHEN failed_count + 1 >= ?1 THEN 0"
                           " ELSE failed_count + 1 END"
                           " WHERE id = ?3",
                           -1, &q, NULL) != SQLITE_OK)
        return auth_db_error(a, "recording a failed login", err, err_len);
    sqlite3_bind_int(q, 1, AUTH_LOCKOUT_FAILURES);
    sqlite3_bind_int64(q, 2, now_ns + AUTH_LOCKOUT_NS);
    sqlite3_bind_int64(q, 3, id);
    enum auth_status st = AUTH_OK;
    if (sqlite3_step(q) != SQLITE_DONE)
        st = auth_db_error(a, "recording a failed login", err, err_len);
    sqlite3_finalize(q);
    return st;
}

/* Clears the failure count after a success and stores new_hash when set. */
static enum auth_status record_success(struct auth *a, int64_t id, const char *new_hash, char *err,
                                       size_t err_len)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "UPDATE users SET failed_count=0, locked_until=0,"
                           " password_hash=coalesce(?, password_hash) WHERE id=?",
                           -1, &q, NULL) != SQLITE_OK)
        return auth_db_error(a, "recording a login", err, err_len);
    if (new_hash)
        sqlite3_bind_text(q, 1, new_hash, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 1);
    sqlite3_bind_int64(q, 2, id);
    enum auth_status st = AUTH_OK;
    if (sqlite3_step(q) != SQLITE_DONE) st = auth_db_error(a, "recording a login", err, err_len);
    sqlite3_finalize(q);
    return st;
}

enum auth_login_result auth_login(struct auth *a, const char *name, const char *password,
                                  int64_t now_ns, struct auth_principal *who, char *err,
                                  size_t err_len)
{
    struct login_row r;
    pthread_mutex_lock(&a->lock);
    enum auth_status st = read_login_row(a, name, &r, err, err_len);
    pthread_mutex_unlock(&a->lock);
    bool long_password = strlen(password) > AUTH_PASSWORD_MAX_BYTES;
    /* The KDF runs once on every path, outside the lock. */
    bool match = false;
    if (st != AUTH_OK || !r.found || long_password)
        auth_password_dummy_work(long_password ? "" : password, a->log2_n);
    else
        match = auth_password_verify(password, r.hash);
    enum auth_login_result result;
    if (st != AUTH_OK) {
        result = AUTH_LOGIN_ERROR;
    } else if (!r.found) {
        result = AUTH_LOGIN_UNKNOWN_USER;
    } else if (r.disabled) {
        result = AUTH_LOGIN_DISABLED;
    } else if (r.locked_until_ns > now_ns) {
        result = AUTH_LOGIN_LOCKED;
    } else if (!match) {
        pthread_mutex_lock(&a->lock);
        st = record_failure(a, r.id, now_ns, err, err_len);
        pthread_mutex_unlock(&a->lock);
        result = st == AUTH_OK ? AUTH_LOGIN_BAD_PASSWORD : AUTH_LOGIN_ERROR;
    } else {
        char new_hash[STORED_HASH_SIZE];
        bool rehash = !auth_password_cost_is(r.hash, a->log2_n) &&
                      auth_password_hash(password, a->log2_n, new_hash, sizeof new_hash, NULL, 0);
        pthread_mutex_lock(&a->lock);
        st = record_success(a, r.id, rehash ? new_hash : NULL, err, err_len);
        pthread_mutex_unlock(&a->lock);
        result = st == AUTH_OK ? AUTH_LOGIN_OK : AUTH_LOGIN_ERROR;
        if (result == AUTH_LOGIN_OK && who) {
            memset(who, 0, sizeof *who);
            snprintf(who->user, sizeof who->user, "%s", name);
            who->role = r.role;
        }
    }
    OPENSSL_cleanse(r.hash, sizeof r.hash);
    return result;
}
