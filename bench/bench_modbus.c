/* Benchmark: Modbus TCP collection end to end into the last-value table.
 *
 * Starts `airlock sim` in bench mode as a separate process (N devices x M
 * holding registers on loopback), runs the gateway in this process (no HTTP)
 * polling every device as fast as its interval allows, and measures over a
 * fixed window: values per second applied to the last-value table, Modbus
 * requests per poll cycle against the planner's minimum, CPU seconds per
 * million values (this process only: the gateway, not the simulator), and
 * resident memory. Prints a Markdown table.
 *
 * With "history" as the sixth argument every value also goes into the
 * embedded historian (batched durability, a store in a temporary directory
 * removed at the end); without it history is off, so the figures are those
 * of collection alone.
 *
 * Usage: bench_modbus AIRLOCK_BIN [devices] [registers] [seconds] [interval_ms] [history] */
#include <malloc.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "historian/historian.h"

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0) kb = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* The gateway configuration for the bench devices: one poll group each, every
 * register a uint16 tag, no deadband (every reading is a value). */
static char *bench_config(int devices, int registers, int port_base, int interval_ms,
                          const char *history_dir)
{
    size_t cap = (size_t)devices * (size_t)registers * 96 + (size_t)devices * 512 + 256;
    char *y = malloc(cap);
    if (!y) return NULL;
    size_t n;
    if (history_dir)
        n = (size_t)snprintf(y, cap,
                             "gateway: {name: bench, log_level: warn}\n"
                             "history: {dir: \"%s\", durability: batched}\ndevices:\n",
                             history_dir);
    else
        n = (size_t)snprintf(y, cap,
                             "gateway: {name: bench, log_level: warn}\n"
                             "history: {enabled: false}\ndevices:\n");
    for (int d = 0; d < devices; d++) {
        n += (size_t)snprintf(y + n, cap - n,
                              "  - name: dev%d\n    protocol: modbus-tcp\n    host: 127.0.0.1\n"
                              "    port: %d\n    timeout_ms: 2000\n"
                              "    namespace: bench/site/area/line/dev%d\n"
                              "    poll_groups:\n      - name: all\n        interval_ms: %d\n"
                              "        tags:\n",
                              d, port_base + d, d, interval_ms);
        for (int r = 0; r < registers; r++)
            n += (size_t)snprintf(y + n, cap - n,
                                  "          - {name: r%d, area: holding, address: %d, type: "
                                  "uint16}\n",
                                  r, r);
    }
    return y;
}

