// multipart.js: the multipart-upload rules s3rver does not enforce.
//
// s3rver 3.7 ignores the part ETags listed in CompleteMultipartUpload, has
// no minimum part size and answers AbortMultipartUpload with 405. The proxy
// keeps its own book of the uploads it saw through it and enforces what S3
// does: parts listed in ascending order with the ETags S3 returned for
// them, every part but the last at least 5 MiB, no use of an upload after
// it was completed or aborted. It answers AbortMultipartUpload itself
// (s3rver keeps the parts on disk, where no S3 listing shows them).
'use strict';

const { S3Error } = require('./s3-error');

const DEFAULT_MIN_PART_SIZE = 5 * 1024 * 1024;

// noSuchUpload is S3's answer for an unknown, completed or aborted upload.
function noSuchUpload(uploadId) {
  return new S3Error(404, 'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', {
      UploadId: uploadId,
    });
}

// parseCompleteBody reads [{ partNumber, etag }] from a
// CompleteMultipartUpload document (simple enough for regexes: S3's schema
// has no nesting beyond Part).
function parseCompleteBody(body) {
  const text = body.toString('utf8');
  if (!/<CompleteMultipartUpload[\s>]/.test(text)) {
    throw new S3Error(400, 'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema');
  }
  const parts = [];
  for (const match of text.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const number = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(match[1]);
    const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(match[1]);
    if (!number || !etag) {
      throw new S3Error(400, 'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema');
    }
    parts.push({
      partNumber: Number(number[1]),
      etag: etag[1].replace(/&quot;/g, '"').replace(/"/g, '').trim(),
    });
  }
  if (parts.length === 0) {
    throw new S3Error(400, 'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema');
  }
  return parts;
}

// MultipartBook tracks uploads by id: key, state and the parts S3 stored.
class MultipartBook {
  constructor({ minPartSize = DEFAULT_MIN_PART_SIZE } = {}) {
    this.minPartSize = minPartSize;
    this.uploads = new Map();
  }

  // initiated records the UploadId of a successful CreateMultipartUpload.
  initiated(uploadId, rawPath) {
    this.uploads.set(uploadId, { path: rawPath, state: 'open', parts: new Map(), started: new Date().toISOString() });
  }

  // requireOpen throws NoSuchUpload unless the upload is open for this path.
  requireOpen(uploadId, rawPath) {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.state !== 'open' || upload.path !== rawPath) throw noSuchUpload(uploadId);
    return upload;
  }

  // partStored records the ETag and size of a successful UploadPart.
  partStored(uploadId, partNumber, etag, size) {
    const upload = this.uploads.get(uploadId);
    if (upload) upload.parts.set(partNumber, { etag: String(etag).replace(/"/g, ''), size });
  }

  // checkComplete validates a CompleteMultipartUpload body against the book.
  checkComplete(uploadId, rawPath, body) {
    const upload = this.requireOpen(uploadId, rawPath);
    const listed = parseCompleteBody(body);
    for (let i = 0; i < listed.length; i += 1) {
      const { partNumber, etag } = listed[i];
      if (i > 0 && partNumber <= listed[i - 1].partNumber) {
        throw new S3Error(400, 'InvalidPartOrder',
          'The list of parts was not in ascending order. Parts must be ordered by part number.', { UploadId: uploadId });
      }
      const stored = upload.parts.get(partNumber);
      if (!stored || stored.etag !== etag) {
        throw new S3Error(400, 'InvalidPart',
          "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", {
            UploadId: uploadId,
            PartNumber: String(partNumber),
            ETag: etag,
          });
      }
      if (i < listed.length - 1 && stored.size < this.minPartSize) {
        throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', {
          ProposedSize: String(stored.size),
          MinSizeAllowed: String(this.minPartSize),
          PartNumber: String(partNumber),
        });
      }
    }
  }

  // finished marks an upload completed or aborted.
  finished(uploadId, state) {
    const upload = this.uploads.get(uploadId);
    if (upload) upload.state = state;
  }

  // listOpenXml answers ListMultipartUploads (GET /bucket?uploads), which
  // s3rver does not implement: the open uploads whose key starts with prefix.
  listOpenXml(bucket, prefix) {
    const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const base = `/${bucket}/`;
    let xml = '<?xml version="1.0" encoding="UTF-8"?>\n'
      + '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
      + `<Bucket>${escape(bucket)}</Bucket><Prefix>${escape(prefix)}</Prefix><IsTruncated>false</IsTruncated>`;
    for (const [uploadId, upload] of this.uploads.entries()) {
      if (upload.state !== 'open' || !upload.path.startsWith(base)) continue;
      const key = decodeURIComponent(upload.path.slice(base.length));
      if (!key.startsWith(prefix)) continue;
      xml += `<Upload><Key>${escape(key)}</Key><UploadId>${escape(uploadId)}</UploadId>`
        + `<Initiated>${upload.started}</Initiated></Upload>`;
    }
    return `${xml}</ListMultipartUploadsResult>`;
  }

  // describe lists the uploads, for GET /__uploads.
  describe() {
    return [...this.uploads.entries()].map(([uploadId, upload]) => ({
      upload_id: uploadId,
      path: upload.path,
      state: upload.state,
      started: upload.started,
      parts: [...upload.parts.entries()].map(([number, part]) => ({ part_number: number, etag: part.etag, size: part.size })),
    }));
  }
}

module.exports = { MultipartBook, parseCompleteBody };
