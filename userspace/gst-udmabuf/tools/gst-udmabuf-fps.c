/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gst-udmabuf-fps: frames per second of a pipeline, for make bench.
 *
 *   gst-udmabuf-fps [-t SECONDS] 'PIPELINE'
 *
 * PIPELINE must end in an element named "sink" and reach EOS by itself
 * (num-buffers=N on the source).  The clock starts at the first buffer the
 * sink receives, so start-up (plugin loading, pool allocation) is not
 * counted; it stops at the last one.  If an element is named "up" (a
 * udmabufupload), its counters are printed too.  Output, one line:
 *
 *   frames=N seconds=S fps=F [udmabufs=U copied=C zero_copy=Z]
 */
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>

static gint64 first_us, last_us;
static guint frames;

static GstPadProbeReturn
count (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  gint64 now = g_get_monotonic_time ();

  if (!frames++)
    first_us = now;
  last_us = now;
  return GST_PAD_PROBE_OK;
}

int
main (int argc, char **argv)
{
  GstElement *p, *sink, *up;
  guint timeout_s = 600;
  GError *err = NULL;
  GstMessage *msg;
  GstPad *pad;
  GstBus *bus;
  gdouble s;
  gint ret = 0;

  gst_init (&argc, &argv);
  if (argc == 4 && !strcmp (argv[1], "-t")) {
    timeout_s = atoi (argv[2]);
    argv += 2;
    argc -= 2;
  }
  if (argc != 2 || !timeout_s) {
    g_printerr ("usage: %s [-t SECONDS] 'PIPELINE ending in name=sink'\n",
        argv[0]);
    return 2;
  }
  p = gst_parse_launch (argv[1], &err);
  if (!p) {
    g_printerr ("%s: %s\n", argv[0], err->message);
    g_clear_error (&err);
    return 1;
  }
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  if (!sink) {
    g_printerr ("%s: no element named sink\n", argv[0]);
    gst_object_unref (p);
    return 2;
  }
  up = gst_bin_get_by_name (GST_BIN (p), "up");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count, NULL, NULL);
  gst_object_unref (pad);

  if (gst_element_set_state (p, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("%s: cannot start the pipeline\n", argv[0]);
    ret = 1;
  } else {
    bus = gst_element_get_bus (p);
    msg = gst_bus_timed_pop_filtered (bus, timeout_s * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    gst_object_unref (bus);
    if (!msg) {
      g_printerr ("%s: no EOS in %u s\n", argv[0], timeout_s);
      ret = 1;
    } else {
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
        gst_message_parse_error (msg, &err, NULL);
        g_printerr ("%s: %s\n", argv[0], err->message);
        g_clear_error (&err);
        ret = 1;
      }
      gst_message_unref (msg);
    }
  }
  gst_element_set_state (p, GST_STATE_NULL);
  if (!ret && frames < 2) {
    g_printerr ("%s: %u frames: too few to time\n", argv[0], frames);
    ret = 1;
  }
  if (!ret) {
    s = (last_us - first_us) / 1e6;
    g_print ("frames=%u seconds=%.3f fps=%.2f", frames, s,
        s > 0 ? (frames - 1) / s : 0.0);
    if (up) {
      guint64 created, copied, zero;

      g_object_get (up, "udmabufs-created", &created, "frames-copied",
          &copied, "frames-zero-copy", &zero, NULL);
      g_print (" udmabufs=%" G_GUINT64_FORMAT " copied=%" G_GUINT64_FORMAT
          " zero_copy=%" G_GUINT64_FORMAT, created, copied, zero);
    }
    g_print ("\n");
  }
  gst_clear_object (&up);
  gst_object_unref (sink);
  gst_object_unref (p);
  return ret;
}
