/* The gateway configuration, loaded from YAML (libyaml).
 *
 * config_load() parses and validates a whole file; on any error it reports
 * the first one as file:line:col and what was expected, and returns false
 * with nothing allocated. Unknown keys are errors. See docs/configuration.md
 * for every key and examples/ for commented files.
 *
 * Layout:
 *   gateway: {name, data_dir, log_level}
 *   http:    {listen: "127.0.0.1:8080", tls: auto|on|off, cert_file, key_file,
 *             allow_plain_http}
 *   devices:
 *     - name, protocol: modbus-tcp, host, port, unit_id, timeout_ms, retries,
 *       backoff_initial_ms, backoff_max_ms, addressing: 0-based|1-based,
 *       max_registers_per_request, max_bits_per_request, max_gap_registers,
 *       max_gap_bits, namespace: enterprise/site/area/line/cell, enabled,
 *       poll_groups:
 *         - name, interval_ms,
 *           tags: [{name, area, address, type, order, bit, length, value_type,
 *                   unit, description, scale: {gain, offset} | {raw: [lo, hi],
 *                   eng: [lo, hi]}, range: [lo, hi], deadband: 0.5 | "1%"}]
 *     - name, protocol: opcua, endpoint: opc.tcp://host:4840/path,
 *       security: none|sign|signandencrypt, auth: {username, password_file |
 *       password}, namespace, timeout_ms, backoff_initial_ms, backoff_max_ms,
 *       mode: subscribe|poll, browse_max_depth, browse_max_tags, enabled,
 *       groups:
 *         - name, interval_ms, sampling_ms, queue_size, browse: NODE | [NODE...],
 *           tags: [{name, node: "ns=2;s=X" | path: "/Objects/2:Plant/2:X",
 *                   type, unit, description, range, deadband}]
 *   link:    {destination | listen, key_file, link_id, datagram_bytes, redundancy,
 *             rate_limit_datagrams_per_s, birth_interval_ms, heartbeat_interval_ms,
 *             heartbeat_timeout_ms} (one-way mode)
 *   history: {enabled, dir, durability: strict|batched, fsync_interval_ms,
 *             late_window, partition, chunk_span, checkpoint_interval,
 *             groups: [{name, prefix, max_age, max_size}]}
 *   monitor: {enabled, learning_s, window_s}
 */
#ifndef AIRLOCK_CONFIG_CONFIG_H
#define AIRLOCK_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gate/write_gate.h"
#include "core/strpool.h"
#include "core/tag.h"
#include "drivers/modbus/mb_point.h"

/* Where something was in the file (1-based), for later messages. */
struct config_pos {
    int line;
    int col;
};

struct config_error {
    char file[256];
    int line; /* 1-based; 0 when the error is not tied to a place (file unreadable) */
    int col;
    char message[512]; /* "expected ..., found ..." */
};

/* What an OPC UA tag reads (protocol opcua). Exactly one of node and
 * browse_path is set; both are in the configuration's string pool. */
struct config_ua_tag {
    char *node;        /* NodeId text, e.g. "ns=2;s=Pump.Speed" */
    char *browse_path; /* from the Root folder, e.g. "/Objects/2:Plant/2:Temp" */
    bool type_given;   /* `type:` was set; else the server's DataType decides
                          (tag.type is double until discovery says otherwise) */
    bool unit_given;   /* `unit:` was set; else the server's EngineeringUnits */
    bool discovered;   /* made by browse discovery, not listed in the file */
    /* The DataChangeFilter asked of the server in subscribe mode. */
    enum deadband_kind server_deadband; /* NONE, ABSOLUTE or PERCENT (of the server's EURange) */
    double server_deadband_value;
};

/* A tag as configured: its generic model (path is the full UNS path:
 * device namespace + "/" + name) and where it sits in the device. */
