/*
 * Test helper: a throw-away self-signed certificate (EC P-256, CN
 * localhost, valid one hour) written as PEM into a fresh temp directory.
 */
#ifndef TESTS_NET_TESTCERT_H
#define TESTS_NET_TESTCERT_H

struct testcert {
	char	dir[64];
	char	cert[96];
	char	key[96];
};

/* 0 on success; the files stay until testcert_remove(). */
int	testcert_make(struct testcert *tc);
void	testcert_remove(struct testcert *tc);

struct tls_server;

/*
 * A group's TLS server on a fresh certificate (SIGPIPE ignored, as the
 * daemons do): cmocka group setup and teardown.  0, or -1 with why on stderr.
 */
int	testcert_server_new(struct testcert *tc, struct tls_server **server_r);
void	testcert_server_free(struct testcert *tc, struct tls_server **server);

#endif
