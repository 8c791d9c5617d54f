/* `airlock ot`, `airlock it` and `airlock link-key`: the two ends of the
 * one-way link (docs/oneway.md). ot and it run cmd_run.c's gateway loop
 * (signals, reload, audit records) in their mode; link-key makes a key. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli/commands.h"
#include "gateway/gateway.h"

/* Random bytes in a new key (256 bits), written as base64. */
#define LINK_KEY_RANDOM_BYTES 32

void cli_oneway_usage(FILE *out, int ot_side)
{
    if (ot_side) {
        fprintf(out, "Usage: airlock ot -c FILE [--data DIR] [--log-level L]\n\n"
                     "Runs the OT side of the one-way link: the devices of FILE are read and\n"
                     "every value goes to link.destination as authenticated UDP datagrams.\n"
                     "Nothing listens on this side (no HTTP server, no socket to read) and\n"
                     "nothing is stored or published here: that is `airlock it`'s job.\n\n"
                     "Options:\n"
                     "  -c, --config FILE     configuration with devices and a link section\n"
                     "                        {destination, key_file, ...} (docs/oneway.md)\n"
                     "      --data DIR        data directory for the audit trail (overrides\n"
                     "                        gateway.data_dir)\n"
                     "      --log-level L     debug, info, warn or error\n"
                     "  -h, --help            this help\n\n"
                     "Signals: SIGINT/SIGTERM stop; SIGHUP reloads FILE (refused if invalid).\n");
        return;
    }
    fprintf(out,
            "Usage: airlock it -c FILE [--http ADDR:PORT] [--data DIR] [--mqtt URL [--sparkplug "
            "GROUP]]\n\n"
            "Runs the IT side of the one-way link: receives on link.listen what\n"
            "`airlock ot` sends (tag table and values), never sends anything back, and\n"
            "serves it as `airlock run` does: last values, history, MQTT publishers,\n"
            "HTTP API and dashboard. The file has no devices.\n\n"
            "Options:\n"
            "  -c, --config FILE     configuration with a link section {listen, key_file, ...}\n"
            "                        (docs/oneway.md)\n"
            "      --http ADDR:PORT  HTTP listen address (overrides http.listen)\n"
            "      --data DIR        data directory (overrides gateway.data_dir)\n"
            "      --log-level L     debug, info, warn or error\n"
            "      --mqtt URL        also publish every tag to this MQTT broker (see airlock run)\n"
            "      --sparkplug GROUP with --mqtt: as a Sparkplug B edge node\n"
            "  -h, --help            this help\n\n"
            "Signals: SIGINT/SIGTERM stop; SIGHUP reloads FILE (refused if invalid).\n");
}

int cmd_ot(int argc, char **argv)
{
    return cmd_run_mode(argc, argv, GATEWAY_OT);
}

int cmd_it(int argc, char **argv)
{
    return cmd_run_mode(argc, argv, GATEWAY_IT);
}

static void link_key_usage(FILE *out)
{
    fprintf(out, "Usage: airlock link-key [--out FILE]\n\n"
                 "Makes a new key for the one-way link: 32 random bytes, base64 (44\n"
                 "characters). Both sides' link.key_file must hold the same key.\n\n"
                 "Options:\n"
                 "  -o, --out FILE  write it to FILE, created with mode 0600 (refused if it\n"
                 "                  exists); without it the key goes to stdout\n"
                 "  -h, --help      this help\n\n"
                 "The key file must not be readable by group or others: with stdout, use\n"
                 "  (umask 077; airlock link-key > link.key)\n");
}

/* Writes text to path, created 0600 and never overwritten. */
static int write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "airlock link-key: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "airlock link-key: cannot write %s: %s\n", path, strerror(errno));
            close(fd);
            unlink(path);
            return 1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, "airlock link-key: cannot write %s: %s\n", path, strerror(errno));
        unlink(path);
        return 1;
    }
    return 0;
}

int cmd_link_key(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *out = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            link_key_usage(stdout);
            return 0;
        default:
            link_key_usage(stderr);
            return 2;
        }
    }
    if (optind != argc)
        return cli_usage_error("link-key", "unexpected argument '%s'", argv[optind]);
    unsigned char random[LINK_KEY_RANDOM_BYTES];
    char text[4 * LINK_KEY_RANDOM_BYTES / 3 + 8];
    if (RAND_bytes(random, sizeof random) != 1) {
        fprintf(stderr, "airlock link-key: no random bytes (OpenSSL RAND_bytes failed)\n");
        return 1;
    }
    int n = EVP_EncodeBlock((unsigned char *)text, random, sizeof random);
    OPENSSL_cleanse(random, sizeof random);
    text[n] = '\n';
    text[n + 1] = '\0';
    int rc = 0;
    if (out) {
        rc = write_new_file(out, text);
    } else {
        fputs(text, stdout);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}
