/*
 * reg.c - the registry of entity types; see reg.h.
 *
 * Design notes.  A handful of types per process, so a flat array searched
 * linearly: workers look a type up only when they activate an entity
 * (active entities keep the type pointer), and a few strcmp calls cost
 * less than hashing.  The registry is written only at start-up, on the
 * main thread, before any worker starts; afterwards it is read-only and
 * shared without locks (reg.h).
 *
 * Plugins are opened with RTLD_NOW (a missing symbol fails at load, not in
 * the middle of a turn) and RTLD_LOCAL (two plugins cannot clash over
 * their own symbols).  A plugin resolves the shoal_turn_* API from the
 * executable, which is linked with -rdynamic.  If its init fails, the
 * types it registered so far are removed before the library is closed,
 * so no pointer into an unloaded library survives.
 */
#include "reg.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_err.h"
#include "sh_log.h"

#define REG_TYPES_MAX 256
#define REG_PLUGINS_MAX 64

struct shoal_registry {
    const shoal_entity_type_t *types[REG_TYPES_MAX];
    size_t n;
    void *libs[REG_PLUGINS_MAX];
    size_t nlibs;
};

int reg_new(reg_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void reg_free(reg_t *r)
{
    if (!r)
        return;
    for (size_t i = r->nlibs; i > 0; i--)
        dlclose(r->libs[i - 1]);
    free(r);
}

/* [A-Za-z0-9._-]{1,63} */
static bool reg_name_ok(const char *name)
{
    if (!name)
        return false;
    size_t n = strnlen(name, SHOAL_TYPE_NAME_MAX);
    if (n == 0 || n >= SHOAL_TYPE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

int shoal_register_type(shoal_registry_t *reg, const shoal_entity_type_t *type)
{
    if (!reg || !type || !reg_name_ok(type->name) || !type->handle)
        return SHOAL_EBAD_REQUEST;
    /* A type that emits events must be able to apply them; one without
     * create must be able to run with a NULL state, which is its business. */
    if (type->persistent && !type->apply)
        return SHOAL_EBAD_REQUEST;
    if (reg_find(reg, type->name))
        return SHOAL_EEXISTS;
    if (reg->n == REG_TYPES_MAX)
        return SHOAL_ETOO_BIG;
    reg->types[reg->n++] = type;
    return 0;
}

int reg_load_plugin(reg_t *r, const char *path, char *err, size_t errcap)
{
    if (r->nlibs == REG_PLUGINS_MAX) {
        snprintf(err, errcap, "too many plugins (max %d)", REG_PLUGINS_MAX);
        return SH_EBAD_REQUEST;
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(err, errcap, "cannot load plugin %s: %s", path, why ? why : "unknown error");
        return SH_EBAD_REQUEST;
    }
    dlerror();
    shoal_plugin_init_fn init;
    /* POSIX-sanctioned way to turn the object pointer dlsym returns into a
     * function pointer without a cast ISO C forbids. */
    *(void **)&init = dlsym(lib, SHOAL_PLUGIN_INIT_SYMBOL);
    if (!init) {
        snprintf(err, errcap, "plugin %s has no %s symbol", path, SHOAL_PLUGIN_INIT_SYMBOL);
        dlclose(lib);
        return SH_EBAD_REQUEST;
    }
    size_t before = r->n;
    int rc = init(r);
    if (rc != 0) {
        while (r->n > before)
            r->types[--r->n] = NULL;
        snprintf(err, errcap, "plugin %s: %s failed: %s", path, SHOAL_PLUGIN_INIT_SYMBOL,
                 sh_strerror(rc));
        dlclose(lib);
        return SH_EBAD_REQUEST;
    }
    r->libs[r->nlibs++] = lib;
    for (size_t i = before; i < r->n; i++)
        SH_LOGI("plugin_type_registered", "plugin=%s type=%s", path, r->types[i]->name);
    return 0;
}

const shoal_entity_type_t *reg_find(const reg_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->types[i]->name, name) == 0)
            return r->types[i];
    return NULL;
}

size_t reg_count(const reg_t *r)
{
    return r->n;
}

const shoal_entity_type_t *reg_at(const reg_t *r, size_t i)
{
    return i < r->n ? r->types[i] : NULL;
}
