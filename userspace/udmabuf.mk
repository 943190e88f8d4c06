# libudmabuf, udmabuf-tool, the GStreamer plugin and their tests, included by
# the top-level Makefile.  Everything goes to build/userspace/{bin,lib,include}
# laid out as it is installed, so that $ORIGIN rpaths work in both places.
#
#   make userspace              also builds these (target udmabuf-userspace)
#   make udmabuf-tests          the test programs in build/tests/gst/
#   make install PREFIX=/usr/local [DESTDIR=...] [LIBDIR=...]
#
# Installed libraries go to LIBDIR, by default PREFIX/lib/<multiarch> as
# dpkg-architecture (or gcc -print-multiarch) names it, and the plugin to
# LIBDIR/gstreamer-1.0, where GStreamer looks for PREFIX=/usr.

UB_SRC := userspace/libudmabuf
UB_OUT := $(B)/userspace
UB_LIBDIR := $(UB_OUT)/lib
UB_VERSION := 2.0.0
UB_SONAME := libudmabuf.so.2
UB_CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
UB_COMMA := ,
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || \
	gcc -print-multiarch 2>/dev/null)
# bin/../lib in build/userspace, bin/../lib/<multiarch> where installed
UB_RPATH := -Wl,-rpath,'$$ORIGIN/../lib' \
	$(if $(MULTIARCH),-Wl$(UB_COMMA)-rpath$(UB_COMMA)'$$ORIGIN/../lib/$(MULTIARCH)')
GST_PKGS := gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 \
	gstreamer-allocators-1.0
GST_PLUGIN_DIR := $(UB_LIBDIR)/gstreamer-1.0
GST_SRCS := $(wildcard userspace/gst-udmabuf/*.c)
GST_HDRS := $(wildcard userspace/gst-udmabuf/*.h)
UB_TEST_OUT := $(B)/tests/gst

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
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

# pc-file PREFIX LIBDIR OUTPUT
define ub_pc
	mkdir -p $(dir $(3)) && sed -e 's|@PREFIX@|$(1)|' -e 's|@LIBDIR@|$(2)|' \
		-e 's|@VERSION@|$(UB_VERSION)|' $(UB_SRC)/libudmabuf.pc.in > $(3)
endef

$(UB_LIBDIR)/pkgconfig/libudmabuf.pc: $(UB_SRC)/libudmabuf.pc.in
	@$(call ub_pc,$(UB_OUT),$(UB_LIBDIR),$@)

$(UB_OUT)/include/libudmabuf.h: $(UB_SRC)/libudmabuf.h
	@mkdir -p $(@D) && cp $< $@

$(UB_OUT)/bin/udmabuf-tool: userspace/udmabuf-tool/udmabuf-tool.c $(UB_LIBDIR)/libudmabuf.so \
		tests/udmabuf_importer/udmabuf_importer.h
	@mkdir -p $(@D)
	@echo "  CC      $(@F)"
	@gcc $(UB_CFLAGS) -I$(UB_SRC) -Itests/udmabuf_importer $$(pkg-config --cflags libdrm) -o $@ $< \
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
	@gcc $(UB_CFLAGS) $$(pkg-config --cflags gstreamer-video-1.0 gstreamer-app-1.0 \
		gstreamer-allocators-1.0) -o $@ $< $$(pkg-config --libs gstreamer-video-1.0 \
		gstreamer-app-1.0 gstreamer-allocators-1.0)

install: udmabuf-userspace
	@echo "  INSTALL $(DESTDIR)$(PREFIX), libraries in $(DESTDIR)$(LIBDIR)"
	@set -e; d=$(DESTDIR)$(PREFIX); l=$(DESTDIR)$(LIBDIR); \
	install -d $$l/pkgconfig $$l/gstreamer-1.0 $$d/include $$d/bin; \
	install -m 644 $(UB_LIBDIR)/libudmabuf.so.$(UB_VERSION) $(UB_LIBDIR)/libudmabuf.a $$l/; \
	ln -sf libudmabuf.so.$(UB_VERSION) $$l/$(UB_SONAME); \
	ln -sf $(UB_SONAME) $$l/libudmabuf.so; \
	install -m 644 $(UB_SRC)/libudmabuf.h $$d/include/; \
	$(call ub_pc,$(PREFIX),$(LIBDIR),$$l/pkgconfig/libudmabuf.pc); \
	install -m 755 $(UB_OUT)/bin/udmabuf-tool $(UB_OUT)/bin/gst-udmabuf-fps $$d/bin/; \
	install -m 755 $(GST_PLUGIN_DIR)/libgstudmabuf.so $$l/gstreamer-1.0/
