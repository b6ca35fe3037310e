/*
 * Strict RFC 4648 base64: the alphabet only, padding required, no
 * whitespace, and the unused bits of the last group must be zero, so that
 * every byte string has exactly one accepted encoding.  And the one hex
 * digit decoder.
 */
#include "lib/base64.h"

#include <stdint.h>

static const char	 b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax, size_t *outlen_r)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 i, o = 0, pad = 0, need;
	uint32_t		 group;
	int			 v, j;

	if (inlen % 4 != 0)
		return -1;
	if (inlen > 0 && p[inlen - 1] == '=')
		pad = p[inlen - 2] == '=' ? 2 : 1;
	need = inlen / 4 * 3 - pad;
	if (need > outmax)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		group = 0;
		for (j = 0; j < 4; j++) {
			if (i + 4 == inlen && j >= 4 - (int)pad) {
				if (p[i + j] != '=')
					return -1;
				v = 0;
			} else if ((v = base64_value(p[i + j])) == -1)
				return -1;
			group = group << 6 | (uint32_t)v;
		}
		/* Non-zero bits under the padding: a second encoding of the same bytes. */
		if (i + 4 == inlen && ((pad == 1 && (group & 0xff) != 0) ||
		    (pad == 2 && (group & 0xffff) != 0)))
			return -1;
		out[o++] = (unsigned char)(group >> 16);
		if (i + 4 < inlen || pad < 2)
			out[o++] = (unsigned char)(group >> 8);
		if (i + 4 < inlen || pad < 1)
			out[o++] = (unsigned char)group;
	}
	*outlen_r = o;
	return 0;
}

size_t
base64_encode(const void *in, size_t len, char *out)
{
	const unsigned char	*p = in;
	size_t			 i, o = 0;
	uint32_t		 group;

	for (i = 0; i + 2 < len; i += 3) {
		group = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64_alphabet[group >> 18];
		out[o++] = b64_alphabet[group >> 12 & 63];
		out[o++] = b64_alphabet[group >> 6 & 63];
		out[o++] = b64_alphabet[group & 63];
	}
	if (i < len) {
		group = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = b64_alphabet[group >> 18];
		out[o++] = b64_alphabet[group >> 12 & 63];
		out[o++] = i + 1 < len ? b64_alphabet[group >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}
