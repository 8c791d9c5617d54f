/* Tests of the auth module: the password hash format and policy, roles, the
 * login check with lockout (clock injected), equal KDF work for unknown
 * users, API tokens, session expiry and reopening the database. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth/auth.h"
#include "testlib.h"

#define SEC 1000000000LL
#define MIN (60 * SEC)
#define T0 (1800000000LL * SEC) /* an arbitrary start of the injected clock */
#define TEST_COST 10            /* log2 N for speed; the format test uses the default */

static const char *const good_pw = "correct horse battery";

static char dir[64];

static void remove_db(void)
{
    const char *suffixes[] = {"", "-wal", "-shm"};
    char path[128];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/airlock.db%s", dir, suffixes[i]);
        unlink(path);
    }
}

static struct auth *open_db(bool create)
{
    char err[256] = "";
    enum auth_status st;
    struct auth *a = auth_open(dir, create, &st, err, sizeof err);
    if (!a) fprintf(stderr, "auth_open: %s\n", err);
    if (a) auth_set_password_cost(a, TEST_COST);
    return a;
}

static void test_roles(void)
{
    enum auth_role r;
    CHECK(auth_role_allows(AUTH_ROLE_ADMIN, AUTH_ROLE_VIEWER));
    CHECK(auth_role_allows(AUTH_ROLE_ENGINEER, AUTH_ROLE_OPERATOR));
    CHECK(auth_role_allows(AUTH_ROLE_OPERATOR, AUTH_ROLE_OPERATOR));
    CHECK(!auth_role_allows(AUTH_ROLE_VIEWER, AUTH_ROLE_OPERATOR));
    CHECK(!auth_role_allows(AUTH_ROLE_ENGINEER, AUTH_ROLE_ADMIN));
    CHECK(!auth_role_allows((enum auth_role)0, AUTH_ROLE_VIEWER));
    CHECK(!auth_role_allows((enum auth_role)9, AUTH_ROLE_VIEWER));
    CHECK(!auth_role_allows(AUTH_ROLE_ADMIN, (enum auth_role)9));
    CHECK(auth_role_parse("engineer", &r) && r == AUTH_ROLE_ENGINEER);
    CHECK(!auth_role_parse("Admin", &r));
    CHECK(!auth_role_parse("root", &r));
    CHECK_STR(auth_role_name(AUTH_ROLE_OPERATOR), "operator");
    CHECK_STR(auth_login_result_name(AUTH_LOGIN_UNKNOWN_USER), "unknown_user");
}

static void test_hash_format(void)
{
    char h1[128], h2[128];
    uint64_t before = auth_kdf_calls();
    CHECK(auth_password_hash(good_pw, AUTH_SCRYPT_LOG2_N, h1, sizeof h1, NULL, 0));
    CHECK(auth_password_hash(good_pw, AUTH_SCRYPT_LOG2_N, h2, sizeof h2, NULL, 0));
    CHECK_EQ_INT(auth_kdf_calls() - before, 2);
    /* scrypt$15$8$1$ + 22 characters of salt + $ + 43 of hash */
    CHECK(strncmp(h1, "scrypt$15$8$1$", 14) == 0);
    CHECK_EQ_INT(strlen(h1), 14 + 22 + 1 + 43);
    CHECK(h1[14 + 22] == '$');
    CHECK(strcmp(h1, h2) != 0); /* random salts */
    CHECK(strstr(h1, good_pw) == NULL);
    CHECK(auth_password_verify(good_pw, h1));
    CHECK(auth_password_verify(good_pw, h2));
    CHECK(!auth_password_verify("correct horse batterz", h1));
    CHECK(!auth_password_verify("", h1));

    /* Malformed or extreme strings never match and still cost one KDF. */
    const char *bad[] = {
        "",
        "scrypt$",
        "bcrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$40$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$20$32$16$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$15$8$0$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$15$8$1$!!!$AAAA",
        "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA$A"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        before = auth_kdf_calls();
        CHECK(!auth_password_verify(good_pw, bad[i]));
        CHECK_EQ_INT(auth_kdf_calls() - before, 1);
    }
    /* A truncated hash of the right length prefix must not verify either. */
    h1[strlen(h1) - 4] = '\0';
    CHECK(!auth_password_verify(good_pw, h1));
}

