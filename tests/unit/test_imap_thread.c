/*
 * imapd/imap_thread.c: RFC 5256 ORDEREDSUBJECT and REFERENCES, with the
 * RFC's reply "(2)(3 6 (4 23)(44 7 96))" rebuilt from References, dummies
 * pruned or kept, subject merging, loops, duplicate Message-IDs, and a
 * 100,000-message chain (no recursion on depth).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imapd/imap_sort.h"
#include "imapd/imap_thread.h"
#include "lib/buf.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEW	100
static struct msg_info	view[VIEW];

/* One message: its sequence number and the header lines that matter. */
struct m {
	unsigned	 seq;
	const char	*header;
};

static char *
thread(const struct m *in, size_t n, bool references, bool uid)
{
	struct imap_sort_msg	*msgs = calloc(n, sizeof(*msgs));
	struct imap_thread	*t;
	struct buf		 out;
	char			 h[1024];
	size_t			 i;
	char			*s;

	for (i = 0; i < VIEW; i++) {
		view[i].uid = (uint32_t)(i + 1) * 10;
		view[i].internal_date = (time_t)(1000 + i);
	}
	for (i = 0; i < n; i++) {
		snprintf(h, sizeof(h), "%s\n\n", in[i].header);
		imap_sort_msg_init(&msgs[i], in[i].seq - 1, &view[in[i].seq - 1], h, strlen(h));
	}
	t = imap_thread_build(msgs, n, references);
	buf_init(&out, 1 << 20);
	assert_int_equal(imap_thread_write(&out, t, view, uid), 0);
	imap_thread_free(&t);
	assert_null(t);
	for (i = 0; i < n; i++)
		imap_sort_msg_free(&msgs[i]);
	free(msgs);
	s = buf_strdup(&out);
	buf_release(&out);
	assert_string_equal(s + strlen(s) - 2, "\r\n");
	s[strlen(s) - 2] = '\0';
	return s;
}

