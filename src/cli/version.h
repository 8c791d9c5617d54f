/* The version airlock reports (API, --version, metrics). */
#ifndef AIRLOCK_CLI_VERSION_H
#define AIRLOCK_CLI_VERSION_H
#define AIRLOCK_VERSION "0.1.0"
#endif
