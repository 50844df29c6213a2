// One message on its way through a node (docs/architecture.md, "One message, stage by stage"). Each
// stage is its own type because each knows more than the one before; all are built from the same
// two parts, so a field added to the content is added once:
//
//   PublishRequest (wire) -> PublishInput (engine) -> PublishedMessage (in a Raft publish batch)
//     -> StoredMessage (a partition row) -> DeliveredMessage (engine) -> the wire's Message.

/** What the application sent: the same bytes at every stage. */
export interface MessageContent {
  key: Uint8Array;
  body: Uint8Array;
  headers: Record<string, string>;
}

/** Where a committed message sits: its offset in the partition and the commit time (unix µs). */
export interface LogPosition {
  offset: number;
  timestampMicros: number;
}

/** A message as a publish batch carries it through Raft: the content and its client id for dedup. */
export interface PublishedMessage extends MessageContent {
  /** Client id for deduplication; "" when not given. */
  messageId: string;
}

/** A message as a partition replica stores it: a published message at its place in the log. */
export interface StoredMessage extends PublishedMessage, LogPosition {}
