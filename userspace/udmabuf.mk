# libudmabuf, udmabuf-tool, the GStreamer plugin and their tests, included by
# the top-level Makefile.  Everything goes to build/userspace/{bin,lib,include}
# laid out as it is installed, so that $ORIGIN rpaths work in both places.
#
#   make userspace              also builds these (target udmabuf-userspace)
#   make udmabuf-tests          the test programs in build/tests/gst/
#   make install PREFIX=/usr/local [DESTDIR=...]

UB_SRC := userspace/libudmabuf
UB_OUT := $(B)/userspace
UB_LIBDIR := $(UB_OUT)/lib
UB_VERSION := 1.0.0
UB_SONAME := libudmabuf.so.1
UB_CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
UB_RPATH := -Wl,-rpath,'$$ORIGIN/../lib'
GST_PKGS := gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 \
	gstreamer-allocators-1.0
GST_PLUGIN_DIR := $(UB_LIBDIR)/gstreamer-1.0
GST_SRCS := $(wildcard userspace/gst-udmabuf/*.c)
GST_HDRS := $(wildcard userspace/gst-udmabuf/*.h)
UB_TEST_OUT := $(B)/tests/gst

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: udmabuf-userspace udmabuf-tests install

udmabuf-userspace: deps $(UB_LIBDIR)/libudmabuf.so $(UB_LIBDIR)/libudmabuf.a \
		$(UB_LIBDIR)/pkgconfig/libudmabuf.pc $(UB_OUT)/include/libudmabuf.h \
		$(UB_OUT)/bin/udmabuf-tool $(UB_OUT)/bin/gst-udmabuf-fps \
		$(GST_PLUGIN_DIR)/libgstudmabuf.so

$(UB_LIBDIR)/libudmabuf.so.$(UB_VERSION): $(UB_SRC)/libudmabuf.c $(UB_SRC)/libudmabuf.h $(UB_SRC)/libudmabuf.map
	@mkdir -p $(@D)
	@echo "  CC      $(@F)"
	@gcc $(UB_CFLAGS) -fPIC -fvisibility=hidden -shared -pthread \
		-Wl,-soname,$(UB_SONAME) -Wl,--version-script,$(UB_SRC)/libudmabuf.map \
		-o $@ $(UB_SRC)/libudmabuf.c

$(UB_LIBDIR)/libudmabuf.so: $(UB_LIBDIR)/libudmabuf.so.$(UB_VERSION)
	@ln -sf libudmabuf.so.$(UB_VERSION) $(UB_LIBDIR)/$(UB_SONAME)
	@ln -sf $(UB_SONAME) $@

$(UB_LIBDIR)/libudmabuf.a: $(UB_SRC)/libudmabuf.c $(UB_SRC)/libudmabuf.h
	@mkdir -p $(@D)
	@echo "  AR      $(@F)"
	@gcc $(UB_CFLAGS) -fPIC -fvisibility=hidden -c -o $(UB_LIBDIR)/libudmabuf.o $<
	@rm -f $@ && ar rcs $@ $(UB_LIBDIR)/libudmabuf.o && rm -f $(UB_LIBDIR)/libudmabuf.o

# pc-file PREFIX OUTPUT
define ub_pc
	mkdir -p $(dir $(2)) && sed -e 's|@PREFIX@|$(1)|' -e 's|@VERSION@|$(UB_VERSION)|' \
		$(UB_SRC)/libudmabuf.pc.in > $(2)
endef

$(UB_LIBDIR)/pkgconfig/libudmabuf.pc: $(UB_SRC)/libudmabuf.pc.in
	@$(call ub_pc,$(UB_OUT),$@)

$(UB_OUT)/include/libudmabuf.h: $(UB_SRC)/libudmabuf.h
	@mkdir -p $(@D) && cp $< $@

$(UB_OUT)/bin/udmabuf-tool: userspace/udmabuf-tool/udmabuf-tool.c $(UB_LIBDIR)/libudmabuf.so
	@mkdir -p $(@D)
	@echo "  CC      $(@F)"
	@gcc $(UB_CFLAGS) -I$(UB_SRC) $$(pkg-config --cflags libdrm) -o $@ $< \
		-L$(UB_LIBDIR) -ludmabuf $$(pkg-config --libs libdrm) $(UB_RPATH)

$(UB_OUT)/bin/gst-udmabuf-fps: userspace/gst-udmabuf/tools/gst-udmabuf-fps.c
	@mkdir -p $(@D)
	@echo "  CC      $(@F)"
	@gcc $(UB_CFLAGS) $$(pkg-config --cflags gstreamer-1.0) -o $@ $< \
		$$(pkg-config --libs gstreamer-1.0)

$(GST_PLUGIN_DIR)/libgstudmabuf.so: $(GST_SRCS) $(GST_HDRS) $(UB_LIBDIR)/libudmabuf.so
	@mkdir -p $(@D)
	@echo "  CC      $(@F)"
	@gcc $(UB_CFLAGS) -Wno-unused-function -fPIC -shared -fvisibility=hidden \
		-I$(UB_SRC) $$(pkg-config --cflags $(GST_PKGS)) -o $@ $(GST_SRCS) \
		-L$(UB_LIBDIR) -ludmabuf $$(pkg-config --libs $(GST_PKGS)) \
		-Wl,-rpath,'$$ORIGIN/..' -Wl,--no-undefined

# Tests: the library's, the plugin's (GstCheck) and the frame checksums.
udmabuf-tests: kernel udmabuf-userspace $(UB_TEST_OUT)/libudmabuf_test \
		$(UB_TEST_OUT)/gst_udmabuf_check $(UB_TEST_OUT)/gst_framesum

$(UB_TEST_OUT)/libudmabuf_test: tests/gst/libudmabuf_test.c $(UB_LIBDIR)/libudmabuf.so
	@test -f $(SELFTESTS)/kselftest_harness.h || \
		{ echo "make: $(SELFTESTS) is missing: run make kernel first" >&2; exit 1; }
	@mkdir -p $(@D)
	@echo "  CC      tests/gst/$(@F)"
	@gcc $(TEST_CFLAGS) -I$(UB_SRC) -o $@ $< -L$(UB_LIBDIR) -ludmabuf -pthread \
		-Wl,-rpath,$(UB_LIBDIR)

$(UB_TEST_OUT)/gst_udmabuf_check: tests/gst/gst_udmabuf_check.c
	@mkdir -p $(@D)
	@echo "  CC      tests/gst/$(@F)"
	@gcc $(UB_CFLAGS) $$(pkg-config --cflags gstreamer-check-1.0 gstreamer-video-1.0 \
		gstreamer-allocators-1.0) -o $@ $< \
		$$(pkg-config --libs gstreamer-check-1.0 gstreamer-video-1.0 gstreamer-allocators-1.0)

$(UB_TEST_OUT)/gst_framesum: tests/gst/gst_framesum.c
	@mkdir -p $(@D)
	@echo "  CC      tests/gst/$(@F)"
	@gcc $(UB_CFLAGS) $$(pkg-config --cflags gstreamer-video-1.0 gstreamer-app-1.0) \
		-o $@ $< $$(pkg-config --libs gstreamer-video-1.0 gstreamer-app-1.0)

install: udmabuf-userspace
	@echo "  INSTALL $(DESTDIR)$(PREFIX)"
	@set -e; d=$(DESTDIR)$(PREFIX); \
	install -d $$d/lib/pkgconfig $$d/lib/gstreamer-1.0 $$d/include $$d/bin; \
	install -m 644 $(UB_LIBDIR)/libudmabuf.so.$(UB_VERSION) $(UB_LIBDIR)/libudmabuf.a $$d/lib/; \
	ln -sf libudmabuf.so.$(UB_VERSION) $$d/lib/$(UB_SONAME); \
	ln -sf $(UB_SONAME) $$d/lib/libudmabuf.so; \
	install -m 644 $(UB_SRC)/libudmabuf.h $$d/include/; \
	$(call ub_pc,$(PREFIX),$$d/lib/pkgconfig/libudmabuf.pc); \
	install -m 755 $(UB_OUT)/bin/udmabuf-tool $(UB_OUT)/bin/gst-udmabuf-fps $$d/bin/; \
	install -m 755 $(GST_PLUGIN_DIR)/libgstudmabuf.so $$d/lib/gstreamer-1.0/
