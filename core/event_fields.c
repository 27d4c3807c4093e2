/* Validation of single event fields against AWS Marketplace's rules
 * (customer identifiers, account ids, tags, license ARNs, ids), the cheap
 * UTF-8 check of a whole message, and locating a member's source text so a
 * quantity can be read from its digits instead of a double. */
#include <string.h>

#include "core/event_int.h"

bool evt_utf8_valid(const unsigned char *s, size_t len, bool *has_backslash)
{
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    const uint64_t bs = 0x5c5c5c5c5c5c5c5cULL; /* '\\' in every byte */
    bool backslash = false;
    size_t i = 0;
    while (i < len) {
        /* Events are nearly all ASCII: take 8 bytes a step while they are,
         * noting backslashes on the way (zero byte test on w ^ '\\'). */
        while (i + 16 <= len) {
            uint64_t w, v;
            memcpy(&w, s + i, 8);
            memcpy(&v, s + i + 8, 8);
            if ((w | v) & high)
                break;
            uint64_t x = w ^ bs, y = v ^ bs;
            backslash |= ((((x - ones) & ~x) | ((y - ones) & ~y)) & high) != 0;
            i += 16;
        }
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & high)
                break;
            uint64_t x = w ^ bs;
            backslash |= ((x - ones) & ~x & high) != 0;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            backslash |= c == '\\';
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf; /* bounds of the 2nd byte */
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return false;
        }
        if (len - i <= need)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        }
        i += need + 1;
    }
    *has_backslash = backslash;
    return true;
}

bool evt_has_escaped_nul(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] != '\\') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && s[j] == '\\')
            j++;
        /* An odd run of backslashes ends in an escape. */
        if (((j - i) & 1) && len - j >= 5 && memcmp(s + j, "u0000", 5) == 0)
            return true;
        i = j;
    }
    return false;
}

/* ---- source text of a member (the input is valid JSON: cJSON said so) */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The first '"' or '\\' in [p, end), or end. Strings are most of an
 * event's bytes, so they are crossed 8 bytes a step: a byte equal to c
 * makes (w ^ c) have a zero byte, found by the usual borrow test (whose
 * false positives only sit above a true zero, so the lowest hit is
 * exact). */
static const char *find_quote_or_backslash(const char *p, const char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    const uint64_t quote = 0x2222222222222222ULL, bs = 0x5c5c5c5c5c5c5c5cULL;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t x = w ^ quote, y = w ^ bs;
        uint64_t hit = (((x - ones) & ~x) | ((y - ones) & ~y)) & high;
        if (hit)
            return p + (__builtin_ctzll(hit) >> 3);
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* p at the opening quote; returns just past the closing one. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++;;) {
        p = find_quote_or_backslash(p, end);
        if (p >= end)
            return end;
        if (*p == '"')
            return p + 1;
        p += 2; /* an escape: the next byte is never the closing quote */
    }
}

static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return end;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p;
}

bool evt_member_raw(const char *obj, const char *end, int index, const char **val, size_t *val_len)
{
    if (!obj)
        return false;
    const char *p = skip_ws(obj, end);
    if (p >= end || *p != '{')
        return false;
    p++;
    for (int i = 0;; i++) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return false;
        p = skip_ws(skip_string(p, end), end);
        if (p >= end || *p != ':')
            return false;
        p = skip_ws(p + 1, end);
        const char *v_end = skip_value(p, end);
        if (i == index) {
            *val = p;
            *val_len = (size_t)(v_end - p);
            return v_end > p;
        }
        p = skip_ws(v_end, end);
        if (p >= end || *p != ',')
            return false;
        p++;
    }
}

/* ---- fields */

/* Length of s and whether it holds a control character, in one pass. */
static size_t scan_text(const char *s, bool *has_control)
{
    const char *p = s;
    bool ctl = false;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        ctl |= c < 0x20 || c == 0x7f;
    }
    *has_control = ctl;
    return (size_t)(p - s);
}

static mtr_event_reason_t customer_checked(evt_ctx_t *ctx, const char *s, size_t len, bool ctl,
                                           const char *field, mtr_event_str_t *out)
{
    char show[EVT_SHOW_BUF];
    if (len == 0)
        return evt_reject(ctx, MTR_EVENT_BAD_CUSTOMER,
                          "%s is empty; send the CustomerIdentifier from ResolveCustomer", field);
    if (len > MTR_EVENT_MAX_CUSTOMER_BYTES)
        return evt_reject(ctx, MTR_EVENT_IDENTIFIER_TOO_LONG,
                          "%s value %s is %zu bytes; AWS allows at most %d", field,
                          evt_show(s, len, show, sizeof show), len, MTR_EVENT_MAX_CUSTOMER_BYTES);
    if (ctl)
        return evt_reject(ctx, MTR_EVENT_BAD_CUSTOMER,
                          "%s value %s contains control characters; send the "
                          "CustomerIdentifier exactly as ResolveCustomer returned it",
                          field, evt_show(s, len, show, sizeof show));
    out->ptr = s;
    out->len = len;
    return MTR_EVENT_OK;
}

