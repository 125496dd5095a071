/* cfg_test.c - shoald flags and SHOAL_* environment (suite "cfg"). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "sh_err.h"

static cfg_t c;
static char err[512];

/* Parse a NULL-terminated argv list (argv[0] supplied) with envp. */
static int parse_env(char *const envp[], const char *a1, ...)
{
    char *argv[64] = {"shoald"};
    int argc = 1;
    va_list ap;
    va_start(ap, a1);
    for (const char *a = a1; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return cfg_parse(&c, argc, argv, envp, err, sizeof err);
}

#define PARSE(...) parse_env(NULL, __VA_ARGS__, (const char *)NULL)

/* ---- defaults -------------------------------------------------------- */

START_TEST(test_cfg_defaults)
{
    char *envp[] = {"SHOAL_ID=n1", NULL};
    ck_assert_int_eq(parse_env(envp, NULL), 0);
    ck_assert_str_eq(c.id, "n1");
    ck_assert_str_eq(c.bind, "127.0.0.1:7946");
    ck_assert_str_eq(c.advertise, "127.0.0.1:7946");
    ck_assert_str_eq(c.http, "127.0.0.1:8080");
    ck_assert_uint_eq(c.nseeds, 0);
    ck_assert_str_eq(c.data, "./shoal-data");
    ck_assert_uint_eq(c.shards, 256);
    ck_assert_uint_eq(c.replicas, 3);
    ck_assert_str_eq(c.cluster, "shoal");
    ck_assert_str_eq(c.secret, "");
    ck_assert(!c.log_json);
    ck_assert_int_eq(c.log_level, 1); /* info */
    ck_assert_uint_eq(c.probe_interval_ms, 1000);
    ck_assert_uint_eq(c.probe_timeout_ms, 500);
    ck_assert_uint_eq(c.suspicion_mult, 4);
    ck_assert_uint_eq(c.pushpull_interval_ms, 30000);
    ck_assert(!c.debug_faults);
    ck_assert_uint_ge(c.workers, 1);
    ck_assert_uint_le(c.workers, CFG_WORKERS_MAX);
    ck_assert_uint_eq(c.mailbox, 1000);
    ck_assert_uint_eq(c.idle_timeout_ms, 60000);
    ck_assert_uint_eq(c.max_active, 1000000);
    ck_assert_uint_eq(c.call_timeout_ms, 5000);
    ck_assert_uint_eq(c.ratelimit_limit, 100);
    ck_assert_uint_eq(c.ratelimit_window_ms, 3600000);
    ck_assert_uint_eq(c.nplugins, 0);
}
END_TEST

/* Durations: plain ms or a number with ms, s, m or h. */
START_TEST(test_cfg_runtime_flags)
{
    ck_assert_int_eq(PARSE("--id=n1", "--workers=3", "--mailbox", "2", "--idle-timeout=500ms",
                           "--max-active=10", "--call-timeout=2s", "--ratelimit-limit=7",
                           "--ratelimit-window=5m"),
                     0);
    ck_assert_uint_eq(c.workers, 3);
    ck_assert_uint_eq(c.mailbox, 2);
    ck_assert_uint_eq(c.idle_timeout_ms, 500);
    ck_assert_uint_eq(c.max_active, 10);
    ck_assert_uint_eq(c.call_timeout_ms, 2000);
    ck_assert_uint_eq(c.ratelimit_limit, 7);
    ck_assert_uint_eq(c.ratelimit_window_ms, 300000);
    ck_assert_int_eq(PARSE("--id=n1", "--idle-timeout=1500", "--ratelimit-window=1h"), 0);
    ck_assert_uint_eq(c.idle_timeout_ms, 1500);
    ck_assert_uint_eq(c.ratelimit_window_ms, 3600000);
    uint32_t ms;
    ck_assert_int_eq(cfg_duration_ms("4294967295", &ms), 0);
    ck_assert_uint_eq(ms, 4294967295u);
    ck_assert_int_eq(cfg_duration_ms("4294967296", &ms), -1);
    ck_assert_int_eq(cfg_duration_ms("1193h", &ms), 0);
    ck_assert_int_eq(cfg_duration_ms("1194000h", &ms), -1);
    ck_assert_int_eq(cfg_duration_ms("s", &ms), -1);
    ck_assert_int_eq(cfg_duration_ms("1.5s", &ms), -1);
    ck_assert_int_eq(cfg_duration_ms("-1", &ms), -1);
}
END_TEST

/* --plugin repeats; SHOAL_PLUGIN is a comma list that the first --plugin
 * replaces (flags win over the environment). */
START_TEST(test_cfg_plugins)
{
    char *envp[] = {"SHOAL_ID=n1", "SHOAL_PLUGIN=/a.so,/b.so", NULL};
    ck_assert_int_eq(parse_env(envp, NULL), 0);
    ck_assert_uint_eq(c.nplugins, 2);
    ck_assert_str_eq(c.plugins[0], "/a.so");
    ck_assert_str_eq(c.plugins[1], "/b.so");
    ck_assert_int_eq(parse_env(envp, "--plugin", "/c.so", "--plugin=/d.so", NULL), 0);
    ck_assert_uint_eq(c.nplugins, 2);
    ck_assert_str_eq(c.plugins[0], "/c.so");
    ck_assert_str_eq(c.plugins[1], "/d.so");
    char *bad[] = {"SHOAL_ID=n1", "SHOAL_PLUGIN=/a.so,,/b.so", NULL};
    ck_assert_int_eq(parse_env(bad, NULL), SH_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "SHOAL_PLUGIN"));
}
END_TEST

