/* Users, roles, password hashing, API tokens, browser sessions and lockout,
 * stored in the metadata database <data_dir>/airlock.db (SQLite, WAL).
 *
 * Secrets never reach the database in the clear: passwords are stored as
 * self-describing scrypt strings ("scrypt$15$8$1$<salt>$<hash>", base64),
 * API tokens and session ids as SHA-256 of the secret (they are 32 random
 * bytes: a slow KDF adds nothing). Every time-dependent call takes `now_ns`
 * (Unix ns, UTC) so tests control the clock.
 *
 * Thread safety: one SQLite connection per `struct auth`, guarded by one
 * mutex; the scrypt work of a login or password change runs outside it, so
 * slow hashing never serialises other requests. Several processes (the
 * gateway and the CLI) may open the same database (busy timeout 5 s).
 *
 * Errors: functions returning enum auth_status fill err (one line, see
 * core/errbuf.h) on anything but AUTH_OK. */
#ifndef AIRLOCK_AUTH_AUTH_H
#define AIRLOCK_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Policy constants (change here; the docs quote them). */
#define AUTH_PASSWORD_MIN_CHARS 12                     /* Unicode code points */
#define AUTH_PASSWORD_MAX_BYTES 1024                   /* longer input is refused, not truncated */
#define AUTH_LOCKOUT_FAILURES 5                        /* consecutive bad passwords that lock */
#define AUTH_LOCKOUT_NS (15LL * 60 * 1000000000)       /* how long a lock lasts */
#define AUTH_SESSION_IDLE_NS (30LL * 60 * 1000000000)  /* without a touch */
#define AUTH_SESSION_MAX_NS (12LL * 3600 * 1000000000) /* absolute lifetime */
#define AUTH_USAGE_STAMP_NS (60LL * 1000000000) /* token last use / session touch granularity */
#define AUTH_NAME_MAX 64                        /* user names and token labels, bytes */

/* scrypt parameters of new hashes: N = 2^15, r = 8, p = 1 (32 MiB, about
 * 50-100 ms per hash on one core). Stored hashes carry their own. */
#define AUTH_SCRYPT_LOG2_N 15
#define AUTH_SCRYPT_R 8
#define AUTH_SCRYPT_P 1
#define AUTH_SALT_BYTES 16
#define AUTH_HASH_BYTES 32

/* Text sizes of the secrets handed out: "alk_" + base64url(32 bytes), and
 * base64url(32 bytes) for session ids and CSRF tokens; with the NUL. */
#define AUTH_TOKEN_TEXT_SIZE 48
#define AUTH_SECRET_TEXT_SIZE 44

/* Roles, ordered: each may do everything the previous ones may. */
enum auth_role {
    AUTH_ROLE_VIEWER = 1,   /* read data */
    AUTH_ROLE_OPERATOR = 2, /* + permitted writes through the write gate */
    AUTH_ROLE_ENGINEER = 3, /* + configuration */
    AUTH_ROLE_ADMIN = 4,    /* + users and tokens */
};

enum auth_status {
    AUTH_OK = 0,
    AUTH_ERR_INVALID,       /* a malformed name, label or argument */
    AUTH_ERR_WEAK_PASSWORD, /* fails the password policy */
    AUTH_ERR_EXISTS,        /* a user of that name exists */
    AUTH_ERR_NOT_FOUND,     /* no such user, token or session */
    AUTH_ERR_ROLE_TOO_HIGH, /* a token's role above its owner's */
    AUTH_ERR_DISABLED,      /* the user is disabled */
    AUTH_ERR_INTERNAL,      /* database, file or crypto failure */
};

/* Why a credential check gave its answer. The HTTP layer logs and audits
 * this but tells the client only "invalid credentials" for every value
 * but AUTH_LOGIN_OK, so user names cannot be enumerated. */
enum auth_login_result {
    AUTH_LOGIN_OK = 0,
    AUTH_LOGIN_BAD_PASSWORD,
    AUTH_LOGIN_UNKNOWN_USER,
    AUTH_LOGIN_LOCKED,
    AUTH_LOGIN_DISABLED,
    AUTH_LOGIN_ERROR, /* internal failure (err says what) */
};

/* Who a verified credential belongs to. token_id is 0 for passwords and
 * sessions. For a token, role is the lower of the token's and its owner's
 * current role. */
