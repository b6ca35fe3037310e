/*
 * The POP3 command table and its dispatcher.  State checks, the pre-TLS
 * rule for plaintext logins and the bad-command counter live here, not
 * in the handlers (DESIGN: commands are data).
 */
#include "pop3d/pop3_private.h"

#include "lib/buf.h"
#include "lib/linebuf.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	CMD_PLAINTEXT_AUTH	= 1 << 0,	/* carries a password: refused before TLS */
};

struct pop3_command {
	const char	*name;
	unsigned	 states;	/* POP3_* where it is allowed */
	unsigned	 flags;		/* CMD_* */
	/*
	 * 0: success; -1: the client got an -ERR (counts as a bad command);
	 * 1: answered by a job later, which counts it then (pop3_retr.c).
	 */
	int		(*run)(struct pop3_session *, char *args);
};

/* Split args into words (at most max into argv); returns the count, or max + 1. */
static size_t
split_args(char *args, char **argv, size_t max)
{
	size_t	 n = 0;
	char	*p;

	while ((p = strsep(&args, " ")) != NULL) {
		if (*p == '\0')
			continue;	/* tolerate doubled spaces */
		if (n == max)
			return max + 1;
		argv[n++] = p;
	}
	return n;
}

int
pop3_msgnum(struct pop3_session *s, const char *arg, size_t *idx_r)
{
	unsigned long long	 n = 0;
	const char		*p;

	if (*arg == '\0' || strspn(arg, "0123456789") != strlen(arg)) {
		pop3_reply(s, "-ERR Invalid message number.");
		return -1;
	}
	for (p = arg; *p != '\0' && n <= s->nmsgs; p++)
		n = n * 10 + (unsigned)(*p - '0');
	if (n == 0 || n > s->nmsgs) {
		pop3_reply(s, "-ERR There's no message %.20s.", arg);
		return -1;
	}
	if (s->marks[n - 1] & POP3_MSG_DELETED) {
		pop3_reply(s, "-ERR Message is deleted.");
		return -1;
	}
	*idx_r = (size_t)(n - 1);
	return 0;
}

static int
cmd_capa(struct pop3_session *s, char *args)
{
	bool	 authz = s->state == POP3_AUTHORIZATION;

	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE");
	/* RFC 2595 6: do not offer plaintext logins where we would refuse them. */
	if (authz && pop3_plaintext_allowed(s))
		pop3_reply(s, "USER\r\nSASL PLAIN LOGIN");
	if (authz && s->env->tls_available && !s->peer->tls)
		pop3_reply(s, "STLS");
	pop3_reply(s, "IMPLEMENTATION Postroom\r\n.");
	return 0;
}

static int
cmd_stls(struct pop3_session *s, char *args)
{
	if (s->peer->tls) {
		pop3_reply(s, "-ERR TLS is already active.");
		return -1;
	}
	if (!s->env->tls_available) {
		pop3_reply(s, "-ERR TLS support isn't enabled.");
		return -1;
	}
	pop3_reply(s, "+OK Begin TLS negotiation now.");
	/* Plaintext pipelined after STLS must never be read as commands. */
	linebuf_discard(s->lb);		/* and the host drops what it holds */
	s->want = SESSION_STARTTLS;
	return 0;
}

static int
cmd_noop(struct pop3_session *s, char *args)
{
	pop3_reply(s, "+OK");
	return 0;
}

static int
cmd_quit(struct pop3_session *s, char *args)
{
	if (s->state == POP3_AUTHORIZATION) {
		pop3_reply(s, "+OK Logging out.");
		pop3_close(s);
		return 0;
	}
	pop3_update_start(s);	/* it answers when the UPDATE is durable */
	return 0;
}

static int
cmd_stat(struct pop3_session *s, char *args)
{
	uint64_t	 size = 0;
	size_t		 i, n = 0;

	for (i = 0; i < s->nmsgs; i++) {
		if (s->marks[i] & POP3_MSG_DELETED)
			continue;
		n++;
		size += s->msgs[i].size;
	}
	pop3_reply(s, "+OK %zu %llu", n, (unsigned long long)size);
	return 0;
}

/* LIST and UIDL: one message, or all of them as a streamed multi-line reply. */
static int
list_or_uidl(struct pop3_session *s, char *args, bool uidl)
{
	char	*argv[1];
	char	 id[24];
	size_t	 idx;

	switch (split_args(args, argv, 1)) {
	case 0:
		pop3_stream_list(s, uidl);
		return 0;
	case 1:
		break;
	default:
		pop3_reply(s, "-ERR Too many arguments.");
		return -1;
	}
	if (pop3_msgnum(s, argv[0], &idx) == -1)
		return -1;
	if (!uidl) {
		pop3_reply(s, "+OK %zu %llu", idx + 1, (unsigned long long)s->msgs[idx].size);
	} else {
		store_uidl(s->uidvalidity, s->msgs[idx].uid, id);
		pop3_reply(s, "+OK %zu %s", idx + 1, id);
	}
	return 0;
}

