/* CloudEvents 1.0 envelopes around usage events: structured mode (a JSON
 * object with specversion/id/source/type/time/subject and a `data` object)
 * and the Kafka protocol binding's binary mode (ce_* headers, the value is
 * the data). Both end up as strings in ctx->ce for event.c to fall back on:
 * type → dimension, subject → customer, time → timestamp, id → id. */
#include <string.h>

#include "core/event_int.h"

static const char *const header_names[CE__COUNT] = {
    [CE_SPECVERSION] = "ce_specversion",
    [CE_ID] = "ce_id",
    [CE_SOURCE] = "ce_source",
    [CE_TYPE] = "ce_type",
    [CE_TIME] = "ce_time",
    [CE_SUBJECT] = "ce_subject",
};

const char *evt_arena_copy(evt_ctx_t *ctx, const char *s, size_t len)
{
    char *p = mtr_json_arena_alloc(ctx->dec->arena, len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

bool evt_ce_binary_headers(evt_ctx_t *ctx)
{
    const mtr_event_kafka_meta_t *meta = ctx->meta;
    bool any = false;
    for (size_t i = 0; i < meta->n_headers; i++) {
        const mtr_event_header_t *h = &meta->headers[i];
        if (!h->name || strncmp(h->name, "ce_", 3) != 0)
            continue;
        any = true;
        for (int a = 0; a < CE__COUNT; a++) {
            /* The first header of a name wins, as with JSON members. */
            if (header_names[a] && !ctx->ce[a].ptr && strcmp(h->name, header_names[a]) == 0) {
                size_t n = h->value ? h->value_len : 0;
                /* Header bytes belong to the Kafka message: copy them so
                 * the event's strings are decoder-owned like the rest. */
                ctx->ce[a].ptr = evt_arena_copy(ctx, h->value ? h->value : "", n);
                ctx->ce[a].len = n;
            }
        }
    }
    return any;
}

bool evt_ce_is_structured(const evt_slots_t *s)
{
    /* specversion marks an envelope; so does a `data` object next to a
     * `type` and `source`, which then must say its specversion. */
    return s->ce[CE_SPECVERSION] ||
           (evt_is_object(s->ce[CE_DATA]) && s->ce[CE_TYPE] && s->ce[CE_SOURCE]);
}

static bool has_nul(const mtr_event_str_t *v)
{
    return memchr(v->ptr, '\0', v->len) != NULL;
}

/* The REQUIRED attributes and the version, however they arrived. */
static mtr_event_reason_t check_required(evt_ctx_t *ctx, const char *how)
{
    char show[EVT_SHOW_BUF];
    const mtr_event_str_t *v = &ctx->ce[CE_SPECVERSION];
    if (!v->ptr)
        return evt_reject(ctx, MTR_EVENT_BAD_CLOUDEVENT,
                          "CloudEvent (%s) has no specversion; send \"1.0\"", how);
    if (v->len != 3 || memcmp(v->ptr, "1.0", 3) != 0)
        return evt_reject(ctx, MTR_EVENT_BAD_CLOUDEVENT,
                          "CloudEvent (%s) specversion %s is not supported; send \"1.0\"", how,
                          evt_show(v->ptr, v->len, show, sizeof show));
    static const int required[] = {CE_ID, CE_SOURCE, CE_TYPE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        const mtr_event_str_t *r = &ctx->ce[required[i]];
        if (!r->ptr || r->len == 0 || has_nul(r))
            return evt_reject(ctx, MTR_EVENT_BAD_CLOUDEVENT,
                              "CloudEvent (%s) has no usable %s; the attribute is required by "
                              "CloudEvents 1.0",
                              how, header_names[required[i]] + 3);
    }
    for (int a = CE_TIME; a <= CE_SUBJECT; a++) {
        if (ctx->ce[a].ptr && has_nul(&ctx->ce[a]))
            return evt_reject(ctx, MTR_EVENT_BAD_CLOUDEVENT,
                              "CloudEvent (%s) attribute %s contains a NUL byte", how,
                              header_names[a] + 3);
    }
    return MTR_EVENT_OK;
}

mtr_event_reason_t evt_ce_structured(evt_ctx_t *ctx, const evt_slots_t *slots, const cJSON **data)
{
    for (int a = 0; a < CE__COUNT; a++) {
        const cJSON *item = slots->ce[a];
        if (!item || a == CE_DATA || a == CE_DATA_BASE64)
            continue;
        if (!evt_is_string(item))
            return evt_reject(ctx, MTR_EVENT_BAD_CLOUDEVENT,
                              "CloudEvent attribute %s is %s; CloudEvents attributes are strings",
                              header_names[a] + 3, evt_type_name(item));
        ctx->ce[a].ptr = item->valuestring;
        ctx->ce[a].len = strlen(item->valuestring);
    }
    mtr_event_reason_t r = check_required(ctx, "structured mode");
    if (r != MTR_EVENT_OK)
        return r;
    if (slots->ce[CE_DATA_BASE64])
        return evt_reject(ctx, MTR_EVENT_BAD_CLOUDEVENT,
                          "CloudEvent carries data_base64; send the usage event as a JSON "
                          "object in `data`");
    if (!evt_is_object(slots->ce[CE_DATA]))
        return evt_reject(ctx, MTR_EVENT_BAD_CLOUDEVENT,
                          "CloudEvent `data` is %s; send the usage event as a JSON object",
                          slots->ce[CE_DATA] ? evt_type_name(slots->ce[CE_DATA]) : "missing");
    *data = slots->ce[CE_DATA];
    return MTR_EVENT_OK;
}

mtr_event_reason_t evt_ce_binary(evt_ctx_t *ctx)
{
    return check_required(ctx, "binary mode, ce_* headers");
}
