/*
 * sh_err.h - the one error table of Shoal.
 *
 * Design notes.  Every failure that can reach a client or cross a module
 * boundary is a negative int.  OS failures are -errno (small magnitudes);
 * Shoal's own codes live in their own range (-9001 .. -9099) so the two
 * never overlap (libuv / LMDB style).  Each row names the stable API code
 * that clients see ("busy"), the HTTP status it maps to, and whether a
 * client may retry the call unchanged.
 */
#ifndef SH_ERR_H
#define SH_ERR_H

#include <stdbool.h>

/* X(NAME, number, api_code, http_status, retryable, text): SH_E<NAME> = -(9000 + number).
 * Numbers are part of the public C API (include/shoal/error.h): never reuse one. */
#define SH_ERR_MAP(X)                                                          \
    X(BAD_REQUEST, 1, "bad_request", 400, false, "malformed or invalid request")  \
    X(NOT_FOUND, 2, "not_found", 404, false, "no such resource")                  \
    X(CONFLICT, 3, "conflict", 409, false, "conflicts with current state")        \
    X(BUSY, 4, "busy", 429, true, "mailbox or queue full")                        \
    X(UNAVAILABLE, 5, "unavailable", 503, true, "temporarily unavailable")        \
    X(TIMEOUT, 6, "timeout", 504, true, "deadline expired")                       \
    X(INTERNAL, 7, "internal", 500, false, "internal error")                      \
    X(MALFORMED, 8, "bad_request", 400, false, "malformed frame")                 \
    X(TOO_BIG, 9, "bad_request", 400, false, "size limit exceeded")               \
    X(AUTH, 10, "unavailable", 503, false, "authentication failed")                \
    X(CLUSTER, 11, "unavailable", 503, false, "cluster name or shard count mismatch") \
    X(VERSION, 12, "bad_request", 400, false, "unsupported protocol version")      \
    X(NOMEM, 13, "internal", 500, true, "out of memory")                           \
    X(CLOSED, 14, "unavailable", 503, true, "closed or shutting down")             \
    X(FULL, 15, "busy", 429, true, "queue or table full")                          \
    X(EXISTS, 16, "conflict", 409, false, "already exists")                       \
    X(CORRUPT, 17, "internal", 500, false, "entity state corrupt")                \
    X(NOSPACE, 18, "unavailable", 503, true, "journal full: disk or map limit")     \
    X(SEQ, 19, "unavailable", 503, true, "journal sequence conflict")

enum sh_err {
#define SH_ERR_ENUM_(name, num, code, http, retry, text) SH_E##name = -(9000 + (num)),
    SH_ERR_MAP(SH_ERR_ENUM_)
#undef SH_ERR_ENUM_
};

/* "SH_EBUSY: mailbox or queue full"; for -errno, "ENOENT: strerror text". */
const char *sh_strerror(int err);
/* The stable API code clients see: "busy", "timeout", ...  -errno maps to "internal". */
const char *sh_err_name(int err);
/* HTTP status for the code; 500 for anything unknown. */
int sh_err_http(int err);
/* True if a client may retry the same call unchanged. */
bool sh_err_retryable(int err);

#endif
