/*
 * swim_io.c - lifecycle and loop plumbing of the SWIM adapter; see swim_io.h.
 *
 * Design notes.  The adapter is deliberately thin: it translates between
 * the core's (now, event) inputs / outbox and the world, and bridges
 * threads.  nng's threads (tp's receive and peer-down callbacks) only copy
 * the input into a heap message, push it on a bounded MPSC queue and wake
 * the loop with uv_async_send; libuv coalesces wakeups, so the async
 * callback drains the whole queue.  On the loop, after *each* input the
 * outbox is drained (sends are framed and queued on the transport, events
 * are logged) so one large batch of inputs cannot overflow the core's
 * bounded outbox, and the one timer is re-armed to swim_next_deadline().
 *
 * Time: now_ms is CLOCK_MONOTONIC in ms (sh_time_mono_ms), which never goes
 * backwards, as the core requires.
 *
 * What it does not do: no retry of failed sends (SWIM tolerates loss, and
 * the core re-probes), no persistence of refutation incarnations (the
 * start-up incarnation is persisted by node_meta before the loop runs).
 */
#include "swim_io_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "sh_log.h"
#include "sh_time.h"

static const char *const swim_io_drop_names[] = {
#define SWIM_IO_DROP_NAME_(name, label) label,
    SWIM_IO_DROP_MAP(SWIM_IO_DROP_NAME_)
#undef SWIM_IO_DROP_NAME_
};

const char *swim_io_drop_name(int reason)
{
    if (reason < 0 || reason >= SWIM_IO_DROP_COUNT)
        return "?";
    return swim_io_drop_names[reason];
}

/* ---- nng threads ----------------------------------------------------- */

static void swim_io_post(swim_io_t *io, swim_io_msg_t *m)
{
    if (sh_mpsc_push(&io->inbox, m) != 0) {
        __atomic_fetch_add(&io->inbox_full_atomic, 1, __ATOMIC_RELAXED);
        free(m->frame);
        free(m);
        return;
    }
    /* Before the handles exist, swim_io_new signals once itself. */
    if (__atomic_load_n(&io->ready, __ATOMIC_SEQ_CST))
        uv_async_send(&io->async);
}

static void swim_io_on_recv(void *udata, uint8_t *frame, size_t len)
{
    swim_io_t *io = udata;
    __atomic_fetch_add(&io->frames_in_atomic, 1, __ATOMIC_RELAXED);
    swim_io_msg_t *m = calloc(1, sizeof *m);
    if (!m) {
        __atomic_fetch_add(&io->inbox_full_atomic, 1, __ATOMIC_RELAXED);
        free(frame);
        return;
    }
    m->kind = SWIM_IO_MSG_FRAME;
    m->frame = frame;
    m->len = len;
    swim_io_post(io, m);
}

static void swim_io_on_peer_down(void *udata, const char *addr)
{
    swim_io_t *io = udata;
    swim_io_msg_t *m = calloc(1, sizeof *m);
    if (!m)
        return; /* only a hint: the probe timeout still catches the peer */
    m->kind = SWIM_IO_MSG_DOWN;
    snprintf(m->addr, sizeof m->addr, "%s", addr);
    swim_io_post(io, m);
}

/* ---- outputs --------------------------------------------------------- */

static void swim_io_timer_cb(uv_timer_t *t);

static void swim_io_rearm(swim_io_t *io)
{
    uint64_t deadline = swim_next_deadline(io->core);
    if (deadline == UINT64_MAX) {
        uv_timer_stop(&io->timer);
        return;
    }
    uint64_t now = sh_time_mono_ms();
    /* If libuv fires a little early (its clock is cached per iteration),
     * swim_tick finds nothing due and we simply re-arm for the rest. */
    uv_timer_start(&io->timer, swim_io_timer_cb, deadline > now ? deadline - now : 0, 0);
}

