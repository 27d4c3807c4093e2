/* Canonical tag sets: order independence and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/tagset.h"

#define TAG(k, v)                                                                                  \
    {                                                                                              \
        k, sizeof k - 1, v, sizeof v - 1                                                           \
    }

static void test_same_tags_in_any_order_give_the_same_bytes(void **state)
{
    (void)state;
    mtr_tag_view_t a[] = {TAG("team", "search"), TAG("env", "prod"), TAG("app", "x")};
    mtr_tag_view_t b[] = {TAG("env", "prod"), TAG("app", "x"), TAG("team", "search")};
    char ba[MTR_TAGSET_MAX_BYTES], bb[MTR_TAGSET_MAX_BYTES];
    size_t la = mtr_tagset_build(a, 3, ba), lb = mtr_tagset_build(b, 3, bb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    assert_memory_equal(ba,
                        "app\x1fx\x1e"
                        "env\x1fprod\x1e"
                        "team\x1fsearch",
                        la);
}

static void test_prefix_keys_sort_shorter_first(void **state)
{
    (void)state;
    mtr_tag_view_t t[] = {TAG("ab", "1"), TAG("a", "2")};
    char buf[MTR_TAGSET_MAX_BYTES];
    size_t len = mtr_tagset_build(t, 2, buf);
    assert_memory_equal(buf,
                        "a\x1f"
                        "2\x1e"
                        "ab\x1f"
                        "1",
                        len);
}

static void test_parse_returns_the_built_tags(void **state)
{
    (void)state;
    mtr_tag_view_t t[] = {TAG("k=1", "v 2"), TAG("z", "@/:")};
    char buf[MTR_TAGSET_MAX_BYTES];
    size_t len = mtr_tagset_build(t, 2, buf);
    mtr_tag_view_t back[MTR_TAGSET_MAX_TAGS];
    assert_int_equal(mtr_tagset_parse(buf, len, back), 2);
    assert_int_equal(back[0].key_len, 3);
    assert_memory_equal(back[0].key, "k=1", 3);
    assert_memory_equal(back[1].value, "@/:", 3);
    assert_int_equal(mtr_tagset_parse("", 0, back), 0);
}

static void test_parse_rejects_what_build_never_writes(void **state)
{
    (void)state;
    mtr_tag_view_t back[MTR_TAGSET_MAX_TAGS];
    assert_int_equal(mtr_tagset_parse("novalue", 7, back), -1);
    assert_int_equal(mtr_tagset_parse("\x1fv", 2, back), -1);
    assert_int_equal(mtr_tagset_parse("k\x1f", 2, back), -1);
    assert_int_equal(mtr_tagset_parse("k\x1fv\x1e", 4, back), -1);
    const char six[] = "a\x1f"
                       "1\x1e"
                       "b\x1f"
                       "1\x1e"
                       "c\x1f"
                       "1\x1e"
                       "d\x1f"
                       "1\x1e"
                       "e\x1f"
                       "1\x1e"
                       "f\x1f"
                       "1";
    assert_int_equal(mtr_tagset_parse(six, sizeof six - 1, back), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_tags_in_any_order_give_the_same_bytes),
        cmocka_unit_test(test_prefix_keys_sort_shorter_first),
        cmocka_unit_test(test_parse_returns_the_built_tags),
        cmocka_unit_test(test_parse_rejects_what_build_never_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
