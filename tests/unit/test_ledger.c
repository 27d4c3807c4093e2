/* The ledger's exactly-once core: closes, confirmation after the Kafka
 * commit, reconciliation of unknown commits, crash safety, checkpoints and
 * the file itself. Real SQLite files in a temporary directory. */
#include "test_ledger_fixture.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void close_a(fx_t *fx, int64_t micro, int64_t *id)
{
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "api", T10, 0, micro, MTR_ROUND_UP);
    assert_int_equal(fx_close(fx, 0, T10, 500, 400, &c, 1, id), MTR_OK);
}

static mtr_err_t confirm(fx_t *fx, int64_t close_id)
{
    return mtr_ledger_confirm_commit(fx->l, close_id, fx->err, sizeof fx->err);
}

/* Reconciles partition p of "usage" with what Kafka holds for it. */
static mtr_err_t reconcile(fx_t *fx, int32_t p, const mtr_ledger_kafka_state_t *kafka,
                           mtr_ledger_reconcile_result_t *res)
{
    return mtr_ledger_reconcile_partition(fx->l, "usage", p, kafka, res, fx->err, sizeof fx->err);
}

/* The checkpoint of "usage" partition 0; the caller frees close_log_tail. */
static mtr_ledger_checkpoint_t checkpoint0(fx_t *fx)
{
    mtr_ledger_checkpoint_t cp;
    assert_int_equal(mtr_ledger_checkpoint_get(fx->l, "usage", 0, &cp, fx->err, sizeof fx->err),
                     MTR_OK);
    return cp;
}

static void test_close_then_confirm_makes_records_sendable(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, 2500000, &id);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10).status, MTR_LEDGER_PENDING_COMMIT);
    assert_int_equal(confirm(fx, id), MTR_OK);
    fx_rec_t r = fx_rec(fx, "cust-a", "api", T10);
    assert_int_equal(r.status, MTR_LEDGER_SENDABLE);
    assert_int_equal(r.aws, 3);
    mtr_ledger_record_t out[4];
    assert_int_equal(fx_take(fx, out, 4), 1);
    assert_int_equal(out[0].aws_quantity, 3);
    mtr_ledger_records_clear(out, 1);
    mtr_ledger_checkpoint_t cp = checkpoint0(fx);
    assert_int_equal(cp.commit_offset, 400);
    assert_string_equal(cp.close_log_tail, "tail");
    assert_int_equal(cp.pending_parts, 0);
    mtr_free(cp.close_log_tail);
}

static void test_close_without_confirm_sends_nothing(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, 2 * U, &id);
    mtr_ledger_record_t out[4];
    assert_int_equal(fx_take(fx, out, 4), 0);
    fx_rec_t r = fx_rec(fx, "cust-a", "api", T10);
    assert_int_equal(r.status, MTR_LEDGER_PENDING_COMMIT);
    assert_int_equal(r.aws, -1);
    mtr_ledger_checkpoint_t cp = checkpoint0(fx);
    assert_int_equal(cp.commit_offset, -1); /* confirmed position unchanged */
    assert_int_equal(cp.pending_offset, 400);
    mtr_free(cp.close_log_tail);
}

static void test_reconcile_confirms_when_kafka_holds_the_close(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, 2 * U, &id);
    mtr_ledger_kafka_close_t log[] = {{T10 - H, 300, NULL},
                                      {T10, 500, mtr_ledger_writer_id(fx->l)}};
    mtr_ledger_kafka_state_t k = {400, "tail", log, 2};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(reconcile(fx, 0, &k, &res), MTR_OK);
    assert_int_equal(res.confirmed_parts, 1);
    assert_int_equal(res.rolled_back_parts, 0);
    assert_int_equal(res.resume_offset, 400);
    assert_false(res.kafka_behind);
    mtr_free(res.resume_metadata);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10).status, MTR_LEDGER_SENDABLE);
}

