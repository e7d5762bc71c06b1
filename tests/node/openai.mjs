// The `openai` npm package as a user would run it under bedkey, everything from the
// environment: `node openai.mjs bedrock` (BedrockOpenAI: AWS_BEARER_TOKEN_BEDROCK,
// AWS_BEDROCK_BASE_URL) or `node openai.mjs plain` (OpenAI: OPENAI_API_KEY,
// OPENAI_BASE_URL, from --for openai). Chat, a streamed chat (the stand-in is told to
// go on after the first chunk, as tests/clients/run.py does), Responses and Models.
// Trust comes from NODE_EXTRA_CA_CERTS. Prints one JSON object.
import OpenAI from "openai";
import { BedrockOpenAI } from "openai/bedrock";
import { go } from "./standin.mjs";

const client = process.argv[2] === "bedrock" ? new BedrockOpenAI() : new OpenAI();
const model = "openai.gpt-oss-120b";
const messages = [{ role: "user", content: "hi" }];

const chat = await client.chat.completions.create({ model, messages });
const stream = await client.chat.completions.create({ model, messages, stream: true });
const pieces = [];
for await (const chunk of stream) {
  const text = chunk.choices[0]?.delta?.content;
  if (text) {
    pieces.push(text);
    if (pieces.length === 1) await go();
  }
}
const responses = await client.responses.create({ model, input: "hi" });
const models = [];
for await (const m of client.models.list()) models.push(m.id);
console.log(JSON.stringify({
  chat: chat.choices[0].message.content,
  stream: pieces,
  responses: responses.output_text,
  models,
}));
