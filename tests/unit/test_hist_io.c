/* Unit tests of the historian's I/O layer: the POSIX table (errors come
 * back in *err), the write/read loops, directory fsync, and the
 * fault-injection wrapper (armed failures, short writes, crashes, disarm,
 * call counters). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "historian/hist_alloc.h"
#include "historian/hist_io.h"
#include "testlib.h"

static char test_dir[64];

static void path_in_dir(char *out, size_t out_len, const char *name)
{
    snprintf(out, out_len, "%s/%s", test_dir, name);
}

/* Size of a file by path, -1 when missing. */
static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void test_posix_basics(void)
{
    const struct hist_io *io = hist_io_posix();
    char path[128], renamed[128], sub[128];
    path_in_dir(path, sizeof path, "a.bin");
    path_in_dir(renamed, sizeof renamed, "b.bin");
    path_in_dir(sub, sizeof sub, "sub");
    int err = 0;

    int fd = io->open(io, path, O_RDWR | O_CREAT | O_TRUNC, 0644, &err);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK(hist_io_write_all(io, fd, "hello, world", 12, &err));
    CHECK_EQ_INT(io->size(io, fd, &err), 12);
    char buf[16] = {0};
    CHECK(hist_io_pread_all(io, fd, buf, 5, 7, &err));
    CHECK(memcmp(buf, "world", 5) == 0);
    /* Reading past the end is EIO. */
    err = 0;
    CHECK(!hist_io_pread_all(io, fd, buf, 8, 8, &err));
    CHECK_EQ_INT(err, EIO);
    CHECK_EQ_INT(io->fsync(io, fd, &err), 0);
    CHECK_EQ_INT(io->ftruncate(io, fd, 5, &err), 0);
    CHECK_EQ_INT(io->size(io, fd, &err), 5);
    CHECK_EQ_INT(io->close(io, fd, &err), 0);

    CHECK_EQ_INT(io->rename(io, path, renamed, &err), 0);
    CHECK_EQ_INT(file_size(path), -1);
    CHECK_EQ_INT(file_size(renamed), 5);
    CHECK(hist_io_sync_dir(io, test_dir, &err));
    CHECK_EQ_INT(io->unlink(io, renamed, &err), 0);
    CHECK_EQ_INT(file_size(renamed), -1);

    CHECK_EQ_INT(io->mkdir(io, sub, 0755, &err), 0);
    err = 0;
    CHECK_EQ_INT(io->mkdir(io, sub, 0755, &err), -1);
    CHECK_EQ_INT(err, EEXIST);
    CHECK_EQ_INT(io->rmdir(io, sub, &err), 0);

    /* Errors come back in *err. */
    err = 0;
    CHECK_EQ_INT(io->open(io, renamed, O_RDONLY, 0, &err), -1);
    CHECK_EQ_INT(err, ENOENT);
    err = 0;
    CHECK_EQ_INT(io->unlink(io, renamed, &err), -1);
    CHECK_EQ_INT(err, ENOENT);
    err = 0;
    CHECK_EQ_INT(io->rename(io, renamed, path, &err), -1);
    CHECK_EQ_INT(err, ENOENT);
    err = 0;
    CHECK_EQ_INT(io->rmdir(io, sub, &err), -1);
    CHECK_EQ_INT(err, ENOENT);
    err = 0;
    CHECK(!hist_io_sync_dir(io, sub, &err));
    CHECK_EQ_INT(err, ENOENT);
    err = 0;
    CHECK_EQ_INT(io->write(io, -1, "x", 1, &err), -1);
    CHECK_EQ_INT(err, EBADF);
    err = 0;
    CHECK_EQ_INT(io->size(io, -1, &err), -1);
    CHECK_EQ_INT(err, EBADF);
    err = 0;
    CHECK_EQ_INT(io->fsync(io, -1, &err), -1);
    CHECK_EQ_INT(err, EBADF);
}

/* Opens a fresh file through io for writing. */
static int open_fresh(const struct hist_io *io, const char *name, char *path, size_t path_len)
{
    path_in_dir(path, path_len, name);
    int err = 0;
    return io->open(io, path, O_RDWR | O_CREAT | O_TRUNC, 0644, &err);
}

