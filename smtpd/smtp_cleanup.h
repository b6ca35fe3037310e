/*
 * Start-up cleanup of Maildir tmp/ files left by a writer that died
 * (kill -9 between "written into tmp/" and "linked into new/").
 */
#ifndef SMTPD_SMTP_CLEANUP_H
#define SMTPD_SMTP_CLEANUP_H

/*
 * Walk <mail_root>/<domain>/<local>/Maildir/tmp/ and remove the files
 * named by commit_unique_name() on this host whose process is gone.
 * Returns the number removed.
 */
unsigned	smtp_cleanup_maildirs(const char *mail_root);

#endif
