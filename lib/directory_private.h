/* Shared between directory.c and password.c only. */
#ifndef LIB_DIRECTORY_PRIVATE_H
#define LIB_DIRECTORY_PRIVATE_H

/* A valid hash of a throw-away password, checked for unknown users. */
extern const char	 password_dummy_hash[];

#endif
