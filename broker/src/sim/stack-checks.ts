import { admitted } from "../raft/incarnation.js";
import type { RaftNode } from "../raft/raft-node.js";
import { type GroupId, type Message, MessageType, type NodeId } from "../raft/types.js";
import { decodeEntry, decodeHardState, decodeMessage } from "../storage/codec.js";
import { groupKey, indexedKey, Prefix } from "../storage/keys.js";
import { ConfHistory } from "./conf-history.js";
import type { StackNode } from "./stack-node.js";

export class StackViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StackViolation";
  }
}

/** What a client was told: the message with this id is at this offset of this group. */
export interface Ack {
  id: string;
  groupId: GroupId;
  offset: number;
}

/**
 * The invariants of the full-stack simulation, read from the nodes' disks (CrashDb) and cores, never
 * from what the code under test reports about itself:
 * - at most one leader per term in every group;
 * - an index a leader has committed is durable, at its term, in every quorum of the leader's voters
 *   that can elect (in the Raft log, or below a durable snapshot point);
 * - one offset of a partition holds one message on every replica, whoever stored it;
 * - after every restart: the state machines' applied index is at or past the snapshot point, the
 *   reloaded log's terms never decrease, and no group's durable term went backwards;
 * - a node votes and campaigns only under a configuration that admitted the incarnation it runs as,
 *   and one that lost its disk after the cluster formed never comes back as the original incarnation
 *   (so its lost votes and acknowledgements never count again);
 * - (at the end) every acknowledged publish is stored at the offset it was given on every replica.
 */
export class StackChecks {
  private readonly leaderOfTerm = new Map<string, NodeId>();
  /** group -> offset -> message id ("" for none) and body, as first seen on any replica. */
  private readonly stored = new Map<GroupId, Map<number, string>>();
  /** node/group -> offsets already compared. */
  private readonly compared = new Map<string, { first: number; next: number }>();
  /** node/group -> highest durable term seen. */
  private readonly durableTerm = new Map<string, number>();
  /** node/group/term -> the leader's commit index already checked for durability. */
  private readonly checkedCommit = new Map<string, number>();
  readonly acks = new Map<string, Ack>();
  readonly membership = new ConfHistory((id) => this.nodes().find((x) => x.id === id)?.identity?.original);
  /** Nodes that lost their disk after the cluster had formed, until they start again. */
  private readonly amnesiac = new Set<NodeId>();

  constructor(private readonly nodes: () => StackNode[]) {}

  /** After every step. */
  step(): void {
    for (const n of this.nodes()) {
      const p = n.process;
      if (!p) continue;
      for (const [groupId, core] of p.cores) {
        if (core.role !== "leader" || p.groups.runner(groupId)?.core !== core) continue; // a stopped group's core
        const key = `${groupId}/${core.term}`;
        const seen = this.leaderOfTerm.get(key);
        this.durability(n, groupId, core);
        if (seen === undefined) this.leaderOfTerm.set(key, n.id);
        else if (seen !== n.id)
          throw new StackViolation(`two leaders in group ${groupId} term ${core.term}: ${seen} and ${n.id}`);
      }
      for (const [groupId] of p.groups.partitionEntries()) this.compareStored(n, groupId);
    }
  }

