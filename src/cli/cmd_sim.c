/* `airlock sim`: serves the demo plant's simulated devices (or benchmark
 * devices) over Modbus TCP until SIGINT/SIGTERM, or prints the gateway
 * configuration that polls them. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "sim/sim.h"

static void sim_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: airlock sim [--host ADDR] [--port-base N] [--seed N] [--fault SPEC]...\n"
        "                   [--identity SPEC]... [--bench-devices N --bench-registers M]\n"
        "                   [--print-config]\n\n"
        "Serves the demo plant's simulated devices over Modbus TCP, one server per device\n"
        "(unit id 1) on consecutive ports, until SIGINT or SIGTERM. Values come from\n"
        "deterministic physical models stepped every 100 ms: the same seed gives the same\n"
        "values at the same simulated time.\n\n"
        "Options:\n"
        "      --host ADDR          listen address (default 127.0.0.1)\n"
        "      --port-base N        port of the first device; the others follow (default "
        "%d)\n"
        "      --seed N             random seed, a non-negative integer (default 1)\n"
        "      --fault DEVICE:KIND[@START_S[-END_S]]\n"
        "                           inject a fault from START_S to END_S seconds after the\n"
        "                           start (default: from 0, until stopped); repeatable:\n"
        "                             bearing-wear  pump: vibration and bearing temperature grow\n"
        "                             drift         tt101, tt102: the reading drifts 0.3 "
        "degC/min\n"
        "                             offline       accepts connections, never answers\n"
        "                             refuse        listening socket closed (connection "
        "refused)\n"
        "                             garbage       answers with malformed frames\n"
        "                             exception     answers with exception 06 "
        "(ServerDeviceBusy)\n"
        "      --identity DEVICE=VENDOR,PRODUCT,REVISION | DEVICE=\n"
        "                           what DEVICE answers to Read Device Identification\n"
        "                           (function 43/14; default airlock,SIM-<device>,1.0);\n"
        "                           DEVICE= answers IllegalFunction instead; repeatable\n"
        "      --bench-devices N    serve N generic devices (1..%d) instead of the plant\n"
        "      --bench-registers M  holding registers per bench device, 1..65535 (default\n"
        "                           1000); register i holds (step + i) mod 65536\n"
        "      --print-config       print the gateway configuration (YAML) that polls what\n"
        "                           these options serve, and exit\n"
        "  -h, --help               this help\n\n"
        "Devices of the plant (port = port base + offset):\n",
        SIM_DEFAULT_PORT_BASE, SIM_MAX_BENCH_DEVICES);
    sim_describe_plant(out);
    fprintf(out, "\nExamples:\n"
                 "  airlock sim\n"
                 "  airlock sim --fault tank:offline@30-60 --fault pump:bearing-wear@120\n"
                 "  airlock sim --print-config > plant.yaml\n"
                 "  airlock sim --bench-devices 100 --bench-registers 1000 --port-base 20000\n"
                 "Register maps and physics: docs/demo-plant.md.\n");
}

/* Parses an unsigned decimal in [min, max]; prints an error and returns
 * false otherwise. */
