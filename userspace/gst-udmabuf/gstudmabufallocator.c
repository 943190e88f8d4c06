/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstMmuUdmabufAllocator: each memory is a sealed memfd of its own, rounded
 * up to whole pages, and a udmabuf over all of it.  The memory is
 * GstDmaBufAllocator memory over the udmabuf fd (mapped through the
 * dma-buf, kept mapped, with DMA_BUF_IOCTL_SYNC around every map), so
 * importers get a dma-buf; its memory type is this allocator's own,
 * GST_MMU_UDMABUF_MEMORY_TYPE (gst_is_dmabuf_memory() asks the allocator's
 * class, not the type).  The memfd is closed once the udmabuf holds its
 * pages, unless the allocator keeps memfds for the punch-and-rewrite test
 * mode: then the memfd and a shared mapping of it stay attached to the
 * memory.  Allocations are counted: a buffer pool reuses its memories, so
 * the count stays at the pool size.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <libudmabuf.h>

#include "gstudmabufallocator.h"

GST_DEBUG_CATEGORY_STATIC (gst_mmu_udmabuf_allocator_debug);
#define GST_CAT_DEFAULT gst_mmu_udmabuf_allocator_debug

struct _GstMmuUdmabufAllocator
{
  GstDmaBufAllocator parent;

  gint dev;                     /* /dev/udmabuf */
  gchar *device;
  gboolean keep_memfd;
  gint created;                 /* udmabufs made, atomic */
};

/* The memfd behind one memory, its qdata. */
typedef struct
{
  gint memfd;
  guint8 *map;
  gsize size;
} GstMmuUdmabufMemfd;

G_DEFINE_TYPE_WITH_CODE (GstMmuUdmabufAllocator, gst_mmu_udmabuf_allocator,
    GST_TYPE_DMABUF_ALLOCATOR,
    GST_DEBUG_CATEGORY_INIT (gst_mmu_udmabuf_allocator_debug, "udmabufallocator",
        0, "udmabuf allocator"));

G_DEFINE_QUARK (gst-mmu-udmabuf-error-quark, gst_mmu_udmabuf_error);
G_DEFINE_QUARK (GstMmuUdmabufMemfd, gst_mmu_udmabuf_memfd);

static void
gst_mmu_udmabuf_memfd_free (gpointer data)
{
  GstMmuUdmabufMemfd *m = data;

  if (m->map && munmap (m->map, m->size))
    GST_WARNING ("munmap of memfd %d failed: %s", m->memfd, g_strerror (errno));
  if (m->memfd >= 0 && close (m->memfd))
    GST_WARNING ("close of memfd %d failed: %s", m->memfd, g_strerror (errno));
  g_free (m);
}

static GstMemory *
gst_mmu_udmabuf_allocator_alloc (GstAllocator * allocator, gsize size,
    GstAllocationParams * params)
{
  GstMmuUdmabufAllocator *self = GST_MMU_UDMABUF_ALLOCATOR (allocator);
  gsize prefix = params ? params->prefix : 0;
  gsize padding = params ? params->padding : 0;
  gsize align = params ? params->align : 0;
  gsize page = udmabuf_page_size ();
  GstMmuUdmabufMemfd *m;
  GstMemory *mem;
  gsize total;
  gint dbuf;

  /* mmap gives page alignment, no more. */
  if (align >= page) {
    GST_ERROR_OBJECT (self, "alignment %" G_GSIZE_FORMAT " is over a page",
        align + 1);
    return NULL;
  }
  if (size > G_MAXSIZE - prefix - padding - page) {
    GST_ERROR_OBJECT (self, "size %" G_GSIZE_FORMAT " is too large", size);
    return NULL;
  }
  total = (prefix + size + padding + page - 1) & ~(page - 1);
  if (!total)
    total = page;

  m = g_new0 (GstMmuUdmabufMemfd, 1);
  m->size = total;
  m->memfd = udmabuf_memfd_create ("gst-udmabuf", total, 0);
  if (m->memfd < 0) {
    GST_ERROR_OBJECT (self, "cannot create a memfd: %s", udmabuf_strerror ());
    g_free (m);
    return NULL;
  }
  if (self->keep_memfd)
    m->map = mmap (NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, m->memfd,
        0);
  if (m->map == MAP_FAILED) {
    GST_ERROR_OBJECT (self, "cannot map memfd %d: %s", m->memfd,
        g_strerror (errno));
    m->map = NULL;
    gst_mmu_udmabuf_memfd_free (m);
    return NULL;
  }
  dbuf = udmabuf_create (self->dev, m->memfd, 0, total, UDMABUF_CLOEXEC);
  if (dbuf < 0) {
    GST_ERROR_OBJECT (self, "cannot create a udmabuf of %" G_GSIZE_FORMAT
        " bytes: %s", total, udmabuf_strerror ());
    gst_mmu_udmabuf_memfd_free (m);
    return NULL;
  }
  mem = gst_fd_allocator_alloc (allocator, dbuf, total,
      GST_FD_MEMORY_FLAG_KEEP_MAPPED);
  if (!mem) {
    GST_ERROR_OBJECT (self, "cannot wrap udmabuf %d", dbuf);
    close (dbuf);
    gst_mmu_udmabuf_memfd_free (m);
    return NULL;
  }
  GST_DEBUG_OBJECT (self, "udmabuf %d over memfd %d, %" G_GSIZE_FORMAT
      " bytes", dbuf, m->memfd, total);
  /* The udmabuf holds the memfd's pages: the fd is needed no more. */
  if (self->keep_memfd)
    gst_mini_object_set_qdata (GST_MINI_OBJECT (mem),
        gst_mmu_udmabuf_memfd_quark (), m, gst_mmu_udmabuf_memfd_free);
  else
    gst_mmu_udmabuf_memfd_free (m);
  if (prefix || total != size)
    gst_memory_resize (mem, prefix, size);
  g_atomic_int_inc (&self->created);
  return mem;
}

