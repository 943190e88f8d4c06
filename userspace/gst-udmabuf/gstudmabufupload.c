/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * SECTION:element-udmabufupload
 * @title: udmabufupload
 *
 * Puts raw video frames into udmabuf memory: dma-buf memory
 * (#GstDmaBufAllocator) whose pages are those of a sealed memfd, shared
 * through /dev/udmabuf.
 *
 * The element proposes a #GstUdmabufBufferPool upstream in the ALLOCATION
 * query, with the video meta.  An upstream element that takes the pool
 * renders straight into udmabuf memory and its buffers go through
 * untouched; buffers of any other memory are copied into a buffer of the
 * element's own pool, whose strides are aligned (#GstUdmabufUpload:stride-align)
 * when downstream supports the video meta.  Pools reuse their buffers:
 * #GstUdmabufUpload:udmabufs-created stays at the pool size however many
 * frames pass.
 *
 * #GstUdmabufUpload:punch-rewrite is for testing drivers: before each frame
 * leaves the element, the pages of the memfd behind its buffer are
 * punched out (FALLOC_FL_PUNCH_HOLE) and the frame is written again into
 * fresh pages through the memfd's own mapping, not through the dma-buf,
 * the way a hypervisor reclaims guest RAM and the guest later fills it
 * again.  Downstream reads the frame through the dma-buf, so it sees the
 * right pixels only if the udmabuf follows page replacement in its memfd.
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

GST_DEBUG_CATEGORY_STATIC (gst_udmabuf_upload_debug);
#define GST_CAT_DEFAULT gst_udmabuf_upload_debug

#define DEFAULT_DEVICE		"/dev/udmabuf"
#define DEFAULT_STRIDE_ALIGN	64
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

struct _GstUdmabufUpload
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
  GByteArray *scratch;          /* a frame saved across its punch */
};

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE (GST_VIDEO_FORMATS_ALL)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));

G_DEFINE_TYPE_WITH_CODE (GstUdmabufUpload, gst_udmabuf_upload,
    GST_TYPE_BASE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (gst_udmabuf_upload_debug, "udmabufupload", 0,
        "udmabuf upload"));
GST_ELEMENT_REGISTER_DEFINE (udmabufupload, "udmabufupload", GST_RANK_NONE,
    GST_TYPE_UDMABUF_UPLOAD);

static gboolean
is_power_of_two (guint v)
{
  return v && !(v & (v - 1));
}

static void
gst_udmabuf_upload_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (object);

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
udmabufs_created (GstUdmabufUpload * self)
{
  guint64 n = self->created_before;

  if (self->allocator)
    n += gst_udmabuf_allocator_get_created (GST_UDMABUF_ALLOCATOR
        (self->allocator));
  return n;
}

static void
gst_udmabuf_upload_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (object);

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
gst_udmabuf_upload_start (GstBaseTransform * trans)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (trans);
  GstAllocator *allocator;
  GError *err = NULL;
  guint align, min, max;
  gchar *device;

  GST_OBJECT_LOCK (self);
  device = g_strdup (self->device ? self->device : DEFAULT_DEVICE);
  align = self->stride_align;
  min = self->min_buffers;
  max = self->max_buffers;
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
  allocator = gst_udmabuf_allocator_new (device, &err);
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
gst_udmabuf_upload_stop (GstBaseTransform * trans)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (trans);
  GstAllocator *allocator;

  GST_OBJECT_LOCK (self);
  allocator = self->allocator;
  if (allocator)
    self->created_before +=
        gst_udmabuf_allocator_get_created (GST_UDMABUF_ALLOCATOR (allocator));
  self->allocator = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_clear_object (&allocator);
  g_byte_array_set_size (self->scratch, 0);
  return TRUE;
}

static gboolean
gst_udmabuf_upload_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (trans);

  if (!gst_video_info_from_caps (&self->in_info, incaps) ||
      !gst_video_info_from_caps (&self->out_info, outcaps)) {
    GST_ERROR_OBJECT (self, "caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT
        " are not raw video", incaps, outcaps);
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_udmabuf_upload_get_unit_size (GstBaseTransform * trans, GstCaps * caps,
    gsize * size)
{
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, caps))
    return FALSE;
  *size = GST_VIDEO_INFO_SIZE (&info);
  return TRUE;
}

/*
 * A configured pool for @caps; with @video_meta, strides are aligned.
 * Returns the pool and its buffer size, min and max, or NULL.
 */