static void test_policy(void)
{
    char err[128];
    CHECK_EQ_INT(auth_password_policy("elevenchars", err, sizeof err), AUTH_ERR_WEAK_PASSWORD);
    CHECK(strstr(err, "at least 12") != NULL);
    CHECK_EQ_INT(auth_password_policy("twelve chars", err, sizeof err), AUTH_OK);
    /* 11 two-byte characters are 22 bytes but still 11 characters. */
    CHECK_EQ_INT(auth_password_policy("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                                      err, sizeof err),
                 AUTH_ERR_WEAK_PASSWORD);
    char *huge = malloc(AUTH_PASSWORD_MAX_BYTES + 2);
    memset(huge, 'x', AUTH_PASSWORD_MAX_BYTES + 1);
    huge[AUTH_PASSWORD_MAX_BYTES + 1] = '\0';
    CHECK_EQ_INT(auth_password_policy(huge, err, sizeof err), AUTH_ERR_WEAK_PASSWORD);
    huge[AUTH_PASSWORD_MAX_BYTES] = '\0';
    CHECK_EQ_INT(auth_password_policy(huge, err, sizeof err), AUTH_OK);
    free(huge);
}

static void test_users(struct auth *a)
{
    char err[256];
    CHECK_EQ_INT(auth_user_add(a, "alice", AUTH_ROLE_ADMIN, good_pw, T0, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_user_add(a, "alice", AUTH_ROLE_VIEWER, good_pw, T0, err, sizeof err),
                 AUTH_ERR_EXISTS);
    CHECK(strstr(err, "already exists") != NULL);
    CHECK_EQ_INT(auth_user_add(a, "bob", AUTH_ROLE_VIEWER, "short", T0, err, sizeof err),
                 AUTH_ERR_WEAK_PASSWORD);
    CHECK_EQ_INT(auth_user_add(a, "-bob", AUTH_ROLE_VIEWER, good_pw, T0, err, sizeof err),
                 AUTH_ERR_INVALID);
    CHECK_EQ_INT(auth_user_add(a, "bo b", AUTH_ROLE_VIEWER, good_pw, T0, err, sizeof err),
                 AUTH_ERR_INVALID);
    CHECK_EQ_INT(auth_user_add(a, "bob", (enum auth_role)7, good_pw, T0, err, sizeof err),
                 AUTH_ERR_INVALID);
    CHECK_EQ_INT(auth_user_add(a, "bob.op", AUTH_ROLE_OPERATOR, good_pw, T0 + SEC, err, sizeof err),
                 AUTH_OK);
    struct auth_user_info *users;
    size_t n;
    CHECK_EQ_INT(auth_user_list(a, &users, &n, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STR(users[0].name, "alice");
        CHECK_EQ_INT(users[0].role, AUTH_ROLE_ADMIN);
        CHECK_EQ_INT(users[0].created_ns, T0);
        CHECK_STR(users[1].name, "bob.op");
        CHECK(!users[1].disabled);
    }
    free(users);
    CHECK_EQ_INT(auth_user_passwd(a, "nobody", good_pw, T0, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_user_set_disabled(a, "nobody", true, T0, err, sizeof err),
                 AUTH_ERR_NOT_FOUND);
}

/* Every login path costs exactly one KDF run: no shortcut reveals whether
 * a user exists, is disabled or locked. */
static void test_login_work(struct auth *a)
{
    struct auth_principal who;
    char err[256];
    uint64_t before = auth_kdf_calls();
    CHECK_EQ_INT(auth_login(a, "alice", good_pw, T0, &who, err, sizeof err), AUTH_LOGIN_OK);
    CHECK_EQ_INT(auth_kdf_calls() - before, 1);
    CHECK_STR(who.user, "alice");
    CHECK_EQ_INT(who.role, AUTH_ROLE_ADMIN);
    CHECK_EQ_INT(who.token_id, 0);
    before = auth_kdf_calls();
    CHECK_EQ_INT(auth_login(a, "alice", "wrong password!", T0, NULL, err, sizeof err),
                 AUTH_LOGIN_BAD_PASSWORD);
    CHECK_EQ_INT(auth_kdf_calls() - before, 1);
    before = auth_kdf_calls();
    CHECK_EQ_INT(auth_login(a, "mallory", good_pw, T0, NULL, err, sizeof err),
                 AUTH_LOGIN_UNKNOWN_USER);
    CHECK_EQ_INT(auth_kdf_calls() - before, 1);
    before = auth_kdf_calls();
    CHECK_EQ_INT(auth_login(a, "", "", T0, NULL, err, sizeof err), AUTH_LOGIN_UNKNOWN_USER);
    CHECK_EQ_INT(auth_kdf_calls() - before, 1);
    CHECK_EQ_INT(auth_login(a, "alice", good_pw, T0, NULL, err, sizeof err), AUTH_LOGIN_OK);
}

static void test_lockout(struct auth *a)
{
    char err[256];
    int64_t t = T0 + 10 * MIN;
    /* Four failures, a success resets, four more do not lock. */
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(auth_login(a, "bob.op", "wrong password!", t, NULL, err, sizeof err),
                     AUTH_LOGIN_BAD_PASSWORD);
    CHECK_EQ_INT(auth_login(a, "bob.op", good_pw, t, NULL, err, sizeof err), AUTH_LOGIN_OK);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(auth_login(a, "bob.op", "wrong password!", t, NULL, err, sizeof err),
                     AUTH_LOGIN_BAD_PASSWORD);
    CHECK_EQ_INT(auth_login(a, "bob.op", good_pw, t, NULL, err, sizeof err), AUTH_LOGIN_OK);

    /* The fifth consecutive failure locks for AUTH_LOCKOUT_NS. */
    for (int i = 0; i < AUTH_LOCKOUT_FAILURES; i++)
        CHECK_EQ_INT(auth_login(a, "bob.op", "wrong password!", t, NULL, err, sizeof err),
                     AUTH_LOGIN_BAD_PASSWORD);
    struct auth_user_info u;
    CHECK_EQ_INT(auth_user_get(a, "bob.op", &u, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(u.locked_until_ns, t + AUTH_LOCKOUT_NS);
    uint64_t before = auth_kdf_calls();
    CHECK_EQ_INT(auth_login(a, "bob.op", good_pw, t + MIN, NULL, err, sizeof err),
                 AUTH_LOGIN_LOCKED);
    CHECK_EQ_INT(auth_kdf_calls() - before, 1);
    CHECK_EQ_INT(auth_login(a, "bob.op", good_pw, t + AUTH_LOCKOUT_NS - 1, NULL, err, sizeof err),
                 AUTH_LOGIN_LOCKED);
    /* Other users are not affected. */
    CHECK_EQ_INT(auth_login(a, "alice", good_pw, t + MIN, NULL, err, sizeof err), AUTH_LOGIN_OK);
    /* Released after the period. */
    CHECK_EQ_INT(auth_login(a, "bob.op", good_pw, t + AUTH_LOCKOUT_NS, NULL, err, sizeof err),
                 AUTH_LOGIN_OK);
    CHECK_EQ_INT(auth_user_get(a, "bob.op", &u, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(u.failed_count, 0);
    CHECK_EQ_INT(u.locked_until_ns, 0);

    /* A new password clears a lock. */
    t += AUTH_LOCKOUT_NS + MIN;
    for (int i = 0; i < AUTH_LOCKOUT_FAILURES; i++)
        auth_login(a, "bob.op", "wrong password!", t, NULL, err, sizeof err);
    CHECK_EQ_INT(auth_login(a, "bob.op", good_pw, t, NULL, err, sizeof err), AUTH_LOGIN_LOCKED);
    CHECK_EQ_INT(auth_user_passwd(a, "bob.op", "another long password", t, err, sizeof err),
                 AUTH_OK);
    CHECK_EQ_INT(auth_login(a, "bob.op", good_pw, t, NULL, err, sizeof err),
                 AUTH_LOGIN_BAD_PASSWORD);
    CHECK_EQ_INT(auth_login(a, "bob.op", "another long password", t, NULL, err, sizeof err),
                 AUTH_LOGIN_OK);
    CHECK_EQ_INT(auth_user_passwd(a, "bob.op", "too short", t, err, sizeof err),
                 AUTH_ERR_WEAK_PASSWORD);
}

static void test_disabled(struct auth *a)
{
    char err[256];
    CHECK_EQ_INT(auth_user_set_disabled(a, "bob.op", true, T0, err, sizeof err), AUTH_OK);
    uint64_t before = auth_kdf_calls();
    CHECK_EQ_INT(auth_login(a, "bob.op", "another long password", T0, NULL, err, sizeof err),
                 AUTH_LOGIN_DISABLED);
    CHECK_EQ_INT(auth_kdf_calls() - before, 1);
    struct auth_user_info u;
    CHECK_EQ_INT(auth_user_get(a, "bob.op", &u, err, sizeof err), AUTH_OK);
    CHECK(u.disabled);
    CHECK_EQ_INT(auth_user_set_disabled(a, "bob.op", false, T0, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_login(a, "bob.op", "another long password", T0, NULL, err, sizeof err),
                 AUTH_LOGIN_OK);
}

static void test_tokens(struct auth *a)
{
    char err[256], tok[AUTH_TOKEN_TEXT_SIZE], tok2[AUTH_TOKEN_TEXT_SIZE];
    int64_t id = 0, id2 = 0;
    struct auth_principal who;
    CHECK_EQ_INT(
        auth_token_create(a, "bob.op", "ci", AUTH_ROLE_ADMIN, T0, tok, &id, err, sizeof err),
        AUTH_ERR_ROLE_TOO_HIGH);
    CHECK_EQ_INT(auth_token_create(a, "nobody", "ci", 0, T0, tok, &id, err, sizeof err),
                 AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_token_create(a, "bob.op", "", 0, T0, tok, &id, err, sizeof err),
                 AUTH_ERR_INVALID);
    CHECK_EQ_INT(
        auth_token_create(a, "bob.op", "ci", AUTH_ROLE_VIEWER, T0, tok, &id, err, sizeof err),
        AUTH_OK);
    CHECK_EQ_INT(strlen(tok), 4 + 43);
    CHECK(strncmp(tok, "alk_", 4) == 0);
    CHECK(strspn(tok + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          43);
    CHECK_EQ_INT(auth_token_create(a, "bob.op", "scada", 0, T0, tok2, &id2, err, sizeof err),
                 AUTH_OK);
    CHECK(id2 > id);
    CHECK(strcmp(tok, tok2) != 0);

    CHECK_EQ_INT(auth_token_verify(a, tok, T0 + 5 * SEC, &who, err, sizeof err), AUTH_OK);
    CHECK_STR(who.user, "bob.op");
    CHECK_EQ_INT(who.role, AUTH_ROLE_VIEWER);
    CHECK_EQ_INT(who.token_id, id);
    CHECK_EQ_INT(auth_token_verify(a, tok2, T0, &who, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(who.role, AUTH_ROLE_OPERATOR); /* the owner's role by default */

    /* Tampered, truncated and foreign tokens fail. */
    char bad[AUTH_TOKEN_TEXT_SIZE + 8];
    snprintf(bad, sizeof bad, "%s", tok);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(auth_token_verify(a, bad, T0, &who, err, sizeof err), AUTH_ERR_NOT_FOUND);
    snprintf(bad, sizeof bad, "%sA", tok);
    CHECK_EQ_INT(auth_token_verify(a, bad, T0, &who, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_token_verify(a, tok + 4, T0, &who, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_token_verify(a, "", T0, &who, err, sizeof err), AUTH_ERR_NOT_FOUND);

    /* Listing shows use, never the secret. */
    struct auth_token_info *list;
    size_t n;
    CHECK_EQ_INT(auth_token_list(a, &list, &n, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(list[0].id, id);
        CHECK_STR(list[0].name, "ci");
        CHECK_STR(list[0].user, "bob.op");
        CHECK_EQ_INT(list[0].last_used_ns, T0 + 5 * SEC);
        CHECK_EQ_INT(list[0].revoked_ns, 0);
    }
    free(list);

    /* Revocation: the very next verification fails. */
    CHECK_EQ_INT(auth_token_revoke(a, id, T0 + MIN, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_token_verify(a, tok, T0 + MIN, &who, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_token_revoke(a, id, T0 + MIN, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_token_revoke(a, 9999, T0 + MIN, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_token_verify(a, tok2, T0 + MIN, &who, err, sizeof err), AUTH_OK);

    /* A disabled owner's tokens stop working, and work again when enabled. */
    CHECK_EQ_INT(auth_user_set_disabled(a, "bob.op", true, T0, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_token_verify(a, tok2, T0 + MIN, &who, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_token_create(a, "bob.op", "x", 0, T0, tok, &id, err, sizeof err),
                 AUTH_ERR_DISABLED);
    CHECK_EQ_INT(auth_user_set_disabled(a, "bob.op", false, T0, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_token_verify(a, tok2, T0 + MIN, &who, err, sizeof err), AUTH_OK);
}

static void test_sessions(struct auth *a)
{
    char err[256], sid[AUTH_SECRET_TEXT_SIZE], csrf[AUTH_SECRET_TEXT_SIZE],
        got[AUTH_SECRET_TEXT_SIZE];
    struct auth_principal who;
    CHECK_EQ_INT(auth_session_create(a, "nobody", T0, sid, csrf, err, sizeof err),
                 AUTH_ERR_NOT_FOUND);

    /* Idle expiry: valid just before 30 min without activity, gone at 30. */
    CHECK_EQ_INT(auth_session_create(a, "alice", T0, sid, csrf, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(strlen(sid), 43);
    CHECK_EQ_INT(strlen(csrf), 43);
    CHECK(strcmp(sid, csrf) != 0);
    CHECK_EQ_INT(
        auth_session_verify(a, sid, T0 + AUTH_SESSION_IDLE_NS - 1, &who, got, err, sizeof err),
        AUTH_OK);
    CHECK_STR(who.user, "alice");
    CHECK_EQ_INT(who.role, AUTH_ROLE_ADMIN);
    CHECK_STR(got, csrf);
    CHECK_EQ_INT(auth_session_touch(a, sid, T0 + 20 * MIN, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_session_verify(a, sid, T0 + 49 * MIN, &who, NULL, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_session_verify(a, sid, T0 + 50 * MIN, &who, NULL, err, sizeof err),
                 AUTH_ERR_NOT_FOUND);
    /* ... and deleted: even an earlier clock cannot bring it back. */
    CHECK_EQ_INT(auth_session_verify(a, sid, T0 + MIN, &who, NULL, err, sizeof err),
                 AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_session_touch(a, sid, T0 + MIN, err, sizeof err), AUTH_ERR_NOT_FOUND);

    /* Absolute expiry: touched every 20 min, still over at 12 h. */
    CHECK_EQ_INT(auth_session_create(a, "alice", T0, sid, csrf, err, sizeof err), AUTH_OK);
    int64_t t = T0;
    while (t + 20 * MIN < T0 + AUTH_SESSION_MAX_NS) {
        t += 20 * MIN;
        if (auth_session_touch(a, sid, t, err, sizeof err) != AUTH_OK) break;
    }
    CHECK(t + 20 * MIN >= T0 + AUTH_SESSION_MAX_NS);
    CHECK_EQ_INT(
        auth_session_verify(a, sid, T0 + AUTH_SESSION_MAX_NS - 1, &who, NULL, err, sizeof err),
        AUTH_OK);
    CHECK_EQ_INT(auth_session_verify(a, sid, T0 + AUTH_SESSION_MAX_NS, &who, NULL, err, sizeof err),
                 AUTH_ERR_NOT_FOUND);

    /* Logout, and disabling a user, end sessions. */
    CHECK_EQ_INT(auth_session_create(a, "alice", T0, sid, csrf, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_session_destroy(a, sid, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_session_verify(a, sid, T0, &who, NULL, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_session_destroy(a, sid, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_session_create(a, "bob.op", T0, sid, csrf, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_user_set_disabled(a, "bob.op", true, T0, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_session_create(a, "bob.op", T0, sid, csrf, err, sizeof err),
                 AUTH_ERR_DISABLED);
    CHECK_EQ_INT(auth_user_set_disabled(a, "bob.op", false, T0, err, sizeof err), AUTH_OK);
    CHECK_EQ_INT(auth_session_verify(a, sid, T0, &who, NULL, err, sizeof err), AUTH_ERR_NOT_FOUND);
    CHECK_EQ_INT(auth_session_verify(a, "not a session id", T0, &who, NULL, err, sizeof err),
                 AUTH_ERR_NOT_FOUND);
}

struct verify_worker {
    struct auth *a;
    const char *token;
    int ok;
};

static void *verify_many(void *arg)
{
    struct verify_worker *w = arg;
    for (int i = 0; i < 200; i++) {
        struct auth_principal who;
        if (auth_token_verify(w->a, w->token, T0 + i, &who, NULL, 0) == AUTH_OK) w->ok++;
    }
    return NULL;
}

/* Several threads on one handle (the HTTP server's situation). */
static void test_threads(struct auth *a)
{
    char tok[AUTH_TOKEN_TEXT_SIZE];
    CHECK_EQ_INT(auth_token_create(a, "alice", "threads", 0, T0, tok, NULL, NULL, 0), AUTH_OK);
    pthread_t th[4];
    struct verify_worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct verify_worker){a, tok, 0};
        pthread_create(&th[i], NULL, verify_many, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(w[i].ok, 200);
    }
}

static void test_reopen(void)
{
    char err[256];
    enum auth_status st;
    struct auth *a = open_db(false);
    CHECK(a != NULL);
    if (!a) return;
    CHECK_EQ_INT(auth_login(a, "alice", good_pw, T0, NULL, err, sizeof err), AUTH_LOGIN_OK);
    CHECK_EQ_INT(auth_user_add(a, "alice", AUTH_ROLE_VIEWER, good_pw, T0, err, sizeof err),
                 AUTH_ERR_EXISTS);
    auth_close(a);

    /* A database written by a newer build is refused, not misread. */
    char path[128];
    snprintf(path, sizeof path, "%s/airlock.db", dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE schema_versions SET version=99 WHERE component='auth'", NULL,
                       NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    a = auth_open(dir, false, &st, err, sizeof err);
    CHECK(a == NULL);
    CHECK_EQ_INT(st, AUTH_ERR_INTERNAL);
    CHECK(strstr(err, "newer") != NULL);
    auth_close(a);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/airlock-auth-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roles();
    test_hash_format();
    test_policy();

    char err[256];
    enum auth_status st;
    CHECK(auth_open(dir, false, &st, err, sizeof err) == NULL);
    CHECK_EQ_INT(st, AUTH_ERR_NOT_FOUND);
    struct auth *a = open_db(true);
    CHECK(a != NULL);
    if (a) {
        test_users(a);
        test_login_work(a);
        test_lockout(a);
        test_disabled(a);
        test_tokens(a);
        test_sessions(a);
        test_threads(a);
        auth_close(a);
        test_reopen();
    }
    remove_db();
    rmdir(dir);
    return test_summary();
}
