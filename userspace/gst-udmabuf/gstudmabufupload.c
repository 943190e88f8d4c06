/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:element-udmabufupload
 * @title: udmabufupload
 *
 * Puts raw video frames into udmabuf memory: dma-buf memory
 * (#GstDmaBufAllocator) whose pages are those of a sealed memfd, shared
 * through /dev/udmabuf.
 *
 * The element proposes a #GstMmuUdmabufBufferPool upstream in the
 * ALLOCATION query.  It offers upstream the video meta only when
 * downstream accepted it: then the pool aligns every stride to
 * #GstMmuUdmabufUpload:stride-align (256 bytes by default, as many GPUs
 * need); otherwise upstream renders into the default layout of the caps,
 * which any plain consumer (filesink, an appsink that maps the buffer)
 * reads.  An upstream element that takes the pool renders straight into
 * udmabuf memory and its buffers go through untouched, as long as their
 * layout is one downstream can read; other buffers are copied into a
 * buffer of the element's own pool, configured by the same rule.  The
 * element's pool holds at least as many buffers as downstream asks for.
 * Pools reuse their buffers: #GstMmuUdmabufUpload:udmabufs-created stays
 * at the pool size however many frames pass.
 *
 * The source pad offers video/x-raw(memory:DMABuf) besides system memory
 * caps, for downstream elements that ask for dma-bufs.
 *
 * #GstMmuUdmabufUpload:punch-rewrite is for testing drivers: before each
 * frame leaves the element, it is read through the dma-buf, the pages of
 * the memfd behind its buffer are punched out (FALLOC_FL_PUNCH_HOLE), and
 * the frame, every byte inverted, is written into fresh pages through the
 * memfd's own mapping, not through the dma-buf, the way a hypervisor
 * reclaims guest RAM and the guest later fills it again.  Downstream reads
 * through the dma-buf: it sees the inverted frame if the udmabuf follows
 * page replacement in its memfd, the frame as it was if it kept the old
 * pages.  Only with punch-rewrite does each buffer keep its memfd open.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,format=NV12 ! udmabufupload ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <string.h>

#include <gst/video/video.h>
#include <gst/allocators/allocators.h>

#include "gstudmabufupload.h"
#include "gstudmabufallocator.h"
#include "gstudmabufpool.h"

GST_DEBUG_CATEGORY_STATIC (gst_mmu_udmabuf_upload_debug);
#define GST_CAT_DEFAULT gst_mmu_udmabuf_upload_debug

#define DEFAULT_DEVICE		"/dev/udmabuf"
#define DEFAULT_STRIDE_ALIGN	256
#define MAX_STRIDE_ALIGN	4096
#define DEFAULT_MIN_BUFFERS	2
#define DEFAULT_MAX_BUFFERS	8
#define MAX_BUFFERS_LIMIT	64
#define DEFAULT_PUNCH_REWRITE	FALSE

enum
{
  PROP_0,
  PROP_DEVICE,
  PROP_STRIDE_ALIGN,
  PROP_MIN_BUFFERS,
  PROP_MAX_BUFFERS,
  PROP_PUNCH_REWRITE,
  PROP_UDMABUFS_CREATED,
  PROP_FRAMES_COPIED,
  PROP_FRAMES_ZERO_COPY,
  PROP_FRAMES_PUNCHED,
};

struct _GstMmuUdmabufUpload
{
  GstBaseTransform parent;

  /* properties, under the object lock */
  gchar *device;
  guint stride_align;
  guint min_buffers;
  guint max_buffers;
  gboolean punch_rewrite;
  guint64 created_before;       /* by allocators already dropped */
  guint64 frames_copied;
  guint64 frames_zero_copy;
  guint64 frames_punched;

  /* streaming */
  GstAllocator *allocator;
  GstVideoInfo in_info;
  GstVideoInfo out_info;
  gboolean downstream_meta;     /* downstream accepts the video meta */
};

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE (GST_VIDEO_FORMATS_ALL)
#define DMABUF_CAPS GST_VIDEO_CAPS_MAKE_WITH_FEATURES \
    (GST_CAPS_FEATURE_MEMORY_DMABUF, GST_VIDEO_FORMATS_ALL)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS "; "
        DMABUF_CAPS));

