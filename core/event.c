/* The event decoder: from one Kafka message to a validated mtr_event_t or a
 * rejection reason. Order of work: size limit, UTF-8, cJSON parse into the
 * decoder's arena, one pass sorting the object's members into field slots,
 * the CloudEvents envelope if any, then each field's rules. */
#include <stdio.h>
#include <string.h>

#include "core/event_int.h"
#include "core/mem.h"
#include "core/quantity.h"

mtr_event_decoder_t *mtr_event_decoder_new(const mtr_config_t *cfg, mtr_clock_t *clock)
{
    mtr_event_decoder_t *dec = mtr_calloc(1, sizeof *dec);
    dec->cfg = cfg;
    dec->clock = clock;
    dec->arena = mtr_json_arena_new(0, 0);
    evt_tables_build(dec);
    return dec;
}

void mtr_event_decoder_free(mtr_event_decoder_t *dec)
{
    if (!dec)
        return;
    evt_tables_free(dec);
    mtr_json_arena_free(dec->arena);
    mtr_free(dec);
}

static bool is_absent(const cJSON *item)
{
    return !item || (item->type & 0xff) == cJSON_NULL;
}

/* Sorts obj's members into slots: one pass, one hash per member. */
static mtr_event_reason_t classify(evt_ctx_t *ctx, const cJSON *obj, evt_slots_t *s,
                                   bool events_only)
{
    char show[EVT_SHOW_BUF];
    int i = 0;
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        const evt_name_t *n = evt_name_find(ctx->dec, c->string);
        if (!n)
            continue;
        int f = n->event_field, a = events_only ? -1 : n->ce_attr;
        /* A repeated member is ambiguous (parsers disagree on which one
         * wins), and a bill must not depend on the parser. */
        if ((f >= 0 && s->ev[f]) || (a >= 0 && s->ce[a]))
            return evt_reject(ctx, MTR_EVENT_DUPLICATE_FIELD,
                              "member %s appears more than once; send each field once",
                              evt_show(c->string, n->len, show, sizeof show));
        if (f >= 0) {
            s->ev[f] = c;
            s->ev_index[f] = i;
        }
        if (a >= 0) {
            s->ce[a] = c;
            s->ce_index[a] = i;
        }
    }
    return MTR_EVENT_OK;
}

static mtr_event_reason_t decode_customer(evt_ctx_t *ctx, const evt_slots_t *s, mtr_event_t *out)
{
    const char *const *names = ctx->dec->field_names;
    const cJSON *c = s->ev[EF_CUSTOMER], *a = s->ev[EF_ACCOUNT];
    bool has_c = !is_absent(c), has_a = !is_absent(a);
    if (has_c && has_a)
        return evt_reject(ctx, MTR_EVENT_BOTH_CUSTOMERS,
                          "event has both \"%s\" and \"%s\"; send exactly one customer field",
                          names[EF_CUSTOMER], names[EF_ACCOUNT]);
    out->is_account_id = has_a;
    if (has_a)
        return evt_account_id(ctx, a, &out->customer);
    if (has_c)
        return evt_customer(ctx, c, ctx->dec->field_labels[EF_CUSTOMER], &out->customer);
    if (ctx->ce[CE_SUBJECT].ptr)
        return evt_customer_text(ctx, ctx->ce[CE_SUBJECT].ptr, ctx->ce[CE_SUBJECT].len,
                                 "CloudEvent subject", &out->customer);
    return evt_reject(ctx, MTR_EVENT_MISSING_CUSTOMER,
                      "event has neither \"%s\" (CustomerIdentifier) nor \"%s\" "
                      "(CustomerAWSAccountId); send one",
                      names[EF_CUSTOMER], names[EF_ACCOUNT]);
}

