/*
 * ratelimiter.c - the built-in "ratelimiter" entity type: in memory only.
 *
 * Method:
 *   AllowRequest [{"limit":n,"windowMs":ms}]
 *     -> {"allowed":true,"remaining":r}
 *     -> {"allowed":false,"remaining":0,"retryAfterMs":d}   (status 0:
 *        a denial is an answer, not an error)
 *   limit in [1, RL_LIMIT_MAX] and windowMs in [1, RL_WINDOW_MS_MAX]
 *   override, per call, the defaults given to type_ratelimiter (the
 *   --ratelimit flags; 100 per hour).
 *
 * Algorithm: a FIXED window that opens at the first request after the
 * previous window ended (not aligned to the clock).  A window admits
 * `limit` requests; a denied request does not count.  We chose it over a
 * sliding log because its state is two integers whatever the limit (a
 * sliding log keeps one timestamp per admitted request: 100 per hour is
 * 800 bytes, 10^6 per day 8 MB), and over a sliding-window estimate
 * because its answers are exact, so a test or a client can predict them.
 * The price is the classic burst: up to 2 x limit requests can pass
 * around a window boundary.  A call that overrides windowMs measures the
 * current window with its own length.
 *
 * Time comes from shoal_turn_now_ms (the worker's monotonic clock at the
 * start of the turn), never from the clock, so the type is deterministic.
 * A time before the window's start (which only a different clock could
 * produce) opens a new window.
 *
 * Events (compact JSON): [now_ms, window_ms] for each admitted request;
 * apply opens a new window if that one has ended, then counts the
 * request.  The events carry the time so apply is deterministic.
 *
 * No snapshot/restore: the state is monotonic times of one node's clock,
 * meaningless anywhere else, and the type is not persistent: a
 * passivated or moved limiter starts afresh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"
#include "types_int.h"

#define RL_LIMIT_MAX 1000000000LL
#define RL_WINDOW_MS_MAX (366LL * 24 * 3600 * 1000) /* a year */

struct rl_defaults {
    unsigned limit;
    unsigned window_ms;
};

typedef struct rl {
    uint64_t start_ms; /* start of the current window; valid when count > 0 */
    uint64_t count;    /* requests admitted in the current window */
    uint32_t limit;    /* defaults, read from the type at create */
    uint32_t window_ms;
} rl_t;

static struct rl_defaults rl_cfg = {TYPE_RATELIMIT_LIMIT_DEFAULT,
                                    TYPE_RATELIMIT_WINDOW_MS_DEFAULT};

static int rl_create(void **state, const char *id, void *udata)
{
    const struct rl_defaults *d = udata;
    rl_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->limit = d->limit;
    r->window_ms = d->window_ms;
    *state = r;
    return 0;
}

static void rl_destroy(void *state, void *udata)
{
    free(state);
}

/* Whether a request at `now` falls outside the current window. */
static bool rl_window_over(const rl_t *r, uint64_t now, uint64_t window_ms)
{
    return r->count == 0 || now < r->start_ms || now - r->start_ms >= window_ms;
}

static int rl_allow(shoal_turn_t *t, const rl_t *r, const uint8_t *body, size_t len)
{
    json_t *req = NULL;
    int rc = type_json_body(t, body, len, true, &req);
    int64_t limit = 0, window = 0;
    if (rc == 0)
        rc = type_json_int(t, req, "limit", true, r->limit, 1, RL_LIMIT_MAX, &limit);
    if (rc == 0)
        rc = type_json_int(t, req, "windowMs", true, r->window_ms, 1, RL_WINDOW_MS_MAX,
                           &window);
    json_decref(req);
    if (rc < 0)
        return rc;
    uint64_t now = shoal_turn_now_ms(t);
    uint64_t used = rl_window_over(r, now, (uint64_t)window) ? 0 : r->count;
    char buf[96];
    int n;
    if (used >= (uint64_t)limit) {
        uint64_t retry = (uint64_t)window - (now - r->start_ms); /* >= 1 */
        n = snprintf(buf, sizeof buf, "{\"allowed\":false,\"remaining\":0,\"retryAfterMs\":%llu}",
                     (unsigned long long)retry);
    } else {
        char ev[48];
        int m = snprintf(ev, sizeof ev, "[%llu,%lld]", (unsigned long long)now,
                         (long long)window);
        rc = shoal_turn_emit(t, ev, (size_t)m);
        if (rc < 0)
            return shoal_turn_fail(t, rc, "out of memory");
        n = snprintf(buf, sizeof buf, "{\"allowed\":true,\"remaining\":%llu}",
                     (unsigned long long)((uint64_t)limit - used - 1));
    }
    rc = shoal_turn_reply(t, buf, (size_t)n);
    return rc < 0 ? shoal_turn_fail(t, rc, "out of memory") : 0;
}

static int rl_handle(shoal_turn_t *t, void *state, const char *method,
                     const uint8_t *body, size_t len)
{
    if (strcmp(method, "AllowRequest") == 0)
        return rl_allow(t, state, body, len);
    return type_unknown_method(t, "ratelimiter", method);
}

static int rl_apply(void *state, const uint8_t *event, size_t len, void *udata)
{
    rl_t *r = state;
    json_t *ev = type_json_load(event, len);
    json_t *now = json_array_get(ev, 0), *win = json_array_get(ev, 1);
    int rc = SHOAL_ECORRUPT;
    if (json_array_size(ev) == 2 && json_is_integer(now) && json_is_integer(win) &&
        json_integer_value(now) >= 0 && json_integer_value(win) >= 1 &&
        json_integer_value(win) <= RL_WINDOW_MS_MAX) {
        uint64_t t = (uint64_t)json_integer_value(now);
        if (rl_window_over(r, t, (uint64_t)json_integer_value(win))) {
            r->start_ms = t;
            r->count = 0;
        }
        r->count++;
        rc = 0;
    }
    json_decref(ev);
    return rc;
}

static shoal_entity_type_t rl_type = {
    .name = "ratelimiter",
    .persistent = false,
    .create = rl_create,
    .destroy = rl_destroy,
    .handle = rl_handle,
    .apply = rl_apply,
    .snapshot = NULL,
    .restore = NULL,
    .udata = &rl_cfg,
};

const shoal_entity_type_t *type_ratelimiter(unsigned limit, unsigned window_ms)
{
    rl_cfg.limit = limit ? limit : TYPE_RATELIMIT_LIMIT_DEFAULT;
    rl_cfg.window_ms = window_ms ? window_ms : TYPE_RATELIMIT_WINDOW_MS_DEFAULT;
    if (rl_cfg.limit > RL_LIMIT_MAX)
        rl_cfg.limit = RL_LIMIT_MAX;
    return &rl_type;
}
