// Drives libofn's CloudEvent runtimes with the CloudEvents SDK (npm
// `cloudevents`), binary and structured mode, and prints one JSON line per
// check: {"target", "mode", "case", "ok", "detail"}.
//
//   node tests/sdk/ce_sdk.mjs http://127.0.0.1:PORT
//
// Targets, behind one gateway: "cpp" — an in-process C++ function that keeps
// the event (read back from "ce-last"); "py" — a Python process function
// (ofn.framework) that answers with the event it got, which the SDK decodes.
import http from "node:http";
import { CloudEvent, HTTP } from "cloudevents";

const gateway = new URL(process.argv[2]);

// One request to the gateway with a Host header (fetch would drop it).
function send(method, host, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: gateway.hostname, port: gateway.port, path: "/", method,
                               headers: { ...headers, Host: host } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// The HTTP binding (3.1.3.2) has binary-mode header values percent-encoded;
// the SDK leaves that to the transport.
function encodeHeaders(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!k.toLowerCase().startsWith("ce-")) { out[k] = v; continue; }
    let e = "";
    for (const b of Buffer.from(String(v), "utf8")) {
      e += b <= 0x20 || b >= 0x7f || b === 0x22 || b === 0x25 ? "%" + b.toString(16).toUpperCase().padStart(2, "0")
                                                             : String.fromCharCode(b);
    }
    out[k] = e;
  }
  return out;
}

// Header values of an answer, percent-decoded for the SDK.
function decodeHeaders(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) {
    out[k] = k.startsWith("ce-") ? Buffer.from(decodeURIComponent(v), "utf8").toString("utf8") : v;
  }
  return out;
}

const cases = [
  { name: "json object data", event: { data: { n: 1, s: "x" } },
    want: (e) => e.data && e.data.n === 1 && e.data.s === "x" },
  { name: "the SDK's default string event", event: { data: "hello world" },
    want: (e) => e.data === "hello world" },
  { name: "binary data", event: { data: Buffer.from([0, 1, 2, 255]), datacontenttype: "application/octet-stream" },
    want: (e) => Buffer.from(e.data).equals(Buffer.from([0, 1, 2, 255])) },
  { name: "non-ASCII subject", event: { subject: "Euro € \"quoted\" 100%", data: {} },
    want: (e) => e.subject === "Euro € \"quoted\" 100%" },
  { name: "a long extension name", event: { averyveryverylongextensionname: "v", data: {} },
    want: (e) => e.averyveryverylongextensionname === "v" },
  { name: "text data", event: { data: "plain text", datacontenttype: "text/plain" },
    want: (e) => e.data === "plain text" },
];

// What the C++ function saw, as the SDK would have it.
async function lastCpp() {
  const r = await send("GET", "ce-last.default.ofn.io", {});
  const j = JSON.parse(r.body.toString("utf8"));
  const raw = Buffer.from(j.data_base64, "base64");
  let data = raw;
  const t = (j.datacontenttype || "").split(";")[0].trim().toLowerCase();
  if (t === "" || t.endsWith("json")) {
    try { data = JSON.parse(raw.toString("utf8")); } catch { data = raw.toString("utf8"); }
  } else if (t.startsWith("text/")) {
    data = raw.toString("utf8");
  }
  return { id: j.id, source: j.source, type: j.type, subject: j.subject || undefined, data, ...j.extensions };
}

function report(target, mode, name, ok, detail) {
  console.log(JSON.stringify({ target, mode, case: name, ok, detail }));
}

for (const target of ["cpp", "py"]) {
  for (const mode of ["binary", "structured"]) {
    for (const c of cases) {
      const sent = new CloudEvent({ type: "dev.ofn.sdk", source: "/sdk", ...c.event });
      const msg = mode === "binary" ? HTTP.binary(sent) : HTTP.structured(sent);
      const host = target === "cpp" ? "ce-cpp.default.ofn.io" : "ce-py.default.ofn.io";
      try {
        const headers = mode === "binary" ? encodeHeaders(msg.headers) : msg.headers;
        const r = await send("POST", host, headers, msg.body);
        const body = r.body;
        if (r.status >= 300) {
          report(target, mode, c.name, false, `HTTP ${r.status}: ${body.toString()}`);
          continue;
        }
        let got;
        if (target === "cpp") {
          got = await lastCpp();
        } else {
          const answer = decodeHeaders(r.headers);
          const type = (answer["content-type"] || "").split(";")[0].trim().toLowerCase();
          const textual = type.endsWith("json") || type.startsWith("text/");
          got = HTTP.toEvent({ headers: answer, body: textual ? body.toString("utf8") : body });
        }
        const same = got.id === sent.id && got.source === sent.source && got.type === sent.type;
        const ok = same && c.want(got);
        report(target, mode, c.name, ok, ok ? "" : JSON.stringify({ got, sentId: sent.id }));
      } catch (e) {
        report(target, mode, c.name, false, String(e && e.stack || e));
      }
    }
  }
}