G_DEFINE_TYPE_WITH_CODE (GstMmuUdmabufUpload, gst_mmu_udmabuf_upload,
    GST_TYPE_BASE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (gst_mmu_udmabuf_upload_debug, "udmabufupload", 0,
        "udmabuf upload"));
GST_ELEMENT_REGISTER_DEFINE (udmabufupload, "udmabufupload", GST_RANK_NONE,
    GST_TYPE_MMU_UDMABUF_UPLOAD);

static gboolean
is_power_of_two (guint v)
{
  return v && !(v & (v - 1));
}

static void
gst_mmu_udmabuf_upload_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      g_free (self->device);
      self->device = g_value_dup_string (value);
      break;
    case PROP_STRIDE_ALIGN:
      /* Checked when the element starts, where it can fail. */
      self->stride_align = g_value_get_uint (value);
      break;
    case PROP_MIN_BUFFERS:
      self->min_buffers = g_value_get_uint (value);
      break;
    case PROP_MAX_BUFFERS:
      self->max_buffers = g_value_get_uint (value);
      break;
    case PROP_PUNCH_REWRITE:
      self->punch_rewrite = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);

  /* Logging an object takes its lock: only after the unlock. */
  if (prop_id == PROP_STRIDE_ALIGN &&
      !is_power_of_two (g_value_get_uint (value)))
    GST_WARNING_OBJECT (self, "stride-align %u is not a power of two: "
        "the element will not start", g_value_get_uint (value));
}

static guint64
udmabufs_created (GstMmuUdmabufUpload * self)
{
  guint64 n = self->created_before;

  if (self->allocator)
    n += gst_mmu_udmabuf_allocator_get_created (GST_MMU_UDMABUF_ALLOCATOR
        (self->allocator));
  return n;
}

static void
gst_mmu_udmabuf_upload_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_STRIDE_ALIGN:
      g_value_set_uint (value, self->stride_align);
      break;
    case PROP_MIN_BUFFERS:
      g_value_set_uint (value, self->min_buffers);
      break;
    case PROP_MAX_BUFFERS:
      g_value_set_uint (value, self->max_buffers);
      break;
    case PROP_PUNCH_REWRITE:
      g_value_set_boolean (value, self->punch_rewrite);
      break;
    case PROP_UDMABUFS_CREATED:
      g_value_set_uint64 (value, udmabufs_created (self));
      break;
    case PROP_FRAMES_COPIED:
      g_value_set_uint64 (value, self->frames_copied);
      break;
    case PROP_FRAMES_ZERO_COPY:
      g_value_set_uint64 (value, self->frames_zero_copy);
      break;
    case PROP_FRAMES_PUNCHED:
      g_value_set_uint64 (value, self->frames_punched);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_mmu_udmabuf_upload_start (GstBaseTransform * trans)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (trans);
  GstAllocator *allocator;
  GError *err = NULL;
  guint align, min, max;
  gboolean keep_memfd;
  gchar *device;

  GST_OBJECT_LOCK (self);
  device = g_strdup (self->device ? self->device : DEFAULT_DEVICE);
  align = self->stride_align;
  min = self->min_buffers;
  max = self->max_buffers;
  keep_memfd = self->punch_rewrite;
  GST_OBJECT_UNLOCK (self);

  if (!is_power_of_two (align)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("stride-align %u is not a power of two", align), (NULL));
    g_free (device);
    return FALSE;
  }
  if (max && min > max) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("min-buffers %u is more than max-buffers %u", min, max), (NULL));
    g_free (device);
    return FALSE;
  }
  allocator = gst_mmu_udmabuf_allocator_new (device, keep_memfd, &err);
  if (!allocator) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
        ("Cannot open the udmabuf device %s", device), ("%s", err->message));
    g_clear_error (&err);
    g_free (device);
    return FALSE;
  }
  g_free (device);
  GST_OBJECT_LOCK (self);
  self->allocator = allocator;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_mmu_udmabuf_upload_stop (GstBaseTransform * trans)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (trans);
  GstAllocator *allocator;

  GST_OBJECT_LOCK (self);
  allocator = self->allocator;
  if (allocator)
    self->created_before +=
        gst_mmu_udmabuf_allocator_get_created (GST_MMU_UDMABUF_ALLOCATOR (allocator));
  self->allocator = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_clear_object (&allocator);
  return TRUE;
}

