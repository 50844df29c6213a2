import type { MetadataStorePort } from "../../engine/ports.js";
import type { Entry, NodeId, Snapshot } from "../../raft/types.js";
import type { GroupStateMachine } from "../groups/group-runner.js";
import type { ProposalTracker } from "../groups/proposal-tracker.js";
import { decodeMetadataCommand, isMetadataCommand } from "./commands.js";
import {
  applyMetadataCommand,
  initialMetadataState,
  type MetadataResult,
  type MetadataState,
  type NodeAddress,
} from "./metadata-state.js";

/** A metadata command as it travels in the log: who proposed it, to route the result back. */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** The metadata group's state machine around the pure `applyMetadataCommand`, persisted after each apply. */
export class MetadataStateMachine implements GroupStateMachine {
  private constructor(
    private readonly selfId: NodeId,
    private readonly store: MetadataStorePort,
    private readonly tracker: ProposalTracker<MetadataResult>,
    private readonly onChange: (state: MetadataState) => void,
    public state: MetadataState,
    public appliedIndex: number,
    private readonly onLeaderChanged: (leader: NodeId | "") => void,
  ) {}

  static async open(o: {
    selfId: NodeId;
    store: MetadataStorePort;
    tracker: ProposalTracker<MetadataResult>;
    initialNodes: NodeAddress[];
    onChange: (state: MetadataState) => void;
    onLeaderChange: (leader: NodeId | "") => void;
  }): Promise<MetadataStateMachine> {
    const saved = await o.store.loadMetadata();
    const state = saved ? parseImage(saved.image) : initialMetadataState(o.initialNodes);
    return new MetadataStateMachine(
      o.selfId,
      o.store,
      o.tracker,
      o.onChange,
      state,
      saved?.appliedIndex ?? 0,
      o.onLeaderChange,
    );
  }

  async apply(entries: Entry[]): Promise<void> {
    const results: { sequence: number; result: MetadataResult }[] = [];
    let changed = false;
    for (const e of entries) {
      if (e.index <= this.appliedIndex) continue;
      this.appliedIndex = e.index;
      if (!isMetadataCommand(e.data)) continue;
      const envelope = decodeMetadataCommand(e.data);
      const result = applyMetadataCommand(this.state, envelope.command);
      changed = true;
      if (envelope.proposer === this.tracker.proposer) results.push({ sequence: envelope.sequence, result });
    }
    if (!changed) return;
    await this.store.saveMetadata(textEncoder.encode(JSON.stringify(this.state)), this.appliedIndex);
    this.onChange(this.state);
    for (const r of results) this.tracker.resolve(r.sequence, r.result);
  }

  async restore(snapshot: Snapshot): Promise<void> {
    this.state = parseImage(snapshot.data);
    this.appliedIndex = snapshot.metadata.index;
    await this.store.saveMetadata(snapshot.data, this.appliedIndex);
    this.onChange(this.state);
  }

  /** The image a Raft snapshot of the metadata group carries. */
  image(): Uint8Array {
    return textEncoder.encode(JSON.stringify(this.state));
  }

  onLeaderChange(leader: NodeId | ""): void {
    this.onLeaderChanged(leader);
  }
}

/** A saved or snapshotted image; images written before durable consumers existed have none. */
function parseImage(image: Uint8Array): MetadataState {
  const state = JSON.parse(textDecoder.decode(image)) as MetadataState;
  state.consumers ??= {};
  return state;
}
