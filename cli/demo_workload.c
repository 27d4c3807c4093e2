/* Generating and producing the demo workload. */
#include "cli/demo_workload.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/mem.h"
#include "core/quantity.h"

const char *const demo_products_json =
    "[{\"product_code\": \"prod-demo\", \"dimensions\": ["
    "{\"name\": \"api_calls\", \"aggregation\": \"sum\", \"rounding\": \"up\"},"
    "{\"name\": \"data_gb\", \"aggregation\": \"sum\", \"rounding\": \"nearest\"},"
    "{\"name\": \"requests\", \"aggregation\": \"count\", \"rounding\": \"up\"}]}]";
const char *const demo_dimension_names[DEMO_DIMENSIONS] = {"api_calls", "data_gb", "requests"};
const mtr_rounding_t demo_dimension_rounding[DEMO_DIMENSIONS] = {MTR_ROUND_UP, MTR_ROUND_NEAREST,
                                                                 MTR_ROUND_UP};

static const char *const teams[] = {"search", "ads", "infra"};

/* xorshift64*: reproducible per seed. */
static uint64_t rng_state;
static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (rng_state * 2685821657736338717ULL) % n;
}

void demo_workload_init(demo_workload_t *w, size_t n_customers, int64_t now_ms, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    rng_state = seed ? seed : 1;
    w->n_customers = n_customers;
    w->customers = mtr_calloc(n_customers, sizeof *w->customers);
    /* One customer in ten is named by its AWS account id. */
    for (size_t c = 0; c < n_customers; c++)
        if (c % 10 == 9)
            snprintf(w->customers[c], sizeof w->customers[c], "%012zu", 123456000000 + c);
        else
            snprintf(w->customers[c], sizeof w->customers[c], "cust-%04zu", c);
    /* The three hours before the current one, counted from a minute ago: in
     * the first seconds of an hour the one just ended could not close yet
     * (the demo's lateness is 20 s), so the demo would wait for it. */
    w->first_hour_ms = mtr_hour_floor_ms(now_ms - 60000) - 3 * MTR_MS_PER_HOUR;
    w->on_time_micro = mtr_calloc(n_customers * DEMO_DIMENSIONS, sizeof *w->on_time_micro);
    w->late_micro = mtr_calloc(n_customers * DEMO_DIMENSIONS, sizeof *w->late_micro);
}

void demo_workload_free(demo_workload_t *w)
{
    mtr_free(w->customers);
    mtr_free(w->on_time_micro);
    mtr_free(w->late_micro);
}

static mtr_err_t produce(rd_kafka_t *producer, const char *topic, const char *key,
                         const char *value, size_t len, char *errstr, size_t errstr_size)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(producer, 50);
            continue;
        }
        if (err)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA, "producing to %s: %s", topic,
                               rd_kafka_err2str(err));
        return MTR_OK;
    }
}