static void
expect(const struct m *in, size_t n, bool references, const char *want)
{
	char	*got = thread(in, n, references, false);

	if (strcmp(got, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", got, want);
	free(got);
}

#define EXPECT(in, refs, want)	expect(in, sizeof(in) / sizeof(in[0]), refs, want)

/* RFC 5256 section 4's example reply, from References. */
static void
test_rfc_example(void **state)
{
	static const struct m	 in[] = {
		{ 2, "Message-ID: <2@x>\nSubject: other\nDate: 1 Jan 2024 01:00 +0000" },
		{ 3, "Message-ID: <3@x>\nSubject: topic\nDate: 1 Jan 2024 02:00 +0000" },
		{ 4, "Message-ID: <4@x>\nSubject: Re: topic\nReferences: <3@x> <6@x>\n"
		    "Date: 1 Jan 2024 04:00 +0000" },
		{ 6, "Message-ID: <6@x>\nSubject: Re: topic\nReferences: <3@x>\n"
		    "Date: 1 Jan 2024 03:00 +0000" },
		{ 7, "Message-ID: <7@x>\nSubject: Re: topic\nReferences: <3@x> <6@x> <44@x>\n"
		    "Date: 1 Jan 2024 07:00 +0000" },
		{ 23, "Message-ID: <23@x>\nSubject: Re: topic\nReferences: <3@x> <6@x> <4@x>\n"
		    "Date: 1 Jan 2024 05:00 +0000" },
		{ 44, "Message-ID: <44@x>\nSubject: Re: topic\nIn-Reply-To: <6@x>\n"
		    "Date: 1 Jan 2024 06:00 +0000" },
		{ 96, "Message-ID: <96@x>\nSubject: Re: topic\n"
		    "References: <3@x> <6@x> <44@x> <7@x>\nDate: 1 Jan 2024 08:00 +0000" },
	};
	char	*got;

	(void)state;
	EXPECT(in, true, "* THREAD (2)(3 6 (4 23)(44 7 96))");
	got = thread(in, 8, true, true);
	assert_string_equal(got, "* THREAD (20)(30 60 (40 230)(440 70 960))");
	free(got);
}

/* A missing ancestor: a dummy, pruned unless it would make several roots. */
static void
test_dummies(void **state)
{
	static const struct m	 two[] = {
		{ 5, "Message-ID: <5@x>\nSubject: Re: lost\nReferences: <gone@x>\n"
		    "Date: 1 Jan 2024 02:00 +0000" },
		{ 6, "Message-ID: <6@x>\nSubject: Re: lost\nReferences: <gone@x>\n"
		    "Date: 1 Jan 2024 01:00 +0000" },
		{ 9, "Message-ID: <9@x>\nSubject: alone\nReferences: <a@x> <b@x> <c@x>\n"
		    "Date: 1 Jan 2024 03:00 +0000" },
	};

	(void)state;
	/* siblings under a dummy, sorted by date; a chain of dummies collapses */
	EXPECT(two, true, "* THREAD ((6)(5))(9)");
}

static void
test_subject_merging(void **state)
{
	static const struct m	 reply[] = {	/* a reply without References joins the original */
		{ 1, "Message-ID: <1@x>\nSubject: Hello\nDate: 1 Jan 2024 01:00 +0000" },
		{ 2, "Message-ID: <2@x>\nSubject: Re: Hello\nDate: 1 Jan 2024 02:00 +0000" },
		{ 3, "Message-ID: <3@x>\nSubject: Other\nDate: 1 Jan 2024 03:00 +0000" },
	};
	static const struct m	 same[] = {	/* two originals: a dummy holds both */
		{ 1, "Message-ID: <1@x>\nSubject: Hello\nDate: 1 Jan 2024 02:00 +0000" },
		{ 2, "Message-ID: <2@x>\nSubject: hello\nDate: 1 Jan 2024 01:00 +0000" },
		{ 3, "Message-ID: <3@x>\nSubject: Re: hello\nDate: 1 Jan 2024 03:00 +0000" },
	};
	static const struct m	 first_reply[] = {	/* the reply came first */
		{ 1, "Message-ID: <1@x>\nSubject: Re: Hello\nDate: 1 Jan 2024 01:00 +0000" },
		{ 2, "Message-ID: <2@x>\nSubject: Hello\nDate: 1 Jan 2024 02:00 +0000" },
	};
	static const struct m	 empty[] = {	/* no subject: never merged */
		{ 1, "Message-ID: <1@x>\nDate: 1 Jan 2024 01:00 +0000" },
		{ 2, "Message-ID: <2@x>\nSubject: Re:\nDate: 1 Jan 2024 02:00 +0000" },
	};

	(void)state;
	EXPECT(reply, true, "* THREAD (1 2)(3)");
	EXPECT(same, true, "* THREAD ((2)(1)(3))");
	EXPECT(first_reply, true, "* THREAD (2 1)");
	EXPECT(empty, true, "* THREAD (1)(2)");
}

static void
test_hostile_references(void **state)
{
	static const struct m	 loop[] = {
		{ 1, "Message-ID: <a@x>\nSubject: a\nReferences: <b@x>\nDate: 1 Jan 2024 01:00 +0000" },
		{ 2, "Message-ID: <b@x>\nSubject: b\nReferences: <a@x>\nDate: 1 Jan 2024 02:00 +0000" },
		{ 3, "Message-ID: <c@x>\nSubject: c\nReferences: <c@x> <c@x>\n"
		    "Date: 1 Jan 2024 03:00 +0000" },
	};
	static const struct m	 dup[] = {	/* the same Message-ID twice: both kept */
		{ 1, "Message-ID: <d@x>\nSubject: d\nDate: 1 Jan 2024 01:00 +0000" },
		{ 2, "Message-ID: <d@x>\nSubject: e\nDate: 1 Jan 2024 02:00 +0000" },
		{ 3, "Message-ID: <r@x>\nSubject: f\nReferences: <d@x>\nDate: 1 Jan 2024 03:00 +0000" },
		{ 4, "Message-ID: garbage\nSubject: g\nReferences: <<>> <> junk\n"
		    "Date: 1 Jan 2024 04:00 +0000" },
	};

	(void)state;
	/* 1 is b's child (step 1A), then 2 under a would loop: the link from 2's own References is dropped */
	EXPECT(loop, true, "* THREAD (2 1)(3)");
	EXPECT(dup, true, "* THREAD (1 3)(2)(4)");
}

static void
test_ordered_subject(void **state)
{
	static const struct m	 in[] = {
		{ 1, "Subject: B\nDate: 1 Jan 2024 03:00 +0000" },
		{ 2, "Subject: A\nDate: 1 Jan 2024 01:00 +0000" },
		{ 3, "Subject: Re: A\nDate: 1 Jan 2024 02:00 +0000" },
		{ 4, "Subject: a\nDate: 1 Jan 2024 04:00 +0000" },
		{ 5, "Subject: C\nDate: 1 Jan 2024 05:00 +0000" },
		{ 6, "Subject: [fwd: b]\nDate: 1 Jan 2024 06:00 +0000" },
		{ 7, "Subject: C\nDate: 1 Jan 2024 05:00 +0000" },	/* same date: by number */
	};

	(void)state;
	EXPECT(in, false, "* THREAD (2 (3)(4))(1 6)(5 7)");
}

static void
test_empty_and_too_small(void **state)
{
	struct imap_thread	*t;
	struct buf		 out;

	(void)state;
	t = imap_thread_build(NULL, 0, true);
	buf_init(&out, 64);
	assert_int_equal(imap_thread_write(&out, t, view, false), 0);
	assert_int_equal(buf_len(&out), 10);
	assert_memory_equal(buf_head(&out), "* THREAD\r\n", 10);
	buf_release(&out);
	imap_thread_free(&t);
}

/* 100,000 replies in one chain: linear, and nothing recurses on the depth. */
static void
test_long_chain(void **state)
{
	enum { N = 100000 };
	struct imap_sort_msg	*msgs = calloc(N, sizeof(*msgs));
	struct msg_info		*big = calloc(N, sizeof(*big));
	struct imap_thread	*t;
	struct buf		 out;
	char			 id[64], ref[64];
	size_t			 i;
	int			 refs;

	(void)state;
	for (refs = 0; refs < 2; refs++) {
		for (i = 0; i < N; i++) {
			big[i].uid = (uint32_t)i + 1;
			msgs[i].idx = (uint32_t)i;
			msgs[i].date = (time_t)i;
			snprintf(id, sizeof(id), "<%zu@x>", i);
			snprintf(ref, sizeof(ref), "<%zu@x>", i - 1);
			msgs[i].message_id = strdup(id);
			msgs[i].in_reply_to = i > 0 ? strdup(ref) : NULL;
			msgs[i].subject = strdup(refs ? "chain" : "");
			msgs[i].from = strdup("");
			msgs[i].to = strdup("");
			msgs[i].cc = strdup("");
		}
		t = imap_thread_build(msgs, N, refs == 0);
		buf_init(&out, 1 << 22);
		assert_int_equal(imap_thread_write(&out, t, big, false), 0);
		/* REFERENCES: one chain "(1 2 ... N)"; ORDEREDSUBJECT: "(1 (2)(3)...)" */
		assert_memory_equal(buf_head(&out), refs == 0 ? "* THREAD (1 2 3 " :
		    "* THREAD (1 (2)(3)", refs == 0 ? 16 : 18);
		assert_memory_equal(buf_head(&out) + buf_len(&out) - 9,
		    refs == 0 ? " 100000)\r\n" + 1 : "100000))\r\n" + 1, 9);
		buf_release(&out);
		imap_thread_free(&t);
		for (i = 0; i < N; i++)
			imap_sort_msg_free(&msgs[i]);
	}
	free(msgs);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_dummies),
		cmocka_unit_test(test_subject_merging),
		cmocka_unit_test(test_hostile_references),
		cmocka_unit_test(test_ordered_subject),
		cmocka_unit_test(test_empty_and_too_small),
		cmocka_unit_test(test_long_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
