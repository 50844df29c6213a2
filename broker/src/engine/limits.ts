// The bounds on what a caller may ask of the engine, part of its contract: the API layer checks them
// at the edge (wire/validate.ts) before anything reaches Raft, and configuration (config/) sets them
// per node. Quotas on what a principal may create are in security/security-config.ts (Quotas).

/** Limits on client input, checked at the edge before anything reaches Raft. */
export interface InputLimits {
  maxMessageBytes: number;
  maxKeyBytes: number;
  maxHeaders: number;
  maxHeaderBytes: number;
  /** Messages one PublishBatch call or one PublishStream batch frame may carry. */
  maxBatchMessages: number;
  /** Bodies, keys and headers of one batch together, in bytes. */
  maxBatchBytes: number;
}

export const defaultInputLimits: InputLimits = {
  maxMessageBytes: 1024 * 1024,
  maxKeyBytes: 4096,
  maxHeaders: 64,
  maxHeaderBytes: 16 * 1024,
  maxBatchMessages: 1000,
  maxBatchBytes: 1024 * 1024,
};

/**
 * Topics one compatible Subscribe may name: each is a reader (and, for a missing topic, a waiter),
 * so 100k of them were 100k readers held by one request.
 */
export const maxSubscribeTopics = 256;

/** Partitions one Subscribe may name (as many as a topic may have). */
export const maxSubscribePartitions = 1024;
