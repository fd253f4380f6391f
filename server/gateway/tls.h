/*
 * TLS for the gateway's server side, with no sockets: OpenSSL through memory
 * BIOs. The owner feeds ciphertext read from the client, drives the
 * handshake, reads plaintext, writes plaintext, and takes the ciphertext to
 * send (http_io.c does that on libuv). OpenSSL types stay in tls.c.
 *
 * A context holds the certificate chain and key (loaded once) and answers
 * ALPN: h2 when the client offers it, else http/1.1, else no ALPN (the
 * client then speaks HTTP/1.1 or sends the HTTP/2 preface). TLS 1.2 and 1.3
 * only; no renegotiation.
 */
#ifndef EDDY_TLS_H
#define EDDY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_session;

/* Loads the PEM certificate chain (leaf first) and private key. Returns
 * -EDDY_EINVAL (logged with OpenSSL's reason) when they do not load or do
 * not match. */
int tls_ctx_create(struct tls_ctx **out, const char *cert_path, const char *key_path);
void tls_ctx_destroy(struct tls_ctx *ctx);

/* A server session of ctx (ctx must outlive it). -ENOMEM. */
int tls_session_create(struct tls_session **out, struct tls_ctx *ctx);
void tls_session_destroy(struct tls_session *s);

/* Ciphertext from the client, copied (the caller bounds how much it feeds
 * before reading: one socket read at a time). */
int tls_session_feed(struct tls_session *s, const uint8_t *data, size_t len);
/* Advances the handshake: 1 once established, 0 while it needs more input,
 * -EDDY_EMALFORMED when it failed (an alert may be in the output). */
int tls_session_handshake(struct tls_session *s);
bool tls_session_is_established(const struct tls_session *s);
/* Decrypts up to len bytes: their count, 0 when more input is needed,
 * UV_EOF when the client sent close_notify, -EDDY_EMALFORMED on a bad
 * record. Only once established. */
ssize_t tls_session_read(struct tls_session *s, uint8_t *out, size_t len);
/* Plaintext or fed ciphertext is waiting: a read may return bytes without
 * more input. */
bool tls_session_has_input(const struct tls_session *s);
/* Encrypts len bytes into the output. Only once established. */
int tls_session_write(struct tls_session *s, const uint8_t *data, size_t len);
/* Queues close_notify into the output. */
void tls_session_close_notify(struct tls_session *s);
/* Ciphertext waiting to be sent, and taking up to len bytes of it. */
size_t tls_session_output_len(const struct tls_session *s);
size_t tls_session_take_output(struct tls_session *s, uint8_t *out, size_t len);
/* The protocol ALPN chose: "h2", "http/1.1", or NULL (none). */
const char *tls_session_alpn(const struct tls_session *s);

#endif