static void test_faults_armed(void)
{
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    CHECK(f != NULL);
    if (!f) return;
    const struct hist_io *io = hist_io_faults_io(f);
    CHECK(io->ctx == f);
    char path[128];
    int fd = open_fresh(io, "armed.bin", path, sizeof path);
    CHECK(fd >= 0);
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_OPEN), 1);

    /* Writes 2 and 3 from now fail with ENOSPC, then writing works again. */
    hist_io_faults_arm(f, HIST_IO_WRITE, 2, 2, ENOSPC);
    int err = 0;
    CHECK_EQ_INT(io->write(io, fd, "a", 1, &err), 1);
    err = 0;
    CHECK_EQ_INT(io->write(io, fd, "b", 1, &err), -1);
    CHECK_EQ_INT(err, ENOSPC);
    err = 0;
    CHECK(!hist_io_write_all(io, fd, "c", 1, &err));
    CHECK_EQ_INT(err, ENOSPC);
    CHECK_EQ_INT(io->write(io, fd, "d", 1, &err), 1);
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_WRITE), 4);
    CHECK_EQ_INT(file_size(path), 2);

    /* Every fsync fails until disarmed; other kinds are unaffected. */
    hist_io_faults_arm(f, HIST_IO_FSYNC, 1, UINT32_MAX, EIO);
    for (int i = 0; i < 3; i++) {
        err = 0;
        CHECK_EQ_INT(io->fsync(io, fd, &err), -1);
        CHECK_EQ_INT(err, EIO);
    }
    CHECK_EQ_INT(io->write(io, fd, "e", 1, &err), 1);
    hist_io_faults_disarm(f);
    CHECK_EQ_INT(io->fsync(io, fd, &err), 0);
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_FSYNC), 4);

    /* Reads, truncates, renames, unlinks and mkdirs can fail too. */
    char buf[4];
    hist_io_faults_arm(f, HIST_IO_PREAD, 1, 1, EIO);
    err = 0;
    CHECK(!hist_io_pread_all(io, fd, buf, 2, 0, &err));
    CHECK_EQ_INT(err, EIO);
    CHECK(hist_io_pread_all(io, fd, buf, 2, 0, &err));
    CHECK(memcmp(buf, "ad", 2) == 0);
    hist_io_faults_arm(f, HIST_IO_FTRUNCATE, 1, 1, EROFS);
    err = 0;
    CHECK_EQ_INT(io->ftruncate(io, fd, 0, &err), -1);
    CHECK_EQ_INT(err, EROFS);
    CHECK_EQ_INT(file_size(path), 3);
    hist_io_faults_arm(f, HIST_IO_RENAME, 1, 1, EXDEV);
    char other[128];
    path_in_dir(other, sizeof other, "armed2.bin");
    err = 0;
    CHECK_EQ_INT(io->rename(io, path, other, &err), -1);
    CHECK_EQ_INT(err, EXDEV);
    CHECK(file_size(path) == 3 && file_size(other) == -1);
    hist_io_faults_arm(f, HIST_IO_UNLINK, 1, 1, EACCES);
    err = 0;
    CHECK_EQ_INT(io->unlink(io, path, &err), -1);
    CHECK_EQ_INT(err, EACCES);
    CHECK_EQ_INT(file_size(path), 3);
    hist_io_faults_arm(f, HIST_IO_MKDIR, 1, 1, ENOSPC);
    path_in_dir(other, sizeof other, "armed-dir");
    err = 0;
    CHECK_EQ_INT(io->mkdir(io, other, 0755, &err), -1);
    CHECK_EQ_INT(err, ENOSPC);
    CHECK_EQ_INT(io->mkdir(io, other, 0755, &err), 0);
    CHECK_EQ_INT(io->rmdir(io, other, &err), 0);
    hist_io_faults_arm(f, HIST_IO_OPEN, 1, 1, EMFILE);
    err = 0;
    CHECK_EQ_INT(io->open(io, path, O_RDONLY, 0, &err), -1);
    CHECK_EQ_INT(err, EMFILE);

    CHECK_EQ_INT(io->close(io, fd, &err), 0);
    CHECK_EQ_INT(io->unlink(io, path, &err), 0);
    hist_io_faults_free(f);
}

