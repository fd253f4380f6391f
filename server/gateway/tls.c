/*
 * OpenSSL glue (tls.h). Each session is an SSL object in accept state over
 * two memory BIOs: rbio holds ciphertext fed from the socket, wbio collects
 * ciphertext for it. Session lifecycle: HANDSHAKE, then ESTABLISHED, or
 * FAILED from either (nothing but destroy after that).
 *
 * OpenSSL's error queue is per thread; every call that can fail clears it
 * first, so an old error never decides the fate of another connection.
 */
#include "tls.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>
#include <uv.h>

/* ALPN protocol ids in the server's order of preference (RFC 7301 wire
 * format: a length byte, then the id). */
static const unsigned char tls_alpn_server[] = "\x02h2\x08http/1.1";

enum tls_state { TLS_HANDSHAKE, TLS_ESTABLISHED, TLS_FAILED, TLS_STATE_COUNT };

static const bool tls_transitions[TLS_STATE_COUNT][TLS_STATE_COUNT] = {
    [TLS_HANDSHAKE] = {[TLS_ESTABLISHED] = true, [TLS_FAILED] = true},
    [TLS_ESTABLISHED] = {[TLS_FAILED] = true},
};

struct tls_ctx {
    SSL_CTX *ssl_ctx;
};

struct tls_session {
    SSL *ssl;
    BIO *rbio; /* owned by ssl */
    BIO *wbio; /* owned by ssl */
    enum tls_state state;
};

static void tls_set_state(struct tls_session *s, enum tls_state to)
{
    EDDY_ASSERT(tls_transitions[s->state][to]);
    s->state = to;
}

/* Logs OpenSSL's most recent reason with what failed. */
static void tls_log_error(const char *what, const char *path)
{
    char reason[256];
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, reason, sizeof(reason));
    LOG_ERROR("tls %s failed path=%s reason=%s", what, path != NULL ? path : "-", reason);
    ERR_clear_error();
}

static int tls_on_alpn_select(SSL *ssl,
                              const unsigned char **out,
                              unsigned char *out_len,
                              const unsigned char *in,
                              unsigned int in_len,
                              void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *selected = NULL;
    unsigned char selected_len = 0;
    /* Server preference: the first of ours that the client also offers. */
    int rv = SSL_select_next_proto(&selected, &selected_len, tls_alpn_server,
                                   sizeof(tls_alpn_server) - 1, in, in_len);
    if (rv != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK; /* no overlap: continue without ALPN */
    }
    *out = selected;
    *out_len = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

int tls_ctx_create(struct tls_ctx **out, const char *cert_path, const char *key_path)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(cert_path != NULL);
    EDDY_ASSERT(key_path != NULL);
    ERR_clear_error();
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (c == NULL) {
        tls_log_error("context", NULL);
        return -ENOMEM;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    /* Renegotiation costs the server a handshake per client request. */
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
    /* Idle connections give their record buffers back. */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(c, tls_on_alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(c, cert_path) != 1) {
        tls_log_error("certificate", cert_path);
        goto err_after_ctx;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key_path, SSL_FILETYPE_PEM) != 1) {
        tls_log_error("private key", key_path);
        goto err_after_ctx;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        tls_log_error("key does not match certificate", key_path);
        goto err_after_ctx;
    }
    struct tls_ctx *ctx = eddy_xcalloc(1, sizeof(*ctx));
    ctx->ssl_ctx = c;
    *out = ctx;
    return 0;

err_after_ctx:
    SSL_CTX_free(c);
    return -EDDY_EINVAL;
}

void tls_ctx_destroy(struct tls_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    SSL_CTX_free(ctx->ssl_ctx);
    eddy_free(ctx);
}

int tls_session_create(struct tls_session **out, struct tls_ctx *ctx)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(ctx != NULL);
    ERR_clear_error();
    struct tls_session *s = eddy_calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->ssl = SSL_new(ctx->ssl_ctx);
    if (s->ssl == NULL) {
        goto err_after_session;
    }
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (s->rbio == NULL || s->wbio == NULL) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        goto err_after_ssl;
    }
    /* An empty memory BIO reports "retry" rather than EOF. */
    BIO_set_mem_eof_return(s->rbio, -1);
    BIO_set_mem_eof_return(s->wbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    SSL_set_accept_state(s->ssl);
    s->state = TLS_HANDSHAKE;
    *out = s;
    return 0;

err_after_ssl:
    SSL_free(s->ssl);
err_after_session:
    eddy_free(s);
    ERR_clear_error();
    return -ENOMEM;
}

