/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstUdmabufAllocator: GstDmaBufAllocator memory over udmabufs.
 */
#ifndef __GST_UDMABUF_ALLOCATOR_H__
#define __GST_UDMABUF_ALLOCATOR_H__

#include <gst/gst.h>
#include <gst/allocators/allocators.h>

G_BEGIN_DECLS
#define GST_TYPE_UDMABUF_ALLOCATOR (gst_udmabuf_allocator_get_type ())
G_DECLARE_FINAL_TYPE (GstUdmabufAllocator, gst_udmabuf_allocator,
    GST, UDMABUF_ALLOCATOR, GstDmaBufAllocator);

#define GST_UDMABUF_ERROR (gst_udmabuf_error_quark ())
GQuark gst_udmabuf_error_quark (void);

GstAllocator *gst_udmabuf_allocator_new (const gchar * device, GError ** error);
guint64 gst_udmabuf_allocator_get_created (GstUdmabufAllocator * self);

gboolean gst_is_udmabuf_memory (GstMemory * mem);
/* The memfd behind @mem and a shared mapping of all of it. */
gboolean gst_udmabuf_memory_get_memfd (GstMemory * mem, gint * memfd,
    guint8 ** map, gsize * memfd_size);
/* Punch every page of the memfd behind @mem (contents become zero). */
gboolean gst_udmabuf_memory_punch (GstMemory * mem, GError ** error);

G_END_DECLS
#endif /* __GST_UDMABUF_ALLOCATOR_H__ */
