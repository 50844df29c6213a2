import { decodeConfChange } from "./confchange.js";
import type { ReadState } from "./outbox.js";
import type { SoftState } from "./raft.js";
import type { Ready } from "./raft-node.js";
import type { ConfChange, ConfState, Entry, HardState, Message, Snapshot } from "./types.js";
import { EntryType, MessageType } from "./types.js";

/**
 * The one implementation of the Ready contract's I/O order. Production (cluster/group-runner.ts),
 * the simulations and the test harness all hand their Ready to `handleReady`; they differ only in
 * what their `ReadyIo` does (RocksDB or memory, real or virtual time).
 *
 * The order, and why each step waits for the one before:
 * 1. `restore` a snapshot's image into the state machine, durably ordered before step 2: were Raft's
 *    snapshot record to reach the disk first, a crash in between would leave Raft applied past the
 *    snapshot while the state machine still held its old image, and the entries in between would
 *    never be applied again.
 * 2. `persist` entries, hard state and the snapshot record (an fsync), before anything that tells
 *    another node about them. A Ready whose only change is the commit index (`mustSync` false) is
 *    written without waiting for an fsync: the commit index is not needed for safety.
 * 3. `send` messages: votes and acknowledgements now stand for what is on disk.
 * 4. apply committed entries in order (configuration changes through the core as they come).
 * 5. `advance`.
 *
 * Two things overlap step 2 when there is no snapshot (`handleReady` below): a leader's appends
 * and heartbeats are sent before its persist completes, and committed entries that were all on disk
 * before this Ready are applied while it persists. Neither needs what this Ready writes: the leader
 * counts its own copy toward the commit only at `advance`, and those entries are durable already.
 *
 * Every step may be synchronous (the test harness: the whole Ready runs in one call) or return a
 * promise-like (production's fsync; a simulation's virtual disk that completes when its clock says):
 * the next step runs when it settles. A step that never settles (a crashed node) ends the Ready
 * there, which is exactly what a crash at that point leaves behind.
 */
/**
 * What one Ready asks to persist. `mustSync` false (a hard state that only moved the commit index):
 * the write may complete before it is durable, and may be folded into the next synced write.
 */
export interface PersistUpdate {
  entries: Entry[];
  hardState?: HardState;
  snapshot?: Snapshot;
  /** Absent means true: only the Ready loop, which knows, says a write need not be synced. */
  mustSync?: boolean;
}

export interface ReadyIo {
  /** Makes the snapshot's image the state machine's state. */
  restore(snapshot: Snapshot): Step;
  persist(update: PersistUpdate): Step;
  send(messages: Message[]): void;
  /** Applies a run of entries other than configuration changes, in order (a new leader's Empty entry included: it moves the applied index). */
  apply(entries: Entry[]): Step;
  onSoftState?(soft: SoftState): void;
  onConfChange?(conf: ConfState, change: ConfChange, entry: Entry): void;
  onReadStates?(readStates: ReadState[]): void;
}

/** What the loop needs of the core. */
export interface ReadyCore {
  applyConfChange(cc: ConfChange, index?: number): ConfState;
  advance(rd: Ready): void;
}

export type Step = void | PromiseLike<void>;

/** Runs `next` after `step`: at once when it is synchronous, else when it settles. */
export function andThen(step: Step, next: () => Step): Step {
  if (step && typeof (step as PromiseLike<void>).then === "function")
    return (step as PromiseLike<void>).then(next);
  return next();
}

/** Waits for both steps (at once when neither is asynchronous). */
function join(a: Step, b: Step): Step {
  if (!isAsync(a)) return b;
  if (!isAsync(b)) return a;
  return new Promise<void>((resolve, reject) => {
    let left = 2;
    const one = () => {
      if (--left === 0) resolve();
    };
    a.then(one, reject);
    b.then(one, reject);
  });
}

function isAsync(step: Step): step is PromiseLike<void> {
  return !!step && typeof (step as PromiseLike<void>).then === "function";
}

/**
 * A leader's appends and heartbeats: they may leave before its own persist completes (etcd; the
 * Raft thesis, 10.2.1), because the leader counts its own copy toward the commit only once `advance`
 * says it persisted. Everything else (votes, acknowledgements) stands for what is on disk.
 */
function sendsBeforePersist(m: Message): boolean {
  return m.type === MessageType.Append || m.type === MessageType.Heartbeat;
}

/**
 * Committed entries that were all on disk before this Ready (none of them is among the entries it
 * persists) may be applied while it persists: their ack needs nothing this Ready writes.
 */
function appliesBeforePersist(rd: Ready): boolean {
  const lastCommitted = rd.committedEntries.at(-1)?.index;
  if (lastCommitted === undefined) return false;
  const firstNew = rd.entries[0]?.index;
  return firstNew === undefined || firstNew > lastCommitted;
}

export function handleReady(core: ReadyCore, rd: Ready, io: ReadyIo): Step {
  if (rd.softState) io.onSoftState?.(rd.softState);
  const needsPersist = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
  if (rd.snapshot || !needsPersist) return handleInOrder(core, rd, io, needsPersist);
  // The overlapped order: a leader's appends go out and already-durable committed entries apply
  // while this Ready persists; the rest waits for the persist as before.
  const early = rd.messages.filter(sendsBeforePersist);
  const late = early.length > 0 ? rd.messages.filter((m) => !sendsBeforePersist(m)) : rd.messages;
  if (early.length > 0) io.send(early);
  const applyNow = appliesBeforePersist(rd);
  const persisting = io.persist({
    entries: rd.entries,
    ...(rd.hardState ? { hardState: rd.hardState } : {}),
    mustSync: rd.mustSync,
  });
  const applying = applyNow ? applyCommitted(core, rd.committedEntries, io) : undefined;
  return andThen(join(persisting, applying), () => {
    if (late.length > 0) io.send(late);
    if (rd.readStates.length > 0) io.onReadStates?.(rd.readStates);
    return andThen(applyNow ? undefined : applyCommitted(core, rd.committedEntries, io), () =>
      core.advance(rd),
    );
  });
}

/** The plain order (a snapshot to install, or nothing to persist): each step after the one before. */
function handleInOrder(core: ReadyCore, rd: Ready, io: ReadyIo, needsPersist: boolean): Step {
  return andThen(rd.snapshot ? io.restore(rd.snapshot) : undefined, () =>
    andThen(
      needsPersist
        ? io.persist({
            entries: rd.entries,
            ...(rd.hardState ? { hardState: rd.hardState } : {}),
            ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
            mustSync: rd.mustSync,
          })
        : undefined,
      () => {
        if (rd.messages.length > 0) io.send(rd.messages);
        if (rd.readStates.length > 0) io.onReadStates?.(rd.readStates);
        return andThen(applyCommitted(core, rd.committedEntries, io), () => core.advance(rd));
      },
    ),
  );
}

/** Entries in runs, configuration changes through the core between them, in log order. */
function applyCommitted(core: ReadyCore, entries: Entry[], io: ReadyIo): Step {
  let at = 0;
  const next = (): Step => {
    const run: Entry[] = [];
    while (at < entries.length) {
      const e = entries[at]!;
      if (e.type === EntryType.ConfChange) break;
      run.push(e);
      at++;
    }
    return andThen(run.length > 0 ? io.apply(run) : undefined, () => {
      if (at >= entries.length) return;
      const e = entries[at++]!;
      const cc = decodeConfChange(e.data);
      const conf = core.applyConfChange(cc, e.index);
      io.onConfChange?.(conf, cc, e);
      return next();
    });
  };
  return next();
}
