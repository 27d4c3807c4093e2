/* AWS error shapes of the emulator: the type names AWS JSON 1.1 puts in
 * `__type` and `x-amzn-ErrorType`, their HTTP statuses, and the error body.
 *
 * The BatchMeterUsage names come from the service model
 * (meteringmarketplace 2016-01-14). ValidationException and
 * SerializationException are what AWS's JSON services answer for model
 * constraint violations and for unreadable bodies / wrong member types; the
 * authentication names are the common ones of every AWS JSON service. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/mem.h"
#include "emulator/emulator_int.h"

static const struct {
    const char *name;
    int status;
    bool auth;
} error_table[MTR_EMU_E__COUNT] = {
    [MTR_EMU_E_INTERNAL] = {"InternalServiceErrorException", 500, false},
    [MTR_EMU_E_THROTTLING] = {"ThrottlingException", 400, false},
    [MTR_EMU_E_INVALID_PRODUCT_CODE] = {"InvalidProductCodeException", 400, false},
    [MTR_EMU_E_INVALID_DIMENSION] = {"InvalidUsageDimensionException", 400, false},
    [MTR_EMU_E_INVALID_TAG] = {"InvalidTagException", 400, false},
    [MTR_EMU_E_INVALID_ALLOCATIONS] = {"InvalidUsageAllocationsException", 400, false},
    [MTR_EMU_E_INVALID_CUSTOMER] = {"InvalidCustomerIdentifierException", 400, false},
    [MTR_EMU_E_TIMESTAMP_OUT_OF_BOUNDS] = {"TimestampOutOfBoundsException", 400, false},
    [MTR_EMU_E_VALIDATION] = {"ValidationException", 400, false},
    [MTR_EMU_E_SERIALIZATION] = {"SerializationException", 400, false},
    [MTR_EMU_E_UNKNOWN_OPERATION] = {"UnknownOperationException", 400, false},
    [MTR_EMU_E_UNSUPPORTED_MEDIA_TYPE] = {"UnsupportedMediaTypeException", 415, false},
    [MTR_EMU_E_TOO_LARGE] = {"RequestEntityTooLargeException", 413, false},
    [MTR_EMU_E_MISSING_AUTH] = {"MissingAuthenticationTokenException", 403, true},
    [MTR_EMU_E_INCOMPLETE_SIGNATURE] = {"IncompleteSignatureException", 400, true},
    [MTR_EMU_E_UNRECOGNIZED_CLIENT] = {"UnrecognizedClientException", 403, true},
    [MTR_EMU_E_INVALID_SIGNATURE] = {"InvalidSignatureException", 403, true},
    [MTR_EMU_E_NOT_FOUND] = {"ResourceNotFoundException", 404, false},
};

const char *mtr_emu_error_name(mtr_emu_errtype_t type)
{
    return (unsigned)type < MTR_EMU_E__COUNT ? error_table[type].name : "UnknownError";
}

int mtr_emu_error_status(mtr_emu_errtype_t type)
{
    return (unsigned)type < MTR_EMU_E__COUNT ? error_table[type].status : 500;
}

bool mtr_emu_error_is_auth(mtr_emu_errtype_t type)
{
    return (unsigned)type < MTR_EMU_E__COUNT && error_table[type].auth;
}

mtr_emu_errtype_t mtr_emu_error_from_auth_name(const char *name)
{
    for (int t = 0; t < MTR_EMU_E__COUNT; t++)
        if (error_table[t].auth && name && !strcmp(name, error_table[t].name))
            return (mtr_emu_errtype_t)t;
    /* An unnamed verification failure is a signature the emulator refused. */
    return MTR_EMU_E_INVALID_SIGNATURE;
}

bool mtr_emu_fail(mtr_emu_error_t *err, mtr_emu_errtype_t type, const char *fmt, ...)
{
    err->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

char *mtr_emu_error_body(const mtr_emu_error_t *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "__type", mtr_emu_error_name(err->type));
    cJSON_AddStringToObject(o, "message", err->message);
    char *printed = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = mtr_strdup(printed ? printed : "{}");
    cJSON_free(printed);
    return out;
}
