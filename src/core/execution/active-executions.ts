import type { Execution } from './execution';

/** The runs claimed or executing on this node, by run id: the pool's, read by aborts and stats. */
export class ActiveExecutions extends Map<string, Execution> {
  /** runs claimed or executing here, per definition */
  perDefinition(): Map<string, number> {
    const out = new Map<string, number>();
    for (const exec of this.values()) out.set(exec.run.definitionId, (out.get(exec.run.definitionId) ?? 0) + 1);
    return out;
  }
}