static bool parse_number(const char *option, const char *text, unsigned long long min,
                         unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-' || v < min || v > max) {
        fprintf(stderr, "airlock sim: %s expects an integer in %llu..%llu, got '%s'\n", option, min,
                max, text);
        return false;
    }
    *out = v;
    return true;
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct sim_options *opt, bool *print_config)
{
    enum {
        OPT_HOST = 1000,
        OPT_PORT_BASE,
        OPT_SEED,
        OPT_FAULT,
        OPT_IDENTITY,
        OPT_DEVICES,
        OPT_REGISTERS,
        OPT_PRINT
    };
    static const struct option options[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port-base", required_argument, NULL, OPT_PORT_BASE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"fault", required_argument, NULL, OPT_FAULT},
        {"identity", required_argument, NULL, OPT_IDENTITY},
        {"bench-devices", required_argument, NULL, OPT_DEVICES},
        {"bench-registers", required_argument, NULL, OPT_REGISTERS},
        {"print-config", no_argument, NULL, OPT_PRINT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    sim_options_init(opt);
    *print_config = false;
    unsigned long long v;
    bool registers_given = false;
    char err[256];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case OPT_HOST:
            opt->host = optarg;
            break;
        case OPT_PORT_BASE:
            if (!parse_number("--port-base", optarg, 1, 65535, &v)) return 2;
            opt->port_base = (uint16_t)v;
            break;
        case OPT_SEED:
            if (!parse_number("--seed", optarg, 0, UINT64_MAX, &v)) return 2;
            opt->seed = v;
            break;
        case OPT_FAULT:
            if (opt->fault_count == SIM_MAX_FAULTS) {
                fprintf(stderr, "airlock sim: at most %d --fault options\n", SIM_MAX_FAULTS);
                return 2;
            }
            if (!sim_fault_parse(optarg, &opt->faults[opt->fault_count], err, sizeof err)) {
                fprintf(stderr, "airlock sim: --fault: %s\n", err);
                return 2;
            }
            opt->fault_count++;
            break;
        case OPT_IDENTITY:
            if (opt->identity_count == SIM_MAX_IDENTITIES) {
                fprintf(stderr, "airlock sim: at most %d --identity options\n", SIM_MAX_IDENTITIES);
                return 2;
            }
            if (!sim_identity_parse(optarg, &opt->identities[opt->identity_count], err,
                                    sizeof err)) {
                fprintf(stderr, "airlock sim: --identity: %s\n", err);
                return 2;
            }
            opt->identity_count++;
            break;
        case OPT_DEVICES:
            if (!parse_number("--bench-devices", optarg, 1, SIM_MAX_BENCH_DEVICES, &v)) return 2;
            opt->bench_devices = (uint32_t)v;
            break;
        case OPT_REGISTERS:
            if (!parse_number("--bench-registers", optarg, 1, 65535, &v)) return 2;
            opt->bench_registers = (uint32_t)v;
            registers_given = true;
            break;
        case OPT_PRINT:
            *print_config = true;
            break;
        case 'h':
            sim_usage(stdout);
            return 0;
        default:
            sim_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "airlock sim: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (registers_given && !opt->bench_devices) {
        fprintf(stderr, "airlock sim: --bench-registers needs --bench-devices\n");
        return 2;
    }
    if (opt->bench_devices && !registers_given) opt->bench_registers = 1000;
    char why[256];
    if (!sim_check_options(opt, why, sizeof why)) {
        fprintf(stderr, "airlock sim: %s\n", why);
        return 2;
    }
    size_t count = opt->bench_devices ? opt->bench_devices : 6;
    if (opt->port_base + count - 1 > 65535) {
        fprintf(stderr, "airlock sim: %zu devices from port %u would pass port 65535\n", count,
                opt->port_base);
        return 2;
    }
    return -1;
}

static int print_config(const struct sim_options *opt)
{
    char *yaml = sim_config_yaml(opt);
    if (!yaml) {
        fprintf(stderr, "airlock sim: out of memory\n");
        return 1;
    }
    fputs(yaml, stdout);
    free(yaml);
    return fflush(stdout) == 0 ? 0 : 1;
}

static void print_listening(struct sim_plant *plant, const struct sim_options *opt)
{
    for (size_t i = 0; i < sim_device_count(plant); i++) {
        struct sim_device_info info;
        sim_device_info(plant, i, &info);
        printf("%-9s listening on %s:%u unit %u  %s\n", info.name, opt->host, info.port,
               info.unit_id, info.title);
    }
    for (size_t i = 0; i < opt->fault_count; i++) {
        const struct sim_fault_spec *f = &opt->faults[i];
        if (f->end_s >= 0)
            printf("fault     %s:%s from %g s to %g s\n", f->device, sim_fault_kind_name(f->kind),
                   f->start_s, f->end_s);
        else
            printf("fault     %s:%s from %g s\n", f->device, sim_fault_kind_name(f->kind),
                   f->start_s);
    }
    printf("sim: seed %llu; Ctrl-C to stop\n", (unsigned long long)opt->seed);
    fflush(stdout);
}

int cmd_sim(int argc, char **argv)
{
    struct sim_options opt;
    bool print;
    int rc = parse_args(argc, argv, &opt, &print);
    if (rc >= 0) return rc;
    if (print) return print_config(&opt);

    /* This thread takes SIGINT/SIGTERM with sigwait; the server thread
     * blocks every signal. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    struct sim_plant *plant = sim_start(&opt, err, sizeof err);
    if (!plant) {
        fprintf(stderr, "airlock sim: %s\n", err);
        return 1;
    }
    print_listening(plant, &opt);
    int sig = 0;
    while (sigwait(&signals, &sig) != 0) {
    }
    sim_stop(plant);
    fprintf(stderr, "airlock sim: stopped (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}
