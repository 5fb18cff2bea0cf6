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

// SuperuserCodeUse is one superuser-owned entry that reaches code another
// role owns.
struct SuperuserCodeUse {
  std::string object;  // "TABLE public.t" (desc, schema, tag)
  std::string object_owner;
  std::string code;        // "FUNCTION public.f(integer)"
  std::string code_owner;  // not a superuser
};

// FindSuperuserCode lists, in TOC order, the entries owned by one of
// superusers whose loading runs code (tables and their data, materialized
// views, indexes, constraints, triggers) and that depend, directly or
// through other code (functions, procedures, aggregates, operators, types,
// domains, casts), on code owned by a role that is not in superusers.
std::vector<SuperuserCodeUse> FindSuperuserCode(const std::vector<TocEntry>& toc,
                                                const std::set<std::string>& superusers);

// DescribeSuperuserCode renders the first few uses for an error message:
// "TABLE public.t (owner postgres) uses FUNCTION public.f(integer) of
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
  // Line takes one line of the script, without its newline.
  void Line(std::string_view line);
  const std::set<std::string>& owners() const { return owners_; }
  bool ambiguous() const { return ambiguous_; }

 private:
  std::set<std::string> owners_;
  bool ambiguous_ = false;
};

}  // namespace pgbak
