// proxy.js: the verifying, fault-injecting HTTP proxy in front of s3rver.
//
// Every S3 request is buffered whole, its SigV4 signature re-verified
// (sigv4.js), checked against the Object Lock rules (object-lock.js),
// matched against the fault rules (faults.js) and the multipart book
// (multipart.js), and only then forwarded to s3rver, whose
// answer is streamed back. Requests the proxy answers itself (rejected,
// faulted, AbortMultipartUpload) never reach s3rver, except delay_ms and
// truncate_after faults, which forward and then proceed or cut the answer.
// Paths under /__ are the unsigned control API (see README.md); S3 bucket
// names cannot contain "_", so they never collide with a bucket.
'use strict';

const fs = require('fs');
const http = require('http');
const { S3Error, errorForStatus, sendError, newRequestId } = require('./s3-error');
const { FaultSet, describeAction } = require('./faults');
const { MultipartBook } = require('./multipart');
const { ObjectLockRules } = require('./object-lock');

const MAX_BODY_BYTES = 1024 * 1024 * 1024;
// Hop-by-hop headers and Expect (the proxy already has the whole body).
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'expect', 'te', 'upgrade',
  'proxy-connection', 'proxy-authorization', 'content-length']);

// forwardableHeaders copies headers without the hop-by-hop ones.
function forwardableHeaders(headers) {
  const copy = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!NOT_FORWARDED.has(name)) copy[name] = value;
  }
  return copy;
}

// splitUrl separates the raw path and raw query of a request target.
function splitUrl(url) {
  const q = url.indexOf('?');
  return q < 0 ? { rawPath: url, rawQuery: '' } : { rawPath: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

// queryParam reads one parameter of a raw query ('' when present without a
// value, undefined when absent).
function queryParam(rawQuery, name) {
  for (const pair of rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (key === name) return eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
  }
  return undefined;
}

// multipartOperation names the multipart step a request is, or undefined.
function multipartOperation(method, rawQuery) {
  const uploadId = queryParam(rawQuery, 'uploadId');
  if (method === 'POST' && queryParam(rawQuery, 'uploads') !== undefined) return { op: 'create' };
  if (uploadId === undefined) return undefined;
  if (method === 'PUT' && queryParam(rawQuery, 'partNumber') !== undefined) {
    return { op: 'part', uploadId, partNumber: Number(queryParam(rawQuery, 'partNumber')) };
  }
  if (method === 'POST') return { op: 'complete', uploadId };
  if (method === 'DELETE') return { op: 'abort', uploadId };
  return undefined;
}

// readBody buffers a request body, refusing more than MAX_BODY_BYTES.
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('client aborted the request')));
  });
}

// sleep resolves after ms milliseconds.
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// errorCodeOf extracts <Code> from an S3 error document, if any.
function errorCodeOf(text) {
  const m = /<Error>[\s\S]*?<Code>([^<]*)<\/Code>/.exec(text);
  return m ? m[1] : undefined;
}

// RequestLog keeps every S3 request in memory and, optionally, appends
// each finished entry as a JSON line to a file.
class RequestLog {
  constructor(file) {
    this.entries = [];
    this.seq = 0;
    this.file = file;
  }

  // start opens an entry for a request; finish() it exactly once.
  start(fields) {
    this.seq += 1;
    const entry = {
      seq: this.seq,
      time: new Date().toISOString(),
      ...fields,
      key: null,
      payload: null,
      signed_headers: null,
      lock_mode: null,
      lock_retain_until: null,
      content_md5: null,
      status: null,
      code: null,
      req_bytes: 0,
      resp_bytes: 0,
      fault: null,
      fault_action: null,
      answered_by: null,
      ms: null,
    };
    this.entries.push(entry);
    return entry;
  }

  finish(entry, startedAt) {
    if (entry.ms !== null) return;
    entry.ms = Date.now() - startedAt;
    if (this.file) fs.appendFileSync(this.file, JSON.stringify(entry) + '\n');
  }

  since(seq) {
    return this.entries.filter((entry) => entry.seq > seq);
  }

  clear() {
    this.entries = [];
  }
}

