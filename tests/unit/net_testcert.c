/* A self-signed certificate made with the OpenSSL API: no openssl(1) needed. */
#include "tests/unit/net_testcert.h"
#include "lib/tls.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int
write_pem(const char *path, X509 *x, EVP_PKEY *pkey)
{
	FILE	*f;
	int	 ok;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	ok = x != NULL ? PEM_write_X509(f, x) :
	    PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || ok != 1)
		return -1;
	return 0;
}

int
testcert_make(struct testcert *tc)
{
	EVP_PKEY	*pkey;
	X509		*x;
	X509_NAME	*name;
	int		 ret = -1;

	snprintf(tc->dir, sizeof(tc->dir), "/tmp/postroom-cert-XXXXXX");
	if (mkdtemp(tc->dir) == NULL)
		return -1;
	snprintf(tc->cert, sizeof(tc->cert), "%s/cert.pem", tc->dir);
	snprintf(tc->key, sizeof(tc->key), "%s/key.pem", tc->dir);
	if ((pkey = EVP_EC_gen("P-256")) == NULL)
		return -1;
	x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
	    -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, pkey, EVP_sha256()) > 0 && write_pem(tc->cert, x, NULL) == 0 &&
	    write_pem(tc->key, NULL, pkey) == 0)
		ret = 0;
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ret;
}

void
testcert_remove(struct testcert *tc)
{
	unlink(tc->cert);
	unlink(tc->key);
	rmdir(tc->dir);
}

int
testcert_server_new(struct testcert *tc, struct tls_server **server_r)
{
	const char	*err = NULL;

	signal(SIGPIPE, SIG_IGN);
	if (testcert_make(tc) == -1)
		return -1;
	if ((*server_r = tls_server_new(tc->cert, tc->key, &err)) == NULL) {
		fprintf(stderr, "tls_server_new: %s\n", err);
		testcert_remove(tc);
		return -1;
	}
	return 0;
}

void
testcert_server_free(struct testcert *tc, struct tls_server **server)
{
	tls_server_free(server);
	testcert_remove(tc);
}
