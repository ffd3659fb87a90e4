'use strict';
// libofn's Node.js functions framework: serves one function of a Node.js
// source over HTTP in a libofn process instance, the way OpenFunction's Node
// builder runs functions (its own framework is not in the npm registry).
//
//   FUNC_SOURCE=dir FUNC_NAME=helloWorld FUNC_SIGNATURE_TYPE=http node index.js
//
// FUNC_SOURCE is the function's directory (its package.json "main", else
// index.js); FUNC_NAME the export to serve (a dotted path reaches into
// objects); the port comes from $PORT (else FUNC_CONTEXT's "port", else
// 8080); FUNC_CONTEXT is OpenFunction's function context.
//
// Signatures (FUNC_SIGNATURE_TYPE):
//   http          fn(req, res): Express-like — req.method, req.path,
//                 req.query, req.headers, req.get(name), req.body (JSON
//                 parsed, else text), req.rawBody; res.status(code),
//                 res.set(name, value), res.send(body), res.json(value),
//                 res.sendStatus(code), res.end(). May be async.
//   cloudevent    fn(event): a CloudEvents 1.0 object (binary or structured
//                 mode); its return value, if any, is the answer.
//   openfunction  fn(ctx, data): ctx.send(data, output) sends to an output
//                 through the platform's Dapr API; the return value answers.
// A function that throws (or rejects) answers 500 naming the error; the
// process keeps serving.
const http = require('http');
const path = require('path');

const source = path.resolve(process.env.FUNC_SOURCE || '.');
const target = process.env.FUNC_NAME || '';
const signature = (process.env.FUNC_SIGNATURE_TYPE || 'http').toLowerCase().replace(/^event$/, 'cloudevent');
let context = {};
try {
  context = JSON.parse(process.env.FUNC_CONTEXT || '{}');
} catch (e) {
  process.stderr.write(`ofn node framework: FUNC_CONTEXT is not JSON: ${e.message}\n`);
}
const port = Number(process.env.PORT || context.port || 8080);
const host = process.env.HOST || '127.0.0.1';

function fail(message) {
  process.stderr.write(`ofn node framework: ${message}\n`);
  process.exit(1);
}

if (!['http', 'cloudevent', 'openfunction'].includes(signature)) {
  fail(`FUNC_SIGNATURE_TYPE "${signature}" is not one of http, cloudevent, openfunction`);
}
if (!target) fail('FUNC_NAME is not set (the export to serve)');
let mod;
try {
  mod = require(source);
} catch (e) {
  fail(`cannot load ${source}: ${e.stack || e}`);
}
let fn = mod;
for (const part of target.split('.')) fn = fn == null ? undefined : fn[part];
if (typeof fn !== 'function') {
  const have = Object.keys(mod || {}).filter((k) => typeof mod[k] === 'function');
  fail(`${source} exports no function "${target}" (it exports: ${have.join(', ') || 'none'})`);
}

function errorBody(status, message) {
  return JSON.stringify({ error: { code: status, message } });
}

// --- http ----------------------------------------------------------------------

function makeRequest(msg, raw) {
  const url = new URL(msg.url, 'http://localhost');
  const ctype = (msg.headers['content-type'] || '').toLowerCase();
  let body = raw.length ? raw.toString('utf8') : undefined;
  if (raw.length && ctype.includes('json')) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      const err = new Error(`the body is not JSON: ${e.message}`);
      err.status = 400;
      throw err;
    }
  }
  return {
    method: msg.method,
    url: msg.url,
    originalUrl: msg.url,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: msg.headers,
    get: (name) => msg.headers[String(name).toLowerCase()],
    header: (name) => msg.headers[String(name).toLowerCase()],
    body,
    rawBody: raw,
  };
}