// VerifyingProxy is the HTTP server tests point their clients at.
class VerifyingProxy {
  // verifier: a SigV4Verifier; upstream: { host, port } of s3rver;
  // lockedBuckets: buckets that require an Object Lock retention on every
  // new object.
  constructor({ verifier, upstream, logFile, minPartSize, lockedBuckets }) {
    this.verifier = verifier;
    this.upstream = upstream;
    this.faults = new FaultSet();
    this.book = new MultipartBook({ minPartSize });
    this.objectLock = new ObjectLockRules({ lockedBuckets });
    this.log = new RequestLog(logFile);
    this.agent = new http.Agent({ keepAlive: true });
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        process.stderr.write(`proxy: ${req.method} ${req.url}: ${err.stack || err}\n`);
        if (!res.headersSent) sendError(req, res, new S3Error(500, 'InternalError', String(err.message || err)));
        else res.destroy();
      });
    });
    // Clients pool connections; do not close them under a client between
    // two requests of a test.
    this.server.keepAliveTimeout = 60 * 1000;
  }

  // listen binds to address:port (0 = ephemeral) and returns the port.
  listen(address, port) {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve(this.server.address().port));
    });
  }

  // close stops accepting, drops open connections and the upstream pool.
  close() {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.agent.destroy();
    });
  }

  async handle(req, res) {
    const { rawPath, rawQuery } = splitUrl(req.url);
    if (rawPath.startsWith('/__')) {
      await this.control(req, res, rawPath, rawQuery);
      return;
    }
    const startedAt = Date.now();
    const entry = this.log.start({ method: req.method, path: rawPath, query: rawQuery });
    res.on('close', () => this.log.finish(entry, startedAt));

    let body;
    try {
      body = await readBody(req);
    } catch (err) {
      entry.code = err instanceof S3Error ? err.code : 'ClientAborted';
      entry.answered_by = 'proxy';
      if (err instanceof S3Error && !res.headersSent) this.answerError(req, res, entry, err);
      else res.destroy();
      return;
    }
    entry.req_bytes = body.length;

    try {
      const auth = await this.verifier.verify({
        method: req.method, rawPath, rawQuery, headers: req.headersDistinct, body,
      });
      entry.key = auth.accessKeyId;
      entry.payload = auth.payload;
      entry.signed_headers = auth.signedHeaders;
    } catch (err) {
      if (!(err instanceof S3Error)) throw err;
      this.answerError(req, res, entry, err);
      return;
    }

    const multipart = multipartOperation(req.method, rawQuery);
    try {
      Object.assign(entry, this.objectLock.check({
        method: req.method, rawPath, headers: req.headers, body, multipart,
      }));
    } catch (err) {
      if (!(err instanceof S3Error)) throw err;
      this.answerError(req, res, entry, err);
      return;
    }

    const rule = this.faults.pick({ method: req.method, rawPath, rawQuery });
    if (rule) {
      entry.fault = rule.name;
      entry.fault_action = describeAction(rule);
      if (rule.delayMs !== undefined) await sleep(rule.delayMs);
      if (this.answerFault(req, res, entry, rule)) return;
    }

    // ListMultipartUploads on a bucket: s3rver answers NotImplemented, the
    // book knows the answer.
    const bucketOnly = rawPath.match(/^\/([^/]+)\/?$/);
    if (req.method === 'GET' && bucketOnly && queryParam(rawQuery, 'uploads') !== undefined) {
      const xml = this.book.listOpenXml(bucketOnly[1], queryParam(rawQuery, 'prefix') || '');
      entry.answered_by = 'proxy';
      entry.status = 200;
      entry.resp_bytes = Buffer.byteLength(xml);
      res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': newRequestId() });
      res.end(xml);
      return;
    }

    try {
      if (multipart && multipart.op === 'part') this.book.requireOpen(multipart.uploadId, rawPath);
      if (multipart && multipart.op === 'complete') this.book.checkComplete(multipart.uploadId, rawPath, body);
      if (multipart && multipart.op === 'abort') {
        this.book.requireOpen(multipart.uploadId, rawPath);
        this.book.finished(multipart.uploadId, 'aborted');
        entry.answered_by = 'proxy';
        entry.status = 204;
        res.writeHead(204, { 'x-amz-request-id': newRequestId() });
        res.end();
        return;
      }
    } catch (err) {
      if (!(err instanceof S3Error)) throw err;
      this.answerError(req, res, entry, err);
      return;
    }

    await this.forward(req, res, entry, { rawPath, body, multipart, truncateAfter: rule && rule.truncateAfter });
  }

  // answerError sends an S3Error and records it in the log entry.
  answerError(req, res, entry, err) {
    entry.status = err.status;
    entry.code = err.code;
    entry.answered_by = 'proxy';
    entry.resp_bytes = sendError(req, res, err);
  }

  // answerFault carries out a terminal fault; false when the rule only
  // delays or truncates (the request then goes on to s3rver).
  answerFault(req, res, entry, rule) {
    if (rule.status !== undefined) {
      this.answerError(req, res, entry, errorForStatus(rule.status, rule.code, rule.message));
      return true;
    }
    if (rule.drop === 'request') {
      entry.answered_by = 'proxy';
      req.socket.destroy();
      return true;
    }
    if (rule.drop === 'response') {
      // Headers promise a body; half of it arrives, then the connection dies.
      entry.answered_by = 'proxy';
      entry.status = 200;
      const partial = '<?xml version="1.0" encoding="UTF-8"?>\n<Partial';
      res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': 4096, 'x-amz-request-id': newRequestId() });
      res.write(partial, () => res.socket && res.socket.destroy());
      entry.resp_bytes = partial.length;
      return true;
    }
    if (rule.completeError) {
      // S3 can answer CompleteMultipartUpload with 200 and an error inside.
      const err = errorForStatus(500, rule.code, rule.message);
      const body = err.toXml();
      entry.answered_by = 'proxy';
      entry.status = 200;
      entry.code = err.code;
      entry.resp_bytes = Buffer.byteLength(body);
      res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body), 'x-amz-request-id': newRequestId() });
      res.end(body);
      return true;
    }
    return false;
  }

  // forward sends the verified request to s3rver and streams its answer
  // back, updating the multipart book from what s3rver answered.
  forward(req, res, entry, { rawPath, body, multipart, truncateAfter }) {
    const headers = forwardableHeaders(req.headers);
    headers['content-length'] = String(body.length);
    entry.answered_by = 's3rver';
    return new Promise((resolve) => {
      const upstream = http.request({
        host: this.upstream.host,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
      }, (answer) => {
        entry.status = answer.statusCode;
        // Small answers whose content the book or the log needs are read
        // whole; everything else streams.
        const buffered = answer.statusCode >= 400 || (multipart && multipart.op !== 'part');
        if (buffered) {
          const chunks = [];
          answer.on('data', (chunk) => chunks.push(chunk));
          answer.on('end', () => {
            const content = Buffer.concat(chunks);
            const text = content.toString('utf8');
            entry.code = errorCodeOf(text) || null;
            if (answer.statusCode === 200 && multipart && !entry.code) this.noteMultipart(multipart, rawPath, text, answer, body, entry);
            entry.resp_bytes = content.length;
            const answerHeaders = forwardableHeaders(answer.headers);
            if (req.method !== 'HEAD') answerHeaders['content-length'] = String(content.length);
            else if (answer.headers['content-length'] !== undefined) answerHeaders['content-length'] = answer.headers['content-length'];
            res.writeHead(answer.statusCode, answerHeaders);
            res.end(content);
            resolve();
          });
          return;
        }
        if (answer.statusCode === 200 && multipart) this.noteMultipart(multipart, rawPath, '', answer, body, entry);
        // Keep s3rver's Content-Length (or its chunking) so that a
        // truncated answer is visibly short to the client.
        const answerHeaders = forwardableHeaders(answer.headers);
        if (answer.headers['content-length'] !== undefined) answerHeaders['content-length'] = answer.headers['content-length'];
        res.writeHead(answer.statusCode, answerHeaders);
        let cut = false;
        answer.on('data', (chunk) => {
          if (cut) return;
          if (truncateAfter !== undefined && entry.resp_bytes + chunk.length > truncateAfter) {
            cut = true;
            const kept = chunk.subarray(0, truncateAfter - entry.resp_bytes);
            entry.resp_bytes = truncateAfter;
            answer.destroy();
            if (kept.length === 0) res.destroy();
            else res.write(kept, () => res.socket && res.socket.destroy());
            resolve();
            return;
          }
          entry.resp_bytes += chunk.length;
          res.write(chunk);
        });
        answer.on('end', () => {
          if (cut) return;
          res.end();
          resolve();
        });
        answer.on('error', () => {
          if (cut) return;
          res.destroy();
          resolve();
        });
      });
      upstream.on('error', (err) => {
        if (!res.headersSent) {
          this.answerError(req, res, entry, new S3Error(502, 'InternalError', `s3rver unreachable: ${err.message}`));
        } else {
          res.destroy();
        }
        resolve();
      });
      upstream.end(body);
    });
  }

  // noteMultipart records a successful multipart step in the book.
  noteMultipart(multipart, rawPath, text, answer, body, entry) {
    if (multipart.op === 'create') {
      const m = /<UploadId>([^<]+)<\/UploadId>/.exec(text);
      if (m) this.book.initiated(m[1], rawPath);
      if (m && entry.lock_mode) this.objectLock.uploadCreated(m[1]);
    } else if (multipart.op === 'part') {
      this.book.partStored(multipart.uploadId, multipart.partNumber, answer.headers.etag || '', body.length);
    } else if (multipart.op === 'complete') {
      this.book.finished(multipart.uploadId, 'completed');
    }
  }

  // control serves the unsigned test API under /__.
  async control(req, res, rawPath, rawQuery) {
    const reply = (status, value) => {
      const text = JSON.stringify(value) + '\n';
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    let body;
    try {
      body = await readBody(req);
    } catch (err) {
      res.destroy();
      return;
    }
    const route = `${req.method} ${rawPath}`;
    try {
      switch (route) {
        case 'GET /__health':
          return reply(200, { ok: true });
        case 'GET /__faults':
          return reply(200, this.faults.describe());
        case 'POST /__faults':
        case 'PUT /__faults': {
          const rules = JSON.parse(body.toString('utf8') || '[]');
          if (queryParam(rawQuery, 'append') !== undefined) this.faults.append(rules);
          else this.faults.replace(rules);
          return reply(200, this.faults.describe());
        }
        case 'DELETE /__faults':
          this.faults.clear();
          return reply(200, []);
        case 'GET /__log':
          return reply(200, this.log.since(Number(queryParam(rawQuery, 'since') || 0)));
        case 'DELETE /__log':
          this.log.clear();
          return reply(200, []);
        case 'GET /__uploads':
          return reply(200, this.book.describe());
        default:
          return reply(404, { error: `no control route ${route}` });
      }
    } catch (err) {
      return reply(400, { error: String(err.message || err) });
    }
  }
}

module.exports = { VerifyingProxy, splitUrl, multipartOperation };
