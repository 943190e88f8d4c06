/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstMmuUdmabufBufferPool: a GstVideoBufferPool whose buffers are one
 * udmabuf memory each.  Whatever allocator a configuration names, the
 * pool's own udmabuf allocator is used.  When the configuration asks for the video
 * meta (the user of the buffers follows strides and offsets), every plane's
 * stride is aligned to the pool's stride alignment on top of whatever
 * alignment the configuration already asks for; without the video meta the
 * default layout of the caps is kept, as the user expects it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstudmabufpool.h"
#include "gstudmabufallocator.h"

GST_DEBUG_CATEGORY_STATIC (gst_mmu_udmabuf_pool_debug);
#define GST_CAT_DEFAULT gst_mmu_udmabuf_pool_debug

struct _GstMmuUdmabufBufferPool
{
  GstVideoBufferPool parent;

  GstAllocator *allocator;
  guint stride_align;
};

G_DEFINE_TYPE_WITH_CODE (GstMmuUdmabufBufferPool, gst_mmu_udmabuf_buffer_pool,
    GST_TYPE_VIDEO_BUFFER_POOL,
    GST_DEBUG_CATEGORY_INIT (gst_mmu_udmabuf_pool_debug, "udmabufpool", 0,
        "udmabuf video buffer pool"));

/*
 * The pool's allocator, and with the video meta its stride alignment, are
 * imposed on the configuration.  As the GstBufferPool contract asks, a
 * configuration that had to change is stored changed and refused (FALSE):
 * the caller reads it back with gst_buffer_pool_get_config() and sets it
 * again, which then succeeds.
 */
static gboolean
gst_mmu_udmabuf_buffer_pool_set_config (GstBufferPool * pool,
    GstStructure * config)
{
  GstMmuUdmabufBufferPool *self = GST_MMU_UDMABUF_BUFFER_POOL (pool);
  GstAllocator *allocator = NULL;
  GstAllocationParams params;
  gboolean changed = FALSE, ok;

  if (!gst_buffer_pool_config_get_allocator (config, &allocator, &params)) {
    GST_ERROR_OBJECT (self, "configuration without allocation parameters");
    return FALSE;
  }
  if (allocator != self->allocator) {
    GST_DEBUG_OBJECT (self, "using udmabuf memory, not %" GST_PTR_FORMAT,
        allocator);
    gst_buffer_pool_config_set_allocator (config, self->allocator, &params);
    changed = TRUE;
  }

  if (gst_buffer_pool_config_has_option (config,
          GST_BUFFER_POOL_OPTION_VIDEO_META)) {
    GstVideoAlignment align;
    guint i;

    if (!gst_buffer_pool_config_has_option (config,
            GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT)) {
      gst_buffer_pool_config_add_option (config,
          GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
      changed = TRUE;
    }
    if (!gst_buffer_pool_config_get_video_alignment (config, &align)) {
      gst_video_alignment_reset (&align);
      changed = TRUE;
    }
    for (i = 0; i < GST_VIDEO_MAX_PLANES; i++) {
      if ((align.stride_align[i] & (self->stride_align - 1)) !=
          self->stride_align - 1)
        changed = TRUE;
      align.stride_align[i] |= self->stride_align - 1;
    }
    gst_buffer_pool_config_set_video_alignment (config, &align);
  }

  ok = GST_BUFFER_POOL_CLASS (gst_mmu_udmabuf_buffer_pool_parent_class)->
      set_config (pool, config);
  if (ok && changed)
    GST_DEBUG_OBJECT (self, "configuration changed: refused, to be read back");
  return ok && !changed;
}

static void
gst_mmu_udmabuf_buffer_pool_finalize (GObject * object)
{
  GstMmuUdmabufBufferPool *self = GST_MMU_UDMABUF_BUFFER_POOL (object);

  gst_clear_object (&self->allocator);
  G_OBJECT_CLASS (gst_mmu_udmabuf_buffer_pool_parent_class)->finalize (object);
}

static void
gst_mmu_udmabuf_buffer_pool_class_init (GstMmuUdmabufBufferPoolClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS (klass);

  gobject_class->finalize = gst_mmu_udmabuf_buffer_pool_finalize;
  pool_class->set_config = gst_mmu_udmabuf_buffer_pool_set_config;
}

static void
gst_mmu_udmabuf_buffer_pool_init (GstMmuUdmabufBufferPool * self)
{
  self->stride_align = 1;
}

/**
 * gst_mmu_udmabuf_buffer_pool_new:
 * @allocator: a #GstMmuUdmabufAllocator
 * @stride_align: stride alignment in bytes (a power of two) when the
 *   configuration asks for the video meta
 *
 * Returns: (transfer full): a new pool, not configured yet.
 */
GstBufferPool *
gst_mmu_udmabuf_buffer_pool_new (GstAllocator * allocator, guint stride_align)
{
  GstMmuUdmabufBufferPool *self;

  g_return_val_if_fail (GST_IS_MMU_UDMABUF_ALLOCATOR (allocator), NULL);
  g_return_val_if_fail (stride_align && !(stride_align & (stride_align - 1)),
      NULL);

  self = g_object_new (GST_TYPE_MMU_UDMABUF_BUFFER_POOL, NULL);
  gst_object_ref_sink (self);
  self->allocator = gst_object_ref (allocator);
  self->stride_align = stride_align;
  return GST_BUFFER_POOL (self);
}
