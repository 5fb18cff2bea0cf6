// catalog.cpp: reading and writing backup_log through SPI.

extern "C" {
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

#include <cstring>

#include "pg/boundary/boundary.h"
#include "pg/catalog/catalog.h"
#include "pg/runtime/shared_state.h"

namespace pgbak {

namespace {

// TextOrNull returns a text Datum for s, or marks the argument null.
Datum TextOrNull(const char* s, char* null_flag) {
  if (s == nullptr) {
    *null_flag = 'n';
    return (Datum)0;
  }
  *null_flag = ' ';
  return CStringGetTextDatum(s);
}

// ColumnText returns column col of row 0 of the last SPI result, or nullptr.
const char* ColumnText(int col) {
  char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
  return value;
}

// CopyOut copies a string into the memory context that was current before
// SPI_connect, so that it outlives SPI_finish.
const char* CopyOut(const char* s) {
  if (s == nullptr)
    return nullptr;
  size_t size = strlen(s) + 1;
  char* copy = static_cast<char*>(SPI_palloc(size));
  memcpy(copy, s, size);
  return copy;
}

// ExtensionRow reads an extension's schema and owner (PostgreSQL 15 has no
// exported function for either).
void ExtensionRow(Oid extension, Oid* schema, Oid* owner) {
  Relation rel = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
              ObjectIdGetDatum(extension));
  SysScanDesc scan = systable_beginscan(rel, ExtensionOidIndexId, true, nullptr, 1, &key);
  HeapTuple tuple = systable_getnext(scan);
  *schema = InvalidOid;
  *owner = InvalidOid;
  if (HeapTupleIsValid(tuple)) {
    *schema = ((Form_pg_extension)GETSTRUCT(tuple))->extnamespace;
    *owner = ((Form_pg_extension)GETSTRUCT(tuple))->extowner;
  }
  systable_endscan(scan);
  table_close(rel, AccessShareLock);
}

// ExtensionSchema returns the schema an extension lives in.
Oid ExtensionSchema(Oid extension) {
  Oid schema, owner;
  ExtensionRow(extension, &schema, &owner);
  return schema;
}

}  // namespace

// ValidText returns s as text valid in the database encoding: a cut through
// a multibyte character (a tail of pg_dump's stderr) or bytes in another
// encoding must not make backup_log unrestorable, so invalid bytes become '?'.
const char* ValidText(const char* s) {
  if (s == nullptr)
    return nullptr;
  int length = static_cast<int>(strlen(s));
  if (pg_verifymbstr(s, length, true))
    return s;
  char* copy = pstrdup(s);
  for (int i = 0; i < length; i++)
    if (static_cast<unsigned char>(copy[i]) >= 0x80)
      copy[i] = '?';
  return copy;
}

// ExtensionOwner is the role that owns pgbak_ext (its catalog's owner).
Oid ExtensionOwner() {
  Oid schema, owner;
  ExtensionRow(get_extension_oid("pgbak_ext", false), &schema, &owner);
  return owner;
}

// ExtensionInstalled says whether pgbak_ext exists in this database.
bool ExtensionInstalled() {
  return OidIsValid(get_extension_oid("pgbak_ext", true));
}

// QuotedRelation is SchemaQualified for C++ callers.
std::string QuotedRelation(const char* relation) {
  const char* name = nullptr;
  PgCall([&] { name = SchemaQualified(relation); });
  return name;
}

// SchemaQualified is the quoted name of one of the extension's relations.
const char* SchemaQualified(const char* relation) {
  Oid extension = get_extension_oid("pgbak_ext", false);
  Oid schema = ExtensionSchema(extension);
  char* schema_name = get_namespace_name(schema);
  if (schema_name == nullptr)
    elog(ERROR, "schema of extension pgbak_ext not found");
  return psprintf("%s.%s", quote_identifier(schema_name), quote_identifier(relation));
}

// BackupLogName is the schema-qualified, quoted name of backup_log.
const char* BackupLogName() {
  return SchemaQualified("backup_log");
}

// LoadOperation reads row id; false if there is no such row.
bool LoadOperation(int64 id, Operation* op) {
  const char* sql = psprintf(
      "SELECT kind, status, database_name, storage_name, options::text, location, job_name, "
      "coalesce(source_id, 0), requested_by "
      "FROM %s WHERE id = $1",
      BackupLogName());
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(id)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log row " INT64_FORMAT, id);
  if (SPI_processed == 0)
    return false;
  op->id = id;
  op->kind = CopyOut(ColumnText(1));
  op->status = CopyOut(ColumnText(2));
  op->database = CopyOut(ColumnText(3));
  op->storage = CopyOut(ColumnText(4));
  op->options_json = CopyOut(ColumnText(5));
  op->location = CopyOut(ColumnText(6));
  op->job_name = CopyOut(ColumnText(7));
  bool isnull = false;
  op->source_id =
      DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8, &isnull));
  op->requested_by = CopyOut(ColumnText(9));
  return true;
}

