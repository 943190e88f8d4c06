/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gst_framesum: frame-for-frame checksums of videotestsrc pipelines with
 * and without udmabufupload.
 *
 *   gst_framesum FORMAT WIDTH HEIGHT FRAMES 'SRC PROPERTIES' [VARIANT...]
 *   gst_framesum --compare-files FORMAT WIDTH HEIGHT A.raw B.raw
 *
 * Runs videotestsrc SRC PROPERTIES num-buffers=FRAMES ! caps ! appsink, the
 * reference, then the same with each VARIANT (default: all) between the
 * caps and the appsink, and compares a SHA-1 of every frame's visible
 * pixels (plane by plane, row by row, so stride padding does not count;
 * checksumsink hashes whole buffers, padding included).  Each frame is
 * read twice: mapped as GStreamer maps it (for dma-buf memory, the
 * dma-buf's mmap between DMA_BUF_IOCTL_SYNC start and end), and through a
 * mapping of the dma-buf fd of the test's own, made once per memory and
 * read without SYNC, as QEMU reads guest RAM.  The punch variants
 * (punch-rewrite) must show every frame with every byte inverted, which
 * only a udmabuf that follows page replacement shows.
 *
 * Prints a TAP line per variant, and one saying the reference frames
 * differ from each other (a static picture would hide stale frames).
 * Exits 0 when every line is "ok".  --report prints mismatches as
 * comments and exits 0 (the stock-udmabuf contrast of make bench).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/allocators/allocators.h>

#define WAIT_S 120

static const struct
{
  const gchar *name;
  const gchar *elements;
  const gchar *counter;         /* must equal the frame count */
  gboolean inverted;            /* frames arrive with every byte inverted */
} all_variants[] = {
  {"zero-copy", "udmabufupload name=up", "frames-zero-copy", FALSE},
  {"copy", "identity drop-allocation=true ! udmabufupload name=up",
      "frames-copied", FALSE},
  {"copy+punch", "identity drop-allocation=true ! udmabufupload name=up "
        "punch-rewrite=true", "frames-punched", TRUE},
  {"zero-copy+punch", "udmabufupload name=up punch-rewrite=true",
      "frames-punched", TRUE},
};

/* The sums of one frame: as mapped, inverted, and through the raw mmap. */
typedef struct
{
  gchar *mapped;
  gchar *inverted;
  gchar *raw;                   /* NULL: not dma-buf memory */
} FrameSums;

static void
frame_sums_free (gpointer data)
{
  FrameSums *f = data;

  g_free (f->mapped);
  g_free (f->inverted);
  g_free (f->raw);
  g_free (f);
}

/* The test's own mapping of a dma-buf memory's fd, kept with the memory. */
typedef struct
{
  guint8 *p;
  gsize len;
} RawMap;

static void
raw_map_free (gpointer data)
{
  RawMap *m = data;

  munmap (m->p, m->len);
  g_free (m);
}

static GQuark
raw_map_quark (void)
{
  return g_quark_from_static_string ("framesum-raw-map");
}

/* The bytes of @mem's dma-buf, mapped once and read without SYNC. */
static const guint8 *
raw_data (GstMemory * mem)
{
  RawMap *m = gst_mini_object_get_qdata (GST_MINI_OBJECT (mem),
      raw_map_quark ());
  gint fd;
  off_t len;

  if (m)
    return m->p + mem->offset;
  fd = gst_dmabuf_memory_get_fd (mem);
  len = lseek (fd, 0, SEEK_END);
  if (len <= 0)
    return NULL;
  m = g_new0 (RawMap, 1);
  m->len = len;
  m->p = mmap (NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (m->p == MAP_FAILED) {
    g_free (m);
    return NULL;
  }
  gst_mini_object_set_qdata (GST_MINI_OBJECT (mem), raw_map_quark (), m,
      raw_map_free);
  return m->p + mem->offset;
}

/*
 * SHA-1 of the visible rows of @info's planes at @data + @offset[p] with
 * @stride[p]; @invert: of every byte inverted.
 */
static gchar *
plane_sum (const GstVideoInfo * info, const guint8 * data,
    const gsize * offset, const gint * stride, gboolean invert)
{
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA1);
  guint8 *row_buf = NULL;
  gchar *hex;
  guint p, row, i;

  for (p = 0; p < GST_VIDEO_INFO_N_PLANES (info); p++) {
    gint comp[GST_VIDEO_MAX_COMPONENTS];
    guint width, height;

    gst_video_format_info_component (info->finfo, p, comp);
    width = GST_VIDEO_INFO_COMP_WIDTH (info, comp[0]) *
        GST_VIDEO_INFO_COMP_PSTRIDE (info, comp[0]);
    height = GST_VIDEO_INFO_COMP_HEIGHT (info, comp[0]);
    row_buf = g_realloc (row_buf, width);
    for (row = 0; row < height; row++) {
      const guint8 *r = data + offset[p] + (gsize) row * stride[p];

      if (invert) {
        for (i = 0; i < width; i++)
          row_buf[i] = ~r[i];
        r = row_buf;
      }
      g_checksum_update (sum, r, width);
    }
  }
  g_free (row_buf);
  hex = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  return hex;
}

static FrameSums *
frame_sum (GstSample * sample)
{
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstMemory *mem = gst_buffer_peek_memory (buf, 0);
  GstVideoFrame frame;
  GstVideoInfo info;
  FrameSums *f;
  gsize offset[GST_VIDEO_MAX_PLANES];
  gint stride[GST_VIDEO_MAX_PLANES];
  guint p;

  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) ||
      !gst_video_frame_map (&frame, &info, buf, GST_MAP_READ))
    return NULL;
  f = g_new0 (FrameSums, 1);
  /* Plane data pointers are absolute: offsets from plane 0's. */
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&frame); p++) {
    offset[p] = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, p) -
        (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
    stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, p);
  }
  f->mapped = plane_sum (&frame.info, GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
      offset, stride, FALSE);
  f->inverted = plane_sum (&frame.info,
      GST_VIDEO_FRAME_PLANE_DATA (&frame, 0), offset, stride, TRUE);
  gst_video_frame_unmap (&frame);

  /*
   * The raw reader, a plain consumer: the appsink does not take the video
   * meta, so the frame must have the default layout of the caps (as for
   * filesink), whatever meta it carries.
   */
  if (gst_buffer_n_memory (buf) == 1 && gst_is_dmabuf_memory (mem)) {
    const guint8 *data = raw_data (mem);

    if (!data) {
      frame_sums_free (f);
      return NULL;
    }
    for (p = 0; p < GST_VIDEO_INFO_N_PLANES (&info); p++) {
      offset[p] = GST_VIDEO_INFO_PLANE_OFFSET (&info, p);
      stride[p] = GST_VIDEO_INFO_PLANE_STRIDE (&info, p);
    }
    f->raw = plane_sum (&info, data, offset, stride, FALSE);
  }
  return f;
}

