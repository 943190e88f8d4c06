/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GstCheck tests of udmabufupload, its allocator and its pool.  They need
 * /dev/udmabuf and the plugin (GST_PLUGIN_PATH); tests/vm.d/40-gstreamer.sh
 * runs each test case on its own (GST_CHECKS=name) and prints a TAP line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <unistd.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>
#include <gst/allocators/allocators.h>

#define CAPS_I420 "video/x-raw,format=I420,width=64,height=64,framerate=30/1"
#define CAPS_NV12 "video/x-raw,format=NV12,width=96,height=48,framerate=30/1"
/* Every wait of these tests is bounded by this. */
#define WAIT_S 30

static guint
count_fds (void)
{
  GDir *dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  fail_unless (dir != NULL, "cannot open /proc/self/fd");
  while (g_dir_read_name (dir))
    n++;
  g_dir_close (dir);
  /* The GDir's own fd was counted. */
  return n - 1;
}

static guint64
get_u64 (GstElement * e, const gchar * prop)
{
  guint64 v;

  g_object_get (e, prop, &v, NULL);
  return v;
}

/*
 * A frame of @info whose bytes depend on @seed, in system memory or, with
 * @from_pool, from the harness's pool: the one the element proposed.
 */
static GstBuffer *
make_frame (GstHarness * h, GstVideoInfo * info, guint seed,
    gboolean from_pool)
{
  GstBuffer *buf = from_pool ?
      gst_harness_create_buffer (h, GST_VIDEO_INFO_SIZE (info)) :
      gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info), NULL);
  GstMapInfo map;
  gsize i;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  for (i = 0; i < map.size; i++)
    map.data[i] = (guint8) (seed * 31 + i * 7 + (i >> 8));
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = seed * GST_SECOND / 30;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

/* The visible pixels of @a and @b are the same (strides may differ). */
static gboolean
frames_equal (GstVideoInfo * info, GstBuffer * a, GstBuffer * b)
{
  GstVideoFrame fa, fb;
  gboolean same = TRUE;
  guint p, row;

  fail_unless (gst_video_frame_map (&fa, info, a, GST_MAP_READ));
  fail_unless (gst_video_frame_map (&fb, info, b, GST_MAP_READ));
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&fa) && same; p++) {
    gint comp[GST_VIDEO_MAX_COMPONENTS];
    guint width, height;

    gst_video_format_info_component (fa.info.finfo, p, comp);
    width = GST_VIDEO_FRAME_COMP_WIDTH (&fa, comp[0]) *
        GST_VIDEO_FRAME_COMP_PSTRIDE (&fa, comp[0]);
    height = GST_VIDEO_FRAME_COMP_HEIGHT (&fa, comp[0]);
    for (row = 0; row < height; row++) {
      const guint8 *ra = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&fa, p) +
          row * GST_VIDEO_FRAME_PLANE_STRIDE (&fa, p);
      const guint8 *rb = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&fb, p) +
          row * GST_VIDEO_FRAME_PLANE_STRIDE (&fb, p);

      if (memcmp (ra, rb, width)) {
        GST_ERROR ("plane %u row %u differs", p, row);
        same = FALSE;
        break;
      }
    }
  }
  gst_video_frame_unmap (&fb);
  gst_video_frame_unmap (&fa);
  return same;
}

static void
check_udmabuf_buffer (GstBuffer * buf)
{
  GstMemory *mem;
  gint fd;

  fail_unless_equals_int (gst_buffer_n_memory (buf), 1);
  mem = gst_buffer_peek_memory (buf, 0);
  fail_unless (gst_is_dmabuf_memory (mem), "not dma-buf memory");
  fd = gst_dmabuf_memory_get_fd (mem);
  fail_unless (fd >= 0);
  /* A dma-buf's size is what lseek() to the end says. */
  fail_unless (lseek (fd, 0, SEEK_END) >= (off_t) gst_buffer_get_size (buf));
  /* The project's own names, not GStreamer 1.28's GstUdmabufAllocator. */
  fail_unless_equals_string (G_OBJECT_TYPE_NAME (mem->allocator),
      "GstMmuUdmabufAllocator");
  fail_unless_equals_string (mem->allocator->mem_type, "mmuudmabuf");
}

