// A plain Node.js HTTP server as a function: it knows nothing of libofn
// beyond listening on $PORT. It echoes the request and says which revision
// answered (GREETING comes from serving.params).
const http = require("http");

const port = Number(process.env.PORT || 8080);
const greeting = process.env.GREETING || "echo";
const context = JSON.parse(process.env.FUNC_CONTEXT || "{}");

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const doc = {
      greeting,
      function: context.name,
      version: context.version,
      method: req.method,
      url: req.url,
      bytes: body.length,
      forwardedFor: req.headers["x-forwarded-for"] || null,
    };
    const out = JSON.stringify(doc) + "\n";
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(out) });
    res.end(out);
  });
});

server.listen(port, "127.0.0.1", () => console.log(`node-echo (${greeting}) listening on ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
