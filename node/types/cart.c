/*
 * cart.c - the built-in "cart" entity type (the shopping cart of the
 * Akka/Dapr samples, with a hard size limit).
 *
 * Methods (bodies and replies are JSON):
 *   AddItem {"itemId":"a","quantity":2} -> {"itemId":"a","quantity":q}
 *       q is the item's new quantity.  quantity is an integer >= 1,
 *       default 1; it adds to an item already in the cart.  An itemId is a
 *       non-empty string of at most CART_ID_MAX bytes.  An item's quantity
 *       stays <= CART_QTY_MAX (beyond: SHOAL_EBAD_REQUEST).  The 11th
 *       distinct item: SHOAL_ECONFLICT "cart is full".
 *   RemoveItem {"itemId":"a"} -> {"itemId":"a","quantity":0}
 *       removes the item whatever its quantity; absent: SHOAL_ENOT_FOUND.
 *   GetItems -> {"items":[{"itemId":"a","quantity":2},...]}
 *       in the order items were first added (a removed item that comes
 *       back goes to the end).
 *
 * Events (compact JSON): {"a":"<itemId>","q":n} adds n to an item,
 * creating it at the end; {"r":"<itemId>"} removes an item; {"clear":true}
 * empties the cart (the TTL; never journaled: it goes with a purge).
 *
 * TTL (--cart-ttl, default 2 h): a cart without calls for that long
 * deletes its state - its journal, snapshot and reminders (purge).  Each
 * call (re)arms a durable reminder "ttl" at (last call + ttl), at most
 * every ttl/8 so that reads do not each cost a write; when it fires, the
 * cart checks the time of its last call (kept in memory: after a restart
 * the activation counts as a call, which only delays the deletion) and
 * either purges or re-arms for the remaining time.  Nodes without a
 * journal have no reminders: carts there live until passivated.
 * Snapshot: the GetItems reply, {"items":[...]}.
 *
 * Invariants: at most TYPE_CART_ITEMS_MAX items, ids distinct, every
 * quantity in [1, CART_QTY_MAX].  apply enforces them and answers
 * SHOAL_ECORRUPT for an event that would break one, since the handler never
 * emits such an event against the state it validated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"
#include "types_int.h"

#define CART_ID_MAX 128               /* bytes of an itemId */
#define CART_QTY_MAX 1000000000LL     /* per item; keeps sums far from overflow */

typedef struct cart_item {
    char *id; /* malloc'd */
    int64_t qty;
} cart_item_t;

typedef struct cart {
    uint32_t n;
    cart_item_t items[TYPE_CART_ITEMS_MAX];
    /* TTL bookkeeping, in memory only (not state: no events) */
    uint64_t last_call_ms, armed_ms; /* wall clock; armed_ms 0 = not armed */
} cart_t;

static uint64_t cart_ttl_ms = 2ull * 3600 * 1000;

static int cart_create(void **state, const char *id, void *udata)
{
    cart_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    *state = c;
    return 0;
}

static void cart_clear(cart_t *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        free(c->items[i].id);
    c->n = 0;
}

static void cart_destroy(void *state, void *udata)
{
    if (state == NULL)
        return;
    cart_clear(state);
    free(state);
}

static int cart_find(const cart_t *c, const char *id)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* The item id held by JSON value `f`, or NULL if it is not a string of 1 to
 * CART_ID_MAX bytes.  An embedded NUL would make the id alias a shorter
 * one; jansson already refuses "\u0000" unless asked to allow it, and the
 * length check keeps that true should a caller ever pass JSON_ALLOW_NUL. */
static const char *cart_json_id(const json_t *f)
{
    if (!json_is_string(f))
        return NULL;
    size_t n = json_string_length(f);
    const char *id = json_string_value(f);
    return n >= 1 && n <= CART_ID_MAX && strlen(id) == n ? id : NULL;
}

/* The itemId field of a request, or NULL after failing the turn. */
static const char *cart_req_id(shoal_turn_t *t, const json_t *req)
{
    json_t *f = json_object_get(req, "itemId");
    if (f == NULL) {
        type_fail_bad(t, "missing field 'itemId'");
        return NULL;
    }
    const char *id = cart_json_id(f);
    if (id == NULL)
        type_fail_bad(t, "field 'itemId' must be a string of 1 to %d bytes", CART_ID_MAX);
    return id;
}