struct config_tag {
    struct tag tag;
    struct write_policy write; /* `write:` (Modbus); zero: not writable */
    struct mb_point point;     /* Modbus */
    struct config_ua_tag ua;   /* OPC UA */
    struct config_pos pos;
};

/* A Modbus poll group, or an OPC UA group (a subscription, or a poll group
 * in mode poll). */
struct config_poll_group {
    char *name;
    uint32_t interval_ms; /* default 1000; OPC UA: the publishing interval */
    struct config_tag *tags;
    size_t tag_count;
    struct config_pos pos;
    /* OPC UA only */
    uint32_t sampling_ms; /* default interval_ms; 0: as fast as the server can */
    uint32_t queue_size;  /* default 1 */
    char **browse;        /* folders (NodeId or browse path text) whose variables become tags */
    size_t browse_count;
};

enum config_protocol {
    PROTOCOL_MODBUS_TCP = 0,
    PROTOCOL_OPCUA,
};

enum config_ua_security {
    CONFIG_UA_SECURITY_NONE = 0,
    CONFIG_UA_SECURITY_SIGN,             /* Basic256Sha256, Sign */
    CONFIG_UA_SECURITY_SIGN_AND_ENCRYPT, /* Basic256Sha256, SignAndEncrypt */
};

enum config_ua_mode {
    CONFIG_UA_SUBSCRIBE = 0, /* a subscription per group */
    CONFIG_UA_POLL,          /* a Read per group every interval */
};

/* The OPC UA part of a device (protocol opcua). */
struct config_ua_device {
    char *endpoint; /* opc.tcp://host[:port][/path] */
    enum config_ua_security security;
    char *username; /* NULL: anonymous */
    char *password; /* from auth.password or auth.password_file (read at load) */
    enum config_ua_mode mode;
    uint32_t browse_max_depth; /* levels below a browse folder, default 8 */
    uint32_t browse_max_tags;  /* variables per device from browsing, default 10000 */
    char *pki_dir;             /* <data_dir>/pki: set by ua_driver_prepare, not by the loader */
};

struct config_device {
    char *name;
    enum config_protocol protocol;
    char *host;                  /* Modbus only */
    uint16_t port;               /* default 502 */
    uint8_t unit_id;             /* default 1 */
    uint32_t timeout_ms;         /* per request, default 1000 */
    uint32_t retries;            /* extra attempts of a failed request in one poll, default 1 */
    uint32_t backoff_initial_ms; /* default 500; doubled per failure */
    uint32_t backoff_max_ms;     /* default 30000 */
    bool one_based;              /* addresses in the file are 1-based (converted on load) */
    uint16_t max_registers_per_request; /* 1..125, default 125 */
    uint16_t max_bits_per_request;      /* 1..2000, default 2000 */
    uint16_t max_gap_registers;         /* unrequested registers a merge may span, default 16 */
    uint16_t max_gap_bits;              /* default 64 */
    char *namespace_prefix;             /* enterprise/site/area/line/cell (1..7 segments) */
    bool enabled;                       /* default true */
    struct config_poll_group *groups;   /* Modbus poll_groups, OPC UA groups */
    size_t group_count;
    struct config_ua_device ua; /* protocol opcua */
    struct config_pos pos;
};

/* A retention group of the historian: tags whose path starts with prefix. */
struct config_history_group {
    char *name;         /* letters, digits, '_', '-' */
    char *prefix;       /* "" for every tag */
    int64_t max_age_ns; /* 0 = keep forever */
    uint64_t max_bytes; /* 0 = no limit */
    struct config_pos pos;
};

/* The `history:` section (the embedded historian, docs/historian.md). */
struct config_history {
    bool enabled;                        /* default true */
    char *dir;                           /* NULL: <data_dir>/history (see config_history_dir) */
    bool strict;                         /* durability: strict (true) or batched (default) */
    uint32_t fsync_interval_ms;          /* batched: default 1000 */
    int64_t late_window_ns;              /* default 1 h */
    int64_t partition_ns;                /* default 1 d */
    int64_t chunk_span_ns;               /* default 1 h */
    int64_t checkpoint_interval_ns;      /* default 60 s */
    struct config_history_group *groups; /* none: one group for every tag, no limits */
    size_t group_count;
};

