import { create } from "@bufbuild/protobuf";
import {
  type PublishError,
  PublishErrorSchema,
  type PublishRequest,
  type PublishResponse,
  type PublishResult,
  PublishResultSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import { errorDetailsOf, errorInfoOf, toConnectError } from "../engine/errors.js";
import type { InputLimits } from "../engine/limits.js";
import { checkBatch } from "../wire/validate.js";

// Batches of publishes (PublishBatch, and PublishStream frames with `batch`): the batch is bounded as
// a whole at the edge, then every message goes its own way and gets its own result. Messages to
// one partition that arrive together join one Raft proposal in the partition's batcher
// (cluster/groups/publish-batcher.ts cuts a batch per turn of the event loop), so a batch costs one
// entry, one fsync share and one apply per partition.

/** A per-message failure as the wire carries it (the same details a unary call's error has). */
export function publishErrorOf(err: unknown): PublishError {
  const e = toConnectError(err);
  const info = errorInfoOf(errorDetailsOf(e));
  return create(PublishErrorSchema, { code: e.code, message: e.rawMessage, ...(info ? { info } : {}) });
}

/**
 * Publishes every message of a batch, all started at once, and resolves with one result per
 * message in order. Throws only when the batch as a whole is out of bounds (checkBatch).
 */
export async function publishMany(
  messages: readonly PublishRequest[],
  limits: InputLimits,
  publishOne: (req: PublishRequest) => Promise<PublishResponse>,
): Promise<PublishResult[]> {
  checkBatch(messages, limits);
  return Promise.all(
    messages.map((m) =>
      publishOne(m).then(
        (ack) => create(PublishResultSchema, { result: { case: "ack", value: ack } }),
        (err: unknown) =>
          create(PublishResultSchema, { result: { case: "error", value: publishErrorOf(err) } }),
      ),
    ),
  );
}