static void format_time(char *out, size_t size, int64_t t_ms)
{
    /* Half RFC 3339, half epoch milliseconds: both are accepted. */
    if (rnd(2)) {
        snprintf(out, size, "%" PRId64, t_ms);
        return;
    }
    time_t s = (time_t)(t_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, size, "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
}

/* One valid event of customer c, dimension d at t_ms; adds it to *micro. */
static mtr_err_t produce_valid(demo_workload_t *w, rd_kafka_t *producer, const char *topic,
                               size_t c, int d, int64_t t_ms, int64_t *micro, char *errstr,
                               size_t errstr_size)
{
    char qty[32], ts[48], tags[64] = "", value[512];
    int64_t q;
    switch (d) {
    case 0: /* api_calls: whole calls */
        q = (int64_t)(1 + rnd(20));
        snprintf(qty, sizeof qty, "%" PRId64, q);
        q *= MTR_QUANTITY_SCALE;
        if (rnd(3) == 0)
            snprintf(tags, sizeof tags, ",\"tags\":{\"team\":\"%s\"}", teams[rnd(3)]);
        break;
    case 1:                                 /* data_gb: decimals, some as strings */
        q = (int64_t)(1 + rnd(4000)) * 625; /* multiples of 0.000625 GB */
        {
            char dec[MTR_QUANTITY_FORMAT_MAX];
            mtr_quantity_format(q, dec, sizeof dec);
            snprintf(qty, sizeof qty, rnd(2) ? "\"%s\"" : "%s", dec);
        }
        break;
    default: /* requests: counted, the quantity is ignored */
        snprintf(qty, sizeof qty, "1");
        q = MTR_QUANTITY_SCALE;
        break;
    }
    format_time(ts, sizeof ts, t_ms);
    const char *field = c % 10 == 9 ? "customer_aws_account_id" : "customer";
    int len = snprintf(value, sizeof value,
                       "{\"id\":\"demo-%" PRIu64 "\",\"%s\":\"%s\",\"dimension\":\"%s\","
                       "\"quantity\":%s,\"timestamp\":%s%s}",
                       w->valid_events + w->late_events, field, w->customers[c],
                       demo_dimension_names[d], qty, ts, tags);
    micro[c * DEMO_DIMENSIONS + (size_t)d] += q;
    return produce(producer, topic, w->customers[c], value, (size_t)len, errstr, errstr_size);
}

/* A few kinds of bad input, with the reason meterd should give. */
static mtr_err_t produce_invalid(demo_workload_t *w, rd_kafka_t *producer, const char *topic,
                                 size_t c, int64_t t_ms, char *errstr, size_t errstr_size)
{
    char value[256];
    mtr_event_reason_t reason;
    switch (rnd(4)) {
    case 0:
        snprintf(value, sizeof value, "not json at all");
        reason = MTR_EVENT_BAD_JSON;
        break;
    case 1:
        snprintf(value, sizeof value,
                 "{\"customer\":\"%s\",\"dimension\":\"api_calls\",\"quantity\":-3,"
                 "\"timestamp\":%" PRId64 "}",
                 w->customers[c], t_ms);
        reason = MTR_EVENT_NEGATIVE_QUANTITY;
        break;
    case 2:
        snprintf(value, sizeof value,
                 "{\"customer\":\"%s\",\"dimension\":\"cpu_hours\",\"quantity\":1,"
                 "\"timestamp\":%" PRId64 "}",
                 w->customers[c], t_ms);
        reason = MTR_EVENT_UNKNOWN_DIMENSION;
        break;
    default:
        snprintf(value, sizeof value,
                 "{\"dimension\":\"api_calls\",\"quantity\":1,\"timestamp\":%" PRId64 "}", t_ms);
        reason = MTR_EVENT_MISSING_CUSTOMER;
        break;
    }
    w->invalid_events++;
    w->invalid_by_reason[reason]++;
    return produce(producer, topic, w->customers[c], value, strlen(value), errstr, errstr_size);
}

mtr_err_t demo_produce_hours(demo_workload_t *w, rd_kafka_t *producer, const char *topic,
                             char *errstr, size_t errstr_size)
{
    /* Per customer and hour, a handful of events per dimension, in time
     * order per customer (as a producer keyed by customer sends them). */
    for (int h = 0; h < 3; h++) {
        int64_t hour = w->first_hour_ms + h * MTR_MS_PER_HOUR;
        for (size_t c = 0; c < w->n_customers; c++) {
            int n = 2 + (int)rnd(10);
            for (int i = 0; i < n; i++) {
                int64_t t = hour + (MTR_MS_PER_HOUR - 1000) * i / n + (int64_t)rnd(1000);
                bool bad = rnd(100) == 0;
                mtr_err_t err =
                    bad ? produce_invalid(w, producer, topic, c, t, errstr, errstr_size)
                        : produce_valid(w, producer, topic, c, (int)rnd(DEMO_DIMENSIONS), t,
                                        w->on_time_micro, errstr, errstr_size);
                if (err)
                    return err;
                if (!bad)
                    w->valid_events++;
            }
        }
    }
    return MTR_OK;
}

mtr_err_t demo_produce_late(demo_workload_t *w, rd_kafka_t *producer, const char *topic,
                            char *errstr, size_t errstr_size)
{
    for (size_t c = 0; c < w->n_customers; c += 7) {
        int64_t t = w->first_hour_ms + (int64_t)rnd(MTR_MS_PER_HOUR);
        mtr_err_t err = produce_valid(w, producer, topic, c, (int)rnd(DEMO_DIMENSIONS), t,
                                      w->late_micro, errstr, errstr_size);
        if (err)
            return err;
        w->late_events++;
    }
    return MTR_OK;
}

int64_t demo_expected_units(const demo_workload_t *w, int dim)
{
    int64_t total = 0;
    for (size_t c = 0; c < w->n_customers; c++) {
        int64_t micro = w->on_time_micro[c * DEMO_DIMENSIONS + (size_t)dim];
        int64_t units = micro / MTR_QUANTITY_SCALE, rest = micro % MTR_QUANTITY_SCALE;
        switch (demo_dimension_rounding[dim]) {
        case MTR_ROUND_UP:
            units += rest > 0;
            break;
        case MTR_ROUND_NEAREST:
            units += rest * 2 >= MTR_QUANTITY_SCALE;
            break;
        case MTR_ROUND_DOWN:
            break;
        }
        total += units;
    }
    return total;
}

int64_t demo_late_micro(const demo_workload_t *w, int dim)
{
    int64_t total = 0;
    for (size_t c = 0; c < w->n_customers; c++)
        total += w->late_micro[c * DEMO_DIMENSIONS + (size_t)dim];
    return total;
}