/* One publisher of the `north:` list (docs/north.md). Strings are NULL
 * when not given (defaults are applied by the publisher, except where said). */
enum config_north_kind { CONFIG_NORTH_UNS = 0, CONFIG_NORTH_SPARKPLUG };

struct config_north {
    char *name; /* unique, [A-Za-z0-9_-]{1,63} */
    enum config_north_kind kind;
    char *host;      /* from url */
    uint16_t port;   /* from url; default 1883, or 8883 with mqtts */
    bool tls;        /* url scheme mqtts:// */
    int protocol;    /* 4 (3.1.1, default) or 5 */
    char *client_id; /* NULL: airlock-<gateway name>-<name> */
    char *username;
    char *password; /* from password or password_file (read at load) */
    char *ca_file, *cert_file, *key_file;
    uint32_t keepalive_s; /* default 30 */
    int qos;              /* 0 or 1, default 1 */
    char **tag_prefixes;  /* `tags:` filter; none: every tag */
    size_t tag_prefix_count;
    /* uns */
    char *prefix;         /* default "uns" (set at load) */
    char *meta_prefix;    /* default "uns-meta" (set at load) */
    bool retain;          /* default false */
    uint32_t heartbeat_s; /* default 0: off */
    /* sparkplug */
    char *group_id;     /* required for sparkplug */
    char *edge_node;    /* NULL: the gateway name */
    char *primary_host; /* NULL: none */
    /* spool */
    char *spool_dir;          /* NULL: <data_dir>/spool/<name> (see config_north_spool_dir) */
    uint64_t spool_max_bytes; /* default 1 GiB */
    bool spool_strict;        /* durability strict (true) or batched (default) */
    uint32_t spool_fsync_interval_ms; /* default 1000 */
    struct config_pos pos;
};

/* The `link:` section: the one-way link of `airlock ot` (destination and
 * the sender's settings) or of `airlock it` (listen and the receiver's);
 * docs/oneway.md. Exactly one of destination and listen is set when
 * present. The key file was checked at load (a regular file, not readable
 * by group or others, with at least 32 bytes of secret). */
struct config_link {
    bool present;
    struct config_pos pos;
    char *destination; /* OT side: host:port to send to */
    char *listen;      /* IT side: host:port to bind */
    char *key_file;
    uint32_t link_id;                    /* default 1 */
    uint32_t datagram_bytes;             /* default 1400 (600..65507) */
    uint32_t redundancy;                 /* OT: copies of each datagram, default 1 (1..8) */
    uint32_t rate_limit_datagrams_per_s; /* OT: default 0, unlimited */
    uint32_t birth_interval_ms;          /* OT: default 10000 */
    uint32_t heartbeat_interval_ms;      /* OT: default 1000 */
    uint32_t heartbeat_timeout_ms;       /* IT: default 3000 */
};

/* `http.tls`: HTTPS unless loopback (auto), always (on), never (off). */
enum config_http_tls {
    CONFIG_HTTP_TLS_AUTO = 0,
    CONFIG_HTTP_TLS_ON,
    CONFIG_HTTP_TLS_OFF,
};

/* The OT monitor (monitor/ot_monitor.h): a baseline per device learned
 * over learning_s, one snapshot every window_s. */
struct config_monitor {
    bool enabled;        /* default true */
    uint32_t learning_s; /* default 300 */
    uint32_t window_s;   /* default 10 */
};

