/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gst_framesum: frame-for-frame checksums of videotestsrc pipelines with
 * and without udmabufupload.
 *
 *   gst_framesum FORMAT WIDTH HEIGHT FRAMES 'SRC PROPERTIES' [VARIANT...]
 *
 * Runs videotestsrc SRC PROPERTIES num-buffers=FRAMES ! caps ! appsink, the
 * reference, then the same with each VARIANT (default: all) between the
 * caps and the appsink, and compares a SHA-1 of every frame's visible
 * pixels (plane by plane, row by row, so stride padding does not count;
 * checksumsink hashes whole buffers, padding included).  The appsink maps
 * each frame through its memory, for udmabuf memory the dma-buf mmap.
 * Prints a TAP line per variant, and one saying the reference frames
 * differ from each other (a static picture would hide stale frames).
 * Exits 0 when every line is "ok".  --report prints mismatches as
 * comments and exits 0 (the stock-udmabuf contrast of make bench).
 */
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/video/video.h>

#define WAIT_S 120

static const struct
{
  const gchar *name;
  const gchar *elements;
  const gchar *counter;         /* must equal the frame count */
} all_variants[] = {
  {"zero-copy", "udmabufupload name=up", "frames-zero-copy"},
  {"copy", "identity drop-allocation=true ! udmabufupload name=up",
      "frames-copied"},
  {"copy+punch", "identity drop-allocation=true ! udmabufupload name=up "
        "punch-rewrite=true", "frames-punched"},
  {"zero-copy+punch", "udmabufupload name=up punch-rewrite=true",
      "frames-punched"},
};

static gchar *
frame_sum (GstSample * sample)
{
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA1);
  GstVideoFrame frame;
  GstVideoInfo info;
  gchar *hex;
  guint p, row;

  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) ||
      !gst_video_frame_map (&frame, &info, buf, GST_MAP_READ)) {
    g_checksum_free (sum);
    return NULL;
  }
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&frame); p++) {
    gint comp[GST_VIDEO_MAX_COMPONENTS];
    guint width, height;

    gst_video_format_info_component (frame.info.finfo, p, comp);
    width = GST_VIDEO_FRAME_COMP_WIDTH (&frame, comp[0]) *
        GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, comp[0]);
    height = GST_VIDEO_FRAME_COMP_HEIGHT (&frame, comp[0]);
    for (row = 0; row < height; row++)
      g_checksum_update (sum, (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame,
              p) + row * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, p), width);
  }
  gst_video_frame_unmap (&frame);
  hex = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  return hex;
}

/* Run one pipeline; its frames' sums, or NULL with *error set. */
static GPtrArray *
run (const gchar * desc, const gchar * counter, guint frames, gchar ** error)
{
  GPtrArray *sums = g_ptr_array_new_with_free_func (g_free);
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
    gchar *hex;

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
    g_hash_table_add (seen, g_ptr_array_index (ref, i));
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
    guint bad = 0, first_bad = 0;

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
    for (i = 0; i < frames; i++)
      if (strcmp (g_ptr_array_index (sums, i), g_ptr_array_index (ref, i))) {
        if (!bad++)
          first_bad = i;
      }
    if (report) {
      g_print ("# %s: %s: %u of %u frames differ\n", label,
          all_variants[v].name, bad, frames);
    } else if (bad) {
      g_print ("not ok - %s: %s: %u of %u frames differ, first %u\n", label,
          all_variants[v].name, bad, frames, first_bad);
      failed++;
    } else {
      g_print ("ok - %s: %s: %u frames equal\n", label, all_variants[v].name,
          frames);
    }
    g_ptr_array_unref (sums);
  }
  g_ptr_array_unref (ref);
  g_free (label);
  return failed ? 1 : 0;
}