static mtr_event_reason_t decode_product(evt_ctx_t *ctx, const evt_slots_t *s, uint32_t *product)
{
    char show[EVT_SHOW_BUF];
    const mtr_event_decoder_t *dec = ctx->dec;
    const char *field = dec->field_names[EF_PRODUCT_CODE];
    const cJSON *p = s->ev[EF_PRODUCT_CODE];
    size_t n_products = dec->cfg->n_products;
    if (is_absent(p)) {
        if (n_products == 1) {
            *product = 0;
            return MTR_EVENT_OK;
        }
        return evt_reject(ctx, MTR_EVENT_UNKNOWN_PRODUCT,
                          "event names no \"%s\" and %zu products are configured; add the "
                          "product code to the event",
                          field, n_products);
    }
    if (!evt_is_string(p))
        return evt_reject(ctx, MTR_EVENT_UNKNOWN_PRODUCT,
                          "field \"%s\" is %s; send the product code as a string", field,
                          evt_type_name(p));
    size_t len = strlen(p->valuestring);
    int idx = evt_product_find(dec, p->valuestring, len);
    if (idx < 0)
        return evt_reject(ctx, MTR_EVENT_UNKNOWN_PRODUCT,
                          "field \"%s\" value %s is not a configured product; add it to "
                          "products[] or fix the producer",
                          field, evt_show(p->valuestring, len, show, sizeof show));
    *product = (uint32_t)idx;
    return MTR_EVENT_OK;
}

static mtr_event_reason_t decode_dimension(evt_ctx_t *ctx, const evt_slots_t *s, mtr_event_t *out)
{
    char show[EVT_SHOW_BUF];
    const mtr_event_decoder_t *dec = ctx->dec;
    const char *field = dec->field_names[EF_DIMENSION];
    const mtr_product_conf_t *prod = &dec->cfg->products[out->product];
    const cJSON *d = s->ev[EF_DIMENSION];
    const evt_dim_entry_t *e;
    if (!is_absent(d)) {
        if (!evt_is_string(d))
            return evt_reject(ctx, MTR_EVENT_UNKNOWN_DIMENSION,
                              "field \"%s\" is %s; send the dimension name as a string", field,
                              evt_type_name(d));
        size_t len;
        uint64_t h = evt_hash_cstr(d->valuestring, &len);
        e = evt_dim_find(&dec->dims, out->product, d->valuestring, len, h);
        if (!e)
            return evt_reject(ctx, MTR_EVENT_UNKNOWN_DIMENSION,
                              "field \"%s\" value %s is not a dimension of product \"%s\"; "
                              "add it to the product's dimensions or fix the producer",
                              field, evt_show(d->valuestring, len, show, sizeof show),
                              prod->product_code ? prod->product_code : "");
    } else if (ctx->ce[CE_TYPE].ptr) {
        const mtr_event_str_t *t = &ctx->ce[CE_TYPE];
        e = evt_dim_find(&dec->types, out->product, t->ptr, t->len, evt_hash_bytes(t->ptr, t->len));
        if (!e)
            return evt_reject(ctx, MTR_EVENT_UNKNOWN_EVENT_TYPE,
                              "CloudEvent type %s maps to no dimension of product \"%s\"; set "
                              "event_type on a dimension or send \"%s\" in data",
                              evt_show(t->ptr, t->len, show, sizeof show),
                              prod->product_code ? prod->product_code : "", field);
    } else {
        return evt_reject(ctx, MTR_EVENT_MISSING_DIMENSION,
                          "event has no \"%s\"; send the AWS dimension name", field);
    }
    out->dimension = e->dimension;
    out->aggregation = prod->dimensions[e->dimension].aggregation;
    return MTR_EVENT_OK;
}

static mtr_event_reason_t quantity_status(evt_ctx_t *ctx, mtr_quantity_status_t st,
                                          const char *text, size_t len)
{
    char show[EVT_SHOW_BUF];
    const char *field = ctx->dec->field_names[EF_QUANTITY];
    evt_show(text, len, show, sizeof show);
    switch (st) {
    case MTR_QUANTITY_OK:
        return MTR_EVENT_OK;
    case MTR_QUANTITY_NEGATIVE:
        return evt_reject(ctx, MTR_EVENT_NEGATIVE_QUANTITY,
                          "field \"%s\" value %s is negative; usage cannot be taken back by an "
                          "event (ask AWS for a refund instead)",
                          field, show);
    case MTR_QUANTITY_PRECISION:
        return evt_reject(ctx, MTR_EVENT_BAD_QUANTITY,
                          "field \"%s\" value %s has more than 6 decimal places; round it in "
                          "the producer",
                          field, show);
    case MTR_QUANTITY_OVERFLOW:
        return evt_reject(ctx, MTR_EVENT_QUANTITY_OVERFLOW,
                          "field \"%s\" value %s is too large (limit 9223372036854.775807)", field,
                          show);
    case MTR_QUANTITY_SYNTAX:
        break;
    }
    return evt_reject(ctx, MTR_EVENT_BAD_QUANTITY,
                      "field \"%s\" value %s is not a decimal number; send a JSON number or a "
                      "decimal string such as \"1.25\"",
                      field, show);
}

