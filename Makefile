# MediaProxy build.  `make` builds everything into build/, `make check` runs
# every test, `make demo` places one sipp call through Kamailio and both daemons.
# Both check and demo install missing Debian packages first (tools/install-deps.sh).

VERSION  := 0.1.0
BUILD    := build
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool

LIBS_RELAY      := libbpf libelf libnetfilter_conntrack libnftables openssl libevent libevent_openssl jansson inih
LIBS_DISPATCHER := openssl libevent libevent_openssl jansson sqlite3 libpq libmariadb radcli inih
LIBS_UNIT       := cmocka
# not in pkg-config: the relay looks up its dispatchers' SRV records
LDLIBS_RELAY    := -lresolv

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter -Wno-missing-field-initializers \
            -D_GNU_SOURCE -DMP_VERSION='"$(VERSION)"' -Iinclude -Iuserspace -I$(BUILD)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
              -I/usr/include/$(shell $(CC) -print-multiarch) -Iinclude

pkg = $(shell pkg-config --cflags --libs $(1))

# Userspace code shared by both daemons.
COMMON_SRC := userspace/log.c userspace/config.c userspace/config_types.c userspace/daemon.c userspace/lines.c userspace/tls.c
# The relay agent's modules: every other userspace/*.c but its main.
AGENT_SRC  := $(filter-out $(COMMON_SRC) userspace/relay_main.c,$(wildcard userspace/*.c))
RELAY_SRC  := userspace/relay_main.c $(AGENT_SRC)
# The dispatcher's modules: every dispatcher/*.c but its main.
DISP_MODS  := $(filter-out dispatcher/dispatcher_main.c,$(wildcard dispatcher/*.c))
DISP_SRC   := dispatcher/dispatcher_main.c $(DISP_MODS)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(wildcard bpf/*.bpf.c))
SKELETONS  := $(BPF_OBJS:.bpf.o=.skel.h)
HEADERS    := $(wildcard include/*.h userspace/*.h dispatcher/*.h)

UNIT_TESTS := $(patsubst selftests/unit/%.c,$(BUILD)/unit/%,$(wildcard selftests/unit/*.c))
SELFTEST_BINS := $(patsubst selftests/%.c,$(BUILD)/selftests/%,$(wildcard selftests/*.c))

.PHONY: all check demo deps clean vmtest bench
.SECONDARY: $(BPF_OBJS)
all: $(BUILD)/media-relay $(BUILD)/media-dispatcher

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h include/*.h) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(notdir $*) > $@.tmp && mv $@.tmp $@

$(BUILD)/media-relay: $(RELAY_SRC) $(COMMON_SRC) $(SKELETONS) $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) $(RELAY_SRC) $(COMMON_SRC) -o $@ $(call pkg,$(LIBS_RELAY)) $(LDLIBS_RELAY)

$(BUILD)/media-dispatcher: $(DISP_SRC) $(COMMON_SRC) $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -Idispatcher $(DISP_SRC) $(COMMON_SRC) -o $@ $(call pkg,$(LIBS_DISPATCHER))

# Unit tests link every module but the mains, and need no root.
$(BUILD)/unit/%: selftests/unit/%.c $(COMMON_SRC) $(AGENT_SRC) $(DISP_MODS) $(SKELETONS) $(HEADERS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Idispatcher $< $(COMMON_SRC) $(AGENT_SRC) $(DISP_MODS) -o $@ \
		$(call pkg,$(LIBS_UNIT) $(LIBS_RELAY) $(LIBS_DISPATCHER)) $(LDLIBS_RELAY)

# Selftest programs run as root against the real kernel; they may use any module.
$(BUILD)/selftests/%: selftests/%.c $(COMMON_SRC) $(AGENT_SRC) $(SKELETONS) $(HEADERS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(COMMON_SRC) $(AGENT_SRC) -o $@ $(call pkg,$(LIBS_RELAY)) $(LDLIBS_RELAY)

$(BUILD):
	mkdir -p $@

deps:
	tools/install-deps.sh

# Runs the unit tests and the selftests; ends with "N passed, N failed, N skipped".
check: deps
	$(MAKE) all $(UNIT_TESTS) $(SELFTEST_BINS)
	selftests/run-all.sh $(BUILD)

demo: deps
	$(MAKE) all
	tools/demo.sh $(BUILD)

# The VM selftests on the stock kernels of vmtest/kernels, or KERNEL=NAME
# only; ends with "N passed, N failed, N skipped" (vmtest/README.md).
vmtest:
	tools/install-deps.sh vmtest
	$(MAKE) all $(SELFTEST_BINS)
	vmtest/run.sh $(if $(KERNEL),-k $(KERNEL))

# Benchmarks (tools/bench/README.md): the table and plot in tools/bench/results/.
# Not a test: never part of check or CI.
bench:
	tools/install-deps.sh bench
	$(MAKE) all
	tools/bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)