// BackupLogHasColumn says whether backup_log has column: a server may run
// this library before ALTER EXTENSION ... UPDATE brought its schema.
bool BackupLogHasColumn(const char* column) {
  return CatalogRelationHasColumn("backup_log", column);
}

// CatalogRelationHasColumn looks the column up in pg_attribute.
bool CatalogRelationHasColumn(const char* relation, const char* column) {
  const char* sql =
      "SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1::pg_catalog.regclass "
      "AND attname = $2 AND NOT attisdropped";
  Oid types[2] = {TEXTOID, NAMEOID};
  NameData name;
  namestrcpy(&name, column);
  Datum values[2] = {CStringGetTextDatum(SchemaQualified(relation)), NameGetDatum(&name)};
  if (SPI_execute_with_args(sql, 2, types, values, nullptr, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read the columns of %s", relation);
  return SPI_processed == 1;
}

namespace {

// HasTocColumn says whether backup_log has toc_sha256 (version 1.2).
bool HasTocColumn() {
  return BackupLogHasColumn("toc_sha256");
}

}  // namespace

// CatalogRelationExists says whether the extension's schema has relation
// (a library may run before ALTER EXTENSION ... UPDATE created it).
bool CatalogRelationExists(const char* relation) {
  const char* sql = "SELECT pg_catalog.to_regclass($1) IS NOT NULL";
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(SchemaQualified(relation))};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) != SPI_OK_SELECT ||
      SPI_processed != 1)
    elog(ERROR, "could not look up %s", relation);
  bool isnull = false;
  return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

// CatalogHas13 says whether backup_log has version 1.3's schema: the
// 'expiring' status and owner_queued.
bool CatalogHas13() {
  return BackupLogHasColumn("owner_queued");
}