static GstBufferPool *
gst_udmabuf_upload_make_pool (GstUdmabufUpload * self, GstCaps * caps,
    gboolean video_meta, guint * size, guint * min, guint * max)
{
  GstBufferPool *pool;
  GstStructure *config;
  GstVideoInfo info;
  guint align;

  if (!gst_video_info_from_caps (&info, caps)) {
    GST_WARNING_OBJECT (self, "no video info in %" GST_PTR_FORMAT, caps);
    return NULL;
  }
  GST_OBJECT_LOCK (self);
  if (!self->allocator) {
    GST_OBJECT_UNLOCK (self);
    GST_WARNING_OBJECT (self, "not started: no allocator");
    return NULL;
  }
  pool = gst_udmabuf_buffer_pool_new (self->allocator, self->stride_align);
  align = self->stride_align;
  *min = self->min_buffers;
  *max = self->max_buffers;
  GST_OBJECT_UNLOCK (self);

  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, GST_VIDEO_INFO_SIZE (&info),
      *min, *max);
  if (video_meta)
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config (pool, config)) {
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

/* Upstream asks what to render into: the udmabuf pool. */
static gboolean
gst_udmabuf_upload_propose_allocation (GstBaseTransform * trans,
    GstQuery * decide_query, GstQuery * query)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (trans);
  GstAllocationParams params;
  GstBufferPool *pool;
  guint size, min, max;
  GstCaps *caps;

  gst_query_parse_allocation (query, &caps, NULL);
  if (!caps) {
    GST_DEBUG_OBJECT (self, "allocation query without caps");
    return FALSE;
  }
  /*
   * Proposed with the default layout: an upstream element that follows
   * strides adds the video meta option, which aligns them.
   */
  pool = gst_udmabuf_upload_make_pool (self, caps, FALSE, &size, &min, &max);
  if (!pool)
    return FALSE;
  gst_query_add_allocation_pool (query, pool, size, min, max);
  gst_allocation_params_init (&params);
  GST_OBJECT_LOCK (self);
  if (self->allocator)
    gst_query_add_allocation_param (query, self->allocator, &params);
  GST_OBJECT_UNLOCK (self);
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  gst_object_unref (pool);
  GST_DEBUG_OBJECT (self, "proposed a udmabuf pool of %u..%u buffers of %u "
      "bytes", min, max, size);
  return TRUE;
}

/* Downstream answered: output buffers always come from a udmabuf pool. */
static gboolean
gst_udmabuf_upload_decide_allocation (GstBaseTransform * trans,
    GstQuery * query)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (trans);
  GstAllocationParams params;
  GstBufferPool *pool;
  guint size, min, max;
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
  pool = gst_udmabuf_upload_make_pool (self, caps, video_meta, &size, &min,
      &max);
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
      gst_is_udmabuf_memory (gst_buffer_peek_memory (buf, 0));
}

static GstFlowReturn
gst_udmabuf_upload_prepare_output_buffer (GstBaseTransform * trans,
    GstBuffer * inbuf, GstBuffer ** outbuf)
{
  /* Rendered into udmabuf memory already: goes through as it is. */
  if (is_udmabuf_buffer (inbuf)) {
    *outbuf = inbuf;
    return GST_FLOW_OK;
  }
  return
      GST_BASE_TRANSFORM_CLASS
      (gst_udmabuf_upload_parent_class)->prepare_output_buffer (trans, inbuf,
      outbuf);
}

static gboolean
punch (GstUdmabufUpload * self, GstMemory * mem)
{
  GError *err = NULL;

  if (!gst_udmabuf_memory_punch (mem, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Cannot punch the frame's memfd pages"), ("%s", err->message));
    g_clear_error (&err);
    return FALSE;
  }
  return TRUE;
}

/*
 * Punch-and-rewrite of a frame that is in udmabuf memory already: save it
 * (read through the dma-buf), punch the memfd pages, write it back through
 * the memfd mapping.
 */
static GstFlowReturn
punch_in_place (GstUdmabufUpload * self, GstBuffer * buf)
{
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  GstMapInfo info;
  guint8 *map;

  if (!gst_udmabuf_memory_get_memfd (mem, NULL, &map, NULL)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Frame is not in udmabuf memory"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (!gst_memory_map (mem, &info, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Cannot map the frame for reading"), (NULL));
    return GST_FLOW_ERROR;
  }
  g_byte_array_set_size (self->scratch, info.size);
  memcpy (self->scratch->data, info.data, info.size);
  gst_memory_unmap (mem, &info);
  if (!punch (self, mem))
    return GST_FLOW_ERROR;
  memcpy (map + mem->offset, self->scratch->data, self->scratch->len);
  return GST_FLOW_OK;
}

/*
 * A buffer over the memfd mapping behind @buf's memory with @buf's layout:
 * writing a frame into it writes the memfd pages, not the dma-buf.
 */
static GstBuffer *
memfd_view (GstBuffer * buf)
{
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  GstVideoMeta *vmeta;
  GstBuffer *view;
  gsize memfd_size;
  guint8 *map;

  if (!gst_udmabuf_memory_get_memfd (mem, NULL, &map, &memfd_size))
    return NULL;
  view = gst_buffer_new_wrapped_full (0, map, memfd_size, mem->offset,
      mem->size, NULL, NULL);
  vmeta = gst_buffer_get_video_meta (buf);
  if (vmeta)
    gst_buffer_add_video_meta_full (view, vmeta->flags, vmeta->format,
        vmeta->width, vmeta->height, vmeta->n_planes, vmeta->offset,
        vmeta->stride);
  return view;
}

