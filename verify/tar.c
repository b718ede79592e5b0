/*-------------------------------------------------------------------------
 *
 * tar.c
 *	  Reading an evidence package: a POSIX ustar archive of regular files,
 *	  no directories, names without '/'.  Every length and checksum is
 *	  checked before it is used; anything else is refused.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

#define BLOCK	512

/* Value of an octal header field, or -1 when it is not one. */
static long long
octal_field(const unsigned char *p, size_t width)
{
	long long	v = 0;
	size_t		i = 0;

	while (i < width && p[i] == ' ')
		i++;
	if (i == width || p[i] < '0' || p[i] > '7')
		return -1;
	for (; i < width && p[i] >= '0' && p[i] <= '7'; i++)
	{
		v = v * 8 + (p[i] - '0');
		if (v > (long long) MAX_FILE_SIZE * 4)
			return -1;
	}
	for (; i < width; i++)
		if (p[i] != ' ' && p[i] != '\0')
			return -1;
	return v;
}

/* Is the block all zero bytes (the end of the archive)? */
static int
zero_block(const unsigned char *p)
{
	int			i;

	for (i = 0; i < BLOCK; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Read a package; returns NULL, or what is wrong with the archive. */
const char *
package_read(const unsigned char *tar, size_t len, Package *pkg)
{
	size_t		off = 0;

	memset(pkg, 0, sizeof(*pkg));
	while (off + BLOCK <= len)
	{
		const unsigned char *h = tar + off;
		long long	size;
		long long	sum;
		unsigned	computed = 0;
		int			i;
		PackageFile *f;

		if (zero_block(h))
			return pkg->nfiles > 0 ? NULL : "the archive holds no files";
		sum = octal_field(h + 148, 8);
		for (i = 0; i < BLOCK; i++)
			computed += (i >= 148 && i < 156) ? ' ' : h[i];
		if (sum < 0 || (unsigned) sum != computed)
			return "a tar header's checksum is wrong (the archive is damaged)";
		if (memcmp(h + 257, "ustar", 5) != 0)
			return "a tar header is not in ustar format";
		if (h[156] != '0' && h[156] != '\0')
			return "the archive holds something other than regular files";
		if (h[345] != '\0')
			return "the archive holds a file with a long (prefixed) name";
		size = octal_field(h + 124, 12);
		if (size < 0 || size > MAX_FILE_SIZE)
			return "a file in the archive is larger than 16 MB";
		if (off + BLOCK + (size_t) size > len)
			return "the archive is cut short";
		if (pkg->nfiles == MAX_FILES)
			return "the archive holds too many files";
		f = &pkg->files[pkg->nfiles];
		memcpy(f->name, h, 100);
		f->name[100] = '\0';
		if (f->name[0] == '\0' || strchr(f->name, '/') != NULL || strcmp(f->name, "..") == 0)
			return "a file in the archive has an empty name or a path";
		if (package_file(pkg, f->name) != NULL)
			return "a file name appears twice in the archive";
		f->data = malloc(size + 1);
		if (f->data == NULL)
			return "out of memory";
		memcpy(f->data, h + BLOCK, size);
		f->data[size] = '\0';
		f->len = size;
		pkg->nfiles++;
		off += BLOCK + ((size + BLOCK - 1) / BLOCK) * BLOCK;
	}
	return "the archive has no end marker (it is cut short)";
}

/* The named file of the package, or NULL. */
const PackageFile *
package_file(const Package *pkg, const char *name)
{
	int			i;

	for (i = 0; i < pkg->nfiles; i++)
		if (strcmp(pkg->files[i].name, name) == 0)
			return &pkg->files[i];
	return NULL;
}
