/* The demo's generated workload: a few hundred customers (some identified
 * by AWS account id) using three dimensions over the last three complete
 * hours, with tags, decimals, invalid events of several kinds, and late
 * events produced after their hour has closed. It remembers what it
 * produced so the demo can check what AWS (the emulator) accepted.
 *
 * Ownership: the caller owns the workload (demo_workload_free). One
 * thread. */
#ifndef MTR_CLI_DEMO_WORKLOAD_H
#define MTR_CLI_DEMO_WORKLOAD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/event.h"

#define DEMO_DIMENSIONS 3

typedef struct demo_workload {
    size_t n_customers;
    char (*customers)[32];
    int64_t first_hour_ms;  /* three hours: first .. first + 2h */
    int64_t *on_time_micro; /* [customer * DIMENSIONS + dim] */
    int64_t *late_micro;    /* produced after their hour closed */
    uint64_t valid_events;
    uint64_t late_events;
    uint64_t invalid_events;
    uint64_t invalid_by_reason[MTR_EVENT_REASON__COUNT];
} demo_workload_t;

/* The dimensions as config JSON (one product "prod-demo"). */
extern const char *const demo_products_json;
extern const char *const demo_dimension_names[DEMO_DIMENSIONS];
extern const mtr_rounding_t demo_dimension_rounding[DEMO_DIMENSIONS];

void demo_workload_init(demo_workload_t *w, size_t n_customers, int64_t now_ms, uint64_t seed);
void demo_workload_free(demo_workload_t *w);

/* Produces the three hours' events (and the invalid ones) to topic. */
mtr_err_t demo_produce_hours(demo_workload_t *w, rd_kafka_t *producer, const char *topic,
                             char *errstr, size_t errstr_size);
/* Produces events timestamped in the first hour, to be sent after it
 * closed: they are billed in the current hour. */
mtr_err_t demo_produce_late(demo_workload_t *w, rd_kafka_t *producer, const char *topic,
                            char *errstr, size_t errstr_size);

/* What AWS should have accepted for a dimension: per customer, the rounding
 * of its on-time usage (the ledger carries remainders across hours, so the
 * units billed for a customer are the rounding of its total). */
int64_t demo_expected_units(const demo_workload_t *w, int dim);
/* Micro-units of late events of a dimension. */
int64_t demo_late_micro(const demo_workload_t *w, int dim);

#endif