static int cart_reply_item(shoal_turn_t *t, const char *id, int64_t qty)
{
    return type_json_reply(t, json_pack("{sssI}", "itemId", id, "quantity", (json_int_t)qty));
}

static int cart_add(shoal_turn_t *t, const cart_t *c, const json_t *req)
{
    const char *id = cart_req_id(t, req);
    if (id == NULL)
        return SHOAL_EBAD_REQUEST;
    int64_t q = 0;
    int rc = type_json_int(t, req, "quantity", true, 1, 1, CART_QTY_MAX, &q);
    if (rc < 0)
        return rc;
    int i = cart_find(c, id);
    int64_t have = i >= 0 ? c->items[i].qty : 0;
    if (i < 0 && c->n >= TYPE_CART_ITEMS_MAX)
        return shoal_turn_fail(t, SHOAL_ECONFLICT, "cart is full");
    if (have + q > CART_QTY_MAX)
        return type_fail_bad(t, "field 'quantity': the item's quantity would exceed %lld",
                             CART_QTY_MAX);
    rc = type_json_emit(t, json_pack("{sssI}", "a", id, "q", (json_int_t)q));
    return rc < 0 ? rc : cart_reply_item(t, id, have + q);
}

static int cart_remove(shoal_turn_t *t, const cart_t *c, const json_t *req)
{
    const char *id = cart_req_id(t, req);
    if (id == NULL)
        return SHOAL_EBAD_REQUEST;
    if (cart_find(c, id) < 0) {
        char msg[CART_ID_MAX + 64];
        snprintf(msg, sizeof msg, "item '%s' is not in the cart", id);
        return shoal_turn_fail(t, SHOAL_ENOT_FOUND, msg);
    }
    int rc = type_json_emit(t, json_pack("{ss}", "r", id));
    return rc < 0 ? rc : cart_reply_item(t, id, 0);
}

