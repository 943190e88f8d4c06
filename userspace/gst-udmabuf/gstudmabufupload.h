/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udmabufupload: raw video into udmabuf-backed dma-buf memory.
 */
#ifndef __GST_MMU_UDMABUF_UPLOAD_H__
#define __GST_MMU_UDMABUF_UPLOAD_H__

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS
#define GST_TYPE_MMU_UDMABUF_UPLOAD (gst_mmu_udmabuf_upload_get_type ())
G_DECLARE_FINAL_TYPE (GstMmuUdmabufUpload, gst_mmu_udmabuf_upload,
    GST, MMU_UDMABUF_UPLOAD, GstBaseTransform);

GST_ELEMENT_REGISTER_DECLARE (udmabufupload);

G_END_DECLS
#endif /* __GST_MMU_UDMABUF_UPLOAD_H__ */
