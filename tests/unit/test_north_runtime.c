/* The publisher runtime (src/north/north.c) against a real mosquitto
 * started here on a free loopback port: live UNS messages arrive with the
 * right topics and payloads (and the retained metadata), and values
 * published while the broker is down go to the spool and arrive after it
 * restarts, each once, in order. A Sparkplug node's NBIRTH/DBIRTH/DDATA
 * are checked with our decoder. */
#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "north/north.h"
#include "north/spb_codec.h"
#include "testlib.h"

#define TEMP_PATH "acme/p1/area/line/cell/temp"
#define TEXT_PATH "acme/p1/area/line/cell/state"
#define MAX_MESSAGES 4096

/* --- The broker --- */

struct broker {
    char dir[256];
    char conf[300];
    int port;
    pid_t pid;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Persistence keeps the subscriber's session (and the messages queued for
 * it) across a broker restart. */
static bool broker_start(struct broker *b)
{
    FILE *f = fopen(b->conf, "w");
    if (!f) return false;
    fprintf(f,
            "listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
            "persistence_location %s/\nmax_queued_messages 0\nlog_dest none\n",
            b->port, b->dir);
    fclose(f);
    b->pid = fork();
    if (b->pid == 0) {
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        if (port_open(b->port)) return true;
        clock_sleep_until_ms(clock_mono_ms() + 10);
    }
    return false;
}

static void broker_stop(struct broker *b)
{
    if (b->pid <= 0) return;
    kill(b->pid, SIGTERM);
    waitpid(b->pid, NULL, 0);
    b->pid = 0;
}

/* --- A subscriber (libmosquitto, its own thread) --- */

struct received {
    char *topic;
    char *payload;
    int len;
    bool retained;
};

struct subscriber {
    struct mosquitto *mosq;
    pthread_mutex_t lock;
    struct received msgs[MAX_MESSAGES];
    size_t count;
    const char *filter;
};

static void sub_on_connect(struct mosquitto *m, void *arg, int rc)
{
    struct subscriber *s = arg;
    if (rc == 0) mosquitto_subscribe(m, NULL, s->filter, 1);
}

static void sub_on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    struct subscriber *s = arg;
    pthread_mutex_lock(&s->lock);
    if (s->count < MAX_MESSAGES) {
        struct received *r = &s->msgs[s->count++];
        r->topic = strdup(msg->topic);
        r->payload = malloc((size_t)msg->payloadlen + 1);
        memcpy(r->payload, msg->payload, (size_t)msg->payloadlen);
        r->payload[msg->payloadlen] = '\0';
        r->len = msg->payloadlen;
        r->retained = msg->retain;
    }
    pthread_mutex_unlock(&s->lock);
}

static bool subscriber_start(struct subscriber *s, int port, const char *id, const char *filter)
{
    pthread_mutex_init(&s->lock, NULL);
    s->filter = filter;
    s->mosq = mosquitto_new(id, false, s);
    mosquitto_connect_callback_set(s->mosq, sub_on_connect);
    mosquitto_message_callback_set(s->mosq, sub_on_message);
    mosquitto_reconnect_delay_set(s->mosq, 1, 1, false);
    if (mosquitto_connect(s->mosq, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) return false;
    return mosquitto_loop_start(s->mosq) == MOSQ_ERR_SUCCESS;
}

static void subscriber_stop(struct subscriber *s)
{
    mosquitto_disconnect(s->mosq);
    mosquitto_loop_stop(s->mosq, true);
    mosquitto_destroy(s->mosq);
    for (size_t i = 0; i < s->count; i++) {
        free(s->msgs[i].topic);
        free(s->msgs[i].payload);
    }
    pthread_mutex_destroy(&s->lock);
}

static size_t count_topic(struct subscriber *s, const char *topic)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->count; i++)
        n += strcmp(s->msgs[i].topic, topic) == 0;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static bool wait_topic_count(struct subscriber *s, const char *topic, size_t want, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (count_topic(s, topic) < want && clock_mono_ms() < deadline)
        clock_sleep_until_ms(clock_mono_ms() + 10);
    return count_topic(s, topic) >= want;
}

