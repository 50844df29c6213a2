import type { ReceivedMessage } from "../client/node.js";

/** One received message as the CLI prints it: `id  body`, or one JSON object per line. */
export function printMessage(m: ReceivedMessage, json: boolean, extra: Record<string, unknown> = {}): void {
  const body = m.text();
  if (!json) {
    console.log(`${m.id}  ${body}`);
    return;
  }
  console.log(
    JSON.stringify({
      id: m.id,
      topic: m.topic,
      timestamp: new Date(Number(m.timestampMicros / 1000n)).toISOString(),
      ...(Object.keys(m.headers).length > 0 ? { headers: m.headers } : {}),
      ...extra,
      body,
    }),
  );
}
