#ifndef LIB_BASE64_H
#define LIB_BASE64_H

#include <stddef.h>

/* Strict RFC 4648 decode (padding required, no whitespace).  -1 on bad input or if out is too small. */
int	base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax, size_t *outlen_r);
/* The value 0-63 of one base64 character, or -1 for anything else ('=' included). */
int	base64_value(unsigned char c);
/* The value 0-15 of a hex digit (either case), or -1 (quoted-printable, RFC 2047 Q, xtext). */
int	hex_value(unsigned char c);
/* Encode into out (needs 4 * ((len + 2) / 3) + 1 bytes); returns length. */
size_t	base64_encode(const void *in, size_t len, char *out);

#endif
