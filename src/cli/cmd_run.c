/* `airlock run`: the gateway. With -c FILE it runs that configuration; with
 * none it starts the built-in demo plant (the simulator's Modbus TCP servers
 * on loopback) and a configuration that polls it. SIGINT/SIGTERM stop it
 * cleanly; SIGHUP reloads the configuration file (a bad file is refused and
 * the running configuration is kept). --mqtt URL [--sparkplug GROUP] adds
 * one publisher named "cli" (docs/north.md) to whatever configuration runs,
 * at start and after every reload. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "api/api.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "cli/commands.h"
#include "cli/version.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "sim/sim.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "Usage: airlock run [-c FILE] [--http ADDR:PORT] [--data DIR] [--mqtt URL [--sparkplug "
            "GROUP]] [options]\n\n"
            "Runs the gateway. Without -c, starts the built-in demo plant (simulated\n"
            "devices served over Modbus TCP on loopback) and polls it.\n"
            "Dashboard and API: http://127.0.0.1:8080 unless --http or the file says otherwise.\n\n"
            "Options:\n"
            "  -c, --config FILE     configuration to run (see `airlock check`, "
            "docs/configuration.md)\n"
            "      --http ADDR:PORT  HTTP listen address (overrides http.listen)\n"
            "      --data DIR        data directory (overrides gateway.data_dir)\n"
            "      --log-level L     debug, info, warn or error (overrides gateway.log_level)\n"
            "      --mqtt URL        also publish every tag to this MQTT broker as UNS JSON\n"
            "                        (mqtt://host[:port] or mqtts://host[:port] for TLS with\n"
            "                        the system CAs); a publisher named \"cli\", docs/north.md\n"
            "      --sparkplug GROUP with --mqtt: publish as a Sparkplug B edge node of\n"
            "                        group GROUP instead of UNS JSON\n"
            "      --seed N          demo plant: random seed (default 1)\n"
            "      --sim-port-base N demo plant: first Modbus TCP port (default 5020)\n"
            "  -h, --help            this help\n\n"
            "Signals: SIGINT/SIGTERM stop; SIGHUP reloads FILE (refused if invalid).\n");
}

struct run_args {
    enum gateway_mode mode; /* run, ot or it (cmd_oneway.c) */
    const char *cmd;        /* "run", "ot", "it" */
    const char *config_file;
    const char *http;
    const char *data_dir;
    const char *log_level;
    const char *mqtt_url;        /* --mqtt: NULL when not given */
    const char *sparkplug_group; /* --sparkplug: NULL when not given */
    unsigned long long seed;
    unsigned port_base;
};

/* --sparkplug needs --mqtt; the URL and the group are checked before
 * anything starts (a scratch configuration takes the publisher). Returns 2
 * after saying what is wrong, -1 when fine. */
static int check_north_args(const struct run_args *a)
{
    if (a->sparkplug_group && !a->mqtt_url) {
        fprintf(stderr, "airlock run: --sparkplug needs --mqtt URL (the broker to publish to)\n");
        return 2;
    }
    if (!a->mqtt_url) return -1;
    struct config scratch;
    char why[512];
    memset(&scratch, 0, sizeof scratch);
    bool ok = config_north_add_cli(&scratch, a->mqtt_url, a->sparkplug_group, why, sizeof why);
    config_free(&scratch);
    if (ok) return -1;
    fprintf(stderr, "airlock run: %s: %s\n",
            strstr(why, "Sparkplug group") ? "--sparkplug" : "--mqtt", why);
    return 2;
}

/* Applies what the command line overrides in a loaded configuration, at
 * start and after every reload: --data, and the --mqtt publisher. False with
 * why when it cannot (out of memory, a publisher of the file is named
 * "cli"); cfg is then still to be freed by the caller. */
