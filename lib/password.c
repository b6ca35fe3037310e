/*
 * Password hashes in the Dovecot passwd-file schemes that crypt(3) can
 * check: "{CRYPT}", "{SHA512-CRYPT}", "{SHA256-CRYPT}", "{BLF-CRYPT}" and a
 * bare "$id$..." hash.  New hashes are yescrypt ("{CRYPT}$y$..."), the
 * Debian default.  crypt_r keeps this thread-safe; the compare is
 * constant-time.
 */
#include "lib/directory.h"
#include "lib/directory_private.h"

#include "lib/log.h"
#include "lib/xmalloc.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char	*scheme;
	const char	*prefix;	/* the hash must start with this */
} schemes[] = {
	{ "{CRYPT}", "$" },
	{ "{SHA512-CRYPT}", "$6$" },
	{ "{SHA256-CRYPT}", "$5$" },
	{ "{BLF-CRYPT}", "$2" },
	{ "", "$" },			/* bare modular crypt format */
};

/*
 * A yescrypt hash of a random throw-away password at the default cost:
 * directory_authenticate() checks unknown users against it so that they
 * take as long as known ones.
 */
const char	 password_dummy_hash[] =
    "{CRYPT}$y$j9T$x5TdYKOCiPtXv.WbH2VV31$5A0ZlpuNTjQVi67/OVcTJb7l/rehvWqfi.OYJWLLWQ5";

static bool
consttime_equal(const char *a, const char *b, size_t len)
{
	volatile unsigned char	 diff = 0;
	size_t			 i;

	for (i = 0; i < len; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}

char *
password_hash(const char *plain)
{
	struct crypt_data	*cd;
	char			*salt, *out;
	const char		*h;

	salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (salt == NULL)
		fatal("event=password_hash status=failed call=crypt_gensalt_ra");
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(plain, salt, cd);
	if (h == NULL || h[0] != '$')
		fatalx("event=password_hash status=failed reason=\"crypt_r made no yescrypt hash\"");
	out = xasprintf("{CRYPT}%s", h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	free(salt);
	return out;
}

/* The crypt(3) hash in stored, or NULL: unknown schemes ({PLAIN}...) and DES crypt. */
static const char *
crypt_part(const char *stored)
{
	size_t	 i, len;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		len = strlen(schemes[i].scheme);
		if (strncmp(stored, schemes[i].scheme, len) == 0)
			return strncmp(stored + len, schemes[i].prefix,
			    strlen(schemes[i].prefix)) == 0 ? stored + len : NULL;
	}
	return NULL;
}

bool
password_checkable(const char *stored)
{
	return crypt_part(stored) != NULL;
}

bool
password_verify(const char *stored, const char *plain)
{
	struct crypt_data	*cd;
	const char		*hash, *h;
	size_t			 len;
	bool			 ok;

	if ((hash = crypt_part(stored)) == NULL)
		return false;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(plain, hash, cd);
	/* Failure is "*0"/"*1" or NULL, depending on how libcrypt was built. */
	len = strlen(hash);
	ok = h != NULL && h[0] == '$' && strlen(h) == len && consttime_equal(h, hash, len);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}