/* @buf has the default layout of @info (what a plain consumer reads). */
static void
check_default_layout (GstVideoInfo * info, GstBuffer * buf)
{
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  guint p;

  if (!meta)
    return;
  for (p = 0; p < meta->n_planes; p++) {
    fail_unless_equals_int (meta->stride[p], GST_VIDEO_INFO_PLANE_STRIDE (info,
            p));
    fail_unless_equals_uint64 (meta->offset[p],
        GST_VIDEO_INFO_PLANE_OFFSET (info, p));
  }
}

/* Every byte of @buf inverted, as punch-rewrite writes it. */
static GstBuffer *
inverted (GstBuffer * buf)
{
  GstMapInfo map;
  gsize i;

  buf = gst_buffer_make_writable (buf);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  for (i = 0; i < map.size; i++)
    map.data[i] = ~map.data[i];
  gst_buffer_unmap (buf, &map);
  return buf;
}

/*
 * Frames of system memory (copy path) or from the proposed pool (zero-copy)
 * arrive in udmabuf memory, unchanged.
 */
static void
push_and_compare_full (GstHarness * h, const gchar * caps, guint n,
    gboolean from_pool, gboolean invert)
{
  GstVideoInfo info;
  GstCaps *c = gst_caps_from_string (caps);
  guint i;

  fail_unless (gst_video_info_from_caps (&info, c));
  gst_caps_unref (c);
  gst_harness_set_src_caps_str (h, caps);
  for (i = 0; i < n; i++) {
    GstBuffer *want = make_frame (h, &info, i, FALSE);
    GstBuffer *out;

    if (invert)
      want = inverted (want);
    fail_unless_equals_int (gst_harness_push (h, make_frame (h, &info, i,
                from_pool)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (out != NULL);
    check_udmabuf_buffer (out);
    fail_unless (frames_equal (&info, want, out), "frame %u differs", i);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), GST_BUFFER_PTS (want));
    gst_buffer_unref (out);
    gst_buffer_unref (want);
  }
}

static void
push_and_compare (GstHarness * h, const gchar * caps, guint n,
    gboolean from_pool)
{
  push_and_compare_full (h, caps, n, from_pool, FALSE);
}

