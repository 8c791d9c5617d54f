/* The historian's file I/O: every read, write, sync, rename and delete goes
 * through one of these tables, so tests can inject errors (EIO, ENOSPC,
 * short writes) and simulated crashes without touching the rest.
 *
 * Functions return what the POSIX call does (-1 with the error in *err
 * rather than errno, so a caller never depends on errno surviving other
 * calls). hist_io_posix() is the real file system. */
#ifndef AIRLOCK_HISTORIAN_HIST_IO_H
#define AIRLOCK_HISTORIAN_HIST_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hist_io {
    int (*open)(const struct hist_io *io, const char *path, int flags, int mode, int *err);
    ssize_t (*write)(const struct hist_io *io, int fd, const void *buf, size_t n, int *err);
    ssize_t (*pread)(const struct hist_io *io, int fd, void *buf, size_t n, off_t off, int *err);
    int (*fsync)(const struct hist_io *io, int fd, int *err);
    int (*ftruncate)(const struct hist_io *io, int fd, off_t len, int *err);
    int (*close)(const struct hist_io *io, int fd, int *err);
    int (*rename)(const struct hist_io *io, const char *from, const char *to, int *err);
    int (*unlink)(const struct hist_io *io, const char *path, int *err);
    int (*mkdir)(const struct hist_io *io, const char *path, int mode, int *err);
    int (*rmdir)(const struct hist_io *io, const char *path, int *err);
    /* Size of an open file; -1 on error. */
    off_t (*size)(const struct hist_io *io, int fd, int *err);
    void *ctx; /* for wrappers */
};

/* The real file system. */
const struct hist_io *hist_io_posix(void);

/* Writes all of buf (looping over short writes). False with *err set on
 * failure (a short write that cannot continue is ENOSPC or the error seen). */
bool hist_io_write_all(const struct hist_io *io, int fd, const void *buf, size_t n, int *err);
/* Reads exactly n bytes at off. False with *err (EIO for a file too short). */
bool hist_io_pread_all(const struct hist_io *io, int fd, void *buf, size_t n, off_t off, int *err);
/* fsyncs the directory dir (after a create, rename or unlink in it). */
bool hist_io_sync_dir(const struct hist_io *io, const char *dir, int *err);

/* ---- fault injection (tests) ---- */

enum hist_io_op {
    HIST_IO_OPEN = 0,
    HIST_IO_WRITE,
    HIST_IO_PREAD,
    HIST_IO_FSYNC,
    HIST_IO_FTRUNCATE,
    HIST_IO_RENAME,
    HIST_IO_UNLINK,
    HIST_IO_MKDIR,
    HIST_IO_OP_COUNT,
};

/* A wrapper over another hist_io that, per operation kind, fails calls
 * number fail_from .. fail_from + fail_count - 1 (1-based, counted from
 * arming) with the error given; writes may instead be cut short. A "crash"
 * makes every call after the given write fail with EIO, as if power went
 * out after what reached the file system. All counters are atomic: the
 * historian's background thread may be calling too. */
struct hist_io_faults;

struct hist_io_faults *hist_io_faults_new(const struct hist_io *inner);
void hist_io_faults_free(struct hist_io_faults *f);
/* The table to give the historian. */
const struct hist_io *hist_io_faults_io(struct hist_io_faults *f);
/* Fails calls fail_from.. of op (fail_count of them; UINT32_MAX = all). */
void hist_io_faults_arm(struct hist_io_faults *f, enum hist_io_op op, uint32_t fail_from,
                        uint32_t fail_count, int error);
/* Makes the nth write from now write only half its bytes (and report so). */
void hist_io_faults_short_write(struct hist_io_faults *f, uint32_t nth);
/* After the nth write from now, every call fails with EIO. */
void hist_io_faults_crash_after_writes(struct hist_io_faults *f, uint32_t nth);
/* Simulated power loss: at the nth write from now (or at once when nth is
 * 0) every file written through the wrapper is cut back to what was last
 * fsync'd (files never fsync'd lose everything written), the write and
 * every later call fail with EIO. Creates, renames and unlinks are kept (a
 * file system that journals metadata, not data). */
void hist_io_faults_power_cut_after_writes(struct hist_io_faults *f, uint32_t nth);
/* Clears every armed fault (space came back). */
void hist_io_faults_disarm(struct hist_io_faults *f);
/* Calls of op made so far (failed ones included). */
uint32_t hist_io_faults_calls(struct hist_io_faults *f, enum hist_io_op op);

#endif
