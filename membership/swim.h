/*
 * swim.h - SWIM + Lifeguard membership, as a sans-IO state machine.
 *
 * The core owns the member table and the protocol; it does no I/O, reads
 * no clock and calls no rand().  Inputs are (now_ms, event): a received
 * payload, a tick, a join/leave request, a transport hint.  Outputs are
 * drained with swim_next_output(): payloads to send to an address, and
 * member-change events.  swim_next_deadline() says when to tick next.
 * The same code runs in shoald (membership/swim_io.c wires it to nng and
 * libuv) and in tests/sim (a virtual clock and a seeded lossy network).
 *
 * Thread: a swim_t belongs to one thread (the node loop); no call is
 * thread-safe.  now_ms must never go backwards.
 */
#ifndef SWIM_H
#define SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SWIM_ID_MAX 64   /* member id incl. NUL: at most 63 bytes */
#define SWIM_ADDR_MAX 64 /* "host:port" incl. NUL */

enum swim_state {
    SWIM_ALIVE = 0,
    SWIM_SUSPECT = 1,
    SWIM_DEAD = 2,
    SWIM_LEFT = 3,
};

/* "alive" | "suspect" | "dead" | "left" */
const char *swim_state_name(enum swim_state s);

typedef struct swim_config {
    const char *self_id;           /* copied */
    const char *self_addr;         /* advertised "host:port", copied */
    uint32_t incarnation;          /* starting incarnation (persisted+1 by the adapter) */
    uint64_t seed;                 /* for the core's own sh_rng */
    uint32_t max_members;          /* table capacity, incl. self (default 4096) */
    uint32_t probe_interval_ms;    /* SWIM protocol period T' (default 1000) */
    uint32_t probe_timeout_ms;     /* direct ack wait (default 500) */
    uint32_t indirect_k;           /* ping-req fan-out k (default 3) */
    uint32_t suspicion_mult;       /* Lifeguard alpha (default 4) */
    uint32_t suspicion_max_mult;   /* Lifeguard beta: max = beta * min (default 6) */
    uint32_t retransmit_mult;      /* lambda: retransmits = mult*ceil(log10(N+1)) (default 4) */
    uint32_t awareness_max;        /* Lifeguard local-health ceiling (default 8) */
    uint32_t pushpull_interval_ms; /* full-state sync period (default 30000) */
    uint32_t reconnect_interval_ms;/* sync with a random dead member, to heal partitions (default 5000) */
    uint32_t join_retry_ms;        /* retry seeds until one answers (default 1000) */
    uint32_t refused_suspicion_ms; /* suspicion timeout when the transport saw the
                                      peer's connection drop (default 2*probe_interval) */
    uint32_t gossip_max_bytes;     /* piggyback budget per message (default 1024) */
    uint32_t payload_max_bytes;    /* largest payload encoded or accepted (default 1 MiB) */
} swim_config_t;

/* Fill cfg with the defaults above (self_id/self_addr left NULL). */
void swim_config_default(swim_config_t *cfg);

typedef struct swim swim_t;

/* Create a core whose table holds only self (alive).  0, SH_EBAD_REQUEST for
 * a bad config (empty/too long id or addr), -ENOMEM.  The caller owns *out.
 * Also SH_EBAD_REQUEST for a zero max_members, probe interval or timeout,
 * push-pull, reconnect or join-retry interval, suspicion_mult or
 * suspicion_max_mult, for payload_max_bytes < 640, or for
 * gossip_max_bytes > payload_max_bytes - 320.  The first output is the
 * is_new event for self. */
int swim_new(swim_t **out, const swim_config_t *cfg, uint64_t now_ms);
/* Frees everything, including undrained outputs.  Accepts NULL. */
void swim_free(swim_t *s);

/* Start joining through seed addresses (self's own address is skipped).
 * Sends a full-state sync to each seed and retries every join_retry_ms
 * until one answers.  Returns 0; an empty list makes this node a cluster
 * of one (no error).  SH_EBAD_REQUEST (and nothing starts) if a seed is
 * NULL, empty or longer than SWIM_ADDR_MAX-1; -ENOMEM.  A second call
 * replaces the seed list. */