/* One more frame of @caps through the harness, pulled out. */
static GstBuffer *
push_one (GstHarness * h, const gchar * caps)
{
  GstCaps *c = gst_caps_from_string (caps);
  GstVideoInfo info;
  GstBuffer *out;

  fail_unless (gst_video_info_from_caps (&info, c));
  gst_caps_unref (c);
  fail_unless_equals_int (gst_harness_push (h, make_frame (h, &info, 9,
              FALSE)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless (out != NULL);
  return out;
}

GST_START_TEST (test_caps_negotiation)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstCaps *caps, *want;
  GstVideoMeta *meta;
  GstBuffer *out;

  push_and_compare (h, CAPS_NV12, 2, FALSE);
  caps = gst_pad_get_current_caps (h->sinkpad);
  want = gst_caps_from_string (CAPS_NV12);
  fail_unless (gst_caps_is_equal (caps, want), "output caps differ");
  gst_caps_unref (want);
  gst_caps_unref (caps);

  /*
   * Renegotiation to I420; the harness sink does not announce the video
   * meta, so the default layout is kept (chroma stride 32).
   */
  push_and_compare (h, CAPS_I420, 2, FALSE);
  out = push_one (h, CAPS_I420);
  meta = gst_buffer_get_video_meta (out);
  if (meta)
    fail_unless_equals_int (meta->stride[1], 32);
  gst_buffer_unref (out);
  gst_harness_teardown (h);

  /* Not raw video: refused. */
  h = gst_harness_new ("udmabufupload");
  gst_harness_set_src_caps_str (h, "audio/x-raw,format=S16LE,rate=8000,"
      "channels=1,layout=interleaved");
  fail_unless_equals_int (gst_harness_push (h, gst_harness_create_buffer (h,
              64)), GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Downstream supports the video meta: strides are aligned to 256 bytes. */
GST_START_TEST (test_aligned_strides)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstVideoMeta *meta;
  GstBuffer *out;
  guint p;

  gst_harness_add_propose_allocation_meta (h, GST_VIDEO_META_API_TYPE, NULL);
  push_and_compare (h, CAPS_I420, 3, FALSE);
  out = push_one (h, CAPS_I420);
  meta = gst_buffer_get_video_meta (out);
  fail_unless (meta != NULL, "no video meta");
  fail_unless_equals_int (meta->n_planes, 3);
  for (p = 0; p < meta->n_planes; p++)
    fail_unless_equals_int (meta->stride[p] % 256, 0);
  /* 64x64 I420's chroma stride is 32 unaligned. */
  fail_unless_equals_int (meta->stride[1], 256);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_allocation_query)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstAllocationParams params;
  GstAllocator *allocator;
  GstBufferPool *pool;
  GstStructure *config;
  guint size, min, max;
  GstVideoMeta *meta;
  GstVideoInfo info;
  GstBuffer *buf;
  GstQuery *query;
  GstCaps *caps;

  g_object_set (h->element, "min-buffers", 3, "max-buffers", 5, NULL);
  gst_harness_set_src_caps_str (h, CAPS_I420);
  caps = gst_caps_from_string (CAPS_I420);
  fail_unless (gst_video_info_from_caps (&info, caps));

  query = gst_query_new_allocation (caps, TRUE);
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  fail_unless (gst_query_get_n_allocation_pools (query) >= 1);
  gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
  fail_unless (pool != NULL);
  fail_unless_equals_string (G_OBJECT_TYPE_NAME (pool),
      "GstMmuUdmabufBufferPool");
  fail_unless (size >= GST_VIDEO_INFO_SIZE (&info));
  fail_unless_equals_int (min, 3);
  fail_unless_equals_int (max, 5);
  fail_unless (gst_query_get_n_allocation_params (query) >= 1);
  gst_query_parse_nth_allocation_param (query, 0, &allocator, &params);
  fail_unless (GST_IS_DMABUF_ALLOCATOR (allocator));
  gst_object_unref (allocator);
  /* The harness's sink does not take the video meta: not offered up. */
  fail_if (gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE,
          NULL), "video meta proposed, downstream does not take it");
  gst_query_unref (query);

  /*
   * Used as an upstream element that follows the video meta would: the
   * pool aligns the strides, so it refuses the configuration (the
   * GstBufferPool contract), and takes it read back.
   */
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_add_option (config,
      GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  fail_if (gst_buffer_pool_set_config (pool, config),
      "set_config changed the configuration and returned TRUE");
  config = gst_buffer_pool_get_config (pool);
  fail_unless (gst_buffer_pool_config_has_option (config,
          GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT));
  fail_unless (gst_buffer_pool_set_config (pool, config));
  /* Another allocator is replaced, and refused likewise. */
  config = gst_buffer_pool_get_config (pool);
  allocator = gst_allocator_find (NULL);
  gst_buffer_pool_config_set_allocator (config, allocator, &params);
  gst_object_unref (allocator);
  fail_if (gst_buffer_pool_set_config (pool, config));
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_get_allocator (config, &allocator, NULL);
  fail_unless (GST_IS_DMABUF_ALLOCATOR (allocator));
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buf, NULL),
      GST_FLOW_OK);
  check_udmabuf_buffer (buf);
  meta = gst_buffer_get_video_meta (buf);
  fail_unless (meta != NULL);
  fail_unless_equals_int (meta->stride[1] % 256, 0);
  gst_buffer_unref (buf);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);

  /* No caps, no answer. */
  query = gst_query_new_allocation (NULL, TRUE);
  fail_if (gst_pad_peer_query (h->srcpad, query));
  gst_query_unref (query);
  /* No pool wanted (need-pool FALSE): none proposed. */
  query = gst_query_new_allocation (caps, FALSE);
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  fail_unless_equals_int (gst_query_get_n_allocation_pools (query), 0);
  gst_query_unref (query);
  gst_caps_unref (caps);
  gst_harness_teardown (h);

  /* Downstream takes the video meta: offered up. */
  h = gst_harness_new ("udmabufupload");
  gst_harness_add_propose_allocation_meta (h, GST_VIDEO_META_API_TYPE, NULL);
  gst_harness_set_src_caps_str (h, CAPS_I420);
  caps = gst_caps_from_string (CAPS_I420);
  query = gst_query_new_allocation (caps, TRUE);
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  fail_unless (gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE,
          NULL));
  gst_query_unref (query);
  gst_caps_unref (caps);
  gst_harness_teardown (h);
}