START_TEST(test_cfg_default_id_is_hostname)
{
    char host[256] = "";
    ck_assert_int_eq(gethostname(host, sizeof host - 1), 0);
    int rc = parse_env(NULL, NULL);
    if (cfg_name_valid(host)) {
        ck_assert_int_eq(rc, 0);
        ck_assert_str_eq(c.id, host);
    } else {
        ck_assert_int_eq(rc, SH_EBAD_REQUEST);
        ck_assert_ptr_nonnull(strstr(err, "--id"));
    }
}
END_TEST

/* ---- flags ----------------------------------------------------------- */

START_TEST(test_cfg_flags_both_forms)
{
    ck_assert_int_eq(PARSE("--id", "a.b_c-1", "--bind=10.0.0.1:7000", "--http", "0.0.0.0:9000",
                           "--seeds=10.0.0.2:7000,host-b:7001", "--data", "/tmp/x", "--shards=1",
                           "--replicas", "5", "--cluster=prod", "--secret", "s3cr3t",
                           "--log-format=json", "--log-level", "debug", "--probe-interval=200",
                           "--probe-timeout", "100", "--suspicion-mult=6",
                           "--pushpull-interval", "5000", "--debug-faults"),
                     0);
    ck_assert_str_eq(c.id, "a.b_c-1");
    ck_assert_str_eq(c.bind, "10.0.0.1:7000");
    ck_assert_str_eq(c.advertise, "10.0.0.1:7000");
    ck_assert_str_eq(c.http, "0.0.0.0:9000");
    ck_assert_uint_eq(c.nseeds, 2);
    ck_assert_str_eq(c.seeds[0], "10.0.0.2:7000");
    ck_assert_str_eq(c.seeds[1], "host-b:7001");
    ck_assert_str_eq(c.data, "/tmp/x");
    ck_assert_uint_eq(c.shards, 1);
    ck_assert_uint_eq(c.replicas, 5);
    ck_assert_str_eq(c.cluster, "prod");
    ck_assert_str_eq(c.secret, "s3cr3t");
    ck_assert(c.log_json);
    ck_assert_int_eq(c.log_level, 0);
    ck_assert_uint_eq(c.probe_interval_ms, 200);
    ck_assert_uint_eq(c.probe_timeout_ms, 100);
    ck_assert_uint_eq(c.suspicion_mult, 6);
    ck_assert_uint_eq(c.pushpull_interval_ms, 5000);
    ck_assert(c.debug_faults);
}
END_TEST

START_TEST(test_cfg_advertise_explicit)
{
    ck_assert_int_eq(PARSE("--id", "n1", "--bind", "0.0.0.0:7946", "--advertise",
                           "192.168.1.5:7946"),
                     0);
    ck_assert_str_eq(c.bind, "0.0.0.0:7946");
    ck_assert_str_eq(c.advertise, "192.168.1.5:7946");
}
END_TEST

START_TEST(test_cfg_bool_values)
{
    ck_assert_int_eq(PARSE("--id=n1", "--debug-faults=false"), 0);
    ck_assert(!c.debug_faults);
    ck_assert_int_eq(PARSE("--id=n1", "--debug-faults=true"), 0);
    ck_assert(c.debug_faults);
    ck_assert_int_eq(PARSE("--id=n1", "--debug-faults=maybe"), SH_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "--debug-faults"));
}
END_TEST

