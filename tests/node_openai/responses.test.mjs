// The official openai npm package against a tokenwire server: the Responses API streamed,
// a background response dropped mid-answer and resumed with starting_after, and an error.
// tests/server/test_responses_node.py starts the server and sets TOKENWIRE_BASE and TOKENWIRE_ANSWER.
import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: `${process.env.TOKENWIRE_BASE}/v1`,
  apiKey: "unused",
  maxRetries: 0,
});
const ANSWER = process.env.TOKENWIRE_ANSWER;

const textOf = (events) =>
  events
    .filter((e) => e.type === "response.output_text.delta")
    .map((e) => e.delta)
    .join("");

test("a streamed response ends completed with the whole answer", async () => {
  const stream = await client.responses.create({ model: "replay", input: "hi", stream: true });
  const events = [];
  for await (const event of stream) events.push(event);
  assert.deepEqual(
    events.map((e) => e.sequence_number),
    events.map((_, i) => i),
  );
  assert.equal(events.at(-1).type, "response.completed");
  assert.equal(textOf(events), ANSWER);
});

test("a background response dropped mid-answer resumes with every event once", async () => {
  const stream = await client.responses.create({
    model: "slow",
    input: "hi",
    stream: true,
    background: true,
  });
  const first = [];
  for await (const event of stream) {
    first.push(event);
    if (event.type === "response.output_text.delta") break; // closes the connection
  }
  const id = first[0].response.id;
  const resumed = await client.responses.retrieve(id, {
    stream: true,
    starting_after: first.at(-1).sequence_number,
  });
  const rest = [];
  for await (const event of resumed) rest.push(event);
  const events = [...first, ...rest];
  assert.deepEqual(
    events.map((e) => e.sequence_number),
    events.map((_, i) => i),
  );
  assert.equal(rest.at(-1).type, "response.completed");
  assert.equal(textOf(events), ANSWER);
  const stored = await client.responses.retrieve(id);
  assert.equal(stored.output_text, ANSWER);
});

test("a bad request is a 400 naming the parameter", async () => {
  await assert.rejects(client.responses.create({ model: "replay", input: 5 }), (error) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.param, "input");
    return true;
  });
});
