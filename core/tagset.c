/* Canonical tag sets: build (sorted, separated) and parse. */
#include "core/tagset.h"

#include <string.h>

#define US '\x1f'
#define RS '\x1e'

static int key_cmp(const mtr_tag_view_t *a, const mtr_tag_view_t *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c)
        return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

size_t mtr_tagset_build(const mtr_tag_view_t *tags, size_t n, char *out)
{
    /* At most five tags: an insertion sort of indexes is plenty. */
    size_t order[MTR_TAGSET_MAX_TAGS];
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && key_cmp(&tags[order[j - 1]], &tags[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const mtr_tag_view_t *t = &tags[order[i]];
        if (i)
            out[len++] = RS;
        memcpy(out + len, t->key, t->key_len);
        len += t->key_len;
        out[len++] = US;
        memcpy(out + len, t->value, t->value_len);
        len += t->value_len;
    }
    return len;
}

int mtr_tagset_parse(const char *text, size_t len, mtr_tag_view_t tags[MTR_TAGSET_MAX_TAGS])
{
    if (len == 0)
        return 0;
    int n = 0;
    const char *p = text, *end = text + len;
    while (p <= end) {
        const char *pair_end = memchr(p, RS, (size_t)(end - p));
        if (!pair_end)
            pair_end = end;
        const char *sep = memchr(p, US, (size_t)(pair_end - p));
        if (!sep || sep == p || sep + 1 == pair_end || n == MTR_TAGSET_MAX_TAGS)
            return -1;
        tags[n].key = p;
        tags[n].key_len = (size_t)(sep - p);
        tags[n].value = sep + 1;
        tags[n].value_len = (size_t)(pair_end - sep - 1);
        if (memchr(tags[n].value, US, tags[n].value_len))
            return -1;
        n++;
        p = pair_end + 1;
    }
    return n;
}
