/* sh_err.c - the error table's lookups; see sh_err.h. */
#include "sh_err.h"

#include "shoal/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct sh_err_row {
    int code;
    const char *symbol;
    const char *api;
    int http;
    bool retry;
    const char *text;
};

static const struct sh_err_row sh_err_rows[] = {
#define SH_ERR_ROW_(name, num, api, http, retry, text)                              \
    {SH_E##name, "SH_E" #name ": " text, api, http, retry, text},
    SH_ERR_MAP(SH_ERR_ROW_)
#undef SH_ERR_ROW_
};

static const struct sh_err_row *sh_err_find(int err)
{
    for (size_t i = 0; i < sizeof sh_err_rows / sizeof sh_err_rows[0]; i++)
        if (sh_err_rows[i].code == err)
            return &sh_err_rows[i];
    return NULL;
}

const char *sh_strerror(int err)
{
    if (err == 0)
        return "OK";
    const struct sh_err_row *row = sh_err_find(err);
    if (row)
        return row->symbol;
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "SH_EUNKNOWN: unknown error";
}

const char *sh_err_name(int err)
{
    const struct sh_err_row *row = sh_err_find(err);
    if (row)
        return row->api;
    if (err == -ETIMEDOUT)
        return "timeout";
    if (err == -ENOSPC)
        return "unavailable";
    return "internal";
}

int sh_err_http(int err)
{
    const struct sh_err_row *row = sh_err_find(err);
    return row ? row->http : 500;
}

bool sh_err_retryable(int err)
{
    const struct sh_err_row *row = sh_err_find(err);
    return row ? row->retry : false;
}

/* The public codes (include/shoal/error.h) are the same numbers. */
_Static_assert((int)SHOAL_EBAD_REQUEST == (int)SH_EBAD_REQUEST, "public code drift");
_Static_assert((int)SHOAL_ENOT_FOUND == (int)SH_ENOT_FOUND, "public code drift");
_Static_assert((int)SHOAL_ECONFLICT == (int)SH_ECONFLICT, "public code drift");
_Static_assert((int)SHOAL_EBUSY == (int)SH_EBUSY, "public code drift");
_Static_assert((int)SHOAL_EUNAVAILABLE == (int)SH_EUNAVAILABLE, "public code drift");
_Static_assert((int)SHOAL_ETIMEOUT == (int)SH_ETIMEOUT, "public code drift");
_Static_assert((int)SHOAL_EINTERNAL == (int)SH_EINTERNAL, "public code drift");
_Static_assert((int)SHOAL_ETOO_BIG == (int)SH_ETOO_BIG, "public code drift");
_Static_assert((int)SHOAL_EEXISTS == (int)SH_EEXISTS, "public code drift");
_Static_assert((int)SHOAL_ECORRUPT == (int)SH_ECORRUPT, "public code drift");
_Static_assert((int)SHOAL_ENOSPACE == (int)SH_ENOSPACE, "public code drift");
_Static_assert((int)SHOAL_ESEQ == (int)SH_ESEQ, "public code drift");
