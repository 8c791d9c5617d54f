/* Helpers shared by the subcommands (commands.h): usage errors, and audit
 * records for changes made from the command line (users and tokens). */
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/commands.h"

int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "airlock %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see airlock %s --help)\n", cmd);
    return 2;
}

void cli_audit_record(const char *data_dir, const char *action, const char *object,
                      const char *new_value, const char *outcome, const char *details)
{
    char err[512], actor[128];
    const struct passwd *pw = getpwuid(geteuid());
    snprintf(actor, sizeof actor, "cli:%s", pw && pw->pw_name ? pw->pw_name : "?");
    struct audit *au = audit_open(data_dir, err, sizeof err);
    if (au) {
        struct audit_record r = {.actor = actor,
                                 .action = action,
                                 .object = object ? object : "",
                                 .new_value = new_value ? new_value : "",
                                 .outcome = outcome,
                                 .details = details ? details : ""};
        if (audit_append(au, &r, err, sizeof err) >= 0) {
            audit_close(au);
            return;
        }
        audit_close(au);
    }
    fprintf(stderr,
            "airlock: warning: %s was done but could not be recorded in the audit trail: %s\n",
            action, err);
}