function makeResponse(out, done) {
  const res = {
    statusCode: 200,
    headersSent: false,
    headers: {},
    status(code) {
      this.statusCode = code;
      return this;
    },
    set(name, value) {
      if (typeof name === 'object') {
        for (const [k, v] of Object.entries(name)) this.headers[k.toLowerCase()] = String(v);
      } else {
        this.headers[String(name).toLowerCase()] = String(value);
      }
      return this;
    },
    setHeader(name, value) {
      return this.set(name, value);
    },
    get(name) {
      return this.headers[String(name).toLowerCase()];
    },
    type(t) {
      return this.set('content-type', t.includes('/') ? t : t === 'json' ? 'application/json' : `text/${t}`);
    },
    send(body) {
      if (this.headersSent) return this;
      let bytes;
      if (body === undefined || body === null) {
        bytes = Buffer.alloc(0);
      } else if (Buffer.isBuffer(body)) {
        bytes = body;
        if (!this.headers['content-type']) this.headers['content-type'] = 'application/octet-stream';
      } else if (typeof body === 'object') {
        bytes = Buffer.from(JSON.stringify(body));
        if (!this.headers['content-type']) this.headers['content-type'] = 'application/json';
      } else {
        bytes = Buffer.from(String(body));
        if (!this.headers['content-type']) this.headers['content-type'] = 'text/html; charset=utf-8';
      }
      this.headersSent = true;
      done(this.statusCode, this.headers, bytes);
      return this;
    },
    json(value) {
      this.headers['content-type'] = 'application/json';
      return this.send(JSON.stringify(value === undefined ? null : value));
    },
    sendStatus(code) {
      this.statusCode = code;
      return this.send(http.STATUS_CODES[code] || String(code));
    },
    end(body) {
      return this.send(body === undefined ? '' : body);
    },
    write() {
      throw new Error('res.write is not supported: use res.send');
    },
  };
  return res;
}

// --- cloudevent ----------------------------------------------------------------

function parseCloudEvent(msg, raw) {
  const ctype = (msg.headers['content-type'] || '').toLowerCase();
  if (ctype.startsWith('application/cloudevents+json')) {
    let ev;
    try {
      ev = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      const err = new Error(`a structured CloudEvent that is not JSON: ${e.message}`);
      err.status = 400;
      throw err;
    }
    if (ev.data === undefined && ev.data_base64 !== undefined) ev.data = Buffer.from(ev.data_base64, 'base64');
    return ev;
  }
  const ev = {};
  for (const [k, v] of Object.entries(msg.headers)) {
    if (k.startsWith('ce-')) ev[k.slice(3)] = v;
  }
  for (const required of ['id', 'source', 'type', 'specversion']) {
    if (!ev[required]) {
      const err = new Error(`not a CloudEvent: the ce-${required} header is missing`);
      err.status = 400;
      throw err;
    }
  }
  if (msg.headers['content-type']) ev.datacontenttype = msg.headers['content-type'];
  let data = raw.length ? raw.toString('utf8') : undefined;
  if (raw.length && ctype.includes('json')) {
    try {
      data = JSON.parse(data);
    } catch (e) {
      /* keep it as text */
    }
  }
  ev.data = data;
  return ev;
}

// --- openfunction --------------------------------------------------------------

function daprCall(method, urlPath, body, ctype) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(process.env.DAPR_HTTP_PORT),
        method,
        path: urlPath,
        headers: {
          'content-type': ctype || 'application/json',
          'content-length': Buffer.byteLength(body || ''),
          ...(process.env.DAPR_API_TOKEN ? { 'dapr-api-token': process.env.DAPR_API_TOKEN } : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode >= 300) reject(new Error(`Dapr API ${method} ${urlPath}: ${res.statusCode} ${text}`));
          else resolve(text);
        });
      },
    );
    req.on('error', reject);
    req.end(body || '');
  });
}

