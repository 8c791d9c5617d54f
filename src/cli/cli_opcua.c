/* `airlock opcua`: tools for people setting up OPC UA tags, on the same
 * client as the driver (drivers/opcua/ua_client.h):
 *   endpoints URL                  the server's endpoints and their security
 *   browse URL [--node] [--depth]  the address space as a tree with NodeIds,
 *                                  node classes, data types and units
 *   read URL NODEID...             values with type, status and timestamp
 * Exit status: 0 success, 1 failure (the step and status on stderr),
 * 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "config/config.h"
#include "core/clock.h"
#include "drivers/opcua/ua_client.h"

#define OPCUA_MAX_DEPTH 32
#define OPCUA_DEFAULT_DEPTH 3
#define OPCUA_MAX_TREE_NODES 200000

static void opcua_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: airlock opcua endpoints URL [OPTIONS]\n"
        "       airlock opcua browse URL [--node NODEID] [--depth N] [OPTIONS]\n"
        "       airlock opcua read URL NODEID... [--json] [OPTIONS]\n"
        "       airlock opcua subscribe URL NODEID... [--interval-ms N] [--duration-ms N]\n"
        "                               [--count N] [--deadband-absolute X | --deadband-percent "
        "X]\n"
        "                               [--json] [OPTIONS]\n\n"
        "Talks to an OPC UA server, for setting up OPC UA tags:\n"
        "  endpoints  lists the server's endpoints: security policy and mode, user logins\n"
        "             accepted, server certificate\n"
        "  browse     prints the address space under a node (default: Objects, i=85) as a\n"
        "             tree: browse name, NodeId, node class, and for variables the data type\n"
        "             and engineering unit\n"
        "  read       reads the Value of each node: value, type, status, source timestamp\n"
        "  subscribe  watches the nodes through a subscription and prints every data change\n"
        "             (until --duration-ms or --count is reached, or Ctrl-C)\n\n"
        "URL: opc.tcp://HOST[:PORT][/PATH] (port 4840 by default).\n"
        "NodeIds: i=85, ns=2;s=Pump.Speed, ns=1;g=<guid>, ns=1;b=<base64>.\n\n"
        "Options:\n"
        "      --security S     none (default), sign or signandencrypt (policy\n"
        "                       Basic256Sha256 for sign and signandencrypt)\n"
        "      --user NAME      log in as NAME (default: anonymous); the password comes from\n"
        "      --password-stdin the first line of standard input, or the environment\n"
        "                       variable AIRLOCK_OPCUA_PASSWORD\n"
        "      --pki DIR        airlock's certificate and the trusted servers (default:\n"
        "                       <data dir>/pki; made on first use)\n"
        "      --data DIR       data directory (default: gateway.data_dir of -c FILE, or ./data)\n"
        "  -c, --config FILE    the gateway's configuration (for its data_dir)\n"
        "      --timeout-ms N   connect and request timeout (default 10000)\n"
        "      --node NODEID    browse: the node to start at (default i=85, Objects)\n"
        "      --depth N        browse: levels below the start node (default %d, max %d)\n"
        "      --json           read, subscribe: one JSON object per value instead of text\n"
        "      --interval-ms N  subscribe: publishing and sampling interval (default 1000)\n"
        "      --duration-ms N  subscribe: stop after N ms\n"
        "      --count N        subscribe: stop after N data changes\n"
        "      --deadband-absolute X, --deadband-percent X\n"
        "                       subscribe: report only changes larger than X (percent: of\n"
        "                       the EURange; analog items only)\n"
        "      --channel-lifetime-ms N, --session-timeout-ms N\n"
        "                       requested lifetime of the channel's security token (default\n"
        "                       1 h) and session timeout (default 60 s)\n"
        "  -v, --verbose        print what was negotiated (security, limits) on stderr\n"
        "  -h, --help           this help\n\n"
        "A server whose certificate is not trusted yet is refused with the command that\n"
        "trusts it (move the file from DIR/rejected/ to DIR/trusted/). The server must also\n"
        "trust airlock's certificate, DIR/own/cert.der, for sign and signandencrypt.\n"
        "Exit status: 0 success, 1 failure, 2 usage error.\n",
        OPCUA_DEFAULT_DEPTH, OPCUA_MAX_DEPTH);
}

struct opcua_args {
    const char *action, *url, *security, *user, *pki, *data_dir, *config_file, *node;
    bool password_stdin, json, verbose;
    long timeout_ms, depth, interval_ms, duration_ms, count, channel_lifetime_ms,
        session_timeout_ms;
    double deadband;
    int deadband_type;
    char **nodes;
    int nodes_count;
};

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

/* Returns -1 to go on, else the exit status. */
static int parse_opcua_args(int argc, char **argv, struct opcua_args *a)
{
    enum {
        OPT_SECURITY = 1000,
        OPT_USER,
        OPT_PASSWORD_STDIN,
        OPT_PKI,
        OPT_DATA,
        OPT_TIMEOUT,
        OPT_NODE,
        OPT_DEPTH,
        OPT_JSON,
        OPT_INTERVAL,
        OPT_DURATION,
        OPT_COUNT,
        OPT_DEADBAND_ABS,
        OPT_DEADBAND_PCT,
        OPT_CHANNEL_LIFETIME,
        OPT_SESSION_TIMEOUT,
        OPT_VERBOSE
    };
    static const struct option options[] = {
        {"security", required_argument, NULL, OPT_SECURITY},
        {"user", required_argument, NULL, OPT_USER},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        {"pki", required_argument, NULL, OPT_PKI},
        {"data", required_argument, NULL, OPT_DATA},
        {"config", required_argument, NULL, 'c'},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"node", required_argument, NULL, OPT_NODE},
        {"depth", required_argument, NULL, OPT_DEPTH},
        {"json", no_argument, NULL, OPT_JSON},
        {"interval-ms", required_argument, NULL, OPT_INTERVAL},
        {"duration-ms", required_argument, NULL, OPT_DURATION},
        {"count", required_argument, NULL, OPT_COUNT},
        {"deadband-absolute", required_argument, NULL, OPT_DEADBAND_ABS},
        {"deadband-percent", required_argument, NULL, OPT_DEADBAND_PCT},
        {"channel-lifetime-ms", required_argument, NULL, OPT_CHANNEL_LIFETIME},
        {"session-timeout-ms", required_argument, NULL, OPT_SESSION_TIMEOUT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    memset(a, 0, sizeof *a);
    a->timeout_ms = 10000;
    a->depth = OPCUA_DEFAULT_DEPTH;
    a->interval_ms = 1000;
    int opt;
    optind = 1;
    opterr = 1;
    /* '+' is not used: options may follow the arguments. */
    while ((opt = getopt_long(argc, argv, "c:hv", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SECURITY:
            a->security = optarg;
            break;
        case OPT_USER:
            a->user = optarg;
            break;
        case OPT_PASSWORD_STDIN:
            a->password_stdin = true;
            break;
        case OPT_PKI:
            a->pki = optarg;
            break;
        case OPT_DATA:
            a->data_dir = optarg;
            break;
        case 'c':
            a->config_file = optarg;
            break;
        case OPT_TIMEOUT:
            if (!parse_long(optarg, 1, 3600000, &a->timeout_ms))
                return cli_usage_error("opcua", "--timeout-ms '%s' is not 1..3600000", optarg);
            break;
        case OPT_NODE:
            a->node = optarg;
            break;
        case OPT_DEPTH:
            if (!parse_long(optarg, 0, OPCUA_MAX_DEPTH, &a->depth))
                return cli_usage_error("opcua", "--depth '%s' is not 0..32", optarg);
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_INTERVAL:
            if (!parse_long(optarg, 1, 3600000, &a->interval_ms))
                return cli_usage_error("opcua", "--interval-ms '%s' is not 1..3600000", optarg);
            break;
        case OPT_DURATION:
            if (!parse_long(optarg, 1, 86400000L * 365, &a->duration_ms))
                return cli_usage_error("opcua", "--duration-ms '%s' is not a positive number",
                                       optarg);
            break;
        case OPT_CHANNEL_LIFETIME:
            if (!parse_long(optarg, 1000, 86400000L, &a->channel_lifetime_ms))
                return cli_usage_error("opcua", "--channel-lifetime-ms '%s' is not 1000..86400000",
                                       optarg);
            break;
        case OPT_SESSION_TIMEOUT:
            if (!parse_long(optarg, 1000, 86400000L, &a->session_timeout_ms))
                return cli_usage_error("opcua", "--session-timeout-ms '%s' is not 1000..86400000",
                                       optarg);
            break;
        case 'v':
            a->verbose = true;
            break;
        case OPT_COUNT:
            if (!parse_long(optarg, 1, 1000000000L, &a->count))
                return cli_usage_error("opcua", "--count '%s' is not a positive number", optarg);
            break;
        case OPT_DEADBAND_ABS:
        case OPT_DEADBAND_PCT: {
            char *end;
            errno = 0;
            a->deadband = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(a->deadband >= 0) ||
                (opt == OPT_DEADBAND_PCT && a->deadband > 100))
                return cli_usage_error(
                    "opcua", "deadband '%s' is not a number >= 0 (percent: <= 100)", optarg);
            if (a->deadband_type)
                return cli_usage_error("opcua", "%s", "give one deadband (absolute or percent)");
            a->deadband_type = opt == OPT_DEADBAND_ABS ? UA_DEADBAND_ABSOLUTE : UA_DEADBAND_PERCENT;
            break;
        }
        case 'h':
            opcua_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(see airlock opcua --help)\n");
            return 2;
        }
    }
    if (optind >= argc)
        return cli_usage_error("opcua", "%s", "a command is required: endpoints, browse or read");
    a->action = argv[optind++];
    if (strcmp(a->action, "endpoints") != 0 && strcmp(a->action, "browse") != 0 &&
        strcmp(a->action, "read") != 0 && strcmp(a->action, "subscribe") != 0)
        return cli_usage_error(
            "opcua", "unknown command '%s' (endpoints, browse, read or subscribe)", a->action);
    if (optind >= argc)
        return cli_usage_error("opcua", "%s", "the server's URL (opc.tcp://...) is required");
    a->url = argv[optind++];
    a->nodes = argv + optind;
    a->nodes_count = argc - optind;
    bool is_sub = strcmp(a->action, "subscribe") == 0;
    bool takes_nodes = is_sub || strcmp(a->action, "read") == 0;
    if (takes_nodes && a->nodes_count == 0)
        return cli_usage_error("opcua", "%s: give at least one NodeId", a->action);
    if (!takes_nodes && a->nodes_count > 0)
        return cli_usage_error("opcua", "unexpected argument '%s'", a->nodes[0]);
    if (a->node && strcmp(a->action, "browse") != 0)
        return cli_usage_error("opcua", "%s", "--node is for browse");
    if (a->json && !takes_nodes)
        return cli_usage_error("opcua", "%s", "--json is for read and subscribe");
    if (!is_sub && (a->duration_ms || a->count || a->deadband_type))
        return cli_usage_error("opcua", "%s",
                               "--duration-ms, --count and deadbands are for subscribe");
    if (a->password_stdin && !a->user)
        return cli_usage_error("opcua", "%s", "--password-stdin needs --user");
    return -1;
}

/* ------------------------------------------------------------ options */

static int read_password(const struct opcua_args *a, char *buf, size_t cap)
{
    if (a->password_stdin) {
        if (!fgets(buf, (int)cap, stdin)) {
            fprintf(stderr, "airlock opcua: --password-stdin: nothing to read on standard input\n");
            return 2;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        return -1;
    }
    const char *env = getenv("AIRLOCK_OPCUA_PASSWORD");
    if (!env) {
        fprintf(stderr, "airlock opcua: --user needs a password: --password-stdin or "
                        "AIRLOCK_OPCUA_PASSWORD\n");
        return 2;
    }
    if (strlen(env) >= cap) {
        fprintf(stderr, "airlock opcua: AIRLOCK_OPCUA_PASSWORD is too long\n");
        return 2;
    }
    snprintf(buf, cap, "%s", env);
    return -1;
}

/* The PKI directory: --pki, else <data dir>/pki. */
static int pki_dir(const struct opcua_args *a, char *buf, size_t cap)
{
    if (a->pki) {
        snprintf(buf, cap, "%s", a->pki);
        return -1;
    }
    if (a->data_dir) {
        snprintf(buf, cap, "%s/pki", a->data_dir);
        return -1;
    }
    if (!a->config_file) {
        snprintf(buf, cap, "./data/pki");
        return -1;
    }
    struct config cfg;
    struct config_error err;
    if (!config_load(a->config_file, &cfg, &err)) {
        char msg[1024];
        config_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return 2;
    }
    snprintf(buf, cap, "%s/pki", cfg.data_dir ? cfg.data_dir : "./data");
    config_free(&cfg);
    return -1;
}

/* Prints a client error: the step, the text and the status (when the text
 * does not already name it). */
static int fail(const char *action, const struct ua_client_error *err)
{
    const char *name = ua_status_name(err->status);
    if (strstr(err->text, name))
        fprintf(stderr, "airlock opcua %s: %s\n", action, err->text);
    else
        fprintf(stderr, "airlock opcua %s: %s [%s]\n", action, err->text, name);
    return 1;
}

/* ------------------------------------------------------------ formatting */

/* DateTime as UTC ISO 8601 with milliseconds; "-" for MinValue. */
static void format_datetime(int64_t ticks, char *buf, size_t cap)
{
    if (ticks <= 0) {
        snprintf(buf, cap, "-");
        return;
    }
    int64_t secs = ticks / 10000000 - 11644473600LL;
    int ms = (int)((ticks % 10000000) / 10000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "%" PRId64 " ticks", ticks);
        return;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static void put_json_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void put_string(FILE *out, struct ua_string s, bool json)
{
    if (s.length < 0) {
        fputs("null", out);
        return;
    }
    put_json_string(out, s.data, (size_t)s.length); /* text mode quotes the same way */
    (void)json;
}

static void put_double(FILE *out, double d, int digits, bool json)
{
    if (isnan(d) || isinf(d)) {
        const char *t = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
        fprintf(out, json ? "\"%s\"" : "%s", t);
        return;
    }
    fprintf(out, "%.*g", digits, d);
}

static void put_nodeid(FILE *out, const struct ua_nodeid *n, bool json)
{
    char buf[1024];
    ua_nodeid_format(n, buf, sizeof buf);
    if (json)
        put_json_string(out, buf, strlen(buf));
    else
        fputs(buf, out);
}

static void put_scalar(FILE *out, unsigned type, const void *p, bool json)
{
    char buf[128];
    switch (type) {
    case UA_TYPE_BOOLEAN:
        fputs(*(const bool *)p ? "true" : "false", out);
        break;
    case UA_TYPE_SBYTE:
        fprintf(out, "%d", *(const int8_t *)p);
        break;
    case UA_TYPE_BYTE:
        fprintf(out, "%u", *(const uint8_t *)p);
        break;
    case UA_TYPE_INT16:
        fprintf(out, "%d", *(const int16_t *)p);
        break;
    case UA_TYPE_UINT16:
        fprintf(out, "%u", *(const uint16_t *)p);
        break;
    case UA_TYPE_INT32:
        fprintf(out, "%" PRId32, *(const int32_t *)p);
        break;
    case UA_TYPE_UINT32:
        fprintf(out, "%" PRIu32, *(const uint32_t *)p);
        break;
    case UA_TYPE_INT64: /* JSON: a string, since JSON numbers lose 64-bit precision */
        fprintf(out, json ? "\"%" PRId64 "\"" : "%" PRId64, *(const int64_t *)p);
        break;
    case UA_TYPE_UINT64:
        fprintf(out, json ? "\"%" PRIu64 "\"" : "%" PRIu64, *(const uint64_t *)p);
        break;
    case UA_TYPE_FLOAT:
        put_double(out, *(const float *)p, 9, json);
        break;
    case UA_TYPE_DOUBLE:
        put_double(out, *(const double *)p, 17, json);
        break;
    case UA_TYPE_STRING:
    case UA_TYPE_XMLELEMENT:
        put_string(out, *(const struct ua_string *)p, json);
        break;
    case UA_TYPE_DATETIME:
        format_datetime(*(const int64_t *)p, buf, sizeof buf);
        fprintf(out, json ? "\"%s\"" : "%s", buf);
        break;
    case UA_TYPE_GUID: {
        char g[37];
        ua_guid_format((const struct ua_guid *)p, g);
        fprintf(out, json ? "\"%s\"" : "%s", g);
        break;
    }
    case UA_TYPE_BYTESTRING: {
        const struct ua_string *s = p;
        if (s->length < 0) {
            fputs("null", out);
            break;
        }
        fputs(json ? "\"0x" : "0x", out);
        for (int32_t i = 0; i < s->length; i++)
            fprintf(out, "%02X", (unsigned char)s->data[i]);
        if (json) fputc('"', out);
        break;
    }
    case UA_TYPE_NODEID:
        put_nodeid(out, p, json);
        break;
    case UA_TYPE_EXPANDEDNODEID: {
        char e[1024];
        ua_expanded_nodeid_format(p, e, sizeof e);
        if (json)
            put_json_string(out, e, strlen(e));
        else
            fputs(e, out);
        break;
    }
    case UA_TYPE_STATUSCODE:
        ua_status_format(*(const uint32_t *)p, buf, sizeof buf);
        if (json)
            put_json_string(out, buf, strlen(buf));
        else
            fputs(buf, out);
        break;
    case UA_TYPE_QUALIFIEDNAME: {
        const struct ua_qualified_name *q = p;
        if (json) {
            fprintf(out, "{\"ns\":%u,\"name\":", (unsigned)q->ns);
            put_string(out, q->name, json);
            fputc('}', out);
        } else {
            fprintf(out, "%u:%.*s", (unsigned)q->ns, q->name.length > 0 ? (int)q->name.length : 0,
                    q->name.length > 0 ? q->name.data : "");
        }
        break;
    }
    case UA_TYPE_LOCALIZEDTEXT: {
        const struct ua_localized_text *t = p;
        if (json) {
            fputs("{\"locale\":", out);
            put_string(out, t->locale, json);
            fputs(",\"text\":", out);
            put_string(out, t->text, json);
            fputc('}', out);
        } else {
            if (t->locale.length > 0) fprintf(out, "%.*s:", (int)t->locale.length, t->locale.data);
            put_string(out, t->text, json);
        }
        break;
    }
    case UA_TYPE_EXTENSIONOBJECT: {
        const struct ua_extension_object *e = p;
        char id[256];
        ua_nodeid_format(&e->type_id, id, sizeof id);
        char text[400];
        snprintf(text, sizeof text, "ExtensionObject(%s, %d bytes)", id,
                 e->body.length > 0 ? (int)e->body.length : 0);
        if (json)
            put_json_string(out, text, strlen(text));
        else
            fputs(text, out);
        break;
    }
    default:
        fprintf(out, json ? "\"(%s)\"" : "(%s)", ua_type_name(type));
        break;
    }
}

static void put_variant(FILE *out, const struct ua_variant *v, bool json)
{
    if (v->type == UA_TYPE_NULL) {
        fputs("null", out);
        return;
    }
    if (!v->is_array) {
        put_scalar(out, v->type, ua_variant_data(v), json);
        return;
    }
    if (v->array_length < 0) {
        fputs("null", out);
        return;
    }
    size_t size = ua_type_size(v->type);
    const uint8_t *p = v->as.array;
    fputc('[', out);
    for (int32_t i = 0; i < v->array_length; i++) {
        if (i) fputs(json ? "," : ", ", out);
        if (v->type == UA_TYPE_VARIANT)
            put_variant(out, (const struct ua_variant *)(const void *)(p + (size_t)i * size), json);
        else
            put_scalar(out, v->type, p + (size_t)i * size, json);
    }
    fputc(']', out);
}

static const char *variant_type_text(const struct ua_variant *v, char *buf, size_t cap)
{
    if (v->type == UA_TYPE_NULL) return "Null";
    if (!v->is_array) return ua_type_name(v->type);
    snprintf(buf, cap, "%s[%d]", ua_type_name(v->type),
             (int)(v->array_length < 0 ? 0 : v->array_length));
    return buf;
}

/* ---------------------------------------------------------------- endpoints */

static const char *token_type_name(int32_t t)
{
    switch (t) {
    case UA_USER_TOKEN_ANONYMOUS:
        return "Anonymous";
    case UA_USER_TOKEN_USER_NAME:
        return "UserName";
    case UA_USER_TOKEN_CERTIFICATE:
        return "Certificate";
    case UA_USER_TOKEN_ISSUED:
        return "IssuedToken";
    default:
        return "Unknown";
    }
}

static const char *policy_name(struct ua_string uri)
{
    const struct ua_crypto_policy *p =
        uri.length > 0 ? ua_crypto_policy_from_uri(uri.data, (size_t)uri.length) : NULL;
    if (p) return p->name;
    return NULL;
}

static void print_policy(struct ua_string uri)
{
    const char *name = policy_name(uri);
    if (name) {
        fputs(name, stdout);
        return;
    }
    const char *hash = uri.length > 0 ? memchr(uri.data, '#', (size_t)uri.length) : NULL;
    if (hash)
        printf("%.*s (not supported by airlock)", (int)(uri.data + uri.length - hash - 1),
               hash + 1);
    else
        printf("%.*s", uri.length > 0 ? (int)uri.length : 0, uri.length > 0 ? uri.data : "");
}

static int run_endpoints(const struct opcua_args *a, const struct ua_client_options *o)
{
    struct ua_client_endpoints eps;
    struct ua_client_error err;
    if (!ua_client_get_endpoints(o, &eps, &err)) return fail("endpoints", &err);
    for (size_t i = 0; i < eps.count; i++) {
        const struct ua_endpoint_description *e = &eps.endpoints[i];
        printf("Endpoint %zu: %.*s\n", i + 1,
               e->endpoint_url.length > 0 ? (int)e->endpoint_url.length : 0,
               e->endpoint_url.length > 0 ? e->endpoint_url.data : "");
        printf("  security: ");
        print_policy(e->security_policy_uri);
        printf(" / %s (security level %u)\n",
               ua_channel_mode_name((enum ua_channel_mode)e->security_mode),
               (unsigned)e->security_level);
        const char *opt = NULL;
        const char *pn = policy_name(e->security_policy_uri);
        if (pn && strcmp(pn, "None") == 0 && e->security_mode == UA_SECURITY_MODE_NONE)
            opt = "none";
        if (pn && strcmp(pn, "Basic256Sha256") == 0 && e->security_mode == UA_SECURITY_MODE_SIGN)
            opt = "sign";
        if (pn && strcmp(pn, "Basic256Sha256") == 0 &&
            e->security_mode == UA_SECURITY_MODE_SIGN_AND_ENCRYPT)
            opt = "signandencrypt";
        if (opt) printf("  airlock option: --security %s\n", opt);
        printf("  server: %.*s",
               e->server.application_uri.length > 0 ? (int)e->server.application_uri.length : 0,
               e->server.application_uri.length > 0 ? e->server.application_uri.data : "");
        if (e->server.application_name.text.length > 0)
            printf(" (%.*s)", (int)e->server.application_name.text.length,
                   e->server.application_name.text.data);
        printf("\n  user logins:");
        for (size_t k = 0; k < e->user_token_policies_count; k++) {
            const struct ua_user_token_policy *t = &e->user_token_policies[k];
            printf("%s %s", k ? "," : "", token_type_name(t->token_type));
            if (t->token_type == UA_USER_TOKEN_USER_NAME) {
                struct ua_string u = t->security_policy_uri.length > 0 ? t->security_policy_uri
                                                                       : e->security_policy_uri;
                printf(" (password ");
                const char *un = policy_name(u);
                if (un && strcmp(un, "None") == 0)
                    printf("sent as is");
                else {
                    printf("encrypted with ");
                    print_policy(u);
                }
                printf(")");
            }
        }
        if (e->user_token_policies_count == 0) printf(" none");
        printf("\n");
        if (e->server_certificate.length > 0) {
            struct ua_pki_cert_info ci;
            char why[256];
            if (ua_pki_cert_info((const uint8_t *)e->server_certificate.data,
                                 (size_t)e->server_certificate.length, &ci, why, sizeof why)) {
                char until[64];
                struct tm tm;
                time_t t = (time_t)ci.not_after;
                if (gmtime_r(&t, &tm))
                    strftime(until, sizeof until, "%Y-%m-%d", &tm);
                else
                    snprintf(until, sizeof until, "?");
                printf("  server certificate: CN=%s, thumbprint %s, RSA %u, valid until %s\n",
                       ci.common_name, ci.thumbprint_hex, ci.key_bits, until);
            } else {
                printf("  server certificate: unreadable (%s)\n", why);
            }
        }
    }
    if (eps.count == 0) printf("The server lists no endpoints.\n");
    ua_client_endpoints_free(&eps);
    (void)a;
    return 0;
}

/* ------------------------------------------------------------------- read */

/* One value: "NODEID  TYPE  VALUE  STATUS  SOURCE-TIMESTAMP", or a JSON
 * object with the same fields. */
static void print_value(const struct ua_nodeid *node, const struct ua_datavalue *d, bool json)
{
    char status[96], ts[64], type[64];
    ua_status_format(d->status, status, sizeof status);
    format_datetime(d->source_timestamp, ts, sizeof ts);
    const char *tt = variant_type_text(&d->value, type, sizeof type);
    if (json) {
        fputs("{\"node\":", stdout);
        put_nodeid(stdout, node, true);
        fputs(",\"type\":", stdout);
        put_json_string(stdout, tt, strlen(tt));
        fputs(",\"value\":", stdout);
        put_variant(stdout, &d->value, true);
        fprintf(stdout, ",\"status\":\"%s\",\"status_code\":%" PRIu32 ",\"source_timestamp\":",
                ua_status_name(d->status), d->status);
        if (d->source_timestamp > 0)
            fprintf(stdout, "\"%s\"", ts);
        else
            fputs("null", stdout);
        fputs("}\n", stdout);
    } else {
        put_nodeid(stdout, node, false);
        printf("  %s  ", tt);
        put_variant(stdout, &d->value, false);
        printf("  %s  %s\n", status, ts);
    }
}

/* Parses the NodeId arguments into Value reads (NodeIds in the arena).
 * Returns -1 to go on, else the exit status. */
static int parse_nodes(const struct opcua_args *a, struct ua_arena *arena,
                       struct ua_read_value_id **out)
{
    size_t n = (size_t)a->nodes_count;
    struct ua_read_value_id *ids = calloc(n, sizeof *ids);
    if (!ids) {
        fprintf(stderr, "airlock opcua %s: out of memory\n", a->action);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (!ua_nodeid_parse(a->nodes[i], strlen(a->nodes[i]), arena, &ids[i].node_id, why,
                             sizeof why)) {
            fprintf(stderr, "airlock opcua %s: NodeId '%s': %s\n", a->action, a->nodes[i], why);
            free(ids);
            return 2;
        }
        ids[i].attribute_id = UA_ATTRIBUTE_VALUE;
        ids[i].index_range = UA_STRING_NULL;
        ids[i].data_encoding.name = UA_STRING_NULL;
    }
    *out = ids;
    return -1;
}

static int run_read(const struct opcua_args *a, struct ua_client *c,
                    const struct ua_read_value_id *ids)
{
    size_t n = (size_t)a->nodes_count;
    struct ua_client_error err;
    struct ua_datavalue *dv = NULL;
    if (!ua_client_read(c, ids, n, UA_TIMESTAMPS_BOTH, 0, &dv, &err)) return fail("read", &err);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (ua_status_is_bad(dv[i].status)) bad++;
        print_value(&ids[i].node_id, &dv[i], a->json);
    }
    if (bad) {
        fprintf(stderr, "airlock opcua read: %zu of %zu nodes have a Bad status\n", bad, n);
        return 1;
    }
    return 0;
}

/* -------------------------------------------------------------- subscribe */

struct watch {
    const struct ua_read_value_id *ids;
    size_t count;
    bool json;
    long changes, keep_alives;
    bool ended;      /* the server ended the subscription */
    uint32_t status; /* its StatusChangeNotification */
};

static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    (void)sig;
    char b = 1;
    ssize_t w = write(stop_pipe[1], &b, 1);
    (void)w;
}

static void on_data_change(void *ctx, uint32_t subscription_id,
                           const struct ua_monitored_item_value *values, size_t count,
                           int64_t publish_time)
{
    struct watch *w = ctx;
    (void)subscription_id;
    (void)publish_time;
    for (size_t i = 0; i < count; i++) {
        if (values[i].client_handle >= w->count) continue; /* not ours */
        print_value(&w->ids[values[i].client_handle].node_id, &values[i].value, w->json);
        w->changes++;
    }
    fflush(stdout);
}

static void on_status_change(void *ctx, uint32_t subscription_id, uint32_t status)
{
    struct watch *w = ctx;
    (void)subscription_id;
    w->ended = ua_status_is_bad(status);
    w->status = status;
}

static void on_keep_alive(void *ctx, uint32_t subscription_id, int64_t publish_time)
{
    struct watch *w = ctx;
    (void)subscription_id;
    (void)publish_time;
    w->keep_alives++;
}

static int run_subscribe(const struct opcua_args *a, struct ua_client *c, struct watch *w)
{
    struct ua_client_error err;
    struct ua_client_subscription_params p = {.publishing_interval_ms = (double)a->interval_ms};
    struct ua_client_subscription sub;
    if (!ua_client_create_subscription(c, &p, &sub, &err)) return fail("subscribe", &err);
    size_t n = w->count;
    struct ua_monitored_item_create_request *items = calloc(n, sizeof *items);
    if (!items) {
        fprintf(stderr, "airlock opcua subscribe: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].item_to_monitor = w->ids[i];
        items[i].monitoring_mode = UA_MONITORING_REPORTING;
        items[i].client_handle = (uint32_t)i;
        items[i].sampling_interval_ms = (double)a->interval_ms;
        items[i].queue_size = 10;
        items[i].discard_oldest = true;
        if (a->deadband_type) {
            items[i].has_filter = true;
            items[i].filter.trigger = UA_TRIGGER_STATUS_VALUE;
            items[i].filter.deadband_type = (uint32_t)a->deadband_type;
            items[i].filter.deadband_value = a->deadband;
        }
    }
    struct ua_monitored_item_create_result *res = NULL;
    bool ok = ua_client_create_monitored_items(c, sub.subscription_id, UA_TIMESTAMPS_BOTH, items, n,
                                               &res, &err);
    free(items);
    if (!ok) return fail("subscribe", &err);
    size_t refused = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ua_status_is_bad(res[i].status)) continue;
        char s[96], id[512];
        ua_nodeid_format(&w->ids[i].node_id, id, sizeof id);
        fprintf(stderr, "airlock opcua subscribe: %s: %s\n", id,
                ua_status_format(res[i].status, s, sizeof s));
        refused++;
    }
    if (refused == n) {
        fprintf(stderr, "airlock opcua subscribe: the server refused every monitored item\n");
        return 1;
    }
    int64_t start = clock_mono_ms();
    int rc = refused ? 1 : 0;
    for (;;) {
        if (a->count && w->changes >= a->count) break;
        int64_t now = clock_mono_ms();
        if (a->duration_ms && now - start >= a->duration_ms) break;
        uint32_t wait = 500;
        if (a->duration_ms && a->duration_ms - (now - start) < wait)
            wait = (uint32_t)(a->duration_ms - (now - start));
        if (!ua_client_poll(c, wait, &err)) {
            rc = fail("subscribe", &err);
            break;
        }
        char b;
        if (read(stop_pipe[0], &b, 1) == 1) break; /* Ctrl-C */
        if (w->ended) {
            char s[96];
            fprintf(stderr, "airlock opcua subscribe: the server ended the subscription: %s\n",
                    ua_status_format(w->status, s, sizeof s));
            rc = 1;
            break;
        }
    }
    fprintf(stderr, "airlock opcua subscribe: %ld data changes, %ld keep-alives\n", w->changes,
            w->keep_alives);
    return rc;
}

