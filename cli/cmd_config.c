/* `meterd config`: prints the configuration property table, or checks config
 * files and reports every problem in them. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cmd.h"
#include "core/config.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd config --list\n"
                 "       meterd config --check FILE [--check FILE...]\n"
                 "\n"
                 "  -l, --list         print every configuration property: path, type, default,\n"
                 "                     range, environment override and description\n"
                 "  -c, --check FILE   load FILE as meterd would (defaults, then the file, then\n"
                 "                     METERD_* environment overrides) and print \"FILE: ok\", or\n"
                 "                     every problem as \"FILE: <path>: <message>\" on stderr\n"
                 "  -h, --help         show this help\n"
                 "\n"
                 "exit status: 0 all files ok, 2 a problem or a usage error\n");
}

/* Returns true when the file loads cleanly. */
static bool check_file(const char *path)
{
    mtr_config_t *config = NULL;
    mtr_config_problems_t problems = {0};
    char errstr[512];
    mtr_err_t err = mtr_config_load(path, &config, &problems, errstr, sizeof errstr);
    if (err == MTR_OK) {
        printf("%s: ok\n", path);
        mtr_config_free(config);
        mtr_config_problems_free(&problems);
        return true;
    }
    for (size_t i = 0; i < problems.count; i++) {
        const mtr_config_problem_t *p = &problems.items[i];
        if (*p->path)
            fprintf(stderr, "%s: %s: %s\n", path, p->path, p->message);
        else
            fprintf(stderr, "%s: %s\n", path, p->message);
    }
    if (!problems.count)
        fprintf(stderr, "%s: %s\n", path, errstr);
    mtr_config_problems_free(&problems);
    return false;
}

int cmd_config(int argc, char **argv)
{
    static const struct option options[] = {
        {"list", no_argument, NULL, 'l'},
        {"check", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool list = false;
    const char *files[64];
    int n_files = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "lc:h", options, NULL)) != -1) {
        switch (c) {
        case 'l':
            list = true;
            break;
        case 'c':
            if (n_files == (int)(sizeof files / sizeof files[0])) {
                fprintf(stderr, "meterd config: at most %zu --check files at once\n",
                        sizeof files / sizeof files[0]);
                return 2;
            }
            files[n_files++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meterd config: unexpected argument \"%s\" (use --check FILE)\n\n",
                argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!list && !n_files) {
        usage(stderr);
        return 2;
    }
    if (list)
        mtr_config_print_table(stdout);
    bool ok = true;
    for (int i = 0; i < n_files; i++)
        ok &= check_file(files[i]);
    return ok ? 0 : 2;
}
