/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstUdmabufBufferPool: a video buffer pool of udmabuf memory.
 */
#ifndef __GST_UDMABUF_POOL_H__
#define __GST_UDMABUF_POOL_H__

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideopool.h>

G_BEGIN_DECLS
#define GST_TYPE_UDMABUF_BUFFER_POOL (gst_udmabuf_buffer_pool_get_type ())
G_DECLARE_FINAL_TYPE (GstUdmabufBufferPool, gst_udmabuf_buffer_pool,
    GST, UDMABUF_BUFFER_POOL, GstVideoBufferPool);

GstBufferPool *gst_udmabuf_buffer_pool_new (GstAllocator * allocator,
    guint stride_align);

G_END_DECLS
#endif /* __GST_UDMABUF_POOL_H__ */
