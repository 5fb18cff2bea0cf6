// faults.js: the fault rules a test installs in the proxy at run time.
//
// A rule matches requests by method, path regex and query substring; it
// skips its first `after` matches, then fires for the next `times` ones
// (times -1: every one). Rules are checked in order and the first that
// fires wins; a rule that matches but does not fire (still skipping, or
// used up) still counts the match. Only requests that passed signature
// verification reach the rules, so "fail the 2nd UploadPart" means the 2nd
// one a correct client sent.
'use strict';

const ACTIONS = ['status', 'drop', 'delay_ms', 'complete_error', 'truncate_after'];
const DROP_MODES = ['request', 'response'];

// validateRule checks one rule as given in JSON and returns it normalized
// with its counters; throws an Error naming the problem.
function validateRule(raw, index) {
  const where = `rule ${index}${raw && raw.name ? ` (${raw.name})` : ''}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${where}: not an object`);
  }
  const known = new Set(['name', 'method', 'path', 'query', 'after', 'times', 'code', 'message', ...ACTIONS]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new Error(`${where}: unknown field "${key}"`);
  }
  const actions = ACTIONS.filter((name) => raw[name] !== undefined && raw[name] !== false);
  const terminal = actions.filter((name) => name !== 'delay_ms');
  if (actions.length === 0) throw new Error(`${where}: needs one of ${ACTIONS.join(', ')}`);
  if (terminal.length > 1) throw new Error(`${where}: ${terminal.join(' and ')} cannot be combined`);
  const rule = {
    name: raw.name === undefined ? `rule${index}` : String(raw.name),
    method: raw.method === undefined ? undefined : String(raw.method).toUpperCase(),
    path: raw.path === undefined ? undefined : new RegExp(raw.path),
    pathSource: raw.path,
    query: raw.query === undefined ? undefined : String(raw.query),
    after: raw.after === undefined ? 0 : Number(raw.after),
    times: raw.times === undefined ? 1 : Number(raw.times),
    status: raw.status === undefined ? undefined : Number(raw.status),
    code: raw.code,
    message: raw.message,
    drop: raw.drop === true ? 'request' : raw.drop,
    delayMs: raw.delay_ms === undefined ? undefined : Number(raw.delay_ms),
    completeError: raw.complete_error === true,
    truncateAfter: raw.truncate_after === undefined ? undefined : Number(raw.truncate_after),
    matched: 0,
    fired: 0,
  };
  if (!Number.isInteger(rule.after) || rule.after < 0) throw new Error(`${where}: after must be an integer >= 0`);
  if (!Number.isInteger(rule.times) || rule.times < -1) throw new Error(`${where}: times must be an integer >= -1`);
  if (rule.status !== undefined && !(Number.isInteger(rule.status) && rule.status >= 200 && rule.status <= 599)) {
    throw new Error(`${where}: status must be an HTTP status`);
  }
  if (rule.drop !== undefined && !DROP_MODES.includes(rule.drop)) {
    throw new Error(`${where}: drop must be true, "request" or "response"`);
  }
  if (rule.delayMs !== undefined && !(Number.isInteger(rule.delayMs) && rule.delayMs >= 0)) {
    throw new Error(`${where}: delay_ms must be an integer >= 0`);
  }
  if (rule.truncateAfter !== undefined && !(Number.isInteger(rule.truncateAfter) && rule.truncateAfter >= 0)) {
    throw new Error(`${where}: truncate_after must be an integer >= 0`);
  }
  return rule;
}

// describeAction names what a fired rule did, for the request log.
function describeAction(rule) {
  const parts = [];
  if (rule.delayMs !== undefined) parts.push(`delay_ms:${rule.delayMs}`);
  if (rule.status !== undefined) parts.push(`status:${rule.status}`);
  if (rule.drop !== undefined) parts.push(`drop:${rule.drop}`);
  if (rule.completeError) parts.push('complete_error');
  if (rule.truncateAfter !== undefined) parts.push(`truncate_after:${rule.truncateAfter}`);
  return parts.join(',');
}

// FaultSet holds the installed rules and decides which fires for a request.
class FaultSet {
  constructor() {
    this.rules = [];
  }

  // replace installs a new list of rules (validated first: a bad list
  // leaves the old one in place).
  replace(rawRules) {
    this.rules = this.validateList(rawRules);
  }

  // append adds rules after the installed ones.
  append(rawRules) {
    this.rules = this.rules.concat(this.validateList(rawRules, this.rules.length));
  }

  validateList(rawRules, offset = 0) {
    if (!Array.isArray(rawRules)) throw new Error('expected a JSON array of rules');
    return rawRules.map((raw, i) => validateRule(raw, offset + i));
  }

  clear() {
    this.rules = [];
  }

  // pick returns the rule that fires for a request, or undefined; it counts
  // the match on every rule that matches up to the one that fires.
  pick({ method, rawPath, rawQuery }) {
    for (const rule of this.rules) {
      if (rule.method !== undefined && rule.method !== method) continue;
      if (rule.path !== undefined && !rule.path.test(rawPath)) continue;
      if (rule.query !== undefined && !rawQuery.includes(rule.query)) continue;
      rule.matched += 1;
      if (rule.matched <= rule.after) continue;
      if (rule.times !== -1 && rule.fired >= rule.times) continue;
      rule.fired += 1;
      return rule;
    }
    return undefined;
  }

  // describe lists the rules with their counters, for GET /__faults.
  describe() {
    return this.rules.map((rule) => ({
      name: rule.name,
      method: rule.method,
      path: rule.pathSource,
      query: rule.query,
      after: rule.after,
      times: rule.times,
      action: describeAction(rule),
      matched: rule.matched,
      fired: rule.fired,
    }));
  }
}

module.exports = { FaultSet, describeAction };
