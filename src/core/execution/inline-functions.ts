/** A function handed to runInline, kept on the node that called it. */
export type InlineFunction = (input: unknown, signal: AbortSignal) => unknown;

/** The runInline functions of this node, by run id: their runs are pinned to this node. */
export class InlineFunctions extends Map<string, InlineFunction> {}
