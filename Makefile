# MediaProxy build.  `make` builds everything into build/, `make check` runs
# every test, `make demo` places one sipp call through Kamailio and both daemons.
# Both check and demo install missing Debian packages first (tools/install-deps.sh).
#
# Where the sources are (README.md, "Where things are"):
#   common/      code both daemons share        -> build/obj/common/
#   userspace/   the relay agent (media-relay)  -> build/obj/userspace/
#   dispatcher/  media-dispatcher               -> build/obj/dispatcher/
#   bpf/         the fast path's BPF programs   -> build/*.bpf.o, build/*.skel.h
#   include/     the BPF <-> userspace ABI
# Each folder sees only the headers it may use: common/ its own, the relay
# agent common/ include/ and the skeletons, the dispatcher common/.  So a
# shared file that reaches for a daemon's header does not build.

VERSION  := 0.1.0
# SANITIZE=1: AddressSanitizer and UBSan in every program and test, built
# apart in build/sanitize/ (selftests/README.md, "Sanitizers").
BUILD    := build$(if $(SANITIZE),/sanitize)
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool

LIBS_RELAY      := libbpf libelf libnetfilter_conntrack libnftables openssl libevent libevent_openssl jansson inih
LIBS_DISPATCHER := openssl libevent libevent_openssl jansson sqlite3 libpq libmariadb radcli inih
LIBS_UNIT       := cmocka
# not in pkg-config: the relay looks up its dispatchers' SRV records
LDLIBS_RELAY    := -lresolv -lm

# CFLAGS (optimisation, hardening: `make CFLAGS=...` or the environment) come
# first; the flags the code needs are always added.
CFLAGS   ?= -O2 -g
CODE_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter -Wno-missing-field-initializers \
               -D_GNU_SOURCE -DMP_VERSION='"$(VERSION)"' -MMD -MP
MP_CFLAGS := $(CFLAGS) $(CODE_CFLAGS)
ifneq ($(SANITIZE),)
MP_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
              -I/usr/include/$(shell $(CC) -print-multiarch) -Iinclude

# Where `make install` puts things (README.md, "Installing"); DESTDIR is
# prepended to each.  The system configuration directory is compiled in:
# give the same sysconfdir to `make` and `make install`.
PREFIX     ?= /usr/local
sysconfdir ?= /etc
sbindir    ?= $(PREFIX)/sbin
bindir     ?= $(PREFIX)/bin
datadir    ?= $(PREFIX)/share
mandir     ?= $(datadir)/man
unitdir    ?= $(PREFIX)/lib/systemd/system
tmpfilesdir ?= $(PREFIX)/lib/tmpfiles.d
MP_CFLAGS  += -DMP_SYSTEM_CONFIG_DIR='"$(sysconfdir)/mediaproxy"'

# The command-line tools `make install` installs into bindir, as
# SOURCE:NAME, each with its man page doc/man/NAME.1: one line per tool
# (the Debian packages pick them up by themselves).
TOOLS := tools/relay-ctl:media-relay-ctl
TOOLS += tools/make-certs.sh:mediaproxy-make-certs
TOOLS += tools/mediaproxyctl:mediaproxyctl

pkg = $(shell pkg-config --cflags --libs $(1))
pkg_cflags = $(shell pkg-config --cflags $(1))
objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# The include path of each folder.
INC_common     := -Icommon
INC_userspace  := -Icommon -Iinclude -Iuserspace -I$(BUILD)
INC_dispatcher := -Icommon -Idispatcher
INC_tests      := $(INC_userspace) -Idispatcher

