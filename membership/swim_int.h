/*
 * swim_int.h - shared inside membership/ only: the core's structures and
 * the functions its files call on each other.
 *
 * Files: swim.c (API, timers, outbox), swim_table.c (member table, id
 * hash, state sets, precedence), swim_probe.c (probing, ping-req relays),
 * swim_sync.c (push-pull, join, reconnect, leave), swim_gossip.c
 * (dissemination queue), swim_suspect.c (Lifeguard suspicion + local
 * health + direct refutations), swim_codec.c (payloads).
 */
#ifndef SWIM_INT_H
#define SWIM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sh_rng.h"
#include "swim.h"
#include "swim_codec.h"

/* Distinct accusers remembered per suspicion (the first one included).
 * Lifeguard needs K = indirect_k of them; more than this saturates. */
#define SWIM_CONFIRM_MAX 16
/* Pending ping-req relays (we probe a target on someone's behalf). */
#define SWIM_RELAY_MAX 64
/* Retransmit buckets: transmit counts 0..SWIM_GOSSIP_BUCKETS_MAX-1. */
#define SWIM_GOSSIP_BUCKETS_MAX 256
#define SWIM_NONE (-1)
/* Updates a sender may force into one message ahead of the gossip. */
#define SWIM_FORCED_MAX 2
/* Direct refutations per incarnation of ours: min(indirect_k + 1, this). */
#define SWIM_TOLD_MAX 16

typedef struct swim_member {
    /* The lookup path first: hash, chain and id share a cache line. */
    uint64_t id_hash;
    uint32_t hnext;   /* id-hash chain: slot+1, 0 ends */
    uint8_t id_len, addr_len; /* strlen of id and addr */
    char id[SWIM_ID_MAX];
    char addr[SWIM_ADDR_MAX];
    uint8_t state; /* enum swim_state */
    bool in_probe; /* queued in the probe list at or after probe_pos */
    bool susp_refused; /* suspicion started by a transport hint */
    bool heard;        /* last_heard_ms is set (swim_suspect.c) */
    uint8_t susp_n;    /* accusers recorded in susp_by */
    uint32_t incarnation;
    uint64_t last_change_ms;
    uint64_t last_heard_ms; /* last message whose sender was this member */
    uint64_t susp_told_ms;  /* we last sent it our suspicion directly (swim_suspect_tell) */
    int32_t set_pos;  /* index in alive_set (ALIVE) or dead_set (DEAD) */
    int32_t heap_pos; /* index in the suspicion heap (SUSPECT) */
    uint64_t susp_start_ms, susp_deadline_ms;
    uint64_t susp_min_ms, susp_max_ms;
    uint32_t susp_by[SWIM_CONFIRM_MAX]; /* accuser id hashes (low 32 bits) */
    /* Dissemination queue links (swim_gossip.c). */
    int32_t g_prev, g_next;
    int16_t g_bucket; /* transmit count, SWIM_NONE if not queued */
    char g_by[SWIM_ID_MAX]; /* accuser sent with a SUSPECT update */
} swim_member_t;

/* The probe of the current protocol period (SWIM §4: one target per period). */
typedef struct swim_probe {
    bool active, acked, indirect;
    uint32_t slot;
    uint64_t id_hash; /* detects a slot reused by eviction meanwhile */
    uint32_t seq;
    uint64_t ack_at;  /* direct-ack deadline: then ping-req */
    uint32_t nacks, nacks_expected;
} swim_probe_t;

/* A ping-req we relay: our own PING seq -> the requester's seq and address. */
typedef struct swim_relay {
    uint32_t my_seq, req_seq;
    uint64_t nack_at;
    char req_addr[SWIM_ADDR_MAX];
} swim_relay_t;

typedef struct swim_gbucket {
    int32_t head, tail;
} swim_gbucket_t;

struct swim {
    swim_config_t cfg;
    char self_id[SWIM_ID_MAX];
    char self_addr[SWIM_ADDR_MAX];
    sh_rng_t rng;
    bool left, joining;

