# riskd - top-level build. `make` builds riskd, riskctl and riskload into
# build/. See README.md for the targets and docs/ARCHITECTURE.md for files.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
OPT      ?= -O2
SANITIZER ?=
WERROR   ?= $(if $(CI),-Werror,)

PKGS     := libpcre2-8 libcjson sqlite3 libcrypto libxxhash
SVC_PKGS := libmicrohttpd hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcre2-8 -lcjson -lsqlite3 -lcrypto -lxxhash)
SVC_LIBS   := $(shell pkg-config --libs $(SVC_PKGS) 2>/dev/null || echo -lmicrohttpd -lhiredis)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter $(WERROR)
CFLAGS   ?=
CFLAGS   += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(PKG_CFLAGS) -I. -pthread
LDLIBS   += $(PKG_LIBS) -lm -pthread

comma := ,
ifneq ($(SANITIZER),)
CFLAGS  += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
BUILD   := build/san-$(subst $(comma),-,$(SANITIZER))
endif

LIB_SRC  := $(wildcard common/*.c rules/*.c store/*.c gen/*.c)
CLI_SRC  := $(wildcard cli/*.c)
SVC_SRC  := $(filter-out service/main.c,$(wildcard service/*.c cache/*.c))
LOAD_SRC := $(wildcard loadtest/*.c)
TEST_SRC := $(wildcard tests/*/test_*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libriskd.a
SVC_LIB  := $(BUILD)/libriskd_svc.a
PROGS    := $(BUILD)/riskctl $(if $(wildcard service/main.c),$(BUILD)/riskd,) \
            $(if $(LOAD_SRC),$(BUILD)/riskload,)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test check asan ubsan valgrind bench bench-http docker-base compose-check loadtest loadtest-ab run format lint \
        install uninstall clean deps tests benches
all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# The service's modules (all but main.c) form a second archive so unit
# tests can link them.
$(SVC_LIB): $(SVC_SRC:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/obj/store/schema.o: schemas/store.sql

$(BUILD)/riskctl: $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/riskd: $(BUILD)/obj/service/main.o $(SVC_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SVC_LIBS)

$(BUILD)/riskload: $(LOAD_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SVC_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SVC_LIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(SVC_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SVC_LIBS)

tests: $(TESTS)
benches: $(BENCHES)

# The test command of README.md: unit tests, golden cases, riskctl end to end.
test: all tests
	BUILD=$(BUILD) tests/run.sh

check: test

asan:
	$(MAKE) SANITIZER=address,undefined test

ubsan:
	$(MAKE) SANITIZER=undefined test

valgrind: all tests
	BUILD=$(BUILD) VALGRIND=1 tests/run.sh

bench: all benches
	BUILD=$(BUILD) bench/run.sh

# The compose deployment (docs/deploy.md): base image without a registry,
# then build, start, score, kill a region, stop.
docker-base:
	scripts/docker-base.sh

compose-check: docker-base
	tests/deploy/compose_check.sh

# riskd vs a trivial libmicrohttpd responder under wrk (docs/PERFORMANCE.md).
bench-http: all benches
	BUILD=$(BUILD) bench/http.sh

loadtest: all
	BUILD=$(BUILD) loadtest/run.sh

# Before/after latency of two riskd binaries, alternating: BEFORE=path.
loadtest-ab: all
	BUILD=$(BUILD) loadtest/ab.sh

run: all
	BUILD=$(BUILD) scripts/run.sh

deps:
	scripts/deps.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	@! git grep -nE '\b(strcpy|strcat|sprintf|gets|strtok)\(' -- '*.c' '*.h' || \
	  (echo "lint: banned function (use snprintf/memcpy/strtok_r)"; exit 1)
	@for f in $$(git ls-files '*.c' '*.h'); do \
	  head -3 $$f | grep -q '^/\*' || { echo "lint: $$f lacks its role comment"; exit 1; }; done
	@echo "lint: ok"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/riskd
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 schemas/*.sql $(DESTDIR)$(PREFIX)/share/riskd/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,riskd riskctl riskload)

clean:
	rm -rf build

.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
