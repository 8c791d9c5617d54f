/* The OT monitor's thread (see ot_monitor_start in ot_monitor.h): snapshots
 * of the stats registry once per window, the state file
 * <data_dir>/ot-baseline.json (loaded at start, written atomically when it
 * changes, loaded again when someone else changed or deleted it), and the
 * expiry of quiet event alerts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "monitor/ot_monitor.h"

#define STATE_MAX_BYTES (16u << 20) /* a state file larger than this is refused */

/* One device's snapshot with its own copies of the texts (the registry's
 * entries may be replaced by a reload as soon as its lock is released). */
struct snapshot_entry {
    char name[sizeof((struct device_stats *)0)->name];
    char identity[OT_MONITOR_IDENTITY_BYTES];
};

struct ot_monitor_runner {
    struct stats_registry *stats;
    struct alerts *alerts;
    struct ot_monitor *mon;
    char *path, *tmp_path, *dir;
    int64_t window_ns;
    /* The state file as we last wrote or read it, to notice other writers. */
    bool file_known;
    struct stat file_stat;
    struct ot_device_sample *samples;
    struct snapshot_entry *entries;
    size_t cap;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads the whole file at path (NUL-terminated) into *out. */
static bool read_file(const char *path, char **out, size_t *len, struct stat *st, char *err,
                      size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, st) != 0 || st->st_size < 0 || (uint64_t)st->st_size > STATE_MAX_BYTES) {
        snprintf(err, err_len, "%s: cannot read it or larger than %u bytes", path, STATE_MAX_BYTES);
        close(fd);
        return false;
    }
    size_t size = (size_t)st->st_size, got = 0;
    char *buf = malloc(size + 1);
    while (buf && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != size) {
        snprintf(err, err_len, "cannot read %s: %s", path, buf ? "short read" : "out of memory");
        free(buf);
        return false;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return true;
}

/* Loads the state file into the monitor. A missing file is no error. */
static bool load_state_file(struct ot_monitor_runner *r, int64_t now_ns, char *err, size_t err_len)
{
    struct stat st;
    if (stat(r->path, &st) != 0 && errno == ENOENT) return true;
    char *text = NULL;
    size_t len = 0;
    if (!read_file(r->path, &text, &len, &st, err, err_len)) return false;
    char why[256];
    bool ok = ot_monitor_load_state(r->mon, text, len, now_ns, why, sizeof why);
    free(text);
    r->file_stat = st;
    r->file_known = true;
    if (!ok) snprintf(err, err_len, "%s: %s", r->path, why);
    return ok;
}

static bool write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Writes the state: temporary file, fsync, rename over the old one, fsync
 * of the directory. */
static void save_state_file(struct ot_monitor_runner *r)
{
    char *text = ot_monitor_state_json(r->mon);
    if (!text) {
        log_warn("monitor", "out of memory writing the baseline state", NULL);
        return;
    }
    int fd = open(r->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok =
        fd >= 0 && write_all(fd, text, strlen(text)) && write_all(fd, "\n", 1) && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(r->tmp_path, r->path) != 0) {
        ok = false;
        e = errno;
    }
    free(text);
    if (!ok) {
        log_warn("monitor", "cannot write the baseline state", "file=%s error=\"%s\"", r->path,
                 strerror(e));
        unlink(r->tmp_path);
        return;
    }
    int dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    struct stat st;
    if (stat(r->path, &st) == 0) {
        r->file_stat = st;
        r->file_known = true;
    }
}

/* Notices a state file changed or deleted by someone else and applies it. */
static void follow_state_file(struct ot_monitor_runner *r, int64_t now_ns)
{
    struct stat st;
    if (stat(r->path, &st) != 0) {
        if (errno == ENOENT && r->file_known) {
            log_info("monitor", "baseline state deleted: learning every device again", "file=%s",
                     r->path);
            ot_monitor_reset_all(r->mon, now_ns);
            r->file_known = false;
        }
        return;
    }
    if (r->file_known && same_file(&st, &r->file_stat)) return;
    char err[384];
    if (load_state_file(r, now_ns, err, sizeof err))
        log_info("monitor", "baseline state reloaded after an outside change", "file=%s", r->path);
    else
        log_warn("monitor", "changed baseline state refused: keeping the one in memory",
                 "error=\"%s\"", err);
}