    /* Member table: slots 0..n-1 in use, self at 0; arrays grow to max. */
    swim_member_t *m;
    uint32_t n, cap;
    uint32_t *hbuckets; /* slot+1, 0 empty; hmask+1 buckets */
    uint32_t hmask;
    uint32_t counts[4];
    uint32_t *alive_set, n_alive; /* non-self ALIVE slots, any order */
    uint32_t *dead_set, n_dead;   /* DEAD slots (reconnect targets) */
    uint32_t *probe_list, probe_len, probe_pos;
    uint32_t *heap, heap_n; /* suspicion min-heap by (deadline, slot) */

    /* Dissemination. */
    swim_gbucket_t *gq;
    uint32_t gq_nb, gq_count;
    uint32_t *g_pick;       /* scratch: selected slots */
    swim_update_t *g_views; /* scratch: their views */
    uint32_t g_pick_max;

    /* Probing. */
    swim_probe_t probe;
    uint64_t probe_next_at;
    swim_relay_t relays[SWIM_RELAY_MAX];
    uint32_t n_relays;
    uint32_t seq_next;
    uint32_t awareness;

    /* Refutation (swim_suspect.c): members our incarnation told_inc was
     * sent to directly (id hashes, low 32 bits). */
    uint32_t told_inc, n_told;
    uint32_t told[SWIM_TOLD_MAX];

    /* Push-pull, reconnect, join. */
    uint64_t pushpull_at, reconnect_at, join_at;
    char (*seeds)[SWIM_ADDR_MAX];
    size_t n_seeds;

    /* Outbox: a ring that grows up to ob_max entries. */
    swim_out_t *ob;
    size_t ob_head, ob_len, ob_cap, ob_max;

    swim_stats_t st;
};

/* ---- swim.c ---------------------------------------------------------- */
/* Encode msg (from_id/from_addr are filled here) and queue it for
 * to_addr.  Unless it is a SYNC/SYNC_ACK it carries piggybacked gossip:
 * msg->gossip[0..n_gossip) (at most SWIM_FORCED_MAX) first, then the
 * dissemination queue's choice.  0 or an error (encoding our own state
 * cannot fail short of -ENOMEM). */
int swim_send(swim_t *s, const char *to_addr, swim_msg_t *msg);
void swim_out_event(swim_t *s, uint32_t slot, enum swim_state old, bool is_new);
/* Probe period and timeout scaled by Lifeguard local health. */
uint64_t swim_scaled(const swim_t *s, uint32_t ms);

/* ---- swim_table.c ---------------------------------------------------- */
uint64_t swim_hash(const char *p, size_t len);
int swim_table_init(swim_t *s);
void swim_table_fini(swim_t *s);
/* Put self into slot 0 (swim_new). */
int32_t swim_table_add_self(swim_t *s, uint64_t t);
/* Slot of id, or SWIM_NONE. */
int32_t swim_table_find(const swim_t *s, const char *id, size_t len);
/* Set a member's state and incarnation; keeps sets, counters, heap and
 * probe list right, emits the event and queues the gossip (`by` is the
 * accuser for SUSPECT, ignored otherwise). */
void swim_member_set(swim_t *s, uint64_t t, uint32_t slot,
                     enum swim_state st, uint32_t inc, swim_str_t by);
/* Apply one update under SWIM §4.2 precedence.  `sender` stands in for a
 * missing accuser.  `from_sync`: the update comes from a full-state merge,
 * whose SUSPECT/DEAD verdicts on known third parties are ignored (see
 * swim_table.c). */
void swim_update_apply(swim_t *s, uint64_t t, const swim_update_t *u,
                       swim_str_t sender, bool from_sync);
/* True if news (ns, ni) overrides what we hold (cs, ci). */
bool swim_update_wins(enum swim_state cs, uint32_t ci, enum swim_state ns,
                      uint32_t ni);
/* A view of slot as an update (strings borrowed from the table). */
void swim_member_view_update(const swim_t *s, uint32_t slot, swim_update_t *u,
                             bool with_by);
/* Pick a uniformly random ALIVE non-self member other than `except`
 * (SWIM_NONE for none) into out[0..k); returns how many. */
uint32_t swim_alive_sample(swim_t *s, uint32_t *out, uint32_t k, int32_t except);
/* Table part of swim_check_invariants. */
void swim_table_check(const swim_t *s);