static gboolean
gst_mmu_udmabuf_upload_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (trans);

  if (!gst_video_info_from_caps (&self->in_info, incaps) ||
      !gst_video_info_from_caps (&self->out_info, outcaps)) {
    GST_ERROR_OBJECT (self, "caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT
        " are not raw video", incaps, outcaps);
    return FALSE;
  }
  return TRUE;
}

/*
 * Upstream is system memory; downstream gets the same caps in system
 * memory first and then as memory:DMABuf, which it takes only if it asks
 * for dma-bufs.
 */
static GstCaps *
gst_mmu_udmabuf_upload_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  GstCaps *sys = gst_caps_copy (caps), *ret;
  guint i;

  for (i = 0; i < gst_caps_get_size (sys); i++)
    gst_caps_set_features (sys, i, NULL);
  sys = gst_caps_simplify (sys);
  if (direction == GST_PAD_SINK) {
    GstCaps *dma = gst_caps_copy (sys);

    for (i = 0; i < gst_caps_get_size (dma); i++)
      gst_caps_set_features (dma, i,
          gst_caps_features_new (GST_CAPS_FEATURE_MEMORY_DMABUF, NULL));
    ret = gst_caps_merge (sys, dma);
  } else {
    ret = sys;
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, ret,
        GST_CAPS_INTERSECT_FIRST);

    gst_caps_unref (ret);
    ret = tmp;
  }
  GST_DEBUG_OBJECT (trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, ret);
  return ret;
}

static gboolean
gst_mmu_udmabuf_upload_get_unit_size (GstBaseTransform * trans, GstCaps * caps,
    gsize * size)
{
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, caps))
    return FALSE;
  *size = GST_VIDEO_INFO_SIZE (&info);
  return TRUE;
}

/*
 * punch-rewrite was turned on after the element started (it is read when
 * pools are made): pools from now on need memory that keeps its memfd.
 */
static gboolean
gst_mmu_udmabuf_upload_update_allocator (GstMmuUdmabufUpload * self)
{
  GstAllocator *allocator, *old = NULL;
  GError *err = NULL;
  gboolean punch;
  gchar *device;

  GST_OBJECT_LOCK (self);
  punch = self->punch_rewrite;
  allocator = self->allocator;
  device = g_strdup (self->device ? self->device : DEFAULT_DEVICE);
  GST_OBJECT_UNLOCK (self);
  if (!allocator || !punch ||
      gst_mmu_udmabuf_allocator_keeps_memfd (GST_MMU_UDMABUF_ALLOCATOR
          (allocator))) {
    g_free (device);
    return TRUE;
  }
  allocator = gst_mmu_udmabuf_allocator_new (device, TRUE, &err);
  if (!allocator) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
        ("Cannot open the udmabuf device %s", device), ("%s", err->message));
    g_clear_error (&err);
    g_free (device);
    return FALSE;
  }
  g_free (device);
  GST_DEBUG_OBJECT (self, "punch-rewrite on: memory keeps its memfd");
  GST_OBJECT_LOCK (self);
  old = self->allocator;
  self->created_before +=
      gst_mmu_udmabuf_allocator_get_created (GST_MMU_UDMABUF_ALLOCATOR (old));
  self->allocator = allocator;
  GST_OBJECT_UNLOCK (self);
  gst_object_unref (old);
  return TRUE;
}

/*
 * A configured pool for @caps of at least @min buffers.  With @video_meta
 * its user follows the video meta and strides are aligned; with
 * @prealigned (a pool proposed upstream where downstream takes the meta)
 * the alignment is in the configuration already, so that an upstream
 * element that adds the video meta option gets it without a change.
 * Returns the pool and its buffer size, min and max, or NULL.
 */
