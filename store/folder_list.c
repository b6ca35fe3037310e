/*
 * Listing a Maildir's folders, with what IMAP's LIST reports about each:
 * children (RFC 5258 CHILDREN), \Noselect for a parent that has no Maildir
 * of its own ("A" when only ".A.B" exists, as another Maildir++ tool may
 * leave it), and the special-use attribute (RFC 6154) of the folders
 * store_create_user makes, by name as Dovecot's default configuration does.
 */
#include "store/store_private.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char	*name;
	unsigned	 attr;
} special_use[] = {
	{ "Sent",	FOLDER_SENT },
	{ "Drafts",	FOLDER_DRAFTS },
	{ "Trash",	FOLDER_TRASH },
	{ "Junk",	FOLDER_JUNK },
	{ "Archive",	FOLDER_ARCHIVE },
};

struct folder_set {
	struct folder_info	*v;
	size_t			 n, cap;
};

static void
set_add(struct folder_set *s, const char *name, size_t len, unsigned attrs)
{
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 16 : size_mul(s->cap, 2);
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n].name = xstrndup(name, len);
	s->v[s->n].attrs = attrs;
	s->n++;
}

/* By name; of two equal names the real folder (no \Noselect) first. */
static int
info_cmp(const void *a, const void *b)
{
	const struct folder_info	*x = a, *y = b;
	int				 c = strcmp(x->name, y->name);

	return c != 0 ? c : (int)(x->attrs & FOLDER_NOSELECT) - (int)(y->attrs & FOLDER_NOSELECT);
}

/* The folders on disk, and every parent of one as \Noselect (duplicates too). */
static int
read_folders(const char *maildir, struct folder_set *s, const char **error_r)
{
	struct dirent	*de;
	struct stat	 sb;
	const char	*name, *dot;
	DIR		*dir;

	if ((dir = opendir(maildir)) == NULL)
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "open %s: %s", maildir, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(dir), de->d_name, &sb, 0) == -1 || !S_ISDIR(sb.st_mode))
			continue;
		name = de->d_name + 1;
		set_add(s, name, strlen(name), 0);
		for (dot = strchr(name, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
			set_add(s, name, (size_t)(dot - name), FOLDER_NOSELECT);
	}
	closedir(dir);
	return 0;
}

static unsigned
attrs_of(const struct folder_set *s, size_t i)
{
	const char	*name = s->v[i].name;
	size_t		 len = strlen(name), j, k;
	unsigned	 attrs = s->v[i].attrs;

	/* Sorted: the names beginning with this one follow it, together. */
	attrs |= FOLDER_HAS_NO_CHILDREN;
	for (j = i + 1; j < s->n && strncmp(s->v[j].name, name, len) == 0; j++)
		if (s->v[j].name[len] == '.') {
			attrs = (attrs & ~FOLDER_HAS_NO_CHILDREN) | FOLDER_HAS_CHILDREN;
			break;
		}
	if (!(attrs & FOLDER_NOSELECT))
		for (k = 0; k < sizeof(special_use) / sizeof(special_use[0]); k++)
			if (strcmp(name, special_use[k].name) == 0)
				attrs |= special_use[k].attr;
	return attrs;
}

int
folder_list_info(struct store *st, const char *maildir, struct folder_info **folders_r,
    size_t *n_r, const char **error_r)
{
	struct folder_set	 s = { 0 };
	size_t			 i, n;

	(void)st;
	set_add(&s, "INBOX", 5, FOLDER_HAS_NO_CHILDREN);
	if (read_folders(maildir, &s, error_r) == -1) {
		folder_info_free(&s.v, s.n);
		return -1;
	}
	qsort(s.v + 1, s.n - 1, sizeof(*s.v), info_cmp);
	/* Drop duplicates: a parent named twice, or one that exists after all. */
	for (i = n = 1; i < s.n; i++) {
		if (n > 1 && strcmp(s.v[i].name, s.v[n - 1].name) == 0) {
			free(s.v[i].name);
			continue;
		}
		s.v[n++] = s.v[i];
	}
	s.n = n;
	for (i = 1; i < s.n; i++)
		s.v[i].attrs = attrs_of(&s, i);
	*folders_r = s.v;
	*n_r = s.n;
	return 0;
}

void
folder_info_free(struct folder_info **folders, size_t n)
{
	size_t	 i;

	if (*folders == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*folders)[i].name);
	xfree(folders);
}

int
folder_list(struct store *st, const char *maildir, char ***names_r, size_t *n_r,
    const char **error_r)
{
	struct folder_info	*v;
	char			**names;
	size_t			 i, n, k = 0;

	if (folder_list_info(st, maildir, &v, &n, error_r) == -1)
		return -1;
	names = xreallocarray(NULL, n, sizeof(*names));
	for (i = 0; i < n; i++) {
		if (v[i].attrs & FOLDER_NOSELECT)
			free(v[i].name);
		else
			names[k++] = v[i].name;
	}
	free(v);
	*names_r = names;
	*n_r = k;
	return 0;
}