GST_END_TEST;

#define CAPS_I420_ODD "video/x-raw,format=I420,width=98,height=66,framerate=30/1"

/*
 * Upstream renders into the pool; downstream (a plain consumer) does not
 * take the video meta, so the frames have the default layout of the caps.
 */
GST_START_TEST (test_default_layout_without_meta)
{
  const gchar *sizes[] = { CAPS_I420, CAPS_I420_ODD,
    "video/x-raw,format=RGBx,width=98,height=66,framerate=30/1"
  };
  guint s, i;

  for (s = 0; s < G_N_ELEMENTS (sizes); s++) {
    GstHarness *h = gst_harness_new ("udmabufupload");
    GstCaps *caps = gst_caps_from_string (sizes[s]);
    GstVideoInfo info;
    gchar *src;

    fail_unless (gst_video_info_from_caps (&info, caps));
    gst_caps_unref (caps);
    src = g_strdup_printf ("videotestsrc pattern=ball ! capsfilter caps=\"%s\"",
        sizes[s]);
    gst_harness_add_src_parse (h, src, FALSE);
    g_free (src);
    for (i = 0; i < 3; i++) {
      GstBuffer *out;

      fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
      out = gst_harness_pull (h);
      fail_unless (out != NULL);
      check_udmabuf_buffer (out);
      fail_unless_equals_uint64 (gst_buffer_get_size (out),
          GST_VIDEO_INFO_SIZE (&info));
      check_default_layout (&info, out);
      gst_buffer_unref (out);
    }
    fail_unless_equals_uint64 (get_u64 (h->element, "frames-zero-copy"), 3);
    gst_harness_teardown (h);
  }
}

GST_END_TEST;

/* Downstream's pool minimum counts: the element's pool holds as many. */
static GstPadProbeReturn
want_12_buffers (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);

  if (GST_QUERY_TYPE (query) == GST_QUERY_ALLOCATION) {
    GstCaps *caps;
    GstVideoInfo vinfo;

    gst_query_parse_allocation (query, &caps, NULL);
    if (caps && gst_video_info_from_caps (&vinfo, caps))
      gst_query_add_allocation_pool (query, NULL, GST_VIDEO_INFO_SIZE (&vinfo),
          12, 0);
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_downstream_min_buffers)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstBufferPool *pool;
  GstStructure *config;
  guint min, max;

  gst_pad_add_probe (h->sinkpad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM,
      want_12_buffers, NULL, NULL);
  push_and_compare (h, CAPS_NV12, 2, FALSE);
  pool = gst_base_transform_get_buffer_pool (GST_BASE_TRANSFORM (h->element));
  fail_unless (pool != NULL);
  config = gst_buffer_pool_get_config (pool);
  fail_unless (gst_buffer_pool_config_get_params (config, NULL, NULL, &min,
          &max));
  gst_structure_free (config);
  fail_unless (min >= 12, "pool minimum %u, downstream asked for 12", min);
  fail_unless (max == 0 || max >= min);
  gst_object_unref (pool);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* The plugin registers no type of GStreamer's own names. */
