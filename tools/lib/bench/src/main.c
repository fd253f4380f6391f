/*
 * eddy-bench: a load generator for any Kinesis endpoint (tools/lib/bench/README.md).
 * Parses the options, runs one workload on one libuv loop, prints a
 * summary line and writes the report as JSON. Exit 0 when the run
 * completed (some calls may still have failed: see the report), 1 on bad
 * options, 2 when the run could not complete (setup failed, deadline) or
 * every call failed.
 */
#include "report.h"
#include "run.h"
#include "workload.h"

#include "eddy/errors.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A PutRecords request may carry 5 MiB (AWS's documented request limit). */
#define MAIN_CALL_BYTES_MAX (5u << 20)
#define MAIN_RECORD_BYTES_MAX (1u << 20)
#define MAIN_SECONDS_MAX 3600.0

static const char main_usage[] =
    "usage: eddy-bench --workload put|get|e2e --endpoint http://HOST:PORT [--endpoint ...]\n"
    "                  --stream NAME [options]\n"
    "  --label NAME         target name in the report (default: target)\n"
    "  --api PutRecords|PutRecord   put: the call (default PutRecords)\n"
    "  --connections N      put: closed-loop clients, one connection each (default 8)\n"
    "  --record-bytes N     payload per record (default 100)\n"
    "  --batch N            records per PutRecords (default 500)\n"
    "  --bodies N           put: distinct pre-encoded requests (default 16)\n"
    "  --warmup S           seconds before the window (default 2)\n"
    "  --seconds S          the measured window (default 10)\n"
    "  --total-records N    put: send N records and time all of them (no window)\n"
    "  --rate N             e2e: records per second produced (default 1000)\n"
    "  --interval-ms N      e2e: one PutRecords every N ms (default 10)\n"
    "  --poll-ms N          get, e2e: pause after an empty GetRecords (default 2)\n"
    "  --limit N            GetRecords Limit (default 10000)\n"
    "  --pid N              a target process to sample (CPU, RSS); repeatable\n"
    "  --timeout S          hard bound on the run (default warmup + seconds + 60)\n"
    "  --json FILE          write the report there\n";

static int main_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max || s[0] == '-') {
        return -1;
    }
    *out = v;
    return 0;
}

static int main_seconds(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0 && v <= MAIN_SECONDS_MAX)) {
        return -1;
    }
    *out = v;
    return 0;
}

enum {
    OPT_WORKLOAD = 0x100,
    OPT_ENDPOINT,
    OPT_STREAM,
    OPT_LABEL,
    OPT_API,
    OPT_CONNECTIONS,
    OPT_RECORD_BYTES,
    OPT_BATCH,
    OPT_BODIES,
    OPT_WARMUP,
    OPT_SECONDS,
    OPT_TOTAL,
    OPT_RATE,
    OPT_INTERVAL,
    OPT_POLL,
    OPT_LIMIT,
    OPT_PID,
    OPT_TIMEOUT,
    OPT_JSON,
};

static const struct option main_options[] = {
    {"workload", required_argument, NULL, OPT_WORKLOAD},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"stream", required_argument, NULL, OPT_STREAM},
    {"label", required_argument, NULL, OPT_LABEL},
    {"api", required_argument, NULL, OPT_API},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"record-bytes", required_argument, NULL, OPT_RECORD_BYTES},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"bodies", required_argument, NULL, OPT_BODIES},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"seconds", required_argument, NULL, OPT_SECONDS},
    {"total-records", required_argument, NULL, OPT_TOTAL},
    {"rate", required_argument, NULL, OPT_RATE},
    {"interval-ms", required_argument, NULL, OPT_INTERVAL},
    {"poll-ms", required_argument, NULL, OPT_POLL},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"pid", required_argument, NULL, OPT_PID},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", required_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into o; -1 on a bad value. */