static GstBufferPool *
gst_mmu_udmabuf_upload_make_pool (GstMmuUdmabufUpload * self, GstCaps * caps,
    gboolean video_meta, gboolean prealigned, guint * size, guint * min,
    guint * max)
{
  GstBufferPool *pool;
  GstStructure *config;
  GstVideoInfo info;
  guint align, i;

  if (!gst_video_info_from_caps (&info, caps)) {
    GST_WARNING_OBJECT (self, "no video info in %" GST_PTR_FORMAT, caps);
    return NULL;
  }
  if (!gst_mmu_udmabuf_upload_update_allocator (self))
    return NULL;
  GST_OBJECT_LOCK (self);
  if (!self->allocator) {
    GST_OBJECT_UNLOCK (self);
    GST_WARNING_OBJECT (self, "not started: no allocator");
    return NULL;
  }
  pool = gst_mmu_udmabuf_buffer_pool_new (self->allocator, self->stride_align);
  align = self->stride_align;
  *min = MAX (*min, self->min_buffers);
  *max = self->max_buffers;
  GST_OBJECT_UNLOCK (self);
  if (*max && *max < *min)
    *max = *min;

  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, GST_VIDEO_INFO_SIZE (&info),
      *min, *max);
  if (video_meta)
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (video_meta || prealigned) {
    GstVideoAlignment valign;

    gst_video_alignment_reset (&valign);
    for (i = 0; i < GST_VIDEO_MAX_PLANES; i++)
      valign.stride_align[i] = align - 1;
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    gst_buffer_pool_config_set_video_alignment (config, &valign);
  }
  /* The pool puts in its allocator and alignment: take what it says. */
  if (!gst_buffer_pool_set_config (pool, config) &&
      !gst_buffer_pool_set_config (pool, gst_buffer_pool_get_config (pool))) {
    GST_ERROR_OBJECT (self, "pool refused its configuration for %"
        GST_PTR_FORMAT " (stride alignment %u)", caps, align);
    gst_object_unref (pool);
    return NULL;
  }
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_get_params (config, NULL, size, NULL, NULL);
  gst_structure_free (config);
  return pool;
}

/*
 * Upstream asks what to render into: the udmabuf pool if it wants one
 * (need-pool), and the video meta only if downstream takes it.
 */
static gboolean
gst_mmu_udmabuf_upload_propose_allocation (GstBaseTransform * trans,
    GstQuery * decide_query, GstQuery * query)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (trans);
  GstAllocationParams params;
  gboolean need_pool, meta;
  guint size, min = 0, max;
  GstCaps *caps;

  gst_query_parse_allocation (query, &caps, &need_pool);
  if (!caps) {
    GST_DEBUG_OBJECT (self, "allocation query without caps");
    return FALSE;
  }
  meta = decide_query && gst_query_find_allocation_meta (decide_query,
      GST_VIDEO_META_API_TYPE, NULL);
  if (need_pool) {
    GstBufferPool *pool;

    /* Downstream's minimum counts for upstream's pool too. */
    if (decide_query && gst_query_get_n_allocation_pools (decide_query) > 0)
      gst_query_parse_nth_allocation_pool (decide_query, 0, NULL, NULL, &min,
          NULL);
    pool = gst_mmu_udmabuf_upload_make_pool (self, caps, FALSE, meta, &size,
        &min, &max);
    if (!pool)
      return FALSE;
    gst_query_add_allocation_pool (query, pool, size, min, max);
    gst_object_unref (pool);
    GST_DEBUG_OBJECT (self, "proposed a udmabuf pool of %u..%u buffers of %u "
        "bytes", min, max, size);
  }
  gst_allocation_params_init (&params);
  GST_OBJECT_LOCK (self);
  if (self->allocator)
    gst_query_add_allocation_param (query, self->allocator, &params);
  GST_OBJECT_UNLOCK (self);
  if (meta)
    gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return TRUE;
}

/*
 * Downstream answered: output buffers come from a udmabuf pool of at least
 * downstream's minimum, with the video meta if downstream takes it.
 */
