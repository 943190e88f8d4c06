/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstMmuUdmabufAllocator: GstDmaBufAllocator memory over udmabufs.
 */
#ifndef __GST_MMU_UDMABUF_ALLOCATOR_H__
#define __GST_MMU_UDMABUF_ALLOCATOR_H__

#include <gst/gst.h>
#include <gst/allocators/allocators.h>

G_BEGIN_DECLS
#define GST_TYPE_MMU_UDMABUF_ALLOCATOR (gst_mmu_udmabuf_allocator_get_type ())
G_DECLARE_FINAL_TYPE (GstMmuUdmabufAllocator, gst_mmu_udmabuf_allocator,
    GST, MMU_UDMABUF_ALLOCATOR, GstDmaBufAllocator);

/* The memory type, not GStreamer 1.28's "udmabuf" (GST_ALLOCATOR_UDMABUF). */
#define GST_MMU_UDMABUF_MEMORY_TYPE "mmuudmabuf"

#define GST_MMU_UDMABUF_ERROR (gst_mmu_udmabuf_error_quark ())
GQuark gst_mmu_udmabuf_error_quark (void);

GstAllocator *gst_mmu_udmabuf_allocator_new (const gchar * device,
    gboolean keep_memfd, GError ** error);
guint64 gst_mmu_udmabuf_allocator_get_created (GstMmuUdmabufAllocator * self);
gboolean gst_mmu_udmabuf_allocator_keeps_memfd (GstMmuUdmabufAllocator * self);

gboolean gst_is_mmu_udmabuf_memory (GstMemory * mem);
/*
 * Read @mem through the dma-buf, punch every page of the memfd behind it,
 * and write what was read, every byte inverted, into new pages through
 * the memfd: a udmabuf that follows then shows the inverted frame, one
 * that kept its pages the frame as it was.  Needs an allocator that keeps
 * memfds.
 */
gboolean gst_mmu_udmabuf_memory_punch_rewrite (GstMemory * mem,
    GError ** error);

G_END_DECLS
#endif /* __GST_MMU_UDMABUF_ALLOCATOR_H__ */