/* ------------------------------------------------------------------ browse */

struct tree_node {
    struct ua_nodeid id;
    char *browse_name; /* "ns:name" */
    int32_t node_class;
    bool remote; /* on another server: not followed */
    char *data_type;
    int32_t value_rank; /* variables: -1 scalar, 1 array, ... */
    char *unit;
};

struct tree {
    struct ua_client *c;
    struct ua_arena arena; /* NodeIds and names of everything printed */
    char **visited;
    size_t visited_count, visited_cap;
    size_t printed;
    struct ua_client_error err;
    bool failed;
};

static char *arena_strndup(struct ua_arena *a, const char *s, size_t n)
{
    char *d = ua_arena_alloc(a, n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static const char *node_class_name(int32_t nc)
{
    switch (nc) {
    case UA_NODE_CLASS_OBJECT:
        return "Object";
    case UA_NODE_CLASS_VARIABLE:
        return "Variable";
    case UA_NODE_CLASS_METHOD:
        return "Method";
    case UA_NODE_CLASS_OBJECT_TYPE:
        return "ObjectType";
    case UA_NODE_CLASS_VARIABLE_TYPE:
        return "VariableType";
    case UA_NODE_CLASS_REFERENCE_TYPE:
        return "ReferenceType";
    case UA_NODE_CLASS_DATA_TYPE:
        return "DataType";
    case UA_NODE_CLASS_VIEW:
        return "View";
    default:
        return "Unspecified";
    }
}

/* Names of the namespace-0 data types that are not built-in types. */
static const char *ns0_type_name(uint32_t id)
{
    if (id >= 1 && id <= UA_TYPE_MAX_KNOWN) return ua_type_name(id);
    switch (id) {
    case 26:
        return "Number";
    case 27:
        return "Integer";
    case 28:
        return "UInteger";
    case 29:
        return "Enumeration";
    case 30:
        return "Image";
    case 22:
        return "Structure";
    case 290:
        return "Duration";
    case 294:
        return "UtcTime";
    case 295:
        return "LocaleId";
    case 884:
        return "Range";
    case 887:
        return "EUInformation";
    case 852:
        return "ServerState";
    case 862:
        return "ServerStatusDataType";
    case 338:
        return "BuildInfo";
    default:
        return NULL;
    }
}

static bool visited(struct tree *t, const struct ua_nodeid *id)
{
    char key[1024];
    ua_nodeid_format(id, key, sizeof key);
    for (size_t i = 0; i < t->visited_count; i++)
        if (strcmp(t->visited[i], key) == 0) return true;
    if (t->visited_count == t->visited_cap) {
        size_t cap = t->visited_cap ? t->visited_cap * 2 : 64;
        char **v = realloc(t->visited, cap * sizeof *v);
        if (!v) return true;
        t->visited = v;
        t->visited_cap = cap;
    }
    char *k = arena_strndup(&t->arena, key, strlen(key));
    if (k) t->visited[t->visited_count++] = k;
    return false;
}

/* Data types and engineering units of the variables among nodes[0..n). */
static bool describe_variables(struct tree *t, struct tree_node *nodes, size_t n)
{
    size_t vars = 0;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].node_class == UA_NODE_CLASS_VARIABLE && !nodes[i].remote) vars++;
    if (!vars) return true;
    size_t *idx = calloc(vars, sizeof *idx);
    struct ua_read_value_id *rd = calloc(2 * vars, sizeof *rd);
    struct ua_browse_path *paths = calloc(vars, sizeof *paths);
    struct ua_nodeid *units = calloc(vars, sizeof *units);
    size_t *unit_of = calloc(vars, sizeof *unit_of);
    bool ok = idx && rd && paths && units && unit_of;
    struct ua_relative_path_element eu_elem;
    memset(&eu_elem, 0, sizeof eu_elem);
    eu_elem.reference_type_id = ua_nodeid_numeric(0, UA_NS0_HAS_PROPERTY);
    eu_elem.include_subtypes = true;
    eu_elem.target_name.ns = 0;
    eu_elem.target_name.name = ua_string_from_cstr(UA_BROWSE_NAME_ENGINEERING_UNITS);
    size_t k = 0;
    for (size_t i = 0; ok && i < n; i++) {
        if (nodes[i].node_class != UA_NODE_CLASS_VARIABLE || nodes[i].remote) continue;
        idx[k] = i;
        for (size_t m = 2 * k; m < 2 * k + 2; m++) {
            rd[m].node_id = nodes[i].id;
            rd[m].attribute_id = m == 2 * k ? UA_ATTRIBUTE_DATA_TYPE : UA_ATTRIBUTE_VALUE_RANK;
            rd[m].index_range = UA_STRING_NULL;
            rd[m].data_encoding.name = UA_STRING_NULL;
        }
        paths[k].starting_node = nodes[i].id;
        paths[k].elements_count = 1;
        paths[k].elements = &eu_elem;
        k++;
    }
    /* DataType and ValueRank attributes. */
    struct ua_datavalue *dv = NULL;
    struct ua_nodeid *other_types = ok ? calloc(vars, sizeof *other_types) : NULL;
    size_t *other_of = ok ? calloc(vars, sizeof *other_of) : NULL;
    size_t others = 0;
    ok = ok && other_types && other_of;
    if (ok && !ua_client_read(t->c, rd, 2 * vars, UA_TIMESTAMPS_NEITHER, 0, &dv, &t->err))
        ok = false;
    for (size_t j = 0; ok && j < vars; j++) {
        const struct ua_variant *rank = &dv[2 * j + 1].value;
        nodes[idx[j]].value_rank = -1;
        if (!ua_status_is_bad(dv[2 * j + 1].status) && !rank->is_array &&
            rank->type == UA_TYPE_INT32)
            nodes[idx[j]].value_rank = rank->as.int32;
        const struct ua_variant *v = &dv[2 * j].value;
        if (ua_status_is_bad(dv[2 * j].status) || v->is_array || v->type != UA_TYPE_NODEID ||
            !v->as.nodeid)
            continue;
        const struct ua_nodeid *dt = v->as.nodeid;
        const char *name =
            dt->ns == 0 && dt->type == UA_NODEID_NUMERIC ? ns0_type_name(dt->id.numeric) : NULL;
        struct tree_node *tn = &nodes[idx[j]];
        if (name) {
            tn->data_type = arena_strndup(&t->arena, name, strlen(name));
        } else {
            char text[512];
            ua_nodeid_format(dt, text, sizeof text);
            tn->data_type = arena_strndup(&t->arena, text, strlen(text));
            if (ua_nodeid_copy(dt, &t->arena, &other_types[others])) other_of[others++] = idx[j];
        }
    }
    /* Names of the data types that are not standard (their BrowseName). */
    if (ok && others) {
        for (size_t j = 0; j < others; j++) {
            rd[j].node_id = other_types[j];
            rd[j].attribute_id = UA_ATTRIBUTE_BROWSE_NAME;
        }
        if (!ua_client_read(t->c, rd, others, UA_TIMESTAMPS_NEITHER, 0, &dv, &t->err)) {
            ok = !t->err.reconnect;
        } else {
            for (size_t j = 0; j < others; j++) {
                const struct ua_variant *v = &dv[j].value;
                if (ua_status_is_bad(dv[j].status) || v->is_array ||
                    v->type != UA_TYPE_QUALIFIEDNAME || !v->as.qualified_name ||
                    v->as.qualified_name->name.length <= 0)
                    continue;
                const struct ua_string *s = &v->as.qualified_name->name;
                nodes[other_of[j]].data_type = arena_strndup(&t->arena, s->data, (size_t)s->length);
            }
        }
    }
    /* EngineeringUnits properties. */
    struct ua_browse_path_result *pr = NULL;
    size_t with_units = 0;
    if (ok && !ua_client_translate_browse_paths(t->c, paths, vars, &pr, &t->err)) ok = false;
    for (size_t j = 0; ok && j < vars; j++) {
        if (ua_status_is_bad(pr[j].status) || pr[j].targets_count == 0) continue;
        const struct ua_expanded_nodeid *target = &pr[j].targets[0].target_id;
        if (target->server_index != 0 || target->namespace_uri.length > 0) continue;
        if (ua_nodeid_copy(&target->nodeid, &t->arena, &units[with_units]))
            unit_of[with_units++] = idx[j];
    }
    if (ok && with_units) {
        for (size_t j = 0; j < with_units; j++) {
            rd[j].node_id = units[j];
            rd[j].attribute_id = UA_ATTRIBUTE_VALUE;
        }
        if (!ua_client_read(t->c, rd, with_units, UA_TIMESTAMPS_NEITHER, 0, &dv, &t->err)) {
            ok = false;
        } else {
            for (size_t j = 0; j < with_units; j++) {
                struct ua_eu_information eu;
                if (ua_status_is_bad(dv[j].status) ||
                    !ua_variant_to_eu_information(&dv[j].value, &eu, NULL))
                    continue;
                struct ua_string s =
                    eu.display_name.text.length > 0 ? eu.display_name.text : eu.description.text;
                if (s.length > 0)
                    nodes[unit_of[j]].unit = arena_strndup(&t->arena, s.data, (size_t)s.length);
            }
        }
    }
    if (!(idx && rd && paths && units && unit_of && (vars == 0 || (other_types && other_of))) &&
        !t->err.text[0]) {
        t->err.status = UA_STATUS_BAD_OUT_OF_MEMORY;
        snprintf(t->err.text, sizeof t->err.text, "browse: out of memory");
    }
    free(idx);
    free(rd);
    free(paths);
    free(units);
    free(unit_of);
    free(other_types);
    free(other_of);
    return ok;
}

