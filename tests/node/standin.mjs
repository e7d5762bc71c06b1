// The test stand-in's handshake: it holds a stream after its first event until told
// to go on, which a client does once that event has arrived.
import fs from "node:fs";
import https from "node:https";

export function go() {
  return new Promise((resolve, reject) => {
    const req = https.request(`${process.env.STANDIN}/_control/go`, {
      method: "POST",
      ca: fs.readFileSync(process.env.STANDIN_CA),
    }, (res) => { res.resume(); res.on("end", resolve); });
    req.on("error", reject);
    req.end();
  });
}