static void swim_io_event(swim_io_t *io, const swim_out_t *o)
{
    const swim_member_view_t *m = &o->member;
    static const char *const ev_by_state[] = {"member_alive", "member_suspect",
                                              "member_dead", "member_left"};
    const char *ev = (m->state <= SWIM_LEFT) ? ev_by_state[m->state] : "member_changed";
    if (o->is_new && m->state == SWIM_ALIVE)
        ev = "member_joined";
    char id[SWIM_ID_MAX], addr[SWIM_ADDR_MAX];
    swim_io_safe(id, sizeof id, m->id, false);
    swim_io_safe(addr, sizeof addr, m->addr, false);
    sh_log(m->state == SWIM_DEAD ? SH_LOG_WARN : SH_LOG_INFO, ev,
           "id=%s addr=%s incarnation=%u state=%s old=%s", id, addr, m->incarnation,
           swim_state_name(m->state), o->is_new ? "none" : swim_state_name(o->old_state));
    if (!io->joined && m->state == SWIM_ALIVE && strcmp(m->id, io->self_id) != 0) {
        io->joined = true;
        SH_LOGI("joined", "via=%s addr=%s", id, addr);
    }
    if (io->on_member)
        io->on_member(io->handler_udata, m, o->old_state, o->is_new);
}

/* Drain the core's outbox, then re-arm the timer.  Runs after every input. */
static void swim_io_pump(swim_io_t *io)
{
    swim_out_t out;
    while (swim_next_output(io->core, &out) == 1) {
        if (out.kind == SWIM_OUT_SEND) {
            swim_io_send_frame(io, WIRE_KIND_SWIM, out.to_addr, out.payload, out.len);
            free(out.payload);
        } else if (out.kind == SWIM_OUT_EVENT) {
            swim_io_event(io, &out);
        }
    }
    swim_io_rearm(io);
}

void swim_io_send_frame(swim_io_t *io, uint8_t kind, const char *to,
                        const uint8_t *payload, size_t len)
{
    (void)swim_io_send(io, kind, to, 0, 0, payload, len);
}

int swim_io_send(swim_io_t *io, uint8_t kind, const char *to, uint64_t corr_id,
                 uint64_t deadline_wall_ms, const uint8_t *payload, size_t len)
{
    wire_hdr_t h;
    memset(&h, 0, sizeof h);
    h.version = WIRE_VERSION;
    h.kind = kind;
    h.corr_id = corr_id;
    h.deadline_ms = deadline_wall_ms;
    snprintf(h.src_id, sizeof h.src_id, "%s", io->self_id);
    snprintf(h.src_addr, sizeof h.src_addr, "%s", io->advertise);
    snprintf(h.cluster, sizeof h.cluster, "%s", io->cluster);
    h.shards = io->shards;
    uint8_t *buf = NULL;
    size_t blen = 0;
    int rc = wire_encode(&io->key, &io->lim, &h, payload, len, &buf, &blen);
    if (rc != 0) {
        io->ctr.dropped[SWIM_IO_DROP_SEND_ERROR]++;
        if (swim_io_rate_allow(io->bad_rl, SWIM_IO_RATE_SLOTS, "encode", sh_time_mono_ms(),
                               SWIM_IO_REFUSE_INTERVAL_MS))
            SH_LOGE("frame_encode_failed", "to=%s len=%zu err=\"%s\"", to, len, sh_strerror(rc));
        return rc;
    }
    rc = io->tp ? tp_send(io->tp, to, buf, blen) : SH_ECLOSED;
    if (rc != 0) {
        free(buf);
        io->ctr.dropped[rc == SH_EFULL ? SWIM_IO_DROP_QUEUE_FULL : SWIM_IO_DROP_SEND_ERROR]++;
        return rc;
    }
    io->ctr.frames_out++;
    if (kind == WIRE_KIND_SWIM)
        io->ctr.gossip_bytes_out += blen;
    return 0;
}

/* ---- loop callbacks -------------------------------------------------- */