START_TEST(test_cfg_ipv6_and_empty_seeds)
{
    ck_assert_int_eq(PARSE("--id=n1", "--bind=[::1]:7946", "--seeds="), 0);
    ck_assert_str_eq(c.bind, "[::1]:7946");
    ck_assert_uint_eq(c.nseeds, 0);
}
END_TEST

/* ---- environment and precedence -------------------------------------- */

START_TEST(test_cfg_env)
{
    char *envp[] = {"PATH=/bin", "SHOAL_ID=env-node", "SHOAL_BIND=127.0.0.2:7000",
                    "SHOAL_PROBE_INTERVAL=300", "SHOAL_PROBE_TIMEOUT=100",
                    "SHOAL_DEBUG_FAULTS=1", "SHOAL_SECRET=from-env",
                    "SHOAL_SEEDS=127.0.0.1:7946", "SHOAL_LOG_FORMAT=json", NULL};
    ck_assert_int_eq(parse_env(envp, NULL), 0);
    ck_assert_str_eq(c.id, "env-node");
    ck_assert_str_eq(c.bind, "127.0.0.2:7000");
    ck_assert_str_eq(c.advertise, "127.0.0.2:7000");
    ck_assert_uint_eq(c.probe_interval_ms, 300);
    ck_assert(c.debug_faults);
    ck_assert_str_eq(c.secret, "from-env");
    ck_assert_uint_eq(c.nseeds, 1);
    ck_assert(c.log_json);
}
END_TEST

START_TEST(test_cfg_flags_win_over_env)
{
    char *envp[] = {"SHOAL_ID=env-node", "SHOAL_SHARDS=64", "SHOAL_CLUSTER=envc", NULL};
    ck_assert_int_eq(parse_env(envp, "--shards", "128", "--id=flag-node", NULL), 0);
    ck_assert_str_eq(c.id, "flag-node");
    ck_assert_uint_eq(c.shards, 128);
    ck_assert_str_eq(c.cluster, "envc"); /* env still beats the default */
}
END_TEST

START_TEST(test_cfg_env_bad_value_names_variable)
{
    char *envp[] = {"SHOAL_ID=n1", "SHOAL_SHARDS=0", NULL};
    ck_assert_int_eq(parse_env(envp, NULL), SH_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "SHOAL_SHARDS"));
}
END_TEST

/* ---- bad input ------------------------------------------------------- */

/* Each row: argv after "--id=n1"; every one must fail with SH_EBAD_REQUEST
 * and a message naming the offending flag (or argument). */
static const struct {
    const char *a, *mention;
} bad_args[] = {
    {"--shards=0", "--shards"},
    {"--shards=65537", "--shards"},
    {"--shards=abc", "--shards"},
    {"--shards=-1", "--shards"},
    {"--shards=99999999999", "--shards"},
    {"--replicas=0", "--replicas"},
    {"--bind=nohost", "--bind"},
    {"--bind=1.2.3.4:0", "--bind"},
    {"--bind=1.2.3.4:70000", "--bind"},
    {"--bind=:7946", "--bind"},
    {"--bind=a b:1", "--bind"},
    {"--http=1.2.3.4:", "--http"},
    {"--seeds=a:1,,b:2", "--seeds"},
    {"--seeds=a:1,b", "--seeds"},
    {"--id=has space", "--id"},
    {"--id=", "--id"},
    {"--id=0123456789012345678901234567890123456789012345678901234567890123", "--id"},
    {"--cluster=a/b", "--cluster"},
    {"--log-format=xml", "--log-format"},
    {"--log-level=loud", "--log-level"},
    {"--probe-interval=10", "--probe-interval"},
    {"--probe-timeout=1000", "--probe-timeout"}, /* not below the interval */
    {"--suspicion-mult=0", "--suspicion-mult"},
    {"--nope=1", "--nope"},
    {"--data", "--data"},    /* missing value */
    {"positional", "positional"},
    {"--", "--"},
    {"--http=127.0.0.1:7946", "--http"}, /* same as --bind */
    {"--replicas=9", "--replicas"},
    {"--workers=0", "--workers"},
    {"--workers=257", "--workers"},
    {"--mailbox=0", "--mailbox"},
    {"--max-active=0", "--max-active"},
    {"--idle-timeout=0", "--idle-timeout"},
    {"--idle-timeout=5x", "--idle-timeout"},
    {"--idle-timeout=", "--idle-timeout"},
    {"--call-timeout=61s", "--call-timeout"},
    {"--ratelimit-limit=0", "--ratelimit-limit"},
    {"--plugin=", "--plugin"},
};

