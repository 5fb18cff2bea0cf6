// restore_list.h: pg_restore --use-list files.
#pragma once

#include <set>
#include <string>

namespace pgbak {

// WriteRestoreList writes listing (pg_restore --list of data_path) as a
// pg_restore --use-list file next to the archive (data_path + suffix),
// without pgbak_ext itself (a backup of pgbak.database holds the extension,
// which refuses to be created anywhere else) and without the entries whose
// dump ids are in skip; returns its path.
std::string WriteRestoreList(const std::string& listing, const std::string& data_path,
                             const std::set<int>& skip = {}, const std::string& suffix = ".list");

}  // namespace pgbak