struct config {
    char *file;        /* path it was loaded from ("<demo>" for the built-in plant) */
    char *name;        /* gateway name, default "airlock" */
    char *data_dir;    /* default "./data" */
    char *log_level;   /* default "info" */
    char *http_listen; /* default "127.0.0.1:8080" */
    enum config_http_tls http_tls; /* `http.tls`: auto (default), on, off */
    char *http_cert_file;          /* `http.cert_file` / `key_file`: both or NULL (self-signed) */
    char *http_key_file;
    bool http_allow_plain; /* `http.allow_plain_http`: plain HTTP off loopback (default false) */
    struct config_device *devices;
    size_t device_count;
    struct strpool strings; /* every tag's path, unit and description */
    struct config_history history;
    struct config_north *north; /* the `north:` publishers */
    size_t north_count;
    bool write_gate_enabled; /* `write_gate: {enabled}`; default false: no write at all */
    /* `link:` (one-way mode); present false when absent */
    struct config_link link;
    struct config_monitor monitor; /* `monitor:` (docs/monitoring.md) */
};

/* Loads and validates path. On failure fills *err and returns false; *out is
 * then zeroed and needs no config_free. */
bool config_load(const char *path, struct config *out, struct config_error *err);
/* The same from a buffer; name is used in error positions. */
bool config_load_string(const char *text, size_t len, const char *name, struct config *out,
                        struct config_error *err);
void config_free(struct config *c);

/* Formats err as "file:line:col: message" (or "file: message"). */
void config_error_format(const struct config_error *err, char *buf, size_t len);

/* Which side of the one-way link a configuration is run as. */
enum config_link_side { CONFIG_LINK_NONE = 0, CONFIG_LINK_OT, CONFIG_LINK_IT };

/* Checks that c fits the side it is run as: OT needs link.destination and
 * devices; IT needs link.listen and no devices; NONE (`airlock run`) no link
 * section. False with err filled (file:line:col of the section or key). */
bool config_link_check(const struct config *c, enum config_link_side side,
                       struct config_error *err);

/* Total number of tags over every device and group. */
size_t config_tag_count(const struct config *c);

/* Fills c->history with its defaults (enabled, batched, no dir, no groups);
 * allocates nothing. config_load does this before reading the file. */
void config_history_defaults(struct config_history *h);

/* The historian's directory: history.dir when given, else
 * <data_dir>/history (so `--data DIR` moves it too). False when it does not
 * fit in buf. */
bool config_history_dir(const struct config *c, char *buf, size_t len);

/* A publisher's spool directory: spool.dir when given, else
 * <data_dir>/spool/<name>. False when it does not fit in buf. */
bool config_north_spool_dir(const struct config *c, const struct config_north *n, char *buf,
                            size_t len);

/* Parses an MQTT URL "mqtt://host[:port]" or "mqtts://host[:port]" into n
 * (host, port, tls). False with what was expected in why. Used by the
 * `url:` key and by `airlock run --mqtt`. */
bool config_north_parse_url(const char *url, struct config_north *n, char *why, size_t why_len);

/* Adds a publisher with every default (kind uns, or sparkplug with
 * group_id when group is not NULL) for `airlock run --mqtt URL
 * [--sparkplug GROUP]`, named "cli". False with why on a bad URL or out of
 * memory. */
bool config_north_add_cli(struct config *c, const char *url, const char *group, char *why,
                          size_t why_len);

/* Parses a duration: one or more <integer><unit> terms ("500ms", "90s",
 * "1h30m", "400d"), units ns, us, ms, s, m, h, d, w, y (365 d). Whitespace
 * is not allowed. False on anything else, on 0 terms and on overflow. */
bool config_duration_parse(const char *text, int64_t *ns);

/* Parses a size in bytes: <number>[ ]<unit>, unit B, KB, MB, GB, TB, PB
 * (powers of 1000) or KiB, MiB, GiB, TiB, PiB (powers of 1024), case
 * insensitive; a plain integer is bytes. "1.5GB" is allowed. False on
 * anything else or above 2^63. */
bool config_size_parse(const char *text, uint64_t *bytes);

#endif
