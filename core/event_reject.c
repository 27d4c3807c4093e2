/* Rejection reasons of the event decoder: their stable names and the human
 * messages that go with them (built only on the rejection path). */
#include <stdarg.h>
#include <stdio.h>

#include "core/event_int.h"

static const char *const reason_names[MTR_EVENT_REASON__COUNT] = {
    [MTR_EVENT_OK] = "ok",
    [MTR_EVENT_TOO_LARGE] = "too_large",
    [MTR_EVENT_BAD_UTF8] = "bad_utf8",
    [MTR_EVENT_BAD_JSON] = "bad_json",
    [MTR_EVENT_NOT_AN_OBJECT] = "not_an_object",
    [MTR_EVENT_DUPLICATE_FIELD] = "duplicate_field",
    [MTR_EVENT_MISSING_CUSTOMER] = "missing_customer",
    [MTR_EVENT_BOTH_CUSTOMERS] = "both_customers",
    [MTR_EVENT_BAD_CUSTOMER] = "bad_customer",
    [MTR_EVENT_BAD_ACCOUNT_ID] = "bad_account_id",
    [MTR_EVENT_IDENTIFIER_TOO_LONG] = "identifier_too_long",
    [MTR_EVENT_MISSING_DIMENSION] = "missing_dimension",
    [MTR_EVENT_UNKNOWN_DIMENSION] = "unknown_dimension",
    [MTR_EVENT_UNKNOWN_PRODUCT] = "unknown_product",
    [MTR_EVENT_MISSING_QUANTITY] = "missing_quantity",
    [MTR_EVENT_BAD_QUANTITY] = "bad_quantity",
    [MTR_EVENT_NEGATIVE_QUANTITY] = "negative_quantity",
    [MTR_EVENT_QUANTITY_OVERFLOW] = "quantity_overflow",
    [MTR_EVENT_BAD_TIMESTAMP] = "bad_timestamp",
    [MTR_EVENT_FUTURE_TIMESTAMP] = "future_timestamp",
    [MTR_EVENT_ANCIENT_TIMESTAMP] = "ancient_timestamp",
    [MTR_EVENT_BAD_TAGS] = "bad_tags",
    [MTR_EVENT_BAD_LICENSE_ARN] = "bad_license_arn",
    [MTR_EVENT_BAD_ID] = "bad_id",
    [MTR_EVENT_BAD_CLOUDEVENT] = "bad_cloudevent",
    [MTR_EVENT_UNKNOWN_EVENT_TYPE] = "unknown_event_type",
};

const char *mtr_event_reason_name(mtr_event_reason_t reason)
{
    if ((int)reason < 0 || reason >= MTR_EVENT_REASON__COUNT)
        return "unknown";
    return reason_names[reason];
}

mtr_event_reason_t evt_reject(evt_ctx_t *ctx, mtr_event_reason_t reason, const char *fmt, ...)
{
    if (ctx->errstr && ctx->errstr_size) {
        int n = snprintf(ctx->errstr, ctx->errstr_size, "%s: ", mtr_event_reason_name(reason));
        if (n >= 0 && (size_t)n < ctx->errstr_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ctx->errstr + n, ctx->errstr_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return reason;
}

#define SHOW_MAX 48 /* bytes of a value quoted in a message */

const char *evt_show(const char *s, size_t len, char *buf, size_t size)
{
    size_t o = 0;
    if (size < 8) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (size_t i = 0; i < len && i < SHOW_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= size)
            break;
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o++] = '"';
    if (len > SHOW_MAX && o + 4 < size) {
        buf[o++] = '.';
        buf[o++] = '.';
        buf[o++] = '.';
    }
    buf[o] = '\0';
    return buf;
}

const char *evt_type_name(const cJSON *item)
{
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsArray(item))
        return "an array";
    if (cJSON_IsObject(item))
        return "an object";
    return "an unknown JSON type";
}
