/*
 * OpenSSL 3 contexts: TLS 1.2 and 1.3 only, server preference off.
 * A server context is reloadable: tls_server_reload() swaps in new
 * certificates (SIGHUP) for new handshakes; live connections keep theirs.
 */
#ifndef LIB_TLS_H
#define LIB_TLS_H

#include <openssl/ssl.h>

struct tls_server;

struct tls_server *tls_server_new(const char *cert_file, const char *key_file, const char **error_r);
/* 0 and the new certificate in use, or -1 and the old one kept. */
int		 tls_server_reload(struct tls_server *t, const char *cert_file, const char *key_file,
		    const char **error_r);
void		 tls_server_free(struct tls_server **t);
SSL_CTX		*tls_server_ctx(struct tls_server *t);

/* Client context for the relay (opportunistic: no verification). */
SSL_CTX		*tls_client_ctx_new(const char **error_r);
/*
 * Client context that verifies the server's chain against ca_file (NULL
 * or "": the system's CA store); the name is checked per connection by
 * conn_start_tls_client().
 */
SSL_CTX		*tls_client_verify_ctx_new(const char *ca_file, const char **error_r);

/* Human-readable last OpenSSL error, for *error_r strings (lifetime: lib/error.h). */
const char	*tls_error_string(void);

#endif
