/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstMmuUdmabufBufferPool: a video buffer pool of udmabuf memory.
 */
#ifndef __GST_MMU_UDMABUF_POOL_H__
#define __GST_MMU_UDMABUF_POOL_H__

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideopool.h>

G_BEGIN_DECLS
#define GST_TYPE_MMU_UDMABUF_BUFFER_POOL (gst_mmu_udmabuf_buffer_pool_get_type ())
G_DECLARE_FINAL_TYPE (GstMmuUdmabufBufferPool, gst_mmu_udmabuf_buffer_pool,
    GST, MMU_UDMABUF_BUFFER_POOL, GstVideoBufferPool);

GstBufferPool *gst_mmu_udmabuf_buffer_pool_new (GstAllocator * allocator,
    guint stride_align);

G_END_DECLS
#endif /* __GST_MMU_UDMABUF_POOL_H__ */
