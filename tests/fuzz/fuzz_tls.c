/*
 * libFuzzer target for the TLS server side (server/gateway/tls.c): bytes
 * from a client go into a fresh server session through its memory BIO, the
 * handshake is driven, and once established the rest is read as records,
 * in one piece and in small pieces. The certificate and key are made once,
 * in memory, and written to a temporary directory for tls_ctx_create.
 */
#include "tls.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TLS_INPUT_MAX (64 * 1024)

static struct tls_ctx *fuzz_ctx;

/* A self-signed P-256 certificate for localhost into dir/cert.pem and
 * dir/key.pem. */
static void fuzz_make_cert(const char *dir, char *cert_path, char *key_path, size_t len)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (key == NULL || x == NULL) {
        abort();
    }
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) == 0) {
        abort();
    }
    snprintf(cert_path, len, "%s/cert.pem", dir);
    snprintf(key_path, len, "%s/key.pem", dir);
    FILE *f = fopen(cert_path, "w");
    FILE *k = fopen(key_path, "w");
    if (f == NULL || k == NULL || PEM_write_X509(f, x) != 1 ||
        PEM_write_PrivateKey(k, key, NULL, NULL, 0, NULL, NULL) != 1) {
        abort();
    }
    fclose(f);
    fclose(k);
    X509_free(x);
    EVP_PKEY_free(key);
}

static struct tls_ctx *fuzz_get_ctx(void)
{
    if (fuzz_ctx != NULL) {
        return fuzz_ctx;
    }
    char dir[] = "/tmp/fuzz_tls.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    char cert[256];
    char key[256];
    fuzz_make_cert(dir, cert, key, sizeof(cert));
    if (tls_ctx_create(&fuzz_ctx, cert, key) != 0) {
        abort();
    }
    unlink(cert);
    unlink(key);
    rmdir(dir);
    return fuzz_ctx;
}

/* Feeds data step bytes at a time as a socket would; reads whatever
 * plaintext comes. */
static void fuzz_run(const uint8_t *data, size_t size, size_t step)
{
    struct tls_session *s = NULL;
    if (tls_session_create(&s, fuzz_get_ctx()) != 0) {
        abort();
    }
    uint8_t out[4096];
    int state = 0;
    for (size_t off = 0; off < size && state >= 0;) {
        size_t n = size - off < step ? size - off : step;
        if (tls_session_feed(s, data + off, n) != 0) {
            abort();
        }
        off += n;
        if (!tls_session_is_established(s)) {
            state = tls_session_handshake(s);
        }
        while (state > 0) {
            ssize_t got = tls_session_read(s, out, sizeof(out));
            if (got <= 0) {
                state = got < 0 ? -1 : state;
                break;
            }
        }
        while (tls_session_output_len(s) > 0) {
            if (tls_session_take_output(s, out, sizeof(out)) == 0) {
                abort(); /* pending output that cannot be taken */
            }
        }
    }
    if (tls_session_is_established(s)) {
        (void)tls_session_write(s, (const uint8_t *)"HTTP/1.1 400\r\n\r\n", 17);
        tls_session_close_notify(s);
    }
    (void)tls_session_alpn(s);
    tls_session_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_TLS_INPUT_MAX) {
        return 0;
    }
    fuzz_run(data, size, size > 0 ? size : 1);
    fuzz_run(data, size, 1 + size % 61);
    return 0;
}
