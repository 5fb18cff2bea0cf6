// copy_job.cpp: copying a backup set to another storage (see copy_job.h).
//
// A copy is the same set in another place: the same objects, byte for
// byte, and the same manifest, which still names the backup it describes.
// Its directory in the target storage is the set's own path with the copy's
// id at the end (<system id>/<database>/<time>-<copy id>), so that every
// check that a location is a row's set directory holds for copies too.
// Objects go from a reader of the source storage to a writer of the target
// through a fixed buffer: no local staging, memory bounded by the target's
// upload settings. An object whose size or SHA-256 differs from the
// manifest is never finished (Abort), and the manifest is written only
// after every object is: a copy that failed half way has no manifest and
// its objects are removed like a failed backup's.

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include <memory>
#include <string>
#include <vector>

#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/pipeline/meter_sink.h"
#include "core/options/job_options.h"
#include "pg/boundary/boundary.h"
#include "pg/boundary/transaction.h"
#include "pg/catalog/catalog.h"
#include "pg/catalog/storage_registry.h"
#include "pg/jobs/copy_job.h"
#include "pg/jobs/verify_job.h"
#include "pg/runtime/shared_state.h"
#include "pg/jobs/disk_space.h"
#include "pg/jobs/dump_tools.h"

namespace pgbak {

namespace {

// kCopyChunk is how much of an object is in memory at once.
constexpr size_t kCopyChunk = 1 << 20;

// CopyKey is where the copy of the set at source_key goes: the same
// directory path, ending in the copy's id instead of the source's.
std::string CopyKey(const std::string& source_key, int64_t id) {
  size_t dash = source_key.rfind('-');
  if (dash == std::string::npos)
    throw Error(ErrorKind::kCorrupt, "the set directory " + source_key + " has no id");
  return source_key.substr(0, dash + 1) + std::to_string(id);
}

// CopyObject streams one object from source to target and checks it.
void CopyObject(Storage& source, const std::string& source_key, Storage& target,
                const std::string& target_key, const ManifestObject& object,
                const std::string& expected_sha256) {
  std::unique_ptr<ObjectReader> reader = source.Open(source_key);
  std::unique_ptr<ObjectWriter> writer = target.Create(target_key);
  Sha256 hash;
  uint64_t bytes = 0;
  std::vector<uint8_t> buffer(kCopyChunk);
  try {
    while (size_t n = reader->Read(buffer.data(), buffer.size())) {
      ThrowIfStopping();
      hash.Update(buffer.data(), n);
      bytes += n;
      AddBytesRead(n);
      if (bytes > object.size)
        break;  // more than the manifest says: no need to send the rest
      writer->Write(buffer.data(), n);
      AddBytesStored(n);
    }
    std::string got = bytes > object.size ? std::string() : hash.HexDigest();
    if (bytes != object.size)
      throw Error(ErrorKind::kCorrupt,
                  object.name + ": size mismatch: the manifest says " +
                      std::to_string(object.size) + " bytes, the source storage holds " +
                      (bytes > object.size ? "more" : std::to_string(bytes)),
                  "Nothing of this copy was kept.");
    if (got != object.sha256 || (!expected_sha256.empty() && got != expected_sha256))
      throw Error(ErrorKind::kCorrupt,
                  object.name + ": SHA-256 mismatch: the manifest says " + object.sha256 +
                      ", the source storage holds " + got,
                  "The set in the source storage is damaged; nothing of this copy was kept.");
    writer->Finish();
  } catch (...) {
    writer->Abort();
    throw;
  }
}

}  // namespace

void RunCopy(int64_t id, int64_t source_id, const std::string& storage_name,
             std::string& location) {
  SourceInfo source = LoadSource(source_id);
  if (source.kind == "base")
    throw Error(ErrorKind::kInvalidParameter,
                "backup " + std::to_string(source_id) + " is a base backup: it cannot be copied");
  // Only bytes are copied: the source's identity file is not read.
  StorageHandle from;
  StorageHandle to;
  RunInTransaction([&] {
    from = OpenStorageHandle(source.storage, StorageUse::kWorker, ThrowIfStopping);
    to = OpenStorageHandle(storage_name, StorageUse::kWorker, ThrowIfStopping);
  });
  if (source.manifest_sha256.empty())
    throw Error(ErrorKind::kInvalidParameter,
                "backup " + std::to_string(source_id) +
                    " was made before version 1.3: backup_log has no SHA-256 of its manifest",
                "Nothing would vouch for the list of objects a copy writes.",
                "Copy its directory by hand (see \"Restore by hand\"), or copy a newer backup.");
  if (storage_name == source.storage)
    throw Error(
        ErrorKind::kInvalidParameter,
        "backup " + std::to_string(source_id) + " is already in storage \"" + storage_name + "\"");
  SetPhase(Phase::kCopying);
  std::string source_key = SetKey(*from.storage, source.directory_id, source.location);
  std::string manifest_text;
  Manifest manifest =
      ReadManifest(*from.storage, source_key, source.manifest_sha256, &manifest_text);
  if ((source.set_id != 0 && manifest.backup_id != source.set_id) ||
      manifest.database != source.database)
    throw Error(ErrorKind::kCorrupt, "manifest.json describes backup " +
                                         std::to_string(manifest.backup_id) + " of database \"" +
                                         manifest.database + "\", not this one");
  uint64_t bytes = 0;
  for (const ManifestObject& object : manifest.objects) {
    if (!IsSetObject(object.name) || object.name == kManifestObject)
      throw Error(ErrorKind::kCorrupt, "manifest.json lists an object \"" + object.name +
                                           "\" that is not one of a set's");
    bytes += object.size;
  }
  // A storage that encrypts what it holds never gets a set in clear.
  if (to.encryption.enabled() && manifest.age_recipients.empty())
    throw Error(ErrorKind::kInvalidParameter,
                "storage \"" + storage_name +
                    "\" encrypts what it holds (age_recipients), and "
                    "backup " +
                    std::to_string(source_id) + " is not encrypted",
                "A copy holds the set's objects as they are: this one would be stored in clear.",
                "Copy it to a storage without age_recipients, or back up to an encrypted storage "
                "first.");
  std::string target_key = CopyKey(source_key, id);
  if (!to.storage->List(target_key + "/" + kManifestObject).empty())
    throw Error(ErrorKind::kIo, "storage \"" + storage_name + "\" already holds a set at " +
                                    to.storage->Location(target_key));
  RunInTransaction([&] { GuardCopySpace(*to.storage, storage_name, id, source.database, bytes); });
  location = to.storage->Location(target_key);
  RunInTransaction(
      [&] { PgCall([&] { SetLocation(id, location.c_str(), source.format.c_str()); }); });
  for (const ManifestObject& object : manifest.objects)
    CopyObject(*from.storage, source_key + "/" + object.name, *to.storage,
               target_key + "/" + object.name, object,
               object.role == "data" ? source.checksum_sha256 : "");
  // The manifest last, as it was: its SHA-256 is the source's.
  std::unique_ptr<ObjectWriter> writer = to.storage->Create(target_key + "/" + kManifestObject);
  try {
    writer->Write(reinterpret_cast<const uint8_t*>(manifest_text.data()), manifest_text.size());
    writer->Finish();
  } catch (...) {
    writer->Abort();
    throw;
  }
  Sha256 hash;
  hash.Update(reinterpret_cast<const uint8_t*>(manifest_text.data()), manifest_text.size());
  std::string manifest_sha256 = hash.HexDigest();
  SetPhase(Phase::kFinishing);
  RunInTransaction([&] { PgCall([&] { FinishCopySucceeded(id, manifest_sha256.c_str()); }); });
}

void QueueScheduledCopies(int64_t backup_id, const std::string& job_name) {
  bool queued = false;
  RunInTransaction([&] {
    std::string sql = "SELECT j.options::text, b.requested_by::text FROM " +
                      QuotedRelation("pgbak_job") + " j, " + QuotedRelation("backup_log") +
                      " b WHERE j.job_name = $1 AND b.id = $2";
    const char* options_text = nullptr;
    const char* requested_by = nullptr;
    PgCall([&] {
      Oid types[2] = {TEXTOID, INT8OID};
      Datum values[2] = {CStringGetTextDatum(job_name.c_str()), Int64GetDatum(backup_id)};
      if (SPI_execute_with_args(sql.c_str(), 2, types, values, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read job \"%s\"", job_name.c_str());
      if (SPI_processed == 1) {
        options_text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        requested_by = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
      }
    });
    if (options_text == nullptr)
      return;  // unscheduled meanwhile
    JobOptions options = ParseJobOptions(options_text);
    for (const std::string& storage : options.copy_to) {
      int64 copy = 0;
      PgCall([&] { copy = QueueCopy(backup_id, storage.c_str(), requested_by, job_name.c_str()); });
      queued = queued || copy != 0;
    }
  });
  if (queued)
    WakeLauncher();
}

}  // namespace pgbak
