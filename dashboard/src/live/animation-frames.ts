import type { FrameScheduler } from './frame-batcher';

/** The browser's frames (kept apart from FrameBatcher, which the unit tests run in Node). */
export const animationFrames: FrameScheduler = {
  request: (callback) => requestAnimationFrame(() => callback()),
  cancel: (handle) => cancelAnimationFrame(handle),
};
