/* API tokens and browser sessions of the auth module: random secrets
 * handed out once, stored as SHA-256, looked up by that hash on every use
 * (no cache, so revocation and disabling take effect at once). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "core/errbuf.h"

#define TOKEN_PREFIX "alk_"
#define TOKEN_PREFIX_LEN 4
#define SECRET_TEXT_LEN (AUTH_SECRET_TEXT_SIZE - 1)

static bool valid_label(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > AUTH_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7F) return false;
    return true;
}

/* Hashes a presented secret of exactly SECRET_TEXT_LEN base64url
 * characters; false for anything else. */
static bool hash_secret(const char *text, uint8_t out[AUTH_SHA256_BYTES])
{
    if (strnlen(text, SECRET_TEXT_LEN + 1) != SECRET_TEXT_LEN) return false;
    uint8_t raw[AUTH_SECRET_BYTES + 1];
    if (auth_b64_decode(text, SECRET_TEXT_LEN, true, raw, sizeof raw) != AUTH_SECRET_BYTES)
        return false;
    OPENSSL_cleanse(raw, sizeof raw);
    return auth_sha256(text, SECRET_TEXT_LEN, out);
}

static bool hash_token(const char *token, uint8_t out[AUTH_SHA256_BYTES])
{
    return strncmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0 &&
           hash_secret(token + TOKEN_PREFIX_LEN, out);
}

/* ------------------------------------------------------------ tokens */

enum auth_status auth_token_create(struct auth *a, const char *user, const char *name,
                                   enum auth_role role, int64_t now_ns,
                                   char token_out[AUTH_TOKEN_TEXT_SIZE], int64_t *id_out, char *err,
                                   size_t err_len)
{
    if (!valid_label(name)) {
        errbuf_set(err, err_len, "invalid token name: 1 to %d printable characters", AUTH_NAME_MAX);
        return AUTH_ERR_INVALID;
    }
    if (role != 0 && (role < AUTH_ROLE_VIEWER || role > AUTH_ROLE_ADMIN)) {
        errbuf_set(err, err_len, "unknown role");
        return AUTH_ERR_INVALID;
    }
    char secret[AUTH_SECRET_TEXT_SIZE];
    uint8_t hash[AUTH_SHA256_BYTES];
    if (!auth_random_secret(secret) || !auth_sha256(secret, SECRET_TEXT_LEN, hash)) {
        errbuf_set(err, err_len, "no random bytes for a token");
        return AUTH_ERR_INTERNAL;
    }
    pthread_mutex_lock(&a->lock);
    int64_t user_id;
    enum auth_role owner_role;
    bool disabled;
    enum auth_status st = auth_user_lookup(a, user, &user_id, &owner_role, &disabled, err, err_len);
    if (st != AUTH_OK) goto out;
    if (disabled) {
        errbuf_set(err, err_len, "user '%s' is disabled", user);
        st = AUTH_ERR_DISABLED;
        goto out;
    }
    if (role == 0) role = owner_role;
    if (!auth_role_allows(owner_role, role)) {
        errbuf_set(err, err_len, "a token's role (%s) cannot exceed its owner's (%s)",
                   auth_role_name(role), auth_role_name(owner_role));
        st = AUTH_ERR_ROLE_TOO_HIGH;
        goto out;
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO tokens(name, user_id, role, secret_hash, created)"
                           " VALUES(?, ?, ?, ?, ?)",
                           -1, &q, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "creating a token", err, err_len);
        goto out;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, user_id);
    sqlite3_bind_text(q, 3, auth_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, now_ns);
    if (sqlite3_step(q) != SQLITE_DONE) {
        st = auth_db_error(a, "creating a token", err, err_len);
    } else {
        snprintf(token_out, AUTH_TOKEN_TEXT_SIZE, TOKEN_PREFIX "%s", secret);
        if (id_out) *id_out = sqlite3_last_insert_rowid(a->db);
    }
    sqlite3_finalize(q);
out:
    pthread_mutex_unlock(&a->lock);
    OPENSSL_cleanse(secret, sizeof secret);
    return st;
}