GST_START_TEST (test_type_names)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstElement *e = h->element;
  GstBuffer *out;

  gst_harness_set_src_caps_str (h, CAPS_NV12);
  out = push_one (h, CAPS_NV12);
  check_udmabuf_buffer (out);
  gst_buffer_unref (out);
  fail_unless_equals_string (G_OBJECT_TYPE_NAME (e), "GstMmuUdmabufUpload");
  fail_unless (g_type_from_name ("GstMmuUdmabufAllocator") != 0);
  fail_unless (g_type_from_name ("GstMmuUdmabufBufferPool") != 0);
  fail_unless_equals_int (g_type_from_name ("GstUdmabufAllocator"), 0);
  fail_unless_equals_int (g_type_from_name ("GstUdmabufBufferPool"), 0);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* memfds open in this process (buffers that keep theirs). */
static guint
count_memfds (void)
{
  GDir *dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const gchar *name;
  guint n = 0;

  fail_unless (dir != NULL);
  while ((name = g_dir_read_name (dir))) {
    gchar *path = g_build_filename ("/proc/self/fd", name, NULL);
    gchar *target = g_file_read_link (path, NULL);

    if (target && g_str_has_prefix (target, "/memfd:gst-udmabuf"))
      n++;
    g_free (target);
    g_free (path);
  }
  g_dir_close (dir);
  return n;
}

/* A buffer keeps its memfd only for punch-rewrite. */
GST_START_TEST (test_memfd_only_for_punch)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstBuffer *out;

  push_and_compare (h, CAPS_NV12, 2, FALSE);
  out = push_one (h, CAPS_NV12);
  fail_unless_equals_int (count_memfds (), 0);
  gst_buffer_unref (out);
  gst_harness_teardown (h);

  h = gst_harness_new ("udmabufupload");
  g_object_set (h->element, "punch-rewrite", TRUE, NULL);
  gst_harness_set_src_caps_str (h, CAPS_NV12);
  gst_buffer_unref (push_one (h, CAPS_NV12));
  out = push_one (h, CAPS_NV12);
  fail_unless (count_memfds () >= 1);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Downstream that asks for dma-bufs gets memory:DMABuf caps. */
