/* Per-window string interning: customer identifiers and canonical tag sets
 * are copied once into an arena of fixed-size chunks (addresses never move)
 * and named by a 32-bit id, so a key holds 4 bytes instead of a pointer plus
 * a length, and a customer with five dimensions is stored once.
 *
 * Ownership: an mtr_agg_strings_t belongs to one hour table and dies with it;
 * the bytes returned by mtr_agg_strings_get stay valid until then.
 * Threads: one writer (the shard thread); readers only after the close has
 * taken the table while that thread was parked (which orders the accesses). */
#ifndef MTR_AGG_STRINGS_H
#define MTR_AGG_STRINGS_H

#include <stddef.h>
#include <stdint.h>

#define MTR_AGG_STRING_MAX 4096u /* longest string (a canonical tag set) */

typedef struct mtr_agg_strings mtr_agg_strings_t;

mtr_agg_strings_t *mtr_agg_strings_new(void);
void mtr_agg_strings_free(mtr_agg_strings_t *s);

/* Returns the id of bytes[0..len), copying them on first sight. hash must be
 * the same for equal bytes (callers pass mtr_agg_strings_hash or a hash they
 * already computed the same way). len <= MTR_AGG_STRING_MAX. */
uint32_t mtr_agg_strings_intern(mtr_agg_strings_t *s, const void *bytes, size_t len, uint64_t hash);
/* Looks bytes up without inserting; returns 0 and sets *id when found, -1
 * otherwise. */
int mtr_agg_strings_find(const mtr_agg_strings_t *s, const void *bytes, size_t len, uint64_t hash,
                         uint32_t *id);
uint64_t mtr_agg_strings_hash(const void *bytes, size_t len);

/* The bytes and length of an id returned by intern. */
const char *mtr_agg_strings_get(const mtr_agg_strings_t *s, uint32_t id, size_t *len);

size_t mtr_agg_strings_count(const mtr_agg_strings_t *s);
/* Bytes held: arena chunks plus the set's slots. */
size_t mtr_agg_strings_memory(const mtr_agg_strings_t *s);

#endif