COMMON_OBJS := $(call objs,$(wildcard common/*.c))
RELAY_OBJS  := $(call objs,$(wildcard userspace/*.c))
DISP_OBJS   := $(call objs,$(wildcard dispatcher/*.c))
# The daemons' modules without their main(), for tests.
AGENT_OBJS  := $(filter-out %/relay_main.o,$(RELAY_OBJS))
DISP_MODS   := $(filter-out %/dispatcher_main.o,$(DISP_OBJS))

BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(wildcard bpf/*.bpf.c))
SKELETONS  := $(BPF_OBJS:.bpf.o=.skel.h)

UNIT_TESTS := $(patsubst selftests/unit/%.c,$(BUILD)/unit/%,$(wildcard selftests/unit/*.c))
HELPERS    := $(patsubst selftests/helpers/%.c,$(BUILD)/helpers/%,$(wildcard selftests/helpers/*.c))

.PHONY: all check demo deps clean vmtest bench soak fuzz fuzz-smoke fuzz-build man install uninstall deb vmtest-packages FORCE
.SECONDARY: $(BPF_OBJS) $(SKELETONS)
all: $(BUILD)/media-relay $(BUILD)/media-dispatcher man

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) $(CPPFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(notdir $*) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(CC) $(MP_CFLAGS) $(INC_common) $(call pkg_cflags,$(LIBS_RELAY) $(LIBS_DISPATCHER)) $(CPPFLAGS) -c $< -o $@

# The agent's modules include the skeleton: it must exist before they build.
$(BUILD)/obj/userspace/%.o: userspace/%.c | $(SKELETONS)
	@mkdir -p $(dir $@)
	$(CC) $(MP_CFLAGS) $(INC_userspace) $(call pkg_cflags,$(LIBS_RELAY)) $(CPPFLAGS) -c $< -o $@

$(BUILD)/obj/dispatcher/%.o: dispatcher/%.c
	@mkdir -p $(dir $@)
	$(CC) $(MP_CFLAGS) $(INC_dispatcher) $(call pkg_cflags,$(LIBS_DISPATCHER)) $(CPPFLAGS) -c $< -o $@

# The session view is built into the dispatcher (dispatcher/session_view.c).
$(BUILD)/obj/dispatcher/session_view.o: dispatcher/session_view.html

$(BUILD)/media-relay: $(RELAY_OBJS) $(COMMON_OBJS)
	$(CC) $(MP_CFLAGS) $(LDFLAGS) $^ -o $@ $(call pkg,$(LIBS_RELAY)) $(LDLIBS_RELAY)

$(BUILD)/media-dispatcher: $(DISP_OBJS) $(COMMON_OBJS)
	$(CC) $(MP_CFLAGS) $(LDFLAGS) $^ -o $@ $(call pkg,$(LIBS_DISPATCHER))

# Unit tests (cmocka) link every module but the mains, and need no root.
$(BUILD)/unit/%: selftests/unit/%.c $(COMMON_OBJS) $(AGENT_OBJS) $(DISP_MODS) | $(SKELETONS)
	@mkdir -p $(dir $@)
	$(CC) $(MP_CFLAGS) $(LDFLAGS) $(INC_tests) $< $(COMMON_OBJS) $(AGENT_OBJS) $(DISP_MODS) -o $@ \
		$(call pkg,$(LIBS_UNIT) $(LIBS_RELAY) $(LIBS_DISPATCHER)) $(LDLIBS_RELAY)

# The selftests' C helpers run as root against the real kernel; they may use
# any module of the relay agent.
$(BUILD)/helpers/%: selftests/helpers/%.c $(COMMON_OBJS) $(AGENT_OBJS) | $(SKELETONS)
	@mkdir -p $(dir $@)
	$(CC) $(MP_CFLAGS) $(LDFLAGS) $(INC_userspace) $< $(COMMON_OBJS) $(AGENT_OBJS) -o $@ $(call pkg,$(LIBS_RELAY)) $(LDLIBS_RELAY)

# A change of sysconfdir rebuilds what has it compiled in.
$(COMMON_OBJS) $(RELAY_OBJS) $(DISP_OBJS): $(BUILD)/sysconfdir
$(BUILD)/sysconfdir: FORCE
	@mkdir -p $(dir $@)
	@echo '$(sysconfdir)' | cmp -s - $@ || echo '$(sysconfdir)' >$@

# Man pages, into build/man/: the configuration file's is made from
# config/config.ini.sample, so that the two cannot disagree.
MAN_PAGES := media-dispatcher.8 media-relay.8 mediaproxy-config.ini.5 $(addsuffix .1,$(foreach t,$(TOOLS),$(lastword $(subst :, ,$(t)))))
man: $(addprefix $(BUILD)/man/,$(MAN_PAGES))

$(BUILD)/man/mediaproxy-config.ini.5: doc/man/mediaproxy-config.ini.5.in config/config.ini.sample tools/config-manpage.py $(BUILD)/sysconfdir
	@mkdir -p $(dir $@)
	tools/config-manpage.py doc/man/mediaproxy-config.ini.5.in config/config.ini.sample | \
		sed 's|/etc/mediaproxy|$(sysconfdir)/mediaproxy|g' >$@.tmp && mv $@.tmp $@

$(BUILD)/man/%: doc/man/% $(BUILD)/sysconfdir
	@mkdir -p $(dir $@)
	sed 's|/etc/mediaproxy|$(sysconfdir)/mediaproxy|g' $< >$@

# The systemd units name the programs where they are installed.
$(BUILD)/systemd/%.service: tools/systemd/%.service.in $(BUILD)/sysconfdir FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@SBINDIR@|$(sbindir)|g' -e 's|@SYSCONFDIR@|$(sysconfdir)|g' $< >$@

# (not in the caches of vmtest, the tree of make deb and the Debian roots of
# the bench and the e2e suite, build/*/*-root, which hold *.d too)
-include $(shell find $(BUILD) -type d \( -name vmtest-cache -o -name deb -o -name '*-root' \) -prune -o -name '*.d' -type f -print 2>/dev/null)

# The tree it makes is listed in README.md, "Installing" (and compared by
# selftests/test_install.sh).  The BPF programs are inside media-relay (the
# libbpf skeleton): there is no object file to install.  An existing
# config.ini is never replaced; config.ini.sample always is.
install: all $(BUILD)/systemd/media-dispatcher.service $(BUILD)/systemd/media-relay.service
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(bindir) $(DESTDIR)$(unitdir) $(DESTDIR)$(tmpfilesdir) \
		$(DESTDIR)$(sysconfdir)/mediaproxy/radius $(DESTDIR)$(datadir)/mediaproxy \
		$(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8
	install -m 0755 $(BUILD)/media-dispatcher $(BUILD)/media-relay $(DESTDIR)$(sbindir)/
	for t in $(TOOLS); do install -m 0755 $${t%%:*} $(DESTDIR)$(bindir)/$${t#*:} || exit 1; done
	install -m 0644 $(BUILD)/systemd/media-dispatcher.service $(BUILD)/systemd/media-relay.service $(DESTDIR)$(unitdir)/
	install -m 0644 tools/systemd/media-relay.tmpfiles $(DESTDIR)$(tmpfilesdir)/mediaproxy-relay.conf
	install -m 0644 config/config.ini.sample $(DESTDIR)$(datadir)/mediaproxy/
	test -e $(DESTDIR)$(sysconfdir)/mediaproxy/config.ini || \
		install -m 0644 config/config.ini.sample $(DESTDIR)$(sysconfdir)/mediaproxy/config.ini
	install -m 0644 config/radius/dictionary $(DESTDIR)$(sysconfdir)/mediaproxy/radius/
	for p in $(MAN_PAGES); do install -m 0644 $(BUILD)/man/$$p $(DESTDIR)$(mandir)/man$${p##*.}/ || exit 1; done

# Removes what install put, but config.ini (the operator's).
uninstall:
	rm -f $(DESTDIR)$(sbindir)/media-dispatcher $(DESTDIR)$(sbindir)/media-relay \
		$(foreach t,$(TOOLS),$(DESTDIR)$(bindir)/$(lastword $(subst :, ,$(t)))) \
		$(DESTDIR)$(unitdir)/media-dispatcher.service $(DESTDIR)$(unitdir)/media-relay.service \
		$(DESTDIR)$(tmpfilesdir)/mediaproxy-relay.conf \
		$(DESTDIR)$(datadir)/mediaproxy/config.ini.sample $(DESTDIR)$(sysconfdir)/mediaproxy/radius/dictionary \
		$(foreach p,$(MAN_PAGES),$(DESTDIR)$(mandir)/man$(subst .,,$(suffix $(p)))/$(p))
	-rmdir $(DESTDIR)$(datadir)/mediaproxy $(DESTDIR)$(sysconfdir)/mediaproxy/radius 2>/dev/null

# Debian packages (README.md, "Debian packages"): a clean copy of the
# tree (what git tracks, and new files it does not ignore) in
# build/deb/mediaproxy-VERSION/ with tools/debian/ as its debian/, built by
# dpkg-buildpackage; the .debs land in build/deb/.  Built again only when
# a file of the tree changed.
DEB_DIR     := build/deb
DEB_TREE    := $(DEB_DIR)/mediaproxy-$(VERSION)
DEB_SOURCES := $(shell git ls-files --cached --others --exclude-standard 2>/dev/null | while read -r f; do [ -f "$$f" ] && echo "$$f"; done)
deb: $(DEB_DIR)/.built
$(DEB_DIR)/.built: $(DEB_SOURCES)
	tools/install-deps.sh
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_TREE)
	cp --parents -t $(DEB_TREE) $(DEB_SOURCES)
	cp -r tools/debian $(DEB_TREE)/debian
	cd $(DEB_TREE) && DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -b -us -uc
	touch $@

deps:
	tools/install-deps.sh

# Runs the unit tests and the selftests; ends with "N passed, N failed, N skipped".
# With OPENSIPS_SOURCE=/path/to/opensips-3.x.y.tar.xz, OpenSIPS is built
# first (once, into build/) for selftests/test_e2e_opensips.sh, which
# otherwise skips unless OPENSIPS or PATH gives it one.  With
# E2E_KAMAILIO=trixie (a Debian suite), selftests/test_e2e.sh calls through
# that release's Kamailio instead of the machine's, from a root made first
# (once, into build/e2e/) by tools/make-kamailio-root.sh.
check: deps
	$(MAKE) all $(UNIT_TESTS) $(HELPERS)
	$(if $(OPENSIPS_SOURCE),tools/build-opensips.sh $(OPENSIPS_SOURCE) >/dev/null)
	$(if $(E2E_KAMAILIO),tools/make-kamailio-root.sh $(E2E_KAMAILIO) >/dev/null)
	selftests/run-all.sh $(BUILD)

demo: deps
	$(MAKE) all
	tools/demo.sh $(BUILD)

# The VM selftests on the stock kernels of vmtest/kernels, or KERNEL=NAME
# only (or KERNEL="NAME NAME"); ends with "N passed, N failed, N skipped"
# (vmtest/README.md).
vmtest:
	tools/install-deps.sh vmtest
	$(MAKE) all $(HELPERS)
	vmtest/run.sh $(if $(KERNEL),-k '$(KERNEL)')

# The Debian packages on a clean Debian 12 booted with systemd as init, on
# a stock kernel under qemu (vmtest/packages.sh; KERNEL=NAME, default 6.1);
# ends with "N passed, N failed, N skipped".
vmtest-packages: deb
	tools/install-deps.sh vmtest
	vmtest/packages.sh $(if $(KERNEL),-k $(KERNEL))

# Benchmarks (tools/bench/README.md): the table and plot in tools/bench/results/.
# Not a test: never part of check or CI.
bench:
	tools/install-deps.sh bench
	$(MAKE) all $(BUILD)/helpers/bpf_fixture_runner
	tools/bench/run.sh $(BUILD)

# The soak (tools/soak/README.md): SOAK_MINUTES (default 30) of calls through
# both daemons while relays, the dispatcher and the database are restarted;
# the report in $(BUILD)/soak/report.md.  Not a test: never part of check or CI.
soak: deps
	$(MAKE) all
	tools/soak/run.sh $(BUILD) $(SOAK_MINUTES)

# Fuzzing (selftests/fuzz/README.md): the libFuzzer targets of selftests/fuzz/,
# built with clang, AddressSanitizer and UBSan apart in build/fuzz/ (never by
# `make` or `make check`).  `make fuzz` replays each target's seed corpus,
# then fuzzes it for FUZZ_TIME seconds; `make fuzz-smoke` is the same for 30
# seconds, CI's step.  Both end with "N passed, N failed, N skipped"; a
# crash goes to build/fuzz/findings/.
FUZZ        := build/fuzz
FUZZ_TIME   ?= 180
FUZZ_CFLAGS := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer $(CODE_CFLAGS)
# every module but the mains
FUZZ_OBJS    := $(patsubst %.c,$(FUZZ)/obj/%.o,$(filter-out %/relay_main.c %/dispatcher_main.c,\
		$(wildcard common/*.c userspace/*.c dispatcher/*.c)))
FUZZ_TARGETS := $(patsubst selftests/fuzz/fuzz_%.c,$(FUZZ)/%,$(wildcard selftests/fuzz/fuzz_*.c))

# Each module with its folder's include path, as in the normal build; the
# agent's modules include the skeleton.
$(FUZZ)/obj/%.o: %.c | $(SKELETONS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(INC_$(firstword $(subst /, ,$*))) \
		$(call pkg_cflags,$(LIBS_RELAY) $(LIBS_DISPATCHER)) -c $< -o $@

# One archive: a target links the modules it uses; one that includes a
# module's .c to reach its static functions (Knot-style) leaves its object out.
$(FUZZ)/libmediaproxy.a: $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ)/%: selftests/fuzz/fuzz_%.c $(wildcard selftests/fuzz/*.h) $(FUZZ)/libmediaproxy.a
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(INC_tests) -Iselftests/fuzz $< $(FUZZ)/libmediaproxy.a -o $@ \
		$(call pkg,$(LIBS_RELAY) $(LIBS_DISPATCHER)) $(LDLIBS_RELAY)

fuzz-build: $(FUZZ_TARGETS)

fuzz:
	tools/install-deps.sh fuzz
	$(MAKE) fuzz-build
	FUZZ_TIME=$(FUZZ_TIME) selftests/fuzz/run.sh $(FUZZ)

fuzz-smoke:
	$(MAKE) fuzz FUZZ_TIME=30

clean:
	rm -rf $(BUILD)