static void test_reconcile_rolls_back_when_kafka_is_behind(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    /* Hour 9 closed and confirmed; hour 10's commit never landed. */
    mtr_ledger_contribution_t c9 = fx_contrib("cust-a", "api", T10 - H, 0, 5 * U, MTR_ROUND_UP);
    assert_int_equal(fx_close(fx, 0, T10 - H, 300, 250, &c9, 1, &id), MTR_OK);
    assert_int_equal(confirm(fx, id), MTR_OK);
    mtr_ledger_total_t before = fx_total(fx, "cust-a", "api");
    close_a(fx, 2 * U, &id);

    mtr_ledger_kafka_close_t log[] = {{T10 - H, 300, NULL}};
    mtr_ledger_kafka_state_t k = {250, "tail9", log, 1};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(reconcile(fx, 0, &k, &res), MTR_OK);
    assert_int_equal(res.rolled_back_parts, 1);
    assert_int_equal(res.rolled_back_micro, 2 * U);
    assert_int_equal(res.resume_offset, 250);
    mtr_free(res.resume_metadata);
    mtr_ledger_total_t after = fx_total(fx, "cust-a", "api");
    assert_int_equal(after.usage_micro, before.usage_micro);
    assert_int_equal(after.records, before.records);
    assert_false(fx_rec(fx, "cust-a", "api", T10).found);
    mtr_ledger_checkpoint_t cp = checkpoint0(fx);
    assert_int_equal(cp.commit_offset, 250);
    assert_int_equal(cp.pending_parts, 0);
    mtr_free(cp.close_log_tail);
    /* The redo closes hour 10 again and it counts once. */
    close_a(fx, 2 * U, &id);
    assert_int_equal(confirm(fx, id), MTR_OK);
    assert_int_equal(fx_total(fx, "cust-a", "api").usage_micro, 7 * U);
    /* A late success of the rolled-back commit cannot revive it. */
    assert_int_equal(confirm(fx, id - 1), MTR_ERR_STATE);
}

static void test_reconcile_rolls_back_when_another_owner_redid_the_hour(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, 2 * U, &id);
    /* Same hour, same offset, but another ledger's writer id. */
    mtr_ledger_kafka_close_t log[] = {{T10, 500, "0123456789abcdef"}};
    mtr_ledger_kafka_state_t k = {450, "other", log, 1};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(reconcile(fx, 0, &k, &res), MTR_OK);
    assert_int_equal(res.rolled_back_parts, 1);
    /* Kafka is ahead of the ledger: its position wins. */
    assert_int_equal(res.resume_offset, 450);
    assert_string_equal(res.resume_metadata, "other");
    mtr_free(res.resume_metadata);
    assert_false(fx_rec(fx, "cust-a", "api", T10).found);
}

static void test_reconcile_keeps_confirmed_contributions_of_other_partitions(void **state)
{
    fx_t *fx = *state;
    /* One close, two partitions, one record; Kafka got only partition 1. */
    mtr_ledger_contribution_t c[] = {fx_contrib("cust-a", "api", T10, 0, 2 * U, MTR_ROUND_UP),
                                     fx_contrib("cust-a", "api", T10, 1, 3 * U, MTR_ROUND_UP)};
    mtr_ledger_close_entry_t e[] = {{"usage", 0, T10, 500}, {"usage", 1, T10, 700}};
    mtr_ledger_partition_checkpoint_t cp[] = {{"usage", 0, 400, "t0"}, {"usage", 1, 600, "t1"}};
    mtr_ledger_close_t close = {e, 2, c, 2, cp, 2};
    int64_t id;
    assert_int_equal(mtr_ledger_close(fx->l, &close, &id, fx->err, sizeof fx->err), MTR_OK);
    mtr_ledger_kafka_close_t log1[] = {{T10, 700, NULL}};
    mtr_ledger_kafka_state_t k1 = {600, "t1", log1, 1};
    mtr_ledger_kafka_state_t k0 = {100, NULL, NULL, 0};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(reconcile(fx, 1, &k1, &res), MTR_OK);
    mtr_free(res.resume_metadata);
    /* Partition 0 still unconfirmed: not sendable yet. */
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10).status, MTR_LEDGER_PENDING_COMMIT);
    assert_int_equal(reconcile(fx, 0, &k0, &res), MTR_OK);
    mtr_free(res.resume_metadata);
    fx_rec_t r = fx_rec(fx, "cust-a", "api", T10);
    assert_int_equal(r.status, MTR_LEDGER_SENDABLE);
    assert_int_equal(r.micro, 3 * U);
    assert_int_equal(r.aws, 3);
}

