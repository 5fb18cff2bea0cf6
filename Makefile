# Makefile: builds and installs the pgbak_ext extension with PGXS.
#
# The version below is the one version number of the project: the control
# file's default_version and META.json carry the same (checked by
# `make check-version`). Unit tests of src/core/ build with CMake instead.

EXTENSION = pgbak_ext
EXTVERSION = 1.8
MODULE_big = pgbak_ext

# One folder per subsystem (README, "Layout of the source"); every .cpp under
# src/core/ and src/pg/ is part of the library.
CORE_SRCS = $(sort $(shell find src/core -name '*.cpp'))
PG_SRCS = $(sort $(shell find src/pg -name '*.cpp'))
OBJS = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

DATA = $(wildcard pgbak_ext--*.sql)

PG_CONFIG ?= pg_config
LIBPQ_INCLUDE := $(shell $(PG_CONFIG) --includedir)

# -MMD -MP: PGXS does not track header dependencies; without them a changed
# header leaves stale objects with another class layout behind.
PG_CPPFLAGS = -I$(srcdir)/src -I$(LIBPQ_INCLUDE) -MMD -MP
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-register
SHLIB_LINK = -lpq -lzstd -lcurl -lexpat -lcrypto -lstdc++ -lpthread

# Debian builds PostgreSQL with LLVM; its bitcode rule ignores PG_CXXFLAGS.
override with_llvm = no

# pgbak, the command that reads sets without a server (src/cli/): the core
# and the CLI, linked without any PostgreSQL library, installed next to
# pg_dump and pg_restore.
CLI_SRCS = $(sort $(shell find src/cli -name '*.cpp'))
CLI_OBJS = $(CLI_SRCS:.cpp=.o)
CLI_LIBS = -lpq -lzstd -lcurl -lexpat -lcrypto -lstdc++ -lpthread

EXTRA_CLEAN = $(OBJS:.o=.d) $(CLI_OBJS) $(CLI_OBJS:.o=.d) pgbak

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

-include $(OBJS:.o=.d) $(CLI_OBJS:.o=.d)

# PGXS fixes CPPFLAGS when it is included: the version goes in this way.
$(CLI_OBJS): override CPPFLAGS += -DPGBAK_VERSION='"$(EXTVERSION)"'
src/cli/pgbak_main.o: Makefile

all: pgbak

pgbak: $(CLI_OBJS) $(CORE_SRCS:.cpp=.o)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDFLAGS) $(CLI_LIBS)

install: install-pgbak
uninstall: uninstall-pgbak

.PHONY: install-pgbak uninstall-pgbak
install-pgbak: pgbak
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) pgbak '$(DESTDIR)$(bindir)/pgbak'

.PHONY: check-version
check-version:
	@grep -q "default_version = '$(EXTVERSION)'" pgbak_ext.control || { echo "control file version differs from $(EXTVERSION)"; exit 1; }
	@grep -q '"version": "$(EXTVERSION).0"' META.json || { echo "META.json version differs from $(EXTVERSION)"; exit 1; }
	@# Released install scripts are never edited: a version is installed by
	@# its own script or by the oldest one plus the upgrade steps.
	@test -n "$$(ls pgbak_ext--$(EXTVERSION).sql pgbak_ext--*--$(EXTVERSION).sql 2>/dev/null)" || { echo "no script installs $(EXTVERSION)"; exit 1; }
	@echo "version $(EXTVERSION) consistent"

uninstall-pgbak:
	rm -f '$(DESTDIR)$(bindir)/pgbak'