GST_START_TEST (test_dmabuf_caps)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstCaps *caps;
  GstBuffer *out;

  gst_harness_set_sink_caps_str (h, "video/x-raw(memory:DMABuf)");
  gst_harness_set_src_caps_str (h, CAPS_NV12);
  out = push_one (h, CAPS_NV12);
  check_udmabuf_buffer (out);
  gst_buffer_unref (out);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (caps != NULL);
  fail_unless (gst_caps_features_contains (gst_caps_get_features (caps, 0),
          GST_CAPS_FEATURE_MEMORY_DMABUF), "caps %" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_harness_teardown (h);

  /* A plain consumer gets system memory caps. */
  h = gst_harness_new ("udmabufupload");
  push_and_compare (h, CAPS_NV12, 1, FALSE);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_if (gst_caps_features_contains (gst_caps_get_features (caps, 0),
          GST_CAPS_FEATURE_MEMORY_DMABUF));
  gst_caps_unref (caps);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Many frames, few udmabufs: the pool's buffers come back. */
GST_START_TEST (test_pool_reuse_copy)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GHashTable *fds = g_hash_table_new (NULL, NULL);
  GstVideoInfo info;
  GstCaps *caps;
  guint i;

  gst_harness_set_src_caps_str (h, CAPS_NV12);
  caps = gst_caps_from_string (CAPS_NV12);
  fail_unless (gst_video_info_from_caps (&info, caps));
  gst_caps_unref (caps);
  for (i = 0; i < 200; i++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, make_frame (h, &info, i,
                FALSE)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    g_hash_table_add (fds, GINT_TO_POINTER (gst_dmabuf_memory_get_fd
            (gst_buffer_peek_memory (out, 0))));
    gst_buffer_unref (out);
  }
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-copied"), 200);
  fail_unless (get_u64 (h->element, "udmabufs-created") >= 1);
  fail_unless (get_u64 (h->element, "udmabufs-created") <= 8,
      "%" G_GUINT64_FORMAT " udmabufs for 200 frames",
      get_u64 (h->element, "udmabufs-created"));
  fail_unless (g_hash_table_size (fds) <= 8);
  g_hash_table_unref (fds);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Upstream takes the proposed pool: no copies, still few udmabufs. */
GST_START_TEST (test_pool_reuse_upstream)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  guint i;

  gst_harness_add_src_parse (h, "videotestsrc pattern=ball ! capsfilter "
      "caps=\"" CAPS_I420 "\"", FALSE);
  for (i = 0; i < 100; i++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (out != NULL);
    check_udmabuf_buffer (out);
    gst_buffer_unref (out);
  }
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-zero-copy"), 100);
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-copied"), 0);
  fail_unless (get_u64 (h->element, "udmabufs-created") <= 8);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* The harness's buffers come from the pool the element proposed. */
GST_START_TEST (test_harness_uses_pool)
{
  GstHarness *h = gst_harness_new ("udmabufupload");

  push_and_compare (h, CAPS_NV12, 20, TRUE);
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-zero-copy"), 20);
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-copied"), 0);
  gst_harness_teardown (h);
}

GST_END_TEST;

/*
 * punch-rewrite: every frame read back through the dma-buf is what was
 * written through the memfd after the punch, the frame inverted; a
 * udmabuf that kept its old pages shows the frame as it was.
 */
GST_START_TEST (test_punch_rewrite_copy)
{
  GstHarness *h = gst_harness_new ("udmabufupload");

  g_object_set (h->element, "punch-rewrite", TRUE, "max-buffers", 2, NULL);
  gst_harness_add_propose_allocation_meta (h, GST_VIDEO_META_API_TYPE, NULL);
  push_and_compare_full (h, CAPS_I420, 20, FALSE, TRUE);
  push_and_compare_full (h, CAPS_NV12, 20, FALSE, TRUE);
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-copied"), 40);
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-punched"), 40);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_punch_rewrite_zero_copy)
{
  GstHarness *h = gst_harness_new ("udmabufupload");

  g_object_set (h->element, "punch-rewrite", TRUE, NULL);
  push_and_compare_full (h, CAPS_I420, 20, TRUE, TRUE);
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-zero-copy"), 20);
  fail_unless_equals_uint64 (get_u64 (h->element, "frames-punched"), 20);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_eos)
{
  GstHarness *h = gst_harness_new ("udmabufupload");
  GstVideoInfo info;
  GstEvent *ev;
  GstCaps *caps;
  gboolean eos = FALSE;
  guint i;

  gst_harness_set_src_caps_str (h, CAPS_NV12);
  caps = gst_caps_from_string (CAPS_NV12);
  fail_unless (gst_video_info_from_caps (&info, caps));
  gst_caps_unref (caps);
  for (i = 0; i < 3; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (h, &info, i,
                FALSE)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 3);
  while ((ev = gst_harness_try_pull_event (h))) {
    eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (eos, "no EOS downstream");
  /* After EOS, buffers are refused. */
  fail_unless_equals_int (gst_harness_push (h, make_frame (h, &info, 5,
              FALSE)), GST_FLOW_EOS);
  gst_harness_teardown (h);
}

GST_END_TEST;

/*
 * The pipelines below: videotestsrc into udmabufupload, zero-copy, copy
 * (identity drops the allocation query) or copy with punch-rewrite.
 */
static const struct
{
  const gchar *before;          /* between the caps and udmabufupload */
  const gchar *props;           /* of udmabufupload */
} variants[] = {
  {"", ""},
  {"identity drop-allocation=true ! ", ""},
  {"identity drop-allocation=true ! ", "punch-rewrite=true"},
};

static GstElement *
make_pipeline (guint variant, const gchar * src_props, const gchar * sink)
{
  GError *err = NULL;
  GstElement *p;
  gchar *desc;

  desc = g_strdup_printf ("videotestsrc name=src %s ! " CAPS_NV12 " ! %s"
      "udmabufupload name=up %s ! %s", src_props, variants[variant].before,
      variants[variant].props, sink);
  p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL, "%s: %s", desc, err ? err->message : "?");
  g_clear_error (&err);
  g_free (desc);
  return p;
}

static GstMessage *
wait_message (GstElement * p, GstMessageType types)
{
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg;

  msg = gst_bus_timed_pop_filtered (bus, WAIT_S * GST_SECOND,
      types | GST_MESSAGE_ERROR);
  gst_object_unref (bus);
  fail_unless (msg != NULL, "no message in %d s", WAIT_S);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR && !(types &
          GST_MESSAGE_ERROR)) {
    GError *err = NULL;

    gst_message_parse_error (msg, &err, NULL);
    fail ("pipeline error: %s", err->message);
  }
  return msg;
}

/* Frames in the appsink's queue, and the PTS of the first one. */
static GstClockTime
pull_pts (GstElement * sink)
{
  GstSample *s = NULL;
  GstClockTime pts;

  g_signal_emit_by_name (sink, "try-pull-sample", WAIT_S * GST_SECOND, &s);
  fail_unless (s != NULL, "no sample in %d s", WAIT_S);
  check_udmabuf_buffer (gst_sample_get_buffer (s));
  pts = GST_BUFFER_PTS (gst_sample_get_buffer (s));
  gst_sample_unref (s);
  return pts;
}

GST_START_TEST (test_flushing_seek)
{
  GstElement *p = make_pipeline (__i__, "",
      "appsink name=sink sync=false max-buffers=2");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstElement *up = gst_bin_get_by_name (GST_BIN (p), "up");
  GstClockTime pts;
  guint i;

  fail_unless (gst_element_set_state (p, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_element_get_state (p, NULL, NULL,
          WAIT_S * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 3; i++)
    pull_pts (sink);
  fail_unless (gst_element_seek_simple (p, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, 10 * GST_SECOND));
  /* The first frame after the flush is the one at 10 s. */
  pts = pull_pts (sink);
  fail_unless_equals_uint64 (pts, 10 * GST_SECOND);
  for (i = 0; i < 5; i++)
    fail_unless (pull_pts (sink) > pts);
  /* And back, twice over. */
  fail_unless (gst_element_seek_simple (p, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, GST_SECOND));
  fail_unless_equals_uint64 (pull_pts (sink), GST_SECOND);
  fail_unless (get_u64 (up, "udmabufs-created") <= 8);
  fail_unless (gst_element_set_state (p, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (up);
  gst_object_unref (sink);
  gst_object_unref (p);
}

GST_END_TEST;

GST_START_TEST (test_pipeline_eos)
{
  GstElement *p = make_pipeline (__i__, "num-buffers=25",
      "fakesink sync=false");
  GstElement *up = gst_bin_get_by_name (GST_BIN (p), "up");
  GstMessage *msg;

  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = wait_message (p, GST_MESSAGE_EOS);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);
  fail_unless_equals_uint64 (get_u64 (up, "frames-copied") +
      get_u64 (up, "frames-zero-copy"), 25);
  if (__i__ == 0) {
    fail_unless_equals_uint64 (get_u64 (up, "frames-zero-copy"), 25);
  } else {
    fail_unless_equals_uint64 (get_u64 (up, "frames-copied"), 25);
  }
  fail_unless (gst_element_set_state (p, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (up);
  gst_object_unref (p);
}

GST_END_TEST;

/* Torn down mid-stream, the pipeline leaves no fd (udmabuf, memfd) open. */
GST_START_TEST (test_teardown_no_leak)
{
  GstElement *p, *up;
  guint before, during, after, i;

  /* A first run loads everything that stays loaded. */
  p = make_pipeline (__i__, "num-buffers=2", "fakesink sync=false");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  gst_message_unref (wait_message (p, GST_MESSAGE_EOS));
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);

  before = count_fds ();
  p = make_pipeline (__i__, "", "queue ! fakesink sync=false");
  up = gst_bin_get_by_name (GST_BIN (p), "up");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < WAIT_S * 100; i++) {
    if (get_u64 (up, "frames-copied") + get_u64 (up,
            "frames-zero-copy") >= 20)
      break;
    g_usleep (10000);
  }
  fail_unless (i < WAIT_S * 100, "fewer than 20 frames in %d s", WAIT_S);
  during = count_fds ();
  /* The device and a dma-buf per pool buffer (memfds for punch-rewrite). */
  fail_unless (during >= before + 3, "%u fds before, %u while streaming",
      before, during);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (up);
  gst_object_unref (p);
  after = count_fds ();
  fail_unless_equals_int (after, before);
}

GST_END_TEST;

/* Bad settings fail the state change with a message that names them. */
static void
expect_start_error (const gchar * props, const gchar * text)
{
  GstElement *p;
  GstMessage *msg;
  GError *err = NULL;
  gchar *desc;

  desc = g_strdup_printf ("videotestsrc num-buffers=1 ! udmabufupload %s ! "
      "fakesink", props);
  p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL, "%s", desc);
  g_free (desc);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  msg = wait_message (p, GST_MESSAGE_ERROR);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, text) != NULL, "'%s' lacks '%s'",
      err->message, text);
  g_clear_error (&err);
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
}

GST_START_TEST (test_bad_properties)
{
  expect_start_error ("device=/dev/no-such-udmabuf", "/dev/no-such-udmabuf");
  expect_start_error ("device=/dev/null", "/dev/null");
  expect_start_error ("stride-align=48", "not a power of two");
  expect_start_error ("min-buffers=6 max-buffers=4", "more than max-buffers");
}

GST_END_TEST;

static Suite *
udmabuf_suite (void)
{
  Suite *s = suite_create ("udmabuf");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 180);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps_negotiation);
  tcase_add_test (tc, test_aligned_strides);
  tcase_add_test (tc, test_allocation_query);
  tcase_add_test (tc, test_default_layout_without_meta);
  tcase_add_test (tc, test_downstream_min_buffers);
  tcase_add_test (tc, test_type_names);
  tcase_add_test (tc, test_memfd_only_for_punch);
  tcase_add_test (tc, test_dmabuf_caps);
  tcase_add_test (tc, test_pool_reuse_copy);
  tcase_add_test (tc, test_pool_reuse_upstream);
  tcase_add_test (tc, test_harness_uses_pool);
  tcase_add_test (tc, test_punch_rewrite_copy);
  tcase_add_test (tc, test_punch_rewrite_zero_copy);
  tcase_add_test (tc, test_eos);
  tcase_add_loop_test (tc, test_flushing_seek, 0, G_N_ELEMENTS (variants));
  tcase_add_loop_test (tc, test_pipeline_eos, 0, G_N_ELEMENTS (variants));
  tcase_add_loop_test (tc, test_teardown_no_leak, 0, G_N_ELEMENTS (variants));
  tcase_add_test (tc, test_bad_properties);
  return s;
}

GST_CHECK_MAIN (udmabuf);