struct auth_principal {
    char user[AUTH_NAME_MAX + 1];
    enum auth_role role;
    int64_t token_id;
};

struct auth_user_info {
    char name[AUTH_NAME_MAX + 1];
    enum auth_role role;
    bool disabled;
    int failed_count;
    int64_t locked_until_ns; /* 0: never locked; locked while > now */
    int64_t created_ns, changed_ns;
};

struct auth_token_info {
    int64_t id;
    char name[AUTH_NAME_MAX + 1];
    char user[AUTH_NAME_MAX + 1];
    enum auth_role role;
    int64_t created_ns, last_used_ns, revoked_ns; /* 0: never / not revoked */
};

struct auth;

/* ------------------------------------------------------------ roles */

/* "viewer", "operator", "engineer", "admin"; "?" for anything else. */
const char *auth_role_name(enum auth_role role);
/* Parses a role name (exact, lower case); false when unknown. */
bool auth_role_parse(const char *text, enum auth_role *role);
/* True when a holder of `have` may do what needs `need`. False for values
 * outside the enum. */
bool auth_role_allows(enum auth_role have, enum auth_role need);
/* "ok", "bad_password", "unknown_user", "locked", "disabled", "error". */
const char *auth_login_result_name(enum auth_login_result r);

/* ------------------------------------------------------------ primitives */

/* Checks the policy (AUTH_PASSWORD_MIN_CHARS..AUTH_PASSWORD_MAX_BYTES);
 * AUTH_ERR_WEAK_PASSWORD with a message saying why otherwise. */
enum auth_status auth_password_policy(const char *password, char *err, size_t err_len);
/* Hashes password with scrypt (N = 2^log2_n, AUTH_SCRYPT_R, AUTH_SCRYPT_P)
 * and a random salt into out as "scrypt$LOG2N$R$P$<salt b64>$<hash b64>".
 * out needs 128 bytes. Does not check the policy. False on failure. */
bool auth_password_hash(const char *password, unsigned log2_n, char *out, size_t out_len, char *err,
                        size_t err_len);
/* True when password matches the stored string (constant-time compare).
 * A malformed or out-of-range string (parameters bounded to at most 1 GiB
 * of memory) never matches. Runs the KDF exactly once either way. */
bool auth_password_verify(const char *password, const char *stored);
/* scrypt derivations done by this process (tests count work with it). */
uint64_t auth_kdf_calls(void);

/* ------------------------------------------------------------ database */

/* Opens <data_dir>/airlock.db, creating the tables (and, with create, the
 * directory and the file, mode 0700 / 0600). Without create, a missing
 * database is AUTH_ERR_NOT_FOUND. Refuses a schema newer than this build.
 * NULL on failure (status in *status when non-NULL). */
struct auth *auth_open(const char *data_dir, bool create, enum auth_status *status, char *err,
                       size_t err_len);
/* Closes the database. NULL is fine. */
void auth_close(struct auth *a);
/* The scrypt cost (log2 N, 10..20) of hashes made from now on; default
 * AUTH_SCRYPT_LOG2_N. Lower values are for tests only. */
void auth_set_password_cost(struct auth *a, unsigned log2_n);

/* ------------------------------------------------------------ users */

/* Adds a user. Names: 1..AUTH_NAME_MAX of [A-Za-z0-9._@-], starting with a
 * letter or digit. AUTH_ERR_EXISTS, AUTH_ERR_WEAK_PASSWORD, ... */
enum auth_status auth_user_add(struct auth *a, const char *name, enum auth_role role,
                               const char *password, int64_t now_ns, char *err, size_t err_len);
/* Sets a new password (policy checked), clears the lockout and ends the
 * user's sessions. */
enum auth_status auth_user_passwd(struct auth *a, const char *name, const char *password,
                                  int64_t now_ns, char *err, size_t err_len);
/* Disables a user (logins, sessions and their tokens stop working at once;
 * the sessions are deleted) or enables it again (clearing any lockout). */
enum auth_status auth_user_set_disabled(struct auth *a, const char *name, bool disabled,
                                        int64_t now_ns, char *err, size_t err_len);
/* All users by name into a malloc'd array (*out, *count; free() it). */
enum auth_status auth_user_list(struct auth *a, struct auth_user_info **out, size_t *count,
                                char *err, size_t err_len);