function makeContext() {
  const outputs = context.outputs || {};
  return {
    name: context.name || '',
    version: context.version || '',
    runtime: context.runtime || 'Knative',
    inputs: context.inputs || {},
    outputs,
    async send(data, output) {
      const out = outputs[output];
      if (!out) {
        throw new Error(`output "${output}" is not declared in spec.serving.outputs (have: ${Object.keys(outputs).join(', ') || 'none'})`);
      }
      if (!process.env.DAPR_HTTP_PORT) {
        process.stderr.write(`ofn node framework: output ${output} (no Dapr API here: dropped)\n`);
        return false;
      }
      const component = encodeURIComponent(out.componentName || output);
      const text = typeof data === 'string' || Buffer.isBuffer(data) ? String(data) : JSON.stringify(data);
      if ((out.componentType || '').startsWith('pubsub.')) {
        await daprCall('POST', `/v1.0/publish/${component}/${encodeURIComponent(out.uri || output)}`, text,
          typeof data === 'object' && !Buffer.isBuffer(data) ? 'application/json' : 'text/plain');
      } else {
        await daprCall('POST', `/v1.0/bindings/${component}`,
          JSON.stringify({ data, operation: out.operation || 'create', metadata: out.metadata || {} }));
      }
      return true;
    },
  };
}

// --- the server ----------------------------------------------------------------

function answer(res, status, headers, body) {
  if (res.headersSent) return;
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(body);
}

function toBody(value) {
  if (value === undefined || value === null) return { headers: {}, body: Buffer.alloc(0) };
  if (Buffer.isBuffer(value)) return { headers: { 'content-type': 'application/octet-stream' }, body: value };
  if (typeof value === 'object') return { headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(value)) };
  return { headers: { 'content-type': 'text/plain; charset=utf-8' }, body: Buffer.from(String(value)) };
}

async function handle(msg, raw, res) {
  if (msg.method === 'GET' && msg.url === '/dapr/subscribe') {
    const subs = [];
    for (const [name, c] of Object.entries(context.inputs || {})) {
      const kind = c.componentType || '';
      if ((kind.startsWith('pubsub.') || (!kind && c.uri && c.uri !== c.componentName)) && c.uri) {
        subs.push({ pubsubname: c.componentName || name, topic: c.uri, route: `/${name}` });
      }
    }
    return answer(res, 200, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(subs)));
  }
  if (signature === 'http') {
    const req = makeRequest(msg, raw);
    await new Promise((resolve, reject) => {
      const r = makeResponse(res, (status, headers, body) => {
        answer(res, status, headers, body);
        resolve();
      });
      Promise.resolve()
        .then(() => fn(req, r))
        .then(() => {
          // An async function that returned without answering: 204, as an
          // empty answer; a sync one may still answer later (callbacks).
          if (!r.headersSent && fn.constructor.name === 'AsyncFunction') r.status(204).end();
        })
        .catch(reject);
    });
    return;
  }
  if (signature === 'cloudevent') {
    const result = await fn(parseCloudEvent(msg, raw));
    const { headers, body } = toBody(result);
    return answer(res, result === undefined ? 204 : 200, headers, body);
  }
  const ctype = (msg.headers['content-type'] || '').toLowerCase();
  let data = raw.length ? raw.toString('utf8') : undefined;
  if (ctype.startsWith('application/cloudevents+json')) {
    data = parseCloudEvent(msg, raw).data;
  } else if (raw.length && ctype.includes('json')) {
    try {
      data = JSON.parse(data);
    } catch (e) {
      /* keep it as text */
    }
  }
  const result = await fn(makeContext(), data);
  const { headers, body } = toBody(result);
  return answer(res, 200, headers, body);
}

const server = http.createServer((msg, res) => {
  const chunks = [];
  msg.on('data', (c) => chunks.push(c));
  msg.on('end', () => {
    handle(msg, Buffer.concat(chunks), res).catch((e) => {
      process.stderr.write(`ofn node framework: ${target} failed: ${e && e.stack ? e.stack : e}\n`);
      const status = e && e.status >= 400 && e.status < 500 ? e.status : 500;
      const message = status === 500 ? `function failed: ${e && e.message ? e.message : e}` : e.message;
      answer(res, status, { 'content-type': 'application/json' }, Buffer.from(errorBody(status, message)));
    });
  });
});
server.keepAliveTimeout = 65000;
server.listen(port, host, () => {
  process.stderr.write(`ofn node framework: serving ${target} (${signature}) from ${source} on ${host}:${port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
process.on('unhandledRejection', (e) => {
  process.stderr.write(`ofn node framework: unhandled rejection: ${e && e.stack ? e.stack : e}\n`);
});