mtr_event_reason_t evt_customer(evt_ctx_t *ctx, const cJSON *item, const char *field,
                                mtr_event_str_t *out)
{
    if (!evt_is_string(item))
        return evt_reject(ctx, MTR_EVENT_BAD_CUSTOMER,
                          "%s is %s; send the CustomerIdentifier as a JSON string", field,
                          evt_type_name(item));
    bool ctl;
    size_t len = scan_text(item->valuestring, &ctl);
    return customer_checked(ctx, item->valuestring, len, ctl, field, out);
}

mtr_event_reason_t evt_customer_text(evt_ctx_t *ctx, const char *s, size_t len, const char *field,
                                     mtr_event_str_t *out)
{
    bool ctl = false;
    for (size_t i = 0; i < len; i++)
        ctl |= (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f;
    return customer_checked(ctx, s, len, ctl, field, out);
}

mtr_event_reason_t evt_account_id(evt_ctx_t *ctx, const cJSON *item, mtr_event_str_t *out)
{
    char show[EVT_SHOW_BUF];
    const char *field = ctx->dec->field_names[EF_ACCOUNT];
    if (!evt_is_string(item))
        return evt_reject(ctx, MTR_EVENT_BAD_ACCOUNT_ID,
                          "field \"%s\" is %s; send the 12-digit AWS account id as a string "
                          "(a number loses leading zeros)",
                          field, evt_type_name(item));
    const char *s = item->valuestring;
    size_t len = 0;
    bool digits = true;
    for (; s[len] && len <= 12; len++)
        digits &= s[len] >= '0' && s[len] <= '9';
    if (len != 12 || !digits)
        return evt_reject(ctx, MTR_EVENT_BAD_ACCOUNT_ID,
                          "field \"%s\" value %s is not an AWS account id; send exactly 12 "
                          "digits, e.g. \"012345678901\"",
                          field, evt_show(s, strlen(s), show, sizeof show));
    out->ptr = s;
    out->len = 12;
    return MTR_EVENT_OK;
}

/* AWS's tag pattern ^[a-zA-Z0-9+ -=._:\/@]+$ read as the characters it
 * lists. (Read as a regex, " -=" is the range 0x20-0x3d, which would also
 * allow !"#$%&'()*,;<; keeping to the listed set never sends AWS a tag it
 * could refuse.) */
static bool tag_char_ok(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '+':
    case ' ':
    case '-':
    case '=':
    case '.':
    case '_':
    case ':':
    case '/':
    case '@':
        return true;
    default:
        return false;
    }
}

/* Length of a tag key or value if it matches the pattern, else 0 with
 * *bad_at at the first bad byte. */
static size_t tag_text(const char *s, size_t max, size_t *bad_at)
{
    size_t n = 0;
    for (; s[n]; n++) {
        if (!tag_char_ok((unsigned char)s[n]) || n >= max) {
            *bad_at = n;
            return 0;
        }
    }
    *bad_at = n;
    return n;
}

