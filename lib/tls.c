/*
 * OpenSSL 3 contexts.  TLS 1.2 and 1.3 only; the client's cipher order
 * wins (server preference off: every cipher we allow is good, and the
 * client knows best whether it has AES hardware); no compression (CRIME),
 * no renegotiation (a CPU-exhaustion lever and a historic bug source).
 */
#include "lib/tls.h"

#include "lib/error.h"
#include "lib/xmalloc.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_server {
	SSL_CTX	*ctx;
};

const char *
tls_error_string(void)
{
	const char	*text;
	char		 buf[256];
	unsigned long	 e, last = 0;

	/* The queue holds the outermost error last; report that one. */
	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return "unknown TLS error";
	/* "system lib" says nothing; the errno it wraps does. */
	if (ERR_SYSTEM_ERROR(last))
		snprintf(buf, sizeof(buf), "%s", strerror(ERR_GET_REASON(last)));
	else
		ERR_error_string_n(last, buf, sizeof(buf));
	err_set(&text, "%s", buf);
	return text;
}

static SSL_CTX *
tls_ctx_base(const SSL_METHOD *method, const char **error_r)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(method)) == NULL) {
		*error_r = tls_error_string();
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		*error_r = tls_error_string();
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/*
	 * conn writes from a buffer that may move between retries and accepts
	 * partial writes; idle connections give their TLS buffers back.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

static SSL_CTX *
tls_server_ctx_load(const char *cert_file, const char *key_file, const char **error_r)
{
	SSL_CTX	*ctx;

	if ((ctx = tls_ctx_base(TLS_server_method(), error_r)) == NULL)
		return NULL;
	SSL_CTX_set_dh_auto(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		err_set(error_r, "%s: %s", cert_file, tls_error_string());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		err_set(error_r, "%s: %s", key_file, tls_error_string());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		err_set(error_r, "%s does not match %s", key_file, cert_file);
		ERR_clear_error();
		goto fail;
	}
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *
tls_server_new(const char *cert_file, const char *key_file, const char **error_r)
{
	struct tls_server	*t;
	SSL_CTX			*ctx;

	if ((ctx = tls_server_ctx_load(cert_file, key_file, error_r)) == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->ctx = ctx;
	return t;
}

int
tls_server_reload(struct tls_server *t, const char *cert_file, const char *key_file,
    const char **error_r)
{
	SSL_CTX	*ctx;

	if ((ctx = tls_server_ctx_load(cert_file, key_file, error_r)) == NULL)
		return -1;
	/* Live SSL objects hold their own reference to the old context. */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	return 0;
}

void
tls_server_free(struct tls_server **tp)
{
	struct tls_server	*t = *tp;

	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
	*tp = NULL;
}

SSL_CTX *
tls_server_ctx(struct tls_server *t)
{
	return t->ctx;
}

SSL_CTX *
tls_client_ctx_new(const char **error_r)
{
	SSL_CTX	*ctx;

	if ((ctx = tls_ctx_base(TLS_client_method(), error_r)) == NULL)
		return NULL;
	/* Opportunistic STARTTLS to MX hosts: encryption without authentication. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

SSL_CTX *
tls_client_verify_ctx_new(const char *ca_file, const char **error_r)
{
	SSL_CTX	*ctx;
	int	 ok;

	if ((ctx = tls_ctx_base(TLS_client_method(), error_r)) == NULL)
		return NULL;
	ERR_clear_error();
	ok = ca_file != NULL && ca_file[0] != '\0' ?
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) :
	    SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		err_set(error_r, "CA certificates %s: %s",
		    ca_file != NULL && ca_file[0] != '\0' ? ca_file : "(system)", tls_error_string());
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* The handshake fails on a bad chain; conn checks the name (conn.h). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}