/* Run one pipeline; its frames' sums, or NULL with *error set. */
static GPtrArray *
run (const gchar * desc, const gchar * counter, guint frames, gchar ** error)
{
  GPtrArray *sums = g_ptr_array_new_with_free_func (frame_sums_free);
  GstElement *p, *sink, *up;
  GError *err = NULL;
  GstMessage *msg;
  GstBus *bus;

  p = gst_parse_launch (desc, &err);
  if (!p) {
    *error = g_strdup_printf ("cannot build '%s': %s", desc, err->message);
    g_clear_error (&err);
    g_ptr_array_unref (sums);
    return NULL;
  }
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  up = gst_bin_get_by_name (GST_BIN (p), "up");
  if (gst_element_set_state (p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    *error = g_strdup ("cannot start the pipeline");
  while (!*error) {
    GstSample *s = NULL;
    gboolean eos;
    FrameSums *hex;

    g_signal_emit_by_name (sink, "try-pull-sample",
        (GstClockTime) WAIT_S * GST_SECOND, &s);
    if (!s) {
      g_object_get (sink, "eos", &eos, NULL);
      if (!eos)
        *error = g_strdup_printf ("no frame and no EOS in %d s", WAIT_S);
      break;
    }
    hex = frame_sum (s);
    gst_sample_unref (s);
    if (!hex)
      *error = g_strdup_printf ("cannot map frame %u", sums->len);
    else
      g_ptr_array_add (sums, hex);
  }
  bus = gst_element_get_bus (p);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (msg) {
    gchar *dbg = NULL;

    gst_message_parse_error (msg, &err, &dbg);
    g_free (*error);
    *error = g_strdup_printf ("pipeline error: %s (%s)", err->message,
        dbg ? dbg : "");
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (msg);
  }
  gst_object_unref (bus);
  if (!*error && sums->len != frames)
    *error = g_strdup_printf ("%u frames, not %u", sums->len, frames);
  if (!*error && up && counter) {
    guint64 n;

    g_object_get (up, counter, &n, NULL);
    if (n != frames)
      *error = g_strdup_printf ("%s is %" G_GUINT64_FORMAT ", not %u",
          counter, n, frames);
  }
  gst_element_set_state (p, GST_STATE_NULL);
  gst_clear_object (&up);
  gst_object_unref (sink);
  gst_object_unref (p);
  if (*error) {
    g_ptr_array_unref (sums);
    return NULL;
  }
  return sums;
}

/*
 * --compare-files FORMAT WIDTH HEIGHT A B: raw frames of the default layout
 * (what filesink writes): equal in size, and frame for frame in their
 * visible pixels; row padding, which nothing writes, is not compared.
 */
static int
compare_files (gchar ** argv)
{
  GstVideoFormat format = gst_video_format_from_string (argv[0]);
  gchar *a = NULL, *b = NULL;
  gsize alen, blen, n, i;
  GstVideoInfo info;
  gint ret = 0;

  if (format == GST_VIDEO_FORMAT_UNKNOWN ||
      !gst_video_info_set_format (&info, format, atoi (argv[1]),
          atoi (argv[2]))) {
    g_printerr ("bad format or size: %s %s %s\n", argv[0], argv[1], argv[2]);
    return 2;
  }
  if (!g_file_get_contents (argv[3], &a, &alen, NULL) ||
      !g_file_get_contents (argv[4], &b, &blen, NULL)) {
    g_printerr ("cannot read %s or %s\n", argv[3], argv[4]);
    ret = 2;
    goto out;
  }
  if (alen != blen || alen % GST_VIDEO_INFO_SIZE (&info)) {
    g_print ("%s: %" G_GSIZE_FORMAT " bytes, %s: %" G_GSIZE_FORMAT
        " bytes, frames of %" G_GSIZE_FORMAT "\n", argv[3], alen, argv[4],
        blen, GST_VIDEO_INFO_SIZE (&info));
    ret = 1;
    goto out;
  }
  n = alen / GST_VIDEO_INFO_SIZE (&info);
  for (i = 0; i < n && !ret; i++) {
    gsize at = i * GST_VIDEO_INFO_SIZE (&info);
    gchar *sa = plane_sum (&info, (guint8 *) a + at, info.offset, info.stride,
        FALSE);
    gchar *sb = plane_sum (&info, (guint8 *) b + at, info.offset, info.stride,
        FALSE);

    if (strcmp (sa, sb)) {
      g_print ("frame %" G_GSIZE_FORMAT " differs\n", i);
      ret = 1;
    }
    g_free (sa);
    g_free (sb);
  }
  if (!ret)
    g_print ("%" G_GSIZE_FORMAT " frames of %s %sx%s equal\n", n, argv[0],
        argv[1], argv[2]);
out:
  g_free (a);
  g_free (b);
  return ret;
}

int
main (int argc, char **argv)
{
  const gchar *format, *src;
  gboolean report = FALSE;
  guint width, height, frames, i, v, distinct, failed = 0;
  GPtrArray *ref;
  GHashTable *seen;
  gchar *label, *desc, *error = NULL;

  gst_init (&argc, &argv);
  if (argc == 7 && !strcmp (argv[1], "--compare-files"))
    return compare_files (argv + 2);
  if (argc > 1 && !strcmp (argv[1], "--report")) {
    report = TRUE;
    argv++;
    argc--;
  }
  if (argc < 6) {
    g_printerr ("usage: %s [--report] FORMAT WIDTH HEIGHT FRAMES "
        "'SRC PROPERTIES' [VARIANT...]\nvariants:", argv[0]);
    for (v = 0; v < G_N_ELEMENTS (all_variants); v++)
      g_printerr (" %s", all_variants[v].name);
    g_printerr ("\n");
    return 2;
  }
  format = argv[1];
  width = atoi (argv[2]);
  height = atoi (argv[3]);
  frames = atoi (argv[4]);
  src = argv[5];
  if (!width || !height || !frames || gst_video_format_from_string (format)
      == GST_VIDEO_FORMAT_UNKNOWN) {
    g_printerr ("%s: bad format or size: %s %s %s %s\n", argv[0], argv[1],
        argv[2], argv[3], argv[4]);
    return 2;
  }
  label = g_strdup_printf ("framesum %s %ux%u %s", format, width, height, src);

  desc = g_strdup_printf ("videotestsrc %s num-buffers=%u ! video/x-raw,"
      "format=%s,width=%u,height=%u,framerate=30/1 ! appsink name=sink "
      "sync=false max-buffers=4", src, frames, format, width, height);
  ref = run (desc, NULL, frames, &error);
  g_free (desc);
  if (!ref) {
    g_print ("not ok - %s: reference: %s\n", label, error);
    return 1;
  }
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (i = 0; i < ref->len; i++)
    g_hash_table_add (seen, ((FrameSums *) g_ptr_array_index (ref,
                i))->mapped);
  distinct = g_hash_table_size (seen);
  g_hash_table_unref (seen);
  if (distinct * 2 >= frames && (frames == 1 || distinct > 1)) {
    g_print ("ok - %s: reference has %u distinct frames of %u\n", label,
        distinct, frames);
  } else {
    g_print ("not ok - %s: reference has only %u distinct frames of %u\n",
        label, distinct, frames);
    failed++;
  }

  for (v = 0; v < G_N_ELEMENTS (all_variants); v++) {
    gboolean wanted = argc == 6;
    GPtrArray *sums;
    guint bad = 0, first_bad = 0, bad_raw = 0, no_raw = 0;

    for (i = 6; i < (guint) argc; i++)
      wanted |= !strcmp (argv[i], all_variants[v].name);
    if (!wanted)
      continue;
    desc = g_strdup_printf ("videotestsrc %s num-buffers=%u ! video/x-raw,"
        "format=%s,width=%u,height=%u,framerate=30/1 ! %s ! appsink "
        "name=sink sync=false max-buffers=4", src, frames, format, width,
        height, all_variants[v].elements);
    sums = run (desc, all_variants[v].counter, frames, &error);
    g_free (desc);
    if (!sums) {
      g_print ("not ok - %s: %s: %s\n", label, all_variants[v].name, error);
      g_clear_pointer (&error, g_free);
      failed++;
      continue;
    }
    for (i = 0; i < frames; i++) {
      FrameSums *got = g_ptr_array_index (sums, i);
      FrameSums *want = g_ptr_array_index (ref, i);
      const gchar *w = all_variants[v].inverted ? want->inverted :
          want->mapped;

      if (strcmp (got->mapped, w) && !bad++)
        first_bad = i;
      if (!got->raw)
        no_raw++;
      else if (strcmp (got->raw, w))
        bad_raw++;
    }
    if (report) {
      g_print ("# %s: %s: %u of %u frames differ (mapped), %u (raw mmap)\n",
          label, all_variants[v].name, bad, frames, bad_raw);
    } else if (bad || bad_raw || no_raw) {
      g_print ("not ok - %s: %s: %u of %u frames differ mapped (first %u), "
          "%u through the raw mmap, %u not dma-buf\n", label,
          all_variants[v].name, bad, frames, first_bad, bad_raw, no_raw);
      failed++;
    } else {
      g_print ("ok - %s: %s: %u frames %s, mapped and through the raw mmap\n",
          label, all_variants[v].name, frames,
          all_variants[v].inverted ? "inverted as written" : "equal");
    }
    g_ptr_array_unref (sums);
  }
  g_ptr_array_unref (ref);
  g_free (label);
  return failed ? 1 : 0;
}
