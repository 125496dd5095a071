/*
 * reg_builtins.c - reg_add_builtins: the four built-in types of
 * node/types/ into a registry.  Apart from reg.c so that a program using
 * only the registry and plugins (unit tests of the runtime) does not link
 * the built-in types.
 */
#include "reg.h"

#include "sh_err.h"
#include "types/types.h"

int reg_add_builtins(reg_t *r, const struct reg_builtin_cfg *cfg)
{
    unsigned limit = cfg ? cfg->ratelimit_limit : 0;
    unsigned window = cfg ? cfg->ratelimit_window_ms : 0;
    const shoal_entity_type_t *types[] = {
        type_counter(),
        type_cart(cfg ? cfg->cart_ttl_ms : 0),
        type_ratelimiter(limit, window),
        type_log(),
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        int rc = shoal_register_type(r, types[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}
