/*
 * sh_time.h - clock reads for adapters and tools.  Cores never include this:
 * they receive `now_ms` as an input.
 */
#ifndef SH_TIME_H
#define SH_TIME_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (for deadlines and timers). */
static inline uint64_t sh_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds since the Unix epoch (for timestamps shown to people). */
static inline uint64_t sh_time_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
