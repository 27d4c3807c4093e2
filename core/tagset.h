/* The canonical form of an event's tags (AWS UsageAllocations tags), so the
 * same set always gives the same bytes wherever it is built or stored:
 * pairs sorted by key, each "key" US "value", pairs separated by RS
 * (US = 0x1f, RS = 0x1e). AWS's tag patterns exclude control characters, so
 * the separators never occur inside a key or value. The empty set is "".
 *
 * Pure functions; any thread. */
#ifndef MTR_TAGSET_H
#define MTR_TAGSET_H

#include <stddef.h>

#include "core/err.h"

#define MTR_TAGSET_MAX_TAGS 5
/* 5 x (100-byte key + 256-byte value + 2 separators). */
#define MTR_TAGSET_MAX_BYTES 1790

typedef struct mtr_tag_view {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} mtr_tag_view_t;

/* Writes the canonical form of tags[0..n) (n <= 5, any order, keys unique)
 * into out (MTR_TAGSET_MAX_BYTES) and returns its length. */
size_t mtr_tagset_build(const mtr_tag_view_t *tags, size_t n, char *out);

/* Splits a canonical form back into at most 5 tags pointing into text.
 * Returns the count, or -1 when text is not a canonical form. */
int mtr_tagset_parse(const char *text, size_t len, mtr_tag_view_t tags[MTR_TAGSET_MAX_TAGS]);

#endif