int64 QueueCopy(int64 source_id, const char* storage, const char* requested_by,
                const char* job_name) {
  // options.set_id is the backup at the root of a chain of copies (what
  // the set is, whatever it was copied from); a copy of a backup made
  // before 1.3 (no database OID) gets OID 0: no database's owner sees it.
  const char* sql = psprintf(
      "INSERT INTO %s (kind, source_id, database_name, storage_name, format, options, "
      "requested_by, trigger, job_name, database_oid) "
      "SELECT 'copy', s.id, s.database_name, $2, s.format, "
      "jsonb_build_object('set_id', CASE WHEN s.kind = 'copy' "
      "  THEN coalesce((s.options ->> 'set_id')::bigint, s.source_id) ELSE s.id END, "
      // A copy of an imported set (or of a copy of one) says so itself, so
      // that it stays untrusted after the rows before it are gone.
      "  'imported', (s.kind = 'backup' AND s.trigger = 'import') "
      "    OR coalesce((s.options ->> 'imported')::boolean, false)), $3, "
      "CASE WHEN $4::text IS NULL THEN 'manual' ELSE 'schedule' END, $4, "
      "coalesce(s.database_oid, 0) "
      "FROM %s s WHERE s.id = $1 "
      "ON CONFLICT (((options ->> 'set_id')::bigint), storage_name) WHERE kind = 'copy' "
      "AND status IN ('queued', 'running', 'succeeded') DO NOTHING RETURNING id",
      BackupLogName(), BackupLogName());
  Oid types[4] = {INT8OID, TEXTOID, NAMEOID, TEXTOID};
  char nulls[4] = {' ', ' ', ' ', job_name == nullptr ? 'n' : ' '};
  Datum values[4] = {Int64GetDatum(source_id), CStringGetTextDatum(storage),
                     DirectFunctionCall1(namein, CStringGetDatum(requested_by)),
                     job_name == nullptr ? (Datum)0 : CStringGetTextDatum(job_name)};
  if (SPI_execute_with_args(sql, 4, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
    elog(ERROR, "could not queue a copy of backup " INT64_FORMAT, source_id);
  if (SPI_processed == 0)
    return 0;  // that set has a copy in that storage already
  bool isnull = false;
  return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

// LoadSourceRow reads backup id for a worker; false if it is gone.
bool LoadSourceRow(int64 id, SourceRow* row) {
  const char* sql = psprintf(
      "SELECT database_name, location, checksum_sha256, coalesce(format, 'custom'), "
      "storage_name, %s, %s, coalesce(raw_bytes, -1), "
      // The set a copy holds is the backup at the end of its chain of
      // sources: its manifest names that backup.
      // An imported set's manifest names the backup of the cluster that
      // wrote it, recorded by pgbak_import, and its directory the id that
      // cluster gave it.
      "(WITH RECURSIVE up(id, kind, source_id, trigger, options, depth) AS ("
      "   SELECT b.id, b.kind, b.source_id, b.trigger, b.options, 0 FROM %s b WHERE b.id = l.id "
      "   UNION ALL SELECT s.id, s.kind, s.source_id, s.trigger, s.options, up.depth + 1 FROM %s s "
      "   JOIN up ON s.id = up.source_id WHERE up.kind = 'copy' AND up.depth < 100) "
      " SELECT CASE WHEN up.trigger = 'import' THEN (up.options -> 'import' ->> "
      "'backup_id')::bigint "
      "        ELSE up.id END FROM up WHERE up.kind IN ('backup', 'base')), "
      "CASE WHEN l.kind = 'backup' AND l.trigger = 'import' "
      "     THEN (l.options -> 'import' ->> 'directory_id')::bigint ELSE l.id END, "
      "(WITH RECURSIVE up(id, kind, source_id, trigger, options, depth) AS ("
      "   SELECT b.id, b.kind, b.source_id, b.trigger, b.options, 0 FROM %s b WHERE b.id = l.id "
      "   UNION ALL SELECT s.id, s.kind, s.source_id, s.trigger, s.options, up.depth + 1 "
      "   FROM %s s "
      "   JOIN up ON s.id = up.source_id WHERE up.kind = 'copy' AND up.depth < 100) "
      " SELECT coalesce(bool_or(up.trigger = 'import' "
      "                         OR coalesce((up.options ->> 'imported')::boolean, false)), "
      "                 false) FROM up), "
      "l.kind "
      "FROM %s l WHERE id = $1 AND kind IN ('backup', 'copy', 'base') AND status = 'succeeded'",
      HasTocColumn() ? "toc_sha256" : "NULL::text",
      BackupLogHasColumn("manifest_sha256") ? "manifest_sha256" : "NULL::text", BackupLogName(),
      BackupLogName(), BackupLogName(), BackupLogName(), BackupLogName());
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(id)};
  if (SPI_execute_with_args(sql, 1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
    elog(ERROR, "could not read backup_log row " INT64_FORMAT, id);
  if (SPI_processed == 0)
    return false;
  row->database = CopyOut(ColumnText(1));
  row->location = CopyOut(ColumnText(2));
  row->checksum_sha256 = CopyOut(ColumnText(3));
  row->format = CopyOut(ColumnText(4));
  row->storage = CopyOut(ColumnText(5));
  row->toc_sha256 = CopyOut(ColumnText(6));
  row->manifest_sha256 = CopyOut(ColumnText(7));
  bool isnull = false;
  row->raw_bytes =
      DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8, &isnull));
  Datum set_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9, &isnull);
  row->set_id = isnull ? 0 : DatumGetInt64(set_id);
  Datum directory_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 10, &isnull);
  row->directory_id = isnull ? 0 : DatumGetInt64(directory_id);
  Datum imported = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 11, &isnull);
  row->imported = !isnull && DatumGetBool(imported);
  row->kind = CopyOut(ColumnText(12));
  return true;
}

