import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { InstallSnapshotRequestSchema } from "../../../gen/geobroker/raft/v1/raft_pb.js";
import type { Message } from "../raft/types.js";
import { decodeBatch, encodeBatch } from "./convert.js";
import { frame } from "./framing.js";

export const installSnapshotPath = "/geobroker.raft.v1.PeerService/InstallSnapshot";
export const snapshotChunkBytes = 1024 * 1024;
/** A receiver refuses snapshots larger than this rather than run out of memory. */
export const maxSnapshotBytes = 4 * 1024 * 1024 * 1024;

/**
 * A Snapshot message as InstallSnapshot frames: the header (the message without its image) first,
 * then the image in 1 MiB chunks, the last one marked.
 */
export function* snapshotFrames(from: string, m: Message): Generator<Uint8Array> {
  const data = m.snapshot?.data ?? new Uint8Array();
  const header = { ...m, snapshot: m.snapshot ? { ...m.snapshot, data: new Uint8Array() } : undefined };
  // The header travels as a one-message batch so it reuses the batch codec.
  const headerBytes = encodeBatch(from, [header as Message]);
  yield frame(
    toBinary(
      InstallSnapshotRequestSchema,
      create(InstallSnapshotRequestSchema, { offset: 0n, data: headerBytes, last: data.byteLength === 0 }),
    ),
  );
  for (let at = 0; at < data.byteLength; at += snapshotChunkBytes) {
    const chunk = data.subarray(at, at + snapshotChunkBytes);
    const last = at + snapshotChunkBytes >= data.byteLength;
    yield frame(
      toBinary(
        InstallSnapshotRequestSchema,
        create(InstallSnapshotRequestSchema, { offset: BigInt(at + 1), data: chunk, last }),
      ),
    );
  }
}

/** Reassembles InstallSnapshot frames into the Snapshot message. */
export class SnapshotAssembler {
  private header: Message | undefined;
  private chunks: Uint8Array[] = [];
  private bytes = 0;

  /** Returns the whole message once the last chunk is in. */
  push(payload: Uint8Array): Message | undefined {
    const req = fromBinary(InstallSnapshotRequestSchema, payload);
    if (!this.header) {
      const [m] = decodeBatch(req.data).messages;
      if (!m?.snapshot) throw new Error("snapshot stream did not start with a snapshot header");
      this.header = m;
    } else {
      this.bytes += req.data.byteLength;
      if (this.bytes > maxSnapshotBytes) throw new Error(`snapshot larger than ${maxSnapshotBytes} bytes`);
      this.chunks.push(req.data);
    }
    if (!req.last) return undefined;
    const m = this.header;
    m.snapshot!.data = Buffer.concat(this.chunks);
    return m;
  }
}