static void swim_io_timer_cb(uv_timer_t *t)
{
    swim_io_t *io = t->data;
    if (io->closed)
        return;
    swim_tick(io->core, sh_time_mono_ms());
    swim_io_pump(io);
}

static void swim_io_async_cb(uv_async_t *a)
{
    swim_io_t *io = a->data;
    swim_io_msg_t *m;
    while (!io->closed && (m = sh_mpsc_pop(&io->inbox)) != NULL) {
        uint64_t now = sh_time_mono_ms();
        if (m->kind == SWIM_IO_MSG_FRAME)
            swim_io_frame_handle(io, now, m->frame, m->len);
        else
            swim_peer_unreachable(io->core, now, m->addr);
        free(m->frame);
        free(m);
        swim_io_pump(io);
    }
}

/* ---- lifecycle ------------------------------------------------------- */

static int swim_io_core_new(swim_io_t *io, const swim_io_config_t *cfg)
{
    swim_config_t sc;
    swim_config_default(&sc);
    sc.self_id = cfg->self_id;
    sc.self_addr = cfg->advertise_addr;
    sc.incarnation = cfg->incarnation;
    sc.seed = cfg->seed;
    if (cfg->probe_interval_ms)
        sc.probe_interval_ms = cfg->probe_interval_ms;
    if (cfg->probe_timeout_ms)
        sc.probe_timeout_ms = cfg->probe_timeout_ms;
    if (cfg->suspicion_mult)
        sc.suspicion_mult = cfg->suspicion_mult;
    if (cfg->pushpull_interval_ms)
        sc.pushpull_interval_ms = cfg->pushpull_interval_ms;
    /* The transport's connection-drop hint shortens suspicion to two
     * protocol periods (swim.h); keep it tied to the configured period. */
    sc.refused_suspicion_ms = 2 * sc.probe_interval_ms;
    return swim_new(&io->core, &sc, sh_time_mono_ms());
}

static bool swim_io_config_ok(const swim_io_config_t *cfg)
{
    return cfg->loop && cfg->self_id && cfg->bind_addr && cfg->advertise_addr &&
           cfg->cluster && strlen(cfg->self_id) < SWIM_ID_MAX &&
           strlen(cfg->bind_addr) < SWIM_ADDR_MAX &&
           strlen(cfg->advertise_addr) < SWIM_ADDR_MAX &&
           strlen(cfg->cluster) < WIRE_CLUSTER_MAX && cfg->shards > 0;
}

static void swim_io_drain_inbox(swim_io_t *io)
{
    swim_io_msg_t *m;
    while ((m = sh_mpsc_pop(&io->inbox)) != NULL) {
        free(m->frame);
        free(m);
    }
}

static int swim_io_tp_new(swim_io_t *io, const swim_io_config_t *cfg)
{
    tp_config_t tc;
    tp_config_default(&tc);
    tc.bind_addr = cfg->bind_addr;
    tc.on_recv = swim_io_on_recv;
    tc.on_peer_down = swim_io_on_peer_down;
    tc.udata = io;
    return tp_new(&io->tp, &tc);
}