static void token_row(sqlite3_stmt *q, void *elem)
{
    struct auth_token_info *t = elem;
    t->id = sqlite3_column_int64(q, 0);
    snprintf(t->name, sizeof t->name, "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(t->user, sizeof t->user, "%s", (const char *)sqlite3_column_text(q, 2));
    if (!auth_role_parse((const char *)sqlite3_column_text(q, 3), &t->role)) t->role = 0;
    t->created_ns = sqlite3_column_int64(q, 4);
    t->last_used_ns = sqlite3_column_int64(q, 5);
    t->revoked_ns = sqlite3_column_int64(q, 6);
}

enum auth_status auth_token_list(struct auth *a, struct auth_token_info **out, size_t *count,
                                 char *err, size_t err_len)
{
    void *rows = NULL;
    enum auth_status st =
        auth_list_rows(a,
                       "SELECT t.id, t.name, u.name, t.role, t.created, t.last_used, t.revoked"
                       " FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
                       "listing tokens", sizeof **out, token_row, &rows, count, err, err_len);
    *out = rows;
    return st;
}

enum auth_status auth_token_revoke(struct auth *a, int64_t id, int64_t now_ns, char *err,
                                   size_t err_len)
{
    pthread_mutex_lock(&a->lock);
    enum auth_status st = AUTH_OK;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "UPDATE tokens SET revoked=? WHERE id=? AND revoked=0", -1, &q,
                           NULL) != SQLITE_OK) {
        st = auth_db_error(a, "revoking a token", err, err_len);
    } else {
        sqlite3_bind_int64(q, 1, now_ns > 0 ? now_ns : 1);
        sqlite3_bind_int64(q, 2, id);
        if (sqlite3_step(q) != SQLITE_DONE) {
            st = auth_db_error(a, "revoking a token", err, err_len);
        } else if (sqlite3_changes(a->db) == 0) {
            errbuf_set(err, err_len, "no active token with id %lld", (long long)id);
            st = AUTH_ERR_NOT_FOUND;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&a->lock);
    return st;
}

