// The JS SDK v3 under `bedkey exec --proxy`: everything from the environment
// (AWS_BEARER_TOKEN_BEDROCK, AWS_ENDPOINT_URL_BEDROCK_RUNTIME, AWS_REGION, and
// NODE_EXTRA_CA_CERTS for trust). Prints one JSON object.
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { go } from "./standin.mjs";

const client = new BedrockRuntimeClient({});
const messages = [{ role: "user", content: [{ text: "hi" }] }];
const reply = await client.send(new ConverseCommand({ modelId: "m", messages }));
const stream = await client.send(new ConverseStreamCommand({ modelId: "m", messages }));
const events = [];
for await (const event of stream.stream) {
  events.push(Object.keys(event)[0]);
  if (events.length === 1) {
    // The stand-in holds the rest of the stream until told the first event arrived.
    await go();
  }
}
console.log(JSON.stringify({
  region: await client.config.region(),
  text: reply.output.message.content[0].text,
  stream: events,
}));
