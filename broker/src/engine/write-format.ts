// Which form this process writes its durable values in: the Raft entries it proposes
// (cluster/commands.ts) and the message rows it stores (codec.ts). Reading takes both, always.
//
// `legacy`: the hand-written layouts of builds before docs/decisions/0026, which those builds read.
// It is the default, so that a rolling update from such a build never hands an older follower an
// entry or a snapshot it would skip or misread. `protobuf`: the versioned formats of
// proto/geobroker/storage/v1/, once every node runs a build that reads them (storage.writeFormat).

export type WriteFormat = "legacy" | "protobuf";

export const writeFormats: readonly WriteFormat[] = ["legacy", "protobuf"];

const isWriteFormat = (v: unknown): v is WriteFormat => writeFormats.includes(v as WriteFormat);

// The default of a process whose configuration names none; GEOBROKER_WRITE_FORMAT sets it for test
// runs (the simulations and multi-process tests in the protobuf form).
let current: WriteFormat = isWriteFormat(process.env.GEOBROKER_WRITE_FORMAT)
  ? process.env.GEOBROKER_WRITE_FORMAT
  : "legacy";

export { isWriteFormat };

export function writeFormat(): WriteFormat {
  return current;
}

/** Set once at start from the configuration (tests set it around a case). */
export function setWriteFormat(format: WriteFormat): void {
  current = format;
}
