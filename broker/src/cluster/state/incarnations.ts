// Each node's current incarnation as the metadata state records it (docs/raft.md, "A node that lost
// its disk"); membership/readmission.ts decides from it who must be re-admitted. It names only the
// fields it touches, so metadata-state.ts can apply it without a cycle between the two.

/** The incarnation fields of a node's record (NodeInfo in metadata-state.ts). */
export interface IncarnationFields {
  incarnation?: string;
  original?: boolean;
}

type Outcome = { ok: true } | { ok: false; error: { code: "not_found"; message: string } };

/** What the metadata state records of a node's current incarnation (registerIncarnation). */
export interface Registration {
  incarnation: string;
  original: boolean;
}

export type RegisterIncarnation = {
  type: "registerIncarnation";
  nodeId: string;
  incarnation: string;
  original: boolean;
};

/** Records a node's current incarnation on its NodeInfo. */
export function applyRegisterIncarnation(
  nodes: Record<string, IncarnationFields>,
  cmd: RegisterIncarnation,
): Outcome {
  const node = nodes[cmd.nodeId];
  if (!node)
    return {
      ok: false,
      error: {
        code: "not_found",
        message: `node ${cmd.nodeId} is not a member yet: it registers once added`,
      },
    };
  node.incarnation = cmd.incarnation;
  node.original = cmd.original;
  return { ok: true };
}
