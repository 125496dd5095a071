/*
 * shoal/error.h - error codes of the public API.  Negative; the same values
 * as the daemon's internal table (common/sh_err.h checks this at compile
 * time).  The stable API names ("busy", "timeout", ...) are what HTTP and
 * native clients see.
 */
#ifndef SHOAL_ERROR_H
#define SHOAL_ERROR_H

enum shoal_error {
    SHOAL_EBAD_REQUEST = -9001, /* bad_request (400) */
    SHOAL_ENOT_FOUND = -9002,   /* not_found (404) */
    SHOAL_ECONFLICT = -9003,    /* conflict (409) */
    SHOAL_EBUSY = -9004,        /* busy (429), retryable */
    SHOAL_EUNAVAILABLE = -9005, /* unavailable (503), retryable */
    SHOAL_ETIMEOUT = -9006,     /* timeout (504), retryable */
    SHOAL_EINTERNAL = -9007,    /* internal (500) */
    SHOAL_ETOO_BIG = -9009,     /* bad_request (400): a size limit */
    SHOAL_EEXISTS = -9016,      /* conflict (409) */
    SHOAL_ECORRUPT = -9017,     /* internal (500): entity state corrupt */
    SHOAL_ENOSPACE = -9018,     /* unavailable (503), retryable: journal full */
    SHOAL_ESEQ = -9019,         /* unavailable (503), retryable: journal sequence conflict */
};

#endif