static mtr_event_reason_t decode_quantity(evt_ctx_t *ctx, const evt_slots_t *s,
                                          const char *data_raw, mtr_event_t *out)
{
    if (out->aggregation == MTR_AGG_COUNT) {
        out->quantity = MTR_QUANTITY_SCALE; /* each event counts once */
        return MTR_EVENT_OK;
    }
    const char *field = ctx->dec->field_names[EF_QUANTITY];
    const cJSON *q = s->ev[EF_QUANTITY];
    if (is_absent(q))
        return evt_reject(ctx, MTR_EVENT_MISSING_QUANTITY,
                          "event has no \"%s\"; send the amount used as a number", field);
    const char *text;
    size_t len;
    char buf[40];
    if (evt_is_string(q)) {
        text = q->valuestring;
        len = strlen(text);
    } else if (evt_is_number(q)) {
        /* The number's own digits, never the double: 0.1 must be exactly
         * 100000 micro-units. */
        if (!evt_member_raw(data_raw, ctx->raw + ctx->raw_len, s->ev_index[EF_QUANTITY], &text,
                            &len)) {
            /* Cannot happen for input cJSON accepted; stay exact anyway
             * for every double with 15 significant digits. */
            len = (size_t)snprintf(buf, sizeof buf, "%.15g", q->valuedouble);
            text = buf;
        }
    } else {
        return evt_reject(ctx, MTR_EVENT_BAD_QUANTITY,
                          "field \"%s\" is %s; send a JSON number or a decimal string", field,
                          evt_type_name(q));
    }
    mtr_quantity_status_t st = mtr_quantity_parse(text, len, &out->quantity);
    return st == MTR_QUANTITY_OK ? MTR_EVENT_OK : quantity_status(ctx, st, text, len);
}

static mtr_event_reason_t decode_time(evt_ctx_t *ctx, const evt_slots_t *s, mtr_event_t *out)
{
    const cJSON *t = s->ev[EF_TIMESTAMP];
    out->time_from_kafka = false;
    if (!is_absent(t))
        return evt_time(ctx, t, ctx->dec->field_labels[EF_TIMESTAMP], &out->time_ms);
    if (ctx->ce[CE_TIME].ptr)
        return evt_time_text(ctx, ctx->ce[CE_TIME].ptr, ctx->ce[CE_TIME].len, "CloudEvent time",
                             &out->time_ms);
    if (ctx->meta && ctx->meta->timestamp_ms >= 0) {
        out->time_from_kafka = true;
        out->time_ms = ctx->meta->timestamp_ms;
        return evt_time_check(ctx, out->time_ms, "Kafka message timestamp");
    }
    return evt_reject(ctx, MTR_EVENT_BAD_TIMESTAMP,
                      "event has no \"%s\" and the Kafka message has no timestamp; send the "
                      "usage time",
                      ctx->dec->field_names[EF_TIMESTAMP]);
}

static mtr_event_reason_t decode_fields(evt_ctx_t *ctx, const evt_slots_t *s, const char *data_raw,
                                        mtr_event_t *out)
{
    mtr_event_reason_t r;
    if ((r = decode_customer(ctx, s, out)) != MTR_EVENT_OK ||
        (r = decode_product(ctx, s, &out->product)) != MTR_EVENT_OK ||
        (r = decode_dimension(ctx, s, out)) != MTR_EVENT_OK ||
        (r = decode_quantity(ctx, s, data_raw, out)) != MTR_EVENT_OK ||
        (r = decode_time(ctx, s, out)) != MTR_EVENT_OK)
        return r;
    out->id = out->source = (mtr_event_str_t){NULL, 0};
    if (!is_absent(s->ev[EF_ID])) {
        if ((r = evt_id(ctx, s->ev[EF_ID], ctx->dec->field_labels[EF_ID], &out->id)) !=
            MTR_EVENT_OK)
            return r;
    } else if (ctx->ce[CE_ID].ptr) {
        /* A CloudEvent is identified by id and source together. */
        out->id = ctx->ce[CE_ID];
        out->source = ctx->ce[CE_SOURCE];
    }
    if ((r = evt_license_arn(ctx, s->ev[EF_LICENSE_ARN], &out->license_arn)) != MTR_EVENT_OK)
        return r;
    return evt_tags(ctx, s->ev[EF_TAGS], out);
}

