/* tests/unit/dns_fake.h: just enough of RFC 1035 to answer c-ares. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/dns_fake.h"

#include "lib/ev.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t
put_name(unsigned char *p, const char *name)
{
	size_t	n = 0;

	while (*name != '\0') {
		const char	*dot = strchr(name, '.');
		size_t		 len = dot != NULL ? (size_t)(dot - name) : strlen(name);

		p[n++] = (unsigned char)len;
		memcpy(p + n, name, len);
		n += len;
		name += len + (dot != NULL);
	}
	p[n++] = 0;
	return n;
}

static size_t
put_record(unsigned char *p, const struct dns_fake_record *r)
{
	size_t	n = 0, rdlen;

	p[n++] = 0xc0;			/* the name: a pointer to the question's */
	p[n++] = 12;
	p[n++] = 0;
	p[n++] = (unsigned char)r->type;
	p[n++] = 0;
	p[n++] = 1;			/* IN */
	memcpy(p + n, "\0\0\0\x3c", 4);	/* TTL 60 */
	n += 6;
	if (r->type == DNS_FAKE_MX) {
		p[n] = (unsigned char)(r->pref >> 8);
		p[n + 1] = (unsigned char)r->pref;
		rdlen = 2 + put_name(p + n + 2, r->data);
	} else {
		int	af = r->type == DNS_FAKE_A ? AF_INET : AF_INET6;

		assert_int_equal(inet_pton(af, r->data, p + n), 1);
		rdlen = r->type == DNS_FAKE_A ? 4 : 16;
	}
	p[n - 2] = (unsigned char)(rdlen >> 8);
	p[n - 1] = (unsigned char)rdlen;
	return n + rdlen;
}

/* The question's name (queries are not compressed), dotted, into name. */
static size_t
get_name(const unsigned char *p, size_t len, char *name)
{
	size_t	n = 0, out = 0;

	while (n < len && p[n] != 0) {
		size_t	l = p[n++];

		assert_true(n + l < len && out + l + 1 < 256);
		if (out > 0)
			name[out++] = '.';
		memcpy(name + out, p + n, l);
		out += l;
		n += l;
	}
	name[out] = '\0';
	return n + 1;
}

static void
serve(int fd, unsigned events, void *arg)
{
	struct dns_fake		*fake = arg;
	unsigned char		 q[512], r[2048];
	char			 name[256];
	struct sockaddr_storage	 from;
	socklen_t		 fromlen = sizeof(from);
	ssize_t			 len;
	size_t			 qend, n, answers = 0;
	int			 type, rcode = 3;	/* NXDOMAIN unless the name is held */

	(void)events;
	len = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
	if (len < 12)
		return;
	fake->queries++;
	qend = 12 + get_name(q + 12, (size_t)len - 12, name);
	type = q[qend] << 8 | q[qend + 1];
	qend += 4;
	if (strncasecmp(name, "silent.", 7) == 0)
		return;
	memcpy(r, q, qend);
	n = qend;
	for (size_t i = 0; i < fake->nzone; i++) {
		if (strcasecmp(fake->zone[i].name, name) != 0)
			continue;
		rcode = fake->zone[i].rcode;
		if (fake->zone[i].type == type) {
			n += put_record(r + n, &fake->zone[i]);
			answers++;
		}
	}
	r[2] = 0x84 | (q[2] & 0x01);		/* QR, AA, the query's RD */
	r[3] = 0x80 | (unsigned char)rcode;	/* RA */
	memset(r + 6, 0, 6);
	r[7] = (unsigned char)answers;
	sendto(fd, r, n, 0, (struct sockaddr *)&from, fromlen);
}

void
dns_fake_start(struct dns_fake *fake, struct ev_loop *loop,
    const struct dns_fake_record *zone, size_t nzone)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);

	memset(fake, 0, sizeof(*fake));
	fake->zone = zone;
	fake->nzone = nzone;
	fake->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fake->fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fake->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fake->fd, (struct sockaddr *)&sin, &len), 0);
	fake->io = ev_io_add(loop, fake->fd, EV_READ, serve, fake);
	assert_non_null(fake->io);
	snprintf(fake->servers, sizeof(fake->servers), "127.0.0.1:%u", ntohs(sin.sin_port));
}

void
dns_fake_stop(struct dns_fake *fake)
{
	ev_io_del(&fake->io);
	close(fake->fd);
}