static void test_reconcile_refuses_to_guess_when_the_close_log_no_longer_reaches(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, 2 * U, &id);
    /* Kafka is far ahead and its tail starts after hour 10. */
    mtr_ledger_kafka_close_t log[] = {{T10 + 5 * H, 9000, "0123456789abcdef"}};
    mtr_ledger_kafka_state_t k = {9000, "later", log, 1};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(reconcile(fx, 0, &k, &res), MTR_ERR_STATE);
    assert_non_null(strstr(fx->err, "cannot tell"));
    fx_rec_t r = fx_rec(fx, "cust-a", "api", T10);
    assert_int_equal(r.status, MTR_LEDGER_PENDING_COMMIT);
    assert_int_equal(r.micro, 2 * U);
}

static void test_reconcile_confirms_when_kafka_passed_the_offset_without_closing(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, 2 * U, &id);
    /* Tail covers hour 10 (starts before it) but has no entry for it, and
     * Kafka's offset is past ours: nobody reads those events again. */
    mtr_ledger_kafka_close_t log[] = {{T10 - H, 300, NULL}};
    mtr_ledger_kafka_state_t k = {400, "t", log, 1};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(reconcile(fx, 0, &k, &res), MTR_OK);
    assert_int_equal(res.confirmed_parts, 1);
    mtr_free(res.resume_metadata);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10).status, MTR_LEDGER_SENDABLE);
}

static void test_checkpoint_never_goes_backwards(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, U, &id);
    assert_int_equal(confirm(fx, id), MTR_OK);
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "api", T10 + H, 0, U, MTR_ROUND_UP);
    assert_int_equal(fx_close(fx, 0, T10 + H, 900, 399, &c, 1, &id), MTR_ERR_STATE);
    assert_false(fx_rec(fx, "cust-a", "api", T10 + H).found);
    /* Kafka reset below the ledger: the ledger keeps its position. */
    mtr_ledger_kafka_state_t k = {10, NULL, NULL, 0};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(reconcile(fx, 0, &k, &res), MTR_OK);
    assert_true(res.kafka_behind);
    assert_int_equal(res.resume_offset, 400);
    mtr_free(res.resume_metadata);
    mtr_ledger_checkpoint_t cp = checkpoint0(fx);
    assert_int_equal(cp.commit_offset, 400);
    mtr_free(cp.close_log_tail);
}

static void test_an_hour_closes_once_per_partition(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, U, &id);
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "api", T10, 0, U, MTR_ROUND_UP);
    assert_int_equal(fx_close(fx, 0, T10, 600, 500, &c, 1, &id), MTR_ERR_STATE);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10).micro, U);
}

static void test_failed_close_transaction_leaves_nothing(void **state)
{
    fx_t *fx = *state;
    /* The third contribution is invalid: the first two must vanish too. */
    mtr_ledger_contribution_t c[] = {fx_contrib("cust-a", "api", T10, 0, U, MTR_ROUND_UP),
                                     fx_contrib("cust-b", "api", T10, 0, U, MTR_ROUND_UP),
                                     fx_contrib("cust-c", "api", T10, 0, -1, MTR_ROUND_UP)};
    int64_t id;
    assert_int_equal(fx_close(fx, 0, T10, 500, 400, c, 3, &id), MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(fx->err, "contribution 2"));
    assert_int_equal(fx_total(fx, NULL, NULL).records, 0);
    mtr_ledger_checkpoint_t cp = checkpoint0(fx);
    assert_int_equal(cp.pending_parts, 0);
    mtr_free(cp.close_log_tail);
    /* The same close can then be written. */
    assert_int_equal(fx_close(fx, 0, T10, 500, 400, c, 2, &id), MTR_OK);
}

static const char *self_exe;