static bool apply_command_line(const struct run_args *a, struct config *cfg, char *why,
                               size_t why_len)
{
    if (a->data_dir) {
        char *d = strdup(a->data_dir);
        if (!d) {
            snprintf(why, why_len, "out of memory");
            return false;
        }
        free(cfg->data_dir);
        cfg->data_dir = d;
    }
    if (a->mqtt_url && !config_north_add_cli(cfg, a->mqtt_url, a->sparkplug_group, why, why_len))
        return false;
    /* The file must fit the side it is run as (the link section). */
    struct config_error lerr;
    static const enum config_link_side side[] = {[GATEWAY_FULL] = CONFIG_LINK_NONE,
                                                 [GATEWAY_OT] = CONFIG_LINK_OT,
                                                 [GATEWAY_IT] = CONFIG_LINK_IT};
    if (!config_link_check(cfg, side[a->mode], &lerr)) {
        config_error_format(&lerr, why, why_len);
        return false;
    }
    return true;
}

/* One-way mode: -c is required; the demo plant's options are not taken,
 * nor (OT side) anything about HTTP or publishing. 2 after saying what is
 * wrong, -1 when fine. */
static int check_mode_args(const struct run_args *a)
{
    if (a->mode == GATEWAY_FULL) return -1;
    if (!a->config_file) return cli_usage_error(a->cmd, "%s", "-c FILE is required");
    if (a->seed != 1 || a->port_base != 5020)
        return cli_usage_error(a->cmd, "%s", "--seed and --sim-port-base are for the demo plant");
    if (a->mode == GATEWAY_OT && (a->http || a->mqtt_url || a->sparkplug_group))
        return cli_usage_error(a->cmd, "%s",
                               "--http, --mqtt and --sparkplug belong to the IT side (airlock "
                               "it): the OT side opens no listening socket and publishes nothing");
    return -1;
}

