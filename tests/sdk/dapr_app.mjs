// A Dapr app written against the npm @dapr/dapr client in HTTP mode, as any
// Dapr user writes one: it finds the platform's Dapr API through DAPR_HTTP_PORT
// and DAPR_API_TOKEN (served by libofn; no sidecar). tests/python/test_dapr_sdk.py.
import http from "node:http";
import { DaprClient, CommunicationProtocolEnum } from "@dapr/dapr";

const client = new DaprClient({
  daprHost: "127.0.0.1",
  daprPort: process.env.DAPR_HTTP_PORT,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
});

async function handle(path) {
  if (path === "/save") {
    await client.state.save("store", [{ key: "greeting", value: { text: "hello from node" } }]);
    const back = await client.state.get("store", "greeting");
    await client.pubsub.publish("bus", "greetings", { text: "published by node" });
    return { saved: back };
  }
  if (path === "/read") {
    return { relayed: await client.state.get("shared", "relayed") };
  }
  return { error: "unknown path " + path };
}

http.createServer(async (req, res) => {
  try {
    const out = await handle(req.url);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(out));
  } catch (e) {
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(String(e && e.stack || e));
  }
}).listen(Number(process.env.PORT), "127.0.0.1", () => console.log("dapr-node listening on " + process.env.PORT));
