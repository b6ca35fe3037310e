/*
 * A parsed IMAP command rendered as one line of text, so parser tests can
 * compare whole commands: "CMD <tag> <name> <arguments>|", e.g.
 * "CMD a FETCH set=1:5,*[7:7] atts=FLAGS,BODY.PEEK[1.HEADER]<0.100>|".
 * Sequence sets print their ranges and "*[lo:hi]" for the `*` interval.
 */
#ifndef TESTS_UNIT_IMAP_DUMP_H
#define TESTS_UNIT_IMAP_DUMP_H

struct buf;
struct imap_command;

void	imap_dump_command(struct buf *b, const struct imap_command *c);

#endif