static int main_option(struct run_opts *o, int opt, const char *arg, const char **json)
{
    unsigned long v = 0;
    switch (opt) {
    case OPT_WORKLOAD:
        o->workload = arg;
        return 0;
    case OPT_ENDPOINT:
        if (o->endpoint_count >= RUN_ENDPOINTS_MAX) {
            return -1;
        }
        o->endpoints[o->endpoint_count++] = arg;
        return 0;
    case OPT_STREAM:
        o->stream = arg;
        return 0;
    case OPT_LABEL:
        o->label = arg;
        return 0;
    case OPT_API:
        if (strcmp(arg, "PutRecord") != 0 && strcmp(arg, "PutRecords") != 0) {
            return -1;
        }
        o->single = strcmp(arg, "PutRecord") == 0;
        return 0;
    case OPT_CONNECTIONS:
        if (main_uint(arg, RUN_CONNECTIONS_MAX, &v) != 0 || v == 0) {
            return -1;
        }
        o->connections = (unsigned)v;
        return 0;
    case OPT_RECORD_BYTES:
        if (main_uint(arg, MAIN_RECORD_BYTES_MAX, &v) != 0 || v == 0) {
            return -1;
        }
        o->record_bytes = (unsigned)v;
        return 0;
    case OPT_BATCH:
        if (main_uint(arg, 500, &v) != 0 || v == 0) {
            return -1;
        }
        o->batch = (unsigned)v;
        return 0;
    case OPT_BODIES:
        if (main_uint(arg, 1024, &v) != 0 || v == 0) {
            return -1;
        }
        o->bodies = (unsigned)v;
        return 0;
    case OPT_WARMUP:
        return main_seconds(arg, &o->warmup_s);
    case OPT_SECONDS:
        return main_seconds(arg, &o->seconds);
    case OPT_TIMEOUT:
        return main_seconds(arg, &o->timeout_s);
    case OPT_TOTAL:
        if (main_uint(arg, 1000000000ul, &v) != 0) {
            return -1;
        }
        o->total_records = v;
        return 0;
    case OPT_RATE:
        if (main_uint(arg, 1000000ul, &v) != 0 || v == 0) {
            return -1;
        }
        o->rate = (unsigned)v;
        return 0;
    case OPT_INTERVAL:
        if (main_uint(arg, 10000ul, &v) != 0 || v == 0) {
            return -1;
        }
        o->interval_ms = (unsigned)v;
        return 0;
    case OPT_POLL:
        if (main_uint(arg, 10000ul, &v) != 0) {
            return -1;
        }
        o->poll_ms = (unsigned)v;
        return 0;
    case OPT_LIMIT:
        if (main_uint(arg, 10000ul, &v) != 0 || v == 0) {
            return -1;
        }
        o->limit = (unsigned)v;
        return 0;
    case OPT_PID:
        if (o->pid_count >= REPORT_PROCS_MAX || main_uint(arg, 1u << 30, &v) != 0 || v == 0) {
            return -1;
        }
        o->pids[o->pid_count++] = (int)v;
        return 0;
    case OPT_JSON:
        *json = arg;
        return 0;
    default:
        return -1;
    }
}

/* Cross-option checks; a message on stderr and -1 when they fail. */
static int main_check(struct run_opts *o)
{
    if (o->workload == NULL || o->endpoint_count == 0 || o->stream == NULL) {
        fprintf(stderr, "eddy-bench: --workload, --endpoint and --stream are required\n");
        return -1;
    }
    if (strcmp(o->workload, "put") != 0 && strcmp(o->workload, "get") != 0 &&
        strcmp(o->workload, "e2e") != 0) {
        fprintf(stderr, "eddy-bench: unknown workload %s\n", o->workload);
        return -1;
    }
    if (o->single) {
        o->batch = 1;
    }
    unsigned per_call = o->batch;
    if (strcmp(o->workload, "e2e") == 0) {
        uint64_t n = (uint64_t)o->rate * o->interval_ms / 1000;
        per_call = n < 1 ? 1 : n > 500 ? 500 : (unsigned)n;
        if (o->record_bytes < 9) {
            fprintf(stderr, "eddy-bench: e2e needs --record-bytes of at least 9 (the stamp)\n");
            return -1;
        }
    }
    if ((uint64_t)per_call * o->record_bytes > MAIN_CALL_BYTES_MAX) {
        fprintf(stderr, "eddy-bench: records per call x --record-bytes is over 5 MiB\n");
        return -1;
    }
    if (o->timeout_s == 0) {
        o->timeout_s = o->warmup_s + o->seconds + 60;
    }
    return 0;
}

static int main_write_json(const char *path, const struct report *r)
{
    char *json = report_to_json(r);
    if (json == NULL) {
        return -ENOMEM;
    }
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (f == NULL) {
        rc = -errno;
    } else {
        fprintf(f, "%s\n", json);
        if (fclose(f) != 0) {
            rc = -errno;
        }
    }
    report_json_free(json);
    return rc;
}

int main(int argc, char **argv)
{
    struct run_opts o = {
        .label = "target",
        .connections = 8,
        .record_bytes = 100,
        .batch = 500,
        .bodies = 16,
        .warmup_s = 2,
        .seconds = 10,
        .rate = 1000,
        .interval_ms = 10,
        .poll_ms = 2,
        .limit = 10000,
    };
    const char *json = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", main_options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(main_usage, stdout);
            return 0;
        }
        if (main_option(&o, opt, optarg, &json) != 0) {
            fprintf(stderr, "eddy-bench: bad option or value%s%s\n%s", optarg ? ": " : "",
                    optarg ? optarg : "", main_usage);
            return 1;
        }
    }
    if (optind != argc || main_check(&o) != 0) {
        fputs(main_usage, stderr);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    struct run r;
    if (run_init(&r, &o) != 0) {
        return 1;
    }
    report_init(&r.report, o.workload, o.label, "");
    int rc;
    if (strcmp(o.workload, "put") == 0) {
        rc = workload_put(&r);
    } else if (strcmp(o.workload, "get") == 0) {
        rc = workload_get(&r);
    } else {
        rc = workload_e2e(&r);
    }
    if (rc == 0) {
        run_loop(&r);
    } else {
        r.status = rc;
    }
    char line[1024];
    report_summary(&r.report, line, sizeof(line));
    printf("%s\n", line);
    if (json != NULL) {
        int wrc = main_write_json(json, &r.report);
        if (wrc != 0) {
            fprintf(stderr, "eddy-bench: cannot write %s: %s\n", json, eddy_strerror(wrc));
            rc = wrc;
        }
    }
    int status = r.status;
    if (status == 0 && r.report.requests == 0 && r.report.failed_requests > 0) {
        status = -EDDY_EUNAVAILABLE; /* every call failed: nothing was measured */
    }
    run_close(&r);
    if (rc != 0 || status != 0) {
        return 2;
    }
    return 0;
}