  /**
   * When a leader's commit index moves (or a new leader shows its commit index): the entry there is
   * durable, at its term, in every quorum of the leader's configuration, i.e. on more voters than a
   * quorum leaves out. That is what elections rely on (a new leader needs a quorum, so it meets a
   * holder). At the moment of commit it means a majority; an entry committed before a voter was
   * added may be on fewer than a majority of the larger configuration and still in all its quorums.
   * A voter that lost its disk holds nothing and can elect nobody until re-admitted (it grants no
   * vote under a configuration that does not admit its new incarnation), so only the voters admitted
   * under the incarnation on their disk count, as holders and as members of electing quorums: an
   * entry acknowledged by a voter that then lost its disk is safe while every quorum of the others
   * meets a holder.
   */
  private durability(n: StackNode, groupId: GroupId, core: RaftNode): void {
    const commit = core.log.committed;
    const key = `${n.id}/${groupId}/${core.term}`;
    if (commit <= (this.checkedCommit.get(key) ?? 0)) return;
    this.checkedCommit.set(key, commit);
    // Configurations change by committed entries, so looking when the commit index moves sees them all.
    this.membership.observe(groupId, core.confState());
    const term = core.log.term(commit);
    const conf = core.confState();
    const voters = conf.voters;
    const electing = voters.filter((id) => {
      const identity = this.nodes().find((x) => x.id === id)?.identity;
      return identity !== undefined && admitted(conf.incarnations?.[id], identity);
    });
    const holders = electing.filter((id) => this.durableAt(id, groupId, commit, term));
    const quorum = Math.floor(voters.length / 2) + 1;
    if (holders.length < electing.length - quorum + 1) {
      const progress = [...core.status().progress].map(([id, p]) => `${id}:${p.match}`).join(" ");
      throw new StackViolation(
        `group ${groupId}: leader ${n.id} (term ${core.term}) has ${commit}@${term} committed, but only ${holders.join(",") || "no node"} of ${voters.join(",")} hold it durably (${electing.join(",")} can elect; matches ${progress})`,
      );
    }
  }

  private durableAt(id: NodeId, groupId: GroupId, index: number, term: number): boolean {
    const node = this.nodes().find((x) => x.id === id);
    if (!node) return false;
    const snap = node.disk.durableGet(groupKey(Prefix.Snapshot, groupId));
    if (snap && (JSON.parse(snap.toString("utf8")) as { index: number }).index >= index) return true;
    const row = node.disk.durableGet(indexedKey(Prefix.Log, groupId, index));
    return row !== undefined && decodeEntry(index, row).term === term;
  }

  private compareStored(n: StackNode, groupId: GroupId): void {
    const store = n.process!.store;
    // An apply's rows are being written while its counters are visible already (readers of rows wait
    // for them, partition-store.ts): compare once they are there.
    if (store.rowsPending(groupId)) return;
    const first = store.firstOffset(groupId);
    const next = store.nextOffset(groupId);
    const key = `${n.id}/${groupId}`;
    const done = this.compared.get(key);
    const from = done && done.first <= first && done.next <= next ? Math.max(done.next, first) : first;
    if (from >= next) {
      this.compared.set(key, { first, next });
      return;
    }
    let offsets = this.stored.get(groupId);
    if (!offsets) {
      offsets = new Map();
      this.stored.set(groupId, offsets);
    }
    for (let offset = from; offset < next; offset++) {
      const row = n.disk.visibleGet(indexedKey(Prefix.Data, groupId, offset));
      if (!row)
        throw new StackViolation(`${n.id} group ${groupId}: offset ${offset} is missing below next ${next}`);
      const m = decodeMessage(offset, row);
      const value = `${m.messageId}|${Buffer.from(m.body).toString("utf8")}`;
      const other = offsets.get(offset);
      if (other === undefined) offsets.set(offset, value);
      else if (other !== value)
        throw new StackViolation(
          `group ${groupId} offset ${offset} holds "${value}" on ${n.id} but "${other}" on another replica`,
        );
    }
    this.compared.set(key, { first, next });
  }

  /** The message every replica holds at an offset ("id|body"), once any replica was compared there. */
  storedAt(groupId: GroupId, offset: number): string | undefined {
    return this.stored.get(groupId)?.get(offset);
  }

  /** Forgets what was compared on a node (its process restarted or it installed a snapshot). */
  forget(node: NodeId): void {
    for (const key of [...this.compared.keys()]) if (key.startsWith(`${node}/`)) this.compared.delete(key);
  }

  /**
   * Every message a node sends: a vote request, or a vote granted, only from a node whose group
   * configuration (as that node holds it) admitted the incarnation it runs as.
   */
  sent(messages: Message[]): void {
    for (const m of messages) {
      const asks = m.type === MessageType.Vote || m.type === MessageType.PreVote;
      const grants =
        (m.type === MessageType.VoteResponse || m.type === MessageType.PreVoteResponse) && !m.reject;
      if (!asks && !grants) continue;
      const node = this.nodes().find((x) => x.id === m.from);
      const identity = node?.process?.identity;
      const core = node?.liveCores().find(([g]) => g === m.groupId)?.[1];
      if (!identity || !core) continue;
      const recorded = core.confState().incarnations?.[m.from];
      if (!admitted(recorded, identity))
        throw new StackViolation(
          `${m.from} (incarnation ${identity.incarnation}${identity.original ? ", original" : ""}) ${asks ? "asked for votes" : "granted a vote"} in group ${m.groupId} (term ${m.term}), whose configuration admits ${recorded ?? "only its original incarnation"}`,
        );
    }
  }