static int parse_args(int argc, char **argv, enum gateway_mode mode, struct run_args *a)
{
    enum { OPT_HTTP = 1000, OPT_DATA, OPT_LOG, OPT_SEED, OPT_PORT_BASE, OPT_MQTT, OPT_SPARKPLUG };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"http", required_argument, NULL, OPT_HTTP},
        {"data", required_argument, NULL, OPT_DATA},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"seed", required_argument, NULL, OPT_SEED},
        {"sim-port-base", required_argument, NULL, OPT_PORT_BASE},
        {"mqtt", required_argument, NULL, OPT_MQTT},
        {"sparkplug", required_argument, NULL, OPT_SPARKPLUG},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *a = (struct run_args){.mode = mode,
                           .cmd = mode == GATEWAY_OT   ? "ot"
                                  : mode == GATEWAY_IT ? "it"
                                                       : "run",
                           .seed = 1,
                           .port_base = 5020};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'c':
            a->config_file = optarg;
            break;
        case OPT_HTTP:
            a->http = optarg;
            break;
        case OPT_DATA:
            a->data_dir = optarg;
            break;
        case OPT_LOG:
            a->log_level = optarg;
            break;
        case OPT_MQTT:
            a->mqtt_url = optarg;
            break;
        case OPT_SPARKPLUG:
            a->sparkplug_group = optarg;
            break;
        case OPT_SEED:
            a->seed = strtoull(optarg, &end, 10);
            if (*end || !*optarg) {
                fprintf(stderr, "airlock run: --seed expects a non-negative integer, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_PORT_BASE:
            a->port_base = (unsigned)strtoul(optarg, &end, 10);
            if (*end || a->port_base < 1 || a->port_base > 65000) {
                fprintf(stderr, "airlock run: --sim-port-base expects 1..65000, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            if (mode == GATEWAY_FULL)
                run_usage(stdout);
            else
                cli_oneway_usage(stdout, mode == GATEWAY_OT);
            return 0;
        default:
            if (mode == GATEWAY_FULL)
                run_usage(stderr);
            else
                cli_oneway_usage(stderr, mode == GATEWAY_OT);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "airlock run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return check_north_args(a);
}

/* --- The gateway's own records in the audit trail (docs/audit.md) --- */

#define AUDIT_DIFF_MAX_BYTES (64u << 10)

/* The audit trail in data_dir, or NULL (said at level error: the gateway
 * runs on, but its start, stop and reloads go unrecorded). */
static struct audit *open_audit(const char *data_dir)
{
    char err[512];
    struct audit *au = NULL;
    if (!fs_make_dirs(data_dir))
        snprintf(err, sizeof err, "cannot create %s: %s", data_dir, strerror(errno));
    else
        au = audit_open(data_dir, err, sizeof err);
    if (!au)
        log_error("audit", "audit trail unavailable: start, stop and reloads are not recorded",
                  "error=\"%s\"", err);
    return au;
}

static void audit_system(struct audit *au, const char *action, const char *object,
                         const char *new_value, const char *outcome, const char *details);

/* The users database in data_dir (created when missing), or NULL (said at
 * level error: the API then answers 401 to everything but health). */
static struct auth *open_users(const char *data_dir)
{
    char err[512];
    struct auth *users = auth_open(data_dir, true, NULL, err, sizeof err);
    if (!users)
        log_error("auth", "users database unavailable: nobody can log in to the API",
                  "error=\"%s\"", err);
    return users;
}

/* With no user yet: the demo plant creates "admin" with a random password
 * shown once on stderr (only its scrypt hash is stored); a configured
 * gateway only says how to create the first user. Recorded in the trail. */
static void first_user(struct auth *users, struct audit *au, bool demo, const char *data_dir)
{
    struct auth_user_info *list = NULL;
    size_t n = 0;
    char err[512];
    if (!users || auth_user_list(users, &list, &n, err, sizeof err) != AUTH_OK) return;
    free(list);
    if (n > 0) {
        if (demo)
            fprintf(stderr,
                    "airlock: demo: log in as one of the %zu user(s) in %s (the admin's one-time "
                    "password was shown at the first start; to set a new one: airlock user "
                    "passwd admin --data %s)\n",
                    n, data_dir, data_dir);
        return;
    }
    if (!demo) {
        fprintf(stderr,
                "airlock: no users yet: every API route but health answers 401. Create the "
                "first one with\n  airlock user add NAME --role admin --data %s\n",
                data_dir);
        return;
    }
    uint8_t random[15];
    char password[32];
    if (RAND_bytes(random, sizeof random) != 1) return;
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    size_t k = 0;
    for (size_t i = 0; i < sizeof random; i++) /* 15 characters of 57: ~87 bits */
        password[k++] = alphabet[random[i] % (sizeof alphabet - 1)];
    password[k] = '\0';
    if (auth_user_add(users, "admin", AUTH_ROLE_ADMIN, password, clock_now_ns(), err, sizeof err) !=
        AUTH_OK) {
        log_error("auth", "cannot create the demo's admin user", "error=\"%s\"", err);
        return;
    }
    fprintf(stderr,
            "airlock: demo: log in as user 'admin' with the one-time password  %s\n"
            "         (shown only now; change it with: airlock user passwd admin --data %s)\n",
            password, data_dir);
    OPENSSL_cleanse(password, sizeof password);
    audit_system(au, "user_add", "admin", "admin", "ok", "demo start: one-time password");
}

/* Appends a record by actor; a failure is logged at level error. */
static void audit_as(struct audit *au, const char *actor, const char *action, const char *object,
                     const char *new_value, const char *outcome, const char *details)
{
    if (!au) return;
    struct audit_record r = {.actor = actor,
                             .action = action,
                             .object = object ? object : "",
                             .new_value = new_value ? new_value : "",
                             .outcome = outcome,
                             .details = details ? details : ""};
    char err[512];
    if (audit_append(au, &r, err, sizeof err) < 0)
        log_error("audit", "cannot append to the audit trail", "action=%s error=\"%s\"", action,
                  err);
}

/* Appends a record by actor "system". */
static void audit_system(struct audit *au, const char *action, const char *object,
                         const char *new_value, const char *outcome, const char *details)
{
    audit_as(au, "system", action, object, new_value, outcome, details);
}

/* The whole file as a string (for the reload diff); NULL if unreadable. */
static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

static bool load_config(const struct run_args *a, const char *demo_yaml, struct config *cfg)
{
    struct config_error err;
    bool ok = demo_yaml
                  ? config_load_string(demo_yaml, strlen(demo_yaml), "<demo plant>", cfg, &err)
                  : config_load(a->config_file, cfg, &err);
    if (!ok) {
        char msg[1024];
        config_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return false;
    }
    char why[512];
    if (!apply_command_line(a, cfg, why, sizeof why)) {
        fprintf(stderr, "airlock %s: %s\n", a->cmd, why);
        config_free(cfg);
        return false;
    }
    const char *level_name = a->log_level ? a->log_level : cfg->log_level;
    enum log_level level;
    if (!log_level_from_name(level_name, &level)) {
        fprintf(stderr, "airlock run: unknown log level '%s' (debug, info, warn, error)\n",
                level_name);
        config_free(cfg);
        return false;
    }
    log_set_level(level);
    return true;
}

/* What a reload needs from the running gateway. */
struct reload_ctx {
    struct run_args *a;
    struct gateway *g;
    struct audit *au;
    const char *config_name;
    char **config_text; /* the file as running, for the diff */
};

/* Reloads the configuration file (SIGHUP, or POST /api/v1/reload by actor):
 * an invalid file is refused and the running configuration kept; every
 * outcome is in the audit trail as config_change by actor (with the diff
 * when applied). message receives the error, if any. Main thread only. */
static enum api_reload_outcome reload_config(struct reload_ctx *rc, const char *actor,
                                             char *message, size_t message_len)
{
    struct run_args *a = rc->a;
    message[0] = '\0';
    if (!a->config_file) {
        snprintf(message, message_len, "the demo plant has no configuration file to reload");
        log_info("gateway", "reload ignored: the demo plant has no configuration file", NULL);
        return API_RELOAD_NO_FILE;
    }
    struct config next;
    struct config_error cerr;
    char err[512];
    char *next_text = read_text_file(a->config_file);
    if (!config_load(a->config_file, &next, &cerr)) {
        config_error_format(&cerr, message, message_len);
        log_error("gateway",
                  "reload refused: the new configuration is invalid; the running one is kept",
                  "error=\"%s\" by=\"%s\"", message, actor);
        audit_as(rc->au, actor, "config_change", rc->config_name, NULL, "refused", message);
        free(next_text);
        return API_RELOAD_REFUSED;
    }
    if (!apply_command_line(a, &next, err, sizeof err)) {
        snprintf(message, message_len, "%s", err);
        log_error("gateway",
                  "reload refused: the command line options cannot be applied; the running "
                  "configuration is kept",
                  "error=\"%s\" by=\"%s\"", err, actor);
        audit_as(rc->au, actor, "config_change", rc->config_name, NULL, "refused", err);
        config_free(&next);
        free(next_text);
        return API_RELOAD_REFUSED;
    }
    enum api_reload_outcome outcome;
    if (gateway_reload(rc->g, &next, err, sizeof err)) {
        log_info("gateway", "configuration reloaded", "config=\"%s\" by=\"%s\"", a->config_file,
                 actor);
        /* Only an applied change has a diff worth recording. */
        char *diff = audit_text_diff(*rc->config_text, next_text, AUDIT_DIFF_MAX_BYTES);
        audit_as(rc->au, actor, "config_change", rc->config_name, NULL, "ok", diff);
        free(diff);
        free(*rc->config_text);
        *rc->config_text = next_text;
        next_text = NULL;
        outcome = API_RELOAD_OK;
    } else {
        snprintf(message, message_len, "%s", err);
        log_error("gateway", "reload failed", "error=\"%s\" by=\"%s\"", err, actor);
        audit_as(rc->au, actor, "config_change", rc->config_name, NULL, "failed", err);
        outcome = API_RELOAD_FAILED;
    }
    free(next_text);
    return outcome;
}

/* A reload asked for over the API: an HTTP thread posts it here and wakes
 * the main thread with SIGUSR1; the main thread, which alone reloads (as for
 * SIGHUP), answers. One at a time. */
#define API_RELOAD_WAIT_S 120
static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    bool pending, finished;
    char actor[160];
    enum api_reload_outcome outcome;
    char message[1024];
} api_reload = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static int request_reload(void *arg, const char *actor, char *message, size_t message_len)
{
    (void)arg;
    pthread_mutex_lock(&api_reload.lock);
    if (api_reload.pending) {
        pthread_mutex_unlock(&api_reload.lock);
        snprintf(message, message_len, "another reload is running; try again");
        return API_RELOAD_UNAVAILABLE;
    }
    api_reload.pending = true;
    api_reload.finished = false;
    snprintf(api_reload.actor, sizeof api_reload.actor, "%s", actor);
    kill(getpid(), SIGUSR1);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += API_RELOAD_WAIT_S;
    while (!api_reload.finished)
        if (pthread_cond_timedwait(&api_reload.done, &api_reload.lock, &until) != 0) break;
    enum api_reload_outcome outcome = API_RELOAD_UNAVAILABLE;
    if (api_reload.finished) {
        outcome = api_reload.outcome;
        snprintf(message, message_len, "%s", api_reload.message);
        api_reload.pending = false;
    } else {
        snprintf(message, message_len, "no answer from the gateway within %d s", API_RELOAD_WAIT_S);
        /* pending stays set: the main thread clears it when it gets there */
    }
    pthread_mutex_unlock(&api_reload.lock);
    return (int)outcome;
}

/* The main thread's side: runs a posted reload, if any. */
static void serve_api_reload(struct reload_ctx *rc)
{
    char actor[160];
    pthread_mutex_lock(&api_reload.lock);
    bool run = api_reload.pending && !api_reload.finished;
    snprintf(actor, sizeof actor, "%s", api_reload.actor);
    pthread_mutex_unlock(&api_reload.lock);
    if (!run) return;
    char message[1024];
    enum api_reload_outcome outcome = reload_config(rc, actor, message, sizeof message);
    pthread_mutex_lock(&api_reload.lock);
    api_reload.outcome = outcome;
    snprintf(api_reload.message, sizeof api_reload.message, "%s", message);
    api_reload.finished = true;
    pthread_cond_broadcast(&api_reload.done);
    pthread_mutex_unlock(&api_reload.lock);
}

int cmd_run(int argc, char **argv)
{
    return cmd_run_mode(argc, argv, GATEWAY_FULL);
}

int cmd_run_mode(int argc, char **argv, enum gateway_mode mode)
{
    struct run_args a;
    int rc = parse_args(argc, argv, mode, &a);
    if (rc < 0) rc = check_mode_args(&a);
    if (rc >= 0) return rc;

    /* Signals are handled by this thread alone (sigwait); every thread
     * started from here on inherits the blocked mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGUSR1); /* a reload asked for over the API */
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sim_plant *plant = NULL;
    char *demo_yaml = NULL;
    char err[512];
    if (!a.config_file) {
        struct sim_options so;
        sim_options_init(&so);
        so.seed = a.seed;
        so.port_base = (uint16_t)a.port_base;
        plant = sim_start(&so, err, sizeof err);
        if (!plant) {
            fprintf(stderr, "airlock run: cannot start the demo plant: %s\n", err);
            return 1;
        }
        demo_yaml = sim_config_yaml(&so);
        if (!demo_yaml) {
            fprintf(stderr, "airlock run: out of memory\n");
            sim_stop(plant);
            return 1;
        }
    }

    struct config cfg;
    if (!load_config(&a, demo_yaml, &cfg)) {
        free(demo_yaml);
        sim_stop(plant);
        return 2;
    }
    size_t devices = cfg.device_count, tags = config_tag_count(&cfg);
    /* gateway_start takes cfg; the audit trail stays in this directory for
     * the life of the process (a reload does not move it). */
    char *audit_dir = strdup(cfg.data_dir ? cfg.data_dir : "./data");
    struct audit *au = audit_dir ? open_audit(audit_dir) : NULL;
    /* The OT side has no API, hence no users. */
    struct auth *users = audit_dir && a.mode != GATEWAY_OT ? open_users(audit_dir) : NULL;
    char link_where[300];
    snprintf(link_where, sizeof link_where, "%s",
             cfg.link.destination ? cfg.link.destination
             : cfg.link.listen    ? cfg.link.listen
                                  : "");
    first_user(users, au, !a.config_file, audit_dir);
    struct gateway_options gopt = {.mode = a.mode,
                                   .http_listen = a.http,
                                   .audit = au,
                                   .auth = users,
                                   .reload = a.config_file ? request_reload : NULL};
    struct gateway *g = gateway_start(&cfg, &gopt, err, sizeof err);
    if (!g) {
        fprintf(stderr, "airlock %s: %s\n", a.cmd, err);
        audit_close(au);
        auth_close(users);
        free(audit_dir);
        free(demo_yaml);
        sim_stop(plant);
        return 1;
    }
    /* Tags discovered at start (OPC UA browse) are in the running table. */
    tags = gateway_lvt(g)->tags.count;
    const char *listen = gateway_http_listen(g);
    if (a.mode == GATEWAY_OT) {
        log_info("gateway", "started: OT side of the one-way link",
                 "version=%s config=\"%s\" devices=%zu tags=%zu link_destination=%s",
                 AIRLOCK_VERSION, a.config_file, devices, tags, link_where);
        fprintf(stderr,
                "airlock ot: sending to %s over the one-way link; nothing listens here "
                "(Ctrl-C to stop)\n",
                link_where);
    } else {
        const char *scheme = gateway_http_tls(g) ? "https" : "http";
        log_info("gateway", "started",
                 "version=%s config=\"%s\" devices=%zu tags=%zu dashboard=%s://%s/%s%s",
                 AIRLOCK_VERSION, a.config_file ? a.config_file : "<demo plant>", devices, tags,
                 scheme, listen, a.mode == GATEWAY_IT ? " link_listen=" : "",
                 a.mode == GATEWAY_IT ? link_where : "");
        fprintf(stderr, "airlock: dashboard and API at %s://%s/  (Ctrl-C to stop)\n", scheme,
                listen);
    }
    const char *config_name = a.config_file ? a.config_file : "<demo plant>";
    char *config_text = a.config_file ? read_text_file(a.config_file) : NULL;
    {
        char details[384];
        if (a.mode == GATEWAY_OT)
            snprintf(details, sizeof details, "devices=%zu tags=%zu link=%s", devices, tags,
                     link_where);
        else
            snprintf(details, sizeof details, "devices=%zu tags=%zu http=%s", devices, tags,
                     listen);
        audit_system(au, "start", config_name, AIRLOCK_VERSION, "ok", details);
    }

    struct reload_ctx reload = {
        .a = &a, .g = g, .au = au, .config_name = config_name, .config_text = &config_text};
    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
            char message[1024];
            reload_config(&reload, "system", message, sizeof message);
            continue;
        }
        if (sig == SIGUSR1) {
            serve_api_reload(&reload);
            continue;
        }
        log_info("gateway", "stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
        audit_system(au, "stop", config_name, NULL, "ok",
                     sig == SIGINT ? "signal=SIGINT" : "signal=SIGTERM");
        break;
    }
    gateway_stop(g);
    audit_close(au);
    auth_close(users);
    free(audit_dir);
    free(config_text);
    sim_stop(plant);
    free(demo_yaml);
    log_info("gateway", "stopped", NULL);
    return 0;
}
