/*
 * types.h - the built-in entity types: counter, cart, ratelimiter, log.
 *
 * reg_add_builtins (node/reg.c) registers the objects these constructors
 * return.  Each object is static: it lives for the whole process, as
 * shoal_register_type requires, and is read-only once workers run.
 *
 * Every type speaks JSON: bodies in, replies out, events and snapshots in
 * compact JSON whose shapes are documented at the top of each type's file.
 * The contracts (methods, replies, error codes) are those of issue 3 and
 * docs/ARCHITECTURE.md; the unit suite tests/unit/types_test.c pins them.
 */
#ifndef TYPES_H
#define TYPES_H

#include "shoal/entity.h"

/* Defaults of the ratelimiter when a call does not override them. */
#define TYPE_RATELIMIT_LIMIT_DEFAULT 100u
#define TYPE_RATELIMIT_WINDOW_MS_DEFAULT 3600000u /* one hour */

/* Bounds of the log type: an append beyond either answers
 * SHOAL_ECONFLICT "log is full", so one entity's memory stays bounded. */
#define TYPE_LOG_ENTRIES_MAX 100000u
#define TYPE_LOG_BYTES_MAX (16u << 20) /* encoded values, 16 MiB */

/* Distinct items a cart holds; the next distinct AddItem is a conflict. */
#define TYPE_CART_ITEMS_MAX 10u

/* "counter": add {"by":n} -> {"value":v}; get -> {"value":v}.  Persistent. */
const shoal_entity_type_t *type_counter(void);

/* "cart": AddItem, RemoveItem, GetItems; at most TYPE_CART_ITEMS_MAX
 * distinct items.  Persistent.  A cart without calls for ttl_ms deletes
 * its state (0: keep the current setting, 2 h by default); one setting
 * per process, so call it on the main thread before workers start. */
const shoal_entity_type_t *type_cart(uint64_t ttl_ms);

/* "log": append {"value":x} -> {"index":i}; read [{"from","limit"}] ->
 * {"values":[...]}.  Persistent. */
const shoal_entity_type_t *type_log(void);

/* "ratelimiter": AllowRequest [{"limit","windowMs"}].  In memory only.
 * `limit` and `window_ms` are the defaults for calls that do not override
 * them; 0 means the built-in default (100 per hour).  There is one
 * ratelimiter type per process: a second call reconfigures and returns
 * the same object, so call it on the main thread before workers start.
 * Activations read the defaults when they are created. */
const shoal_entity_type_t *type_ratelimiter(unsigned limit, unsigned window_ms);

#endif
