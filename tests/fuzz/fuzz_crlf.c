/*
 * mail/crlf on arbitrary bytes in arbitrary chunks.  Invariants: the
 * chunked output equals the whole-input output (encoder with dot-stuffing
 * and decoder), the output fits the room the header states, and for input
 * without CR, decoding the unstuffed encoding gives the input back (plus
 * the LF the encoder adds to a last line without one).
 */
#include "tests/fuzz/fuzzer.h"
#include "mail/crlf.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

FUZZ_BEGIN(data, size)
{
	struct crlf_encoder	 e;
	struct crlf_decoder	 d;
	const char		*in = (const char *)data;
	char			*whole, *parts, *back;
	size_t			 w, o = 0, b;

	whole = malloc(2 * size + 2);
	parts = malloc(2 * size + 2);
	back = malloc(2 * size + 3);
	crlf_encoder_init(&e, true);
	w = crlf_encode(&e, in, size, whole);
	w += crlf_encode_end(&e, whole + w);
	CHECK(w <= 2 * size + 2);
	crlf_encoder_init(&e, true);
	FUZZ_CHUNK(data, size, size > 0 ? data[0] : 0, chunk, chunk_len)
		o += crlf_encode(&e, (const char *)chunk, chunk_len, parts + o);
	o += crlf_encode_end(&e, parts + o);
	CHECK(o == w && memcmp(parts, whole, w) == 0);

	crlf_decoder_init(&d);
	w = crlf_decode(&d, in, size, whole);
	w += crlf_decode_end(&d, whole + w);
	CHECK(w <= size);
	crlf_decoder_init(&d);
	o = 0;
	FUZZ_CHUNK(data, size, size > 1 ? data[1] : 0, chunk, chunk_len)
		o += crlf_decode(&d, (const char *)chunk, chunk_len, parts + o);
	o += crlf_decode_end(&d, parts + o);
	CHECK(o == w && memcmp(parts, whole, w) == 0);

	if (memchr(in, '\r', size) == NULL) {
		crlf_encoder_init(&e, false);
		w = crlf_encode(&e, in, size, whole);
		w += crlf_encode_end(&e, whole + w);
		crlf_decoder_init(&d);
		b = crlf_decode(&d, whole, w, back);
		b += crlf_decode_end(&d, back + b);
		CHECK(b == size + (size > 0 && in[size - 1] != '\n'));
		CHECK(memcmp(back, in, size) == 0);
	}
	free(whole);
	free(parts);
	free(back);
}
FUZZ_END