static void
gst_mmu_udmabuf_allocator_finalize (GObject * object)
{
  GstMmuUdmabufAllocator *self = GST_MMU_UDMABUF_ALLOCATOR (object);

  if (self->dev >= 0 && close (self->dev))
    GST_WARNING_OBJECT (self, "close of %s failed: %s", self->device,
        g_strerror (errno));
  g_free (self->device);
  G_OBJECT_CLASS (gst_mmu_udmabuf_allocator_parent_class)->finalize (object);
}

static void
gst_mmu_udmabuf_allocator_class_init (GstMmuUdmabufAllocatorClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstAllocatorClass *allocator_class = GST_ALLOCATOR_CLASS (klass);

  gobject_class->finalize = gst_mmu_udmabuf_allocator_finalize;
  allocator_class->alloc = gst_mmu_udmabuf_allocator_alloc;
}

static void
gst_mmu_udmabuf_allocator_init (GstMmuUdmabufAllocator * self)
{
  /* Not 1.28's GST_ALLOCATOR_UDMABUF: memory of another allocator. */
  GST_ALLOCATOR (self)->mem_type = GST_MMU_UDMABUF_MEMORY_TYPE;
  self->dev = -1;
  /* Unlike a plain fd allocator, this one allocates. */
  GST_OBJECT_FLAG_UNSET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

/**
 * gst_mmu_udmabuf_allocator_new:
 * @device: the udmabuf device, %NULL for /dev/udmabuf
 * @keep_memfd: keep each memory's memfd and a mapping of it, for
 *   gst_mmu_udmabuf_memory_punch_rewrite()
 *
 * Returns: (transfer full): a new allocator, or %NULL with @error set.
 */
GstAllocator *
gst_mmu_udmabuf_allocator_new (const gchar * device, gboolean keep_memfd,
    GError ** error)
{
  GstMmuUdmabufAllocator *self;
  gint dev;

  if (!device)
    device = UDMABUF_DEVICE;
  dev = udmabuf_open (device);
  if (dev < 0) {
    g_set_error (error, GST_MMU_UDMABUF_ERROR, -dev, "%s", udmabuf_strerror ());
    return NULL;
  }
  self = g_object_new (GST_TYPE_MMU_UDMABUF_ALLOCATOR, NULL);
  gst_object_ref_sink (self);
  self->dev = dev;
  self->device = g_strdup (device);
  self->keep_memfd = keep_memfd;
  return GST_ALLOCATOR (self);
}

guint64
gst_mmu_udmabuf_allocator_get_created (GstMmuUdmabufAllocator * self)
{
  g_return_val_if_fail (GST_IS_MMU_UDMABUF_ALLOCATOR (self), 0);
  return (guint64) g_atomic_int_get (&self->created);
}

gboolean
gst_mmu_udmabuf_allocator_keeps_memfd (GstMmuUdmabufAllocator * self)
{
  g_return_val_if_fail (GST_IS_MMU_UDMABUF_ALLOCATOR (self), FALSE);
  return self->keep_memfd;
}

gboolean
gst_is_mmu_udmabuf_memory (GstMemory * mem)
{
  return mem && mem->allocator
      && GST_IS_MMU_UDMABUF_ALLOCATOR (mem->allocator);
}

gboolean
gst_mmu_udmabuf_memory_punch_rewrite (GstMemory * mem, GError ** error)
{
  GstMmuUdmabufMemfd *m;
  GstMapInfo info;
  guint8 *saved;
  gsize i;

  if (!gst_is_mmu_udmabuf_memory (mem)) {
    g_set_error (error, GST_MMU_UDMABUF_ERROR, EINVAL,
        "memory %p is not udmabuf memory", mem);
    return FALSE;
  }
  m = gst_mini_object_get_qdata (GST_MINI_OBJECT (mem),
      gst_mmu_udmabuf_memfd_quark ());
  if (!m) {
    g_set_error (error, GST_MMU_UDMABUF_ERROR, EINVAL,
        "the allocator of memory %p keeps no memfds", mem);
    return FALSE;
  }
  if (!gst_memory_map (mem, &info, GST_MAP_READ)) {
    g_set_error (error, GST_MMU_UDMABUF_ERROR, EIO,
        "cannot map memory %p for reading", mem);
    return FALSE;
  }
  saved = g_memdup2 (info.data, info.size);
  gst_memory_unmap (mem, &info);
  if (fallocate (m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
          m->size)) {
    gint err = errno;

    g_set_error (error, GST_MMU_UDMABUF_ERROR, err,
        "cannot punch %" G_GSIZE_FORMAT " bytes of memfd %d: %s", m->size,
        m->memfd, g_strerror (err));
    g_free (saved);
    return FALSE;
  }
  /* Not what was there: a view that kept the old pages shows the frame. */
  for (i = 0; i < mem->size; i++)
    m->map[mem->offset + i] = ~saved[i];
  g_free (saved);
  return TRUE;
}
