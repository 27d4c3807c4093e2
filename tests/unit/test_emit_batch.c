/* Batch building: one scope and one customer kind per request, at most 25
 * records, bodies under the size limit, no repeated identity in a request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "emit/batch.h"
#include "emit/codec.h"

#define HOUR0 1764151200000LL /* 2025-11-26T10:00:00Z */

static mtr_record_t rec(const char *product, const char *customer, const char *dim, int64_t hour)
{
    return (mtr_record_t){.product_code = product,
                          .customer_identifier = customer,
                          .dimension = dim,
                          .hour_start_ms = hour,
                          .quantity = 1};
}

/* Every record lands in exactly one batch (or oversize), and every batch's
 * body_size is what the codec really produces. */
static void assert_partition(const mtr_record_t *recs, size_t n, const mtr_emit_batches_t *b,
                             size_t max_records, size_t max_body)
{
    int *seen = mtr_calloc(n, sizeof(int));
    for (size_t i = 0; i < b->count; i++) {
        const mtr_emit_batch_t *batch = &b->items[i];
        assert_true(batch->n >= 1 && batch->n <= max_records);
        for (size_t k = 0; k < batch->n; k++) {
            seen[batch->records[k] - recs]++;
            assert_true(mtr_emit_batch_same_scope(batch->records[0], batch->records[k]));
        }
        size_t len;
        char *body = mtr_emit_codec_request(batch->records, batch->n, &len);
        assert_int_equal(len, batch->body_size);
        assert_true(len < max_body);
        mtr_free(body);
    }
    for (size_t i = 0; i < b->n_oversize; i++)
        seen[b->oversize[i] - recs]++;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    mtr_free(seen);
}

static void build(const mtr_record_t *recs, size_t n, size_t max_records, size_t max_body,
                  mtr_emit_batches_t *out)
{
    const mtr_record_t **ptrs = mtr_malloc((n ? n : 1) * sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &recs[i];
    mtr_emit_batch_build(ptrs, n, max_records, max_body, out);
    mtr_free(ptrs);
    assert_partition(recs, n, out, max_records, max_body);
}

static void test_batches_never_mix_products_license_arns_or_customer_kinds(void **state)
{
    (void)state;
    mtr_record_t recs[12];
    size_t n = 0;
    recs[n++] = rec("prodA", "c1", "api", HOUR0);
    recs[n++] = rec("prodB", "c1", "api", HOUR0);
    recs[n++] = rec("prodA", "c2", "api", HOUR0);
    recs[n++] = rec("prodB", "c2", "api", HOUR0);
    recs[n] = rec("prodA", NULL, "api", HOUR0);
    recs[n++].customer_aws_account_id = "123456789012";
    recs[n] = rec(NULL, NULL, "api", HOUR0);
    recs[n].customer_aws_account_id = "123456789012";
    recs[n++].license_arn = "arn:aws:license-manager::1:license:l-1";
    recs[n] = rec(NULL, NULL, "api", HOUR0);
    recs[n].customer_aws_account_id = "210987654321";
    recs[n++].license_arn = "arn:aws:license-manager::1:license:l-2";
    recs[n] = rec(NULL, NULL, "seats", HOUR0);
    recs[n].customer_aws_account_id = "123456789012";
    recs[n++].license_arn = "arn:aws:license-manager::1:license:l-1";
    /* Licenses of a known product share a request, apart from that
     * product's ProductCode requests. */
    recs[n] = rec("prodA", NULL, "api", HOUR0);
    recs[n].customer_aws_account_id = "111111111111";
    recs[n++].license_arn = "arn:aws:license-manager::1:license:l-3";
    recs[n] = rec("prodA", NULL, "api", HOUR0);
    recs[n].customer_aws_account_id = "222222222222";
    recs[n++].license_arn = "arn:aws:license-manager::1:license:l-4";

    mtr_emit_batches_t b;
    build(recs, n, 25, MTR_EMIT_MAX_BODY_BYTES, &b);
    /* prodA/identifier, prodA/account, prodB/identifier, l-1, l-2,
     * prodA licenses */
    assert_int_equal(b.count, 6);
    assert_int_equal(b.n_oversize, 0);
    for (size_t i = 0; i < b.count; i++) {
        const mtr_emit_batch_t *batch = &b.items[i];
        for (size_t k = 1; k < batch->n; k++) {
            const mtr_record_t *r0 = batch->records[0], *r = batch->records[k];
            assert_int_equal(r0->license_arn != NULL, r->license_arn != NULL);
            if (r0->product_code)
                assert_string_equal(r0->product_code, r->product_code);
            else
                assert_string_equal(r0->license_arn, r->license_arn);
            assert_int_equal(r0->customer_identifier != NULL, r->customer_identifier != NULL);
        }
    }
    mtr_emit_batches_free(&b);
}

static void test_a_request_holds_at_most_25_records(void **state)
{
    (void)state;
    enum { N = 60 };
    mtr_record_t recs[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "cust-%03d", i);
        recs[i] = rec("prodA", names[i], "api", HOUR0);
    }
    mtr_emit_batches_t b;
    build(recs, N, MTR_EMIT_MAX_RECORDS_PER_REQUEST, MTR_EMIT_MAX_BODY_BYTES, &b);
    assert_int_equal(b.count, 3);
    assert_int_equal(b.items[0].n, 25);
    assert_int_equal(b.items[1].n, 25);
    assert_int_equal(b.items[2].n, 10);
    mtr_emit_batches_free(&b);
}