static void print_node(const struct tree_node *n, int indent)
{
    printf("%*s%s  ", indent * 2, "", n->browse_name);
    char id[1024];
    ua_nodeid_format(&n->id, id, sizeof id);
    printf("%s  %s", id, node_class_name(n->node_class));
    if (n->data_type) {
        printf("  %s", n->data_type);
        if (n->value_rank == 0) printf("[...]");
        for (int32_t r = 0; r < n->value_rank && r < 8; r++)
            printf("[]");
    }
    if (n->unit) printf("  unit=%s", n->unit);
    if (n->remote) printf("  (on another server)");
    printf("\n");
}

/* Prints the children of parent (at indent), down to depth more levels. */
static bool browse_tree(struct tree *t, const struct ua_nodeid *parent, long depth, int indent)
{
    if (depth <= 0) return true;
    struct ua_browse_description d;
    memset(&d, 0, sizeof d);
    d.node_id = *parent;
    d.browse_direction = UA_BROWSE_FORWARD;
    d.reference_type_id = ua_nodeid_numeric(0, UA_NS0_HIERARCHICAL_REFERENCES);
    d.include_subtypes = true;
    d.node_class_mask = 0;
    d.result_mask = UA_BROWSE_RESULT_ALL;
    struct ua_browse_result *res = NULL;
    if (!ua_client_browse(t->c, &d, 1, 0, &res, &t->err)) return false;
    if (ua_status_is_bad(res->status)) {
        char s[96];
        printf("%*s(browse: %s)\n", indent * 2, "", ua_status_format(res->status, s, sizeof s));
        return true;
    }
    size_t n = res->references_count;
    if (n == 0) return true;
    struct tree_node *nodes = calloc(n, sizeof *nodes);
    if (!nodes) {
        t->err.status = UA_STATUS_BAD_OUT_OF_MEMORY;
        snprintf(t->err.text, sizeof t->err.text, "browse: out of memory");
        return false;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ua_reference_description *r = &res->references[i];
        struct tree_node *tn = &nodes[kept];
        if (!ua_nodeid_copy(&r->node_id.nodeid, &t->arena, &tn->id)) continue;
        tn->remote = r->node_id.server_index != 0;
        tn->node_class = r->node_class;
        char name[600];
        int len = r->browse_name.name.length > 0 ? (int)r->browse_name.name.length : 0;
        snprintf(name, sizeof name, "%u:%.*s", (unsigned)r->browse_name.ns, len > 500 ? 500 : len,
                 len ? r->browse_name.name.data : "");
        tn->browse_name = arena_strndup(&t->arena, name, strlen(name));
        if (!tn->browse_name) continue;
        kept++;
    }
    bool ok = describe_variables(t, nodes, kept);
    for (size_t i = 0; ok && i < kept; i++) {
        if (t->printed >= OPCUA_MAX_TREE_NODES) {
            printf("%*s... (stopped after %d nodes)\n", indent * 2, "", OPCUA_MAX_TREE_NODES);
            break;
        }
        print_node(&nodes[i], indent);
        t->printed++;
        if (!nodes[i].remote && depth > 1 && !visited(t, &nodes[i].id))
            ok = browse_tree(t, &nodes[i].id, depth - 1, indent + 1);
    }
    free(nodes);
    return ok;
}