void tls_session_destroy(struct tls_session *s)
{
    if (s == NULL) {
        return;
    }
    SSL_free(s->ssl); /* frees both BIOs */
    eddy_free(s);
}

int tls_session_feed(struct tls_session *s, const uint8_t *data, size_t len)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(data != NULL || len == 0);
    EDDY_ASSERT(len <= INT32_MAX);
    if (len == 0) {
        return 0;
    }
    ERR_clear_error();
    int n = BIO_write(s->rbio, data, (int)len);
    if (n != (int)len) {
        ERR_clear_error();
        return -ENOMEM;
    }
    return 0;
}

/* What an SSL call's result means: 0 to wait for input, or an error. */
static int tls_result(struct tls_session *s, int ret)
{
    int e = SSL_get_error(s->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        return UV_EOF;
    }
    unsigned long code = ERR_peek_last_error();
    if (code != 0) {
        char reason[160];
        ERR_error_string_n(code, reason, sizeof(reason));
        LOG_DEBUG("tls session failed ssl_error=%d reason=%s", e, reason);
    }
    ERR_clear_error();
    tls_set_state(s, TLS_FAILED);
    return -EDDY_EMALFORMED;
}

int tls_session_handshake(struct tls_session *s)
{
    EDDY_ASSERT(s != NULL);
    if (s->state == TLS_ESTABLISHED) {
        return 1;
    }
    if (s->state == TLS_FAILED) {
        return -EDDY_EMALFORMED;
    }
    ERR_clear_error();
    int ret = SSL_do_handshake(s->ssl);
    if (ret == 1) {
        tls_set_state(s, TLS_ESTABLISHED);
        return 1;
    }
    int rv = tls_result(s, ret);
    if (rv == UV_EOF) {
        tls_set_state(s, TLS_FAILED);
        return -EDDY_EMALFORMED;
    }
    return rv;
}

bool tls_session_is_established(const struct tls_session *s)
{
    EDDY_ASSERT(s != NULL);
    return s->state == TLS_ESTABLISHED;
}

ssize_t tls_session_read(struct tls_session *s, uint8_t *out, size_t len)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(len > 0);
    if (s->state != TLS_ESTABLISHED) {
        return -EDDY_EMALFORMED;
    }
    ERR_clear_error();
    int want = len > INT32_MAX ? INT32_MAX : (int)len;
    int ret = SSL_read(s->ssl, out, want);
    if (ret > 0) {
        return ret;
    }
    return tls_result(s, ret);
}

bool tls_session_has_input(const struct tls_session *s)
{
    EDDY_ASSERT(s != NULL);
    return SSL_pending(s->ssl) > 0 || BIO_ctrl_pending(s->rbio) > 0;
}

int tls_session_write(struct tls_session *s, const uint8_t *data, size_t len)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(data != NULL || len == 0);
    if (s->state != TLS_ESTABLISHED) {
        return -EDDY_ESHUTDOWN;
    }
    ERR_clear_error();
    while (len > 0) {
        int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
        int ret = SSL_write(s->ssl, data, chunk);
        if (ret <= 0) {
            int rv = tls_result(s, ret);
            /* A memory BIO always takes the bytes: "retry" cannot happen. */
            return rv != 0 ? rv : -EDDY_EMALFORMED;
        }
        data += ret;
        len -= (size_t)ret;
    }
    return 0;
}

void tls_session_close_notify(struct tls_session *s)
{
    EDDY_ASSERT(s != NULL);
    if (s->state != TLS_ESTABLISHED) {
        return;
    }
    ERR_clear_error();
    (void)SSL_shutdown(s->ssl); /* 0: sent ours, not waiting for the client's */
    ERR_clear_error();
}

size_t tls_session_output_len(const struct tls_session *s)
{
    EDDY_ASSERT(s != NULL);
    return BIO_ctrl_pending(s->wbio);
}

size_t tls_session_take_output(struct tls_session *s, uint8_t *out, size_t len)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(out != NULL || len == 0);
    size_t taken = 0;
    while (taken < len) {
        size_t want = len - taken;
        int n = BIO_read(s->wbio, out + taken, want > INT32_MAX ? INT32_MAX : (int)want);
        if (n <= 0) {
            break;
        }
        taken += (size_t)n;
    }
    ERR_clear_error();
    return taken;
}

const char *tls_session_alpn(const struct tls_session *s)
{
    EDDY_ASSERT(s != NULL);
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(s->ssl, &proto, &len);
    if (len == 2 && memcmp(proto, "h2", 2) == 0) {
        return "h2";
    }
    if (len == 8 && memcmp(proto, "http/1.1", 8) == 0) {
        return "http/1.1";
    }
    return NULL;
}
