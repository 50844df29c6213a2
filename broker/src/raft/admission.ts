import { admitted, type SelfIncarnation } from "./incarnation.js";
import type { ProgressTracker } from "./tracker.js";
import type { GroupId, NodeId } from "./types.js";

/**
 * Whether this incarnation of the node may vote and campaign under the current configuration
 * (incarnation.ts says why), and the log lines that say so: once when a voter finds it may not act
 * as one, and once when a later configuration admits it.
 */
export class Admission {
  private notAdmittedLogged = false;

  constructor(
    private readonly id: NodeId,
    private readonly groupId: GroupId,
    private readonly self: SelfIncarnation,
    private readonly tracker: ProgressTracker,
    private readonly logger: ((line: string) => void) | undefined,
  ) {}

  admitted(): boolean {
    return admitted(this.tracker.incarnations[this.id], this.self);
  }

  /** Called after every configuration change. */
  note(): void {
    const ok = this.admitted();
    if (!ok && !this.notAdmittedLogged && this.tracker.isVoter(this.id)) {
      this.notAdmittedLogged = true;
      const recorded = this.tracker.incarnations[this.id];
      this.logger?.(
        `${this.id} does not vote or campaign in group ${this.groupId}: the configuration admits ${
          recorded ? `incarnation ${recorded}` : "only its original incarnation"
        }, this is ${this.self.incarnation ?? "unknown"} (state lost: it votes again once re-added under it)`,
      );
    } else if (ok && this.notAdmittedLogged) {
      this.notAdmittedLogged = false;
      this.logger?.(
        `${this.id} was admitted to group ${this.groupId} as incarnation ${this.self.incarnation}`,
      );
    }
  }
}
