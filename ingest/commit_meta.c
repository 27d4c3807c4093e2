/* Commit metadata: the close-log tail plus who closed each entry. */
#include "ingest/commit_meta.h"

#include <stdio.h>
#include <string.h>

#include "core/mem.h"

static void meta_init(mtr_commit_meta_t *m)
{
    mtr_agg_closelog_init(&m->log);
    m->writers = NULL;
}

void mtr_commit_meta_free(mtr_commit_meta_t *meta)
{
    mtr_agg_closelog_free(&meta->log);
    mtr_free(meta->writers);
    meta->writers = NULL;
}

mtr_err_t mtr_commit_meta_parse(const char *text, size_t len, mtr_commit_meta_t *out, char *errstr,
                                size_t errstr_size)
{
    meta_init(out);
    if (!text || len == 0)
        return MTR_OK;
    const char *bar = memchr(text, '|', len);
    size_t log_len = bar ? (size_t)(bar - text) : len;
    mtr_agg_closelog_free(&out->log);
    mtr_err_t err = mtr_agg_closelog_parse(text, log_len, &out->log, errstr, errstr_size);
    if (err)
        return err;
    out->writers = mtr_calloc(out->log.n ? out->log.n : 1, sizeof *out->writers);
    for (size_t i = 0; i < out->log.n; i++)
        strcpy(out->writers[i], "-");
    if (!bar)
        return MTR_OK;
    const char *p = bar + 1, *end = text + len;
    for (size_t i = 0; i < out->log.n; i++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t n = (size_t)(stop - p);
        if (n == 0 || n > MTR_WRITER_ID_MAX)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                               "commit metadata: writer %zu of %zu is empty or too long", i + 1,
                               out->log.n);
        memcpy(out->writers[i], p, n);
        out->writers[i][n] = '\0';
        p = comma ? comma + 1 : end;
        if (!comma && i + 1 < out->log.n)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                               "commit metadata: %zu close entries but %zu writers", out->log.n,
                               i + 1);
    }
    if (p != end)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "commit metadata: more writers than the %zu close entries", out->log.n);
    return MTR_OK;
}

const char *mtr_commit_meta_writer(const mtr_commit_meta_t *meta, int64_t hour_ms, int64_t offset)
{
    for (size_t i = 0; i < meta->log.n; i++)
        if (meta->log.items[i].hour_ms == hour_ms && meta->log.items[i].offset == offset)
            return meta->writers[i];
    return NULL;
}

mtr_err_t mtr_commit_meta_format(const mtr_agg_closelog_t *log, const mtr_commit_meta_t *inherited,
                                 const char *self, char *buf, size_t size, char *errstr,
                                 size_t errstr_size)
{
    mtr_err_t err = mtr_agg_closelog_format(log, buf, size, errstr, errstr_size);
    if (err || log->n == 0)
        return err;
    size_t len = strlen(buf);
    for (size_t i = 0; i < log->n; i++) {
        const char *w = inherited ? mtr_commit_meta_writer(inherited, log->items[i].hour_ms,
                                                           log->items[i].offset)
                                  : NULL;
        int n = snprintf(buf + len, size - len, "%c%s", i ? ',' : '|', w ? w : self);
        if (n < 0 || (size_t)n >= size - len)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                               "commit metadata longer than %zu bytes", size);
        len += (size_t)n;
    }
    return MTR_OK;
}