static int run_browse(const struct opcua_args *a, struct ua_client *c)
{
    struct tree t;
    memset(&t, 0, sizeof t);
    t.c = c;
    ua_arena_init(&t.arena, 0, 256u << 20);
    struct ua_nodeid start = ua_nodeid_numeric(0, UA_NS0_OBJECTS_FOLDER);
    int rc = 0;
    if (a->node) {
        char why[256];
        if (!ua_nodeid_parse(a->node, strlen(a->node), &t.arena, &start, why, sizeof why)) {
            fprintf(stderr, "airlock opcua browse: --node '%s': %s\n", a->node, why);
            ua_arena_free(&t.arena);
            return 2;
        }
    }
    /* The start node itself. */
    struct ua_read_value_id rd[2];
    memset(rd, 0, sizeof rd);
    rd[0].node_id = rd[1].node_id = start;
    rd[0].attribute_id = UA_ATTRIBUTE_BROWSE_NAME;
    rd[1].attribute_id = UA_ATTRIBUTE_NODE_CLASS;
    rd[0].index_range = rd[1].index_range = UA_STRING_NULL;
    rd[0].data_encoding.name = rd[1].data_encoding.name = UA_STRING_NULL;
    struct ua_datavalue *dv = NULL;
    if (!ua_client_read(c, rd, 2, UA_TIMESTAMPS_NEITHER, 0, &dv, &t.err)) {
        rc = fail("browse", &t.err);
        goto done;
    }
    if (ua_status_is_bad(dv[0].status)) {
        char s[96], id[512];
        ua_nodeid_format(&start, id, sizeof id);
        fprintf(stderr, "airlock opcua browse: node %s: %s\n", id,
                ua_status_format(dv[0].status, s, sizeof s));
        rc = 1;
        goto done;
    }
    struct tree_node root;
    memset(&root, 0, sizeof root);
    root.id = start;
    char name[600] = "?";
    if (dv[0].value.type == UA_TYPE_QUALIFIEDNAME && !dv[0].value.is_array &&
        dv[0].value.as.qualified_name) {
        const struct ua_qualified_name *q = dv[0].value.as.qualified_name;
        int len = q->name.length > 0 ? (int)q->name.length : 0;
        snprintf(name, sizeof name, "%u:%.*s", (unsigned)q->ns, len > 500 ? 500 : len,
                 len ? q->name.data : "");
    }
    root.browse_name = name;
    if (dv[1].value.type == UA_TYPE_INT32 && !dv[1].value.is_array)
        root.node_class = dv[1].value.as.int32;
    if (!describe_variables(&t, &root, 1)) {
        rc = fail("browse", &t.err);
        goto done;
    }
    print_node(&root, 0);
    visited(&t, &start);
    if (!browse_tree(&t, &start, a->depth, 1)) rc = fail("browse", &t.err);
done:
    free(t.visited);
    ua_arena_free(&t.arena);
    return rc;
}

