/* The historian's file I/O layer (see hist_io.h): the POSIX table, the
 * write/read loops every caller uses, directory fsync, and the
 * fault-injection wrapper tests put between the historian and the disk. */
#include "historian/hist_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "historian/hist_alloc.h"

/* ---- the real file system ---- */

static int posix_open(const struct hist_io *io, const char *path, int flags, int mode, int *err)
{
    (void)io;
    for (;;) {
        int fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
        if (fd >= 0) return fd;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static ssize_t posix_write(const struct hist_io *io, int fd, const void *buf, size_t n, int *err)
{
    (void)io;
    for (;;) {
        ssize_t r = write(fd, buf, n);
        if (r >= 0) return r;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static ssize_t posix_pread(const struct hist_io *io, int fd, void *buf, size_t n, off_t off,
                           int *err)
{
    (void)io;
    for (;;) {
        ssize_t r = pread(fd, buf, n, off);
        if (r >= 0) return r;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static int posix_fsync(const struct hist_io *io, int fd, int *err)
{
    (void)io;
    for (;;) {
        if (fsync(fd) == 0) return 0;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static int posix_ftruncate(const struct hist_io *io, int fd, off_t len, int *err)
{
    (void)io;
    for (;;) {
        if (ftruncate(fd, len) == 0) return 0;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

/* close is not retried on EINTR: on Linux the descriptor is gone either way. */
static int posix_close(const struct hist_io *io, int fd, int *err)
{
    (void)io;
    if (close(fd) == 0 || errno == EINTR) return 0;
    *err = errno;
    return -1;
}

static int posix_rename(const struct hist_io *io, const char *from, const char *to, int *err)
{
    (void)io;
    for (;;) {
        if (rename(from, to) == 0) return 0;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static int posix_unlink(const struct hist_io *io, const char *path, int *err)
{
    (void)io;
    for (;;) {
        if (unlink(path) == 0) return 0;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static int posix_mkdir(const struct hist_io *io, const char *path, int mode, int *err)
{
    (void)io;
    for (;;) {
        if (mkdir(path, (mode_t)mode) == 0) return 0;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static int posix_rmdir(const struct hist_io *io, const char *path, int *err)
{
    (void)io;
    for (;;) {
        if (rmdir(path) == 0) return 0;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static off_t posix_size(const struct hist_io *io, int fd, int *err)
{
    (void)io;
    struct stat st;
    for (;;) {
        if (fstat(fd, &st) == 0) return st.st_size;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static const struct hist_io posix_io = {
    .open = posix_open,
    .write = posix_write,
    .pread = posix_pread,
    .fsync = posix_fsync,
    .ftruncate = posix_ftruncate,
    .close = posix_close,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .rmdir = posix_rmdir,
    .size = posix_size,
    .ctx = NULL,
};

const struct hist_io *hist_io_posix(void)
{
    return &posix_io;
}

/* ---- helpers over any table ---- */

bool hist_io_write_all(const struct hist_io *io, int fd, const void *buf, size_t n, int *err)
{
    const uint8_t *p = buf;
    while (n > 0) {
        int e = 0;
        ssize_t w = io->write(io, fd, p, n, &e);
        if (w < 0) {
            *err = e ? e : EIO;
            return false;
        }
        if (w == 0) { /* no progress and no error: the device is full */
            *err = ENOSPC;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

bool hist_io_pread_all(const struct hist_io *io, int fd, void *buf, size_t n, off_t off, int *err)
{
    uint8_t *p = buf;
    while (n > 0) {
        int e = 0;
        ssize_t r = io->pread(io, fd, p, n, off, &e);
        if (r < 0) {
            *err = e ? e : EIO;
            return false;
        }
        if (r == 0) { /* end of file before n bytes */
            *err = EIO;
            return false;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return true;
}

bool hist_io_sync_dir(const struct hist_io *io, const char *dir, int *err)
{
    int fd = io->open(io, dir, O_RDONLY | O_DIRECTORY, 0, err);
    if (fd < 0) return false;
    bool ok = io->fsync(io, fd, err) == 0;
    int close_err = 0;
    if (io->close(io, fd, &close_err) != 0 && ok) {
        *err = close_err;
        ok = false;
    }
    return ok;
}

/* ---- fault injection ---- */

/* One operation kind's armed failure: calls numbered fail_first ..
 * fail_first + fail_count - 1 (absolute call numbers, 1-based) fail. */
struct armed_failure {
    _Atomic uint32_t fail_first; /* 0 = not armed */
    _Atomic uint32_t fail_count;
    _Atomic int error;
};

/* A file opened for writing, for the power-loss simulation: what of it has
 * been fsync'd. Closed files stay (fd -1), found again by path. */
struct tracked_file {
    int fd;
    off_t synced; /* bytes known to be on disk */
    char path[PATH_MAX];
};

struct hist_io_faults {
    struct hist_io io; /* ctx points back here */
    const struct hist_io *inner;
    _Atomic uint32_t calls[HIST_IO_OP_COUNT];
    struct armed_failure armed[HIST_IO_OP_COUNT];
    _Atomic uint32_t short_write_at; /* absolute write number; 0 = none */
    _Atomic uint32_t crash_after;    /* absolute write number; 0 = none */
    _Atomic uint32_t power_cut_at;   /* absolute write number; 0 = none */
    _Atomic bool crashed;
    pthread_mutex_t files_lock;
    struct tracked_file *files;
    size_t file_count, file_capacity;
};

static struct hist_io_faults *faults_of(const struct hist_io *io)
{
    return (struct hist_io_faults *)io->ctx;
}

/* Counts a call of op (its 1-based number in *call_number when not NULL)
 * and says whether it must fail (and with what). */
static bool faults_count_call(struct hist_io_faults *f, enum hist_io_op op, int *err,
                              uint32_t *call_number)
{
    uint32_t call = atomic_fetch_add(&f->calls[op], 1) + 1;
    if (call_number) *call_number = call;
    if (atomic_load(&f->crashed)) {
        *err = EIO;
        return true;
    }
    struct armed_failure *a = &f->armed[op];
    uint32_t first = atomic_load(&a->fail_first);
    if (first == 0 || call < first) return false;
    uint32_t count = atomic_load(&a->fail_count);
    if (count != UINT32_MAX && call - first >= count) return false;
    *err = atomic_load(&a->error);
    return true;
}

/* Calls outside the counted kinds (close, rmdir, size) fail only after a crash. */
static bool faults_crashed(struct hist_io_faults *f, int *err)
{
    if (!atomic_load(&f->crashed)) return false;
    *err = EIO;
    return true;
}

/* ---- power-loss bookkeeping (files_lock held) ---- */

static struct tracked_file *tracked_by_fd(struct hist_io_faults *f, int fd)
{
    for (size_t i = 0; i < f->file_count; i++)
        if (f->files[i].fd == fd) return &f->files[i];
    return NULL;
}

static void untrack_path(struct hist_io_faults *f, const char *path)
{
    for (size_t i = 0; i < f->file_count;)
        if (strcmp(f->files[i].path, path) == 0 && f->files[i].fd < 0)
            f->files[i] = f->files[--f->file_count];
        else
            i++;
}

/* Starts tracking fd (opened for writing at path); synced is what the file
 * held when opened (a file opened is taken as on disk until written). */
static void track(struct hist_io_faults *f, int fd, const char *path, off_t synced)
{
    pthread_mutex_lock(&f->files_lock);
    untrack_path(f, path);
    if (f->file_count == f->file_capacity) {
        size_t cap = f->file_capacity ? f->file_capacity * 2 : 32;
        struct tracked_file *grown = realloc(f->files, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&f->files_lock);
            return; /* test-only bookkeeping: untracked files are simply not cut */
        }
        f->files = grown;
        f->file_capacity = cap;
    }
    struct tracked_file *t = &f->files[f->file_count++];
    t->fd = fd;
    t->synced = synced;
    snprintf(t->path, sizeof t->path, "%s", path);
    pthread_mutex_unlock(&f->files_lock);
}

/* The power goes out: every tracked file loses what was not fsync'd (is
 * cut back to its synced size), and from now on every call fails with EIO.
 * Directory changes (creates, renames, unlinks) are kept: the model is a
 * file system that journals metadata but not data. */
static void power_cut(struct hist_io_faults *f)
{
    pthread_mutex_lock(&f->files_lock);
    for (size_t i = 0; i < f->file_count; i++) {
        struct tracked_file *t = &f->files[i];
        int e;
        if (t->fd >= 0) {
            f->inner->ftruncate(f->inner, t->fd, t->synced, &e);
        } else {
            int fd = f->inner->open(f->inner, t->path, O_WRONLY, 0, &e);
            if (fd >= 0) {
                f->inner->ftruncate(f->inner, fd, t->synced, &e);
                f->inner->close(f->inner, fd, &e);
            }
        }
    }
    atomic_store(&f->crashed, true);
    pthread_mutex_unlock(&f->files_lock);
}

static int faults_open(const struct hist_io *io, const char *path, int flags, int mode, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_count_call(f, HIST_IO_OPEN, err, NULL)) return -1;
    int fd = f->inner->open(f->inner, path, flags, mode, err);
    if (fd >= 0 && (flags & (O_WRONLY | O_RDWR))) {
        int e;
        off_t size = f->inner->size(f->inner, fd, &e);
        track(f, fd, path, size > 0 ? size : 0);
    }
    return fd;
}

static ssize_t faults_write(const struct hist_io *io, int fd, const void *buf, size_t n, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    uint32_t call = 0;
    if (faults_count_call(f, HIST_IO_WRITE, err, &call)) return -1;
    uint32_t cut_at = atomic_load(&f->power_cut_at);
    if (cut_at != 0 && call >= cut_at) {
        power_cut(f);
        *err = EIO;
        return -1;
    }
    size_t to_write = n;
    uint32_t short_at = atomic_load(&f->short_write_at);
    if (short_at != 0 && call == short_at) {
        atomic_store(&f->short_write_at, 0);
        to_write = n / 2;
        if (to_write == 0) return 0;
    }
    ssize_t written = f->inner->write(f->inner, fd, buf, to_write, err);
    uint32_t crash_at = atomic_load(&f->crash_after);
    if (crash_at != 0 && call >= crash_at) atomic_store(&f->crashed, true);
    return written;
}

static ssize_t faults_pread(const struct hist_io *io, int fd, void *buf, size_t n, off_t off,
                            int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_count_call(f, HIST_IO_PREAD, err, NULL)) return -1;
    return f->inner->pread(f->inner, fd, buf, n, off, err);
}

static int faults_fsync(const struct hist_io *io, int fd, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_count_call(f, HIST_IO_FSYNC, err, NULL)) return -1;
    int r = f->inner->fsync(f->inner, fd, err);
    if (r == 0) {
        int e;
        off_t size = f->inner->size(f->inner, fd, &e);
        pthread_mutex_lock(&f->files_lock);
        struct tracked_file *t = tracked_by_fd(f, fd);
        if (t && size >= 0) t->synced = size;
        pthread_mutex_unlock(&f->files_lock);
    }
    return r;
}

static int faults_ftruncate(const struct hist_io *io, int fd, off_t len, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_count_call(f, HIST_IO_FTRUNCATE, err, NULL)) return -1;
    int r = f->inner->ftruncate(f->inner, fd, len, err);
    if (r == 0) {
        pthread_mutex_lock(&f->files_lock);
        struct tracked_file *t = tracked_by_fd(f, fd);
        if (t && len < t->synced) t->synced = len;
        pthread_mutex_unlock(&f->files_lock);
    }
    return r;
}

/* After a crash the descriptor is still released (so tests do not leak
 * descriptors), but the call reports EIO like every other. */
static int faults_close(const struct hist_io *io, int fd, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    pthread_mutex_lock(&f->files_lock);
    struct tracked_file *t = tracked_by_fd(f, fd);
    if (t) t->fd = -1;
    pthread_mutex_unlock(&f->files_lock);
    int inner_err = 0;
    int r = f->inner->close(f->inner, fd, &inner_err);
    if (faults_crashed(f, err)) return -1;
    if (r != 0) *err = inner_err;
    return r;
}

static int faults_rename(const struct hist_io *io, const char *from, const char *to, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_count_call(f, HIST_IO_RENAME, err, NULL)) return -1;
    int r = f->inner->rename(f->inner, from, to, err);
    if (r == 0) {
        pthread_mutex_lock(&f->files_lock);
        untrack_path(f, to);
        for (size_t i = 0; i < f->file_count; i++)
            if (strcmp(f->files[i].path, from) == 0)
                snprintf(f->files[i].path, sizeof f->files[i].path, "%s", to);
        pthread_mutex_unlock(&f->files_lock);
    }
    return r;
}

static int faults_unlink(const struct hist_io *io, const char *path, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_count_call(f, HIST_IO_UNLINK, err, NULL)) return -1;
    int r = f->inner->unlink(f->inner, path, err);
    if (r == 0) {
        pthread_mutex_lock(&f->files_lock);
        untrack_path(f, path);
        pthread_mutex_unlock(&f->files_lock);
    }
    return r;
}

static int faults_mkdir(const struct hist_io *io, const char *path, int mode, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_count_call(f, HIST_IO_MKDIR, err, NULL)) return -1;
    return f->inner->mkdir(f->inner, path, mode, err);
}

static int faults_rmdir(const struct hist_io *io, const char *path, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_crashed(f, err)) return -1;
    return f->inner->rmdir(f->inner, path, err);
}

static off_t faults_size(const struct hist_io *io, int fd, int *err)
{
    struct hist_io_faults *f = faults_of(io);
    if (faults_crashed(f, err)) return -1;
    return f->inner->size(f->inner, fd, err);
}

struct hist_io_faults *hist_io_faults_new(const struct hist_io *inner)
{
    struct hist_io_faults *f = hist_calloc(1, sizeof(*f));
    if (!f) return NULL;
    f->inner = inner;
    f->io = (struct hist_io){
        .open = faults_open,
        .write = faults_write,
        .pread = faults_pread,
        .fsync = faults_fsync,
        .ftruncate = faults_ftruncate,
        .close = faults_close,
        .rename = faults_rename,
        .unlink = faults_unlink,
        .mkdir = faults_mkdir,
        .rmdir = faults_rmdir,
        .size = faults_size,
        .ctx = f,
    };
    for (int op = 0; op < HIST_IO_OP_COUNT; op++) {
        atomic_init(&f->calls[op], 0);
        atomic_init(&f->armed[op].fail_first, 0);
        atomic_init(&f->armed[op].fail_count, 0);
        atomic_init(&f->armed[op].error, 0);
    }
    atomic_init(&f->short_write_at, 0);
    atomic_init(&f->crash_after, 0);
    atomic_init(&f->power_cut_at, 0);
    atomic_init(&f->crashed, false);
    pthread_mutex_init(&f->files_lock, NULL);
    return f;
}

void hist_io_faults_free(struct hist_io_faults *f)
{
    if (!f) return;
    free(f->files);
    pthread_mutex_destroy(&f->files_lock);
    hist_free(f);
}

void hist_io_faults_power_cut_after_writes(struct hist_io_faults *f, uint32_t nth)
{
    if (nth == 0) {
        power_cut(f);
        return;
    }
    atomic_store(&f->power_cut_at, atomic_load(&f->calls[HIST_IO_WRITE]) + nth);
}

const struct hist_io *hist_io_faults_io(struct hist_io_faults *f)
{
    return &f->io;
}

void hist_io_faults_arm(struct hist_io_faults *f, enum hist_io_op op, uint32_t fail_from,
                        uint32_t fail_count, int error)
{
    if ((unsigned)op >= HIST_IO_OP_COUNT) return;
    struct armed_failure *a = &f->armed[op];
    if (fail_from == 0) fail_from = 1;
    atomic_store(&a->fail_first, 0); /* disarmed while the fields change */
    atomic_store(&a->fail_count, fail_count);
    atomic_store(&a->error, error ? error : EIO);
    atomic_store(&a->fail_first, atomic_load(&f->calls[op]) + fail_from);
}

void hist_io_faults_short_write(struct hist_io_faults *f, uint32_t nth)
{
    if (nth == 0) nth = 1;
    atomic_store(&f->short_write_at, atomic_load(&f->calls[HIST_IO_WRITE]) + nth);
}

void hist_io_faults_crash_after_writes(struct hist_io_faults *f, uint32_t nth)
{
    if (nth == 0) {
        atomic_store(&f->crashed, true);
        return;
    }
    atomic_store(&f->crash_after, atomic_load(&f->calls[HIST_IO_WRITE]) + nth);
}

void hist_io_faults_disarm(struct hist_io_faults *f)
{
    for (int op = 0; op < HIST_IO_OP_COUNT; op++)
        atomic_store(&f->armed[op].fail_first, 0);
    atomic_store(&f->short_write_at, 0);
    atomic_store(&f->crash_after, 0);
    atomic_store(&f->power_cut_at, 0);
    atomic_store(&f->crashed, false);
}

uint32_t hist_io_faults_calls(struct hist_io_faults *f, enum hist_io_op op)
{
    if ((unsigned)op >= HIST_IO_OP_COUNT) return 0;
    return atomic_load(&f->calls[op]);
}
