/*
 * node_meta.c - the data directory: creation, the single-process lock and
 * the persisted incarnation.
 *
 * Design notes.  SWIM tells a restarted member from its previous life by
 * its incarnation: a node that comes back must announce a higher number
 * than anything it said before, or peers would keep believing the old
 * "dead" news about it.  So the incarnation is persisted, and the next one
 * (stored + 1) is written *before* the node says anything: a crash at any
 * point cannot make the node reuse a number.  The write is atomic (tmp
 * file, fsync, rename, fsync of the directory), so node.meta is always
 * either the old or the new content.
 *
 * Refutations bump the incarnation at run time without touching disk (the
 * loop does no sync I/O); after a restart the core refutes again with a
 * higher number if peers remember a larger one.
 *
 * The LOCK file's flock is held for the life of the process: a second
 * shoald on the same directory would otherwise fight over node.meta and,
 * later, the journal.  flock is released by the kernel if the process dies,
 * so a kill -9 never leaves a stale lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "node_int.h"
#include "sh_err.h"

#define NODE_META_FILE "node.meta"
#define NODE_META_TMP "node.meta.tmp"
#define NODE_LOCK_FILE "LOCK"

static int meta_fail(int rc, char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int meta_fail(int rc, char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return rc;
}

/* mkdir -p: create each missing component of `dir`. */
static int meta_mkdirs(const char *dir)
{
    char p[CFG_PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return -ENAMETOOLONG;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(p, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int meta_lock(const char *dir, int *fd_out, char *err, size_t cap)
{
    char path[CFG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", dir, NODE_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return meta_fail(-errno, err, cap, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return meta_fail(SH_EBUSY, err, cap,
                             "data directory %s is in use by another shoald (lock held on %s)",
                             dir, path);
        return meta_fail(-e, err, cap, "cannot lock %s: %s", path, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

/* Read node.meta: 0 with *stored (0 if the file does not exist yet). */
static int meta_read(const char *dir, const char *id, uint32_t *stored, char *err, size_t cap)
{
    char path[CFG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", dir, NODE_META_FILE);
    *stored = 0;
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : meta_fail(-errno, err, cap, "cannot read %s: %s", path,
                                                strerror(errno));
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return meta_fail(SH_EMALFORMED, err, cap, "%s is not valid JSON: %s (line %d)", path,
                         je.text, je.line);
    const char *sid = json_string_value(json_object_get(j, "id"));
    json_t *jinc = json_object_get(j, "incarnation");
    int rc = 0;
    if (!sid || !json_is_integer(jinc) || json_integer_value(jinc) < 0 ||
        json_integer_value(jinc) > (json_int_t)UINT32_MAX)
        rc = meta_fail(SH_EMALFORMED, err, cap,
                       "%s must hold {\"id\": string, \"incarnation\": 0..%u}", path, UINT32_MAX);
    else if (strcmp(sid, id) != 0)
        rc = meta_fail(SH_ECONFLICT, err, cap,
                       "data directory %s belongs to node '%.63s', not '%s' (use another --data "
                       "or the same --id)", dir, sid, id);
    else
        *stored = (uint32_t)json_integer_value(jinc);
    json_decref(j);
    return rc;
}

/* Write node.meta atomically: tmp, fsync, rename, fsync(dir). */
static int meta_write(const char *dir, const char *id, uint32_t inc, char *err, size_t cap)
{
    char tmp[CFG_PATH_MAX + 16], dst[CFG_PATH_MAX + 16], text[256];
    snprintf(tmp, sizeof tmp, "%s/%s", dir, NODE_META_TMP);
    snprintf(dst, sizeof dst, "%s/%s", dir, NODE_META_FILE);
    json_t *j = json_pack("{s:s,s:I}", "id", id, "incarnation", (json_int_t)inc);
    size_t n = j ? json_dumpb(j, text, sizeof text - 1, JSON_COMPACT) : 0;
    json_decref(j);
    if (n == 0 || n >= sizeof text - 1)
        return meta_fail(SH_EINTERNAL, err, cap, "cannot encode %s", dst);
    text[n++] = '\n';
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return meta_fail(-errno, err, cap, "cannot create %s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, text, n);
    int rc = (w == (ssize_t)n && fsync(fd) == 0) ? 0 : -(errno ? errno : EIO);
    close(fd);
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -errno;
    if (rc != 0)
        return meta_fail(rc, err, cap, "cannot write %s: %s", dst, strerror(-rc));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: some file systems refuse it */
        close(dfd);
    }
    return 0;
}

int node_meta_open(const char *dir, const char *id, uint32_t *incarnation, int *lock_fd,
                   char *err, size_t errcap)
{
    *lock_fd = -1;
    int rc = meta_mkdirs(dir);
    if (rc != 0)
        return meta_fail(rc, err, errcap, "cannot create data directory %s: %s", dir,
                         strerror(-rc));
    int fd;
    if ((rc = meta_lock(dir, &fd, err, errcap)) != 0)
        return rc;
    uint32_t stored;
    if ((rc = meta_read(dir, id, &stored, err, errcap)) == 0) {
        if (stored == UINT32_MAX)
            rc = meta_fail(SH_EFULL, err, errcap, "incarnation exhausted in %s", dir);
        else
            rc = meta_write(dir, id, stored + 1, err, errcap);
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    *incarnation = stored + 1;
    *lock_fd = fd;
    return 0;
}