static uint64_t sum_stat(struct stats_registry *r, size_t offset)
{
    uint64_t total = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->count; i++)
        total += atomic_load((_Atomic uint64_t *)((char *)&r->devices[i] + offset));
    pthread_mutex_unlock(&r->lock);
    return total;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s AIRLOCK_BIN [devices] [registers] [seconds] [interval_ms]\n",
                argv[0]);
        return 2;
    }
    int devices = argc > 2 ? atoi(argv[2]) : 100;
    int registers = argc > 3 ? atoi(argv[3]) : 1000;
    int seconds = argc > 4 ? atoi(argv[4]) : 10;
    int interval_ms = argc > 5 ? atoi(argv[5]) : 10;
    bool with_history = argc > 6 && strcmp(argv[6], "history") == 0;
    char history_dir[] = "/tmp/airlock-bench-history-XXXXXX";
    if (with_history && !mkdtemp(history_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int port_base = 21000 + (int)(getpid() % 2000) * 1;
    log_set_level(LOG_WARN);

    char dev_arg[16], reg_arg[16], port_arg[16];
    snprintf(dev_arg, sizeof dev_arg, "%d", devices);
    snprintf(reg_arg, sizeof reg_arg, "%d", registers);
    snprintf(port_arg, sizeof port_arg, "%d", port_base);
    pid_t sim = fork();
    if (sim == 0) {
        execl(argv[1], argv[1], "sim", "--bench-devices", dev_arg, "--bench-registers", reg_arg,
              "--port-base", port_arg, (char *)NULL);
        perror("exec airlock sim");
        _exit(127);
    }
    clock_sleep_until_ms(clock_mono_ms() + 1000); /* let it bind */

    char *yaml =
        bench_config(devices, registers, port_base, interval_ms, with_history ? history_dir : NULL);
    struct config cfg;
    struct config_error cerr;
    long rss_before_kb = status_kb("VmRSS:");
    if (!yaml || !config_load_string(yaml, strlen(yaml), "<bench>", &cfg, &cerr)) {
        char msg[1024];
        config_error_format(&cerr, msg, sizeof msg);
        fprintf(stderr, "bench config: %s\n", msg);
        kill(sim, SIGTERM);
        return 1;
    }
    free(yaml);
    malloc_trim(0);
    long rss_config_kb = status_kb("VmRSS:");
    struct gateway_options opt = {.no_http = true};
    char err[512];
    struct gateway *g = gateway_start(&cfg, &opt, err, sizeof err);
    if (!g) {
        fprintf(stderr, "gateway: %s\n", err);
        kill(sim, SIGTERM);
        return 1;
    }
    long rss_started_kb = status_kb("VmRSS:");
    struct lvt *lvt = gateway_lvt(g);
    struct stats_registry *st = gateway_stats(g);
    clock_sleep_until_ms(clock_mono_ms() + 2000); /* warm up: connect, first polls */

    uint64_t v0 = atomic_load(&lvt->values_applied);
    uint64_t req0 = sum_stat(st, offsetof(struct device_stats, requests));
    uint64_t polls0 = sum_stat(st, offsetof(struct device_stats, polls));
    uint64_t err0 = sum_stat(st, offsetof(struct device_stats, errors));
    double cpu0 = cpu_seconds();
    int64_t t0 = clock_mono_ns();
    clock_sleep_until_ms(clock_mono_ms() + seconds * 1000);
    int64_t t1 = clock_mono_ns();
    double cpu1 = cpu_seconds();
    uint64_t v1 = atomic_load(&lvt->values_applied);
    uint64_t req1 = sum_stat(st, offsetof(struct device_stats, requests));
    uint64_t polls1 = sum_stat(st, offsetof(struct device_stats, polls));
    uint64_t err1 = sum_stat(st, offsetof(struct device_stats, errors));
    long rss_kb = status_kb("VmRSS:"), hwm_kb = status_kb("VmHWM:");

    double wall = (double)(t1 - t0) / 1e9;
    double values = (double)(v1 - v0);
    double per_cycle = polls1 > polls0 ? (double)(req1 - req0) / (double)(polls1 - polls0) : 0;
    int min_per_cycle = (registers + 124) / 125;
    printf("| metric | value |\n| --- | --- |\n");
    printf("| devices x registers (tags) | %d x %d (%d) |\n", devices, registers,
           devices * registers);
    printf("| poll interval | %d ms |\n", interval_ms);
    printf("| values/s into the last-value table | %.0f |\n", values / wall);
    printf("| Modbus requests per poll cycle (planner minimum) | %.2f (%d) |\n", per_cycle,
           min_per_cycle);
    printf("| request errors in the window | %llu |\n", (unsigned long long)(err1 - err0));
    printf("| gateway CPU seconds per million values | %.3f |\n",
           values > 0 ? (cpu1 - cpu0) / (values / 1e6) : 0);
    printf("| gateway CPU use | %.0f %% of one core |\n", 100.0 * (cpu1 - cpu0) / wall);
    printf("| resident memory (now / peak) | %.1f MB / %.1f MB |\n", rss_kb / 1024.0,
           hwm_kb / 1024.0);
    printf("| resident memory before the gateway | %.1f MB |\n", rss_before_kb / 1024.0);
    printf("| resident memory with the configuration loaded | %.1f MB |\n", rss_config_kb / 1024.0);
    printf("| resident memory with the gateway started | %.1f MB |\n", rss_started_kb / 1024.0);

    if (with_history) {
        struct hist_stats hs;
        hist_get_stats(gateway_historian(g), &hs);
        printf("| history: samples accepted in the run / on disk | %llu / %llu (%.2f bytes per "
               "point on disk so far) |\n",
               (unsigned long long)hs.samples_accepted, (unsigned long long)hs.points_on_disk,
               hs.points_on_disk ? (double)hs.bytes_on_disk / (double)hs.points_on_disk : 0.0);
        printf("| history: checkpoints, fsyncs, degraded | %llu, %llu, %s |\n",
               (unsigned long long)hs.checkpoints, (unsigned long long)hs.fsyncs,
               hs.degraded ? "yes" : "no");
    }
    gateway_stop(g);
    kill(sim, SIGTERM);
    waitpid(sim, NULL, 0);
    if (with_history) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", history_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", history_dir);
    }
    return 0;
}