static gboolean
gst_mmu_udmabuf_upload_decide_allocation (GstBaseTransform * trans,
    GstQuery * query)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (trans);
  GstAllocationParams params;
  GstBufferPool *pool;
  guint size, min = 0, max = 0;
  gboolean video_meta;
  GstCaps *caps;

  gst_query_parse_allocation (query, &caps, NULL);
  if (!caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("No caps in the allocation query"), (NULL));
    return FALSE;
  }
  video_meta = gst_query_find_allocation_meta (query,
      GST_VIDEO_META_API_TYPE, NULL);
  if (gst_query_get_n_allocation_pools (query) > 0)
    gst_query_parse_nth_allocation_pool (query, 0, NULL, NULL, &min, NULL);
  pool = gst_mmu_udmabuf_upload_make_pool (self, caps, video_meta, FALSE,
      &size, &min, &max);
  if (!pool) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot configure a udmabuf buffer pool"),
        ("for caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  if (gst_query_get_n_allocation_pools (query) > 0)
    gst_query_set_nth_allocation_pool (query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool (query, pool, size, min, max);
  gst_allocation_params_init (&params);
  GST_OBJECT_LOCK (self);
  if (gst_query_get_n_allocation_params (query) > 0)
    gst_query_set_nth_allocation_param (query, 0, self->allocator, &params);
  else
    gst_query_add_allocation_param (query, self->allocator, &params);
  self->downstream_meta = video_meta;
  GST_OBJECT_UNLOCK (self);
  gst_object_unref (pool);
  GST_DEBUG_OBJECT (self, "output pool of %u..%u buffers of %u bytes, "
      "%s video meta", min, max, size, video_meta ? "with" : "without");
  return TRUE;
}

static gboolean
is_udmabuf_buffer (GstBuffer * buf)
{
  return gst_buffer_n_memory (buf) == 1 &&
      gst_is_mmu_udmabuf_memory (gst_buffer_peek_memory (buf, 0));
}

/* Can downstream read @buf's layout: the default one, or it takes the meta? */
static gboolean
layout_ok (GstMmuUdmabufUpload * self, GstBuffer * buf)
{
  GstVideoMeta *vmeta = gst_buffer_get_video_meta (buf);
  GstVideoInfo *info = &self->out_info;
  gboolean meta_ok;
  guint i;

  GST_OBJECT_LOCK (self);
  meta_ok = self->downstream_meta;
  GST_OBJECT_UNLOCK (self);
  if (meta_ok || !vmeta)
    return TRUE;
  if (vmeta->n_planes != GST_VIDEO_INFO_N_PLANES (info))
    return FALSE;
  for (i = 0; i < vmeta->n_planes; i++)
    if (vmeta->offset[i] != GST_VIDEO_INFO_PLANE_OFFSET (info, i) ||
        vmeta->stride[i] != GST_VIDEO_INFO_PLANE_STRIDE (info, i))
      return FALSE;
  return TRUE;
}

static GstFlowReturn
gst_mmu_udmabuf_upload_prepare_output_buffer (GstBaseTransform * trans,
    GstBuffer * inbuf, GstBuffer ** outbuf)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (trans);

  /* Rendered into udmabuf memory already: goes through as it is. */
  if (is_udmabuf_buffer (inbuf) && layout_ok (self, inbuf)) {
    *outbuf = inbuf;
    return GST_FLOW_OK;
  }
  return
      GST_BASE_TRANSFORM_CLASS
      (gst_mmu_udmabuf_upload_parent_class)->prepare_output_buffer (trans,
      inbuf, outbuf);
}