static bool wait_state(struct north *n, enum north_state want, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    struct north_status st;
    for (;;) {
        north_get_status(n, &st, 1);
        if (st.state == want) return true;
        if (clock_mono_ms() > deadline) return false;
        clock_sleep_until_ms(clock_mono_ms() + 10);
    }
}

/* --- The configuration and tag set --- */

struct fixture {
    struct config cfg;
    struct config_device device;
    struct config_north pub;
    struct tag_table tags;
    char spool_dir[300];
};

static void fixture_init(struct fixture *f, const char *dir, int port, bool sparkplug)
{
    memset(f, 0, sizeof *f);
    snprintf(f->spool_dir, sizeof f->spool_dir, "%s/spool", dir);
    f->device.name = "dev1";
    f->device.namespace_prefix = "acme/p1/area/line/cell";
    f->pub = (struct config_north){.name = "t",
                                   .kind = sparkplug ? CONFIG_NORTH_SPARKPLUG : CONFIG_NORTH_UNS,
                                   .host = "127.0.0.1",
                                   .port = (uint16_t)port,
                                   .protocol = 4,
                                   .keepalive_s = 10,
                                   .qos = 1,
                                   .prefix = "uns",
                                   .meta_prefix = "uns-meta",
                                   .group_id = "g1",
                                   .edge_node = "edge1",
                                   .spool_dir = f->spool_dir,
                                   .spool_max_bytes = 64 << 20};
    f->cfg.name = "gw";
    f->cfg.data_dir = (char *)dir;
    f->cfg.devices = &f->device;
    f->cfg.device_count = 1;
    f->cfg.north = &f->pub;
    f->cfg.north_count = 1;
    tag_table_init(&f->tags);
    struct tag t = {.type = VALUE_DOUBLE, .path = TEMP_PATH, .unit = "degC", .description = "T"};
    tag_table_add(&f->tags, &t);
    t = (struct tag){.type = VALUE_STRING, .path = TEXT_PATH, .unit = "", .description = ""};
    tag_table_add(&f->tags, &t);
}

/* Publishes temp = first..first+count-1, one batch per 10 values, with
 * timestamps 1 ms apart. */
static void publish_values(struct north *n, int first, int count)
{
    for (int i = first; i < first + count; i += 10) {
        struct sample_batch *b = sample_batch_new(10);
        for (int k = i; k < i + 10 && k < first + count; k++) {
            struct value v = value_double(k);
            sample_batch_add(b, 0, 1700000000000000000LL + (int64_t)k * 1000000, 0, &v);
        }
        north_publish(n, &b, 1);
        sample_batch_free(b);
    }
}

