/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The udmabuf plugin: udmabuf-backed dma-buf memory for raw video.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstudmabufupload.h"

#ifndef PACKAGE
#define PACKAGE "gst-udmabuf"
#endif
#ifndef VERSION
#define VERSION "1.0.0"
#endif
#define GST_PACKAGE_NAME "mmu-update gst-udmabuf"
#define GST_PACKAGE_ORIGIN "mmu-update project, userspace/gst-udmabuf"

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (udmabufupload, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, udmabuf,
    "udmabuf-backed dma-buf memory for raw video (memfd pages shared with "
    "dma-buf importers through /dev/udmabuf)",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