  /** After a process started. */
  restarted(n: StackNode): void {
    this.forget(n.id);
    const p = n.process!;
    if (this.amnesiac.delete(n.id) && p.identity.original)
      throw new StackViolation(
        `${n.id} lost its disk after the cluster formed but came back as the original incarnation (it could vote with what it forgot)`,
      );
    for (const runner of n.runners()) {
      const groupId = runner.groupId;
      const storage = p.cores.get(groupId)!.log;
      const snapshotIndex = storage.firstIndex() - 1;
      const applied =
        groupId === p.meta.runner.groupId ? p.meta.sm.appliedIndex : p.store.appliedIndex(groupId);
      if (applied < snapshotIndex)
        throw new StackViolation(
          `${n.id} group ${groupId} restarted applied at ${applied}, below its snapshot point ${snapshotIndex}`,
        );
      let previous = storage.term(snapshotIndex);
      for (let i = snapshotIndex + 1; i <= storage.lastIndex(); i++) {
        const t = storage.term(i);
        if (t < previous)
          throw new StackViolation(`${n.id} group ${groupId} reloaded a log whose term goes down at ${i}`);
        previous = t;
      }
      const hs = n.disk.durableGet(groupKey(Prefix.HardState, groupId));
      const term = hs ? decodeHardState(hs).term : 0;
      const key = `${n.id}/${groupId}`;
      if (term < (this.durableTerm.get(key) ?? 0))
        throw new StackViolation(`${n.id} group ${groupId}: durable term went back to ${term}`);
      this.durableTerm.set(key, term);
    }
  }

  /** Before a crash: what must survive it. */
  crashing(n: StackNode): void {
    const p = n.process;
    if (!p) return;
    for (const groupId of p.cores.keys()) {
      const hs = n.disk.durableGet(groupKey(Prefix.HardState, groupId));
      if (hs) this.durableTerm.set(`${n.id}/${groupId}`, decodeHardState(hs).term);
    }
  }

  /** The node lost its disk: nothing of it is to be compared with its past. */
  wiped(n: StackNode, clusterFormed: boolean): void {
    if (clusterFormed) this.amnesiac.add(n.id);
    this.forget(n.id);
    for (const key of [...this.durableTerm.keys()])
      if (key.startsWith(`${n.id}/`)) this.durableTerm.delete(key);
  }

  ack(a: Ack): void {
    const earlier = this.acks.get(a.id);
    if (earlier && (earlier.offset !== a.offset || earlier.groupId !== a.groupId))
      throw new StackViolation(
        `message ${a.id} acknowledged at ${earlier.groupId}/${earlier.offset} and again at ${a.groupId}/${a.offset}`,
      );
    this.acks.set(a.id, a);
  }

  /** At the end, every replica caught up: every acknowledged message where it was acknowledged. */
  final(members: (groupId: GroupId) => NodeId[]): void {
    this.step();
    for (const a of this.acks.values()) {
      for (const id of members(a.groupId)) {
        const n = this.nodes().find((x) => x.id === id)!;
        const store = n.process!.store;
        if (store.nextOffset(a.groupId) <= a.offset)
          throw new StackViolation(
            `${id} group ${a.groupId} ends at ${store.nextOffset(a.groupId)}, before acknowledged offset ${a.offset}`,
          );
      }
      const value = this.stored.get(a.groupId)?.get(a.offset);
      if (value === undefined) continue; // removed by retention before any replica was compared
      if (!value.startsWith(`${a.id}|`))
        throw new StackViolation(
          `acknowledged ${a.id} at ${a.groupId}/${a.offset}, but the offset holds "${value}"`,
        );
    }
  }
}