/* The values received on the temp topic, in arrival order. */
static size_t received_values(struct subscriber *s, const char *topic, double *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->count && n < cap; i++)
        if (strcmp(s->msgs[i].topic, topic) == 0 &&
            strncmp(s->msgs[i].payload, "{\"value\":", 9) == 0)
            out[n++] = strtod(s->msgs[i].payload + 9, NULL);
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void test_uns_live_and_outage(const char *dir)
{
    struct broker b = {.port = free_port()};
    snprintf(b.dir, sizeof b.dir, "%s", dir);
    snprintf(b.conf, sizeof b.conf, "%s/mosquitto.conf", dir);
    CHECK(b.port > 0 && broker_start(&b));
    struct subscriber *sub = calloc(1, sizeof *sub);
    CHECK(subscriber_start(sub, b.port, "test-sub-uns", "#"));

    struct fixture f;
    fixture_init(&f, dir, b.port, false);
    char err[512] = "";
    struct north *n = north_start(&f.cfg, &f.tags, err, sizeof err);
    CHECK(n != NULL);
    if (!n) {
        fprintf(stderr, "north_start: %s\n", err);
        return;
    }
    CHECK(wait_state(n, NORTH_CONNECTED, 10000));

    /* Live: a string with quotes, then 100 values. */
    struct sample_batch *batch = sample_batch_new(1);
    struct value text = {.type = VALUE_STRING};
    text.as.str.ptr = "run \"A\"";
    text.as.str.len = 7;
    sample_batch_add(batch, 1, 1700000000000000000LL, QUALITY_UNCERTAIN_LAST_USABLE_VALUE, &text);
    north_publish(n, &batch, 1);
    sample_batch_free(batch);
    publish_values(n, 0, 100);
    CHECK(wait_topic_count(sub, "uns/" TEMP_PATH, 100, 10000));
    CHECK(wait_topic_count(sub, "uns/" TEXT_PATH, 1, 10000));
    CHECK(wait_topic_count(sub, "uns-meta/" TEMP_PATH, 1, 10000));
    pthread_mutex_lock(&sub->lock);
    for (size_t i = 0; i < sub->count; i++) {
        const struct received *r = &sub->msgs[i];
        if (strcmp(r->topic, "uns/" TEXT_PATH) == 0)
            CHECK_STR(r->payload, "{\"value\":\"run \\\"A\\\"\",\"timestamp\":1700000000000,"
                                  "\"quality\":\"Uncertain_LastUsableValue\"}");
        if (strcmp(r->topic, "uns/" TEMP_PATH) == 0 && strstr(r->payload, "\"value\":0,"))
            CHECK_STR(r->payload, "{\"value\":0,\"timestamp\":1700000000000,\"quality\":\"Good\"}");
        if (strcmp(r->topic, "uns-meta/" TEMP_PATH) == 0)
            CHECK_STR(r->payload, "{\"path\":\"" TEMP_PATH "\",\"type\":\"double\",\"unit\":"
                                  "\"degC\",\"description\":\"T\",\"device\":\"dev1\"}");
    }
    pthread_mutex_unlock(&sub->lock);

    /* Outage: the broker goes away, values go to the spool. */
    broker_stop(&b);
    CHECK(wait_state(n, NORTH_DISCONNECTED, 10000) || wait_state(n, NORTH_CONNECTING, 1000));
    publish_values(n, 100, 100);
    struct north_status st;
    int64_t deadline = clock_mono_ms() + 10000;
    do {
        clock_sleep_until_ms(clock_mono_ms() + 10);
        north_get_status(n, &st, 1);
    } while (st.spooled < 100 && clock_mono_ms() < deadline);
    CHECK_EQ_INT(st.spooled, 100);
    CHECK(st.spool_bytes > 0);
    CHECK(st.last_error[0] != '\0');

    /* Back: the spool is replayed, then live values continue. */
    CHECK(broker_start(&b));
    CHECK(wait_state(n, NORTH_CONNECTED, 20000));
    publish_values(n, 200, 50);
    CHECK(wait_topic_count(sub, "uns/" TEMP_PATH, 250, 20000));
    clock_sleep_until_ms(clock_mono_ms() + 300); /* anything extra would show now */
    static double got[MAX_MESSAGES];
    size_t count = received_values(sub, "uns/" TEMP_PATH, got, MAX_MESSAGES);
    CHECK_EQ_INT(count, 250);
    bool in_order = true;
    for (size_t i = 0; i < count && i < 250; i++)
        if (got[i] != (double)i) in_order = false;
    CHECK(in_order);
    north_get_status(n, &st, 1);
    CHECK_EQ_INT(st.spooled, 0);
    CHECK(st.reconnects >= 1);
    CHECK_EQ_INT(st.dropped, 0);

    north_stop(n);
    subscriber_stop(sub);
    free(sub);
    broker_stop(&b);
    tag_table_clear(&f.tags);
}

