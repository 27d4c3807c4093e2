/* Decoding one Kafka message, its hour-table update and dedupe identity. */
#include "ingest/message.h"

#include "aggregate/dedupe.h"

#define MAX_EVENT_HEADERS 32

mtr_event_reason_t mtr_ingest_decode_message(mtr_event_decoder_t *dec,
                                             const rd_kafka_message_t *msg, mtr_event_t *ev,
                                             char *why, size_t why_size)
{
    mtr_event_header_t headers[MAX_EVENT_HEADERS];
    mtr_event_kafka_meta_t meta = {.timestamp_ms = rd_kafka_message_timestamp(msg, NULL)};
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *value;
        size_t size;
        while (meta.n_headers < MAX_EVENT_HEADERS &&
               rd_kafka_header_get_all(hdrs, meta.n_headers, &name, &value, &size) ==
                   RD_KAFKA_RESP_ERR_NO_ERROR) {
            headers[meta.n_headers] = (mtr_event_header_t){name, value, size};
            meta.n_headers++;
        }
        meta.headers = headers;
    }
    return mtr_event_decode(dec, msg->payload, msg->len, &meta, ev, why, why_size);
}

void mtr_ingest_update_of(const mtr_event_t *ev, uint32_t scope, int32_t partition,
                          mtr_agg_update_t *u)
{
    *u = (mtr_agg_update_t){
        .customer = ev->customer.ptr,
        .customer_len = (uint16_t)ev->customer.len,
        .customer_is_account = ev->is_account_id,
        .quantity = ev->quantity,
        .time_ms = ev->time_ms,
        .scope = scope,
        .partition = partition,
        .dimension = (uint16_t)ev->dimension,
        .aggregation = (uint8_t)ev->aggregation,
    };
}

bool mtr_ingest_dedupe_identity(const mtr_event_t *ev, int64_t hour_ms, uint64_t *hash)
{
    if (!ev->id.len || hour_ms != mtr_hour_floor_ms(ev->time_ms))
        return false;
    *hash = mtr_agg_dedupe_hash(ev->product, ev->dimension, ev->customer.ptr, ev->customer.len,
                                ev->id.ptr, ev->id.len, ev->source.ptr, ev->source.len);
    return true;
}
