/*
 * RFC 5322 date-time (section 3.3, with the obsolete forms of 4.3) for
 * SEARCH SENT* and SORT DATE: "[day-of-week ","] day month year hour ":"
 * minute [":" second] zone", read leniently as mailers write it.
 */
#include "mail/mime.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct cursor {
	const char	*p, *end;
};

static void
skip_space(struct cursor *c)
{
	int	 depth = 0;

	for (; c->p < c->end; c->p++) {
		if (*c->p == '(')
			depth++;
		else if (*c->p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && !isspace((unsigned char)*c->p))
			return;
	}
}

/* 1 to max digits; -1 if none. */
static long
number(struct cursor *c, int max, int *ndigits_r)
{
	long	 n = 0;
	int	 i = 0;

	skip_space(c);
	while (c->p < c->end && i < max && isdigit((unsigned char)*c->p)) {
		n = n * 10 + (*c->p++ - '0');
		i++;
	}
	if (ndigits_r != NULL)
		*ndigits_r = i;
	return i == 0 ? -1 : n;
}

static int
month(struct cursor *c)
{
	static const char	 names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	char			 m[4];
	int			 i;

	skip_space(c);
	if (c->end - c->p < 3)
		return -1;
	for (i = 0; i < 3; i++)
		m[i] = (char)tolower((unsigned char)c->p[i]);
	m[3] = '\0';
	for (i = 0; i < 12; i++)
		if (memcmp(names + 3 * i, m, 3) == 0) {
			c->p += 3;
			return i + 1;
		}
	return -1;
}

/* Minutes east of UTC; unknown names count as UTC (RFC 5322 4.3). */
static int
zone(struct cursor *c)
{
	static const struct { const char *name; int hours; } names[] = {
		{ "EDT", -4 }, { "EST", -5 }, { "CDT", -5 }, { "CST", -6 },
		{ "MDT", -6 }, { "MST", -7 }, { "PDT", -7 }, { "PST", -8 },
	};
	int	 sign, hhmm, nd;
	size_t	 i;

	skip_space(c);
	if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
		sign = *c->p++ == '-' ? -1 : 1;
		hhmm = (int)number(c, 4, &nd);
		if (nd != 4)
			return 0;
		return sign * (hhmm / 100 * 60 + hhmm % 100);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (c->end - c->p >= 3 && strncasecmp(c->p, names[i].name, 3) == 0)
			return names[i].hours * 60;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long
days_from_civil(long y, long m, long d)
{
	long	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
mime_date_parse(const char *s, size_t len, time_t *t_r, int *zone_r)
{
	struct cursor	 c;
	const char	*comma;
	long		 day, mon, year, hh, mm, ss = 0;
	int		 nd;

	if (len == 0)
		return -1;	/* s may be an empty buffer's NULL */
	c.p = s;
	c.end = s + len;
	comma = memchr(s, ',', len);
	if (comma != NULL)
		c.p = comma + 1;	/* a weekday, right or wrong, is ignored */
	if ((day = number(&c, 2, NULL)) < 1 || day > 31 || (mon = month(&c)) < 0)
		return -1;
	if ((year = number(&c, 4, &nd)) < 0)
		return -1;
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	if ((hh = number(&c, 2, NULL)) < 0 || hh > 23)
		return -1;
	skip_space(&c);
	if (c.p == c.end || *c.p++ != ':' || (mm = number(&c, 2, NULL)) < 0 || mm > 59)
		return -1;
	skip_space(&c);
	if (c.p < c.end && *c.p == ':') {
		c.p++;
		if ((ss = number(&c, 2, NULL)) < 0 || ss > 60)
			return -1;
	}
	*zone_r = zone(&c);
	*t_r = (time_t)(days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss)
	    - (time_t)*zone_r * 60;
	return 0;
}
