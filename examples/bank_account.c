/*
 * bank_account.c - an example plugin: the "bank" entity type, a bank
 * account that never goes negative.  It is also the template for writing
 * a type outside the tree: it uses only <shoal/entity.h> and jansson.
 *
 *   shoald --plugin build/examples/libshoal_example_bank.so
 *   curl -XPOST localhost:8080/v1.0/actors/bank/alice/method/deposit -d '{"amount":50}'
 *
 * Methods (bodies and replies are JSON):
 *   deposit  {"amount":n} -> {"balance":b}   n an integer >= 1; a balance
 *                                            beyond int64 is bad_request
 *   withdraw {"amount":n} -> {"balance":b}   n > balance: SHOAL_ECONFLICT
 *                                            "insufficient funds"
 *   balance               -> {"balance":b}   the body is ignored
 *
 * Events: the signed change of the balance as a bare JSON integer ("50",
 * "-20").  Snapshot: {"balance":b}.
 *
 * The pattern every type follows: the handler reads the state, validates
 * the command against it, emits events and sets the reply, but never
 * writes the state; apply does, and it runs both after a successful turn
 * and when the runtime recovers the entity from its journal.  So a check
 * made in the handler ("enough funds?") holds when the event is applied.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shoal/entity.h"

typedef struct bank {
    int64_t balance; /* >= 0 */
} bank_t;

static int bank_create(void **state, const char *id, void *udata)
{
    bank_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    *state = b;
    return 0;
}

static void bank_destroy(void *state, void *udata)
{
    free(state);
}

static int bank_reply(shoal_turn_t *t, int64_t balance)
{
    char buf[48];
    int n = snprintf(buf, sizeof buf, "{\"balance\":%lld}", (long long)balance);
    int rc = shoal_turn_reply(t, buf, (size_t)n);
    return rc < 0 ? shoal_turn_fail(t, rc, "out of memory") : 0;
}

/* The "amount" of a request body: 0 with *amount >= 1, or the turn fails
 * with SHOAL_EBAD_REQUEST naming the problem. */
static int bank_amount(shoal_turn_t *t, const uint8_t *body, size_t len, int64_t *amount)
{
    json_error_t err;
    json_t *req = len ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err)
                      : NULL;
    if (req == NULL)
        return shoal_turn_fail(t, SHOAL_EBAD_REQUEST,
                               len ? "malformed JSON body" : "missing JSON body");
    json_t *a = json_object_get(req, "amount"); /* NULL unless req is an object */
    int rc = 0;
    if (!json_is_object(req))
        rc = shoal_turn_fail(t, SHOAL_EBAD_REQUEST, "body must be a JSON object");
    else if (a == NULL)
        rc = shoal_turn_fail(t, SHOAL_EBAD_REQUEST, "missing field 'amount'");
    else if (!json_is_integer(a) || json_integer_value(a) < 1)
        rc = shoal_turn_fail(t, SHOAL_EBAD_REQUEST,
                             "field 'amount' must be an integer >= 1");
    else
        *amount = (int64_t)json_integer_value(a);
    json_decref(req);
    return rc;
}

/* Emit the change `delta` and reply with the balance it leads to. */
static int bank_change(shoal_turn_t *t, int64_t delta, int64_t balance)
{
    char ev[24];
    int n = snprintf(ev, sizeof ev, "%lld", (long long)delta);
    int rc = shoal_turn_emit(t, ev, (size_t)n);
    if (rc < 0)
        return shoal_turn_fail(t, rc, "out of memory");
    return bank_reply(t, balance);
}

static int bank_handle(shoal_turn_t *t, void *state, const char *method,
                       const uint8_t *body, size_t len)
{
    const bank_t *b = state;
    if (strcmp(method, "balance") == 0)
        return bank_reply(t, b->balance);
    bool deposit = strcmp(method, "deposit") == 0;
    if (!deposit && strcmp(method, "withdraw") != 0) {
        char msg[SHOAL_METHOD_MAX + 48];
        snprintf(msg, sizeof msg, "unknown method '%s' for type 'bank'", method);
        return shoal_turn_fail(t, SHOAL_ENOT_FOUND, msg);
    }
    int64_t amount = 0;
    int rc = bank_amount(t, body, len, &amount);
    if (rc < 0)
        return rc;
    if (deposit) {
        int64_t after;
        if (__builtin_add_overflow(b->balance, amount, &after))
            return shoal_turn_fail(t, SHOAL_EBAD_REQUEST,
                                   "field 'amount': the balance would overflow");
        return bank_change(t, amount, after);
    }
    if (amount > b->balance)
        return shoal_turn_fail(t, SHOAL_ECONFLICT, "insufficient funds");
    return bank_change(t, -amount, b->balance - amount);
}

/* A change that would make the balance negative or overflow cannot come
 * from this type's handler: the journal is not this account's. */
static int bank_apply(void *state, const uint8_t *event, size_t len, void *udata)
{
    bank_t *b = state;
    json_t *ev = len ? json_loadb((const char *)event, len, JSON_DECODE_ANY, NULL) : NULL;
    int64_t after;
    int rc = SHOAL_ECORRUPT;
    if (json_is_integer(ev) &&
        !__builtin_add_overflow(b->balance, (int64_t)json_integer_value(ev), &after) &&
        after >= 0) {
        b->balance = after;
        rc = 0;
    }
    json_decref(ev);
    return rc;
}

static int bank_snapshot(const void *state, uint8_t **out, size_t *len, void *udata)
{
    const bank_t *b = state;
    char *buf = malloc(48);
    if (buf == NULL)
        return -ENOMEM;
    *len = (size_t)snprintf(buf, 48, "{\"balance\":%lld}", (long long)b->balance);
    *out = (uint8_t *)buf;
    return 0;
}

static int bank_restore(void *state, const uint8_t *data, size_t len, void *udata)
{
    bank_t *b = state;
    json_t *snap = len ? json_loadb((const char *)data, len, 0, NULL) : NULL;
    json_t *v = json_object_get(snap, "balance");
    int rc = SHOAL_ECORRUPT;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        b->balance = (int64_t)json_integer_value(v);
        rc = 0;
    }
    json_decref(snap);
    return rc;
}

static const shoal_entity_type_t bank_type = {
    .name = "bank",
    .persistent = true,
    .create = bank_create,
    .destroy = bank_destroy,
    .handle = bank_handle,
    .apply = bank_apply,
    .snapshot = bank_snapshot,
    .restore = bank_restore,
    .udata = NULL,
};

/* Called by shoald after dlopen (SHOAL_PLUGIN_INIT_SYMBOL).  Returns
 * shoal_register_type's code: 0, or SHOAL_EEXISTS if "bank" is taken. */
__attribute__((visibility("default"))) int shoal_plugin_init(shoal_registry_t *reg);

int shoal_plugin_init(shoal_registry_t *reg)
{
    return shoal_register_type(reg, &bank_type);
}