/* One user; AUTH_ERR_NOT_FOUND when absent. */
enum auth_status auth_user_get(struct auth *a, const char *name, struct auth_user_info *out,
                               char *err, size_t err_len);

/* Checks a user name and password at now_ns and applies the lockout rules:
 * AUTH_LOCKOUT_FAILURES consecutive bad passwords lock the account for
 * AUTH_LOCKOUT_NS (attempts while locked are refused and not counted); a
 * success resets the count. Every path, unknown users included, runs the
 * KDF exactly once so the answer takes the same time. On AUTH_LOGIN_OK
 * fills *who (may be NULL) and re-hashes the password when its stored
 * cost differs from the current one. */
enum auth_login_result auth_login(struct auth *a, const char *name, const char *password,
                                  int64_t now_ns, struct auth_principal *who, char *err,
                                  size_t err_len);

/* ------------------------------------------------------------ tokens */

/* Creates an API token for user (role: at most the owner's; 0 means the
 * owner's) labelled name. Writes the token text ("alk_" + 43 characters)
 * into token_out (AUTH_TOKEN_TEXT_SIZE bytes): it is never retrievable
 * again. *id_out (may be NULL) receives its id. */
enum auth_status auth_token_create(struct auth *a, const char *user, const char *name,
                                   enum auth_role role, int64_t now_ns,
                                   char token_out[AUTH_TOKEN_TEXT_SIZE], int64_t *id_out, char *err,
                                   size_t err_len);
/* All tokens, revoked ones included, by id (malloc'd, free() it). */
enum auth_status auth_token_list(struct auth *a, struct auth_token_info **out, size_t *count,
                                 char *err, size_t err_len);
/* Revokes a token: it fails verification from the next call on.
 * AUTH_ERR_NOT_FOUND for an unknown or already revoked id. */
enum auth_status auth_token_revoke(struct auth *a, int64_t id, int64_t now_ns, char *err,
                                   size_t err_len);
/* Looks a presented token up by its hash (no cache). AUTH_OK and *who when
 * it exists, is not revoked and its owner is enabled; records last use
 * (at most once per AUTH_USAGE_STAMP_NS).
 * AUTH_ERR_NOT_FOUND otherwise (also for malformed text). */
enum auth_status auth_token_verify(struct auth *a, const char *token, int64_t now_ns,
                                   struct auth_principal *who, char *err, size_t err_len);

/* ------------------------------------------------------------ sessions */

/* Starts a session for an enabled user: a random id (for the cookie) and a
 * CSRF token, each AUTH_SECRET_TEXT_SIZE bytes of text. Only the id's hash
 * is stored. */
enum auth_status auth_session_create(struct auth *a, const char *user, int64_t now_ns,
                                     char id_out[AUTH_SECRET_TEXT_SIZE],
                                     char csrf_out[AUTH_SECRET_TEXT_SIZE], char *err,
                                     size_t err_len);
/* AUTH_OK with *who and the session's CSRF token (csrf_out may be NULL)
 * while the session exists, its user is enabled, it is younger than
 * AUTH_SESSION_MAX_NS and was touched less than AUTH_SESSION_IDLE_NS ago.
 * An expired session is deleted; AUTH_ERR_NOT_FOUND. Does not touch. */
enum auth_status auth_session_verify(struct auth *a, const char *id, int64_t now_ns,
                                     struct auth_principal *who,
                                     char csrf_out[AUTH_SECRET_TEXT_SIZE], char *err,
                                     size_t err_len);
/* auth_session_verify and auth_session_touch in one lookup: what a request
 * made with the session cookie does. */
enum auth_status auth_session_use(struct auth *a, const char *id, int64_t now_ns,
                                  struct auth_principal *who, char csrf_out[AUTH_SECRET_TEXT_SIZE],
                                  char *err, size_t err_len);
/* Records activity (restarts the idle period) on a valid session; the
 * stored time moves at most once per AUTH_USAGE_STAMP_NS. */
enum auth_status auth_session_touch(struct auth *a, const char *id, int64_t now_ns, char *err,
                                    size_t err_len);
/* Ends a session (logout). AUTH_ERR_NOT_FOUND when there was none. */
enum auth_status auth_session_destroy(struct auth *a, const char *id, char *err, size_t err_len);

#endif