/* ---- swim_probe.c ---------------------------------------------------- */
void swim_probe_period(swim_t *s, uint64_t t);
void swim_probe_indirect(swim_t *s, uint64_t t);
void swim_probe_list_add(swim_t *s, uint32_t slot);
void swim_relay_nack(swim_t *s, uint64_t t);
uint64_t swim_relay_next(const swim_t *s);
/* Answer a PING with an ACK; `vouch` forces our own alive into it (the
 * pinger doubts us: swim_refute_answer). */
void swim_on_ping(swim_t *s, uint64_t t, const swim_msg_t *m, const char *reply,
                  bool vouch);
void swim_on_ack(swim_t *s, uint64_t t, const swim_msg_t *m);
void swim_on_ping_req(swim_t *s, uint64_t t, const swim_msg_t *m, const char *reply);
void swim_on_nack(swim_t *s, uint64_t t, const swim_msg_t *m);

/* ---- swim_sync.c ----------------------------------------------------- */
void swim_sync_send(swim_t *s, const char *to_addr, uint8_t type, bool join);
/* Answer a SYNC, or end the join on a SYNC_ACK; the caller has merged
 * m->members (swim_update_apply with from_sync). */
void swim_on_sync(swim_t *s, uint64_t t, const swim_msg_t *m, const char *reply);
void swim_pushpull_run(swim_t *s, uint64_t t);
void swim_reconnect_run(swim_t *s, uint64_t t);
void swim_join_run(swim_t *s, uint64_t t);
void swim_leave_send(swim_t *s);

/* ---- swim_gossip.c --------------------------------------------------- */
int swim_gossip_init(swim_t *s);
void swim_gossip_fini(swim_t *s);
void swim_gossip_queue(swim_t *s, uint32_t slot, swim_str_t by);
void swim_gossip_drop(swim_t *s, uint32_t slot);
/* Select the fewest-sent updates fitting `budget` bytes into
 * s->g_views[first..]; each counts as one more transmission.  Returns how
 * many. */
size_t swim_gossip_select(swim_t *s, size_t budget, size_t first);
uint32_t swim_gossip_limit(const swim_t *s);

/* ---- swim_suspect.c -------------------------------------------------- */
/* Make slot SUSPECT(inc) accused by `by` and arm its timer. */
void swim_suspect_begin(swim_t *s, uint64_t t, uint32_t slot, uint32_t inc,
                        swim_str_t by, bool refused);
/* Arm (or re-arm) the timer of a member that is already SUSPECT. */
void swim_suspect_arm(swim_t *s, uint64_t t, uint32_t slot, swim_str_t by,
                      bool refused);
void swim_suspect_confirm(swim_t *s, uint64_t t, uint32_t slot, swim_str_t by);
/* A transport hint on a member already suspect: cap its timeout. */
void swim_suspect_refused(swim_t *s, uint32_t slot);
void swim_suspect_expire(swim_t *s, uint64_t t);
uint64_t swim_suspect_next(const swim_t *s);
void swim_heap_remove(swim_t *s, uint32_t slot);
void swim_heap_check(const swim_t *s);
/* After m's updates were applied: if m says we are suspect or dead (a
 * refutation, or news older than ours), tell the accusers it names and the
 * sender that we are alive, directly (see swim_suspect.c).  Returns true if
 * m is a PING whose ACK must carry our alive instead. */
bool swim_refute_answer(swim_t *s, const swim_msg_t *m, const char *reply);
/* A message from member `from` arrived directly: note it as evidence
 * that the member is alive (see "Direct evidence" in swim_suspect.c). */
void swim_heard_note(swim_t *s, uint64_t t, swim_str_t from);
/* A message from `from` arrived directly (its updates applied): if we
 * still suspect it, send it our suspicion now, at most once per probe
 * interval (see "Telling a suspect" in swim_suspect.c). */
void swim_suspect_tell(swim_t *s, uint64_t t, swim_str_t from);
/* True if slot sent us a message within the minimum suspicion timeout. */
bool swim_heard_fresh(const swim_t *s, uint64_t t, uint32_t slot);
/* Lifeguard local health: clamp to [0, awareness_max]. */
void swim_awareness_add(swim_t *s, int delta);
/* Lifeguard suspicion timeout after c confirmations (pure; for tests). */
uint64_t swim_suspicion_timeout(uint64_t min_ms, uint64_t max_ms, uint32_t c,
                                uint32_t k);

#endif
