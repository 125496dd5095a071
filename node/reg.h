/*
 * reg.h - the registry of entity types: built-ins plus plugins loaded with
 * --plugin.  Filled at start-up on the main thread, read-only afterwards
 * (workers read it without locks).
 */
#ifndef REG_H
#define REG_H

#include <stddef.h>

#include "shoal/entity.h"

typedef struct shoal_registry reg_t;

/* Options of the built-in types (flags). */
struct reg_builtin_cfg {
    unsigned ratelimit_limit;      /* default 100 */
    unsigned ratelimit_window_ms;  /* default 3600000 */
    uint64_t cart_ttl_ms;          /* default 2 h */
};

/* 0 or -ENOMEM. */
int reg_new(reg_t **out);
void reg_free(reg_t *r); /* accepts NULL; dlcloses plugins */
/* Register the built-in types (counter, cart, ratelimiter, log). */
int reg_add_builtins(reg_t *r, const struct reg_builtin_cfg *cfg);
/* dlopen `path` and call its shoal_plugin_init.  0, SH_EBAD_REQUEST with
 * `err` explaining (no such file, no init symbol, init failed). */
int reg_load_plugin(reg_t *r, const char *path, char *err, size_t errcap);
/* The type called `name`, or NULL. */
const shoal_entity_type_t *reg_find(const reg_t *r, const char *name);
size_t reg_count(const reg_t *r);
const shoal_entity_type_t *reg_at(const reg_t *r, size_t i);


#endif