enum auth_status auth_token_verify(struct auth *a, const char *token, int64_t now_ns,
                                   struct auth_principal *who, char *err, size_t err_len)
{
    uint8_t hash[AUTH_SHA256_BYTES];
    if (!hash_token(token, hash)) {
        errbuf_set(err, err_len, "malformed token");
        return AUTH_ERR_NOT_FOUND;
    }
    pthread_mutex_lock(&a->lock);
    enum auth_status st = AUTH_OK;
    sqlite3_stmt *q = a->token_lookup;
    if (!q && sqlite3_prepare_v3(a->db,
                                 "SELECT t.id, u.name, t.role, u.role, t.last_used FROM tokens t"
                                 " JOIN users u ON u.id = t.user_id"
                                 " WHERE t.secret_hash=? AND t.revoked=0 AND u.disabled=0",
                                 -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) != SQLITE_OK) {
        st = auth_db_error(a, "verifying a token", err, err_len);
        goto out;
    }
    a->token_lookup = q;
    sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int64_t id = 0, last_used = 0;
    if (rc == SQLITE_ROW) {
        enum auth_role token_role, owner_role;
        id = sqlite3_column_int64(q, 0);
        last_used = sqlite3_column_int64(q, 4);
        if (!auth_role_parse((const char *)sqlite3_column_text(q, 2), &token_role) ||
            !auth_role_parse((const char *)sqlite3_column_text(q, 3), &owner_role)) {
            errbuf_set(err, err_len, "token %lld has an unknown role", (long long)id);
            st = AUTH_ERR_INTERNAL;
        } else if (who) {
            memset(who, 0, sizeof *who);
            snprintf(who->user, sizeof who->user, "%s", (const char *)sqlite3_column_text(q, 1));
            who->role = token_role < owner_role ? token_role : owner_role;
            who->token_id = id;
        }
    } else if (rc == SQLITE_DONE) {
        errbuf_set(err, err_len, "unknown, revoked or disabled token");
        st = AUTH_ERR_NOT_FOUND;
    } else {
        st = auth_db_error(a, "verifying a token", err, err_len);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    /* At most one usage stamp per AUTH_USAGE_STAMP_NS: a write per request
     * would serialise every API call on the database. */
    if (st == AUTH_OK && now_ns - last_used >= AUTH_USAGE_STAMP_NS) {
        sqlite3_stmt *u;
        if (sqlite3_prepare_v2(a->db, "UPDATE tokens SET last_used=? WHERE id=?", -1, &u, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(u, 1, now_ns);
            sqlite3_bind_int64(u, 2, id);
            sqlite3_step(u); /* a failed usage stamp does not refuse the request */
            sqlite3_finalize(u);
        }
    }
out:
    pthread_mutex_unlock(&a->lock);
    return st;
}

/* ------------------------------------------------------------ sessions */

enum auth_status auth_session_create(struct auth *a, const char *user, int64_t now_ns,
                                     char id_out[AUTH_SECRET_TEXT_SIZE],
                                     char csrf_out[AUTH_SECRET_TEXT_SIZE], char *err,
                                     size_t err_len)
{
    uint8_t hash[AUTH_SHA256_BYTES];
    if (!auth_random_secret(id_out) || !auth_random_secret(csrf_out) ||
        !auth_sha256(id_out, SECRET_TEXT_LEN, hash)) {
        errbuf_set(err, err_len, "no random bytes for a session");
        return AUTH_ERR_INTERNAL;
    }
    pthread_mutex_lock(&a->lock);
    int64_t user_id;
    enum auth_role role;
    bool disabled;
    enum auth_status st = auth_user_lookup(a, user, &user_id, &role, &disabled, err, err_len);
    if (st == AUTH_OK && disabled) {
        errbuf_set(err, err_len, "user '%s' is disabled", user);
        st = AUTH_ERR_DISABLED;
    }
    sqlite3_stmt *q = NULL;
    if (st == AUTH_OK &&
        sqlite3_prepare_v2(a->db,
                           "INSERT INTO sessions(id_hash, user_id, csrf, created, expires,"
                           " last_seen) VALUES(?, ?, ?, ?, ?, ?)",
                           -1, &q, NULL) != SQLITE_OK)
        st = auth_db_error(a, "creating a session", err, err_len);
    if (st == AUTH_OK) {
        sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, user_id);
        sqlite3_bind_text(q, 3, csrf_out, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, now_ns);
        sqlite3_bind_int64(q, 5, now_ns + AUTH_SESSION_MAX_NS);
        sqlite3_bind_int64(q, 6, now_ns);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = auth_db_error(a, "creating a session", err, err_len);
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&a->lock);
    if (st != AUTH_OK) {
        OPENSSL_cleanse(id_out, AUTH_SECRET_TEXT_SIZE);
        id_out[0] = csrf_out[0] = '\0';
    }
    return st;
}

static void delete_session(struct auth *a, const uint8_t hash[AUTH_SHA256_BYTES])
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "DELETE FROM sessions WHERE id_hash=?", -1, &q, NULL) !=
        SQLITE_OK)
        return;
    sqlite3_bind_blob(q, 1, hash, AUTH_SHA256_BYTES, SQLITE_STATIC);
    sqlite3_step(q);
    sqlite3_finalize(q);
}

/* Checks a session under the lock; deletes it when expired. */
static enum auth_status check_session(struct auth *a, const uint8_t hash[AUTH_SHA256_BYTES],
                                      int64_t now_ns, struct auth_principal *who,
                                      char csrf_out[AUTH_SECRET_TEXT_SIZE], int64_t *last_seen_out,
                                      char *err, size_t err_len)
{
    sqlite3_stmt *q = a->session_lookup;
    if (!q && sqlite3_prepare_v3(a->db,
                                 "SELECT u.name, u.role, u.disabled, s.csrf, s.expires, s.last_seen"
                                 " FROM sessions s JOIN users u ON u.id = s.user_id"
                                 " WHERE s.id_hash=?",
                                 -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) != SQLITE_OK)
        return auth_db_error(a, "verifying a session", err, err_len);
    a->session_lookup = q;
    sqlite3_bind_blob(q, 1, hash, AUTH_SHA256_BYTES, SQLITE_STATIC);
    enum auth_status st = AUTH_OK;
    bool expired = false;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int64_t expires = sqlite3_column_int64(q, 4), last_seen = sqlite3_column_int64(q, 5);
        if (last_seen_out) *last_seen_out = last_seen;
        expired = now_ns >= expires || now_ns - last_seen >= AUTH_SESSION_IDLE_NS;
        if (expired || sqlite3_column_int(q, 2) != 0) {
            errbuf_set(err, err_len, expired ? "session expired" : "user disabled");
            st = AUTH_ERR_NOT_FOUND;
        } else {
            if (who) {
                memset(who, 0, sizeof *who);
                snprintf(who->user, sizeof who->user, "%s",
                         (const char *)sqlite3_column_text(q, 0));
                if (!auth_role_parse((const char *)sqlite3_column_text(q, 1), &who->role))
                    who->role = 0;
            }
            if (csrf_out)
                snprintf(csrf_out, AUTH_SECRET_TEXT_SIZE, "%s",
                         (const char *)sqlite3_column_text(q, 3));
        }
    } else if (rc == SQLITE_DONE) {
        errbuf_set(err, err_len, "no such session");
        st = AUTH_ERR_NOT_FOUND;
    } else {
        st = auth_db_error(a, "verifying a session", err, err_len);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (expired) delete_session(a, hash);
    return st;
}