mtr_event_reason_t evt_tags(evt_ctx_t *ctx, const cJSON *item, mtr_event_t *out)
{
    char show[EVT_SHOW_BUF];
    const char *field = ctx->dec->field_names[EF_TAGS];
    out->n_tags = 0;
    if (!item || cJSON_IsNull(item))
        return MTR_EVENT_OK;
    if (!evt_is_object(item))
        return evt_reject(ctx, MTR_EVENT_BAD_TAGS,
                          "field \"%s\" is %s; send an object of string values, e.g. "
                          "{\"team\":\"search\"}",
                          field, evt_type_name(item));
    size_t n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, item)
    {
        if (n == MTR_EVENT_MAX_TAGS)
            return evt_reject(ctx, MTR_EVENT_BAD_TAGS,
                              "field \"%s\" has more than %d tags; AWS accepts at most %d per "
                              "usage allocation",
                              field, MTR_EVENT_MAX_TAGS, MTR_EVENT_MAX_TAGS);
        size_t bad;
        size_t klen = tag_text(t->string, MTR_EVENT_MAX_TAG_KEY, &bad);
        if (klen == 0)
            return evt_reject(ctx, MTR_EVENT_BAD_TAGS,
                              "field \"%s\": tag key %s is empty, longer than %d or has a "
                              "character outside [a-zA-Z0-9+ -=._:/@]",
                              field, evt_show(t->string, strlen(t->string), show, sizeof show),
                              MTR_EVENT_MAX_TAG_KEY);
        if (!evt_is_string(t))
            return evt_reject(ctx, MTR_EVENT_BAD_TAGS,
                              "field \"%s\": tag %s is %s; tag values must be strings", field,
                              evt_show(t->string, klen, show, sizeof show), evt_type_name(t));
        size_t vlen = tag_text(t->valuestring, MTR_EVENT_MAX_TAG_VALUE, &bad);
        if (vlen == 0)
            return evt_reject(ctx, MTR_EVENT_BAD_TAGS,
                              "field \"%s\": tag %s has a value that is empty, longer than %d "
                              "or has a character outside [a-zA-Z0-9+ -=._:/@]",
                              field, evt_show(t->string, klen, show, sizeof show),
                              MTR_EVENT_MAX_TAG_VALUE);
        for (size_t k = 0; k < n; k++) {
            if (out->tags[k].key.len == klen && memcmp(out->tags[k].key.ptr, t->string, klen) == 0)
                return evt_reject(ctx, MTR_EVENT_BAD_TAGS,
                                  "field \"%s\": tag %s appears twice; send each key once", field,
                                  evt_show(t->string, klen, show, sizeof show));
        }
        out->tags[n].key = (mtr_event_str_t){t->string, klen};
        out->tags[n].value = (mtr_event_str_t){t->valuestring, vlen};
        n++;
    }
    out->n_tags = n;
    return MTR_EVENT_OK;
}

/* arn:aws(-[a-z]+)*:license-manager:<printable, no spaces> */
static bool license_arn_ok(const char *s, size_t len)
{
    if (len < 7 || memcmp(s, "arn:aws", 7) != 0)
        return false;
    size_t i = 7;
    while (i < len && s[i] == '-') {
        size_t j = ++i;
        while (i < len && s[i] >= 'a' && s[i] <= 'z')
            i++;
        if (i == j)
            return false;
    }
    static const char lm[] = ":license-manager:";
    if (len - i < sizeof lm - 1 || memcmp(s + i, lm, sizeof lm - 1) != 0)
        return false;
    for (i += sizeof lm - 1; i < len; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    }
    return true;
}

mtr_event_reason_t evt_license_arn(evt_ctx_t *ctx, const cJSON *item, mtr_event_str_t *out)
{
    char show[EVT_SHOW_BUF];
    const char *field = ctx->dec->field_names[EF_LICENSE_ARN];
    *out = (mtr_event_str_t){NULL, 0};
    if (!item || cJSON_IsNull(item))
        return MTR_EVENT_OK;
    if (!evt_is_string(item))
        return evt_reject(ctx, MTR_EVENT_BAD_LICENSE_ARN,
                          "field \"%s\" is %s; send the License Manager ARN as a string", field,
                          evt_type_name(item));
    bool ctl;
    size_t len = scan_text(item->valuestring, &ctl);
    if (len > MTR_EVENT_MAX_ARN_BYTES || !license_arn_ok(item->valuestring, len))
        return evt_reject(ctx, MTR_EVENT_BAD_LICENSE_ARN,
                          "field \"%s\" value %s is not a license ARN; expected "
                          "arn:aws:license-manager:... of at most %d bytes",
                          field, evt_show(item->valuestring, len, show, sizeof show),
                          MTR_EVENT_MAX_ARN_BYTES);
    *out = (mtr_event_str_t){item->valuestring, len};
    return MTR_EVENT_OK;
}

mtr_event_reason_t evt_id(evt_ctx_t *ctx, const cJSON *item, const char *field,
                          mtr_event_str_t *out)
{
    char show[EVT_SHOW_BUF];
    if (!evt_is_string(item))
        return evt_reject(ctx, MTR_EVENT_BAD_ID, "%s is %s; send the event id as a string", field,
                          evt_type_name(item));
    bool ctl;
    size_t len = scan_text(item->valuestring, &ctl);
    if (len == 0 || len > MTR_EVENT_MAX_ID_BYTES || ctl)
        return evt_reject(ctx, MTR_EVENT_BAD_ID,
                          "%s value %s must be 1 to %d bytes without control "
                          "characters",
                          field, evt_show(item->valuestring, len, show, sizeof show),
                          MTR_EVENT_MAX_ID_BYTES);
    *out = (mtr_event_str_t){item->valuestring, len};
    return MTR_EVENT_OK;
}
