// superuser_code.h: which entries of an archive would make a superuser run
// another role's code when restored as their owners.
//
// A restore loads each object as its owner (pgbak.restore_as = '*'), so the
// code an object runs while it is loaded (CHECK and domain constraints,
// defaults, generated columns, index expressions, triggers, materialized
// views) runs with its owner's rights. For an object a superuser owns, that
// is superuser rights, which is harmless while the code is a superuser's
// too, and a way up for whoever owns the code otherwise: a superuser's
// table with a CHECK calling alice's function lets alice run anything as
// superuser by replacing her function before the restore (or in the live
// database, before any superuser's INSERT).
//
// pg_dump's table of contents records what each entry depends on,
// following pg_depend through objects it prints inline (a table's CHECK
// constraint and column defaults), so a table depends on the functions
// and domains its constraints and defaults use, an index on the functions
// of its expressions, a trigger on its function. Function bodies are not
// followed: they are text to PostgreSQL as well.
//
// A plain-format set is a SQL script: it runs in one session, as the
// superuser, with objects handed over by ALTER ... OWNER. pg_dump heads
// each object's statements with "-- Name: ...; Owner: role" comments;
// PlainScriptOwners reads those.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/archive/archive_scanner.h"

namespace pgbak {

// SuperuserCodeUse is one entry whose restore would run code of a role
// that is no superuser with superuser rights.
struct SuperuserCodeUse {
  std::string object;        // "TABLE public.t" (desc, schema, tag)
  std::string object_owner;  // whom it runs as: its superuser owner, or
                             // "the restoring superuser" (pre-data)
  std::string code;          // "FUNCTION public.f(integer)"
  std::string code_owner;    // not a superuser
};

// FindSuperuserCode lists, in TOC order, the entries of toc (those in
// restored, if given; the walk still goes through every entry) that would
// run code of a role not in superusers with superuser rights:
// - entries owned by one of superusers whose loading runs code (tables and
//   their data, materialized views, indexes, constraints, defaults,
//   triggers) and that depend, directly or through other code a superuser
//   owns (functions, procedures, aggregates, operators and their classes,
//   types, domains, casts, views, text search objects, conversions), on
//   code another role owns;
// - entries whose creation runs code whoever owns them, since pre-data is
//   created by the restoring superuser: an aggregate whose state type is a
//   domain (its initial value is checked) and a partition's attachment (its
//   bounds go through its parent's column types), when such a domain is
//   another role's or uses another role's code.
std::vector<SuperuserCodeUse> FindSuperuserCode(const std::vector<TocEntry>& toc,
                                                const std::set<std::string>& superusers,
                                                const std::set<int>* restored = nullptr);

// CodeRunAsSuperuser lists the code entries (see FindSuperuserCode)
// that the superuser-owned entries of toc (in restored, if given) would
// run, whoever owns them in the archive: a restore into an existing
// database runs the functions of that name there, whose owners the
// caller checks.
std::vector<TocEntry> CodeRunAsSuperuser(const std::vector<TocEntry>& toc,
                                         const std::set<std::string>& superusers,
                                         const std::set<int>* restored = nullptr);

// DescribeSuperuserCode renders the first few uses for an error message:
// "TABLE public.t (run as postgres) uses FUNCTION public.f(integer) of
// alice; ... (and 3 more)".
std::string DescribeSuperuserCode(const std::vector<SuperuserCodeUse>& uses);

// PlainScriptOwners collects the owners named by pg_dump's object headers
// ("-- Name: t; Type: TABLE; Schema: public; Owner: alice" and "-- Data for
// Name: ...") in a chunk of a plain-format script. Feed it the script's
// lines in order. An object's name can make its header name an owner twice
// ("Name: x; Owner: postgres; ..."): the last one is pg_dump's, and such a
// header is also reported as ambiguous.
class PlainScriptOwners {
 public:
  // Line takes one line of the script, without its newline; truncated
  // says it is only the start of a longer line (whose owner, if it is a
  // header, cannot be read: ambiguous). Headers are not told from data: a
  // row or a function body that looks like one adds its owner too, which
  // can only make the script be refused.
  void Line(std::string_view line, bool truncated = false);
  const std::set<std::string>& owners() const { return owners_; }
  bool ambiguous() const { return ambiguous_; }

 private:
  std::set<std::string> owners_;
  bool ambiguous_ = false;
};

}  // namespace pgbak
