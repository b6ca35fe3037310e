/*
 * The SEARCH tests' fixture (tests/unit/test_imap_search*.c): five
 * hand-written messages with their msg_info and keywords, served from
 * memfds and counted per open, optionally with their ENVELOPEs as the
 * index keeps them; commands parsed by the real parser.
 */
#ifndef TESTS_UNIT_SEARCH_FIXTURE_H
#define TESTS_UNIT_SEARCH_FIXTURE_H

#include "imapd/imap_search_eval.h"
#include "lib/settings.h"
#include "store/store.h"

#include <stdbool.h>
#include <time.h>

/* Day d of January 2024 at 00:00 UTC (2024-01-01 is day 19723). */
#define JAN(d)	((time_t)(19723 + (d) - 1) * 86400)
#define SFX_NMSG	5

extern const char *const		 sfx_messages[SFX_NMSG];
extern const struct msg_info		 sfx_infos[SFX_NMSG];
extern const struct imapd_settings	 sfx_settings;

struct search_fx {
	struct imap_parser	*parser;
	struct imap_search_view	 view;
	unsigned		 opens[SFX_NMSG];
	struct mime_message	*parsed[SFX_NMSG];	/* their ENVELOPEs, as the index keeps them */
	bool			 no_envelope[SFX_NMSG];	/* "not parsed yet" */
	void			*keyed;		/* what the matched callback fills */
};

/* cmocka setup (plain, or with ENVELOPEs) and teardown: a struct search_fx in *state. */
int	 sfx_setup(void **state);
int	 sfx_setup_envelope(void **state);
int	 sfx_teardown(void **state);
/* The view's open callback: message i from a memfd, counted in fx->opens. */
int	 sfx_open(void *ctx, size_t i, int *fd_r);
/* Parse one command given as its lines ("\r\n"-separated, literals after {n}). */
const struct imap_command *sfx_parse(struct search_fx *fx, const char *text);
/* The search part of a SEARCH, SORT or THREAD command. */
const struct imap_search *sfx_search_of(const struct imap_command *c);
/* Run a SEARCH command line; its "* SEARCH ..." reply without CRLF (malloc'd). */
char	*sfx_run(struct search_fx *fx, const char *cmdline, bool uid);
/* "a SEARCH <keys>" must answer want. */
void	 sfx_expect(struct search_fx *fx, const char *keys, const char *want);

#endif
