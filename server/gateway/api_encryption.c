/*
 * StartStreamEncryption and StopStreamEncryption: StreamName or StreamARN,
 * EncryptionType (required, NONE or KMS; only KMS is accepted), KeyId
 * (required, 1..2048 characters: a key in.id, key ARN, alias name or alias ARN).
 * The stream must be ACTIVE. The coordinator records the encryption type and
 * key in the catalogue and drives the stream through UPDATING; from then on
 * PutRecord and PutRecords answer EncryptionType KMS and store their records
 * marked KMS, which GetRecords reports (server/README.md, record byte 8).
 * Answers 200 with an empty body.
 *
 * Eddy has no KMS: any KeyId is accepted and none is checked, and the data is
 * stored as written until encryption at rest arrives (the segment format
 * leaves room for it).
 */
#include "api.h"

#include "backend.h"

#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"

/* KeyId length 1..2048 (model). */
#define API_KEY_ID_LEN_MAX 2048

static const char *const api_encryption_types[] = {"NONE", "KMS"};

int api_encryption_decode(const cJSON *root,
                          const struct api_config *cfg,
                          struct api_encryption_req *r,
                          struct api_error *e)
{
    struct api_stream_input in;
    struct json_str type;
    struct json_str key;
    int rv = json_get_str(root, "StreamName", &in.name, e);
    if (rv == 0) {
        rv = json_get_str(root, "EncryptionType", &type, e);
    }
    if (rv == 0) {
        rv = json_get_str(root, "KeyId", &key, e);
    }
    rv = api_stream_input_get(root, rv, &in, e);
    if (rv != 0) {
        return rv;
    }
    validation_not_null(&in.v, "encryptionType", type.present);
    validation_enum(&in.v, "encryptionType", &type, api_encryption_types,
                    EDDY_ARRAY_LEN(api_encryption_types));
    validation_not_null(&in.v, "keyId", key.present);
    validation_length(&in.v, "keyId", &key, 1, API_KEY_ID_LEN_MAX);
    rv = api_stream_input_finish(&in, e);
    if (rv != 0) {
        return rv;
    }
    rv = api_stream_input_resolve(cfg, &in, r->name, e);
    if (rv != 0) {
        return rv;
    }
    r->kms =
        json_enum_index(&type, api_encryption_types, EDDY_ARRAY_LEN(api_encryption_types)) == 1;
    r->key_id = key.ptr;
    return 0;
}

void api_write_encryption(struct json_out *o, const Eddy__StreamInfo *st)
{
    bool kms = backend_stream_is_encrypted(st);
    json_out_kv_cstr(o, "EncryptionType", api_encryption_name(kms));
    if (kms && st->key_id != NULL && st->key_id[0] != '\0') {
        json_out_kv_cstr(o, "KeyId", st->key_id);
    }
}

/* Checks what both actions need and sends the change: StartStreamEncryption
 * encrypts with the key given, StopStreamEncryption stops encrypting. */
static void api_encryption_on_stream(struct api_call *c, const Eddy__StreamInfo *st)
{
    const struct api_encryption_req *r = &c->req.encryption;
    bool start = c->op == API_OP_START_STREAM_ENCRYPTION;
    if (!api_stream_require_active(c, r->name, st, false)) {
        return;
    }
    if (!r->kms) {
        api_fail(c, API_EX_INVALID_ARGUMENT,
                 "Encryption type NONE is not supported by %s. The only valid value is KMS.",
                 api_op_name(c->op));
        return;
    }
    Eddy__Encryption enc = EDDY__ENCRYPTION__INIT;
    enc.type = (char *)api_encryption_name(start);
    enc.key_id = start ? (char *)r->key_id : "";
    Eddy__StreamUpdate u = EDDY__STREAM_UPDATE__INIT;
    u.name = (char *)r->name;
    u.created_ms = st->created_ms;
    u.change_case = EDDY__STREAM_UPDATE__CHANGE_SET_ENCRYPTION;
    u.set_encryption = &enc;
    api_stream_update(c, r->name, &u, NULL);
}

void api_start_stream_encryption_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.encryption.name, true, api_encryption_on_stream);
}

void api_stop_stream_encryption_run(struct api_call *c)
{
    api_lookup_stream_or_fail(c, c->req.encryption.name, true, api_encryption_on_stream);
}
