/*
 * Unicode simple case folding for case-insensitive comparison of UTF-8
 * text (IMAP SEARCH's i;unicode-casemap, RFC 5051, as far as simple
 * folding goes: no decomposition, so "e" + U+0301 and U+00E9 differ, and
 * no one-to-many folds, so U+00DF stays "ß").
 */
#ifndef LIB_UNICASE_H
#define LIB_UNICASE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* The simple case fold of code point c (c itself if it has none). */
uint32_t	 unicase_fold(uint32_t c);

/*
 * Append s[0..len) to out with every UTF-8 character folded; bytes that
 * are not valid UTF-8 are copied as they are.  -1 if out's maximum is
 * reached (what fitted stays appended).
 */
int		 unicase_fold_utf8(struct buf *out, const char *s, size_t len);

/*
 * Decode one UTF-8 character at s (len > 0): its code point, and its
 * length in *n_r; -1 with *n_r = 1 for an invalid or truncated sequence
 * (overlong forms and surrogates included).
 */
int32_t		 utf8_decode(const unsigned char *s, size_t len, size_t *n_r);
/* Encode c (<= 0x10FFFF) into out (4 bytes room); returns the length. */
size_t		 utf8_encode(uint32_t c, unsigned char *out);

#endif
