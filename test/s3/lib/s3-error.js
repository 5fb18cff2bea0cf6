// s3-error.js: S3-style XML error answers of the verifying proxy.
//
// Real S3 answers every failure with an <Error> document carrying a Code, a
// Message, a RequestId and sometimes extra fields (the canonical request of a
// SignatureDoesNotMatch, the headers that were not signed, ...). Clients
// (awscli, our own) parse the Code, so the proxy answers the same way.
'use strict';

const crypto = require('crypto');

// xmlEscape makes a string safe as XML character data.
function xmlEscape(text) {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

// S3Error is a failure the proxy answers itself: an HTTP status, an S3 error
// code, a message and optional extra elements (name -> text).
class S3Error extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }

  // toXml renders the <Error> document real S3 would send.
  toXml(requestId = newRequestId()) {
    const fields = [
      `<Code>${xmlEscape(this.code)}</Code>`,
      `<Message>${xmlEscape(this.message)}</Message>`,
    ];
    for (const [name, value] of Object.entries(this.extra)) {
      fields.push(`<${name}>${xmlEscape(value)}</${name}>`);
    }
    fields.push(`<RequestId>${requestId}</RequestId>`);
    fields.push(`<HostId>pgbak-s3-proxy</HostId>`);
    return `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${fields.join('')}</Error>`;
  }
}

// newRequestId returns a random id in the shape of S3's x-amz-request-id.
function newRequestId() {
  return crypto.randomBytes(8).toString('hex').toUpperCase();
}

// DEFAULT_ERRORS maps the statuses a fault rule may ask for to the code and
// message real S3 sends with them.
const DEFAULT_ERRORS = {
  400: ['BadRequest', 'Bad Request'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  409: ['OperationAborted', 'A conflicting conditional operation is currently in progress against this resource. Please try again.'],
  429: ['SlowDown', 'Please reduce your request rate.'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  501: ['NotImplemented', 'A header you provided implies functionality that is not implemented'],
  503: ['SlowDown', 'Please reduce your request rate.'],
};

// errorForStatus builds the S3Error a "status" fault answers with.
function errorForStatus(status, code, message) {
  const [defaultCode, defaultMessage] = DEFAULT_ERRORS[status] || ['InternalError', 'Injected fault'];
  return new S3Error(status, code || defaultCode, message || defaultMessage);
}

// sendError writes an S3Error as a complete HTTP answer (no body for HEAD,
// as S3 does) and returns the size of the body sent.
function sendError(req, res, err) {
  const requestId = newRequestId();
  const body = req.method === 'HEAD' ? '' : err.toXml(requestId);
  res.writeHead(err.status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  res.end(body);
  return Buffer.byteLength(body);
}

module.exports = { S3Error, errorForStatus, sendError, xmlEscape, newRequestId };
