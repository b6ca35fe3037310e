/*
 * libFuzzer harness boilerplate (after Dovecot's lib-test/fuzzer.h), so a
 * harness is only the lines that drive the parser:
 *
 *	#include "tests/fuzz/fuzzer.h"
 *	FUZZ_BEGIN(data, size)
 *	{
 *		struct smtp_session *s = ...;
 *		smtp_session_feed(s, data, size);
 *		smtp_session_free(&s);
 *	}
 *	FUZZ_END
 *
 * `data` and `size` are the names the body sees.  FUZZ_CHUNK splits a
 * byte range into reads of 1..64 bytes, the sizes drawn from `seed` (take
 * it from the input, so the fuzzer explores split points too); the block
 * after it runs once per piece with `chunk` and `chunk_len` set (a `break`
 * there leaves only the inner helper loop: use a flag or return instead).
 *
 * tests/fuzz/run.sh builds every tests/fuzz/fuzz_*.c, with
 * tests/fuzz/fuzz_<name>.dict as its dictionary when that file exists.
 */
#ifndef TESTS_FUZZ_FUZZER_H
#define TESTS_FUZZ_FUZZER_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_BEGIN(data, size)						\
int									\
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)		\
{

#define FUZZ_END							\
	return 0;							\
}

#define FUZZ_CHUNK(data, size, seed, chunk, chunk_len)			\
	for (size_t fuzz_off_ = 0, fuzz_seed_ = (seed), chunk_len = 0;	\
	    fuzz_off_ < (size) && (chunk_len = fuzz_chunk_len_(		\
	    &fuzz_seed_, (size) - fuzz_off_), 1);			\
	    fuzz_off_ += chunk_len)					\
		for (const uint8_t *chunk = (data) + fuzz_off_;		\
		    chunk != NULL; chunk = NULL)

static inline size_t
fuzz_chunk_len_(size_t *seed, size_t left)
{
	size_t	 n;

	*seed = *seed * 1103515245u + 12345u;
	n = (*seed >> 16) % 64 + 1;
	return n < left ? n : left;
}

#endif
