// SPDX-License-Identifier: GPL-2.0
/*
 * Lookups in a memfd's page cache.  Answers only: calls nothing else of the
 * module.
 */
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>

#include "udmabuf.h"

/* A hugetlbfs hole, filled as memfd_pin_folios() fills it. */
static struct folio *udmabuf_cache_alloc_huge(struct file *memfd, pgoff_t idx)
{
	loff_t start = (loff_t)idx << PAGE_SHIFT;
	struct folio *folio;
	pgoff_t offset;
	long ret;

	ret = memfd_pin_folios(memfd, start, start + PAGE_SIZE - 1, &folio, 1,
			       &offset);
	if (ret < 0)
		return ERR_PTR(ret);
	if (WARN_ON_ONCE(ret != 1))
		return ERR_PTR(-EFAULT);
	/* A plain reference, like any other page of the buffer. */
	folio_get(folio);
	unpin_folio(folio);
	return folio;
}

/**
 * udmabuf_cache_get - the folio of a memfd page, referenced
 * @memfd: a shmem or hugetlbfs memfd
 * @idx: page index in the memfd, in PAGE_SIZE units
 * @alloc: fill a hole with a new zeroed folio, as a read fault of the
 *         memfd would
 *
 * A page swapped out is read back in: it is not a hole.
 *
 * Return: the folio, NULL for a hole when !@alloc, or an ERR_PTR().
 */
struct folio *udmabuf_cache_get(struct file *memfd, pgoff_t idx, bool alloc)
{
	struct folio *folio;
	int ret;

	if (is_file_hugepages(memfd)) {
		folio = __filemap_get_folio(memfd->f_mapping, idx, 0, 0);
		if (!IS_ERR(folio))
			return folio;
		if (PTR_ERR(folio) != -ENOENT)
			return folio;
		return alloc ? udmabuf_cache_alloc_huge(memfd, idx) : NULL;
	}
	ret = shmem_get_folio(file_inode(memfd), idx, 0, &folio,
			      alloc ? SGP_CACHE : SGP_READ);
	if (ret)
		return ERR_PTR(ret);
	if (folio)
		folio_unlock(folio);
	return folio;
}