static int
cmd_list(struct pop3_session *s, char *args)
{
	return list_or_uidl(s, args, false);
}

static int
cmd_uidl(struct pop3_session *s, char *args)
{
	return list_or_uidl(s, args, true);
}

static int
cmd_dele(struct pop3_session *s, char *args)
{
	char	*argv[1];
	size_t	 idx;

	if (split_args(args, argv, 1) != 1) {
		pop3_reply(s, "-ERR DELE needs one message number.");
		return -1;
	}
	if (pop3_msgnum(s, argv[0], &idx) == -1)
		return -1;
	s->marks[idx] |= POP3_MSG_DELETED;
	s->ndele++;
	pop3_reply(s, "+OK Marked to be deleted.");
	return 0;
}

static int
cmd_rset(struct pop3_session *s, char *args)
{
	size_t	 i;

	for (i = 0; i < s->nmsgs; i++)
		s->marks[i] &= ~POP3_MSG_DELETED;
	s->ndele = 0;
	pop3_reply(s, "+OK %zu messages.", s->nmsgs);
	return 0;
}

static const struct pop3_command pop3_commands[] = {
	{ "CAPA", POP3_AUTHORIZATION | POP3_TRANSACTION, 0,	cmd_capa },
	{ "USER", POP3_AUTHORIZATION, CMD_PLAINTEXT_AUTH,	pop3_cmd_user },
	{ "PASS", POP3_AUTHORIZATION, CMD_PLAINTEXT_AUTH,	pop3_cmd_pass },
	{ "AUTH", POP3_AUTHORIZATION, CMD_PLAINTEXT_AUTH,	pop3_cmd_auth },
	{ "STLS", POP3_AUTHORIZATION, 0,			cmd_stls },
	{ "QUIT", POP3_AUTHORIZATION | POP3_TRANSACTION, 0,	cmd_quit },
	{ "NOOP", POP3_TRANSACTION, 0,				cmd_noop },
	{ "STAT", POP3_TRANSACTION, 0,				cmd_stat },
	{ "LIST", POP3_TRANSACTION, 0,				cmd_list },
	{ "UIDL", POP3_TRANSACTION, 0,				cmd_uidl },
	{ "RETR", POP3_TRANSACTION, 0,				pop3_cmd_retr },
	{ "TOP",  POP3_TRANSACTION, 0,				pop3_cmd_top },
	{ "DELE", POP3_TRANSACTION, 0,				cmd_dele },
	{ "RSET", POP3_TRANSACTION, 0,				cmd_rset },
};

static const struct pop3_command *
command_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(pop3_commands) / sizeof(pop3_commands[0]); i++)
		if (strcasecmp(pop3_commands[i].name, name) == 0)
			return &pop3_commands[i];
	return NULL;
}

void
pop3_bad_command(struct pop3_session *s)
{
	if (++s->bad_commands < s->env->limits.max_bad_commands)
		return;
	log_info("session=%s event=bad_commands count=%u action=close", s->peer->id,
	    s->bad_commands);
	pop3_reply(s, "-ERR Too many bad commands, closing.");
	pop3_close(s);
}

/* One complete command line, CRLF stripped. */
void
pop3_dispatch(struct pop3_session *s, char *line)
{
	const struct pop3_command	*cmd;
	char				*args;
	int				 r;

	args = line + strcspn(line, " ");
	if (*args != '\0')
		*args++ = '\0';
	cmd = command_find(line);
	if (cmd == NULL)
		pop3_reply(s, "-ERR Unknown command.");
	else if ((cmd->states & s->state) == 0)
		pop3_reply(s, s->state == POP3_AUTHORIZATION ?
		    "-ERR Unknown command: %s (log in first)" :
		    "-ERR Unknown command: %s (already logged in)", cmd->name);
	else if ((cmd->flags & CMD_PLAINTEXT_AUTH) && !pop3_plaintext_allowed(s))
		pop3_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on "
		    "non-secure (SSL/TLS) connections.");
	else if ((r = cmd->run(s, args)) >= 0) {
		if (r == 0)
			s->bad_commands = 0;
		return;
	}
	pop3_bad_command(s);
}
