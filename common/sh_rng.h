/*
 * sh_rng.h - a small seeded PRNG (xoshiro256** seeded by splitmix64).
 *
 * Cores never call rand() or read the clock: the caller seeds an sh_rng_t
 * and passes it in, so the simulator replays a run exactly from one seed.
 * Header-only because it is hot and tiny.
 */
#ifndef SH_RNG_H
#define SH_RNG_H

#include <stdint.h>

typedef struct sh_rng {
    uint64_t s[4];
} sh_rng_t;

static inline uint64_t sh_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void sh_rng_seed(sh_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = sh_splitmix64(&seed);
}

static inline uint64_t sh_rng_rotl_(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t sh_rng_next(sh_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = sh_rng_rotl_(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sh_rng_rotl_(s[3], 45);
    return result;
}

/* Uniform in [0, n); n == 0 returns 0.  Lemire's multiply-shift, bias < 2^-32. */
static inline uint64_t sh_rng_below(sh_rng_t *r, uint64_t n)
{
    if (n == 0)
        return 0;
    return (uint64_t)(((unsigned __int128)sh_rng_next(r) * n) >> 64);
}

/* Uniform double in [0, 1). */
static inline double sh_rng_unit(sh_rng_t *r)
{
    return (double)(sh_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
