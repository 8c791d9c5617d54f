/* Inside the auth module: the handle, base64, random secrets and SHA-256
 * shared by auth.c (database, users, login), auth_token.c (tokens and
 * sessions) and auth_crypto.c (password hashing). */
#ifndef AIRLOCK_AUTH_AUTH_INTERNAL_H
#define AIRLOCK_AUTH_AUTH_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "auth/auth.h"

#define AUTH_SECRET_BYTES 32
#define AUTH_SHA256_BYTES 32

struct auth {
    sqlite3 *db;
    pthread_mutex_t lock; /* guards db */
    unsigned log2_n;      /* scrypt cost of new hashes */
    /* Prepared once (the per-request path): token lookup, under lock. */
    sqlite3_stmt *token_lookup;
    sqlite3_stmt *session_lookup;
};

/* base64 without padding, standard (url = false) or URL-safe alphabet, of
 * n bytes into out (needs 4 * ceil(n / 3) + 1 bytes); returns the length. */
size_t auth_b64_encode(const uint8_t *in, size_t n, bool url, char *out);
/* Decodes unpadded base64 text of the given alphabet into out[0..cap);
 * returns the byte count, or -1 on a bad character, length or overflow. */
long auth_b64_decode(const char *text, size_t len, bool url, uint8_t *out, size_t cap);
/* AUTH_SECRET_BYTES random bytes as base64url text (AUTH_SECRET_TEXT_SIZE). */
bool auth_random_secret(char out[AUTH_SECRET_TEXT_SIZE]);
/* SHA-256 of text. */
bool auth_sha256(const char *text, size_t len, uint8_t out[AUTH_SHA256_BYTES]);
/* Runs scrypt with the module's parameters against a fixed salt and drops
 * the result: the work an unknown user's login must cost. */
void auth_password_dummy_work(const char *password, unsigned log2_n);
/* True when stored was made with cost log2_n (and the current r, p). */
bool auth_password_cost_is(const char *stored, unsigned log2_n);

/* Reports a database error as "WHAT: sqlite message" into err. */
enum auth_status auth_db_error(struct auth *a, const char *what, char *err, size_t err_len);
/* The user's row id, role and disabled flag (under the lock).
 * AUTH_ERR_NOT_FOUND with a message when absent. */
enum auth_status auth_user_lookup(struct auth *a, const char *name, int64_t *id,
                                  enum auth_role *role, bool *disabled, char *err, size_t err_len);
/* Runs sql (no parameters) and collects its rows into a malloc'd array of
 * elem_size items, each zeroed and then filled by row; *out / *count are
 * NULL / 0 on failure (err says what, naming what the query was for).
 * Takes the lock. */
enum auth_status auth_list_rows(struct auth *a, const char *sql, const char *what, size_t elem_size,
                                void (*row)(sqlite3_stmt *q, void *elem), void **out, size_t *count,
                                char *err, size_t err_len);
/* Deletes the sessions of a user row (under the lock). */
bool auth_sessions_delete_user(struct auth *a, int64_t user_id);

#endif