/* Checks a session and, when touch is set, records activity (the stored
 * time moves at most once per AUTH_USAGE_STAMP_NS): one lookup under one
 * hold of the lock. */
static enum auth_status use_session(struct auth *a, const char *id, int64_t now_ns, bool touch,
                                    struct auth_principal *who,
                                    char csrf_out[AUTH_SECRET_TEXT_SIZE], char *err, size_t err_len)
{
    uint8_t hash[AUTH_SHA256_BYTES];
    if (!hash_secret(id, hash)) {
        errbuf_set(err, err_len, "malformed session id");
        return AUTH_ERR_NOT_FOUND;
    }
    pthread_mutex_lock(&a->lock);
    int64_t last_seen = 0;
    enum auth_status st = check_session(a, hash, now_ns, who, csrf_out, &last_seen, err, err_len);
    sqlite3_stmt *q;
    if (touch && st == AUTH_OK && now_ns - last_seen >= AUTH_USAGE_STAMP_NS) {
        if (sqlite3_prepare_v2(a->db,
                               "UPDATE sessions SET last_seen=? WHERE id_hash=? AND last_seen<?",
                               -1, &q, NULL) != SQLITE_OK) {
            st = auth_db_error(a, "touching a session", err, err_len);
        } else {
            sqlite3_bind_int64(q, 1, now_ns);
            sqlite3_bind_blob(q, 2, hash, sizeof hash, SQLITE_STATIC);
            sqlite3_bind_int64(q, 3, now_ns - AUTH_USAGE_STAMP_NS);
            if (sqlite3_step(q) != SQLITE_DONE)
                st = auth_db_error(a, "touching a session", err, err_len);
            sqlite3_finalize(q);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return st;
}

enum auth_status auth_session_verify(struct auth *a, const char *id, int64_t now_ns,
                                     struct auth_principal *who,
                                     char csrf_out[AUTH_SECRET_TEXT_SIZE], char *err,
                                     size_t err_len)
{
    return use_session(a, id, now_ns, false, who, csrf_out, err, err_len);
}

enum auth_status auth_session_use(struct auth *a, const char *id, int64_t now_ns,
                                  struct auth_principal *who, char csrf_out[AUTH_SECRET_TEXT_SIZE],
                                  char *err, size_t err_len)
{
    return use_session(a, id, now_ns, true, who, csrf_out, err, err_len);
}

enum auth_status auth_session_touch(struct auth *a, const char *id, int64_t now_ns, char *err,
                                    size_t err_len)
{
    return use_session(a, id, now_ns, true, NULL, NULL, err, err_len);
}

enum auth_status auth_session_destroy(struct auth *a, const char *id, char *err, size_t err_len)
{
    uint8_t hash[AUTH_SHA256_BYTES];
    if (!hash_secret(id, hash)) {
        errbuf_set(err, err_len, "malformed session id");
        return AUTH_ERR_NOT_FOUND;
    }
    pthread_mutex_lock(&a->lock);
    enum auth_status st = AUTH_OK;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(a->db, "DELETE FROM sessions WHERE id_hash=?", -1, &q, NULL) !=
        SQLITE_OK) {
        st = auth_db_error(a, "ending a session", err, err_len);
    } else {
        sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) {
            st = auth_db_error(a, "ending a session", err, err_len);
        } else if (sqlite3_changes(a->db) == 0) {
            errbuf_set(err, err_len, "no such session");
            st = AUTH_ERR_NOT_FOUND;
        }
        sqlite3_finalize(q);
    }
    pthread_mutex_unlock(&a->lock);
    return st;
}