int swim_join(swim_t *s, uint64_t now_ms, const char *const *seeds, size_t n);

/* Graceful leave: self becomes `left` with a higher incarnation and the
 * news is sent directly to several members at once.  After draining the
 * outputs the adapter may stop; further inputs are ignored. */
int swim_leave(swim_t *s, uint64_t now_ms);

/* A payload received from `from_addr` (the sender's advertised address, from
 * the frame header).  The core copies what it keeps.  0, or SH_EMALFORMED /
 * SH_ETOO_BIG for bad input (counted; nothing changes). */
int swim_recv(swim_t *s, uint64_t now_ms, const char *from_addr,
              const uint8_t *payload, size_t len);

/* Transport hint: the connection to `addr` dropped (process likely gone:
 * kill -9 closes sockets, a SIGSTOP pause does not).  An alive member at
 * that address becomes suspect with the shorter refused_suspicion_ms
 * timeout; an ack or refutation still clears it.  Unknown addr: ignored. */
void swim_peer_unreachable(swim_t *s, uint64_t now_ms, const char *addr);

/* Run due timers: probes, probe timeouts, suspicion expiry, sync, join retry. */
void swim_tick(swim_t *s, uint64_t now_ms);
/* Earliest time at which swim_tick has work; UINT64_MAX if none (or after
 * swim_leave).  Every call runs the timers due at its now_ms, so after any
 * call the deadline is later than that now_ms; ticking only at deadlines
 * behaves exactly like ticking every millisecond. */
uint64_t swim_next_deadline(const swim_t *s);

enum swim_out_kind { SWIM_OUT_SEND = 1, SWIM_OUT_EVENT = 2 };

typedef struct swim_member_view {
    char id[SWIM_ID_MAX];
    char addr[SWIM_ADDR_MAX];
    enum swim_state state;
    uint32_t incarnation;
    uint64_t last_change_ms; /* now_ms of the last state/incarnation change */
} swim_member_view_t;

typedef struct swim_out {
    enum swim_out_kind kind;
    /* SWIM_OUT_SEND: payload for to_addr.  The caller owns payload after
     * swim_next_output returns it and frees it with free(). */
    char to_addr[SWIM_ADDR_MAX];
    uint8_t *payload;
    size_t len;
    /* SWIM_OUT_EVENT: a member's state or incarnation changed (also self).
     * A DEAD/LEFT member evicted from a full table to make room for a new
     * one produces no event; it simply stops being listed. */
    swim_member_view_t member;
    enum swim_state old_state;
    bool is_new; /* first time this member is seen */
} swim_out_t;

/* Pop the next output; 1 if *out was filled, 0 if none.  The outbox is
 * bounded: when full, the oldest gossip sends are dropped (counted). */
int swim_next_output(swim_t *s, swim_out_t *out);

/* Member table, in stable slot order; self is index 0. */
size_t swim_member_count(const swim_t *s);
int swim_member_get(const swim_t *s, size_t i, swim_member_view_t *out);
/* 0 and *out filled, or SH_ENOT_FOUND. */
int swim_member_find(const swim_t *s, const char *id, swim_member_view_t *out);
/* Members in each state. */
void swim_count_by_state(const swim_t *s, size_t counts[4]);

typedef struct swim_stats {
    uint64_t probes_sent, probes_failed, ping_reqs_sent, nacks_sent;
    uint64_t suspicions, refutations, deaths_declared;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out; /* payload bytes */
    uint64_t bad_payloads, outbox_dropped, syncs_sent;
    uint32_t awareness; /* current Lifeguard local-health score */
    /* Added by the core (after the lead's fields, so positional code still
     * works): news of a new member dropped because the table was full of
     * live members; ping-reqs not relayed because SWIM_RELAY_MAX were
     * pending. */
    uint64_t members_dropped, relays_dropped;
} swim_stats_t;

void swim_stats_get(const swim_t *s, swim_stats_t *out);

/* Check the table's invariants (self present and alive or left, no duplicate
 * ids, states in range, counts consistent); aborts with SH_ASSERT on a
 * violation.  Run after every step by the simulator and debug builds. */
void swim_check_invariants(const swim_t *s);

#endif
