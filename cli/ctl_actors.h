/*
 * ctl_actors.h - the pure parts of `shoalctl shards`, `locate` and
 * `invoke`: argument parsing, URL path escaping, and the tables built from
 * the API's documents.  No I/O (tests/unit/ctl_actors_test.c covers it).
 */
#ifndef CTL_ACTORS_H
#define CTL_ACTORS_H

#include <stddef.h>

#include <jansson.h>

#include "ctl_table.h"

/* Split "TYPE/ID" at the first '/' into type (tcap bytes) and id (icap
 * bytes; it may itself contain '/').  0, or SH_EBAD_REQUEST if either part
 * is empty or does not fit. */
int ctl_entity_parse(const char *arg, char *type, size_t tcap, char *id, size_t icap);

/* Percent-encode `in` as one path segment: RFC 3986 unreserved characters
 * (A-Z a-z 0-9 - . _ ~) stay, every other byte becomes %XX.  Returns the
 * length written (NUL-terminated), or -1 if it does not fit in cap. */
int ctl_path_escape(const char *in, char *out, size_t cap);

/* The `shoalctl shards` table - SHARD OWNER REPLICAS EPOCH STATE ENTITIES,
 * one row per shard, in the document's order - from a GET
 * /v1/cluster/shards document, or from GET /v1/cluster/shards/{n} (one
 * shard object).  REPLICAS is comma-separated; a null owner or entity
 * count prints "-".
 *   0               *out is a table the caller frees.
 *   SH_EMALFORMED   not the documented shape; err says what is missing.
 *   -ENOMEM */
int ctl_shards_table(const json_t *doc, ctl_table_t **out, char *err, size_t errcap);

/* The `shoalctl locate` table - ENTITY SHARD OWNER ACTIVE - from a GET
 * /v1/cluster/locate document ("active": true/false/null -> yes/no/?).
 * Same codes as ctl_shards_table. */
int ctl_locate_table(const json_t *doc, ctl_table_t **out, char *err, size_t errcap);

#endif