START_TEST(test_cfg_bad_values)
{
    ck_assert_int_eq(PARSE("--id=n1", bad_args[_i].a), SH_EBAD_REQUEST);
    ck_assert_msg(strstr(err, bad_args[_i].mention) != NULL, "arg %s: message '%s'",
                  bad_args[_i].a, err);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_cfg_secret_never_echoed)
{
    char big[CFG_SECRET_MAX + 8];
    memset(big, 'S', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char flag[CFG_SECRET_MAX + 32];
    snprintf(flag, sizeof flag, "--secret=%s", big);
    ck_assert_int_eq(PARSE("--id=n1", flag), SH_EBAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(err, "--secret"));
    ck_assert_ptr_null(strstr(err, "SSSS"));
}
END_TEST

/* ---- help ------------------------------------------------------------ */

START_TEST(test_cfg_help)
{
    ck_assert_int_eq(PARSE("--shards=0", "--help"), CFG_HELP);
    ck_assert_int_eq(PARSE("-h"), CFG_HELP);
    size_t need = cfg_usage(NULL, 0);
    ck_assert_uint_gt(need, 100);
    char *text = malloc(need + 1);
    ck_assert_uint_eq(cfg_usage(text, need + 1), need);
    ck_assert_uint_eq(strlen(text), need);
    static const char *const flags[] = {
        "--id", "--bind HOST:PORT", "--advertise", "--http HOST:PORT", "--seeds", "--data",
        "--shards", "--replicas", "--cluster", "--secret", "--log-format", "--log-level",
        "--probe-interval", "--probe-timeout", "--suspicion-mult", "--pushpull-interval",
        "--debug-faults", "--help", "SHOAL_SECRET", "SHOAL_PUSHPULL_INTERVAL",
        "--workers N", "--mailbox N", "--idle-timeout DUR", "--max-active N",
        "--call-timeout DUR", "--plugin PATH", "--ratelimit-limit N", "--ratelimit-window DUR",
        "SHOAL_PLUGIN", "default: 60s", "default: 5s", "default: 1h", "default: 1000000",
        "number of cores",
        "default: 127.0.0.1:7946", "default: 127.0.0.1:8080", "default: 256", "default: 3",
        "default: shoal", "default: ./shoal-data", "default: 1000", "default: 500",
        "default: 30000", "default: text", "default: info"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        ck_assert_msg(strstr(text, flags[i]) != NULL, "help lacks '%s'", flags[i]);
    char small[16];
    ck_assert_uint_eq(cfg_usage(small, sizeof small), need);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    free(text);
}
END_TEST

START_TEST(test_cfg_validators)
{
    ck_assert(cfg_addr_valid("127.0.0.1:1"));
    ck_assert(cfg_addr_valid("host-a.example:65535"));
    ck_assert(!cfg_addr_valid("host:65536"));
    ck_assert(!cfg_addr_valid("host:12a"));
    ck_assert(!cfg_addr_valid("[zz]:1"));
    ck_assert(cfg_name_valid("n_1.x-y"));
    ck_assert(!cfg_name_valid("n!"));
}
END_TEST

static Suite *cfg_suite(void)
{
    Suite *s = suite_create("cfg");
    TCase *tc = tcase_create("defaults");
    tcase_add_test(tc, test_cfg_defaults);
    tcase_add_test(tc, test_cfg_default_id_is_hostname);
    suite_add_tcase(s, tc);
    tc = tcase_create("flags");
    tcase_add_test(tc, test_cfg_flags_both_forms);
    tcase_add_test(tc, test_cfg_advertise_explicit);
    tcase_add_test(tc, test_cfg_bool_values);
    tcase_add_test(tc, test_cfg_ipv6_and_empty_seeds);
    tcase_add_test(tc, test_cfg_runtime_flags);
    tcase_add_test(tc, test_cfg_plugins);
    suite_add_tcase(s, tc);
    tc = tcase_create("env");
    tcase_add_test(tc, test_cfg_env);
    tcase_add_test(tc, test_cfg_flags_win_over_env);
    tcase_add_test(tc, test_cfg_env_bad_value_names_variable);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_input");
    tcase_add_loop_test(tc, test_cfg_bad_values, 0, (int)(sizeof bad_args / sizeof bad_args[0]));
    tcase_add_test(tc, test_cfg_secret_never_echoed);
    tcase_add_test(tc, test_cfg_validators);
    suite_add_tcase(s, tc);
    tc = tcase_create("help");
    tcase_add_test(tc, test_cfg_help);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cfg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
