/*
 * Internal to queue/: the open queue's directories, and the records queue
 * files are made of (queue/queue.h): [type: 1 byte][length: 4 bytes
 * big-endian][payload], shared by the message files and their state logs
 * (queue/queue_state.h).
 */
#ifndef QUEUE_QUEUE_PRIVATE_H
#define QUEUE_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

struct queue {
	int	 tmp, incoming, active;
	int	 state;		/* the state logs, one per message in active/ */
};

#define REC_HDR		5

struct rec {
	char		 type;
	const char	*data;
	uint32_t	 len;
};

/* Append a header, or a whole record of a string; the buffer must have room. */
void	 rec_header(struct buf *b, char type, uint32_t len);
void	 rec_str(struct buf *b, char type, const char *s);
/* The record at *off of file[0..size), advancing *off; false at the end or if torn. */
bool	 rec_next(const char *file, size_t size, size_t *off, struct rec *r);
char	*rec_dup(const struct rec *r);
/* A decimal payload. */
bool	 rec_num(const struct rec *r, unsigned long long *v_r);

#endif