static void test_faults_short_write(void)
{
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    if (!f) return;
    const struct hist_io *io = hist_io_faults_io(f);
    char path[128];
    int fd = open_fresh(io, "short.bin", path, sizeof path);
    int err = 0;
    hist_io_faults_short_write(f, 2);
    CHECK_EQ_INT(io->write(io, fd, "0123456789", 10, &err), 10);
    CHECK_EQ_INT(io->write(io, fd, "abcdefghij", 10, &err), 5);
    CHECK_EQ_INT(file_size(path), 15);
    /* One-shot: the next write is whole; write_all goes on after a short one. */
    CHECK_EQ_INT(io->write(io, fd, "ABCD", 4, &err), 4);
    hist_io_faults_short_write(f, 1);
    CHECK(hist_io_write_all(io, fd, "wxyz", 4, &err));
    CHECK_EQ_INT(file_size(path), 23);
    char buf[24] = {0};
    CHECK(hist_io_pread_all(io, fd, buf, 23, 0, &err));
    CHECK(memcmp(buf, "0123456789abcdeABCDwxyz", 23) == 0);
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_WRITE), 5);
    io->close(io, fd, &err);
    io->unlink(io, path, &err);
    hist_io_faults_free(f);
}

static void test_faults_crash(void)
{
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    if (!f) return;
    const struct hist_io *io = hist_io_faults_io(f);
    char path[128];
    int fd = open_fresh(io, "crash.bin", path, sizeof path);
    int err = 0;
    hist_io_faults_crash_after_writes(f, 2);
    CHECK_EQ_INT(io->write(io, fd, "one", 3, &err), 3);
    CHECK_EQ_INT(io->write(io, fd, "two", 3, &err), 3); /* the 2nd goes through */
    err = 0;
    CHECK_EQ_INT(io->write(io, fd, "three", 5, &err), -1);
    CHECK_EQ_INT(err, EIO);
    err = 0;
    CHECK_EQ_INT(io->fsync(io, fd, &err), -1);
    CHECK_EQ_INT(err, EIO);
    err = 0;
    CHECK_EQ_INT(io->open(io, path, O_RDONLY, 0, &err), -1);
    CHECK_EQ_INT(err, EIO);
    err = 0;
    CHECK_EQ_INT(io->size(io, fd, &err), -1);
    CHECK_EQ_INT(err, EIO);
    err = 0;
    CHECK_EQ_INT(io->unlink(io, path, &err), -1);
    CHECK_EQ_INT(err, EIO);
    err = 0;
    CHECK_EQ_INT(io->rmdir(io, test_dir, &err), -1);
    CHECK_EQ_INT(err, EIO);
    char buf[8];
    err = 0;
    CHECK_EQ_INT(io->pread(io, fd, buf, 3, 0, &err), -1);
    CHECK_EQ_INT(err, EIO);
    CHECK_EQ_INT(file_size(path), 6); /* only what went through before the crash */
    err = 0;
    CHECK_EQ_INT(io->close(io, fd, &err), -1); /* reported, but the descriptor is released */
    CHECK_EQ_INT(err, EIO);
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    /* Failed calls are counted too. */
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_WRITE), 3);
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_OPEN), 2);
    /* Power comes back. */
    hist_io_faults_disarm(f);
    CHECK_EQ_INT(io->unlink(io, path, &err), 0);
    hist_io_faults_free(f);
}

static void test_faults_alloc_failure(void)
{
    hist_alloc_fail_at(1, 1);
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    hist_alloc_fail_at(0, 0);
    CHECK(f == NULL);
    hist_io_faults_free(NULL);
}

int main(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/airlock-hist-io-XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_posix_basics();
    test_faults_armed();
    test_faults_short_write();
    test_faults_crash();
    test_faults_alloc_failure();
    if (rmdir(test_dir) != 0) {
        fprintf(stderr, "%s not empty after the tests\n", test_dir);
        test_checks_failed++;
    }
    return test_summary();
}
