import type { Condition, ConditionType } from "../api/types.js";

// Status conditions in the Kubernetes style: one per type, lastTransitionTime moves only when the
// status flips, observedGeneration says which spec they describe.

export interface ConditionInput {
  status: boolean;
  reason: string;
  message: string;
}

export function condition(
  type: ConditionType,
  input: ConditionInput,
  generation: number | undefined,
  previous: Condition[] | undefined,
  now: string,
): Condition {
  const status = input.status ? "True" : "False";
  const before = previous?.find((c) => c.type === type);
  return {
    type,
    status,
    reason: input.reason,
    message: input.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime:
      before && before.status === status && before.lastTransitionTime ? before.lastTransitionTime : now,
  };
}