static void test_crash_inside_the_close_transaction_leaves_nothing(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_free(fx->l);
    fx->l = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("METERD_FAULT", "ledger.close.in_txn", 1);
        execl(self_exe, self_exe, "--crash-close", fx->path, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    fx_open(fx);
    assert_int_equal(fx_total(fx, NULL, NULL).records, 0);
    mtr_ledger_checkpoint_t cp = checkpoint0(fx);
    assert_int_equal(cp.pending_parts, 0);
    assert_int_equal(cp.commit_offset, -1);
    mtr_free(cp.close_log_tail);
}

/* Child side of the crash test: a close that dies before COMMIT. */
static int crash_close(const char *path)
{
    mtr_ledger_t *l;
    char err[256];
    if (mtr_ledger_open(path, NULL, &l, err, sizeof err) != MTR_OK)
        return 3;
    mtr_ledger_contribution_t c[] = {fx_contrib("cust-a", "api", T10, 0, U, MTR_ROUND_UP),
                                     fx_contrib("cust-b", "api", T10, 0, U, MTR_ROUND_UP)};
    mtr_ledger_close_entry_t e = {"usage", 0, T10, 500};
    mtr_ledger_partition_checkpoint_t cp = {"usage", 0, 400, "tail"};
    mtr_ledger_close_t close = {&e, 1, c, 2, &cp, 1};
    int64_t id;
    mtr_ledger_close(l, &close, &id, err, sizeof err);
    return 4; /* not reached when the crash point fires */
}

static void test_ledger_file_is_private(void **state)
{
    fx_t *fx = *state;
    int64_t id;
    close_a(fx, U, &id);
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);
}

static void test_reopen_keeps_schema_version_and_writer_id(void **state)
{
    fx_t *fx = *state;
    char writer[17];
    snprintf(writer, sizeof writer, "%s", mtr_ledger_writer_id(fx->l));
    assert_int_equal(strlen(writer), 16);
    mtr_ledger_free(fx->l);
    fx_open(fx);
    assert_string_equal(mtr_ledger_writer_id(fx->l), writer);
}

/* One writer per file: a second locking open fails naming the holder's
 * pid, readers still open it, and the lock goes with the holder. */
static void test_a_second_writer_is_refused_naming_the_first(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_free(fx->l);
    mtr_ledger_options_t o = {.clock = &fx->clock, .lock = true};
    assert_int_equal(mtr_ledger_open(fx->path, &o, &fx->l, fx->err, sizeof fx->err), MTR_OK);
    mtr_ledger_t *second = NULL;
    assert_int_equal(mtr_ledger_open(fx->path, &o, &second, fx->err, sizeof fx->err),
                     MTR_ERR_STATE);
    assert_null(second);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld,", (long)getpid());
    assert_non_null(strstr(fx->err, pid));
    assert_non_null(strstr(fx->err, "ledger.path"));
    mtr_ledger_t *reader = NULL;
    mtr_ledger_options_t ro = {.must_exist = true};
    assert_int_equal(mtr_ledger_open(fx->path, &ro, &reader, fx->err, sizeof fx->err), MTR_OK);
    mtr_ledger_free(reader);
    mtr_ledger_free(fx->l);
    assert_int_equal(mtr_ledger_open(fx->path, &o, &fx->l, fx->err, sizeof fx->err), MTR_OK);
}

static void test_missing_ledger_is_reported_when_it_must_exist(void **state)
{
    fx_t *fx = *state;
    char path[200];
    snprintf(path, sizeof path, "%s/absent.db", fx->dir);
    mtr_ledger_options_t o = {.must_exist = true};
    mtr_ledger_t *l;
    assert_int_equal(mtr_ledger_open(path, &o, &l, fx->err, sizeof fx->err), MTR_ERR_NOT_FOUND);
    assert_null(l);
    assert_int_equal(access(path, F_OK), -1);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--crash-close"))
        return crash_close(argv[2]);
    self_exe = "/proc/self/exe";
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
        T(test_close_then_confirm_makes_records_sendable),
        T(test_close_without_confirm_sends_nothing),
        T(test_reconcile_confirms_when_kafka_holds_the_close),
        T(test_reconcile_rolls_back_when_kafka_is_behind),
        T(test_reconcile_rolls_back_when_another_owner_redid_the_hour),
        T(test_reconcile_keeps_confirmed_contributions_of_other_partitions),
        T(test_reconcile_refuses_to_guess_when_the_close_log_no_longer_reaches),
        T(test_reconcile_confirms_when_kafka_passed_the_offset_without_closing),
        T(test_checkpoint_never_goes_backwards),
        T(test_an_hour_closes_once_per_partition),
        T(test_failed_close_transaction_leaves_nothing),
        T(test_crash_inside_the_close_transaction_leaves_nothing),
        T(test_ledger_file_is_private),
        T(test_reopen_keeps_schema_version_and_writer_id),
        T(test_a_second_writer_is_refused_naming_the_first),
        T(test_missing_ledger_is_reported_when_it_must_exist),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