mtr_event_reason_t mtr_event_decode(mtr_event_decoder_t *dec, const void *value, size_t len,
                                    const mtr_event_kafka_meta_t *meta, mtr_event_t *out,
                                    char *errstr, size_t errstr_size)
{
    evt_ctx_t ctx = {.dec = dec,
                     .raw = value,
                     .raw_len = len,
                     .meta = meta,
                     .errstr = errstr,
                     .errstr_size = errstr_size};
    size_t max = dec->cfg->events.max_message_bytes;
    if (max && len > max)
        return evt_reject(&ctx, MTR_EVENT_TOO_LARGE,
                          "message is %zu bytes, over events.max_message_bytes (%zu); split the "
                          "usage into smaller events",
                          len, max);
    bool backslash = false;
    if (!evt_utf8_valid(value, len, &backslash))
        return evt_reject(&ctx, MTR_EVENT_BAD_UTF8,
                          "message is not valid UTF-8; producers must send UTF-8 JSON");
    /* cJSON would cut a string at an escaped NUL without saying so, and a
     * cut customer id bills the wrong customer. */
    if (backslash && evt_has_escaped_nul(value, len))
        return evt_reject(&ctx, MTR_EVENT_BAD_JSON,
                          "message contains \\u0000 (an escaped NUL byte), which no event field "
                          "may hold");

    mtr_json_arena_reset(dec->arena);
    mtr_json_arena_t *prev = mtr_json_arena_activate(dec->arena);
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(value, len, &parse_end, 0);
    mtr_json_arena_activate(prev);
    const char *raw = value, *end = raw + len;
    if (!root)
        return evt_reject(&ctx, MTR_EVENT_BAD_JSON,
                          "message is not JSON (error near byte %zu of %zu); send one JSON "
                          "object per message",
                          parse_end && parse_end >= raw ? (size_t)(parse_end - raw) : 0, len);
    while (parse_end < end &&
           (*parse_end == ' ' || *parse_end == '\t' || *parse_end == '\n' || *parse_end == '\r'))
        parse_end++;
    if (parse_end != end)
        return evt_reject(&ctx, MTR_EVENT_BAD_JSON,
                          "message has text after the JSON value (at byte %zu of %zu); send "
                          "one JSON object per message",
                          (size_t)(parse_end - raw), len);
    if ((root->type & 0xff) != cJSON_Object)
        return evt_reject(&ctx, MTR_EVENT_NOT_AN_OBJECT,
                          "message is %s, not a JSON object; send one event object per message",
                          evt_type_name(root));

    evt_slots_t slots;
    memset(slots.ev, 0, sizeof slots.ev);
    memset(slots.ce, 0, sizeof slots.ce);
    ctx.binary = meta && meta->n_headers && evt_ce_binary_headers(&ctx);
    mtr_event_reason_t r = classify(&ctx, root, &slots, ctx.binary);
    if (r != MTR_EVENT_OK)
        return r;
    const char *data_raw = raw;
    out->format = MTR_EVENT_FORMAT_JSON;
    if (ctx.binary) {
        out->format = MTR_EVENT_FORMAT_CE_BINARY;
        if ((r = evt_ce_binary(&ctx)) != MTR_EVENT_OK)
            return r;
    } else if (evt_ce_is_structured(&slots)) {
        out->format = MTR_EVENT_FORMAT_CE_STRUCTURED;
        const cJSON *data;
        if ((r = evt_ce_structured(&ctx, &slots, &data)) != MTR_EVENT_OK)
            return r;
        size_t data_len;
        if (!evt_member_raw(raw, end, slots.ce_index[CE_DATA], &data_raw, &data_len))
            data_raw = NULL;
        memset(slots.ev, 0, sizeof slots.ev);
        if ((r = classify(&ctx, data, &slots, true)) != MTR_EVENT_OK)
            return r;
    }
    return decode_fields(&ctx, &slots, data_raw, out);
}
