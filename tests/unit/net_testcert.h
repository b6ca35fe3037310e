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

#endif