static void test_huge_identifiers_split_requests_by_body_size(void **state)
{
    (void)state;
    enum { N = 25 };
    static char names[N][256];
    mtr_record_t recs[N];
    for (int i = 0; i < N; i++) {
        memset(names[i], 'a' + i % 26, 255);
        names[i][255] = '\0';
        names[i][0] = (char)('A' + i); /* distinct customers */
        recs[i] = rec("prodA", names[i], "api", HOUR0);
    }
    /* A record is ~330 bytes of JSON: 2000 bytes hold five of them. */
    mtr_emit_batches_t b;
    build(recs, N, 25, 2000, &b);
    assert_int_equal(b.n_oversize, 0);
    assert_true(b.count >= 5);
    for (size_t i = 0; i < b.count; i++)
        assert_true(b.items[i].body_size < 2000);
    mtr_emit_batches_free(&b);
}

static void test_real_one_megabyte_limit_with_big_allocations(void **state)
{
    (void)state;
    /* 300 allocations x 5 tags with 256-character values: ~450 KB a record,
     * so two fit under 1 MB and three do not. */
    enum { N = 5, ALLOCS = 300 };
    static char value[257];
    memset(value, 'v', 256);
    mtr_record_allocation_t *allocs = mtr_calloc(ALLOCS, sizeof *allocs);
    for (int a = 0; a < ALLOCS; a++) {
        allocs[a].quantity = 1;
        allocs[a].n_tags = 5;
        for (int t = 0; t < 5; t++)
            allocs[a].tags[t] = (mtr_record_tag_t){"k", value};
    }
    static const char *names[N] = {"c0", "c1", "c2", "c3", "c4"};
    mtr_record_t recs[N];
    for (int i = 0; i < N; i++) {
        recs[i] = rec("prodA", names[i], "api", HOUR0);
        recs[i].allocations = allocs;
        recs[i].n_allocations = ALLOCS;
        recs[i].quantity = ALLOCS;
    }
    size_t one = mtr_emit_codec_record_size(&recs[0]);
    assert_true(one > MTR_EMIT_MAX_BODY_BYTES / 3 && one < MTR_EMIT_MAX_BODY_BYTES / 2);
    mtr_emit_batches_t b;
    build(recs, N, 25, MTR_EMIT_MAX_BODY_BYTES, &b);
    assert_int_equal(b.count, 3);
    assert_int_equal(b.items[0].n, 2);
    assert_int_equal(b.items[2].n, 1);
    mtr_emit_batches_free(&b);
    mtr_free(allocs);
}

static void test_a_record_too_big_alone_is_set_aside(void **state)
{
    (void)state;
    static char value[257];
    memset(value, 'v', 256);
    enum { ALLOCS = 800 };
    mtr_record_allocation_t *allocs = mtr_calloc(ALLOCS, sizeof *allocs);
    for (int a = 0; a < ALLOCS; a++) {
        allocs[a].quantity = 1;
        allocs[a].n_tags = 5;
        for (int t = 0; t < 5; t++)
            allocs[a].tags[t] = (mtr_record_tag_t){"k", value};
    }
    mtr_record_t recs[2] = {rec("prodA", "big", "api", HOUR0), rec("prodA", "small", "api", HOUR0)};
    recs[0].allocations = allocs;
    recs[0].n_allocations = ALLOCS;
    mtr_emit_batches_t b;
    build(recs, 2, 25, MTR_EMIT_MAX_BODY_BYTES, &b);
    assert_int_equal(b.n_oversize, 1);
    assert_ptr_equal(b.oversize[0], &recs[0]);
    assert_int_equal(b.count, 1);
    assert_ptr_equal(b.items[0].records[0], &recs[1]);
    mtr_emit_batches_free(&b);
    mtr_free(allocs);
}

static void test_records_with_the_same_identity_never_share_a_request(void **state)
{
    (void)state;
    /* Answers are matched by (customer, dimension, timestamp): two such
     * records in one request could not be told apart. */
    mtr_record_t recs[4] = {rec("prodA", "c1", "api", HOUR0), rec("prodA", "c1", "api", HOUR0),
                            rec("prodA", "c1", "api", HOUR0 + MTR_MS_PER_HOUR),
                            rec("prodA", "c2", "api", HOUR0)};
    mtr_emit_batches_t b;
    build(recs, 4, 25, MTR_EMIT_MAX_BODY_BYTES, &b);
    assert_int_equal(b.count, 2);
    for (size_t i = 0; i < b.count; i++) {
        int same_second = 0;
        for (size_t k = 0; k < b.items[i].n; k++)
            if (b.items[i].records[k] == &recs[0] || b.items[i].records[k] == &recs[1])
                same_second++;
        assert_true(same_second <= 1);
    }
    mtr_emit_batches_free(&b);
}

static void test_no_records_make_no_batches(void **state)
{
    (void)state;
    mtr_emit_batches_t b;
    mtr_emit_batch_build(NULL, 0, 25, MTR_EMIT_MAX_BODY_BYTES, &b);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.n_oversize, 0);
    mtr_emit_batches_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_never_mix_products_license_arns_or_customer_kinds),
        cmocka_unit_test(test_a_request_holds_at_most_25_records),
        cmocka_unit_test(test_huge_identifiers_split_requests_by_body_size),
        cmocka_unit_test(test_real_one_megabyte_limit_with_big_allocations),
        cmocka_unit_test(test_a_record_too_big_alone_is_set_aside),
        cmocka_unit_test(test_records_with_the_same_identity_never_share_a_request),
        cmocka_unit_test(test_no_records_make_no_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