// FinishWithSeconds marks row id succeeded, with restore_seconds.
void FinishWithSeconds(int64 id, double restore_seconds) {
  AnnounceFinishAtCommit();
  const char* sql = psprintf(
      "UPDATE %s SET status = 'succeeded', finished_at = clock_timestamp(), "
      "restore_seconds = $2, error_message = NULL, error_detail = NULL "
      "WHERE id = $1 AND status = 'running'",
      BackupLogName());
  Oid types[2] = {INT8OID, FLOAT8OID};
  char nulls[2] = {' ', restore_seconds < 0 ? 'n' : ' '};
  Datum values[2] = {Int64GetDatum(id), Float8GetDatum(restore_seconds)};
  if (SPI_execute_with_args(sql, 2, types, values, nulls, false, 0) != SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
  if (SPI_processed != 1)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("backup_log row " INT64_FORMAT " is no longer running", id)));
}

// RecordVerification writes a verification's outcome onto the backup's row.
void RecordVerification(int64 backup_id, const char* verify_status, double restore_seconds) {
  const char* sql = psprintf(
      "UPDATE %s SET verified_at = clock_timestamp(), verify_status = $2, "
      "restore_seconds = coalesce($3, restore_seconds) WHERE id = $1",
      BackupLogName());
  Oid types[3] = {INT8OID, TEXTOID, FLOAT8OID};
  char nulls[3] = {' ', ' ', restore_seconds < 0 ? 'n' : ' '};
  Datum values[3] = {Int64GetDatum(backup_id), CStringGetTextDatum(ValidText(verify_status)),
                     Float8GetDatum(restore_seconds)};
  if (SPI_execute_with_args(sql, 3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, backup_id);
}

// ClaimOperation marks row id as taken by this worker.
bool ClaimOperation(int64 id) {
  const char* sql = psprintf(
      "UPDATE %s SET worker_pid = $2, started_at = clock_timestamp() "
      "WHERE id = $1 AND status = 'running' AND worker_pid IS NULL",
      BackupLogName());
  Oid types[2] = {INT8OID, INT4OID};
  Datum values[2] = {Int64GetDatum(id), Int32GetDatum(MyProcPid)};
  if (SPI_execute_with_args(sql, 2, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
  return SPI_processed == 1;
}

// SetLocation records where the set's objects go.
void SetLocation(int64 id, const char* location, const char* format) {
  const char* sql =
      psprintf("UPDATE %s SET location = $2, format = $3 WHERE id = $1", BackupLogName());
  Oid types[3] = {INT8OID, TEXTOID, TEXTOID};
  Datum values[3] = {Int64GetDatum(id), CStringGetTextDatum(location), CStringGetTextDatum(format)};
  if (SPI_execute_with_args(sql, 3, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
}

// FinishSucceeded marks row id succeeded with its outcome.
void FinishCopySucceeded(int64 id, const char* manifest_sha256) {
  AnnounceFinishAtCommit();
  const char* sql = psprintf(
      "UPDATE %s c SET status = 'succeeded', finished_at = clock_timestamp(), "
      "raw_bytes = s.raw_bytes, stored_bytes = s.stored_bytes, globals_bytes = s.globals_bytes, "
      "checksum_sha256 = s.checksum_sha256, snapshot_lsn = s.snapshot_lsn, "
      "table_count = s.table_count, toc_sha256 = s.toc_sha256, manifest_sha256 = $2, "
      "error_message = NULL, error_detail = NULL "
      "FROM %s s WHERE c.id = $1 AND s.id = c.source_id AND c.status = 'running'",
      BackupLogName(), BackupLogName());
  Oid types[2] = {INT8OID, TEXTOID};
  Datum values[2] = {Int64GetDatum(id), CStringGetTextDatum(manifest_sha256)};
  if (SPI_execute_with_args(sql, 2, types, values, nullptr, false, 0) != SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
  if (SPI_processed != 1)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("backup_log row " INT64_FORMAT " is no longer running", id)));
}

void FinishSucceeded(int64 id, const BackupOutcome& outcome) {
  AnnounceFinishAtCommit();
  const char* sql = psprintf(
      "UPDATE %s SET status = 'succeeded', finished_at = clock_timestamp(), "
      "raw_bytes = $2, stored_bytes = $3, globals_bytes = $4, checksum_sha256 = $5, "
      "snapshot_lsn = $6::pg_lsn, table_count = $7, error_message = NULL, error_detail = NULL "
      "WHERE id = $1 AND status = 'running'",
      BackupLogName());
  Oid types[7] = {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID};
  char nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
  Datum values[7] = {Int64GetDatum(id),
                     Int64GetDatum(outcome.raw_bytes),
                     Int64GetDatum(outcome.stored_bytes),
                     Int64GetDatum(outcome.globals_bytes),
                     TextOrNull(outcome.checksum_sha256, &nulls[4]),
                     TextOrNull(outcome.snapshot_lsn, &nulls[5]),
                     Int32GetDatum(outcome.table_count)};
  if (SPI_execute_with_args(sql, 7, types, values, nulls, false, 0) != SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
  if (SPI_processed != 1)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("backup_log row " INT64_FORMAT " is no longer running", id)));
  if (outcome.manifest_sha256 != nullptr && BackupLogHasColumn("manifest_sha256")) {
    const char* manifest_sql =
        psprintf("UPDATE %s SET manifest_sha256 = $2 WHERE id = $1", BackupLogName());
    Oid manifest_types[2] = {INT8OID, TEXTOID};
    Datum manifest_values[2] = {Int64GetDatum(id), CStringGetTextDatum(outcome.manifest_sha256)};
    if (SPI_execute_with_args(manifest_sql, 2, manifest_types, manifest_values, nullptr, false,
                              0) != SPI_OK_UPDATE)
      elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
  }
  if (outcome.toc_sha256 != nullptr && HasTocColumn()) {
    const char* toc_sql = psprintf("UPDATE %s SET toc_sha256 = $2 WHERE id = $1", BackupLogName());
    Oid toc_types[2] = {INT8OID, TEXTOID};
    Datum toc_values[2] = {Int64GetDatum(id), CStringGetTextDatum(outcome.toc_sha256)};
    if (SPI_execute_with_args(toc_sql, 2, toc_types, toc_values, nullptr, false, 0) !=
        SPI_OK_UPDATE)
      elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
  }
}

// FinishFailed marks row id failed or cancelled if it is still running. A
// schema before 1.4 has no error_sqlstate and error_hint: they are left out.
bool FinishFailed(int64 id, const char* status, const char* message, const char* detail,
                  const char* sqlstate, const char* hint) {
  AnnounceFinishAtCommit();
  bool has_sqlstate = BackupLogHasColumn("error_sqlstate");
  const char* sql = psprintf(
      "UPDATE %s SET status = $2, finished_at = clock_timestamp(), "
      "error_message = $3, error_detail = $4%s "
      "WHERE id = $1 AND status IN ('queued', 'running')",
      BackupLogName(), has_sqlstate ? ", error_sqlstate = $5, error_hint = $6" : "");
  Oid types[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
  char nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
  Datum values[6] = {Int64GetDatum(id),
                     CStringGetTextDatum(status),
                     TextOrNull(ValidText(message), &nulls[2]),
                     TextOrNull(detail && detail[0] ? ValidText(detail) : nullptr, &nulls[3]),
                     TextOrNull(sqlstate && sqlstate[0] ? sqlstate : nullptr, &nulls[4]),
                     TextOrNull(hint && hint[0] ? ValidText(hint) : nullptr, &nulls[5])};
  if (SPI_execute_with_args(sql, has_sqlstate ? 6 : 4, types, values, nulls, false, 0) !=
      SPI_OK_UPDATE)
    elog(ERROR, "could not update backup_log row " INT64_FORMAT, id);
  return SPI_processed == 1;
}

}  // namespace pgbak
