/* sh_err.c - the error table's lookups; see sh_err.h. */
#include "sh_err.h"

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
#define SH_ERR_ROW_(name, api, http, retry, text)                              \
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
