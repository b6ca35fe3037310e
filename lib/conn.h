/*
 * A connection: non-blocking fd, optional TLS, bounded input and output
 * buffers, deadline, reporting one event enum to one callback.  No daemon
 * calls read/write/SSL_read on a socket directly.
 *
 * Output is corked: appends to conn_output() are written when the current
 * callback returns (or on conn_flush()), so a pipelined group of replies
 * goes out in one write.  Reading stops while output is above its
 * high-water mark (back-pressure) and resumes with CONN_DRAINED.
 */
#ifndef LIB_CONN_H
#define LIB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

struct buf;
struct conn;
struct ev_loop;

enum conn_event {
	CONN_INPUT,	/* new bytes in conn_input() */
	CONN_DRAINED,	/* output fell below the low-water mark (output_high / 2): produce more */
	CONN_TLS_DONE,	/* handshake finished (conn_tls_info() says what) */
	CONN_TIMEOUT,	/* the deadline set by conn_set_timeout() passed */
	CONN_CLOSED,	/* peer closed, I/O or TLS error: free the conn now */
};

typedef void	(*conn_cb)(struct conn *c, enum conn_event ev, void *arg);

struct conn_limits {
	size_t	input_max;	/* input buffer hard limit */
	size_t	output_high;	/* stop reading above this much pending output */
	size_t	output_max;	/* output buffer hard limit */
};

/* Takes ownership of fd (made non-blocking here). */
struct conn	*conn_new(struct ev_loop *loop, int fd, const struct conn_limits *limits,
		    conn_cb cb, void *arg);
void		 conn_free(struct conn **c);	/* closes the fd; safe inside the callback */

struct buf	*conn_input(struct conn *c);	/* consume what you use */
struct buf	*conn_output(struct conn *c);	/* append replies */
void		 conn_flush(struct conn *c);
/*
 * An emptied output buffer gives big storage back (an idle connection
 * costs little), except while keep is set: a streamed reply refills it at
 * once, and giving it back between its parts costs an munmap and a page
 * fault per page each time.  Clearing keep gives it back if empty.
 */
void		 conn_keep_output(struct conn *c, bool keep);

/*
 * Stop/resume reading from the socket (a session waiting for a commit).
 * A peer's half-close seen while paused is reported (CONN_CLOSED) only
 * after resuming and flushing, so the answer to its last command still
 * goes out.
 */
void		 conn_pause(struct conn *c, bool paused);
/* Deadline from now; 0 disables.  Re-armed by every call. */
void		 conn_set_timeout(struct conn *c, unsigned long long ms);
/* Flush what is pending, then report CONN_CLOSED. */
void		 conn_close_after_flush(struct conn *c);

/*
 * Server-side TLS.  STARTTLS: call after queueing the "go ahead" reply; the
 * reply is flushed in plaintext, buffered input is DISCARDED (command
 * injection), then the handshake runs and CONN_TLS_DONE is reported.
 * Implicit TLS: call right after conn_new().
 */
int		 conn_start_tls(struct conn *c, SSL_CTX *ctx);
/*
 * Client-side TLS (the relay): after the server's "go ahead" to STARTTLS,
 * or right after connecting for implicit TLS.  Buffered input is
 * discarded; servername (may be NULL) is sent as SNI.  CONN_TLS_DONE as
 * above.  The ctx decides about verification (tls_client_ctx_new: none);
 * when it verifies (tls_client_verify_ctx_new), servername is also the
 * name (or address) the certificate must be for.
 */
int		 conn_start_tls_client(struct conn *c, SSL_CTX *ctx, const char *servername);
bool		 conn_is_tls(const struct conn *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" */
const char	*conn_tls_info(const struct conn *c);

int		 conn_fd(const struct conn *c);

/* Why CONN_CLOSED came: "eof", "write: Broken pipe", "TLS handshake: ...". */
const char	*conn_close_reason(const struct conn *c);
/* Bytes read from / written to the peer (plaintext when TLS). */
unsigned long long conn_bytes_in(const struct conn *c);
unsigned long long conn_bytes_out(const struct conn *c);

#endif