/* {"items":[...]}: the GetItems reply and the snapshot. */
static json_t *cart_items_json(const cart_t *c)
{
    json_t *items = json_array();
    json_t *root = json_pack("{so}", "items", items); /* steals items, or frees it */
    if (root == NULL)
        return NULL;
    for (uint32_t i = 0; i < c->n; i++) {
        json_t *it = json_pack("{sssI}", "itemId", c->items[i].id, "quantity",
                               (json_int_t)c->items[i].qty);
        if (json_array_append_new(items, it) < 0) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

/* The TTL reminder fired: purge if the cart has been left alone long
 * enough, else fire again when it will have been. */
static int cart_ttl_fired(shoal_turn_t *t, cart_t *c)
{
    uint64_t now = shoal_turn_wall_ms(t);
    if (c->last_call_ms == 0)
        c->last_call_ms = now; /* restarted since the last call: count from now */
    if (now - c->last_call_ms < cart_ttl_ms) {
        c->armed_ms = now;
        return shoal_turn_remind(t, "ttl", c->last_call_ms + cart_ttl_ms - now, 0, NULL);
    }
    c->armed_ms = 0;
    int rc = type_json_emit(t, json_pack("{sb}", "clear", 1));
    return rc < 0 ? rc : shoal_turn_purge(t);
}

/* A call: remember it, and move the reminder if it is getting stale. */
static void cart_touch(shoal_turn_t *t, cart_t *c)
{
    uint64_t now = shoal_turn_wall_ms(t);
    c->last_call_ms = now;
    if (c->armed_ms && now - c->armed_ms < cart_ttl_ms / 8)
        return;
    if (shoal_turn_remind(t, "ttl", cart_ttl_ms, 0, NULL) == 0)
        c->armed_ms = now;
}

static int cart_handle(shoal_turn_t *t, void *state, const char *method,
                       const uint8_t *body, size_t len)
{
    cart_t *c = state;
    if (strcmp(method, "remind/ttl") == 0)
        return cart_ttl_fired(t, c);
    bool get = strcmp(method, "GetItems") == 0;
    bool add = strcmp(method, "AddItem") == 0;
    if (!get && !add && strcmp(method, "RemoveItem") != 0)
        return type_unknown_method(t, "cart", method);
    cart_touch(t, c);
    if (get)
        return type_json_reply(t, cart_items_json(c));
    json_t *req = NULL;
    int rc = type_json_body(t, body, len, false, &req);
    if (rc < 0)
        return rc;
    rc = add ? cart_add(t, c, req) : cart_remove(t, c, req);
    json_decref(req);
    return rc;
}

/* Add q to item `id`, appending it if absent.  0 or SHOAL_ECORRUPT/-ENOMEM. */
static int cart_apply_add(cart_t *c, const char *id, int64_t q)
{
    if (id == NULL || q < 1 || q > CART_QTY_MAX)
        return SHOAL_ECORRUPT;
    int i = cart_find(c, id);
    if (i >= 0) {
        if (c->items[i].qty + q > CART_QTY_MAX)
            return SHOAL_ECORRUPT;
        c->items[i].qty += q;
        return 0;
    }
    if (c->n >= TYPE_CART_ITEMS_MAX)
        return SHOAL_ECORRUPT;
    char *dup = strdup(id);
    if (dup == NULL)
        return -ENOMEM;
    c->items[c->n++] = (cart_item_t){dup, q};
    return 0;
}

static int cart_apply_remove(cart_t *c, const char *id)
{
    int i = id ? cart_find(c, id) : -1;
    if (i < 0)
        return SHOAL_ECORRUPT;
    free(c->items[i].id);
    memmove(&c->items[i], &c->items[i + 1], (c->n - (uint32_t)i - 1) * sizeof c->items[0]);
    c->n--;
    return 0;
}

static int cart_apply(void *state, const uint8_t *event, size_t len, void *udata)
{
    cart_t *c = state;
    json_t *ev = type_json_load(event, len);
    json_t *a = json_object_get(ev, "a"), *q = json_object_get(ev, "q");
    json_t *r = json_object_get(ev, "r");
    int rc = SHOAL_ECORRUPT;
    if (json_is_true(json_object_get(ev, "clear")) && json_object_size(ev) == 1) {
        cart_clear(c);
        rc = 0;
    } else if (a != NULL && json_is_integer(q) && json_object_size(ev) == 2)
        rc = cart_apply_add(c, cart_json_id(a), (int64_t)json_integer_value(q));
    else if (r != NULL && json_object_size(ev) == 1)
        rc = cart_apply_remove(c, cart_json_id(r));
    json_decref(ev);
    return rc;
}

static int cart_snapshot(const void *state, uint8_t **out, size_t *len, void *udata)
{
    return type_json_snapshot(cart_items_json(state), out, len);
}

/* Replace the state with the snapshot's items; on SHOAL_ECORRUPT the cart
 * is left empty rather than half restored. */
static int cart_restore(void *state, const uint8_t *data, size_t len, void *udata)
{
    cart_t *c = state;
    cart_clear(c);
    json_t *snap = type_json_load(data, len);
    json_t *items = json_object_get(snap, "items");
    int rc = json_is_array(items) ? 0 : SHOAL_ECORRUPT;
    for (size_t i = 0; rc == 0 && i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *id = cart_json_id(json_object_get(it, "itemId"));
        json_t *q = json_object_get(it, "quantity");
        if (id == NULL || !json_is_integer(q) || json_object_size(it) != 2 ||
            cart_find(c, id) >= 0)
            rc = SHOAL_ECORRUPT;
        else
            rc = cart_apply_add(c, id, (int64_t)json_integer_value(q));
    }
    json_decref(snap);
    if (rc < 0)
        cart_clear(c);
    return rc;
}

static const shoal_entity_type_t cart_type = {
    .name = "cart",
    .persistent = true,
    .create = cart_create,
    .destroy = cart_destroy,
    .handle = cart_handle,
    .apply = cart_apply,
    .snapshot = cart_snapshot,
    .restore = cart_restore,
    .udata = NULL,
};

const shoal_entity_type_t *type_cart(uint64_t ttl_ms)
{
    if (ttl_ms)
        cart_ttl_ms = ttl_ms;
    return &cart_type;
}