int swim_io_new(swim_io_t **out, const swim_io_config_t *cfg)
{
    *out = NULL;
    if (!swim_io_config_ok(cfg))
        return SH_EBAD_REQUEST;
    swim_io_t *io = calloc(1, sizeof *io);
    if (!io)
        return -ENOMEM;
    io->loop = cfg->loop;
    snprintf(io->self_id, sizeof io->self_id, "%s", cfg->self_id);
    snprintf(io->bind, sizeof io->bind, "%s", cfg->bind_addr);
    snprintf(io->advertise, sizeof io->advertise, "%s", cfg->advertise_addr);
    snprintf(io->cluster, sizeof io->cluster, "%s", cfg->cluster);
    io->shards = cfg->shards;
    wire_key_init(&io->key, cfg->secret ? cfg->secret : "");
    wire_limits_default(&io->lim);
    /* Room for a forwarded call with a full 1 MiB body (CALL_BODY_MAX):
     * see SWIM_IO_ENVELOPE_SLACK. */
    io->lim.payload_max = WIRE_FRAME_MAX_DEFAULT + SWIM_IO_ENVELOPE_SLACK;
    io->lim.frame_max = WIRE_FRAME_MAX_DEFAULT + SWIM_IO_ENVELOPE_SLACK;
    int rc = sh_mpsc_init(&io->inbox, SWIM_IO_INBOX_CAP);
    if (rc != 0) {
        free(io);
        return rc;
    }
    if ((rc = swim_io_core_new(io, cfg)) != 0 || (rc = swim_io_tp_new(io, cfg)) != 0 ||
        (rc = uv_async_init(io->loop, &io->async, swim_io_async_cb)) != 0) {
        tp_free(io->tp); /* no callback runs after this: the inbox is ours */
        swim_io_drain_inbox(io);
        sh_mpsc_fini(&io->inbox);
        swim_free(io->core);
        free(io);
        return rc;
    }
    uv_timer_init(io->loop, &io->timer);
    io->timer.data = io;
    io->async.data = io;
    io->handles_init = true;
    __atomic_store_n(&io->ready, 1, __ATOMIC_SEQ_CST);
    uv_async_send(&io->async); /* anything that arrived before `ready` */
    *out = io;
    return 0;
}

int swim_io_join(swim_io_t *io, const char *const *seeds, size_t n)
{
    bool others = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(seeds[i], io->advertise) != 0 && strcmp(seeds[i], io->bind) != 0)
            others = true;
    swim_join(io->core, sh_time_mono_ms(), seeds, n);
    if (!others && !io->joined) {
        io->joined = true;
        SH_LOGI("joined", "via=self detail=\"no seeds: a cluster of one until others join\"");
    }
    swim_io_pump(io);
    return 0;
}

int swim_io_leave(swim_io_t *io)
{
    if (io->closed || io->leaving)
        return 0;
    io->leaving = true;
    int rc = swim_leave(io->core, sh_time_mono_ms());
    swim_io_pump(io);
    return rc;
}

void swim_io_close(swim_io_t *io)
{
    if (!io || io->closed)
        return;
    io->closed = true;
    tp_free(io->tp);
    io->tp = NULL;
    __atomic_store_n(&io->ready, 0, __ATOMIC_SEQ_CST);
    swim_io_drain_inbox(io);
    if (io->handles_init) {
        uv_timer_stop(&io->timer);
        uv_close((uv_handle_t *)&io->timer, NULL);
        uv_close((uv_handle_t *)&io->async, NULL);
    }
}

void swim_io_free(swim_io_t *io)
{
    if (!io)
        return;
    swim_io_close(io);
    swim_io_drain_inbox(io);
    sh_mpsc_fini(&io->inbox);
    swim_free(io->core);
    free(io);
}

/* ---- queries --------------------------------------------------------- */

const swim_t *swim_io_core(const swim_io_t *io)
{
    return io->core;
}

tp_t *swim_io_tp(swim_io_t *io)
{
    return io->tp;
}

bool swim_io_joined(const swim_io_t *io)
{
    return io->joined;
}

const char *swim_io_refused_reason(const swim_io_t *io)
{
    return io->refused_reason;
}

const char *swim_io_self_addr(const swim_io_t *io)
{
    return io->advertise;
}

void swim_io_set_handlers(swim_io_t *io, swim_io_frame_fn on_frame,
                          swim_io_member_fn on_member, void *udata)
{
    io->on_frame = on_frame;
    io->on_member = on_member;
    io->handler_udata = udata;
}

void swim_io_counters_get(const swim_io_t *io, swim_io_counters_t *out)
{
    *out = io->ctr;
    out->frames_in = __atomic_load_n(&io->frames_in_atomic, __ATOMIC_RELAXED);
    out->dropped[SWIM_IO_DROP_QUEUE_FULL] +=
        __atomic_load_n(&io->inbox_full_atomic, __ATOMIC_RELAXED);
}