static GstFlowReturn
punch_rewrite (GstMmuUdmabufUpload * self, GstBuffer * buf)
{
  GError *err = NULL;

  if (!gst_mmu_udmabuf_memory_punch_rewrite (gst_buffer_peek_memory (buf, 0),
          &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Cannot punch and rewrite the frame's memfd pages"), ("%s",
            err->message));
    g_clear_error (&err);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_mmu_udmabuf_upload_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (trans);
  gboolean punch, ok;
  GstVideoFrame in, out;
  GstFlowReturn ret;

  GST_OBJECT_LOCK (self);
  punch = self->punch_rewrite;
  GST_OBJECT_UNLOCK (self);

  if (inbuf == outbuf) {
    ret = punch ? punch_rewrite (self, outbuf) : GST_FLOW_OK;
    GST_OBJECT_LOCK (self);
    self->frames_zero_copy++;
    if (punch && ret == GST_FLOW_OK)
      self->frames_punched++;
    GST_OBJECT_UNLOCK (self);
    return ret;
  }

  if (!is_udmabuf_buffer (outbuf)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Output buffer is not udmabuf memory"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (!gst_video_frame_map (&in, &self->in_info, inbuf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Cannot map the input frame"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (!gst_video_frame_map (&out, &self->out_info, outbuf, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Cannot map the udmabuf frame"), (NULL));
    gst_video_frame_unmap (&in);
    return GST_FLOW_ERROR;
  }
  ok = gst_video_frame_copy (&out, &in);
  gst_video_frame_unmap (&out);
  gst_video_frame_unmap (&in);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Cannot copy the frame into udmabuf memory"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (punch && punch_rewrite (self, outbuf) != GST_FLOW_OK)
    return GST_FLOW_ERROR;
  GST_OBJECT_LOCK (self);
  self->frames_copied++;
  if (punch)
    self->frames_punched++;
  GST_OBJECT_UNLOCK (self);
  return GST_FLOW_OK;
}

static void
gst_mmu_udmabuf_upload_finalize (GObject * object)
{
  GstMmuUdmabufUpload *self = GST_MMU_UDMABUF_UPLOAD (object);

  g_free (self->device);
  gst_clear_object (&self->allocator);
  G_OBJECT_CLASS (gst_mmu_udmabuf_upload_parent_class)->finalize (object);
}

static void
gst_mmu_udmabuf_upload_class_init (GstMmuUdmabufUploadClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_mmu_udmabuf_upload_set_property;
  gobject_class->get_property = gst_mmu_udmabuf_upload_get_property;
  gobject_class->finalize = gst_mmu_udmabuf_upload_finalize;

  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Path of the udmabuf device, opened when the element starts",
          DEFAULT_DEVICE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STRIDE_ALIGN,
      g_param_spec_uint ("stride-align", "Stride alignment",
          "Alignment in bytes of every plane's stride, a power of two, when "
          "downstream supports the video meta (otherwise the default layout "
          "of the caps is kept)", 1, MAX_STRIDE_ALIGN,
          DEFAULT_STRIDE_ALIGN, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MIN_BUFFERS,
      g_param_spec_uint ("min-buffers", "Minimum buffers",
          "Buffers each udmabuf pool allocates when it starts, at least "
          "(or as many as downstream asks for)", 0,
          MAX_BUFFERS_LIMIT, DEFAULT_MIN_BUFFERS, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MAX_BUFFERS,
      g_param_spec_uint ("max-buffers", "Maximum buffers",
          "Most buffers (udmabufs) in each pool, 0 for no limit; a full "
          "pool makes its user wait for a buffer to come back", 0,
          MAX_BUFFERS_LIMIT, DEFAULT_MAX_BUFFERS, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PUNCH_REWRITE,
      g_param_spec_boolean ("punch-rewrite", "Punch and rewrite",
          "For testing: before each frame leaves, punch the memfd pages "
          "behind its buffer (FALLOC_FL_PUNCH_HOLE) and write the frame, "
          "every byte inverted, into new pages through the memfd mapping, "
          "as a hypervisor reclaims guest RAM and the guest fills it again; "
          "downstream reads the inverted frame through the udmabuf only if "
          "it follows; takes effect when the next pool is made",
          DEFAULT_PUNCH_REWRITE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_UDMABUFS_CREATED,
      g_param_spec_uint64 ("udmabufs-created", "udmabufs created",
          "udmabufs (one per pool buffer) this element has created", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_FRAMES_COPIED,
      g_param_spec_uint64 ("frames-copied", "Frames copied",
          "Frames copied into udmabuf memory because upstream did not "
          "render into it", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_FRAMES_ZERO_COPY,
      g_param_spec_uint64 ("frames-zero-copy", "Frames passed through",
          "Frames upstream rendered into udmabuf memory, passed on "
          "without a copy", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_FRAMES_PUNCHED,
      g_param_spec_uint64 ("frames-punched", "Frames punched",
          "Frames whose memfd pages were punched and rewritten "
          "(punch-rewrite)", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "udmabuf upload", "Filter/Video",
      "Puts raw video into udmabuf-backed dma-buf memory: proposes a "
      "udmabuf buffer pool upstream and copies only what upstream did not "
      "render into it", "mmu-update project");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_set_caps);
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_transform_caps);
  trans_class->get_unit_size =
      GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_get_unit_size);
  trans_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_propose_allocation);
  trans_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_decide_allocation);
  trans_class->prepare_output_buffer =
      GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_prepare_output_buffer);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_mmu_udmabuf_upload_transform);
  trans_class->passthrough_on_same_caps = FALSE;
}

static void
gst_mmu_udmabuf_upload_init (GstMmuUdmabufUpload * self)
{
  self->device = g_strdup (DEFAULT_DEVICE);
  self->stride_align = DEFAULT_STRIDE_ALIGN;
  self->min_buffers = DEFAULT_MIN_BUFFERS;
  self->max_buffers = DEFAULT_MAX_BUFFERS;
  self->punch_rewrite = DEFAULT_PUNCH_REWRITE;
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), FALSE);
}