/* Decodes the payload of the first message on topic; false when none. */
static bool decode_first(struct subscriber *s, const char *topic, struct spb_decoded *d)
{
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->count && !found; i++) {
        if (strcmp(s->msgs[i].topic, topic) != 0) continue;
        size_t skipped;
        char why[128];
        found = spb_decode((const uint8_t *)s->msgs[i].payload, (size_t)s->msgs[i].len, d, &skipped,
                           why, sizeof why);
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

static void test_sparkplug_birth_and_data(const char *dir)
{
    struct broker b = {.port = free_port()};
    snprintf(b.dir, sizeof b.dir, "%s", dir);
    snprintf(b.conf, sizeof b.conf, "%s/mosquitto.conf", dir);
    CHECK(b.port > 0 && broker_start(&b));
    struct subscriber *sub = calloc(1, sizeof *sub);
    CHECK(subscriber_start(sub, b.port, "test-sub-spb", "spBv1.0/#"));
    clock_sleep_until_ms(clock_mono_ms() + 200); /* subscribed before the BIRTH */

    struct fixture f;
    fixture_init(&f, dir, b.port, true);
    char err[512] = "";
    struct north *n = north_start(&f.cfg, &f.tags, err, sizeof err);
    CHECK(n != NULL);
    if (!n) return;
    CHECK(wait_state(n, NORTH_CONNECTED, 10000));
    publish_values(n, 0, 10);
    CHECK(wait_topic_count(sub, "spBv1.0/g1/DDATA/edge1/dev1", 1, 10000));
    struct spb_decoded d;
    CHECK(decode_first(sub, "spBv1.0/g1/NBIRTH/edge1", &d));
    if (d.metric_count) {
        CHECK(d.has_seq && d.seq == 0);
        bool has_bdseq = false, has_rebirth = false;
        for (size_t i = 0; i < d.metric_count; i++) {
            if (d.metrics[i].name && strcmp(d.metrics[i].name, "bdSeq") == 0) has_bdseq = true;
            if (d.metrics[i].name && strcmp(d.metrics[i].name, "Node Control/Rebirth") == 0)
                has_rebirth = d.metrics[i].type == VALUE_BOOL && !d.metrics[i].value.as.b;
        }
        CHECK(has_bdseq && has_rebirth);
        spb_decoded_free(&d);
    }
    CHECK(decode_first(sub, "spBv1.0/g1/DBIRTH/edge1/dev1", &d));
    if (d.metric_count) {
        CHECK(d.has_seq && d.seq == 1);
        CHECK_EQ_INT(d.metric_count, 2);
        CHECK_STR(d.metrics[0].name, "temp");
        CHECK(d.metrics[0].has_alias && d.metrics[0].alias == 1);
        CHECK(d.metrics[0].is_null);
        spb_decoded_free(&d);
    }
    CHECK(decode_first(sub, "spBv1.0/g1/DDATA/edge1/dev1", &d));
    if (d.metric_count) {
        CHECK(d.has_seq && d.seq == 2);
        CHECK_EQ_INT(d.metric_count, 10);
        CHECK(d.metrics[0].name == NULL && d.metrics[0].alias == 1);
        CHECK_EQ_DBL(d.metrics[9].value.as.f64, 9.0, 0);
        CHECK(!d.metrics[0].is_historical);
        spb_decoded_free(&d);
    }
    north_stop(n);
    /* A clean stop says goodbye with an NDEATH. */
    CHECK(wait_topic_count(sub, "spBv1.0/g1/NDEATH/edge1", 1, 5000));
    subscriber_stop(sub);
    free(sub);
    broker_stop(&b);
    tag_table_clear(&f.tags);
}

int main(void)
{
    if (access("/usr/sbin/mosquitto", X_OK) != 0) {
        fprintf(stderr, "mosquitto is not installed (scripts/setup.sh installs it)\n");
        return 1;
    }
    log_set_level(LOG_WARN);
    char dir1[] = "/tmp/airlock-north-XXXXXX", dir2[] = "/tmp/airlock-north-XXXXXX";
    CHECK(mkdtemp(dir1) != NULL);
    CHECK(mkdtemp(dir2) != NULL);
    test_uns_live_and_outage(dir1);
    test_sparkplug_birth_and_data(dir2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir1, dir2);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir1);
    return test_summary();
}
