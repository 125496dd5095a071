/*
 * ctl_actors.c - argument parsing, path escaping and the shards/locate
 * tables; see ctl_actors.h.
 *
 * Design notes.  Entity ids are arbitrary bytes to the API (Dapr allows
 * anything that survives a URL), so the CLI escapes every byte outside
 * RFC 3986's unreserved set when it builds a path, and the node decodes
 * them (api.c).  Tables keep the document's order: the API lists shards by
 * number, which is the order people look them up in.
 */
#include "ctl_actors.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sh_assert.h"
#include "sh_err.h"

int ctl_entity_parse(const char *arg, char *type, size_t tcap, char *id, size_t icap)
{
    const char *slash = strchr(arg, '/');
    if (!slash || slash == arg || slash[1] == '\0')
        return SH_EBAD_REQUEST;
    size_t tl = (size_t)(slash - arg), il = strlen(slash + 1);
    if (tl >= tcap || il >= icap)
        return SH_EBAD_REQUEST;
    memcpy(type, arg, tl);
    type[tl] = '\0';
    memcpy(id, slash + 1, il + 1);
    return 0;
}

int ctl_path_escape(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
                    *p == '~';
        size_t need = keep ? 1 : 3;
        if (o + need >= cap)
            return -1;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return (int)o;
}

/* "n1,n2,n3" from an array of strings; SH_EMALFORMED if it is not one. */
static int replicas_join(const json_t *arr, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    if (!json_is_array(arr))
        return SH_EMALFORMED;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s)
            return SH_EMALFORMED;
        int n = snprintf(buf + off, cap - off, "%s%s", i ? "," : "", s);
        if (n < 0 || (size_t)n >= cap - off)
            return SH_EMALFORMED;
        off += (size_t)n;
    }
    return 0;
}

static int shard_row(ctl_table_t *t, const json_t *s, size_t idx, char *err, size_t errcap)
{
    const json_t *num = json_object_get(s, "shard");
    const json_t *owner = json_object_get(s, "owner");
    const json_t *epoch = json_object_get(s, "epoch");
    const json_t *state = json_object_get(s, "state");
    const json_t *ents = json_object_get(s, "entities");
    char reps[1024];
    const char *bad = !json_is_integer(num)                              ? "shard"
                      : !(json_is_string(owner) || json_is_null(owner)) ? "owner"
                      : replicas_join(json_object_get(s, "replicas"), reps, sizeof reps)
                          ? "replicas"
                      : !json_is_integer(epoch)                          ? "epoch"
                      : !json_is_string(state)                           ? "state"
                      : !(json_is_integer(ents) || json_is_null(ents))   ? "entities"
                                                                          : NULL;
    if (bad) {
        snprintf(err, errcap, "shards[%zu].%s is missing or has the wrong type", idx, bad);
        return SH_EMALFORMED;
    }
    char nums[24], epochs[24], entss[24] = "-";
    snprintf(nums, sizeof nums, "%" JSON_INTEGER_FORMAT, json_integer_value(num));
    snprintf(epochs, sizeof epochs, "%" JSON_INTEGER_FORMAT, json_integer_value(epoch));
    if (json_is_integer(ents))
        snprintf(entss, sizeof entss, "%" JSON_INTEGER_FORMAT, json_integer_value(ents));
    const char *cells[] = {nums, json_string_value(owner), reps[0] ? reps : NULL, epochs,
                           json_string_value(state), entss};
    return ctl_table_add_row(t, cells);
}

int ctl_shards_table(const json_t *doc, ctl_table_t **out, char *err, size_t errcap)
{
    *out = NULL;
    const json_t *shards = json_object_get(doc, "shards");
    bool single = !shards && json_is_integer(json_object_get(doc, "shard"));
    if (!single && !json_is_array(shards)) {
        snprintf(err, errcap, "no \"shards\" array in the response");
        return SH_EMALFORMED;
    }
    static const char *const hdr[] = {"SHARD", "OWNER", "REPLICAS", "EPOCH", "STATE",
                                      "ENTITIES"};
    ctl_table_t *t;
    int rc = ctl_table_new(&t, SH_ARRAY_LEN(hdr), hdr);
    if (rc < 0)
        return rc;
    size_t n = single ? 1 : json_array_size(shards);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = single ? doc : json_array_get(shards, i);
        if (!json_is_object(s)) {
            snprintf(err, errcap, "shards[%zu] is not an object", i);
            rc = SH_EMALFORMED;
        } else {
            rc = shard_row(t, s, i, err, errcap);
        }
        if (rc < 0) {
            ctl_table_free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

int ctl_locate_table(const json_t *doc, ctl_table_t **out, char *err, size_t errcap)
{
    *out = NULL;
    const json_t *type = json_object_get(doc, "type"), *id = json_object_get(doc, "id");
    const json_t *shard = json_object_get(doc, "shard"), *owner = json_object_get(doc, "owner");
    const json_t *active = json_object_get(doc, "active");
    const char *bad = !json_is_string(type)                             ? "type"
                      : !json_is_string(id)                             ? "id"
                      : !json_is_integer(shard)                         ? "shard"
                      : !(json_is_string(owner) || json_is_null(owner)) ? "owner"
                      : !(json_is_boolean(active) || json_is_null(active)) ? "active"
                                                                            : NULL;
    if (bad) {
        snprintf(err, errcap, "%s is missing or has the wrong type", bad);
        return SH_EMALFORMED;
    }
    static const char *const hdr[] = {"ENTITY", "SHARD", "OWNER", "ACTIVE"};
    ctl_table_t *t;
    int rc = ctl_table_new(&t, SH_ARRAY_LEN(hdr), hdr);
    if (rc < 0)
        return rc;
    size_t elen = strlen(json_string_value(type)) + strlen(json_string_value(id)) + 2;
    char *ent = malloc(elen), shs[24];
    if (!ent) {
        ctl_table_free(t);
        return -ENOMEM;
    }
    snprintf(ent, elen, "%s/%s", json_string_value(type), json_string_value(id));
    snprintf(shs, sizeof shs, "%" JSON_INTEGER_FORMAT, json_integer_value(shard));
    const char *cells[] = {ent, shs, json_string_value(owner),
                           json_is_null(active) ? "?" : json_is_true(active) ? "yes" : "no"};
    rc = ctl_table_add_row(t, cells);
    free(ent);
    if (rc < 0) {
        ctl_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
