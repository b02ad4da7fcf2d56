# Installs libweir (the C ABI) for C and Go users:
#
#   make install PREFIX=$HOME/.local     # builds with cargo first (release)
#   make uninstall PREFIX=$HOME/.local
#
# installs, under PREFIX (default /usr/local; DESTDIR is honoured for packaging):
#   lib/libweir.a                   static library
#   lib/libweir.so.VERSION          shared library, soname libweir.so.ABI (ffi/build.rs)
#   lib/libweir.so.ABI, libweir.so  the soname and development links
#   include/weir.h
#   lib/pkgconfig/weir.pc           so `cc app.c $(pkg-config --cflags --libs weir)` works
#
# ABI is the major version, or 0.MINOR before 1.0 (a 0.x minor release may break the ABI).
# LIBWEIR_DIR=DIR installs the libraries already built in DIR instead of running cargo (the
# tests install what `cargo test` built). Everything else is cargo: `cargo build`, `cargo test`.

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR      ?=
CARGO        ?= cargo
INSTALL      ?= install

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(word 1,$(subst ., ,$(VERSION)))
MINOR   := $(word 2,$(subst ., ,$(VERSION)))
ABI     := $(if $(filter 0,$(MAJOR)),0.$(MINOR),$(MAJOR))
SONAME  := libweir.so.$(ABI)

ifdef LIBWEIR_DIR
BUILD :=
else
LIBWEIR_DIR := $(or $(CARGO_TARGET_DIR),target)/release
BUILD := build
endif

all: build

# A relative PREFIX would end up in weir.pc as written, meaningless elsewhere.
check-prefix:
	@case "$(PREFIX)" in /*) ;; *) echo "make: PREFIX must be an absolute path, got '$(PREFIX)'" >&2; exit 2 ;; esac
	@test -n "$(VERSION)" || { echo "make: no version in Cargo.toml" >&2; exit 2; }

build:
	$(CARGO) build --release -p weir-ffi

install: check-prefix $(BUILD)
	@for f in libweir.a libweir.so; do \
	  test -f "$(LIBWEIR_DIR)/$$f" || { echo "make: $(LIBWEIR_DIR)/$$f is missing (cargo build --release -p weir-ffi)" >&2; exit 1; }; \
	done
	$(INSTALL) -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)"
	$(INSTALL) -m 644 "$(LIBWEIR_DIR)/libweir.a" "$(DESTDIR)$(LIBDIR)/libweir.a"
	$(INSTALL) -m 755 "$(LIBWEIR_DIR)/libweir.so" "$(DESTDIR)$(LIBDIR)/libweir.so.$(VERSION)"
	ln -sf "libweir.so.$(VERSION)" "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sf "$(SONAME)" "$(DESTDIR)$(LIBDIR)/libweir.so"
	$(INSTALL) -m 644 include/weir.h "$(DESTDIR)$(INCLUDEDIR)/weir.h"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' ffi/weir.pc.in > "$(DESTDIR)$(PKGCONFIGDIR)/weir.pc"
	@echo "installed libweir $(VERSION) ($(SONAME)) under $(DESTDIR)$(PREFIX)"

uninstall: check-prefix
	rm -f "$(DESTDIR)$(LIBDIR)/libweir.a" "$(DESTDIR)$(LIBDIR)/libweir.so" \
	      "$(DESTDIR)$(LIBDIR)/$(SONAME)" "$(DESTDIR)$(LIBDIR)/libweir.so.$(VERSION)" \
	      "$(DESTDIR)$(INCLUDEDIR)/weir.h" "$(DESTDIR)$(PKGCONFIGDIR)/weir.pc"

.PHONY: all check-prefix build install uninstall