static GstFlowReturn
gst_udmabuf_upload_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (trans);
  GstBuffer *target, *view = NULL;
  gboolean punch_rewrite, ok;
  GstVideoFrame in, out;
  GstFlowReturn ret;

  GST_OBJECT_LOCK (self);
  punch_rewrite = self->punch_rewrite;
  GST_OBJECT_UNLOCK (self);

  if (inbuf == outbuf) {
    ret = punch_rewrite ? punch_in_place (self, outbuf) : GST_FLOW_OK;
    GST_OBJECT_LOCK (self);
    self->frames_zero_copy++;
    if (punch_rewrite && ret == GST_FLOW_OK)
      self->frames_punched++;
    GST_OBJECT_UNLOCK (self);
    return ret;
  }

  if (!is_udmabuf_buffer (outbuf)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Output buffer is not udmabuf memory"), (NULL));
    return GST_FLOW_ERROR;
  }
  /* The frame is mapped for writing: @target needs to be writable. */
  if (punch_rewrite) {
    /* The pages go first; the frame is then written into new ones. */
    if (!punch (self, gst_buffer_peek_memory (outbuf, 0)))
      return GST_FLOW_ERROR;
    view = memfd_view (outbuf);
    target = view;
  } else {
    target = outbuf;
  }
  if (!gst_video_frame_map (&in, &self->in_info, inbuf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Cannot map the input frame"), (NULL));
    gst_clear_buffer (&view);
    return GST_FLOW_ERROR;
  }
  if (!gst_video_frame_map (&out, &self->out_info, target, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Cannot map the udmabuf frame"), (NULL));
    gst_video_frame_unmap (&in);
    gst_clear_buffer (&view);
    return GST_FLOW_ERROR;
  }
  ok = gst_video_frame_copy (&out, &in);
  gst_video_frame_unmap (&out);
  gst_video_frame_unmap (&in);
  gst_clear_buffer (&view);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Cannot copy the frame into udmabuf memory"), (NULL));
    return GST_FLOW_ERROR;
  }
  GST_OBJECT_LOCK (self);
  self->frames_copied++;
  if (punch_rewrite)
    self->frames_punched++;
  GST_OBJECT_UNLOCK (self);
  return GST_FLOW_OK;
}

static void
gst_udmabuf_upload_finalize (GObject * object)
{
  GstUdmabufUpload *self = GST_UDMABUF_UPLOAD (object);

  g_free (self->device);
  gst_clear_object (&self->allocator);
  g_byte_array_unref (self->scratch);
  G_OBJECT_CLASS (gst_udmabuf_upload_parent_class)->finalize (object);
}

static void
gst_udmabuf_upload_class_init (GstUdmabufUploadClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_udmabuf_upload_set_property;
  gobject_class->get_property = gst_udmabuf_upload_get_property;
  gobject_class->finalize = gst_udmabuf_upload_finalize;

  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Path of the udmabuf device, opened when the element starts",
          DEFAULT_DEVICE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STRIDE_ALIGN,
      g_param_spec_uint ("stride-align", "Stride alignment",
          "Alignment in bytes of every plane's stride, a power of two, when "
          "the user of the buffers supports the video meta (otherwise the "
          "default layout of the caps is kept)", 1, MAX_STRIDE_ALIGN,
          DEFAULT_STRIDE_ALIGN, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MIN_BUFFERS,
      g_param_spec_uint ("min-buffers", "Minimum buffers",
          "Buffers each udmabuf pool allocates when it starts", 0,
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
          "behind its buffer (FALLOC_FL_PUNCH_HOLE) and write the frame "
          "into new pages through the memfd mapping, as a hypervisor "
          "reclaims guest RAM and the guest fills it again; downstream "
          "reads it through the udmabuf", DEFAULT_PUNCH_REWRITE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
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

  trans_class->start = GST_DEBUG_FUNCPTR (gst_udmabuf_upload_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_udmabuf_upload_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_udmabuf_upload_set_caps);
  trans_class->get_unit_size =
      GST_DEBUG_FUNCPTR (gst_udmabuf_upload_get_unit_size);
  trans_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_udmabuf_upload_propose_allocation);
  trans_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_udmabuf_upload_decide_allocation);
  trans_class->prepare_output_buffer =
      GST_DEBUG_FUNCPTR (gst_udmabuf_upload_prepare_output_buffer);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_udmabuf_upload_transform);
  trans_class->passthrough_on_same_caps = FALSE;
}

static void
gst_udmabuf_upload_init (GstUdmabufUpload * self)
{
  self->device = g_strdup (DEFAULT_DEVICE);
  self->stride_align = DEFAULT_STRIDE_ALIGN;
  self->min_buffers = DEFAULT_MIN_BUFFERS;
  self->max_buffers = DEFAULT_MAX_BUFFERS;
  self->punch_rewrite = DEFAULT_PUNCH_REWRITE;
  self->scratch = g_byte_array_new ();
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), FALSE);
}