/* Copies every device's counters and texts under the registry lock. */
static bool snapshot(struct ot_monitor_runner *r, size_t *count)
{
    struct stats_registry *reg = r->stats;
    pthread_mutex_lock(&reg->lock);
    size_t n = reg->count;
    if (n > r->cap) {
        struct ot_device_sample *s = realloc(r->samples, n * sizeof *s);
        if (s) r->samples = s;
        struct snapshot_entry *e = s ? realloc(r->entries, n * sizeof *e) : NULL;
        if (e) r->entries = e;
        if (!s || !e) {
            pthread_mutex_unlock(&reg->lock);
            return false;
        }
        r->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        struct device_stats *d = &reg->devices[i];
        struct snapshot_entry *e = &r->entries[i];
        ot_device_sample_read(d, &r->samples[i], e->identity, sizeof e->identity);
        memcpy(e->name, d->name, sizeof e->name);
        e->name[sizeof e->name - 1] = '\0';
        r->samples[i].name = e->name;
    }
    pthread_mutex_unlock(&reg->lock);
    *count = n;
    return true;
}

static void tick(struct ot_monitor_runner *r)
{
    int64_t now = clock_now_ns();
    follow_state_file(r, now);
    size_t n = 0;
    if (!snapshot(r, &n) || !ot_monitor_observe(r->mon, r->samples, n, now))
        log_warn("monitor", "out of memory taking a snapshot", NULL);
    alerts_expire(r->alerts, now);
    if (ot_monitor_dirty(r->mon)) save_state_file(r);
}

static void *run(void *arg)
{
    struct ot_monitor_runner *r = arg;
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        pthread_mutex_unlock(&r->lock);
        tick(r);
        pthread_mutex_lock(&r->lock);
        int64_t ns = due.tv_nsec + r->window_ns;
        due.tv_sec += ns / 1000000000LL;
        due.tv_nsec = ns % 1000000000LL;
        while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &due) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void runner_free(struct ot_monitor_runner *r)
{
    ot_monitor_free(r->mon);
    free(r->samples);
    free(r->entries);
    free(r->path);
    free(r->tmp_path);
    free(r->dir);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
}

struct ot_monitor_runner *ot_monitor_start(struct stats_registry *stats, struct alerts *alerts,
                                           const char *data_dir,
                                           const struct ot_monitor_options *opt, char *err,
                                           size_t err_len)
{
    struct ot_monitor_options o;
    if (opt)
        o = *opt;
    else
        ot_monitor_options_default(&o);
    if (o.window_ns <= 0) o.window_ns = 10 * 1000000000LL;
    struct ot_monitor_runner *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    r->stats = stats;
    r->alerts = alerts;
    r->window_ns = o.window_ns;
    r->mon = ot_monitor_new(&o, alerts);
    r->dir = strdup(data_dir ? data_dir : "./data");
    if (r->dir && asprintf(&r->path, "%s/%s", r->dir, OT_MONITOR_STATE_FILE) < 0) r->path = NULL;
    if (r->dir && asprintf(&r->tmp_path, "%s/%s.tmp", r->dir, OT_MONITOR_STATE_FILE) < 0)
        r->tmp_path = NULL;
    if (!r->mon || !r->dir || !r->path || !r->tmp_path) {
        snprintf(err, err_len, "out of memory");
        runner_free(r);
        return NULL;
    }
    if (!fs_make_dirs(r->dir)) {
        snprintf(err, err_len, "cannot create %s: %s", r->dir, strerror(errno));
        runner_free(r);
        return NULL;
    }
    char why[384];
    if (!load_state_file(r, clock_now_ns(), why, sizeof why)) {
        snprintf(err, err_len, "OT monitor: %s (fix or delete the file to learn again)", why);
        runner_free(r);
        return NULL;
    }
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        snprintf(err, err_len, "cannot start the OT monitor thread");
        runner_free(r);
        return NULL;
    }
    log_info("monitor", "OT monitor started", "state=%s learning_s=%lld window_ms=%lld", r->path,
             (long long)(o.learning_ns / 1000000000LL), (long long)(o.window_ns / 1000000LL));
    return r;
}

void ot_monitor_stop(struct ot_monitor_runner *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    if (ot_monitor_dirty(r->mon)) save_state_file(r);
    runner_free(r);
}