/* -------------------------------------------------------------------- main */

static void print_info(const struct ua_client_info *i)
{
    fprintf(stderr,
            "airlock opcua: %s, %s / %s, channel %u (%u token renewals), session timeout "
            "%.0f ms\n"
            "airlock opcua: chunks of %u bytes sent / %u received, messages of %u bytes sent "
            "(0: no limit) / %u received\n"
            "airlock opcua: server limits per call: read %u, write %u, browse %u, translate %u, "
            "monitored items %u (0: none announced)\n",
            i->endpoint_url, i->security_policy_uri, ua_channel_mode_name(i->mode),
            (unsigned)i->channel_id, (unsigned)i->token_renewals, i->session_timeout_ms,
            (unsigned)i->limits.send_chunk_bytes, (unsigned)i->limits.recv_chunk_bytes,
            (unsigned)i->limits.send_max_message_bytes, (unsigned)i->limits.recv_max_message_bytes,
            (unsigned)i->max_nodes_per_read, (unsigned)i->max_nodes_per_write,
            (unsigned)i->max_nodes_per_browse, (unsigned)i->max_nodes_per_translate,
            (unsigned)i->max_monitored_items_per_call);
}

int cmd_opcua(int argc, char **argv)
{
    struct opcua_args a;
    int rc = parse_opcua_args(argc, argv, &a);
    if (rc >= 0) return rc;
    struct ua_client_options o;
    memset(&o, 0, sizeof o);
    o.endpoint_url = a.url;
    o.connect_timeout_ms = (uint32_t)a.timeout_ms;
    o.request_timeout_ms = (uint32_t)a.timeout_ms;
    o.channel_lifetime_ms = (uint32_t)a.channel_lifetime_ms;
    o.session_timeout_ms = (uint32_t)a.session_timeout_ms;
    char host[256];
    uint16_t port;
    if (!ua_client_parse_url(a.url, host, sizeof host, &port))
        return cli_usage_error("opcua", "URL '%s' is not opc.tcp://HOST[:PORT][/PATH]", a.url);
    if (strcmp(a.action, "endpoints") == 0) return run_endpoints(&a, &o);

    o.policy = UA_CRYPTO_POLICY_NONE;
    o.mode = UA_CHANNEL_MODE_NONE;
    if (a.security && !ua_client_parse_security(a.security, &o.policy, &o.mode))
        return cli_usage_error("opcua", "--security '%s' is not none, sign or signandencrypt",
                               a.security);
    char password[4097];
    password[0] = '\0';
    if (a.user) {
        if ((rc = read_password(&a, password, sizeof password)) >= 0) return rc;
        o.identity = UA_CLIENT_IDENTITY_USER_NAME;
        o.user_name = a.user;
        o.password = password;
    }
    char pki[4096];
    if ((rc = pki_dir(&a, pki, sizeof pki)) >= 0) return rc;
    o.pki_dir = pki;
    o.session_name = "airlock opcua";

    struct ua_arena arena;
    ua_arena_init(&arena, 0, 64u << 20);
    struct ua_read_value_id *ids = NULL;
    struct watch w;
    memset(&w, 0, sizeof w);
    bool is_sub = strcmp(a.action, "subscribe") == 0;
    if (a.nodes_count && (rc = parse_nodes(&a, &arena, &ids)) >= 0) {
        explicit_bzero(password, sizeof password);
        ua_arena_free(&arena);
        return rc;
    }
    if (is_sub) {
        w.ids = ids;
        w.count = (size_t)a.nodes_count;
        w.json = a.json;
        o.handlers = (struct ua_client_handlers){.ctx = &w,
                                                 .data_change = on_data_change,
                                                 .status_change = on_status_change,
                                                 .keep_alive = on_keep_alive};
        if (pipe2(stop_pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
            o.use_wake_fd = true;
            o.wake_fd = stop_pipe[0];
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_stop_signal;
            sigaction(SIGINT, &sa, NULL);
            sigaction(SIGTERM, &sa, NULL);
        }
    }
    struct ua_client_error err;
    struct ua_client *c = ua_client_new(&o, &err);
    explicit_bzero(password, sizeof password);
    if (!c) {
        rc = fail(a.action, &err);
    } else if (!ua_client_connect(c, &err)) {
        rc = fail(a.action, &err);
    } else if (strcmp(a.action, "read") == 0) {
        rc = run_read(&a, c, ids);
    } else if (is_sub) {
        rc = run_subscribe(&a, c, &w);
    } else {
        rc = run_browse(&a, c);
    }
    fflush(stdout);
    if (a.verbose && c && ua_client_info(c)->endpoint_url) print_info(ua_client_info(c));
    ua_client_free(c);
    free(ids);
    ua_arena_free(&arena);
    return rc;
}
