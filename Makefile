# Postroom: plain GNU make, no generated build system.
#
#   make            build everything into $(BUILD)/
#   make check      install missing packages, build, run unit + end-to-end tests
#   make run        install missing packages, build, run the suite on loopback
#   make bench      throughput/latency figures, side by side with the reference servers
#   make fuzz       libFuzzer harnesses (clang), FUZZ_SECONDS each
#   make install    DESTDIR=... PREFIX=/usr/local (also sbindir, sysconfdir, mandir,
#                   systemdunitdir; see below); make uninstall
#   make SAN=1      the same, built with ASan+UBSan into build-san/
#
# Source layout drives the rules.  The layers, bottom up, each a static
# library of its directory's *.c (tools/layers.sh checks who includes whom):
#   lib/    libpostroom.a  buffers, events, config, logging, TLS, commit
#   mail/   libmail.a      MIME, addresses; links without Berkeley DB
#   store/  libstore.a     Maildir++ and its Berkeley DB index
#   queue/  libqueue.a     the durable queue
# Each program directory's *.c but main.c goes into lib<prog>.a, linked
# with main.c into the program (LIBONLY, imapd/ for now: the library
# alone).  tests/unit/test_*.c are cmocka programs linked against all of
# it; test_mime against mail/ and lib/ only, without -ldb, which is how
# the build proves mail/ needs no database.

CC	?= cc
PREFIX	?= /usr/local
SAN	?=
ifeq ($(SAN),1)
BUILD	?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# -O1, as ASan's own documentation builds: a third less compile time in CI's second half.
CFLAGS	?= -O1 -g
else
BUILD	?= build
SANFLAGS =
endif

CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers \
	   -Wstrict-prototypes -Wmissing-prototypes -Werror=implicit-function-declaration \
	   -fno-strict-aliasing -pthread -I. -MMD -MP $(SANFLAGS)
LDFLAGS	+= -pthread $(SANFLAGS)
LDLIBS	 = -lssl -lcrypto -ldb -lcares -lcrypt

DAEMONS	 = smtpd pop3d imapd relayd
# Protocol directories built and unit-tested as a library before they have a main.c.
LIBONLY	 =
PROGS	 = $(addprefix $(BUILD)/,$(DAEMONS) deliver mailctl)

LAYERS	  = mail store queue
TEST_SRC  = $(wildcard tests/unit/test_*.c)
TEST_HELP = $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))

obj	= $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBPOSTROOM = $(BUILD)/libpostroom.a
LAYER_LIBS  = $(foreach l,queue store mail,$(BUILD)/lib$(l).a) $(LIBPOSTROOM)
DAEMON_LIBS = $(foreach d,$(DAEMONS) $(LIBONLY),$(BUILD)/lib$(d).a)
TESTS	    = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all deps check unit e2e run bench fuzz install uninstall clean layers logs
all: layers logs $(PROGS) $(DAEMON_LIBS)

layers:
	@sh tools/layers.sh
# Every log line starts with event= (tools/logs.sh says which do not).
logs:
	@sh tools/logs.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBPOSTROOM): $(call obj,$(wildcard lib/*.c))
	@rm -f $@; $(AR) rcs $@ $^
define layer_rules
$(BUILD)/lib$(1).a: $$(call obj,$$(wildcard $(1)/*.c))
	@rm -f $$@; $$(AR) rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rules,$(l))))

define daemon_lib_rules
$(BUILD)/lib$(1).a: $$(call obj,$$(filter-out $(1)/main.c,$$(wildcard $(1)/*.c)))
	@rm -f $$@; $$(AR) rcs $$@ $$^
endef
define daemon_rules
$(BUILD)/$(1): $(BUILD)/obj/$(1)/main.o $(BUILD)/lib$(1).a $(LAYER_LIBS)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach d,$(DAEMONS) $(LIBONLY),$(eval $(call daemon_lib_rules,$(d))))
$(foreach d,$(DAEMONS),$(eval $(call daemon_rules,$(d))))

$(BUILD)/deliver: $(call obj,$(wildcard deliver/*.c)) $(LAYER_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/mailctl: $(call obj,$(wildcard mailctl/*.c)) $(LAYER_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(TEST_HELP)) $(DAEMON_LIBS) $(LAYER_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
# mail/ links without Berkeley DB: the build fails here if it starts to need it.
$(BUILD)/tests/test_mime: $(BUILD)/obj/tests/unit/test_mime.o $(BUILD)/libmail.a $(LIBPOSTROOM)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(filter-out -ldb,$(LDLIBS)) -lcmocka

deps:
	@sh tools/deps.sh

# The README's second command: set-up, then every test.
check: deps
	@$(MAKE) --no-print-directory all unit-build
	@sh tools/check.sh $(BUILD)

unit-build: $(TESTS)
unit: unit-build
	@sh tools/check.sh $(BUILD) unit
e2e: all
	@sh tools/check.sh $(BUILD) e2e

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh $(BUILD)

BENCH_TOOLS = $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))
$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -o $@ $<

bench:
	@sh tools/deps.sh
	@$(MAKE) --no-print-directory all $(BENCH_TOOLS)
	@python3 tests/bench/run.py --build $(BUILD) $(BENCH_ARGS)

FUZZ_SECONDS ?= 60
fuzz:
	@POSTROOM_DEPS_FUZZ=1 sh tools/deps.sh
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS)

# make install: programs in $(sbindir), configuration in $(sysconfdir)/postroom
# (an existing file is kept, the shipped one goes next to it as NAME.dist),
# state, queue and mail directories, man pages, systemd units (@sbindir@ and
# @sysconfdir@ substituted).  sysconfdir stays /etc under /usr/local too: the
# programs read /etc/postroom unless given -c/--config.  /usr/local/lib/systemd/system
# and /usr/lib/systemd/system are both on systemd's unit path.  Without DESTDIR,
# as root, it runs `mailctl setup` (the system user).  Uninstall keeps config and mail.
sbindir		?= $(PREFIX)/sbin
mandir		?= $(PREFIX)/share/man
sysconfdir	?= /etc
systemdunitdir	?= $(PREFIX)/lib/systemd/system
INSTALL_ENV	 = DESTDIR='$(DESTDIR)' sbindir='$(sbindir)' mandir='$(mandir)' \
		   sysconfdir='$(sysconfdir)' systemdunitdir='$(systemdunitdir)'
install: $(PROGS)
	@$(INSTALL_ENV) sh tools/install.sh install $(BUILD)
uninstall:
	@$(INSTALL_ENV) sh tools/install.sh uninstall $(BUILD)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
